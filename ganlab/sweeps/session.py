"""Running a sweep: its folder, every cell to the end (or a Ctrl-C), and the results table.

``ganlab compare`` and :func:`ganlab.compare` (the Python API) both call
:func:`run_sweep`; the cells are ordinary run folders (:mod:`ganlab.sweeps.cells`).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ganlab.errors import ConfigError

EXECUTORS = ("local", "slurm", "submitit-local")


@dataclass
class SweepResult:
    """A sweep's folder, its results table (one row per variant and metric) and how it ended."""

    folder: Path
    rows: list = field(default_factory=list)
    groups: dict = field(default_factory=dict)
    interrupted: bool = False
    failed: int = 0


def claim_sweep_dir(out: Path, text: str) -> None:
    """Create the sweep folder, or check that the one there holds this very sweep."""
    from ganlab.checkpoint import write_text_atomic
    from ganlab.sweeps.sweep import SWEEP_NAME

    saved = out / SWEEP_NAME
    if saved.is_file():
        if saved.read_text() != text:
            raise ConfigError(f"{out} holds another sweep ({saved} differs from this one); choose another --out, "
                              f"or delete the folder to start over")
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out} exists and is not a sweep folder; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(saved, text)


def report(sweep_dir: Path, cells, say: Callable[..., None] = print) -> tuple[list, dict]:
    from ganlab.checkpoint import write_text_atomic
    from ganlab.sweeps import aggregate, plots

    groups = aggregate.collect(sweep_dir, cells)
    rows = aggregate.table(groups)
    say(aggregate.markdown(rows))
    write_text_atomic(sweep_dir / "results.csv", aggregate.csv_text(rows))
    write_text_atomic(sweep_dir / "results.json", aggregate.json_text(rows, groups))
    write_text_atomic(sweep_dir / "results.md", aggregate.wide_markdown(rows))
    figures = plots.draw(sweep_dir, cells, groups, sweep_dir / "plots")
    unfinished = sum(len(g["other"]) for g in groups.values())
    say(f"\nresults: {sweep_dir / 'results.csv'}, {sweep_dir / 'results.json'}, {sweep_dir / 'results.md'} "
          "(a variant per row); "
          f"{len(figures)} plot(s) in {sweep_dir / 'plots'}" + (f"; {unfinished} cell(s) unfinished" if unfinished else ""))
    for group, g in groups.items():
        for seed, message in g["failed"].items():
            say(f"failed: {group} seed {seed}: {message}")
    return rows, groups


def default_threads(workers: int) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(cores // max(workers, 1), 1)


def run_sweep(sweep, out: Path | None = None, workers: int = 1, threads: int | None = None,
              executor: str = "local", slurm: dict[str, Any] | None = None, retry_failed: bool = False,
              pm=None, say: Callable[..., None] = print, vectorize: str = "auto") -> SweepResult:
    """Train every unfinished cell of ``sweep``, then tabulate; re-running skips finished cells.

    ``vectorize`` (auto, on, off): whether the cells of one variant that differ only in seed train as one
    batched model; only cells run in this process can (one local worker).

    ``pm`` (a plugin manager with in-memory plugins, say) is used for the cells
    when they run in this process: ``executor="local"`` with one worker.
    """
    from ganlab import manager
    from ganlab.checkpoint import write_text_atomic
    from ganlab.seeds import VECTORIZE
    from ganlab.sweeps import cells as cellmod, executors
    from ganlab.sweeps.sweep import CELLS_NAME, cells_text, expand

    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    if executor not in EXECUTORS:
        raise ConfigError(f"executor {executor!r}: choose from {', '.join(EXECUTORS)}")
    in_process = executor == "local" and workers == 1
    if pm is not None and not in_process:
        raise ConfigError("plugins defined in this process reach only cells run in it: use one local worker")
    if vectorize not in VECTORIZE:
        raise ConfigError(f"--vectorize {vectorize!r}: choose from {', '.join(VECTORIZE)}")
    if vectorize == "on" and not in_process:
        raise ConfigError("--vectorize on batches seeds in this process: use --executor local --workers 1")
    cells = expand(sweep, pm or manager.make_plugin_manager())
    out = Path(out) if out else Path("sweeps") / f"{sweep.name}-{sweep.digest()}"
    claim_sweep_dir(out, sweep.to_toml())
    write_text_atomic(out / CELLS_NAME, cells_text(cells))

    states = {c.id: cellmod.cell_state(out / c.id) for c in cells}
    if retry_failed:
        for c in cells:
            if states[c.id] == "failed":
                shutil.rmtree(out / c.id)
                states[c.id] = "new"
    todo = [c for c in cells if states[c.id] not in cellmod.DONE]
    count = {s: sum(v == s for v in states.values()) for s in ("finished", "failed", "resume", "new")}
    # A SLURM job gets the cores it asks for (cpus_per_task follows --threads), so one unless told.
    threads = threads or (default_threads(workers) if executor == "local" else 1)
    n_points = len({c.group for c in cells})
    say(f"sweep {sweep.name}: {n_points} variant(s) and grid point(s) x {len(sweep.seeds)} seed(s) = "
        f"{len(cells)} cells in {out}")
    say(f"{count['finished']} finished earlier (skipped), {count['failed']} failed earlier (skipped; "
        f"--retry-failed reruns them), {count['resume']} to resume, {count['new']} to start; "
        f"{executor}, {workers if executor == 'local' else len(todo)} worker(s) x {threads} thread(s)", flush=True)
    if vectorize == "auto" and not in_process and len(sweep.seeds) > 1:
        say("seeds are not batched: cells run in separate workers (--workers 1 --executor local batches them)")

    by_id = {c.id: c for c in cells}
    done = [0]
    failures = []
    t0 = time.perf_counter()

    def on_result(record: dict) -> None:
        cell = by_id[record["id"]]
        done[0] += 1
        status = record["status"] + (" (resumed)" if record.get("resumed") and record["status"] == "finished" else "")
        took = f" in {record['seconds']:.1f} s" if "seconds" in record else ""
        message = f": {record['message']}" if record.get("message") and record["status"] != "finished" else ""
        say(f"[{done[0]}/{len(todo)}] {cell.group} seed {cell.seed}: {status}{took}{message}", flush=True)
        if record["status"] in ("failed", "error"):
            failures.append(record)

    specs = [c.as_dict() for c in todo]
    interrupted = False
    if specs:
        if in_process:
            interrupted = executors.run_in_process(specs, out, threads, on_result, pm=pm, vectorize=vectorize,
                                                   say=say)
        elif executor == "local":
            interrupted = executors.run_in_pool(specs, out, workers, threads, on_result)
        else:
            interrupted = executors.run_with_submitit(specs, out, threads, on_result,
                                                      cluster="local" if executor == "submitit-local" else "slurm",
                                                      params=slurm or {})
        say(f"ran {done[0]} cell(s) in {time.perf_counter() - t0:.1f} s\n")
    rows, groups = report(out, cells, say)
    if interrupted:
        say("interrupted; re-run the same command to continue (finished cells are skipped)")
    failed = sum(1 for c in cells if (cellmod.read_status(out / c.id) or {}).get("status") == "failed")
    return SweepResult(out, rows, groups, interrupted, max(failed, len(failures)))
