"""The built-in datasets, and how generated samples of them are scored.

Always active. It offers:

* ``mnist``, ``fashion-mnist``, ``cifar10``: torchvision's training splits,
  read from ``--data-root`` or downloaded there; ``mnist`` falls back to the
  embedded split when it is not there at all and cannot be downloaded;
* ``mnist-embedded``: the MNIST test split shipped inside ganlab;
* ``ring`` and ``grid``: the 2-D Gaussian mixtures used to study mode
  collapse, whose generated samples are scored with the PacGAN protocol
  (:func:`evaluate_points`) by the ``modes`` metric: at every sample step of
  a 2-D run, with ``--eval-every`` and by ``ganlab eval``.

An image folder is not a dataset of this plugin: the host loads it when
``--data`` is a path.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

import ganlab
from ganlab import (
    DataError, DataRequest, DataSpec, Evaluation, GanlabError, LoadedData, Options, build_options, hookimpl, image_spec,
    network_reachable, resize_images,
)

# --- options -----------------------------------------------------------------


@dataclass
class DataOptions:
    ring_modes: int = field(default=8, metadata={"help": "modes of the ring mixture"})
    ring_radius: float = field(default=1.0, metadata={"help": "radius of the ring"})
    ring_std: float = field(default=0.01, metadata={"help": "std of each ring mode"})
    grid_side: int = field(default=5, metadata={"help": "modes per side of the grid mixture"})
    grid_spacing: float = field(default=2.0, metadata={"help": "distance between grid modes"})
    grid_std: float = field(default=0.05, metadata={"help": "std of each grid mode"})
    toy_samples: int = field(default=100_000, metadata={"help": "points drawn once for ring/grid"})

    def __post_init__(self):
        for name in ("ring_modes", "grid_side", "toy_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("ring_radius", "ring_std", "grid_spacing", "grid_std"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        # Modes closer than a few std overlap: neither a mixture to learn nor one to score.
        ring_gap = 2 * self.ring_radius * math.sin(math.pi / self.ring_modes) if self.ring_modes > 1 else math.inf
        if ring_gap < 6 * self.ring_std:
            raise ValueError(f"ring modes {ring_gap:.3g} apart overlap at ring_std={self.ring_std}; "
                             f"use fewer ring_modes, a larger ring_radius or a smaller ring_std")
        if self.grid_side > 1 and self.grid_spacing < 6 * self.grid_std:
            raise ValueError(f"grid modes {self.grid_spacing} apart overlap at grid_std={self.grid_std}; "
                             f"use a larger grid_spacing or a smaller grid_std")


# --- the 2-D mixtures ----------------------------------------------------------
#
# ring: 8 modes evenly spaced on a circle of radius 1, std 0.01.
# grid: 25 modes at {-4, -2, 0, 2, 4}^2, std 0.05.
# Angles are 2*pi*k/n for k < n; linspace(0, 2*pi, n) would repeat its
# endpoint and give only n - 1 distinct centres.

MIXTURES = ("ring", "grid")


def ring_centers(modes: int = 8, radius: float = 1.0) -> torch.Tensor:
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_centers(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    coords = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    xs, ys = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


def sample_mixture(
    centers: torch.Tensor, std: float, n: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points from an equal-weight mixture; returns (points, mode index)."""
    modes = torch.randint(len(centers), (n,), generator=generator)
    noise = torch.randn(n, 2, generator=generator) * std
    return centers[modes] + noise, modes


# --- mode coverage: the PacGAN protocol (Lin et al. 2018) ------------------------
#
# 2,500 generated points are scored as in the official PacGAN code
# (MetricLogger in synthetic_data_experiments):
#
# * each point belongs to its nearest mode (Euclidean distance);
# * it is high quality if that distance is at most 3 std;
# * a mode is captured if at least one high-quality point belongs to it;
# * kl_to_uniform is the reverse KL, KL(p_hq || uniform), where p_hq is the
#   share of high-quality points per mode. Empty modes add 0 * log 0 = 0, so
#   it is finite for a collapsed generator: it lies in [0, log n_modes], 0 for
#   an even spread and log n_modes when every high-quality point sits on one
#   mode. It equals log n_modes - H(p_hq); the official code logs that entropy
#   ("entropy of coverage"). It is undefined (nan) when no point is high
#   quality.
#
# PacGAN divides by the per-mode variance (a Mahalanobis distance under < 3);
# with isotropic, equal modes that is the Euclidean rule above. A point
# exactly at 3 std counts as high quality; the boundary has probability zero.

