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
  (k mod n_y)-th of the n_y reals of class y (:func:`ganlab.pairing.pair_by_label`,
  which wgan-gp uses too). Fakes whose class has no real
  sample in the batch are skipped (they have nothing to be compared with),
  so the mean runs over the paired fakes only; with no pair at all the
  penalty is 0.

    penalty = weight * mean over pairs (i, j) and all pixels of |fake_i - real_j|
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ganlab import PenaltyBatch, Regularizer, hookimpl, pair_by_label, require_finite_nonnegative


@dataclass
class ReconOptions:
    weight: float = field(default=0.05, metadata={"help": "weight of the L1 term in G's loss (seed 000: 0.05)"})

    def __post_init__(self):
        require_finite_nonnegative("weight", self.weight)


@hookimpl
def ganlab_options():
    return ReconOptions


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
