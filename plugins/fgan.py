"""f-GAN (Nowozin, Cseke & Tomioka 2016): GAN training for any f-divergence.

The variational bound D_f(P‖Q) ≥ sup_T E_P[T(x)] - E_Q[f*(T(x))] (f* the
convex conjugate of f) turns into a GAN once the critic's raw score v is
mapped into the domain of f* by an output activation, T = g_f(v) (the
paper's Table 6). D minimises the negated bound,

    d_loss = -(E_real[g_f(v)] - E_fake[f*(g_f(v))]),

whose pointwise optimum is g_f(v*) = f'(p_d/p_g), where the bound is tight:
-min d_loss = D_f(p_d‖p_g). Each f*(g_f(v)) is written out in closed form,
with softplus where the paper's composition would overflow or cancel
(Jensen-Shannon: -log(2 - 2σ(v)) = softplus(v) - log 2).

G minimises, by default, the paper's "alternative" objective -E_fake[g_f(v)]
(section 3.2: as with the non-saturating GAN loss, it keeps the gradient
where D confidently rejects fakes, and the paper uses it in its experiments);
``generator_loss=saddle`` is the saddle-point objective -E_fake[f*(g_f(v))],
the generator's part of the bound itself.

Divergences (f, g_f, f*∘g_f):

===============  ======================  ==================  ==================
kl               u log u                 v                   exp(v - 1)
reverse-kl       -log u                  -exp(-v)            v - 1
pearson          (u - 1)²                v                   v²/4 + v
neyman           (1 - u)²/u              1 - exp(-v)         2 - 2exp(-v/2)
hellinger        (√u - 1)²               1 - exp(-v)         exp(v) - 1
jensen-shannon   u log u - (u+1)log((u+1)/2)  log 2 - softplus(-v)  softplus(v) - log 2
total-variation  ½|u - 1|                ½ tanh(v)           ½ tanh(v)
===============  ======================  ==================  ==================

With the paper's f for jensen-shannon, D_f = 2·JSD. Total variation's
optimum is at v = ±∞ (tanh saturates), so it has no finite D*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F

from ganlab import hookimpl

LOG2 = math.log(2.0)

Divergence = Literal["kl", "reverse-kl", "pearson", "neyman", "hellinger", "jensen-shannon", "total-variation"]


@dataclass
class FGANOptions:
    divergence: Divergence = field(default="jensen-shannon", metadata={"help": "the f-divergence D minimises the bound of"})
    generator_loss: Literal["alternative", "saddle"] = field(
        default="alternative",
        metadata={"help": "alternative: -E[g_f(v)] (paper's experiments); saddle: -E[f*(g_f(v))]"},
    )


@hookimpl
def ganlab_options():
    return FGANOptions


# Each divergence: (g_f(v), f*(g_f(v))), per score.
def _activation(kind: str, v: torch.Tensor) -> torch.Tensor:
    if kind in ("kl", "pearson"):
        return v
    if kind == "reverse-kl":
        return -torch.exp(-v)
    if kind in ("neyman", "hellinger"):
        return -torch.expm1(-v)
    if kind == "jensen-shannon":
        return LOG2 - F.softplus(-v)
    if kind == "total-variation":
        return 0.5 * torch.tanh(v)
    raise ValueError(f"unknown divergence {kind!r}")


def _conjugate_of_activation(kind: str, v: torch.Tensor) -> torch.Tensor:
    if kind == "kl":
        return torch.exp(v - 1)
    if kind == "reverse-kl":  # -1 - log(-g_f(v)) = -1 - log(exp(-v))
        return v - 1
    if kind == "pearson":
        return 0.25 * v * v + v
    if kind == "neyman":  # 2 - 2·sqrt(1 - t) with 1 - t = exp(-v)
        return -2 * torch.expm1(-0.5 * v)
    if kind == "hellinger":  # t/(1 - t) with 1 - t = exp(-v)
        return torch.expm1(v)
    if kind == "jensen-shannon":  # -log(2 - exp(t)) = -log(2(1 - σ(v)))
        return F.softplus(v) - LOG2
    if kind == "total-variation":  # f*(t) = t on |t| ≤ ½
        return 0.5 * torch.tanh(v)
    raise ValueError(f"unknown divergence {kind!r}")


def d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor, kind: str) -> torch.Tensor:
    return -_activation(kind, real_scores).mean() + _conjugate_of_activation(kind, fake_scores).mean()


def g_loss(fake_scores: torch.Tensor, kind: str, generator_loss: str = "alternative") -> torch.Tensor:
    if generator_loss == "saddle":
        return -_conjugate_of_activation(kind, fake_scores).mean()
    return -_activation(kind, fake_scores).mean()


@hookimpl
def ganlab_d_loss(real_scores, fake_scores, options):
    return d_loss(real_scores, fake_scores, options[FGANOptions].divergence)


@hookimpl
def ganlab_g_loss(fake_scores, options):
    opts = options[FGANOptions]
    return g_loss(fake_scores, opts.divergence, opts.generator_loss)


# --- closed forms for `ganlab verify` (numpy; never the torch code above) ---

def _theory(kind: str):
    """(f(u), t*(r) from g_f(t*) = f'(r) or None, g_f'(0), (f*∘g_f)'(0), ∂ -g_f(l)/∂l) in numpy."""
    import numpy as np

    if kind == "kl":
        return (lambda u: u * np.log(u), lambda r: 1 + np.log(r), 1.0, math.exp(-1),
                lambda l: -np.ones_like(l), lambda l: -np.exp(l - 1))
    if kind == "reverse-kl":
        return (lambda u: -np.log(u), lambda r: np.log(r), 1.0, 1.0,
                lambda l: -np.exp(-l), lambda l: -np.ones_like(l))
    if kind == "pearson":
        return (lambda u: (u - 1) ** 2, lambda r: 2 * (r - 1), 1.0, 1.0,
                lambda l: -np.ones_like(l), lambda l: -(l / 2 + 1))
    if kind == "neyman":
        return (lambda u: (1 - u) ** 2 / u, lambda r: 2 * np.log(r), 1.0, 1.0,
                lambda l: -np.exp(-l), lambda l: -np.exp(-l / 2))
    if kind == "hellinger":
        return (lambda u: (np.sqrt(u) - 1) ** 2, lambda r: 0.5 * np.log(r), 1.0, 1.0,
                lambda l: -np.exp(-l), lambda l: -np.exp(l))
    if kind == "jensen-shannon":
        from scipy.special import expit, xlogy

        return (lambda u: xlogy(u, u) - xlogy(u + 1, (u + 1) / 2), lambda r: np.log(r), 0.5, 0.5,
                lambda l: -expit(-l), lambda l: -expit(l))
    if kind == "total-variation":
        return (lambda u: 0.5 * np.abs(u - 1), None, 0.5, 0.5,
                lambda l: -0.5 / np.cosh(l) ** 2, lambda l: -0.5 / np.cosh(l) ** 2)
    raise ValueError(f"unknown divergence {kind!r}")


GENERATOR_FORMULA = {"alternative": "∂/∂l -g_f(l)", "saddle": "∂/∂l -f*(g_f(l))"}


@hookimpl
def ganlab_claims(options):
    from ganlab import claims as C
    from ganlab import densities

    opts = options[FGANOptions]
    kind = opts.divergence
    f, t_star, a_alt, b, grad_alt, grad_saddle = _theory(kind)
    paper = "Nowozin et al. 2016"
    claims = []
    if t_star is not None:
        claims.append(C.OptimalDiscriminator(
            lambda pd, pg: t_star(pd / pg), f"g_f(t*) = f'(p_d/p_g) ({kind})", f"{paper}, eq. 5 and Table 6"))
    claims.append(C.Criterion(
        lambda p, q: densities.f_divergence(p, q, f, kind), "d", f"C(G) = D_f(p_d‖p_g) = ∫ p_g f(p_d/p_g) dx ({kind})",
        f"{paper}, eq. 4-6 (the bound is tight at T* = f'(p_d/p_g))", minimum_at_equal=True))
    saddle = opts.generator_loss == "saddle"
    grad = grad_saddle if saddle else grad_alt
    # Saturating (→ 0 as l → -∞): tanh's slope always; with the saddle objective also
    # exp(l - 1), exp(l) and σ(l), as the minimax GAN loss.
    saturating = kind == "total-variation" or (saddle and kind in ("kl", "hellinger", "jensen-shannon"))
    claims.append(C.GeneratorGradient(grad, saturating, GENERATOR_FORMULA[opts.generator_loss],
                                      f"{paper}, section 3.2"))
    # Dirac-GAN: v = (g·ψ, -b·θ) near 0, with g the G-loss slope (-∂g_loss/∂l at 0) and
    # b = (f*∘g_f)'(0): the Jacobian [[0, g], [-b, 0]] has eigenvalues ±i·sqrt(g·b).
    g0 = b if saddle else a_alt
    w = math.sqrt(g0 * b)
    claims.append(C.DiracEigenvalues((1j * w, -1j * w), f"±i·sqrt(g_f'(0)·(f*∘g_f)'(0)) = ±{w:.4g}i",
                                     "Mescheder et al. 2018, section 2 (linearisation)", f_prime_0=w))
    return claims


@hookimpl
def ganlab_verify_variants():
    # Every f-divergence, and the saddle generator for KL and JS. Pearson's D* = 2(r - 1) is finite
    # but huge on Gaussian tails, and total variation's is at ±∞ (see analysis/generic_checks.py).
    return [{"divergence": d} for d in ("kl", "reverse-kl", "pearson", "neyman", "hellinger", "jensen-shannon",
                                          "total-variation")] + [{"divergence": "kl", "generator_loss": "saddle"}, {"generator_loss": "saddle"}]
