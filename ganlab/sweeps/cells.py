"""Running one cell: an ordinary ganlab run folder plus ``status.json``.

A cell is *finished* or *failed* once its status says so; a folder with a
checkpoint and no final status (interrupted, killed) is resumed; a folder
that stopped before its first checkpoint is started again. :func:`run_cell`
never raises for a cell's own failure: a diverged run, a bad combination or
a plugin bug becomes ``{"status": "failed", "message": ...}``.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from ganlab.checkpoint import write_text_atomic
from ganlab.errors import GanlabError
from ganlab.runfolder import RESUMABLE, RunFolder

DONE = ("finished", "failed")

_stop = {"requested": False}  # set by the worker's SIGINT/SIGTERM handler between runs
_pm = {}


def read_status(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads(RunFolder(run_dir).status.read_text())
    except (OSError, ValueError):
        return None


def cell_state(run_dir: Path) -> str:
    """``finished``, ``failed``, ``resume`` (a checkpoint to continue) or ``new``."""
    status = read_status(run_dir)
    if status and status.get("status") in DONE:
        return status["status"]
    if RunFolder(run_dir).state() == RESUMABLE:
        return "resume"
    return "new"


def write_status(run_dir: Path, status: str, message: str = "", **extra) -> dict[str, Any]:
    record = {"status": status, "message": message, **extra}
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    write_text_atomic(RunFolder(run_dir).status, json.dumps(record) + "\n")
    return record


def _request_stop(signum, frame):
    _stop["requested"] = True


def worker_init() -> None:
    """In a pool worker: Ctrl-C is the parent's to forward, and means 'stop after this step'."""
    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)


def _plugin_manager():
    if "pm" not in _pm:
        from ganlab.artifacts import _pyplot
        from ganlab.manager import make_plugin_manager

        # The trainer imports matplotlib on first use; a Ctrl-C landing inside that import would
        # leave a half-initialised module behind for every later cell of this process.
        _pyplot()
        _pm["pm"] = make_plugin_manager()
    return _pm["pm"]


def _run_spec(cell: dict[str, Any], run_dir: Path, state: str, threads: int) -> dict[str, Any]:
    """What to prepare for a cell: ``{"request", "resume"}`` to continue it, or ``{"request", "out"}`` to start it."""
    from ganlab.config import RunRequest

    extra = {"threads": threads} if threads else {}
    if state == "resume":
        steps = {"steps": cell["train"]["steps"]} if "steps" in cell["train"] else {}
        return {"request": RunRequest(train={**steps, **extra}), "resume": run_dir}
    if run_dir.exists():  # stopped before its first checkpoint: nothing to keep
        RunFolder(run_dir).refuse_if_in_use()  # a folder in use is refused, never removed
        shutil.rmtree(run_dir)
    return {"request": RunRequest(list(cell["plugins"]), {**cell["train"], **extra},
                                  {k: dict(v) for k, v in cell["options"].items()}), "out": run_dir}


