"""Ctrl-C and SIGTERM during training: finish the step, checkpoint, stop.

The first signal only sets :attr:`StopSignals.requested`; the loop stops at
the end of the step and saves a checkpoint, so nothing trained is lost. A
second Ctrl-C aborts at once (the last checkpoint stays).
"""

from __future__ import annotations

import signal


class StopSignals:
    def __init__(self, log):
        self.log = log
        self.requested = False
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        name = "interrupt" if signum == signal.SIGINT else "SIGTERM"
        try:
            self.log(f"\n{name}: finishing this step and saving a checkpoint (Ctrl-C again to abort)")
        except RuntimeError:  # the signal came while the run was printing: a re-entrant print fails
            pass  # the notice is lost, the checkpoint is not

    def __enter__(self) -> StopSignals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._previous.items():
            signal.signal(sig, old)
        self._previous.clear()
