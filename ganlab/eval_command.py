"""``ganlab eval RUN_DIR``: every active metric on a run's saved generator.

The run is rebuilt from its ``config.toml`` (same plugins, options and data),
the generator's weights come from ``checkpoint.pt``, and ``n`` samples are
drawn from fixed, seeded noise, so two evaluations of one checkpoint give the
same numbers. The row is printed (a table, or JSON) and appended to
``RUN/eval.jsonl`` with ``"source": "eval"``.

``--step N`` evaluates the checkpoint of step N: the latest one, or one that
``ganlab run --keep-every K`` kept in ``RUN/checkpoints/``; ``--step all``
evaluates every kept checkpoint and the latest, oldest first, one row each.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

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


def _require_run(run_dir: Path) -> None:
    from ganlab.errors import CheckpointError
    from ganlab.run import CONFIG_NAME

    if not (run_dir / CONFIG_NAME).is_file():
        raise CheckpointError(f"{run_dir} is not a ganlab run folder (no {CONFIG_NAME})")


def _require_latest(run_dir: Path) -> None:
    from ganlab.checkpoint import CHECKPOINT_NAME, kept_steps
    from ganlab.errors import CheckpointError

    _require_run(run_dir)
    if not (run_dir / CHECKPOINT_NAME).is_file():
        kept = kept_steps(run_dir)
        have = f"; it has kept checkpoints of steps {', '.join(map(str, kept))}: name them with --step N" if kept else ""
        raise CheckpointError(f"no checkpoint at {run_dir / CHECKPOINT_NAME}{have}")


def checkpoint_for(run_dir: Path, step: int | None) -> Path:
    """The checkpoint file of ``step`` (None: the latest); a CheckpointError naming the steps there are."""
    from ganlab.checkpoint import CHECKPOINT_NAME, kept_path, kept_steps, load_checkpoint
    from ganlab.errors import CheckpointError

    _require_run(run_dir)
    latest = run_dir / CHECKPOINT_NAME
    if step is None:
        return latest
    if kept_path(run_dir, step).is_file():
        return kept_path(run_dir, step)
    kept = kept_steps(run_dir)
    if not latest.is_file() and kept:
        raise CheckpointError(f"{run_dir} has no checkpoint of step {step}: it has kept checkpoints of steps "
                              f"{', '.join(map(str, kept))} and no {CHECKPOINT_NAME}")
    latest_step = load_checkpoint(latest, "cpu")["step"]
    if step == latest_step:
        return latest
    have = f"kept checkpoints of steps {', '.join(map(str, kept))} and " if kept else ""
    hint = "" if kept else "; ganlab run --keep-every K keeps every K-th checkpoint for later evaluation"
    raise CheckpointError(f"{run_dir} has no checkpoint of step {step}: it has {have}the latest, of step "
                          f"{latest_step}{hint}")


def steps_to_evaluate(run_dir: Path, asked: list[int | str] | None) -> list[int | None]:
    """``--step`` values in the order asked, each once; ``all``: every kept step, then the latest (None).

    The latest stays None, read when its turn comes: a run still training may
    have replaced it by then.
    """
    from ganlab.checkpoint import kept_steps

    if not asked:
        return [None]
    steps: list[int | None] = []
    for value in asked:
        if value == "all":
            _require_run(run_dir)
            steps += [*kept_steps(run_dir), None]
        else:
            steps.append(value)
    return list(dict.fromkeys(steps))


def _kept_as_latest(run_dir: Path, done: set[int]) -> bool:
    """Whether the latest checkpoint is one of the kept ones just evaluated (a hard link of it)."""
    from ganlab.checkpoint import CHECKPOINT_NAME, kept_path

    latest = run_dir / CHECKPOINT_NAME

    def same(step: int) -> bool:
        try:
            return os.path.samefile(latest, kept_path(run_dir, step))
        except OSError:  # not kept (an explicit --step of the latest), or gone
            return False

    return any(same(step) for step in done)


def evaluate_run(run_dir: Path, n: int = 10_000, seed: int = 0, step: int | None = None, device: str = "cpu",
                 manager=None, raw: bool = False) -> dict:
    """The ``eval.jsonl`` row of a run's checkpoint of ``step`` (None: the latest), not written.

    Raises GanlabError on user mistakes.
    """
    from ganlab.checkpoint import load_checkpoint
    from ganlab.config import load_config_file, resolve_config
    from ganlab.errors import CheckpointError, ConfigError
    from ganlab.manager import make_plugin_manager
    from ganlab.metrics import collect_metrics, evaluate_generator
    from ganlab.run import CONFIG_NAME
    from ganlab.runsetup import build_run

    run_dir = Path(run_dir)
    if n < 10:
        raise ConfigError(f"--n must be at least 10, got {n}")
    path = checkpoint_for(run_dir, step)
    state = load_checkpoint(path, "cpu")
    if step is not None and step != state["step"]:
        raise CheckpointError(f"{path} holds a checkpoint of step {state['step']}, not {step}; it was "
                              f"replaced or renamed by hand")
    request = load_config_file(run_dir / CONFIG_NAME)
    request.train["device"] = device
    pm = manager or make_plugin_manager()
    selection = pm.select(request.plugins)
    setup = build_run(selection, resolve_config(selection, request))
    if not collect_metrics(selection, setup.data, setup.options):
        raise ConfigError(f"no active plugin offers a metric for data {setup.data.name!r} of shape "
                          f"{tuple(setup.data.shape)}; add a plugin that implements ganlab_metrics")
    try:
        setup.generator.load_state_dict(state["generator"])
        average = None if raw else setup.generator_average
        if average is not None:
            if state.get("generator_average") is None:
                raise CheckpointError(f"{path} has no average of G's weights (written before the run kept one?); "
                                      f"evaluate G itself with --raw")
            average.load_state_dict(state["generator_average"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"the checkpoint's generator does not fit the run in {run_dir / CONFIG_NAME}: "
                              f"{str(exc).splitlines()[0]}") from None
    generator = average.module if average is not None else setup.generator
    weights = {} if setup.generator_average is None else {"weights": "raw" if raw else "average"}
    t0 = time.perf_counter()
    values = evaluate_generator(selection, setup.loaded, setup.options, generator, setup.train.latent_dim,
                                setup.conditioner is not None, n, seed, setup.device)
    real_n = min(n, len(setup.loaded))
    return {"step": state["step"], "source": "eval", "n": n, "n_real": real_n, "seed": seed, **weights, **values,
            "seconds": round(time.perf_counter() - t0, 2)}


def format_row(row: dict) -> str:
    from ganlab.metrics import RESERVED_KEYS

    skip = set(RESERVED_KEYS)
    width = max([len(k) for k in row if k not in skip] + [6])
    lines = [f"{'metric':<{width}}  value"]
    for key, value in row.items():
        if key not in skip:
            lines.append(f"{key:<{width}}  {'nan' if value != value else f'{value:.6g}'}")
    return "\n".join(lines)


def run(args) -> int:
    from ganlab.checkpoint import append_line
    from ganlab.metrics import EVAL_NAME
    from ganlab.stepstats import strict_json

    run_dir = Path(args.run_dir)
    steps = steps_to_evaluate(run_dir, args.step)
    for step in steps:  # every asked step exists before any is evaluated: no half-done list
        if step is None:
            _require_latest(run_dir)
        else:
            checkpoint_for(run_dir, step)
    done: set[int] = set()
    for step in steps:
        if step is None and _kept_as_latest(run_dir, done):
            continue
        row = evaluate_run(run_dir, args.n, args.seed, step, args.device, raw=args.raw)
        if row["step"] in done:  # the latest was a copy of a kept step just evaluated
            continue
        done.add(row["step"])
        append_line(run_dir / EVAL_NAME, strict_json(row))
        if args.json:
            print(json.dumps(json.loads(strict_json(row))))
            continue
        of = {"average": " (the average of G's weights)", "raw": " (G itself, not its average)"}.get(row.get("weights"), "")
        print(f"{run_dir} at step {row['step']}{of}: {row['n']} generated vs {row['n_real']} real samples "
              f"(seed {row['seed']}), {row['seconds']} s")
        print(format_row(row))
        print(f"appended to {run_dir / EVAL_NAME}")
    return 0
