"""How a class label enters the generator and the discriminator.

A conditioner plugin returns a :class:`Conditioner`; architecture plugins ask
it for the modules that carry the label, so any architecture works with any
conditioner that follows this description.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn


@dataclass(frozen=True)
class Conditioner:
    """A description of class conditioning.

    * G always receives ``cat([z, embed_g(labels)])``.
    * D in ``"concat"`` mode receives its input with ``embed_d(labels)``
      concatenated (to the flattened input for MLPs, broadcast over space as
      extra channels for convolutional nets).
    * D in ``"projection"`` mode (Miyato & Koyama 2018) scores
      ``linear(h) + <embed_d(labels), h>`` from its features ``h``.
    """

    num_classes: int
    g_embed_dim: int = 32
    d_embed_dim: int = 32
    d_mode: Literal["concat", "projection"] = "concat"

    def generator_embedding(self) -> nn.Embedding:
        return nn.Embedding(self.num_classes, self.g_embed_dim)

    def discriminator_input_dim(self) -> int:
        """Extra input features D gets in concat mode (0 in projection mode)."""
        return self.d_embed_dim if self.d_mode == "concat" else 0

    def discriminator_embedding(self) -> nn.Embedding | None:
        return nn.Embedding(self.num_classes, self.d_embed_dim) if self.d_mode == "concat" else None

    def projection_head(self, features: int) -> ProjectionHead | None:
        return ProjectionHead(features, self.num_classes) if self.d_mode == "projection" else None

    def sample_labels(self, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        """Uniform random labels for generated samples."""
        return torch.randint(self.num_classes, (n,), generator=generator, device=device)

    def grid_labels(self, per_class: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Labels for a sample grid with one class per row."""
        return torch.arange(self.num_classes, device=device).repeat_interleave(per_class)


class ProjectionHead(nn.Module):
    """Projection discriminator output: ``linear(h) + <embed(y), h>``."""

    def __init__(self, features: int, num_classes: int):
        super().__init__()
        self.linear = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, features)
        nn.init.normal_(self.embed.weight, std=0.02)

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.linear(h).squeeze(1) + (self.embed(labels) * h).sum(dim=1)


def with_label_channels(x: torch.Tensor, label_embedding: torch.Tensor) -> torch.Tensor:
    """Concatenate a ``(batch, k)`` embedding to images as ``k`` constant channels."""
    b, _, h, w = x.shape
    return torch.cat([x, label_embedding[:, :, None, None].expand(b, -1, h, w)], dim=1)
