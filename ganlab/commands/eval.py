"""``ganlab eval RUN_DIR``: every active metric on a run's saved generator (:mod:`ganlab.run_evaluation`).

``--step N`` evaluates the checkpoint of step N: the latest one, or one that
``ganlab run --keep-every K`` kept; ``--step all`` evaluates every kept
checkpoint and the latest, oldest first, one row each.
"""

from __future__ import annotations

import json
from pathlib import Path

HELP = "sample-quality metrics of a run's checkpoint"
DESCRIPTION = ("Compute every active sample-quality metric (FD, KID, precision/recall/density/coverage, class "
               "coverage on MNIST; mode coverage on ring/grid; third-party metrics) for a run's checkpoint.")


def add_arguments(p) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (with config.toml and checkpoint.pt)")
    p.add_argument("--step", type=_step, action="append", default=None, metavar="N|all",
                   help="the step to evaluate: the latest checkpoint's or one kept by ganlab run --keep-every; "
                        "'all' for every kept one and the latest (repeatable; default: the latest)")
    p.add_argument("--n", type=int, default=10_000, help="generated (and real) samples (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise and the real subset (default 0)")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help="where to generate (default cpu)")
    p.add_argument("--raw", action="store_true",
                   help="in a run that averages G's weights (ganlab_generator_average), evaluate G itself, "
                        "not the average")
    p.add_argument("--json", action="store_true", help="print the row as JSON")


def _step(text: str) -> int | str:
    if text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        import argparse

        raise argparse.ArgumentTypeError(f"expected a step number or 'all', got {text!r}")
    return value


def main(args) -> int:
    from ganlab import manager, run_evaluation as E
    from ganlab.runfolder import RunFolder
    from ganlab.stepstats import strict_json

    run_dir = Path(args.run_dir)
    eval_path = RunFolder(run_dir).eval
    steps = E.steps_to_evaluate(run_dir, args.step)
    for step in steps:  # every asked step exists before any is evaluated: no half-done list
        if step is None:
            E.require_latest(run_dir)
        else:
            E.checkpoint_for(run_dir, step)
    done: set[int] = set()
    for step in steps:
        if step is None and E.kept_as_latest(run_dir, done):
            continue
        row = E.record(run_dir, args.n, args.seed, step, args.device, args.raw, manager.make_plugin_manager(), done)
        if row is None:  # the latest was a copy of a kept step just evaluated
            continue
        done.add(row["step"])
        if args.json:
            print(json.dumps(json.loads(strict_json(row))))
            continue
        of = {"average": " (the average of G's weights)", "raw": " (G itself, not its average)"}.get(row.get("weights"), "")
        print(f"{run_dir} at step {row['step']}{of}: {row['n']} generated vs {row['n_real']} real samples "
              f"(seed {row['seed']}), {row['seconds']} s")
        print(E.format_row(row))
        print(f"appended to {eval_path}")
    return 0
