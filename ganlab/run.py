"""Starting, recording and resuming runs (what ``ganlab run`` does).

A run folder is locked (an OS file lock, released when the process ends,
however it ends) from before its config is written until training stops, so
two processes never write one folder. A run that fails before training
starts removes what it wrote; nothing of an earlier run is ever removed.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import os
import platform
import shutil
import time
from pathlib import Path

import torch

from ganlab import __version__
from ganlab.checkpoint import CHECKPOINT_NAME, write_text_atomic
from ganlab.config import RunRequest, dump_run_config, load_config_file
from ganlab.distributed import World, broadcast_object, world_from_env
from ganlab.errors import CheckpointError, ConfigError
from ganlab.manager import GanlabPluginManager
from ganlab.runsetup import RunSetup, build_setup
from ganlab.trainer import Trainer

CONFIG_NAME = "config.toml"
LOCK_NAME = ".lock"
# What may change when a run is resumed; everything else must match the run.
RESUMABLE_FLAGS = {"steps", "sample_every", "checkpoint_every", "keep_every", "log_every", "eval_every", "eval_samples",
                   "device", "threads"}


class RunLock:
    """An exclusive, non-blocking lock on a run folder, naming its holder's process id."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            holder = self.path.read_text().strip() or "unknown"
            raise ConfigError(f"run folder {self.path.parent} is in use by another ganlab process (pid {holder}); "
                              f"wait for it to finish or stop it, or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the lock; the file may stay
            self.fd = None


def default_run_dir(plugins: list[str]) -> Path:
    return Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{'+'.join(plugins) or 'defaults'}"


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


def _existing_run_error(run_dir: Path) -> ConfigError:
    if (run_dir / CONFIG_NAME).is_file() and not (run_dir / CHECKPOINT_NAME).is_file():
        return ConfigError(f"run folder {run_dir} holds a run that stopped before its first checkpoint; "
                           f"delete the folder or choose another --out")
    return ConfigError(f"run folder {run_dir} already exists and is not empty; choose another --out, "
                       f"or continue it with --resume {run_dir}")


def _is_empty(run_dir: Path) -> bool:
    return not any(p.name != LOCK_NAME for p in run_dir.iterdir())


def claim_run_dir(run_dir: Path, text: str, explicit: bool) -> tuple[Path, RunLock, bool]:
    """Create and lock the run folder, then write its config.toml; ``(folder, lock, created)``."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--out {run_dir} is a file; give a folder for the run")
    candidate, n = run_dir, 1
    while True:
        created = not candidate.exists()
        try:
            candidate.mkdir(parents=True, exist_ok=explicit)
        except FileExistsError:
            n += 1  # another run took this timestamped name a moment ago
            candidate = run_dir.with_name(f"{run_dir.name}-{n}")
            continue
        lock = RunLock(candidate).acquire()  # a folder in use is refused here, never called stale
        try:
            if not _is_empty(candidate):
                raise _existing_run_error(candidate)
            with open(candidate / CONFIG_NAME, "x") as fh:
                fh.write(text)
        except BaseException:
            lock.release()
            raise
        return candidate, lock, created


def remove_new_run(run_dir: Path, created: bool) -> None:
    """Undo a run that failed before training: its files, and its folder if the run made it."""
    if created:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for name in (CONFIG_NAME, LOCK_NAME):
        (run_dir / name).unlink(missing_ok=True)


def _check_resume_request(run_dir: Path, request: RunRequest, out) -> None:
    if out is not None and Path(out).resolve() != run_dir.resolve():
        raise ConfigError(f"--resume {run_dir} continues the run in its own folder; drop --out {out} "
                          f"(to start a copy elsewhere use --config {run_dir / CONFIG_NAME} --out {out})")
    if not (run_dir / CONFIG_NAME).is_file():
        raise CheckpointError(f"{run_dir} is not a ganlab run folder (no {CONFIG_NAME}); check --resume")
    if not (run_dir / CHECKPOINT_NAME).is_file():
        if (run_dir / LOCK_NAME).exists():
            RunLock(run_dir).acquire().release()  # still training its first steps: say so, not "stopped"
        raise CheckpointError(f"{run_dir} stopped before its first checkpoint, so there is nothing to "
                              f"resume; start it again with --config {run_dir / CONFIG_NAME} --out NEW_DIR")
    changed = sorted(set(request.train) - RESUMABLE_FLAGS)
    if request.plugins or request.options or changed:
        what = ", ".join([*(["--plugin"] if request.plugins else []), *(["-o"] if request.options else []),
                          *(f"--{c.replace('_', '-')}" for c in changed)])
        raise ConfigError(f"--resume continues the run as recorded in {run_dir / CONFIG_NAME}; "
                          f"{what} cannot change (only --steps, the intervals, --device and --threads can)")


def _resume(pm: GanlabPluginManager, run_dir: Path, request: RunRequest, quiet: bool, log,
            world: World, announce) -> Trainer:
    lock = RunLock(run_dir).acquire()
    try:
        request = load_config_file(run_dir / CONFIG_NAME).merged_with(request)
        setup = build_setup(pm, request)
        announce(run_dir)
        trainer = Trainer(setup, run_dir, quiet=quiet, log=log, world=world)
        trainer.restore()
        if trainer.train.steps < trainer.step:  # refused before any file of the run changes
            raise ConfigError(f"{run_dir} is at step {trainer.step}, beyond --steps {trainer.train.steps}; "
                              f"give --steps {trainer.step} or more to continue it")
        trainer.trim_logs()
        trainer.keep_if_lost()
        write_text_atomic(run_dir / CONFIG_NAME, run_config_text(trainer.setup))
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
    request = load_config_file(run_dir / CONFIG_NAME).merged_with(RunRequest(train=resumable))
    trainer = Trainer(build_setup(pm, request), run_dir, quiet=True,
                      log=lambda *a: None, world=world)
    if resuming:
        trainer.resume()
    return trainer


def _prepare_main(pm, request: RunRequest, out, resume, quiet: bool, log, world: World, announce) -> Trainer:
    if resume is not None:
        run_dir = Path(resume)
        _check_resume_request(run_dir, request, out)
        return _resume(pm, run_dir, request, quiet, log, world, announce)
    run_dir = Path(out) if out else default_run_dir(request.plugins)
    if run_dir.exists() and (not run_dir.is_dir() or not _is_empty(run_dir)):
        # Fail before the (possibly slow) set-up; claim_run_dir re-checks under the lock.
        if not run_dir.is_dir():
            raise ConfigError(f"--out {run_dir} is a file; give a folder for the run")
        if (run_dir / LOCK_NAME).exists():
            RunLock(run_dir).acquire().release()  # a folder in use says so, and is never called stale
        raise _existing_run_error(run_dir)
    setup = build_setup(pm, request)
    run_dir, lock, created = claim_run_dir(run_dir, run_config_text(setup), explicit=out is not None)
    try:
        announce(run_dir)
        trainer = Trainer(setup, run_dir, quiet=quiet, log=log, world=world)
    except BaseException:
        remove_new_run(run_dir, created)
        lock.release()
        raise
    trainer.lock = lock
    return trainer
