"""Seed 000's L1 reconstruction term in the generator's loss.

Seed 000's cGAN adds ``0.05 * mean |G(z, y) - x|`` to G's adversarial loss,
where x is the real batch whose labels y were fed to G. The term pulls each
sample towards a real image, so G cannot wander far from the data early on,
at the price of blurrier, more average-looking samples as the weight grows.

Here generated labels are drawn independently of the real batch, so pairs
are formed as follows:

* unconditional runs (and 2-D points): fake i is paired with real i;
* conditional runs: a fake of class y is paired with a real of class y from
  the same batch: the k-th fake of class y (in batch order) takes the
  (k mod n_y)-th of the n_y reals of class y. Fakes whose class has no real
  sample in the batch are skipped (they have nothing to be compared with),
  so the mean runs over the paired fakes only; with no pair at all the
  penalty is 0.

    penalty = weight * mean over pairs (i, j) and all pixels of |fake_i - real_j|
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ganlab import hookimpl
from ganlab.regularizers import PenaltyBatch, Regularizer


@dataclass
class ReconOptions:
    weight: float = field(default=0.05, metadata={"help": "weight of the L1 term in G's loss (seed 000: 0.05)"})

    def __post_init__(self):
        if not (self.weight >= 0 and math.isfinite(self.weight)):
            raise ValueError(f"weight must be a finite number >= 0, got {self.weight}")


@hookimpl
def ganlab_options():
    return ReconOptions


def pair_by_label(fake_labels: torch.Tensor, real_labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(fake_idx, real_idx)`` pairing each fake with a real of its class.

    The k-th fake of class y gets the (k mod n_y)-th real of class y, so the
    reals of a class are used in turn; fakes of a class absent from the reals
    are left out.
    """
    classes = int(torch.maximum(fake_labels.max(), real_labels.max())) + 1
    counts = torch.bincount(real_labels, minlength=classes)
    starts = counts.cumsum(0) - counts  # where each class begins among the sorted reals
    by_class = torch.argsort(real_labels, stable=True)
    one_hot = torch.nn.functional.one_hot(fake_labels, classes)
    rank = (one_hot.cumsum(0) - 1).gather(1, fake_labels[:, None]).squeeze(1)  # k: earlier fakes of the class
    n = counts[fake_labels]
    keep = n > 0
    fake_idx = keep.nonzero().squeeze(1)
    y, k, n = fake_labels[keep], rank[keep], n[keep]
    return fake_idx, by_class[starts[y] + k % n]


def l1_penalty(
    fake: torch.Tensor,
    real: torch.Tensor,
    fake_labels: torch.Tensor | None = None,
    real_labels: torch.Tensor | None = None,
    weight: float = 0.05,
) -> torch.Tensor:
    """``weight * mean |fake_i - real_j|`` over the pairs described in the module docstring."""
    if fake_labels is not None and real_labels is not None:
        fake_idx, real_idx = pair_by_label(fake_labels, real_labels)
        if len(fake_idx) == 0:
            return fake.new_zeros(())
        fake, real = fake[fake_idx], real[real_idx]
    else:
        n = min(len(fake), len(real))
        fake, real = fake[:n], real[:n]
    return weight * (fake - real.detach()).abs().mean()


class Reconstruction(Regularizer):
    name = "recon"
    player = "G"

    def __init__(self, weight: float):
        self.weight = weight

    def penalty(self, batch: PenaltyBatch) -> torch.Tensor:
        return l1_penalty(batch.fake, batch.real, batch.fake_labels, batch.real_labels, self.weight)


@hookimpl
def ganlab_regularizer(options):
    return Reconstruction(options[ReconOptions].weight)
