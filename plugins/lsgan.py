"""Least-squares GAN (Mao et al. 2017).

D minimises 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2] and G minimises
1/2 E[(D(G(z)) - c)^2]. The default coding a=0, b=1, c=1 is the paper's
experimental one; ``preset=pearson`` (a=-1, b=1, c=0) satisfies b-c=1 and
b-a=2, under which minimising G minimises the Pearson chi-square divergence
between p_d + p_g and 2 p_g. Any coding with a < b works the same way: G's
criterion (with the real-data term) is ((a+b)/2 - c)^2 + (b-a)^2/8 times
that integral, so p_g = p_d is its unique minimiser. b > a is required:
real samples score higher, as with every other ganlab loss.
"""

import warnings
from dataclasses import dataclass, field
from typing import Literal

import torch

from ganlab import hookimpl

PRESETS = {"pearson": (-1.0, 1.0, 0.0), "binary": (0.0, 1.0, 1.0)}


@dataclass
class LSGANOptions:
    a: float = field(default=0.0, metadata={"help": "D's target for fake samples"})
    b: float = field(default=1.0, metadata={"help": "D's target for real samples"})
    c: float = field(default=1.0, metadata={"help": "G's target for its samples"})
    preset: Literal["none", "pearson", "binary"] = field(
        default="none", metadata={"help": "set a, b, c at once: pearson = -1,1,0; binary = 0,1,1"}
    )
    sigmoid: bool = field(
        default=False, metadata={"help": "squash scores with a sigmoid first, as seed 000's code does"}
    )

    def __post_init__(self):
        if self.preset != "none":
            # a, b, c conflict with the preset only when moved off their defaults to other
            # values: a recorded config.toml holds the preset beside the a, b, c it implies.
            given = (self.a, self.b, self.c)
            if given not in ((0.0, 1.0, 1.0), PRESETS[self.preset]):
                raise ValueError(f"preset={self.preset} sets a, b, c = {PRESETS[self.preset]}, but a, b, c = "
                                 f"{given} were also given; give either the preset or a, b, c")
            self.a, self.b, self.c = PRESETS[self.preset]
        if self.a == self.b:
            raise ValueError(f"a and b must differ (a = b = {self.a} gives D nothing to learn)")
        if self.b < self.a:
            raise ValueError(
                f"b must exceed a: real samples should score higher than fakes (got a={self.a}, b={self.b}); "
                "swap them"
            )
        if self.sigmoid:
            # σ maps onto the open interval (0, 1): a target at 0 or 1 is only
            # approached as the raw score diverges, one outside [0, 1] not even that.
            out = [f"{k}={v}" for k, v in (("a", self.a), ("b", self.b), ("c", self.c)) if not 0 < v < 1]
            if out:
                warnings.warn(
                    f"lsgan.sigmoid squashes scores into (0, 1), so target(s) {', '.join(out)} "
                    "cannot be reached: σ(D) tends to 0 or 1 only as the raw score goes to -∞ or +∞, "
                    "and never comes near a target outside [0, 1]",
                    UserWarning,
                    stacklevel=2,
                )


@hookimpl
def ganlab_options():
    return LSGANOptions


def _squash(scores, opts):
    return torch.sigmoid(scores) if opts.sigmoid else scores


def d_loss(real_scores, fake_scores, opts: LSGANOptions):
    real = _squash(real_scores, opts)
    fake = _squash(fake_scores, opts)
    return 0.5 * ((real - opts.b) ** 2).mean() + 0.5 * ((fake - opts.a) ** 2).mean()


def g_loss(fake_scores, opts: LSGANOptions):
    return 0.5 * ((_squash(fake_scores, opts) - opts.c) ** 2).mean()


@hookimpl
def ganlab_d_loss(real_scores, fake_scores, options):
    return d_loss(real_scores, fake_scores, options[LSGANOptions])


@hookimpl
def ganlab_g_loss(fake_scores, options):
    return g_loss(fake_scores, options[LSGANOptions])


@hookimpl
def ganlab_claims(options):
    # Closed forms for `ganlab verify`, which checks them against the code above.
    import numpy as np
    from scipy.special import expit, logit

    from ganlab import claims as C
    from ganlab import densities

    o = options[LSGANOptions]
    a, b, c = o.a, o.b, o.c
    mao = "Mao et al. 2017"

    def target(pd, pg):  # seed 000: D*(x) = (b p_d + a p_g) / (p_d + p_g)
        return (b * pd + a * pg) / (pd + pg)

    # With a sigmoid, D*'s target (b·p_d + a·p_g)/(p_d + p_g) lies strictly inside
    # (0, 1) wherever both densities are positive iff 0 ≤ a < b ≤ 1; otherwise
    # σ(D) cannot reach it where one density dominates, and D* has no closed form.
    reachable = not o.sigmoid or (0 <= a and b <= 1)
    claims = []
    if not o.sigmoid:
        claims.append(C.OptimalDiscriminator(target, "t* = (b·p_d + a·p_g)/(p_d + p_g)", f"{mao}, eq. 7"))
        claims.append(C.GeneratorGradient(lambda l: l - c, False, "∂/∂l ½(l-c)² = l - c (linear in |l-c|)",
                                          f"{mao}, section 3.2"))
        # J = [[0, c], [a, 0]] at (θ, ψ) = (0, 0)
        lam = np.sqrt(complex(a * c))
        claims.append(C.DiracEigenvalues((lam, -lam), "±sqrt(a·c)", "Mescheder et al. 2018, section 2 (linearised)"))
    else:
        if reachable:
            claims.append(C.OptimalDiscriminator(lambda pd, pg: logit(target(pd, pg)),
                                                 "σ(t*) = (b·p_d + a·p_g)/(p_d + p_g)", f"{mao}, eq. 7"))
        claims.append(C.GeneratorGradient(lambda l: (expit(l) - c) * expit(l) * (1 - expit(l)), True,
                                          "∂/∂l ½(σ(l)-c)² = (σ(l)-c)·σ(l)(1-σ(l))", f"{mao}, section 3.2"))
        lam = np.sqrt(complex((0.5 - a) * (0.5 - c))) / 4
        claims.append(C.DiracEigenvalues((lam, -lam), "±sqrt((1/2-a)(1/2-c))/4",
                                         "Mescheder et al. 2018, section 2 (linearised)"))
    if reachable:
        # With δ = p_d - p_g and s = p_d + p_g, D* - c = ((a+b)/2 - c) + (b-a)δ/(2s), so
        # C(G) = ½∫s(D* - c)² = ((a+b)/2 - c)² + (b-a)²/8·∫δ²/s (∫s = 2, ∫δ = 0):
        # for every a ≠ b the minimum is at p_g = p_d, not only for Mao's coding.
        claims.append(C.Criterion(
            lambda p, q: 0.5 * densities.lsgan_integral(p, q, a, b, c), "g",
            "2C(G) = ∫((b-c)(p_d+p_g) - (b-a)p_g)²/(p_d+p_g) dx "
            "= 2((a+b)/2-c)² + (b-a)²/4·∫(p_d-p_g)²/(p_d+p_g) dx",
            f"{mao}, Thm 1 (seed 000)", minimum_at_equal=True,
        ))
    return claims


@hookimpl
def ganlab_verify_variants():
    # The paper's coding, the Pearson one, one with c outside [a, b], and seed 000's sigmoid:
    # each changes D* or the criterion.
    return [{}, {"preset": "pearson"}, {"a": "-0.5", "b": "2", "c": "0.25"}, {"sigmoid": "true"}]
