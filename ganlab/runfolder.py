"""The run folder: every file a run writes, what state a folder is in, and its lock.

This module is the one place that spells a run folder's file names; the
trainer, ``ganlab run``, ``ganlab eval`` and ``ganlab compare`` ask it. It
also lists what a checkpoint holds (:data:`CHECKPOINT_CONTENTS`), which the
trainer writes and :mod:`ganlab.checkpoint` checks on load.

A folder is locked (an OS file lock, released when the process ends, however
it ends) from before its config is written until training stops, so two
processes never write one folder.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ganlab.errors import ConfigError

CONFIG = "config.toml"
LOCK = ".lock"
METRICS = "metrics.jsonl"
EVAL = "eval.jsonl"
CHECKPOINT = "checkpoint.pt"
KEPT_DIR = "checkpoints"  # earlier checkpoints kept with --keep-every
SAMPLES_DIR = "samples"
LOSS_PLOT = "losses.png"
EVAL_PLOT = "eval.png"
STATUS = "status.json"  # a ganlab compare cell's final word on its run

# What a folder holds, as :meth:`RunFolder.state` names it.
ABSENT = "absent"  # nothing there yet
NOT_A_FOLDER = "not a folder"  # a file of that name
EMPTY = "empty"  # a folder with nothing of a run (a stale lock file at most)
OTHER = "other"  # files, but no run's config
STARTED = "started"  # a config, no checkpoint: stopped (or still) before its first checkpoint
RESUMABLE = "resumable"  # a config and a checkpoint


@dataclass(frozen=True)
class Entry:
    """One key of a checkpoint: the kinds its value may be, and whether old checkpoints may lack it."""

    key: str
    kinds: tuple[str, ...]  # "int", "float", "str", "list", "dict", "tensor", "none"
    what: str
    added_later: bool = False  # checkpoints written before it existed still load


CHECKPOINT_CONTENTS: tuple[Entry, ...] = (
    Entry("step", ("int",), "training steps done"),
    Entry("plugins", ("list",), "the run's plugins, in order"),
    Entry("data", ("dict",), "the identity of the training data"),
    Entry("device", ("str",), "the device type the random states belong to"),
    Entry("generator", ("dict",), "G's state dict"),
    Entry("discriminator", ("dict",), "D's state dict"),
    Entry("opt_g", ("dict",), "G's optimizer state"),
    Entry("opt_d", ("dict",), "D's optimizer state"),
    Entry("rng_torch", ("tensor",), "the global CPU generator (dropout, penalties)"),
    Entry("rng_cuda", ("tensor", "none"), "the CUDA generator, on CUDA"),
    Entry("rng_noise", ("tensor",), "the generator of z and fake labels"),
    Entry("batcher", ("dict",), "the data order: permutation and position"),
    Entry("wall_time", ("float", "int"), "seconds trained so far"),
    Entry("scalers", ("dict", "none"), "fp16 loss scalers", added_later=True),
    Entry("regularizers", ("dict", "none"), "each stateful regularizer's state", added_later=True),
    Entry("generator_average", ("dict", "none"), "a plugin's average of G's weights", added_later=True),
)


class _Inside:
    """A path inside the folder: ``folder.config`` is ``folder.path / CONFIG``."""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, folder, owner=None):
        return self if folder is None else folder.path / self.name


class RunFolder:
    """The paths of one run folder; nothing is created until something is written."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    config = _Inside(CONFIG)
    lock_file = _Inside(LOCK)
    metrics = _Inside(METRICS)
    eval = _Inside(EVAL)
    checkpoint = _Inside(CHECKPOINT)
    status = _Inside(STATUS)
    samples = _Inside(SAMPLES_DIR)
    loss_plot = _Inside(LOSS_PLOT)
    eval_plot = _Inside(EVAL_PLOT)

    def sample(self, step: int) -> Path:
        return self.samples / f"step_{step:06d}.png"

    def kept(self, step: int) -> Path:
        return self.path / KEPT_DIR / f"step_{step:06d}.pt"

    def kept_steps(self) -> list[int]:
        """The steps of the run's kept checkpoints, ascending."""
        steps = []
        for path in (self.path / KEPT_DIR).glob("step_*.pt"):
            digits = path.stem.removeprefix("step_")
            # Only names kept() makes: a hand-named step_1.pt could not be found by its step.
            if digits.isdigit() and path.name == self.kept(int(digits)).name:
                steps.append(int(digits))
        return sorted(steps)

    def state(self) -> str:
        """One of ABSENT, NOT_A_FOLDER, EMPTY, OTHER, STARTED, RESUMABLE (whether in use or not)."""
        if not self.path.exists():
            return ABSENT
        if not self.path.is_dir():
            return NOT_A_FOLDER
        if not any(p.name != LOCK for p in self.path.iterdir()):
            return EMPTY
        if not self.config.is_file():
            return OTHER
        return RESUMABLE if self.checkpoint.is_file() else STARTED

    def refuse_if_in_use(self) -> None:
        """A ConfigError naming the holder if another process trains here; a stale lock file is ignored."""
        if self.lock_file.exists():
            RunLock(self).acquire().release()

    def lock(self) -> RunLock:
        return RunLock(self).acquire()

    def not_new_error(self) -> ConfigError:
        """Why a run cannot start in this (existing, non-empty) folder, with the fix."""
        if self.state() == STARTED:
            return ConfigError(f"run folder {self} holds a run that stopped before its first checkpoint; "
                               f"delete the folder or choose another --out")
        return ConfigError(f"run folder {self} already exists and is not empty; choose another --out, "
                           f"or continue it with --resume {self}")

    def claim(self, text: str, explicit: bool) -> tuple[RunFolder, RunLock, bool]:
        """Create and lock the folder, then write its config; ``(folder, lock, created)``.

        A timestamped default name (``explicit`` False) that another run took a
        moment ago becomes ``NAME-2``, ``NAME-3``...
        """
        if self.state() == NOT_A_FOLDER:
            raise ConfigError(f"--out {self} is a file; give a folder for the run")
        candidate, n = self, 1
        while True:
            created = not candidate.path.exists()
            try:
                candidate.path.mkdir(parents=True, exist_ok=explicit)
            except FileExistsError:
                n += 1
                candidate = RunFolder(self.path.with_name(f"{self.path.name}-{n}"))
                continue
            lock = candidate.lock()  # a folder in use is refused here, never called stale
            try:
                if candidate.state() != EMPTY:
                    raise candidate.not_new_error()
                with open(candidate.config, "x") as fh:
                    fh.write(text)
            except BaseException:
                lock.release()
                raise
            return candidate, lock, created

    def remove_new(self, created: bool) -> None:
        """Undo a run that failed before training: its files, and the folder if the run made it."""
        if created:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for path in (self.config, self.lock_file):
            path.unlink(missing_ok=True)


def default_folder(plugins: list[str]) -> RunFolder:
    return RunFolder(Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{'+'.join(plugins) or 'defaults'}")


class RunLock:
    """An exclusive, non-blocking lock on a run folder, naming its holder's process id."""

    def __init__(self, folder: RunFolder | str | Path):
        folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
        self.path = folder.lock_file
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
