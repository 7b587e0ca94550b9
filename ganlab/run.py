"""Starting, recording and resuming runs (what ``ganlab run`` does).

The run folder (:mod:`ganlab.runfolder`) is locked from before its config is
written until training stops. A run that fails before training starts
removes what it wrote; nothing of an earlier run is ever removed.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from pathlib import Path

import torch

from ganlab import __version__
from ganlab.checkpoint import write_text_atomic
from ganlab.config import RunRequest, dump_run_config, load_config_file
from ganlab.distributed import World, broadcast_object, world_from_env
from ganlab.errors import CheckpointError, ConfigError
from ganlab.manager import GanlabPluginManager
from ganlab.runfolder import ABSENT, EMPTY, NOT_A_FOLDER, RESUMABLE, STARTED, RunFolder, default_folder
from ganlab.runsetup import RunSetup, build_setup
from ganlab.trainer import Trainer

# What may change when a run is resumed; everything else must match the run.
RESUMABLE_FLAGS = {"steps", "sample_every", "checkpoint_every", "keep_every", "log_every", "eval_every", "eval_samples",
                   "device", "threads"}


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
    if setup.loaded.pinned_name:
        train = dataclasses.replace(train, data=setup.loaded.pinned_name)  # pin the data actually used
    elif Path(train.data).expanduser().is_dir():
        train = dataclasses.replace(train, data=str(Path(train.data).expanduser().resolve()))
    if train.data_root:
        train = dataclasses.replace(train, data_root=str(Path(train.data_root).expanduser().resolve()))
    return train


def run_config_text(setup: RunSetup) -> str:
    config = setup.config
    return dump_run_config(list(config.plugins), recorded_train(setup), config.options.as_dict(), run_record(setup))


def _check_resume_request(folder: RunFolder, request: RunRequest, out) -> None:
    run_dir = folder.path
    if out is not None and Path(out).resolve() != run_dir.resolve():
        raise ConfigError(f"--resume {run_dir} continues the run in its own folder; drop --out {out} "
                          f"(to start a copy elsewhere use --config {folder.config} --out {out})")
    state = folder.state()
    if state not in (STARTED, RESUMABLE):
        raise CheckpointError(f"{run_dir} is not a ganlab run folder (no {folder.config.name}); check --resume")
    if state == STARTED:
        folder.refuse_if_in_use()  # still training its first steps: say so, not "stopped"
        raise CheckpointError(f"{run_dir} stopped before its first checkpoint, so there is nothing to "
                              f"resume; start it again with --config {folder.config} --out NEW_DIR")
    changed = sorted(set(request.train) - RESUMABLE_FLAGS)
    if request.plugins or request.options or changed:
        what = ", ".join([*(["--plugin"] if request.plugins else []), *(["-o"] if request.options else []),
                          *(f"--{c.replace('_', '-')}" for c in changed)])
        raise ConfigError(f"--resume continues the run as recorded in {folder.config}; "
                          f"{what} cannot change (only --steps, the intervals, --device and --threads can)")


def _resume(pm: GanlabPluginManager, folder: RunFolder, request: RunRequest, quiet: bool, log,
            world: World, announce) -> Trainer:
    run_dir = folder.path
    lock = folder.lock()
    try:
        request = load_config_file(folder.config).merged_with(request)
        setup = build_setup(pm, request)
        announce(run_dir)
        trainer = Trainer(setup, run_dir, quiet=quiet, log=log, world=world)
        trainer.restore()
        if trainer.train.steps < trainer.step:  # refused before any file of the run changes
            raise ConfigError(f"{run_dir} is at step {trainer.step}, beyond --steps {trainer.train.steps}; "
                              f"give --steps {trainer.step} or more to continue it")
        trainer.trim_logs()
        trainer.keep_if_lost()
        write_text_atomic(folder.config, run_config_text(trainer.setup))
    except BaseException:
        lock.release()
        raise
    trainer.lock = lock
    return trainer


def prepare_run(
    pm: GanlabPluginManager,
    request: RunRequest,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    quiet: bool = False,
    log=print,
) -> Trainer:
    """Resolve and build everything, create (or lock) the run folder, restore a checkpoint.

    The returned trainer holds the folder's lock until :meth:`Trainer.fit`
    returns or :meth:`Trainer.close` is called. Under ``torchrun`` rank 0 does
    all of this and tells the other ranks which folder to follow.
    """
    world = world_from_env()
    if not world.is_main:
        return _follow_rank_zero(pm, request, resume is not None, quiet, world)
    announced: list[str] = []

    def announce(run_dir: Path) -> None:
        broadcast_object(world, str(run_dir))
        announced.append(str(run_dir))

    try:
        return _prepare_main(pm, request, out, resume, quiet, log, world, announce)
    except BaseException:
        if world.active and not announced:
            broadcast_object(world, None)  # the other ranks stop too, instead of waiting
        raise


def _follow_rank_zero(pm, request: RunRequest, resuming: bool, quiet: bool, world: World) -> Trainer:
    """A rank other than 0: build the run rank 0 recorded, write nothing."""
    run_dir = broadcast_object(world, None)
    if run_dir is None:
        raise ConfigError(f"rank 0 could not start the run (its message says why); rank {world.rank} stops too")
    run_dir = Path(run_dir)
    resumable = {k: v for k, v in request.train.items() if k in RESUMABLE_FLAGS}
    request = load_config_file(RunFolder(run_dir).config).merged_with(RunRequest(train=resumable))
    trainer = Trainer(build_setup(pm, request), run_dir, quiet=True,
                      log=lambda *a: None, world=world)
    if resuming:
        trainer.resume()
    return trainer


def _prepare_main(pm, request: RunRequest, out, resume, quiet: bool, log, world: World, announce) -> Trainer:
    if resume is not None:
        folder = RunFolder(resume)
        _check_resume_request(folder, request, out)
        return _resume(pm, folder, request, quiet, log, world, announce)
    folder = RunFolder(out) if out else default_folder(request.plugins)
    # Fail before the (possibly slow) set-up; claim() checks again under the lock.
    state = folder.state()
    if state == NOT_A_FOLDER:
        raise ConfigError(f"--out {folder} is a file; give a folder for the run")
    if state not in (ABSENT, EMPTY):
        folder.refuse_if_in_use()  # a folder in use says so, and is never called stale
        raise folder.not_new_error()
    setup = build_setup(pm, request)
    folder, lock, created = folder.claim(run_config_text(setup), explicit=out is not None)
    try:
        announce(folder.path)
        trainer = Trainer(setup, folder.path, quiet=quiet, log=log, world=world)
    except BaseException:
        folder.remove_new(created)
        lock.release()
        raise
    trainer.lock = lock
    return trainer
