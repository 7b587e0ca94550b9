"""DiffAugment (Zhao, Liu, Lin, Zhu & Han 2020): augment every image D sees, differentiably.

Augmenting only the real images teaches D that augmented images are real
and G learns to produce them; DiffAugment applies the same kind of random
transformation T to real and generated images in both players' updates,
D(T(x)) and D(T(G(z))), with T differentiable so that G's gradient flows
back through it. Here that is a transform of D: the wrapped module
augments its input whenever it is in training mode, so every score of a
training step (D's, G's, and the extra forward passes of penalties such as
R1, as in the authors' StyleGAN2 code) is of augmented images, while an
evaluation-mode D scores images as they are.

Policies (``ganlab.augment``): ``color`` (brightness, saturation, contrast),
``translation`` (up to 1/8 of the image, zero padding), ``cutout`` (a
square of half the image size); the paper's default for few-shot data is
all three. Images only: 2-D points are rejected before the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ganlab import Regularizer, hookimpl
from ganlab import augment as A


@dataclass
class DiffAugmentOptions:
    policy: str = field(default="color,translation,cutout",
                        metadata={"help": "comma-separated: color, translation, cutout (and flip)"})

    def __post_init__(self):
        A.parse_policy(self.policy)


@hookimpl
def ganlab_options():
    return DiffAugmentOptions


class AugmentedDiscriminator(nn.Module):
    """``inner`` scoring T(x) in training mode, x in evaluation mode."""

    def __init__(self, inner: nn.Module, policy: list[str]):
        super().__init__()
        self.inner = inner
        self.policy = policy

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.training:
            x = A.augment(x, self.policy)
        return self.inner(x) if labels is None else self.inner(x, labels)


class DiffAugment(Regularizer):
    name = "diffaugment"
    player = "D"

    def __init__(self, policy: str = "color,translation,cutout"):
        self.policy = A.parse_policy(policy)

    def transform(self, module: nn.Module) -> nn.Module:
        return AugmentedDiscriminator(module, self.policy)


@hookimpl
def ganlab_regularizer(data, options):
    if not data.is_image:
        return None  # ganlab_validate says why the run cannot start
    return DiffAugment(options[DiffAugmentOptions].policy)


@hookimpl
def ganlab_validate(setup):
    if setup.data.kind != "image":
        return ("diffaugment augments images (color, translation, cutout), but the data are 2-D points; "
                "use it with an image dataset such as --data mnist, or drop --plugin diffaugment")
    return None
