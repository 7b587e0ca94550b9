"""Pairing generated samples with real samples of the same class.

Generated labels are drawn independently of the real batch, so a penalty
that compares a fake of class y with a real one (seed 000's L1 term, WGAN-GP's
interpolates in a conditional run) must first find a real of class y. Every
plugin that does so uses this one rule, so their pairs agree.
"""

from __future__ import annotations

import torch

__all__ = ["pair_by_label"]


def pair_by_label(fake_labels: torch.Tensor, real_labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(fake_idx, real_idx)`` pairing each fake with a real of its class.

    The k-th fake of class y gets the (k mod n_y)-th real of class y, so the
    reals of a class are used in turn; fakes of a class absent from the reals
    are left out. Both index tensors follow the fakes' order.
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
