"""Starting, recording and resuming runs (what ``ganlab run`` does)."""

from __future__ import annotations

import dataclasses
import platform
import time
from pathlib import Path

import torch

from ganlab import __version__
from ganlab.config import RunRequest, dump_run_config, load_config_file
from ganlab.errors import CheckpointError, ConfigError
from ganlab.manager import GanlabPluginManager
from ganlab.setup import RunSetup, build_setup
from ganlab.trainer import Trainer

CONFIG_NAME = "config.toml"
# What may change when a run is resumed; everything else must match the run.
RESUMABLE_FLAGS = {"steps", "sample_every", "checkpoint_every", "log_every", "device"}


def default_run_dir(plugins: list[str]) -> Path:
    return Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{'+'.join(plugins) or 'gan'}"


def run_record(setup: RunSetup) -> dict:
    plugins = {}
    for info in setup.selection.infos():
        plugins[info.name] = "built-in" if info.source == "built-in" else info.source
    return {
        "ganlab": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(setup.device),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "plugins": plugins,
        "data": {"source": setup.loaded.source, "shape": list(setup.data.shape),
                 "classes": setup.data.num_classes or 0, **setup.loaded.identity},
    }


def write_run_config(setup: RunSetup, run_dir: Path) -> Path:
    train = setup.train
    if setup.loaded.identity.get("name") == "mnist-embedded":
        # Pin the data actually used, so the record reproduces the same run.
        train = dataclasses.replace(train, data="mnist-embedded")
    text = dump_run_config(list(setup.selection.selected), train, setup.options.as_dict(), run_record(setup))
    path = run_dir / CONFIG_NAME
    path.write_text(text)
    return path


def prepare_run(
    pm: GanlabPluginManager,
    request: RunRequest,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    quiet: bool = False,
    log=print,
) -> Trainer:
    """Resolve and build everything, create the run folder, restore a checkpoint."""
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / CONFIG_NAME).is_file():
            raise CheckpointError(f"{run_dir} is not a ganlab run folder (no {CONFIG_NAME}); check --resume")
        changed = sorted(set(request.train) - RESUMABLE_FLAGS)
        if request.plugins or request.options or changed:
            what = ", ".join([*(["--plugin"] if request.plugins else []), *(["-o"] if request.options else []),
                              *(f"--{c.replace('_', '-')}" for c in changed)])
            raise ConfigError(
                f"--resume continues the run as recorded in {run_dir / CONFIG_NAME}; "
                f"{what} cannot change (only --steps, the intervals and --device can)"
            )
        request = load_config_file(run_dir / CONFIG_NAME).merged_with(request)
    else:
        run_dir = Path(out) if out else default_run_dir(request.plugins)
        if run_dir.exists() and any(run_dir.iterdir()):
            raise ConfigError(
                f"run folder {run_dir} already exists and is not empty; choose another --out, "
                f"or continue it with --resume {run_dir}"
            )
    setup = build_setup(pm, request)
    trainer = Trainer(setup, run_dir, quiet=quiet, log=log)
    if resume is not None:
        trainer.resume()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_run_config(setup, run_dir)
    return trainer
