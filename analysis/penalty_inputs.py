"""What penalties are probed on: points and images, and critics whose gradients are known.

A penalty written for 2-D points can be wrong on images and still look
right on points: on ``(N, 2)`` inputs ``grad.norm(2, dim=1)`` is the
per-sample norm, while on ``(N, C, H, W)`` it is a norm per pixel. So every
penalty check runs on each of :data:`SHAPES`. Directions are unit vectors in
the flattened sample space, so a critic's gradient norm is known exactly
whatever the shape.
"""

from __future__ import annotations

import torch

from ganlab.analysis.calls import DTYPE

# Points as the 2-D benchmarks have them; MNIST-like 1-channel and RGB-like 3-channel images.
SHAPES = {"points": (2,), "1-channel images": (1, 6, 6), "3-channel images": (3, 4, 4)}


def unit(shape: tuple[int, ...], seed: int = 7) -> torch.Tensor:
    """A unit vector in the flattened sample space (not aligned with any axis)."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(int(torch.tensor(shape).prod()), generator=g, dtype=DTYPE) + 0.5
    return u / torch.linalg.vector_norm(u)


def along(u: torch.Tensor, shape: tuple[int, ...], n: int, level: float, spread: float, seed: int) -> torch.Tensor:
    """n samples with ⟨u, x⟩ = level exactly and random components orthogonal to u of size ``spread``."""
    g = torch.Generator().manual_seed(seed)
    x = spread * torch.randn(n, u.numel(), generator=g, dtype=DTYPE)
    x = x - (x @ u)[:, None] * u + level * u
    return x.reshape(n, *shape)


def coordinate(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """⟨u, x_i⟩ per sample, in float64."""
    return x.detach().to(DTYPE).flatten(1) @ u


class Linear(torch.nn.Module):
    """f(x) = ⟨w, x⟩: the same gradient w at every point."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = w

    def forward(self, x, labels=None):
        return x.flatten(1) @ self.w.to(x.dtype)


class Distance(torch.nn.Module):
    """f(x) = ‖x - c‖: gradient norm 1 at every sample, in a different direction each."""

    def __init__(self, c: torch.Tensor):
        super().__init__()
        self.c = c

    def forward(self, x, labels=None):
        return torch.linalg.vector_norm(x.flatten(1) - self.c.to(x.dtype), dim=1)


class Ridge(torch.nn.Module):
    """f(x) = k·(a·s + (b - a)·s²/2) with s = ⟨u, x⟩: ‖∇f‖ = k·|a + (b - a)·s|, recording its inputs."""

    def __init__(self, u: torch.Tensor, a: float, b: float, scale: float = 1.0):
        super().__init__()
        self.u, self.a, self.b, self.scale = u, a, b, scale
        self.seen: list[torch.Tensor] = []

    def forward(self, x, labels=None):
        self.seen.append(x.detach().clone())
        s = x.flatten(1) @ self.u.to(x.dtype)
        return self.scale * (self.a * s + 0.5 * (self.b - self.a) * s ** 2)

    def grad_norm(self, s: torch.Tensor) -> torch.Tensor:
        return (self.scale * (self.a + (self.b - self.a) * s)).abs()


class Bowl(torch.nn.Module):
    """f(x) = ½‖x - c‖²: gradient norm ‖x - c‖, different at every point, so every random draw shows."""

    def __init__(self, c: torch.Tensor):
        super().__init__()
        self.c = c

    def forward(self, x, labels=None):
        return 0.5 * ((x.flatten(1) - self.c.to(x.dtype)) ** 2).sum(1)
