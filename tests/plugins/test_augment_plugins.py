"""cr / bCR and diffaugment: hand-checked penalties, differentiability, both players see T, images only."""

from __future__ import annotations

import pytest
import torch

from ganlab import augment as A
from ganlab.errors import GanlabError
from ganlab.plugins.cr import ConsistencyPenalty
from ganlab.plugins.diffaugment import AugmentedDiscriminator
from ganlab.regularizers import PenaltyBatch


class Linear(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.w = torch.nn.Parameter(torch.linspace(-1, 1, n))

    def forward(self, x, labels=None):
        return x.flatten(1) @ self.w


def _images(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g) * 2 - 1


@pytest.mark.parametrize("name", list(A.POLICIES))
def test_ops_keep_shape_and_pass_gradients(name):
    x = _images().requires_grad_(True)
    y = A.augment(x, [name])
    assert y.shape == x.shape
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_translation_moves_content_and_cutout_zeroes_a_quarter():
    torch.manual_seed(1)
    x = torch.ones(32, 1, 8, 8)
    shifted = A.translation(x)
    assert (shifted == 0).any() and (shifted.sum(dim=(1, 2, 3)) <= 64).all()
    cut = A.cutout(x)
    assert ((cut == 0).flatten(1).sum(1) <= 16).all() and (cut == 0).any()  # a 4×4 square, clipped at edges


def test_cr_penalty_by_hand_and_balanced_adds_the_fakes():
    D = Linear(64)
    real, fake = _images(seed=0), _images(seed=1)
    batch = PenaltyBatch(real=real, fake=fake, fake_scores=D(fake), discriminator=D)
    torch.manual_seed(0)
    got = ConsistencyPenalty(weight=10.0).penalty(batch)
    torch.manual_seed(0)
    want = 10.0 * (D(real) - D(A.augment(real, ["translation"]))).pow(2).mean()
    assert got.item() == pytest.approx(want.item(), rel=1e-6)

    torch.manual_seed(0)
    both = ConsistencyPenalty(weight=10.0, balanced=True, fake_weight=5.0).penalty(batch)
    torch.manual_seed(0)
    t_real = A.augment(real, ["translation"])
    t_fake = A.augment(fake, ["translation"])
    want_b = 10.0 * (D(real) - D(t_real)).pow(2).mean() + 5.0 * (D(fake) - D(t_fake)).pow(2).mean()
    assert both.item() == pytest.approx(want_b.item(), rel=1e-6)
    assert both.item() > got.item()


def test_diffaugment_is_differentiable_and_only_in_training_mode():
    D = AugmentedDiscriminator(Linear(64), ["color", "translation", "cutout"])
    x = _images().requires_grad_(True)
    D.train()
    (g,) = torch.autograd.grad(D(x).sum(), x)
    assert torch.isfinite(g).all() and g.abs().sum() > 0
    torch.manual_seed(0)
    assert not torch.allclose(D(x), D.inner(x))
    D.eval()
    assert torch.equal(D(x), D.inner(x))


def test_diffaugment_reaches_both_players(run_tiny):
    trainer = run_tiny(["diffaugment", "hinge"], fit=False)
    assert isinstance(trainer.D, AugmentedDiscriminator)
    calls = []
    trainer.D.register_forward_pre_hook(lambda m, args: calls.append(m.training))
    out = trainer.d_update()
    trainer.g_update(out.real, out.real_labels)
    assert calls and all(calls)  # every score of both updates went through T
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainer.G.parameters())


@pytest.mark.parametrize("plugins", [["diffaugment"], ["cr"]])
def test_points_are_rejected(run_tiny, plugins):
    with pytest.raises(GanlabError, match="2-D points"):
        run_tiny(plugins, data="ring")


@pytest.mark.parametrize("plugins, options", [
    (["cr", "gan"], {}),
    (["cr", "lsgan"], {"cr": {"balanced": "true"}}),
    (["diffaugment", "relativistic"], {}),
    (["diffaugment", "cr", "r1"], {"diffaugment": {"policy": "translation"}}),
])
def test_trains_on_mnist(run_tiny, plugins, options):
    trainer = run_tiny(plugins, options=options)
    assert trainer.step == 3


def test_bad_policy_is_an_option_error(pm):
    from ganlab.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown augmentation"):
        pm.select(["diffaugment"]).build_options({"diffaugment": {"policy": "rotate"}})
