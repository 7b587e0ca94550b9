"""Evaluating a saved run: every active metric on the generator of one of its checkpoints.

The run is rebuilt from its config (same plugins, options and data), the
generator's weights come from the checkpoint of the step asked for (the
latest, or one kept with ``--keep-every``), and ``n`` samples are drawn from
fixed, seeded noise, so two evaluations of one checkpoint give the same
numbers. ``ganlab eval`` prints the row, appends it to the run's
``eval.jsonl`` with ``"source": "eval"`` and tells the run's plugins
(``ganlab_on_eval``), so a TensorBoard log gets the rows too.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ganlab.errors import CheckpointError, ConfigError
from ganlab.runfolder import RunFolder


def _require_run(folder: RunFolder) -> None:
    if not folder.config.is_file():
        raise CheckpointError(f"{folder} is not a ganlab run folder (no {folder.config.name})")


def require_latest(run_dir: Path) -> None:
    folder = RunFolder(run_dir)
    _require_run(folder)
    if not folder.checkpoint.is_file():
        kept = folder.kept_steps()
        have = f"; it has kept checkpoints of steps {', '.join(map(str, kept))}: name them with --step N" if kept else ""
        raise CheckpointError(f"no checkpoint at {folder.checkpoint}{have}")


def checkpoint_for(run_dir: Path, step: int | None) -> Path:
    """The checkpoint file of ``step`` (None: the latest); a CheckpointError naming the steps there are."""
    from ganlab.checkpoint import load_checkpoint

    folder = RunFolder(run_dir)
    _require_run(folder)
    latest = folder.checkpoint
    if step is None:
        return latest
    if folder.kept(step).is_file():
        return folder.kept(step)
    kept = folder.kept_steps()
    if not latest.is_file() and kept:
        raise CheckpointError(f"{run_dir} has no checkpoint of step {step}: it has kept checkpoints of steps "
                              f"{', '.join(map(str, kept))} and no {latest.name}")
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
    folder = RunFolder(run_dir)
    if not asked:
        return [None]
    steps: list[int | None] = []
    for value in asked:
        if value == "all":
            _require_run(folder)
            steps += [*folder.kept_steps(), None]
        else:
            steps.append(value)
    return list(dict.fromkeys(steps))


def kept_as_latest(run_dir: Path, done: set[int]) -> bool:
    """Whether the latest checkpoint is one of the kept ones just evaluated (a hard link of it)."""
    folder = RunFolder(run_dir)

    def same(step: int) -> bool:
        try:
            return os.path.samefile(folder.checkpoint, folder.kept(step))
        except OSError:  # not kept (an explicit --step of the latest), or gone
            return False

    return any(same(step) for step in done)


def evaluate_run(run_dir: Path, n: int = 10_000, seed: int = 0, step: int | None = None, device: str = "cpu",
                 manager=None, raw: bool = False) -> dict:
    """The ``eval.jsonl`` row of a run's checkpoint of ``step`` (None: the latest), not written.

    Raises GanlabError on user mistakes.
    """
    return _evaluate(run_dir, n, seed, step, device, manager, raw)[0]


def _evaluate(run_dir: Path, n: int, seed: int, step: int | None, device: str, manager, raw: bool):
    """:func:`evaluate_run`'s row, and the run's plugin selection that made it."""
    from ganlab.checkpoint import load_checkpoint
    from ganlab.config import load_config_file, resolve_config
    from ganlab.manager import make_plugin_manager
    from ganlab.metrics import collect_metrics, evaluate_generator
    from ganlab.runsetup import build_run

    run_dir = Path(run_dir)
    config = RunFolder(run_dir).config
    if n < 10:
        raise ConfigError(f"--n must be at least 10, got {n}")
    path = checkpoint_for(run_dir, step)
    state = load_checkpoint(path, "cpu")
    if step is not None and step != state["step"]:
        raise CheckpointError(f"{path} holds a checkpoint of step {state['step']}, not {step}; it was "
                              f"replaced or renamed by hand")
    request = load_config_file(config)
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
        raise CheckpointError(f"the checkpoint's generator does not fit the run in {config}: "
                              f"{str(exc).splitlines()[0]}") from None
    generator = average.module if average is not None else setup.generator
    weights = {} if setup.generator_average is None else {"weights": "raw" if raw else "average"}
    t0 = time.perf_counter()
    values = evaluate_generator(selection, setup.loaded, setup.options, generator, setup.train.latent_dim,
                                setup.conditioner is not None, n, seed, setup.device)
    real_n = min(n, len(setup.loaded))
    row = {"step": state["step"], "source": "eval", "n": n, "n_real": real_n, "seed": seed, **weights, **values,
           "seconds": round(time.perf_counter() - t0, 2)}
    return row, selection


def format_row(row: dict) -> str:
    from ganlab.metrics import RESERVED_KEYS

    skip = set(RESERVED_KEYS)
    width = max([len(k) for k in row if k not in skip] + [6])
    lines = [f"{'metric':<{width}}  value"]
    for key, value in row.items():
        if key not in skip:
            lines.append(f"{key:<{width}}  {'nan' if value != value else f'{value:.6g}'}")
    return "\n".join(lines)


def record(run_dir: Path, n: int = 10_000, seed: int = 0, step: int | None = None, device: str = "cpu",
           raw: bool = False, manager=None, done: set[int] = frozenset()) -> dict | None:
    """:func:`evaluate_run`, the row appended to the run's ``eval.jsonl`` and told to its observers; the row.

    None, and nothing written, when the checkpoint's step is in ``done`` (the
    latest checkpoint is a copy of a kept one just evaluated). The row is
    written before any observer sees it: an observer that fails (a PluginError
    naming it) loses no evaluation.
    """
    from ganlab.checkpoint import append_line
    from ganlab.stepstats import strict_json

    row, selection = _evaluate(run_dir, n, seed, step, device, manager, raw)
    if row["step"] in done:
        return None
    append_line(RunFolder(run_dir).eval, strict_json(row))
    selection.call_each("ganlab_on_eval", what=f"ganlab_on_eval of ganlab eval at step {row['step']}",
                        step=row["step"], row=row, run_dir=Path(run_dir))
    return row
