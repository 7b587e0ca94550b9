"""Starting, recording and resuming runs (what ``ganlab run`` does)."""

from __future__ import annotations

import dataclasses
import platform
import time
from pathlib import Path

import torch

from ganlab import __version__
from ganlab.config import RunRequest, dump_run_config, load_config_file
from ganlab.checkpoint import CHECKPOINT_NAME, write_text_atomic
from ganlab.errors import CheckpointError, ConfigError
from ganlab.manager import GanlabPluginManager
from ganlab.runsetup import RunSetup, build_setup
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


def recorded_train(setup: RunSetup):
    """The trainer settings as they reproduce this run from any working directory."""
    train = setup.train
    if setup.loaded.identity.get("name") == "mnist-embedded":
        train = dataclasses.replace(train, data="mnist-embedded")  # pin the data actually used
    elif Path(train.data).expanduser().is_dir():
        train = dataclasses.replace(train, data=str(Path(train.data).expanduser().resolve()))
    if train.data_root:
        train = dataclasses.replace(train, data_root=str(Path(train.data_root).expanduser().resolve()))
    return train


def run_config_text(setup: RunSetup) -> str:
    return dump_run_config(list(setup.selection.selected), recorded_train(setup), setup.options.as_dict(),
                           run_record(setup))


def _existing_run_error(run_dir: Path) -> ConfigError:
    if (run_dir / CONFIG_NAME).is_file() and not (run_dir / CHECKPOINT_NAME).is_file():
        return ConfigError(f"run folder {run_dir} holds a run that stopped before its first checkpoint; "
                           f"delete the folder or choose another --out")
    return ConfigError(f"run folder {run_dir} already exists and is not empty; choose another --out, "
                       f"or continue it with --resume {run_dir}")


def claim_run_dir(run_dir: Path, text: str, explicit: bool) -> Path:
    """Create the run folder and its config.toml atomically, so two runs never share a folder."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--out {run_dir} is a file; give a folder for the run")
    candidate, n = run_dir, 1
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=explicit)
            with open(candidate / CONFIG_NAME, "x") as fh:
                fh.write(text)
            return candidate
        except FileExistsError:
            if explicit:
                raise _existing_run_error(candidate) from None
            n += 1  # another run took this timestamped name a moment ago
            candidate = run_dir.with_name(f"{run_dir.name}-{n}")


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
        if not (run_dir / CHECKPOINT_NAME).is_file():
            raise CheckpointError(f"{run_dir} stopped before its first checkpoint, so there is nothing to "
                                  f"resume; start it again with --config {run_dir / CONFIG_NAME} --out NEW_DIR")
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
        if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
            # Fail before the (possibly slow) set-up; claim_run_dir re-checks atomically.
            if not run_dir.is_dir():
                raise ConfigError(f"--out {run_dir} is a file; give a folder for the run")
            raise _existing_run_error(run_dir)
    setup = build_setup(pm, request)
    if resume is not None:
        trainer = Trainer(setup, run_dir, quiet=quiet, log=log)
        trainer.resume()
        write_text_atomic(run_dir / CONFIG_NAME, run_config_text(setup))
        return trainer
    run_dir = claim_run_dir(run_dir, run_config_text(setup), explicit=out is not None)
    return Trainer(setup, run_dir, quiet=quiet, log=log)
