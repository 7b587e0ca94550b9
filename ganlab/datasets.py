"""Datasets: loaded once into one tensor, batched by indexing.

GAN datasets here are small (MNIST is 47 MB as uint8 at 60k images), so the
whole set lives on the training device and a batch is one index operation;
a per-item ``DataLoader`` would cost more than the MLP step itself.

The host knows no dataset by name: plugins offer them through
``ganlab_datasets`` (the built-ins are the ``data`` plugin's). What lives here
is what every dataset shares: the types a factory returns, helpers for
loading images, image folders (``--data PATH``) and batching.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal
from urllib.parse import urlparse

import numpy as np
import torch
import torch.nn.functional as F

from ganlab.errors import DataError


def default_data_root() -> Path:
    return Path(os.environ.get("GANLAB_DATA", Path.home() / ".cache" / "ganlab" / "data"))


@dataclass(frozen=True)
class DataSpec:
    """What the samples look like, for the plugins that build networks."""

    name: str
    shape: tuple[int, ...]
    num_classes: int | None = None
    kind: Literal["image", "points"] = "image"

    @property
    def is_image(self) -> bool:
        return self.kind == "image"


@dataclass(frozen=True)
class DataRequest:
    """What a dataset factory is asked for."""

    name: str
    root: Path
    image_size: int | None = None
    seed: int = 0
    options: object = None


@dataclass(frozen=True)
class Evaluation:
    """A score of generated samples (e.g. mode coverage on a 2-D mixture): named ``values`` and a
    one-line ``summary`` for people."""

    values: dict
    summary: str


@dataclass
class LoadedData:
    """A whole dataset in memory, and what the dataset offers beyond its samples.

    ``data`` is uint8 ``(N, C, H, W)`` for images (scaled to ``[-1, 1]`` per
    batch) or float ``(N, 2)`` for points. ``source`` says where it came from
    and ``identity`` pins it down (for the run record). ``pinned_name`` is the
    ``--data`` value that loads exactly this data again, when it differs from
    the one asked for (a fallback to a smaller embedded split, say), so the
    recorded config reproduces the run. A dataset that can score generated
    samples says so as a metric (the ``ganlab_metrics`` hook).
    """

    data: torch.Tensor
    labels: torch.Tensor | None
    spec: DataSpec
    source: str
    identity: dict = field(default_factory=dict)
    pinned_name: str | None = None

    def __len__(self) -> int:
        return len(self.data)

    def to_model_range(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            return x.float().div_(127.5).sub_(1.0)
        return x


DatasetFactory = Callable[[DataRequest], LoadedData]


def image_spec(name: str, images: torch.Tensor, labels: torch.Tensor | None) -> DataSpec:
    num_classes = int(labels.max()) + 1 if labels is not None and len(labels) else None
    return DataSpec(name, tuple(images.shape[1:]), num_classes, "image")


def resize_images(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """Resize uint8 images once at load time (bilinear with antialiasing)."""
    if not size or images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = []
    for chunk in images.split(4096):
        x = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(x.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out)


def network_reachable(url: str, timeout: float = 3.0) -> bool:
    """Cheap check before a download, so an offline machine fails in seconds."""
    if os.environ.get("GANLAB_OFFLINE"):
        return False
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=timeout).close()
        return True
    except OSError:
        return False


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif"}


def load_image_folder(path: Path, request: DataRequest) -> LoadedData:
    """Every image under ``path``; sub-folders become class labels when there are several."""
    from PIL import Image, UnidentifiedImageError

    try:
        files = sorted(p for p in Path(path).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    except OSError as exc:  # an unreadable sub-folder
        raise DataError(f"cannot list the images under {path}: {exc}") from None
    if not files:
        raise DataError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found under {path}")
    size = request.image_size or 64
    classes = sorted({p.parent.relative_to(path).parts[0] for p in files if p.parent != Path(path)})
    use_labels = len(classes) > 1 and all(p.parent != Path(path) for p in files)
    mode = None
    arrays, labels = [], []
    for p in files:
        try:
            with Image.open(p) as im:
                # The first image decides: grayscale folders stay one channel.
                mode = mode or ("L" if im.mode in ("L", "1", "I;16") else "RGB")
                im = im.convert(mode)
                side = min(im.size)
                left, top = (im.width - side) // 2, (im.height - side) // 2
                im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
                arrays.append(np.asarray(im, dtype=np.uint8).reshape(size, size, -1))
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
            raise DataError(f"cannot read image {p}: {exc}") from None
        if use_labels:
            labels.append(classes.index(p.relative_to(path).parts[0]))
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    label_tensor = torch.tensor(labels, dtype=torch.int64) if use_labels else None
    return LoadedData(
        images,
        label_tensor,
        image_spec(Path(path).name, images, label_tensor),
        source=f"image folder {path} ({len(images)} images)",
        identity={"name": "folder", "path": str(path), "n": len(images)},
    )


class Batcher:
    """Shuffled mini-batches by indexing a tensor that stays on the device.

    Its own ``torch.Generator`` drives the shuffling, and its state (generator,
    permutation, position) goes into checkpoints so a resumed run sees the
    same batches in the same order.
    """

    def __init__(self, loaded: LoadedData, batch_size: int, device: torch.device, seed: int, labels: bool = True,
                 shard: tuple[int, int] = (0, 1)):
        # With ``shard = (rank, ranks)`` every rank shuffles alike and takes its slice of one
        # global batch of ``batch_size * ranks`` (data-parallel training).
        self.rank, self.ranks = shard
        if batch_size * self.ranks > len(loaded):
            raise DataError(
                f"--batch-size {batch_size} is larger than the dataset ({len(loaded)} samples)"
                + (f" split over {self.ranks} ranks" if self.ranks > 1 else "")
            )
        self.loaded = loaded
        self.data = loaded.data.to(device)
        # Unconditional runs get no labels, so models never see them.
        self.labels = loaded.labels.to(device) if labels and loaded.labels is not None else None
        self.batch_size = batch_size
        self.generator = torch.Generator(device=device)
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Start a fresh shuffle from ``seed``."""
        self.generator.manual_seed(seed)
        self.perm: torch.Tensor | None = None
        self.pos = 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        n, step = len(self.data), self.batch_size * self.ranks
        if self.perm is None or self.pos + step > n:
            self.perm = torch.randperm(n, generator=self.generator, device=self.data.device)
            self.pos = 0
        idx = self.perm[self.pos : self.pos + step][self.rank * self.batch_size : (self.rank + 1) * self.batch_size]
        self.pos += step
        x = self.loaded.to_model_range(self.data[idx])
        return x, (self.labels[idx] if self.labels is not None else None)

    def state_dict(self) -> dict:
        return {
            "generator": self.generator.get_state(),
            "perm": self.perm.cpu() if self.perm is not None else None,
            "pos": self.pos,
        }

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.perm = state["perm"].to(self.data.device) if state["perm"] is not None else None
        self.pos = int(state["pos"])
