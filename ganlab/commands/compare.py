"""``ganlab compare``: train variants x option grid x seeds as run folders, then tabulate and plot them.

The sweep (:mod:`ganlab.compare`) is read from a file or built from flags;
this module owns the sweep folder, progress lines and the report.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ganlab.commands import EXIT_FAILED, EXIT_INTERRUPTED, add_train_flags, train_flags_given
from ganlab.errors import ConfigError

HELP = "train variants x option grid x seeds and tabulate their evaluations"
DESCRIPTION = """Train every variant x option-grid point x seed as an ordinary run folder under one
sweep folder, then tabulate the last step's eval.jsonl rows of each cell (mean ± std, 95% bootstrap
interval) and plot it. Give a sweep file, or the short form:
  ganlab compare --variant LOSS --variant "LOSS+REGULARIZER" --variant "LOSS -o LOSS.KEY=VALUE" --seeds 3 --data ring
(`ganlab plugins` lists the plugin names and their options.)
Re-running the same command skips finished cells and resumes interrupted ones."""
EXECUTORS = ("local", "slurm", "submitit-local")


def add_arguments(p) -> None:
    p.add_argument("sweep", nargs="?", metavar="SWEEP.toml", help="a sweep file (see docs/evaluation.md)")
    p.add_argument("--variant", action="append", default=[], metavar='"PLUGIN[+PLUGIN] [-o P.K=V]..."',
                   help="a variant (repeat); the short form instead of a sweep file")
    p.add_argument("--only", action="append", default=[], metavar="VARIANT",
                   help="run only this variant of the sweep file (repeat)")
    p.add_argument("--seeds", type=int, metavar="N", help="seeds 0..N-1 per variant (default 1, or the file's)")
    p.add_argument("--grid", action="append", default=[], metavar="PLUGIN.KEY=V1,V2",
                   help="an option axis (repeat: the Cartesian product); train.KEY=... for trainer settings")
    p.add_argument("-o", dest="overrides", action="append", default=[], metavar="PLUGIN.KEY=VALUE",
                   help="an option of every cell (where PLUGIN is active)")
    p.add_argument("--out", metavar="DIR", help="sweep folder (default sweeps/NAME-HASH: the same sweep resumes)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="cells run at once (default 1)")
    p.add_argument("--threads", type=int, metavar="N", help="torch threads per cell (default: cores // workers locally, 1 per SLURM job)")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local processes, SLURM jobs via submitit (pip install ganlab[slurm]), "
                        "or submitit's local executor (for trying the SLURM path)")
    p.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                   help="a submitit parameter, e.g. slurm_partition=gpu, timeout_min=120, gpus_per_node=1")
    p.add_argument("--retry-failed", action="store_true", help="start failed cells again from scratch")
    p.add_argument("--report", metavar="SWEEP_DIR", help="rebuild the table and plots of a sweep folder; no training")
    add_train_flags(p.add_argument_group("trainer settings of every cell (override the file's [train])"),
                    skip=("seed", "threads"), show_defaults=False)


def _typed(key: str, raw: str):
    from ganlab.config import TRAIN_FIELDS
    from ganlab.options import parse_value

    try:
        return parse_value(TRAIN_FIELDS[key].type, raw)
    except ValueError as exc:
        raise ConfigError(f"bad value {raw!r} for --{key.replace('_', '-')}: {exc}") from None


def build_sweep(args):
    from ganlab.compare.sweep import Sweep, load_sweep, parse_variant, _seeds
    from ganlab.config import check_train_keys
    from ganlab.options import parse_overrides

    if args.sweep and args.variant:
        raise ConfigError("give a sweep file or --variant options, not both")
    if not args.sweep and not args.variant:
        raise ConfigError("give a sweep file (ganlab compare SWEEP.toml) or variants (--variant gan --variant lsgan)")
    if args.sweep:
        sweep = load_sweep(args.sweep)
    else:
        variants = [parse_variant(v) for v in args.variant]
        names = [v.name for v in variants]
        if len(set(names)) < len(names):
            raise ConfigError(f"--variant given twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
        sweep = Sweep("compare", [0], variants)
    if args.only:
        known = [v.name for v in sweep.variants]
        unknown = [n for n in args.only if n not in known]
        if unknown:
            raise ConfigError(f"--only {', '.join(unknown)}: not a variant of the sweep; choose from {', '.join(known)}")
        sweep.variants = [v for v in sweep.variants if v.name in args.only]
    if args.seeds is not None:
        sweep.seeds = _seeds(args.seeds, "--seeds")
    train = train_flags_given(args)
    check_train_keys(train, "the command line")
    sweep.train |= {k: _typed(k, v) for k, v in train.items()}
    for plugin, values in parse_overrides(args.overrides).items():
        sweep.options.setdefault(plugin, {}).update(values)
    for text in args.grid:
        key, sep, values = text.partition("=")
        plugin, dot, name = key.strip().partition(".")
        if not sep or not dot or not values:
            raise ConfigError(f"bad --grid {text!r}: expected PLUGIN.KEY=V1,V2 or train.KEY=V1,V2")
        raw = [v.strip() for v in values.split(",")]
        sweep.grid[key.strip()] = [_typed(name, v) for v in raw] if plugin == "train" else raw
    return sweep


def claim_sweep_dir(out: Path, text: str) -> None:
    """Create the sweep folder, or check that the one there holds this very sweep."""
    from ganlab.checkpoint import write_text_atomic
    from ganlab.compare.sweep import SWEEP_NAME

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


def report(sweep_dir: Path, cells) -> tuple[list, dict]:
    from ganlab.checkpoint import write_text_atomic
    from ganlab.compare import aggregate, plots

    groups = aggregate.collect(sweep_dir, cells)
    rows = aggregate.table(groups)
    print(aggregate.markdown(rows))
    write_text_atomic(sweep_dir / "results.csv", aggregate.csv_text(rows))
    write_text_atomic(sweep_dir / "results.json", aggregate.json_text(rows, groups))
    write_text_atomic(sweep_dir / "results.md", aggregate.wide_markdown(rows))
    figures = plots.draw(sweep_dir, cells, groups, sweep_dir / "plots")
    unfinished = sum(len(g["other"]) for g in groups.values())
    print(f"\nresults: {sweep_dir / 'results.csv'}, {sweep_dir / 'results.json'}, {sweep_dir / 'results.md'} "
          "(a variant per row); "
          f"{len(figures)} plot(s) in {sweep_dir / 'plots'}" + (f"; {unfinished} cell(s) unfinished" if unfinished else ""))
    for group, g in groups.items():
        for seed, message in g["failed"].items():
            print(f"failed: {group} seed {seed}: {message}")
    return rows, groups


def default_threads(workers: int) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(cores // max(workers, 1), 1)


def _slurm_params(texts: list[str]) -> dict:
    params = {}
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"bad --slurm {text!r}: expected KEY=VALUE")
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                pass
        params[key.strip()] = value
    return params


def main(args) -> int:
    from ganlab.compare import cells as cellmod, executors
    from ganlab.compare.sweep import CELLS_NAME, cells_text, expand, load_cells
    from ganlab.checkpoint import write_text_atomic

    if args.report:
        report(Path(args.report), load_cells(Path(args.report)))
        return 0
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {args.threads}")
    sweep = build_sweep(args)
    from ganlab import manager

    cells = expand(sweep, manager.make_plugin_manager())
    text = sweep.to_toml()
    out = Path(args.out) if args.out else Path("sweeps") / f"{sweep.name}-{sweep.digest()}"
    claim_sweep_dir(out, text)
    write_text_atomic(out / CELLS_NAME, cells_text(cells))

    states = {c.id: cellmod.cell_state(out / c.id) for c in cells}
    if args.retry_failed:
        for c in cells:
            if states[c.id] == "failed":
                shutil.rmtree(out / c.id)
                states[c.id] = "new"
    todo = [c for c in cells if states[c.id] not in cellmod.DONE]
    count = {s: sum(v == s for v in states.values()) for s in ("finished", "failed", "resume", "new")}
    # A SLURM job gets the cores it asks for (cpus_per_task follows --threads), so one unless told.
    threads = args.threads or (default_threads(args.workers) if args.executor == "local" else 1)
    n_points = len({c.group for c in cells})
    print(f"sweep {sweep.name}: {n_points} variant(s) and grid point(s) x {len(sweep.seeds)} seed(s) = "
          f"{len(cells)} cells in {out}")
    print(f"{count['finished']} finished earlier (skipped), {count['failed']} failed earlier (skipped; "
          f"--retry-failed reruns them), {count['resume']} to resume, {count['new']} to start; "
          f"{args.executor}, {args.workers if args.executor == 'local' else len(todo)} worker(s) x {threads} thread(s)",
          flush=True)

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
        print(f"[{done[0]}/{len(todo)}] {cell.group} seed {cell.seed}: {status}{took}{message}", flush=True)
        if record["status"] in ("failed", "error"):
            failures.append(record)

    specs = [c.as_dict() for c in todo]
    interrupted = False
    if specs:
        if args.executor == "local" and args.workers == 1:
            interrupted = executors.run_in_process(specs, out, threads, on_result)
        elif args.executor == "local":
            interrupted = executors.run_in_pool(specs, out, args.workers, threads, on_result)
        else:
            interrupted = executors.run_with_submitit(specs, out, threads, on_result,
                                                      cluster="local" if args.executor == "submitit-local" else "slurm",
                                                      params=_slurm_params(args.slurm))
    if specs:
        print(f"ran {done[0]} cell(s) in {time.perf_counter() - t0:.1f} s\n")
    report(out, cells)
    if interrupted:
        print("interrupted; re-run the same command to continue (finished cells are skipped)")
        return EXIT_INTERRUPTED
    failed = sum(1 for c in cells if (cellmod.read_status(out / c.id) or {}).get("status") == "failed")
    return EXIT_FAILED if failed or failures else 0
