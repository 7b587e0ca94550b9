"""The built-in datasets: MNIST (full or embedded), Fashion-MNIST, CIFAR-10, 2-D mixtures.

Always active. An image folder is taken by passing its path to ``--data``.
"""

import math
from dataclasses import dataclass, field

import torch

from ganlab import hookimpl
from ganlab.datasets import (
    DataRequest,
    DataSpec,
    LoadedData,
    load_embedded_mnist,
    load_torchvision,
)
from ganlab.toy2d import grid_centers, ring_centers, sample_mixture


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


@hookimpl
def ganlab_options():
    return DataOptions


def _toy(name, centers, std, request: DataRequest) -> LoadedData:
    opts = request.options[DataOptions]
    gen = torch.Generator().manual_seed(request.seed)
    points, _ = sample_mixture(centers, std, opts.toy_samples, gen)
    return LoadedData(
        points,
        None,
        DataSpec(name, (2,), None, "points"),
        source=f"{name}: {len(centers)} Gaussians with std {std}, {opts.toy_samples} points (seed {request.seed})",
        identity={"name": name, "modes": len(centers), "std": std, "n": opts.toy_samples},
    )


def _ring(request):
    o = request.options[DataOptions]
    return _toy("ring", ring_centers(o.ring_modes, o.ring_radius), o.ring_std, request)


def _grid(request):
    o = request.options[DataOptions]
    return _toy("grid", grid_centers(o.grid_side, o.grid_spacing), o.grid_std, request)


@hookimpl
def ganlab_datasets():
    return {
        "mnist": lambda request: load_torchvision("mnist", request),
        "mnist-embedded": load_embedded_mnist,
        "fashion-mnist": lambda request: load_torchvision("fashion-mnist", request),
        "cifar10": lambda request: load_torchvision("cifar10", request),
        "ring": _ring,
        "grid": _grid,
    }
