"""Consistency regularization for D: CR (Zhang, Zhang, Odena & Lee 2020) and bCR (Zhao et al. 2021).

CR asks D to score an image and a semantics-preserving augmentation T(x)
of it alike, on real images:

    λ_real · E_x ‖D(x) - D(T(x))‖²

and only D is regularized, so G never learns to produce augmented images.
bCR ("Improved consistency regularization", ``balanced=true``) adds the
same term on the generated images of D's update, λ_fake·E_z‖D(G(z)) -
D(T(G(z)))‖², so that D's consistency is not learned from reals alone.
λ = 10 for both is the papers'. T is a shift by up to 1/8 of the image
(``ganlab.augment``, the op DiffAugment uses), optionally with left-right
flips (the papers' CIFAR-10 choice; off by default since digits are not
mirror-symmetric). Images only: 2-D points are rejected before the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ganlab import PenaltyBatch, Regularizer, hookimpl, require_finite_nonnegative
from ganlab import augment as A


@dataclass
class CROptions:
    weight: float = field(default=10.0, metadata={"help": "λ_real, the weight of the term on real images"})
    balanced: bool = field(default=False, metadata={"help": "bCR: also regularize generated images"})
    fake_weight: float = field(default=10.0, metadata={"help": "λ_fake, the weight on generated images (bCR)"})
    policy: str = field(default="translation", metadata={"help": "T: comma-separated translation, flip, color, cutout"})

    def __post_init__(self):
        require_finite_nonnegative("weight (λ_real)", self.weight)
        require_finite_nonnegative("fake_weight (λ_fake)", self.fake_weight)
        A.parse_policy(self.policy)


@hookimpl
def ganlab_options():
    return CROptions


def consistency(critic, x: torch.Tensor, labels: torch.Tensor | None, policy: list[str]) -> torch.Tensor:
    """E‖D(x) - D(T(x))‖² over the batch."""
    def score(v):
        return (critic(v) if labels is None else critic(v, labels)).reshape(len(v), -1)

    return (score(x) - score(A.augment(x, policy))).pow(2).sum(dim=1).mean()


class ConsistencyPenalty(Regularizer):
    name = "cr"
    player = "D"

    def __init__(self, weight: float = 10.0, balanced: bool = False, fake_weight: float = 10.0,
                 policy: str = "translation"):
        self.weight, self.balanced, self.fake_weight = weight, balanced, fake_weight
        self.policy = A.parse_policy(policy)

    def penalty(self, batch: PenaltyBatch) -> torch.Tensor:
        total = self.weight * consistency(batch.discriminator, batch.real, batch.real_labels, self.policy)
        if self.balanced:
            fake = batch.fake.detach()  # D's term: G is not asked to make its images consistent
            total = total + self.fake_weight * consistency(batch.discriminator, fake, batch.fake_labels, self.policy)
        return total


@hookimpl
def ganlab_regularizer(data, options):
    if not data.is_image:
        return None  # ganlab_validate says why the run cannot start
    o = options[CROptions]
    return ConsistencyPenalty(o.weight, o.balanced, o.fake_weight, o.policy)


@hookimpl
def ganlab_validate(setup):
    if setup.data.kind != "image":
        return ("cr compares D's scores of images and their shifted copies, but the data are 2-D points; "
                "use it with an image dataset such as --data mnist, or drop --plugin cr")
    return None