def _failure_text(exc: BaseException) -> str:
    """A failed cell's message: a ganlab error as it is, anything else with its type and first line."""
    if isinstance(exc, GanlabError):
        return str(exc)
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def run_cell(cell: dict[str, Any], sweep_dir: str, threads: int = 0, pm=None) -> dict[str, Any]:
    """Run (or resume) one cell to the end; returns its status record plus ``id`` and ``resumed``."""
    from ganlab.run import prepare_run

    run_dir = Path(sweep_dir) / cell["id"]
    t0 = time.perf_counter()
    state = cell_state(run_dir)
    base = {"id": cell["id"], "resumed": state == "resume"}
    if state in DONE:
        return {**read_status(run_dir), **base, "skipped": True}
    if _stop["requested"]:
        return {**base, "status": "interrupted", "message": "not started"}
    pm = pm or _plugin_manager()
    trainer = None
    try:
        run = _run_spec(cell, run_dir, state, threads)
        trainer = prepare_run(pm, run["request"], out=run.get("out"), resume=run.get("resume"), quiet=True,
                              log=_no_log)
        if _stop["requested"]:
            trainer.close()
            return {**base, "status": "interrupted", "message": "stopped before training"}
        status = trainer.fit()
    except KeyboardInterrupt:  # a second Ctrl-C: the last checkpoint stays
        _stop["requested"] = True
        return {**base, "status": "interrupted", "message": "aborted"}
    except Exception as exc:  # a diverged run, a bad combination or a plugin bug fails its cell only
        if _stop["requested"] or getattr(trainer, "stop_requested", False):
            # Raised while stopping (a second Ctrl-C cut a step short): not the cell's fault.
            _stop["requested"] = True
            return {**base, "status": "interrupted", "message": f"aborted ({type(exc).__name__})"}
        return {**write_status(run_dir, "failed", _failure_text(exc), error=type(exc).__name__,
                               seconds=round(time.perf_counter() - t0, 3)), **base}
    seconds = round(time.perf_counter() - t0, 3)
    if status == "finished":
        return {**write_status(run_dir, "finished", step=trainer.step, seconds=seconds), **base}
    _stop["requested"] = True  # the trainer took the Ctrl-C: this process starts no further cell
    return {**base, "status": "interrupted", "message": f"stopped at step {trainer.step}", "step": trainer.step}


def _no_log(*args, **kwargs) -> None:
    pass


def seed_groups(cells: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Cells that differ only in seed, together (in the order given); the others alone."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for cell in cells:
        train = {k: v for k, v in cell["train"].items() if k != "seed"}
        key = json.dumps([cell["group"], cell["plugins"], cell["options"], train], sort_keys=True, default=str)
        groups.setdefault(key, []).append(cell)
    return list(groups.values())


def run_cells_batched(cells: list[dict[str, Any]], sweep_dir: str, threads: int = 0, pm=None,
                      vectorize: str = "auto", say=None) -> list[dict[str, Any]]:
    """Cells that differ only in seed, trained as one batched model (:mod:`ganlab.seeds`); a record each.

    A set-up that cannot batch runs its cells one by one, as :func:`run_cell` would; the reason is said once.
    """
    from ganlab.seeds import train_seeds

    t0 = time.perf_counter()
    done = [c for c in cells if cell_state(Path(sweep_dir) / c["id"]) in DONE]
    skipped = [run_cell(c, sweep_dir, threads, pm) for c in done]
    cells = [c for c in cells if c not in done]
    if len(cells) < 2 or _stop["requested"]:
        return skipped + [run_cell(c, sweep_dir, threads, pm) for c in cells]
    pm = pm or _plugin_manager()
    runs, bases = [], []
    for cell in cells:
        run_dir = Path(sweep_dir) / cell["id"]
        state = cell_state(run_dir)
        bases.append({"id": cell["id"], "resumed": state == "resume"})
        runs.append(_run_spec(cell, run_dir, state, threads))

    def told(trainers, reason) -> None:
        if reason is not None and say is not None:
            say(f"{cells[0]['group']}: seeds run one by one: {reason}", flush=True)

    try:
        results, _ = train_seeds(pm, runs, vectorize, quiet=True, log=_no_log, before_fit=told)
    except KeyboardInterrupt:
        _stop["requested"] = True
        return skipped + [{**b, "status": "interrupted", "message": "aborted"} for b in bases]
    except Exception as exc:  # a bad combination or a plugin bug fails these cells only
        return skipped + [{**write_status(Path(sweep_dir) / b["id"], "failed", _failure_text(exc),
                                          error=type(exc).__name__), **b} for b in bases]
    seconds = round(time.perf_counter() - t0, 3)
    records = skipped
    for cell, base in zip(cells, bases):
        run_dir = Path(sweep_dir) / cell["id"]
        status = results.get(run_dir, "failed")
        if status == "finished":
            records.append({**write_status(run_dir, "finished", step=cell["train"].get("steps"), seconds=seconds),
                            **base})
        elif status == "interrupted":
            _stop["requested"] = True
            records.append({**base, "status": "interrupted", "message": "stopped"})
        else:
            records.append({**write_status(run_dir, "failed", status, error="TrainingDiverged", seconds=seconds),
                            **base})
    return records
