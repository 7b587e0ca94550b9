"""TensorBoard event files for a run: ``ganlab run --plugin tensorboard`` (``pip install 'ganlab[tensorboard]'``).

Writes, under ``RUN/tensorboard/``, with ``torch.utils.tensorboard``:

* every ``metrics.jsonl`` row as scalars ``train/<key>`` (losses, each
  penalty, mean real and fake scores, gradient norms, wall time);
* every ``eval.jsonl`` row as ``eval/<source>/<metric>`` (``samples``: the
  2-D mode report of each sample step; ``train``: ``--eval-every``;
  ``eval``: ``ganlab eval`` on the saved run, later);
* the sample picture of each sample step (the image grid, or the 2-D
  scatter) as the image ``samples``;
* at the end, the resolved config as hparams with the final values as its
  metrics (``final/...``), in ``RUN/tensorboard/hparams``: ``tensorboard
  --logdir`` on a ``ganlab compare`` sweep folder shows the sweep as one
  hparams table.

A resumed run continues the same event files: the writer starts with
``purge_step`` at the checkpoint's step + 1, so TensorBoard drops what an
earlier session logged past the checkpoint (steps that are trained again)
and every step appears once. Observation only: training is unchanged.
"""

from __future__ import annotations

import importlib.util
import math
import shutil
from pathlib import Path
from typing import Any, Mapping

from ganlab import hookimpl

FOLDER = "tensorboard"
INSTALL = "pip install 'ganlab[tensorboard]'"
# What an eval row says of itself, not of the samples (ganlab eval adds n_real, seed, seconds).
ROW_FACTS = ("step", "n", "n_real", "seed", "seconds")

# One writer per run folder being trained in this process (``--seeds K`` trains K at once).
_runs: dict[Path, dict[str, Any]] = {}


@hookimpl
def ganlab_validate(setup):
    if importlib.util.find_spec("tensorboard") is None:
        return f"--plugin tensorboard needs the tensorboard package, which is not installed: {INSTALL}"
    return None


@hookimpl
def ganlab_on_run_start(run_dir, step, config):
    from torch.utils.tensorboard import SummaryWriter

    _close(run_dir)
    writer = SummaryWriter(str(Path(run_dir) / FOLDER), purge_step=step + 1 if step else None)
    _runs[Path(run_dir)] = {"writer": writer, "config": dict(config), "final": {}}


@hookimpl
def ganlab_on_log(step, record, run_dir):
    run = _runs.get(Path(run_dir))
    if run is None:
        return
    for key, value in _numbers(record, skip=("step",)).items():
        run["writer"].add_scalar(f"train/{key}", value, step)
        if key != "time":
            run["final"][f"final/{key}"] = value


@hookimpl
def ganlab_on_eval(step, row, run_dir):
    source = row.get("source", "eval")
    values = _numbers(row, skip=ROW_FACTS)
    run = _runs.get(Path(run_dir))
    if run is None:  # ganlab eval on a saved run: its own writer, no purge (training's steps stay)
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(str(Path(run_dir) / FOLDER)) as writer:
            for key, value in values.items():
                writer.add_scalar(f"eval/{source}/{key}", value, step)
        return
    for key, value in values.items():
        run["writer"].add_scalar(f"eval/{source}/{key}", value, step)
        run["final"][f"final/{source}/{key}"] = value


@hookimpl
def ganlab_on_samples(step, samples, picture, run_dir):
    run = _runs.get(Path(run_dir))
    if run is None:
        return
    import numpy as np
    from PIL import Image

    with Image.open(picture) as image:
        pixels = np.asarray(image.convert("RGB"))
    run["writer"].add_image("samples", pixels, step, dataformats="HWC")


@hookimpl
def ganlab_on_run_end(run_dir, step, status):
    run = _runs.get(Path(run_dir))
    if run is None:
        return
    try:
        # Rewritten at every end, so a resumed run's table holds its latest final values once.
        shutil.rmtree(Path(run_dir) / FOLDER / "hparams", ignore_errors=True)
        metrics = dict(run["final"]) or {"final/step": float(step)}
        metrics["final/step"] = float(step)
        run["writer"].add_hparams(hparams(run["config"], status), metrics, run_name="hparams", global_step=step)
    finally:
        _close(run_dir)


def hparams(config: Mapping[str, Any], status: str) -> dict[str, Any]:
    """``config.toml`` as one flat table of TensorBoard hparams values (bool, int, float or str)."""
    flat: dict[str, Any] = {"plugins": ",".join(config.get("plugins", ())), "status": status}
    for key, value in config.get("train", {}).items():
        flat[f"train.{key}"] = _value(value)
    for plugin, table in config.get("options", {}).items():
        for key, value in table.items():
            flat[f"{plugin}.{key}"] = _value(value)
    return flat


def _value(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def _numbers(row: Mapping[str, Any], skip: tuple[str, ...]) -> dict[str, float]:
    return {k: float(v) for k, v in row.items() if k not in skip and isinstance(v, (int, float))
            and not isinstance(v, bool) and math.isfinite(float(v))}


def _close(run_dir) -> None:
    run = _runs.pop(Path(run_dir), None)
    if run is not None:
        run["writer"].close()
