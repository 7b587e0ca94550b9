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


@hookimpl
def ganlab_claims(options):
    # Closed forms for `ganlab verify`, which checks them against the code above.
    import numpy as np
    from scipy.special import expit

    from ganlab import claims as C
    from ganlab import densities

    def t_star(pd, pg):  # σ(t*) = p_d / (p_d + p_g)
        return np.log(pd) - np.log(pg)

    claims = [
        C.OptimalDiscriminator(t_star, "σ(t*) = p_d/(p_d+p_g), t* = log(p_d/p_g)",
                               "Goodfellow et al. 2014, Prop. 1"),
        C.Criterion(lambda p, q: -np.log(4) + 2 * densities.jsd(p, q), "d", "C(G) = -log 4 + 2·JSD(p_d‖p_g)",
                    "Goodfellow et al. 2014, Thm 1", minimum_at_equal=True),
        C.DiracEigenvalues((0.5j, -0.5j), "±f'(0)·i, f(t) = -log(1+e^-t), f'(0) = 1/2",
                           "Mescheder et al. 2018, Lemma 2.2", f_prime_0=0.5),
    ]
    if options[GANOptions].generator_loss == "minimax":
        claims.append(C.GeneratorGradient(lambda l: -expit(l), True, "∂/∂l log(1-σ(l)) = -σ(l) → 0 as l → -∞",
                                          "Goodfellow et al. 2014, section 3"))
    else:
        claims.append(C.GeneratorGradient(lambda l: expit(l) - 1, False,
                                          "∂/∂l -log σ(l) = σ(l) - 1 → -1 as l → -∞",
                                          "Goodfellow et al. 2014, section 3"))
    return claims


@hookimpl
def ganlab_verify_variants():
    # Both generator losses: each has its own gradient and saturation claim.
    return [{}, {"generator_loss": "minimax"}]
