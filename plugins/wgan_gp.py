"""WGAN with gradient penalty (Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville 2017).

The losses are WGAN's (the ``wgan`` plugin's formulas); the critic is kept
Lipschitz by a soft constraint instead of weight clipping. A differentiable
function is 1-Lipschitz iff its gradient has norm at most 1 everywhere, and
the optimal critic has norm exactly 1 on lines between coupled real and fake
points, so the critic's loss gets

    λ · E_x̂[(‖∇_x̂ D(x̂)‖₂ - 1)²],   x̂ = ε·x + (1 - ε)·G(z),  ε ~ U[0, 1],

with one ε per sample and the norm taken per sample over all its
dimensions (λ = 10). The ``one_sided`` variant penalises only norms above 1,
max(0, ‖∇‖ - 1)², which is the Lipschitz condition itself.

In a conditional run the critic is a function of (x, y), so x̂ must lie
between a real and a fake *of one class y* and be scored with y: a line from
a real 3 to a fake 7 scored as either label leaves the (x, y) pairs that the
critic is ever asked about. Generated labels are drawn independently of the
real batch, so each fake is paired with a real of its own class by
:func:`ganlab.pairing.pair_by_label`, the rule ``recon`` uses too (the k-th fake of class y takes
the (k mod n_y)-th real of class y); fakes whose class has no real in the
batch are left out, and with no pair at all the penalty is 0. Pairing the
existing fakes, rather than generating new ones for the real labels, costs
no extra forward pass of G, draws no extra noise and leaves G's batch-norm
statistics alone.

The penalty is a sum of one term per sample, which is only meaningful when
each score depends on its own sample alone: batch norm in the critic mixes
the batch, so this plugin rejects it (the paper uses layer norm instead).
Trainer defaults are the paper's: Adam with lr 1e-4 and betas (0, 0.9),
n_critic = 5, and no weight clipping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ganlab import PenaltyBatch, Regularizer, hookimpl, pair_by_label, require_finite_nonnegative

__all__ = ["WGANGPOptions", "GradientPenalty", "gradient_penalty", "interpolate", "same_label_pairs"]


@dataclass
class WGANGPOptions:
    weight: float = field(default=10.0, metadata={"help": "λ, the weight of the gradient penalty (paper: 10)"})
    one_sided: bool = field(
        default=False, metadata={"help": "penalise only gradient norms above 1: max(0, ‖∇‖ - 1)²"}
    )

    def __post_init__(self):
        require_finite_nonnegative("weight (λ)", self.weight)


@hookimpl
def ganlab_options():
    return WGANGPOptions


def interpolate(
    real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """x̂ = ε·real + (1 - ε)·fake, one ε ~ U[0, 1] per sample.

    Both inputs are detached: the penalty constrains the critic, and in a
    critic update nothing should flow back into G through x̂.
    """
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"real and fake samples differ in shape: {tuple(real.shape)} and {tuple(fake.shape)}")
    n = min(len(real), len(fake))  # a last, smaller real batch still pairs up
    real, fake = real[:n].detach(), fake[:n].detach()
    eps_shape = (n,) + (1,) * (real.dim() - 1)
    eps = torch.rand(eps_shape, generator=generator, device=real.device, dtype=real.dtype)
    return eps * real + (1 - eps) * fake


def gradient_penalty(
    critic: Callable[..., torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    labels: torch.Tensor | None = None,
    one_sided: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """E[(‖∇_x̂ critic(x̂)‖₂ - 1)²] on interpolates x̂ (unweighted: multiply by λ).

    The norm of each sample's gradient is taken over all its non-batch
    dimensions (the gradient of a batch-wide norm would couple samples).
    In a conditional run ``real[i]`` and ``fake[i]`` must share the label
    ``labels[i]`` (see :func:`same_label_pairs`), which the critic gets with
    x̂. ``create_graph=True`` keeps the penalty differentiable with respect
    to the critic's parameters.
    """
    x_hat = interpolate(real, fake, generator).requires_grad_(True)
    if labels is not None:
        labels = labels[: len(x_hat)]
    scores = critic(x_hat) if labels is None else critic(x_hat, labels)
    # Samples are independent, so the gradient of the summed scores holds
    # each sample's own gradient in its row.
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = torch.linalg.vector_norm(grad.flatten(1), dim=1)
    excess = (norms - 1).clamp(min=0) if one_sided else norms - 1
    return (excess**2).mean()


def same_label_pairs(
    real: torch.Tensor, fake: torch.Tensor, real_labels: torch.Tensor, fake_labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(real', fake', labels)`` with ``real'[i]`` and ``fake'[i]`` both of class ``labels[i]``.

    One row per fake whose class occurs among the reals, in the fakes' order.
    """
    fake_idx, real_idx = pair_by_label(fake_labels, real_labels)
    return real[real_idx], fake[fake_idx], fake_labels[fake_idx]


