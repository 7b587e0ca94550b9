"""The original GAN (Goodfellow et al. 2014): binary cross-entropy on raw scores.

D minimises -E[log sigmoid(D(x))] - E[log(1 - sigmoid(D(G(z))))]. G minimises
either the minimax objective E[log(1 - sigmoid(D(G(z))))], whose gradient
vanishes when D confidently rejects fakes, or the non-saturating
-E[log sigmoid(D(G(z)))] that the paper recommends in practice.
"""

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F

from ganlab import hookimpl


@dataclass
class GANOptions:
    generator_loss: Literal["non-saturating", "minimax"] = field(
        default="non-saturating", metadata={"help": "generator objective"}
    )


@hookimpl
def ganlab_options():
    return GANOptions


def d_loss(real_scores, fake_scores):
    real = F.binary_cross_entropy_with_logits(real_scores, torch.ones_like(real_scores))
    fake = F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores))
    return real + fake


def g_loss_non_saturating(fake_scores):
    return F.binary_cross_entropy_with_logits(fake_scores, torch.ones_like(fake_scores))


def g_loss_minimax(fake_scores):
    return -F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores))


@hookimpl
def ganlab_d_loss(real_scores, fake_scores):
    return d_loss(real_scores, fake_scores)


@hookimpl
def ganlab_g_loss(fake_scores, options):
    if options[GANOptions].generator_loss == "minimax":
        return g_loss_minimax(fake_scores)
    return g_loss_non_saturating(fake_scores)
