"""Files a run writes: checkpoints (atomic, schema-checked on load) and text.

A write that fails (a full disk, a file-size limit, a vanished folder) is one
:class:`RunWriteError` naming the file; its temporary file is removed and the
file it would have replaced is left as it was.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from ganlab.errors import CheckpointError, GanlabError
from ganlab.runfolder import CHECKPOINT, CHECKPOINT_CONTENTS, RunFolder

FORMAT = "ganlab-checkpoint-1"
_TYPES = {"int": int, "float": float, "str": str, "list": list, "dict": dict, "tensor": torch.Tensor,
          "none": type(None)}


class RunWriteError(GanlabError):
    """A file of the run could not be written; what was there before is intact."""


def _write_error(path: Path, exc: OSError) -> RunWriteError:
    why = f"cannot write {path}: {exc.strerror or exc}. "
    fix = "Free space (or raise the file-size limit), then "
    # The run folder: the file's own, or the one above (samples/).
    run_dir = next((d for d in (path.parent, path.parent.parent) if RunFolder(d).checkpoint.is_file()), None)
    if run_dir is not None:
        kept = "The previous checkpoint is intact. " if path.name == CHECKPOINT else ""
        return RunWriteError(f"{why}{kept}{fix}continue with --resume {run_dir}")
    if path.name == CHECKPOINT:  # never claim a checkpoint that was not written
        return RunWriteError(f"{why}No checkpoint was written yet, so there is nothing to resume. "
                             f"{fix}start the run again")
    return RunWriteError(f"{why}{fix}try again")


def write_atomic(path: Path, write) -> None:
    """Write through a uniquely named temporary file, then rename: never half a file, never a shared temp."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, _file_mode())  # mkstemp makes 0600; a run's files are as readable as open() makes them
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise _write_error(path, exc) from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def _file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0666 less the umask."""
    umask = os.umask(0o22)
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda fh: fh.write(text.encode()))


def append_line(path: Path, line: str) -> None:
    """Append one line of a log (metrics, evaluations); a partial line is dropped on resume."""
    try:
        with open(path, "a") as fh:
            fh.write(line + "\n")
    except OSError as exc:
        raise _write_error(Path(path), exc) from None


def drop_rows_after(path: Path, step: int) -> None:
    """Keep a JSONL log's rows up to ``step`` (later ones will be written again) and drop a torn line."""
    if Path(path).is_file():
        kept = [line for line in Path(path).read_text().splitlines() if _row_step(line) <= step]
        write_text_atomic(path, "".join(line + "\n" for line in kept))


def _row_step(line: str) -> float:
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return float("inf")  # unreadable: dropped


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    # Serialized in memory first: torch.save's zip writer turns a failed write (a full disk, a
    # file-size limit) into a RuntimeError without the OSError, so writing the bytes ourselves
    # is what lets a full disk be reported as one RunWriteError naming the file.
    def write(fh) -> None:
        buffer = io.BytesIO()
        torch.save({"format": FORMAT, **state}, buffer)
        fh.write(buffer.getbuffer())

    write_atomic(path, write)


def keep_checkpoint(folder: RunFolder, step: int) -> Path:
    """Keep the run's current checkpoint as ``checkpoints/step_XXXXXX.pt``.

    A hard link costs no space or time, and survives the next checkpoint, which
    replaces ``checkpoint.pt`` by renaming a new file over it; where links are
    not supported the bytes are copied. Either way the kept file appears whole.
    """
    source, target = folder.checkpoint, folder.kept(step)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(exist_ok=True)
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
        except OSError:  # no hard links here (some network or FAT file systems): copy the bytes
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _write_error(target, exc) from None
    return target


def load_checkpoint(path: Path, map_location: torch.device | str = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; was the run started with this --out?")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a damaged file fails anywhere inside the unpickler
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a ganlab checkpoint ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); restore it from a backup or start a new run"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ganlab checkpoint (expected format {FORMAT})")
    check_schema(state, path)
    return state


def check_schema(state: dict[str, Any], path: Path) -> None:
    """Every key of :data:`ganlab.runfolder.CHECKPOINT_CONTENTS` there (but those added later) and of its kinds."""
    missing = [e.key for e in CHECKPOINT_CONTENTS if e.key not in state and not e.added_later]
    wrong = [f"{e.key} is {type(state[e.key]).__name__}" for e in CHECKPOINT_CONTENTS if e.key in state and
             (not isinstance(state[e.key], tuple(_TYPES[k] for k in e.kinds)) or isinstance(state[e.key], bool))]
    if not missing and not wrong and state["step"] < 0:
        wrong.append(f"step is {state['step']}")
    if missing or wrong:
        what = "; ".join([*(f"missing {', '.join(missing)}" for _ in [0] if missing), *wrong])
        raise CheckpointError(f"checkpoint {path} is damaged ({what}); restore it from a backup or start a new run")
