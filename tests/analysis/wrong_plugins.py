"""Deliberately wrong plugins that declare no claims: the generic checks must FAIL them.

Each is a module object (pluggy needs it hashable) built from plain
functions, registered into a fresh manager exactly like a third-party plugin.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F

from ganlab import hookimpl
from ganlab.regularizers import Regularizer


def plugin(name: str = "wrong_plugin", **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(module, hook, hookimpl(fn))
    return module


def _sq_hinge(x):
    return F.relu(1.0 - x).pow(2).mean()


def _squared_hinge(d_swapped: bool = False, g_sign: float = -1.0):
    """Squared hinge: D pushes reals above +1 and fakes below -1 (or the reverse), G's loss g_sign·E[D(G(z))]."""
    def d_loss(real_scores, fake_scores):
        if d_swapped:
            real_scores, fake_scores = fake_scores, real_scores
        return _sq_hinge(real_scores) + _sq_hinge(-fake_scores)

    return plugin(ganlab_d_loss=d_loss, ganlab_g_loss=lambda fake_scores: g_sign * fake_scores.mean())


def squared_hinge():
    """A correct squared-hinge loss: D pushes reals above +1 and fakes below -1; G raises fake scores."""
    return _squared_hinge()


def swapped_squared_hinge():
    """Real and fake swapped in D's loss, and the generator's sign flipped to match."""
    return _squared_hinge(d_swapped=True, g_sign=1.0)


def swapped_d_only():
    """Real and fake swapped in D's loss; G is the correct one."""
    return _squared_hinge(d_swapped=True)


def flipped_generator():
    """A correct squared-hinge D with the generator's sign flipped (G lowers its own scores)."""
    return _squared_hinge(g_sign=1.0)


def flipped_critic_generator():
    """WGAN (no pointwise optimum) with the generator's sign flipped."""
    return plugin(ganlab_d_loss=lambda real_scores, fake_scores: fake_scores.mean() - real_scores.mean(),
                  ganlab_g_loss=lambda fake_scores: fake_scores.mean())


def _half_tanh(x):
    return 0.5 * torch.tanh(x)


def total_variation():
    """f-GAN's total variation written out: D minimises E_fake[½tanh] - E_real[½tanh], optimum at ±∞."""
    return plugin(ganlab_d_loss=lambda real_scores, fake_scores: _half_tanh(fake_scores).mean()
                  - _half_tanh(real_scores).mean(),
                  ganlab_g_loss=lambda fake_scores: -_half_tanh(fake_scores).mean())


def swapped_total_variation():
    """Total variation with real and fake swapped in D's loss (and G's sign flipped to match)."""
    return plugin(ganlab_d_loss=lambda real_scores, fake_scores: _half_tanh(real_scores).mean()
                  - _half_tanh(fake_scores).mean(),
                  ganlab_g_loss=lambda fake_scores: _half_tanh(fake_scores).mean())


def flat_beyond_range():
    """A loss whose scores pass through a hard clamp: every gradient is 0 past |t| = 1e-3.

    The optimum is "at ±∞" only because nothing moves: the fallbacks for flat
    optima must not let it pass.
    """
    def clamp(x):
        return x.clamp(-1e-3, 1e-3) * 0 + x.detach().clamp(-1e-3, 1e-3)
    return plugin(ganlab_d_loss=lambda real_scores, fake_scores: clamp(fake_scores).mean() - clamp(real_scores).mean(),
                  ganlab_g_loss=lambda fake_scores: -clamp(fake_scores).mean())


def always_nan():
    """Losses that are NaN whatever the scores (a 0/0 somewhere), with gradients attached."""
    return plugin(ganlab_d_loss=lambda real_scores, fake_scores: (real_scores.sum() + fake_scores.sum()) * float("nan"),
                  ganlab_g_loss=lambda fake_scores: fake_scores.sum() * float("nan"))


class R1OnFakes(Regularizer):
    """R1's formula on the fake batch instead of the real one."""

    name, player = "r1", "D"

    def __init__(self, gamma: float = 10.0):
        self.gamma = gamma

    def penalty(self, batch):
        x = batch.fake.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(batch.discriminator(x).sum(), x, create_graph=True)
        return 0.5 * self.gamma * grad.flatten(1).pow(2).sum(dim=1).mean()


class SharedEpsilonGP(Regularizer):
    """WGAN-GP with one interpolation coefficient for the whole batch."""

    name, player = "gradient_penalty", "D"

    def __init__(self, weight: float = 10.0):
        self.weight = weight

    def penalty(self, batch):
        eps = torch.rand((), dtype=batch.real.dtype)
        x = (eps * batch.real + (1 - eps) * batch.fake).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(batch.discriminator(x).sum(), x, create_graph=True)
        return self.weight * (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def r1_on_fakes():
    from ganlab.analysis import claims as C

    return plugin(ganlab_regularizer=lambda: R1OnFakes(10.0), ganlab_claims=lambda: C.R1Penalty(gamma=10.0))


def shared_epsilon_gp():
    from ganlab.analysis import claims as C

    return plugin(ganlab_regularizer=lambda: SharedEpsilonGP(10.0),
                  ganlab_claims=lambda: C.GradientPenalty(weight=10.0))