class GradientPenalty(Regularizer):
    name = "gradient_penalty"
    player = "D"

    def __init__(self, weight: float = 10.0, one_sided: bool = False):
        self.weight = weight
        self.one_sided = one_sided

    def penalty(self, batch: PenaltyBatch) -> torch.Tensor:
        real, fake, labels = batch.real, batch.fake, batch.real_labels
        if batch.real_labels is not None and batch.fake_labels is not None:
            real, fake, labels = same_label_pairs(real, fake, batch.real_labels, batch.fake_labels)
            if len(labels) == 0:  # no class in common this step: nothing to interpolate
                return real.new_zeros(())
        return self.weight * gradient_penalty(batch.discriminator, real, fake, labels, self.one_sided)


@hookimpl
def ganlab_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN's critic loss E[D(G(z))] - E[D(x)]; the penalty is added as a regularizer."""
    return fake_scores.mean() - real_scores.mean()


@hookimpl
def ganlab_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN's generator loss -E[D(G(z))]."""
    return -fake_scores.mean()


@hookimpl
def ganlab_regularizer(options):
    opts = options[WGANGPOptions]
    return GradientPenalty(opts.weight, opts.one_sided)


@hookimpl
def ganlab_train_defaults():
    # The paper's Algorithm 1: α = 1e-4, β1 = 0, β2 = 0.9, n_critic = 5.
    return {"n_critic": 5, "lr": 1e-4, "betas": (0.0, 0.9)}


def batch_norm_layers(module: nn.Module) -> list[str]:
    """Names of the batch-norm layers in ``module``."""
    return [name or type(m).__name__ for name, m in module.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@hookimpl
def ganlab_validate(setup):
    found = batch_norm_layers(setup.discriminator) if setup.discriminator is not None else []
    if not found:
        return None
    who = ", ".join(setup.implementers("ganlab_discriminator")) or "the discriminator plugin"
    fix = "use a critic without batch norm (layer norm is the paper's replacement)"
    if "dcgan" in setup.implementers("ganlab_discriminator"):
        fix += ", e.g. -o dcgan.d_batchnorm=false"
    shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
    return (
        f"wgan-gp penalises each sample's gradient norm, but the critic from {who} has batch norm "
        f"({shown}), which makes each score depend on the whole batch, so the per-sample penalty "
        f"is not valid (Gulrajani et al. 2017, section 4); {fix}"
    )


@hookimpl
def ganlab_claims(options):
    # WGAN's losses come with WGAN's claims; `ganlab verify` checks the penalty's too.
    import numpy as np

    from ganlab import claims as C

    opts = options[WGANGPOptions]
    return [
        C.GeneratorGradient(lambda l: -np.ones_like(l), False, "∂/∂l (-l) = -1 (constant: never saturates)",
                            "Arjovsky et al. 2017, Algorithm 1"),
        C.DiracEigenvalues((1j, -1j), "±i (f(t) = t, f'(0) = 1)",
                           "Mescheder et al. 2018, section 2.2", f_prime_0=1.0),
        C.GradientPenalty(weight=opts.weight, one_sided=opts.one_sided),
    ]


@hookimpl
def ganlab_verify_variants():
    # Two- and one-sided penalties.
    return [{}, {"one_sided": "true"}]
