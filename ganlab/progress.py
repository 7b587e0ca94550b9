"""What a person watching a run sees: a progress bar with the latest losses, or with ``--quiet`` plain
log lines (about twenty a run), and once, for a long run, its estimated time."""

from __future__ import annotations

import time
from typing import Any

from ganlab.estimate import Estimate


class Progress:
    def __init__(self, train, start_step: int, quiet: bool, shown: bool, log):
        from tqdm import tqdm

        self.train, self.start_step, self.quiet, self.shown, self.log = train, start_step, quiet, shown, log
        self.bar = tqdm(total=train.steps, initial=start_step, disable=quiet or not shown, unit="step",
                        dynamic_ncols=True)
        self.estimate = Estimate(start_step, train.steps)
        self.t0 = time.perf_counter()

    def stepped(self, step: int) -> None:
        self.bar.update(1)
        said = self.estimate.update(step, time.perf_counter()) if self.shown else None
        if said:
            (self.log if self.quiet else self.bar.write)(said)

    def logged(self, step: int, record: dict[str, Any], log) -> None:
        """``log``: the run's own; under ``--seeds`` one bar stands for several runs, and each line names its seed."""
        shown = {"d_loss": record["d_loss"], "g_loss": record["g_loss"],
                 "D(x)": record["real_score"], "D(G(z))": record["fake_score"]}
        if not self.quiet:
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in shown.items()}, refresh=False)
            return
        every = max(self.train.log_every, self.train.steps // 20)
        if step % every == 0 or step == self.train.steps:
            rate = (step - self.start_step) / max(time.perf_counter() - self.t0, 1e-9)
            parts = " ".join(f"{k}={v:.4f}" for k, v in shown.items())
            log(f"step {step}/{self.train.steps} {parts} ({rate:.1f} steps/s)")

    def close(self) -> None:
        self.bar.close()
