"""Fixtures for the verification suite: fresh managers and deliberately wrong plugins.

Wrong plugins are registered into a fresh manager exactly like third-party
ones; the suite must report FAIL for them through the same checks that pass
the built-ins.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ganlab import hookimpl
from ganlab.regularizers import Regularizer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is faster, and the machine is shared. Restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def fresh_pm():
    from ganlab.manager import make_plugin_manager

    return make_plugin_manager(autoload=False)


def plugin(**hooks) -> types.ModuleType:
    """A plugin (a module object: pluggy needs it hashable) from functions marked as hook implementations."""
    module = types.ModuleType("test_plugin")
    for name, fn in hooks.items():
        setattr(module, name, hookimpl(fn))
    return module


def _lsgan_options():
    from ganlab.plugins.lsgan import LSGANOptions

    return LSGANOptions


def _lsgan_claims(options):
    from ganlab.plugins import lsgan

    return lsgan.ganlab_claims(options)


def swapped_lsgan():
    """LSGAN whose D pushes reals to a and fakes to b, still claiming LSGAN's D*."""

    def d_loss(real_scores, fake_scores, options):
        o = options[_lsgan_options()]
        return 0.5 * ((real_scores - o.a) ** 2).mean() + 0.5 * ((fake_scores - o.b) ** 2).mean()

    def g_loss(fake_scores, options):
        o = options[_lsgan_options()]
        return 0.5 * ((fake_scores - o.c) ** 2).mean()

    return plugin(ganlab_options=_lsgan_options, ganlab_d_loss=d_loss, ganlab_g_loss=g_loss,
                  ganlab_claims=_lsgan_claims)


def minimax_labelled_non_saturating():
    """GAN whose G loss is the minimax one while its claims say non-saturating."""
    from ganlab.analysis import claims as C
    from scipy.special import expit

    def d_loss(real_scores, fake_scores):
        return (F.binary_cross_entropy_with_logits(real_scores, torch.ones_like(real_scores))
                + F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores)))

    def g_loss(fake_scores):
        return -F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores))

    def claims():
        return [C.GeneratorGradient(lambda l: expit(l) - 1, False, "σ(l) - 1", "label")]

    return plugin(ganlab_d_loss=d_loss, ganlab_g_loss=g_loss, ganlab_claims=claims)


class BatchNormGP(Regularizer):
    """WGAN-GP's penalty with the norm taken over the whole batch (the classic bug)."""

    name = "gradient_penalty"
    player = "D"

    def penalty(self, batch):
        eps = torch.rand(len(batch.real), *[1] * (batch.real.dim() - 1), dtype=batch.real.dtype)
        x = (eps * batch.real + (1 - eps) * batch.fake).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(batch.discriminator(x).sum(), x, create_graph=True)
        return 10.0 * (grad.norm() - 1) ** 2


def batch_norm_gp():
    from ganlab.analysis import claims as C

    return plugin(ganlab_regularizer=lambda: BatchNormGP(), ganlab_claims=lambda: C.GradientPenalty(weight=10.0))


def load_ragan():
    """The example third-party plugin, imported from its source folder."""
    path = ROOT / "examples" / "ganlab-ragan" / "ganlab_ragan" / "__init__.py"
    spec = importlib.util.spec_from_file_location("ganlab_ragan_example", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def helpers():
    return types.SimpleNamespace(plugin=plugin, swapped_lsgan=swapped_lsgan,
                                 minimax_labelled_non_saturating=minimax_labelled_non_saturating,
                                 batch_norm_gp=batch_norm_gp, load_ragan=load_ragan)


# The suite runs with --import-mode=importlib, so test modules are not on
# sys.path: wrong_plugins.py, beside them, is made importable here.
sys.path.insert(0, str(Path(__file__).resolve().parent))
