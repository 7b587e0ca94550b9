"""The 2-D Gaussian mixtures used to study mode collapse (PacGAN protocol).

* ``ring``: 8 modes evenly spaced on a circle of radius 1, std 0.01.
* ``grid``: 25 modes at {-4, -2, 0, 2, 4}^2, std 0.05.

Angles are ``2*pi*k/n`` for ``k < n``; ``linspace(0, 2*pi, n)`` would repeat
its endpoint and give only n - 1 distinct centres.
"""

from __future__ import annotations

import math

import torch


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
