"""DRAGAN's gradient penalty (Kodali, Abernethy, Hays & Kira 2017, "On Convergence and Stability of GANs").

Mode collapse goes with sharp gradients of D around the real data, so
DRAGAN penalises them there, not between reals and fakes as WGAN-GP does:

    λ · E[(‖∇_x̂ D(x̂)‖₂ - 1)²],   x̂ = x + α·δ,

with the perturbation of the authors' code (``kodalinaveen3/DRAGAN``):
δ = c·std(x)·U[0, 1] drawn per element, std the population standard
deviation of the whole real batch (numpy's ``minibatch.std()``), c = 0.5,
and one α ~ U[0, 1] per sample that places x̂ on the segment from x to
x + δ. ``noise=normal`` is the paper's text instead, δ ~ N(0, (c·std(x))²)
per element (section 4: "x + δ, δ ~ N_d(0, cI)"). λ = 10 and the target
norm 1 are the paper's.

``one_sided`` penalises only norms above 1, max(0, ‖∇‖ - 1)², as WGAN-GP's
option does. The two-sided form also pushes a flat D towards slope 1, and
at the start of training, when D is nearly flat, that term (λ·1 = 10)
outweighs the loss (log 4): D's slope around the reals grows in whichever
direction it first tilts, and turning D's orientation round later means
passing through slope 0, where the penalty is largest. On the 2-D mixtures
this leaves reals scored below the fakes and G collapsed; the one-sided
form has no such barrier (docs/evaluation.md has the figures).

The norm is per sample over all its dimensions; a norm per pixel (the bug
of a popular PyTorch port) penalises each coordinate of the gradient
towards 1 instead. Each score must depend on its own sample only, so a
critic with batch norm is rejected, as for ``wgan-gp``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import torch
from torch import nn

from ganlab import PenaltyBatch, Regularizer, hookimpl, require_finite_nonnegative


@dataclass
class DRAGANOptions:
    weight: float = field(default=10.0, metadata={"help": "λ, the weight of the penalty (paper: 10)"})
    scale: float = field(default=0.5, metadata={"help": "c: the perturbation is c·std(x)·noise"})
    noise: Literal["uniform", "normal"] = field(
        default="uniform", metadata={"help": "uniform: U[0,1] as in the authors' code; normal: N(0,1) as in the paper's text"}
    )
    one_sided: bool = field(
        default=False, metadata={"help": "penalise only gradient norms above 1: max(0, ‖∇‖ - 1)²"}
    )

    def __post_init__(self):
        require_finite_nonnegative("weight (λ)", self.weight)
        require_finite_nonnegative("scale (c)", self.scale)


@hookimpl
def ganlab_options():
    return DRAGANOptions


def perturb(real: torch.Tensor, scale: float = 0.5, noise: str = "uniform") -> torch.Tensor:
    """x̂ = x + α·δ: δ = c·std(x)·(U[0,1] or N(0,1)) per element, α ~ U[0,1] per sample."""
    x = real.detach()
    draw = torch.rand_like if noise == "uniform" else torch.randn_like
    # One std over the batch and every dimension, as in the authors' code; a batch of one point
    # has none to measure and stays where it is.
    delta = scale * x.std(unbiased=False) * draw(x)
    alpha = torch.rand((len(x),) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
    return x + alpha * delta


def dragan_penalty(critic: Callable[..., torch.Tensor], real: torch.Tensor, labels: torch.Tensor | None = None,
                   scale: float = 0.5, noise: str = "uniform", one_sided: bool = False) -> torch.Tensor:
    """E[(‖∇critic(x̂)‖₂ - 1)²] at perturbed reals, only norms above 1 if one-sided (unweighted: multiply by λ)."""
    x_hat = perturb(real, scale, noise).requires_grad_(True)
    scores = critic(x_hat) if labels is None else critic(x_hat, labels)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = torch.linalg.vector_norm(grad.flatten(1), dim=1)  # per sample, over all its dimensions
    excess = (norms - 1).clamp(min=0) if one_sided else norms - 1
    return (excess ** 2).mean()


class DRAGANPenalty(Regularizer):
    name = "dragan"
    player = "D"

    def __init__(self, weight: float = 10.0, scale: float = 0.5, noise: str = "uniform", one_sided: bool = False):
        self.weight, self.scale, self.noise, self.one_sided = weight, scale, noise, one_sided

    def penalty(self, batch: PenaltyBatch) -> torch.Tensor:
        return self.weight * dragan_penalty(batch.discriminator, batch.real, batch.real_labels, self.scale, self.noise,
                                            self.one_sided)


@hookimpl
def ganlab_regularizer(options):
    o = options[DRAGANOptions]
    return DRAGANPenalty(o.weight, o.scale, o.noise, o.one_sided)


@hookimpl
def ganlab_validate(setup):
    d = setup.discriminator
    if d is None or not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in d.modules()):
        return None
    return ("dragan penalises each sample's gradient norm, but the discriminator has batch norm, which makes "
            "each score depend on the whole batch; use one without (with dcgan: -o dcgan.d_batchnorm=false)")


@hookimpl
def ganlab_claims(options):
    from ganlab import claims as C

    # A linear critic w·x has ‖∇‖ = ‖w‖ at every x̂, so the penalty is λ(‖w‖ - 1)² exactly.
    o = options[DRAGANOptions]
    return [C.GradientPenalty(weight=o.weight, one_sided=o.one_sided, source="Kodali et al. 2017, section 4",
                              around="real")]


@hookimpl
def ganlab_verify_variants():
    # Both noise kinds, and the one-sided penalty.
    return [{}, {"noise": "normal"}, {"one_sided": "true"}]
