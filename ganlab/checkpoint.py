"""Checkpoints: written atomically, read with ``weights_only=True``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ganlab.errors import CheckpointError

FORMAT = "ganlab-checkpoint-1"
CHECKPOINT_NAME = "checkpoint.pt"


def _write_atomic(path: Path, write) -> None:
    """Write to a temporary file, then rename, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    _write_atomic(path, lambda fh: torch.save({"format": FORMAT, **state}, fh))


def write_text_atomic(path: Path, text: str) -> None:
    _write_atomic(path, lambda fh: fh.write(text.encode()))


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
    return state