EVAL_SAMPLES = 2500
QUALITY_STDS = 3.0


class EvaluationError(GanlabError):
    """Bad input to the mode-coverage evaluation."""


@dataclass(frozen=True)
class ModeReport:
    modes_captured: int
    n_modes: int
    high_quality_fraction: float
    kl_to_uniform: float
    # High-quality points per mode, in the order of the centres.
    mode_counts: tuple[int, ...] = ()

    def summary(self) -> str:
        kl = "undefined" if math.isnan(self.kl_to_uniform) else f"{self.kl_to_uniform:.3f}"
        return (f"{self.modes_captured}/{self.n_modes} modes, "
                f"{100 * self.high_quality_fraction:.1f}% high quality, KL {kl}")

    def evaluation(self) -> Evaluation:
        """One row of a run's ``eval.jsonl``; ``kl_to_uniform`` may be nan (written as null)."""
        values = {"modes_captured": self.modes_captured, "n_modes": self.n_modes,
                  "high_quality_fraction": self.high_quality_fraction, "kl_to_uniform": self.kl_to_uniform}
        return Evaluation(values, self.summary())


def _as_points(x: Any, name: str) -> torch.Tensor:
    try:
        t = torch.as_tensor(x).detach().to("cpu", torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise EvaluationError(f"{name} must be a tensor or array of shape (n, 2): {exc}") from None
    if t.dim() != 2 or t.shape[1] != 2 or t.shape[0] == 0:
        raise EvaluationError(f"{name} must have shape (n, 2) with n >= 1, got {tuple(t.shape)}")
    return t


def _check_centers(centers: torch.Tensor, std: float) -> None:
    if not torch.isfinite(centers).all():
        raise EvaluationError("centers must be finite")
    if len(centers) > 1:
        gaps = torch.cdist(centers, centers, compute_mode="donot_use_mm_for_euclid_dist")
        gaps.fill_diagonal_(math.inf)
        if gaps.min() < std:
            # Two centres closer than one std cannot be told apart; usually it is
            # linspace(0, 2*pi, n) repeating its endpoint as an extra "mode".
            i, j = divmod(int(gaps.argmin()), len(centers))
            raise EvaluationError(
                f"centers {i} and {j} are {float(gaps.min()):.3g} apart, less than one std ({std}); "
                "duplicate modes (e.g. angles from linspace(0, 2*pi, n), which repeats its endpoint) "
                "make the mode count meaningless"
            )


def evaluate_points(points: Any, centers: Any, std: float) -> ModeReport:
    """Score generated ``points`` (n, 2) against mixture ``centers`` (k, 2) of equal ``std``."""
    try:
        std = float(std)
    except (TypeError, ValueError):
        raise EvaluationError(f"std must be a positive number, got {std!r}") from None
    if not (math.isfinite(std) and std > 0):
        raise EvaluationError(f"std must be a positive number, got {std!r}")
    pts = _as_points(points, "points")
    ctr = _as_points(centers, "centers")
    _check_centers(ctr, std)
    # Direct differences, not cdist's matrix-product shortcut, so a point
    # 3 std away is judged without cancellation error.
    dist = (pts[:, None, :] - ctr[None, :, :]).norm(dim=-1)
    # A non-finite point (a diverged generator) is never high quality.
    dist = torch.nan_to_num(dist, nan=math.inf)
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= QUALITY_STDS * std
    counts = torch.bincount(nearest[good], minlength=len(ctr))
    n_good = int(good.sum())
    if n_good:
        p = counts[counts > 0].double() / n_good
        kl = float((p * (p * len(ctr)).log()).sum().clamp_min(0.0))
    else:
        kl = math.nan
    return ModeReport(
        modes_captured=int((counts > 0).sum()),
        n_modes=len(ctr),
        high_quality_fraction=n_good / len(pts),
        kl_to_uniform=kl,
        mode_counts=tuple(int(c) for c in counts),
    )


def _resolve_data_options(data_options: Any) -> DataOptions:
    if data_options is None:
        return DataOptions()
    if isinstance(data_options, DataOptions):
        return data_options
    if isinstance(data_options, Options):  # a run's resolved options (trainer.options)
        return data_options[DataOptions]
    if isinstance(data_options, Mapping):  # field values, as given with -o data.FIELD=VALUE
        return build_options(DataOptions, data_options, "data")
    raise EvaluationError(
        f"data_options must be None, a DataOptions, a run's Options or a mapping such as "
        f"{{'ring_std': 0.01}}; got {type(data_options).__name__}"
    )


def mixture(dataset_name: str, data_options: Any = None) -> tuple[torch.Tensor, float]:
    """The centres and std that ``--data dataset_name`` trains on, with these options."""
    opts = _resolve_data_options(data_options)
    if dataset_name == "ring":
        return ring_centers(opts.ring_modes, opts.ring_radius), opts.ring_std
    if dataset_name == "grid":
        return grid_centers(opts.grid_side, opts.grid_spacing), opts.grid_std
    raise EvaluationError(f"mode coverage is defined for {' and '.join(MIXTURES)}, not {dataset_name!r}")


def evaluate_generator(
    generator: nn.Module,
    dataset_name: str,
    latent_dim: int,
    n: int = EVAL_SAMPLES,
    seed: int = 0,
    device: str | torch.device = "cpu",
    data_options: Any = None,
) -> ModeReport:
    """Draw ``n`` points from ``generator`` (z ~ N(0, I), seeded) and score them.

    G runs in eval mode, as when a trained model is used (batch norm from its
    running statistics), and gets back its previous mode afterwards.
    """
    if not isinstance(n, int) or n < 1:
        raise EvaluationError(f"n must be a positive integer, got {n!r}")
    if not isinstance(latent_dim, int) or latent_dim < 1:
        raise EvaluationError(f"latent_dim must be a positive integer, got {latent_dim!r}")
    centers, std = mixture(dataset_name, data_options)
    # Drawn on the CPU so that a seed gives the same z on every device.
    z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    was_training = generator.training
    generator.eval()
    try:
        with torch.no_grad():
            out = generator(z)
    finally:
        generator.train(was_training)
    if out.shape[0] != n or out[0].numel() != 2:
        raise EvaluationError(f"the generator returned shape {tuple(out.shape)}; expected ({n}, 2) points")
    return evaluate_points(out.reshape(n, 2), centers, std)


def load_mixture(name: str, request: DataRequest) -> LoadedData:
    opts = request.options[DataOptions]
    centers, std = mixture(name, opts)
    gen = torch.Generator().manual_seed(request.seed)
    points, _ = sample_mixture(centers, std, opts.toy_samples, gen)
    return LoadedData(
        points,
        None,
        DataSpec(name, (2,), None, "points"),
        source=f"{name}: {len(centers)} Gaussians with std {std}, {opts.toy_samples} points (seed {request.seed})",
        identity={"name": name, "modes": len(centers), "std": std, "n": opts.toy_samples},
    )


# --- MNIST-format (IDX) files --------------------------------------------------


class _Unreadable(Exception):
    """Why one file cannot be read; collected into a DataError that names every file."""


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """A uint8 IDX array (the MNIST file format), gzipped when ``path`` ends in ``.gz``.

    Checks the header and that the data fills the file exactly, so a damaged
    or half-written file is reported rather than reshaped into garbage.
    """
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
        else:
            raw = path.read_bytes()
    except FileNotFoundError:
        raise _Unreadable("is missing") from None
    except (OSError, EOFError) as exc:  # gzip reports a cut-off stream as EOFError
        raise _Unreadable(f"cannot be read ({type(exc).__name__}: {exc})") from None
    if not raw:
        raise _Unreadable("is empty")
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08" or raw[3] != ndim:
        raise _Unreadable(f"does not start with the IDX header of a {ndim}-D uint8 array "
                          f"(its first bytes are {raw[:4].hex(' ')})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise _Unreadable("is truncated inside its header")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + math.prod(dims)
    if len(raw) != expected:
        what = "is truncated" if len(raw) < expected else "has extra bytes"
        raise _Unreadable(f"{what}: {len(raw):,} bytes, but its header ({' x '.join(map(str, dims))}) "
                          f"needs {expected:,}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _read_images_and_labels(images_path: Path, labels_path: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    problems, arrays = [], {}
    for key, path, ndim in (("images", images_path, 3), ("labels", labels_path, 1)):
        try:
            arrays[key] = read_idx(path, ndim)
        except _Unreadable as why:
            problems.append(f"{path} {why}")
    if not problems:
        images, labels = arrays["images"], arrays["labels"]
        if len(images) == 0:
            problems.append(f"{images_path} holds no images")
        elif len(labels) != len(images):
            problems.append(f"{labels_path} holds {len(labels):,} labels for the {len(images):,} images "
                            f"in {images_path}")
        elif labels.max() >= n_classes:
            problems.append(f"{labels_path} holds label {int(labels.max())}; expected 0 to {n_classes - 1}")
    if problems:
        raise _Unreadable("; ".join(problems))
    return arrays["images"], arrays["labels"]


# --- the MNIST test split shipped with ganlab ------------------------------------

# Package data of ganlab itself: this module is installed apart from it (ganlab.plugins).
EMBEDDED_DIR = Path(ganlab.__file__).parent / "embedded" / "mnist"
EMBEDDED_MNIST = {
    "images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    "labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
}


@functools.lru_cache(maxsize=1)
def _embedded_arrays() -> tuple[np.ndarray, np.ndarray]:
    for fname, md5 in EMBEDDED_MNIST.values():
        path = EMBEDDED_DIR / fname
        if not path.is_file() or hashlib.md5(path.read_bytes()).hexdigest() != md5:
            raise DataError(f"the embedded MNIST file {path} is missing or damaged; reinstall ganlab")
    images, labels = (EMBEDDED_DIR / EMBEDDED_MNIST[k][0] for k in ("images", "labels"))
    try:
        return _read_images_and_labels(images, labels, n_classes=10)
    except _Unreadable as why:  # cannot happen with the published checksums
        raise DataError(f"the embedded MNIST cannot be read: {why}; reinstall ganlab") from None


def load_embedded_mnist(request: DataRequest) -> LoadedData:
    images, labels = _embedded_arrays()
    # Copies: the cached arrays are read-only and shared between runs.
    images = resize_images(torch.from_numpy(images.copy()).unsqueeze(1), request.image_size)
    labels = torch.from_numpy(labels.astype(np.int64))
    return LoadedData(
        images,
        labels,
        image_spec("mnist", images, labels),
        source=f"embedded MNIST test split ({len(images):,} images, shipped with ganlab)",
        identity={"name": "mnist-embedded", "split": "test", "n": len(images), "md5": EMBEDDED_MNIST["images"][1]},
        pinned_name="mnist-embedded",
    )


# --- torchvision's training splits under --data-root ---------------------------------


@dataclass(frozen=True)
class TorchvisionData:
    """A torchvision dataset: how to find its files under --data-root and read them."""

    cls_name: str  # the torchvision class, which also names its folder
    title: str
    # Reads the training split under the root: None when none of its files are
    # there; raises _Unreadable when some are there but cannot be used.
    read: Callable[[Path], tuple[np.ndarray, np.ndarray] | None]
    # Loaded instead when the data is absent and cannot be downloaded.
    fallback: Callable[[DataRequest], LoadedData] | None = None


def _read_mnist_like(folder: str) -> Callable[[Path], tuple[np.ndarray, np.ndarray] | None]:
    def read(root: Path):
        raw = root / folder / "raw"
        images, labels = raw / "train-images-idx3-ubyte", raw / "train-labels-idx1-ubyte"
        if not (images.exists() or labels.exists()):
            return None
        images, labels = _read_images_and_labels(images, labels, n_classes=10)
        return images[:, None], labels  # (N, 1, H, W)

    return read


def _read_cifar10(root: Path):
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity

    folder = root / CIFAR10.base_folder
    batches = [(folder / name, md5) for name, md5 in CIFAR10.train_list]
    if not any(path.exists() for path, _ in batches):
        return None
    bad = [f"{path} {'does not match its published checksum' if path.exists() else 'is missing'}"
           for path, md5 in batches if not check_integrity(str(path), md5)]
    if bad:
        raise _Unreadable("; ".join(bad))
    images, labels = [], []
    for path, _ in batches:  # checksums match: these are the published pickles
        with open(path, "rb") as fh:
            batch = pickle.load(fh, encoding="latin1")
        images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))  # stored channel-major
        labels.append(np.asarray(batch["labels"]))
    return np.concatenate(images), np.concatenate(labels)


TORCHVISION = {
    "mnist": TorchvisionData("MNIST", "MNIST", _read_mnist_like("MNIST"), fallback=load_embedded_mnist),
    "fashion-mnist": TorchvisionData("FashionMNIST", "Fashion-MNIST", _read_mnist_like("FashionMNIST")),
    "cifar10": TorchvisionData("CIFAR10", "CIFAR-10", _read_cifar10),
}


def _download(data: TorchvisionData, root: Path) -> str | None:
    """Download into ``root`` with torchvision; why it could not, or None."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, data.cls_name)
    mirror = getattr(cls, "mirrors", [getattr(cls, "url", "https://ossci-datasets.s3.amazonaws.com/")])[0]
    if not network_reachable(mirror):
        return "there is no network to download it"
    try:
        cls(str(root), train=True, download=True)
    except Exception as exc:  # network errors come in many types
        return f"downloading it failed ({type(exc).__name__}: {exc})"
    return None


def _read_or_explain(data: TorchvisionData, root: Path):
    try:
        return data.read(root)
    except _Unreadable as why:
        raise DataError(
            f"the {data.title} files under --data-root {root} cannot be used: {why}. Delete them so that "
            f"ganlab downloads them again, or point --data-root at a folder with intact files."
        ) from None


def offline_datasets() -> list[str]:
    return [name for name in DATASETS if name not in TORCHVISION]


def load_torchvision(name: str, request: DataRequest) -> LoadedData:
    data = TORCHVISION[name]
    root = Path(request.root).expanduser()
    arrays = _read_or_explain(data, root)
    if arrays is None:
        # Only data that is not there at all is downloaded or replaced by a
        # fallback; files that are there but broken are the user's to fix.
        why = _download(data, root)
        if why is not None:
            if data.fallback is not None:
                loaded = data.fallback(request)
                loaded.source += f"; the full {data.title} training split is not in --data-root {root} and {why}"
                return loaded
            raise DataError(
                f"{data.title} is not in --data-root {root} and {why}. Put torchvision's {data.cls_name} "
                f"files under --data-root, or use a dataset that needs no download: "
                f"{', '.join(offline_datasets())} (--data mnist falls back to mnist-embedded)."
            )
        arrays = _read_or_explain(data, root)
        if arrays is None:
            raise DataError(f"torchvision downloaded {data.title}, but its files are not where ganlab "
                            f"reads them under {root}; is torchvision's layout different in this version?")
    images, labels = arrays
    # Writable: torch.from_numpy warns about (and would share) a read-only buffer.
    images = resize_images(torch.from_numpy(np.require(images, requirements=["C", "W"])), request.image_size)
    labels = torch.from_numpy(labels.astype(np.int64))
    return LoadedData(
        images,
        labels,
        image_spec(name, images, labels),
        source=f"torchvision {data.title} training split ({len(images):,} images) in {root}",
        identity={"name": name, "split": "train", "n": len(images), "root": str(root)},
    )


# --- the hooks -----------------------------------------------------------------

DATASETS: dict[str, Callable[[DataRequest], LoadedData]] = {
    **{name: functools.partial(load_torchvision, name) for name in TORCHVISION},
    "mnist-embedded": load_embedded_mnist,
    **{name: functools.partial(load_mixture, name) for name in MIXTURES},
}


@hookimpl
def ganlab_options():
    return DataOptions


@hookimpl
def ganlab_datasets():
    return dict(DATASETS)


def _modes_metric(centers: torch.Tensor, std: float, batch) -> dict[str, float]:
    """The PacGAN mode report of the generated points, as a metric (what ``modes.jsonl`` logs)."""
    return dict(evaluate_points(batch.fake, centers, std).evaluation().values)


@hookimpl
def ganlab_metrics(data: DataSpec, options: Options):
    """``modes`` for the 2-D mixtures, scored against the mixture this run trains on."""
    if data.kind != "points" or data.name not in MIXTURES:
        return None
    centers, std = mixture(data.name, options)
    return {"modes": functools.partial(_modes_metric, centers, std)}
