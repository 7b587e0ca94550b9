"""Differentiable image augmentations shared by the ``diffaugment`` and ``cr`` plugins.

The ops follow Zhao, Liu, Lin, Zhu & Han 2020 ("Differentiable Augmentation
for Data-Efficient GAN Training", the authors' ``DiffAugment_pytorch.py``):
every one is built from arithmetic, ``grid``-free gathers and masks, so the
gradient reaches the input images (and through them the generator). Each
sample draws its own parameters. Images are ``(batch, channels, H, W)``.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def brightness(x: torch.Tensor) -> torch.Tensor:
    """Add one offset in [-0.5, 0.5) per sample."""
    return x + (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) - 0.5)


def saturation(x: torch.Tensor) -> torch.Tensor:
    """Scale each sample's distance from its per-pixel channel mean by a factor in [0, 2)."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) * 2) + mean


def contrast(x: torch.Tensor) -> torch.Tensor:
    """Scale each sample's distance from its mean by a factor in [0.5, 1.5)."""
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each sample by up to ``ratio`` of its size in each direction, padding with zeros."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    ty = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    gb, gx, gy = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(h, device=x.device),
                                torch.arange(w, device=x.device), indexing="ij")
    gx = torch.clamp(gx + tx + 1, 0, h + 1)
    gy = torch.clamp(gy + ty + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return padded.permute(0, 2, 3, 1).contiguous()[gb, gx, gy].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` times the image size per sample, at a random place."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ox = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    oy = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    gb, gx, gy = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(ch, device=x.device),
                                torch.arange(cw, device=x.device), indexing="ij")
    gx = torch.clamp(gx + ox - ch // 2, 0, h - 1)
    gy = torch.clamp(gy + oy - cw // 2, 0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gx, gy] = 0
    return x * mask.unsqueeze(1)


def flip(x: torch.Tensor) -> torch.Tensor:
    """Mirror each sample left-right with probability ½."""
    keep = torch.rand(x.size(0), 1, 1, 1, device=x.device) < 0.5
    return torch.where(keep, x, x.flip(3))


POLICIES: dict[str, list[Callable[[torch.Tensor], torch.Tensor]]] = {
    "color": [brightness, saturation, contrast],
    "translation": [translation],
    "cutout": [cutout],
    "flip": [flip],
}


def parse_policy(policy: str) -> list[str]:
    """``"color,translation,cutout"`` -> its names, each checked against :data:`POLICIES`."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [p for p in names if p not in POLICIES]
    if unknown or not names:
        raise ValueError(f"unknown augmentation {', '.join(unknown) or '(empty)'}; choose from {', '.join(POLICIES)}")
    return names


def augment(x: torch.Tensor, policy: list[str]) -> torch.Tensor:
    for name in policy:
        for op in POLICIES[name]:
            x = op(x)
    return x
