"""A one-time estimate of a run's length, from its first steps.

The progress bar's ETA is easy to miss and absent with ``--quiet``'s
neighbours (log files, SLURM): a run that will take more than a few minutes
says once, early, how long at the speed of its first steps.
"""

from __future__ import annotations

# Measure over at least this many steps or seconds, whichever comes first, after the
# first step (which pays for warm-up: allocations, cuDNN autotuning, compilation).
MIN_STEPS, MIN_SECONDS = 10, 20.0
# Shorter runs need no estimate.
WORTH_SAYING = 300.0


class Estimate:
    def __init__(self, start_step: int, total: int):
        self.start, self.total = start_step, total
        self.t0: float | None = None  # after the first step
        self.first_step: int | None = None
        self.done = total - start_step < 2

    def update(self, step: int, now: float) -> str | None:
        """The message, once, when enough steps have been timed and the rest is long; else None."""
        if self.done:
            return None
        if self.t0 is None:
            self.t0, self.first_step = now, step
            return None
        steps, seconds = step - self.first_step, now - self.t0
        if steps < MIN_STEPS and seconds < MIN_SECONDS:
            return None
        self.done = True
        per_step = seconds / steps
        remaining = per_step * (self.total - step)
        if remaining < WORTH_SAYING:
            return None
        rate = f"{per_step:.2f} s/step" if per_step >= 1 else f"{1 / per_step:.1f} steps/s"
        return (f"estimated time: {_duration(remaining)} for the remaining {self.total - step:,} steps "
                f"at {rate} (the first {steps + 1} steps)")


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"
