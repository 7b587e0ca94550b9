"""The hinge loss (Lim & Ye 2017, "Geometric GAN"; used by SN-GAN, SAGAN, BigGAN).

The discriminator is a margin classifier on raw scores:

    d_loss = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]

so a real scored above +1 or a fake scored below -1 costs nothing and gives
no gradient: D stops pushing samples it already separates with margin 1.
The generator minimises g_loss = -E[D(G(z))], as in WGAN.

No trainer defaults: the hinge loss is usually paired with spectral
normalization (``--plugin sn``) and Adam.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganlab import hookimpl


def d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """-E[D(G(z))]."""
    return -fake_scores.mean()


@hookimpl
def ganlab_d_loss(real_scores, fake_scores):
    return d_loss(real_scores, fake_scores)


@hookimpl
def ganlab_g_loss(fake_scores):
    return g_loss(fake_scores)
