"""A regression corpus for ``ganlab verify``: loss code as people really write it.

Each entry is a third-party-style plugin written in the manner of public GAN
toolkits (torchgan, torch-mimicry, PyTorch-GAN, PyTorch-StudioGAN): float32
labels built with ``torch.ones``, ``(N, 1)`` scores, a sigmoid D wrapped at
the score, elementwise ``real - fake``, numpy-drawn interpolation
coefficients, ``device=x.get_device()``. Correct maths written in an unusual
style must PASS; each known bug must FAIL, on the claim named with it.

The code is ganlab's own, written for this corpus; the bugs are the kinds
reported against those toolkits (see docs/verify.md, "How verify calls your loss").
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import expit

from ganlab import hookimpl
from ganlab.analysis import claims as C
from ganlab.regularizers import Regularizer


@dataclass(frozen=True)
class Entry:
    name: str
    module: types.ModuleType
    correct: bool
    style: str
    # For a bug: the claims that must FAIL (at least these).
    fails: tuple[str, ...] = field(default=())
    # For correct code: claims that must PASS (not merely escape as N/A).
    passes: tuple[str, ...] = field(default=())


def _plugin(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(f"corpus_{name.replace('-', '_')}")
    for hook, fn in hooks.items():
        setattr(module, hook, hookimpl(fn))
    return module


# -- declarations a wrapper would make for the standard GAN ---------------------------

def _gan_d_claims():
    return [C.OptimalDiscriminator(lambda pd, pg: np.log(pd) - np.log(pg), "t* = log(p_d/p_g)",
                                   "Goodfellow et al. 2014, Prop. 1"),
            C.DiracEigenvalues((0.5j, -0.5j), "±i/2", "Mescheder et al. 2018, Lemma 2.2", f_prime_0=0.5)]


def _non_saturating():
    return C.GeneratorGradient(lambda l: expit(l) - 1, False, "σ(l) - 1", "Goodfellow et al. 2014, section 3")


# -- losses ---------------------------------------------------------------------------

def _bce_stacked_d(real_scores, fake_scores):
    # torchgan-like: one BCE over both sides, labels float32 and sized from the real side.
    n = real_scores.size(0)
    labels = torch.cat([torch.ones(n), torch.zeros(n)])
    return 2 * F.binary_cross_entropy_with_logits(torch.cat([real_scores, fake_scores]), labels)


def _bce_ones_g(fake_scores):
    return F.binary_cross_entropy_with_logits(fake_scores, torch.ones(fake_scores.size(0)))


def stacked_bce():
    return _plugin("stacked-bce", ganlab_d_loss=_bce_stacked_d, ganlab_g_loss=_bce_ones_g,
                   ganlab_claims=lambda: _gan_d_claims() + [_non_saturating()])


def _column_d(real_scores, fake_scores):
    # mimicry-like: scores as (N, 1), labels torch.full((N, 1), ·) in float32, each side its own size.
    real, fake = real_scores.view(-1, 1), fake_scores.view(-1, 1)
    real_loss = F.binary_cross_entropy_with_logits(real, torch.full((real.shape[0], 1), 1.0))
    fake_loss = F.binary_cross_entropy_with_logits(fake, torch.full((fake.shape[0], 1), 0.0))
    return real_loss + fake_loss


def column_scores():
    return _plugin("column-scores", ganlab_d_loss=_column_d,
                   ganlab_g_loss=lambda fake_scores: F.binary_cross_entropy_with_logits(
                       fake_scores.view(-1, 1), torch.full((fake_scores.shape[0], 1), 1.0)),
                   ganlab_claims=lambda: _gan_d_claims() + [_non_saturating()])


def _sigmoid_bce_d(real_scores, fake_scores):
    # A toolkit whose D ends in nn.Sigmoid, wrapped at the raw score: BCELoss on probabilities,
    # labels from the legacy float32 Tensor(n).fill_ (so float64 scores raise a dtype error).
    valid = torch.Tensor(real_scores.shape[0]).fill_(1.0)
    fake = torch.Tensor(fake_scores.shape[0]).fill_(0.0)
    loss = torch.nn.BCELoss()
    return loss(torch.sigmoid(real_scores), valid) + loss(torch.sigmoid(fake_scores), fake)


def sigmoid_bce():
    return _plugin("sigmoid-bce", ganlab_d_loss=_sigmoid_bce_d,
                   ganlab_g_loss=lambda fake_scores: torch.nn.BCELoss()(
                       torch.sigmoid(fake_scores), torch.Tensor(fake_scores.shape[0]).fill_(1.0)),
                   ganlab_claims=lambda: _gan_d_claims() + [_non_saturating()])


def eps_in_log():
    # mimicry's non-saturating G: -log(σ(t) + 1e-8). The ε only guards log(0), so a
    # closed form is not declared for G (it holds to O(ε/σ)); the generic checks judge it.
    return _plugin("eps-in-log",
                   ganlab_d_loss=lambda real_scores, fake_scores: F.softplus(-real_scores).mean()
                   + F.softplus(fake_scores).mean(),
                   ganlab_g_loss=lambda fake_scores: -torch.mean(torch.log(torch.sigmoid(fake_scores) + 1e-8)),
                   ganlab_claims=_gan_d_claims)


def get_device_labels():
    # StudioGAN-like labels built on the scores' device index (-1 on a CPU tensor).
    def d_loss(real_scores, fake_scores):
        ones = torch.ones_like(real_scores, device=real_scores.get_device())
        zeros = torch.zeros_like(fake_scores, device=fake_scores.get_device())
        return (F.binary_cross_entropy_with_logits(real_scores, ones)
                + F.binary_cross_entropy_with_logits(fake_scores, zeros))

    return _plugin("get-device", ganlab_d_loss=d_loss, ganlab_g_loss=_bce_ones_g,
                   ganlab_claims=lambda: _gan_d_claims() + [_non_saturating()])


def elementwise_wgan():
    # StudioGAN-like critic loss written elementwise: needs equal batch sizes.
    return _plugin("elementwise-wgan",
                   ganlab_d_loss=lambda real_scores, fake_scores: torch.mean(fake_scores - real_scores),
                   ganlab_g_loss=lambda fake_scores: -torch.mean(fake_scores),
                   ganlab_claims=lambda: [C.GeneratorGradient(lambda l: -np.ones_like(l), False, "-1", "WGAN"),
                                          C.DiracEigenvalues((1j, -1j), "±i", "Mescheder et al. 2018",
                                                             f_prime_0=1.0)])


def half_lsgan():
    # StudioGAN-like least squares with ½ factors, a = 0, b = c = 1, summed elementwise.
    def d_loss(real_scores, fake_scores):
        return (0.5 * (real_scores - 1.0) ** 2 + 0.5 * fake_scores ** 2).mean()

    def claims():
        return [C.OptimalDiscriminator(lambda pd, pg: pd / (pd + pg), "t* = p_d/(p_d + p_g) (a = 0, b = 1)",
                                       "Mao et al. 2017, eq. 7"),
                C.GeneratorGradient(lambda l: l - 1.0, False, "∂/∂l ½(l - 1)² = l - 1", "Mao et al. 2017")]

    return _plugin("half-lsgan", ganlab_d_loss=d_loss,
                   ganlab_g_loss=lambda fake_scores: (0.5 * (fake_scores - 1.0) ** 2).mean(), ganlab_claims=claims)


def hinge_mean_style():
    return _plugin("hinge-style",
                   ganlab_d_loss=lambda real_scores, fake_scores: torch.mean(F.relu(1.0 - real_scores))
                   + torch.mean(F.relu(1.0 + fake_scores)),
                   ganlab_g_loss=lambda fake_scores: -torch.mean(fake_scores))


def _ra_bce(a, b, target):
    return F.binary_cross_entropy_with_logits(a - b.mean(), torch.full((a.shape[0],), target))


def relativistic_bce():
    # PyTorch-GAN's fixed RaGAN: both terms in G, real scores detached, float32 labels.
    def d_loss(real_scores, fake_scores):
        return (_ra_bce(real_scores, fake_scores, 1.0) + _ra_bce(fake_scores, real_scores, 0.0)) / 2

    def g_loss(fake_scores, real_scores):
        real = real_scores.detach()
        return (_ra_bce(real, fake_scores, 0.0) + _ra_bce(fake_scores, real, 1.0)) / 2

    return _plugin("relativistic-bce", ganlab_d_loss=d_loss, ganlab_g_loss=g_loss,
                   ganlab_claims=lambda: C.Relativistic())


# -- penalties ------------------------------------------------------------------------

def _grad_at(critic, x):
    x = x.detach().requires_grad_(True)
    out = critic(x)
    (g,) = torch.autograd.grad(out, x, grad_outputs=torch.ones(out.size()), create_graph=True)
    return g


class NumpyAlphaGP(Regularizer):
    """PyTorch-GAN-like WGAN-GP: α from numpy (cast to float32), float32 grad_outputs, flattened norm."""

    name, player = "gradient_penalty", "D"

    def __init__(self, lam=10.0, per_element=False, flatten=True, sigmoid=False, batch_norm=False,
                 shared=False):
        self.lam, self.per_element, self.flatten = lam, per_element, flatten
        self.sigmoid, self.batch_norm, self.shared = sigmoid, batch_norm, shared

    def penalty(self, batch):
        real, fake = batch.real, batch.fake
        if self.shared:  # torchgan: one Python float for the batch
            alpha = torch.rand(1).item()
        elif self.per_element:  # the early PyTorch-GAN: α of the samples' full shape
            alpha = torch.FloatTensor(np.random.random(real.shape))
        else:
            alpha = torch.FloatTensor(np.random.random((real.size(0),) + (1,) * (real.dim() - 1)))
        x = (alpha * real + (1 - alpha) * fake).detach().requires_grad_(True)
        out = batch.discriminator(x)
        if self.sigmoid:  # the penalty taken on D's probability instead of its raw score
            out = torch.sigmoid(out)
        (g,) = torch.autograd.grad(out, x, grad_outputs=torch.ones(out.size(0)), create_graph=True)
        if self.batch_norm:  # one norm over the whole batch
            return self.lam * (g.norm(2) - 1) ** 2
        norms = g.view(g.size(0), -1).norm(2, dim=1) if self.flatten else g.norm(2, dim=1)
        return self.lam * ((norms - 1) ** 2).mean()


class ExpandedAlphaGP(Regularizer):
    """mimicry/StudioGAN-like WGAN-GP: α of shape (N, 1) expanded to the samples' shape."""

    name, player = "gradient_penalty", "D"

    def penalty(self, batch):
        real, fake = batch.real, batch.fake
        n = real.size(0)
        alpha = torch.rand(n, 1).expand(n, real.nelement() // n).contiguous().view(real.shape)
        x = alpha * real.detach() + (1 - alpha) * fake.detach()
        g = _grad_at(batch.discriminator, x)
        return 10.0 * ((g.view(n, -1).norm(2, dim=1) - 1) ** 2).mean()


class StyleR1(Regularizer):
    """StudioGAN-like R1: ½·E‖∇D(x)‖² over flattened samples, times γ."""

    name, player = "r1", "D"

    def __init__(self, gamma=10.0, sigmoid=False, summed=False):
        self.gamma, self.sigmoid, self.summed = gamma, sigmoid, summed

    def penalty(self, batch):
        x = batch.real.detach().requires_grad_(True)
        out = batch.discriminator(x)
        if self.sigmoid:
            out = torch.sigmoid(out)
        (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
        per_sample = g.square().view(g.size(0), -1).sum(1)
        return self.gamma * 0.5 * (per_sample.sum() if self.summed else per_sample.mean())


def _gp(name, reg, declare=True):
    hooks = {"ganlab_regularizer": lambda: reg}
    if declare:
        hooks["ganlab_claims"] = lambda: C.GradientPenalty(weight=10.0)
    return _plugin(name, **hooks)


def _r1(name, reg, declare=True):
    hooks = {"ganlab_regularizer": lambda: reg}
    if declare:
        hooks["ganlab_claims"] = lambda: C.R1Penalty(gamma=10.0)
    return _plugin(name, **hooks)


# -- bugs -----------------------------------------------------------------------------

def logsigmoid_slip():
    # The old StudioGAN D: log σ(1 - t) written for log(1 - σ(t)), labels on get_device().
    def d_loss(real_scores, fake_scores):
        ones = torch.ones_like(fake_scores, device=fake_scores.get_device())
        return -(F.logsigmoid(real_scores).mean() + F.logsigmoid(ones - fake_scores).mean())

    return _plugin("logsigmoid-slip", ganlab_d_loss=d_loss, ganlab_g_loss=_bce_ones_g,
                   ganlab_claims=lambda: _gan_d_claims() + [_non_saturating()])


def swapped_labels():
    return _plugin("swapped-labels",
                   ganlab_d_loss=lambda real_scores, fake_scores: F.binary_cross_entropy_with_logits(
                       real_scores, torch.zeros(real_scores.size(0)))
                   + F.binary_cross_entropy_with_logits(fake_scores, torch.ones(fake_scores.size(0))),
                   ganlab_g_loss=_bce_ones_g)


def saturating_mislabelled():
    # Docstring and declaration say "saturating (minimax)", the code is the non-saturating loss.
    return _plugin("mislabelled-saturating", ganlab_d_loss=_bce_stacked_d, ganlab_g_loss=_bce_ones_g,
                   ganlab_claims=lambda: [C.GeneratorGradient(lambda l: -expit(l), True,
                                                              "minimax: ∂/∂l log(1-σ(l)) = -σ(l)", "label")])


def relativistic_drop_real():
    # PyTorch-GAN's G loss: only the fake-side term.
    def g_loss(fake_scores, real_scores):
        return _ra_bce(fake_scores, real_scores.detach(), 1.0)

    return _plugin("ra-drop-real", ganlab_d_loss=relativistic_bce().ganlab_d_loss, ganlab_g_loss=g_loss,
                   ganlab_claims=lambda: C.Relativistic())


def relativistic_overwritten():
    # PyTorch-GAN issue #52: the relativistic G loss is overwritten by the standard one.
    def g_loss(fake_scores, real_scores):
        loss = _ra_bce(fake_scores, real_scores.detach(), 1.0)
        loss = F.binary_cross_entropy_with_logits(fake_scores, torch.ones(fake_scores.size(0)))
        return loss

    return _plugin("ra-overwritten", ganlab_d_loss=relativistic_bce().ganlab_d_loss, ganlab_g_loss=g_loss,
                   ganlab_claims=lambda: C.Relativistic())


def relativistic_detached_mean():
    # Both terms, but the fake mean inside the real-side term is detached: no gradient through it.
    def g_loss(fake_scores, real_scores):
        real = real_scores.detach()
        return (_ra_bce(real, fake_scores.detach(), 0.0) + _ra_bce(fake_scores, real, 1.0)) / 2

    return _plugin("ra-detached-mean", ganlab_d_loss=relativistic_bce().ganlab_d_loss, ganlab_g_loss=g_loss,
                   ganlab_claims=lambda: C.Relativistic())


def entries() -> list[Entry]:
    return [
        Entry("stacked-bce", stacked_bce(), True, "torchgan: one BCE over cat(real, fake), float32 labels",
              passes=("optimal-d", "saturation", "d-optimum")),
        Entry("column-scores", column_scores(), True, "mimicry: (N, 1) scores, torch.full labels",
              passes=("optimal-d", "saturation")),
        Entry("sigmoid-bce", sigmoid_bce(), True, "sigmoid D wrapped at the score: BCELoss, legacy Tensor labels",
              passes=("optimal-d", "saturation")),
        Entry("eps-in-log", eps_in_log(), True, "mimicry: -log(σ(t) + 1e-8) in G", passes=("optimal-d",)),
        Entry("get-device", get_device_labels(), True, "StudioGAN: labels on x.get_device()",
              passes=("optimal-d", "saturation")),
        Entry("elementwise-wgan", elementwise_wgan(), True, "StudioGAN: mean(fake - real)",
              passes=("saturation", "dirac-eigen")),
        Entry("half-lsgan", half_lsgan(), True, "StudioGAN: ½ factors, elementwise sum", passes=("optimal-d",)),
        Entry("hinge-style", hinge_mean_style(), True, "mimicry: torch.mean(relu(1 - real))",
              passes=("d-monotone", "g-direction")),
        Entry("relativistic-bce", relativistic_bce(), True, "PyTorch-GAN (fixed): both terms, float32 labels",
              passes=("relativistic-g",)),
        Entry("numpy-alpha-gp", _gp("numpy-alpha-gp", NumpyAlphaGP()), True,
              "PyTorch-GAN: α from numpy, float32 grad_outputs, view(n, -1).norm",
              passes=("wgan-gp-penalty", "wgan-gp-interpolates", "penalty-per-sample", "penalty-draws")),
        Entry("expanded-alpha-gp", _gp("expanded-alpha-gp", ExpandedAlphaGP()), True,
              "mimicry/StudioGAN: α (N, 1) expanded and viewed", passes=("wgan-gp-penalty", "wgan-gp-interpolates")),
        Entry("style-r1", _r1("style-r1", StyleR1()), True, "StudioGAN: ½·square().view(n, -1).sum(1).mean()",
              passes=("r1-real-only", "penalty-per-sample")),
        Entry("undeclared-gp", _gp("undeclared-gp", NumpyAlphaGP(), declare=False), True,
              "a correct gradient penalty that declares nothing", passes=("penalty-per-sample", "penalty-draws")),
        # -- bugs
        Entry("logsigmoid-slip", logsigmoid_slip(), False, "StudioGAN (2020): log σ(1 - t) for log(1 - σ(t))",
              fails=("optimal-d",)),
        Entry("swapped-labels", swapped_labels(), False, "real and fake labels swapped in D", fails=("d-monotone",)),
        Entry("mislabelled-saturating", saturating_mislabelled(), False,
              "non-saturating G declared saturating, float32 labels", fails=("saturation",)),
        Entry("batch-norm-gp", _gp("batch-norm-gp", NumpyAlphaGP(batch_norm=True), declare=False), False,
              "torchgan: g.norm(2) over the whole batch, nothing declared", fails=("penalty-per-sample",)),
        Entry("shared-eps-gp", _gp("shared-eps-gp", NumpyAlphaGP(shared=True), declare=False), False,
              "torchgan: one ε = torch.rand(1).item() for the batch, nothing declared", fails=("penalty-draws",)),
        Entry("per-pixel-norm", _gp("per-pixel-norm", NumpyAlphaGP(flatten=False)), False,
              "PyTorch-GAN (early): g.norm(2, dim=1) on NCHW", fails=("wgan-gp-penalty", "wgan-gp-interpolates")),
        Entry("per-element-eps", _gp("per-element-eps", NumpyAlphaGP(per_element=True)), False,
              "PyTorch-GAN (early): α of the samples' full shape", fails=("wgan-gp-interpolates",)),
        Entry("sigmoid-gp", _gp("sigmoid-gp", NumpyAlphaGP(sigmoid=True)), False, "gradient penalty on σ(D)",
              fails=("wgan-gp-penalty",)),
        Entry("sigmoid-r1", _r1("sigmoid-r1", StyleR1(sigmoid=True)), False, "R1 on σ(D)", fails=("r1-real-only",)),
        Entry("summed-r1", _r1("summed-r1", StyleR1(summed=True), declare=False), False,
              "R1 summed over the batch, nothing declared", fails=("penalty-per-sample",)),
        Entry("ra-drop-real", relativistic_drop_real(), False, "PyTorch-GAN: G's real-side term dropped",
              fails=("relativistic-g",)),
        Entry("ra-overwritten", relativistic_overwritten(), False,
              "PyTorch-GAN #52: G's loss overwritten by the standard one", fails=("relativistic-g",)),
        Entry("ra-detached-mean", relativistic_detached_mean(), False, "G's real-side term with the fake mean detached",
              fails=("relativistic-g",)),
    ]
