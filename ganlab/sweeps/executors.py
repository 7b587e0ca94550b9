"""Where cells run: in this process, in a pool of processes, or as SLURM jobs.

Every executor calls ``on_result(record)`` once per cell as it ends and
returns whether the sweep was interrupted. Ctrl-C once: cells in progress
finish their step, checkpoint and stop, and no new cell starts; twice: they
stop at once (the last checkpoint stays). Re-running the command resumes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import CancelledError, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable

from ganlab.sweeps import cells as cellmod
from ganlab.errors import ConfigError

OnResult = Callable[[dict[str, Any]], None]
STOP_MESSAGE = "\ninterrupt: cells in progress finish their step, checkpoint and stop (Ctrl-C again to abort)"


class _Interrupts:
    """Counts Ctrl-Cs (and SIGTERM) in the main process, calling ``first`` and ``again``."""

    def __init__(self, first: Callable[[], None], again: Callable[[], None]):
        self.count, self.first, self.again = 0, first, again

    def __enter__(self):
        self.previous = {s: signal.signal(s, self.handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def handle(self, signum, frame):
        self.count += 1
        if self.count == 1:
            print(STOP_MESSAGE, file=sys.stderr, flush=True)
            self.first()
        else:
            self.again()

    def __exit__(self, *exc):
        for s, old in self.previous.items():
            signal.signal(s, old)


def run_in_process(cells: list[dict], sweep_dir: Path, threads: int, on_result: OnResult, pm=None,
                   vectorize: str = "off", say=None) -> bool:
    """One cell after another in this process (``--workers 1``): no start-up cost per worker.

    With ``vectorize`` auto or on, the cells of one variant that differ only in seed train together as one
    batched model (:mod:`ganlab.seeds`).
    """

    def again():
        raise KeyboardInterrupt

    groups = cellmod.seed_groups(cells) if vectorize != "off" else [[c] for c in cells]
    cellmod._stop["requested"] = False
    with _Interrupts(lambda: cellmod._stop.update(requested=True), again) as stops:
        for group in groups:
            if cellmod._stop["requested"]:
                break
            if len(group) > 1:
                records = cellmod.run_cells_batched(group, str(sweep_dir), threads, pm, vectorize, say)
            else:
                records = [cellmod.run_cell(group[0], str(sweep_dir), threads, pm=pm)]
            for record in records:
                on_result(record)
            if any(r["status"] == "interrupted" for r in records):
                cellmod._stop["requested"] = True  # the trainer took the Ctrl-C itself
    stopped = cellmod._stop["requested"] or stops.count > 0
    cellmod._stop["requested"] = False
    return stopped


def _pool_worker_init() -> None:
    os.setpgrp()  # the terminal's Ctrl-C reaches the parent only, which forwards one per press
    cellmod.worker_init()


def run_in_pool(cells: list[dict], sweep_dir: Path, workers: int, threads: int, on_result: OnResult) -> bool:
    """``--workers N``: N spawned processes, each running one cell at a time."""
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_pool_worker_init)
    futures = {pool.submit(cellmod.run_cell, c, str(sweep_dir), threads): c for c in cells}

    def forward():
        for pid in list(getattr(pool, "_processes", {}) or {}):
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    def first():
        for f in futures:
            f.cancel()
        forward()

    try:
        with _Interrupts(first, forward) as stops:
            for future in as_completed(futures):
                cell = futures[future]
                try:
                    on_result(future.result())
                except CancelledError:
                    continue
                except BrokenProcessPool:
                    on_result({"id": cell["id"], "status": "error", "message": "its worker process died "
                               "(out of memory, or killed); re-run the command to retry it"})
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return stops.count > 0


def run_with_submitit(cells: list[dict], sweep_dir: Path, threads: int, on_result: OnResult,
                      cluster: str | None = None, params: dict[str, Any] | None = None) -> bool:
    """``--executor slurm``: one SLURM job per cell through submitit (``cluster="local"`` for tests)."""
    try:
        import submitit
    except ImportError:
        raise ConfigError("--executor slurm needs submitit: pip install ganlab[slurm]") from None
    executor = submitit.AutoExecutor(folder=Path(sweep_dir) / "submitit" / "%j", cluster=cluster)
    executor.update_parameters(**{"name": "ganlab-compare", "timeout_min": 24 * 60,
                                  "cpus_per_task": max(threads, 1), **(params or {})})
    with executor.batch():
        jobs = [executor.submit(cellmod.run_cell, c, str(Path(sweep_dir).resolve()), threads) for c in cells]
    pending = dict(zip(jobs, cells))
    print(f"submitted {len(jobs)} job(s): {', '.join(j.job_id for j in jobs[:5])}{' ...' if len(jobs) > 5 else ''}",
          flush=True)

    def cancel():
        for job in pending:
            job.cancel(check=False)  # SLURM: SIGTERM, so a running cell checkpoints and stops

    def abort():
        raise KeyboardInterrupt

    with _Interrupts(cancel, abort) as stops:
        while pending:
            done = [j for j in pending if j.done()]
            for job in done:
                cell = pending.pop(job)
                try:
                    on_result(job.result())
                except Exception as exc:  # the job itself failed: cancelled, timed out, node lost
                    on_result({"id": cell["id"], "status": "error",
                               "message": f"job {job.job_id}: {str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else type(exc).__name__}"})
            if pending and not done:
                time.sleep(0.2)
    return stops.count > 0
