"""Wasserstein GAN (Arjovsky, Chintala & Bottou 2017), with weight clipping.

By Kantorovich-Rubinstein duality the Wasserstein-1 distance is

    W(p_d, p_g) = sup over 1-Lipschitz f of  E_{x~p_d}[f(x)] - E_{x~p_g}[f(x)],

so the critic D maximises E[D(x)] - E[D(G(z))], i.e. minimises

    d_loss = E[D(G(z))] - E[D(x)],

and the generator minimises g_loss = -E[D(G(z))]. Unlike the JS divergence
of the original GAN, which is stuck at log 2 while the two distributions do
not overlap (seed 003), W shrinks smoothly as p_g approaches p_d, so the
critic can be trained to optimality: ``n_critic`` = 5 critic steps per
generator step.

The critic must stay (K-)Lipschitz. The paper does this crudely by clipping
every critic parameter to [-c, c] after each critic step (c = 0.01), and
recommends RMSprop with lr 5e-5 over momentum methods such as Adam, which it
found unstable with this critic. Scores are raw: no sigmoid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ganlab import Regularizer, hookimpl


@dataclass
class WGANOptions:
    clip: float | None = field(
        default=0.01,
        metadata={"help": "clip every critic parameter to [-clip, clip] after each critic step "
                          "(none: no clipping, e.g. with --plugin sn)"},
    )

    def __post_init__(self):
        if self.clip is not None and not (self.clip > 0 and math.isfinite(self.clip)):
            raise ValueError(f"clip must be a positive number (or none to disable clipping), got {self.clip}")


@hookimpl
def ganlab_options():
    return WGANOptions


@hookimpl
def ganlab_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic loss E[D(G(z))] - E[D(x)]: minus the critic's estimate of W."""
    return fake_scores.mean() - real_scores.mean()


@hookimpl
def ganlab_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator loss -E[D(G(z))]: E[D(x)] does not depend on G, so it is dropped."""
    return -fake_scores.mean()


class WeightClipping(Regularizer):
    """Clamp every parameter of the critic to [-c, c] after each of its steps."""

    name = "weight_clip"
    player = "D"

    def __init__(self, clip: float):
        self.clip = clip

    @torch.no_grad()
    def after_step(self, module: nn.Module) -> None:
        for p in module.parameters():
            p.clamp_(-self.clip, self.clip)


@hookimpl
def ganlab_regularizer(options):
    clip = options[WGANOptions].clip
    return WeightClipping(clip) if clip is not None else None


@hookimpl
def ganlab_train_defaults():
    # The paper's Algorithm 1: n_critic = 5, RMSprop with lr 5e-5.
    return {"n_critic": 5, "lr": 5e-5}


@hookimpl
def ganlab_optimizer(params, train):
    # RMSprop rather than Adam: the paper saw Adam's momentum destabilise the
    # clipped critic. Seed 003 suggests SGD; RMSprop is the paper's choice.
    return torch.optim.RMSprop(params, lr=train.lr, foreach=True)


@hookimpl
def ganlab_claims():
    # Closed forms for `ganlab verify`, which checks them against the code above.
    import numpy as np

    from ganlab import claims as C

    return [
        C.GeneratorGradient(lambda l: -np.ones_like(l), False, "∂/∂l (-l) = -1 (constant: never saturates)",
                            "Arjovsky et al. 2017, Algorithm 1"),
        C.DiracEigenvalues((1j, -1j), "±i (f(t) = t, f'(0) = 1)", "Mescheder et al. 2018, section 2.2",
                           f_prime_0=1.0),
    ]
