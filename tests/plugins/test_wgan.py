"""The wgan plugin: losses, weight clipping, trainer defaults and options."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganlab.errors import ConfigError
from ganlab.plugins import wgan

SMALL_RING = {"data": {"toy_samples": "512"}}


def _losses(pm, real, fake):
    sel = pm.select(["wgan"])
    opts = sel.build_options()
    real, fake = torch.tensor(real), torch.tensor(fake)
    return (
        sel.hook.ganlab_d_loss(real_scores=real, fake_scores=fake, options=opts),
        sel.hook.ganlab_g_loss(fake_scores=fake, real_scores=None, options=opts),
    )


def test_losses_match_closed_form(pm):
    d, g = _losses(pm, [1.0, 3.0], [-2.0, 0.5])
    # E[D(fake)] - E[D(real)] = (-2 + 0.5)/2 - (1 + 3)/2 = -0.75 - 2 = -2.75; -E[D(fake)] = 0.75.
    # All values are exact in binary floating point, so equality is exact.
    assert d.item() == -2.75
    assert g.item() == 0.75
    assert d.shape == () and g.shape == ()


def test_losses_with_unequal_batch_sizes(pm):
    d, _ = _losses(pm, [4.0], [1.0, 2.0, 3.0, 6.0])
    assert d.item() == 3.0 - 4.0  # mean fake 12/4 = 3, mean real 4; exact


def test_gradients_are_constant_per_sample(pm):
    # d/dr_i of -mean(r) is -1/n and d/df_j of mean(f) is +1/m, whatever the scores are.
    real = torch.tensor([10.0, -3.0, 0.0, 7.0], requires_grad=True)
    fake = torch.tensor([5.0, -1.0], requires_grad=True)
    wgan.ganlab_d_loss(real, fake).backward()
    assert torch.equal(real.grad, torch.full((4,), -0.25))
    assert torch.equal(fake.grad, torch.full((2,), 0.5))


def test_clipping_clamps_every_parameter_and_keeps_small_ones():
    layer = nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -1.0, 0.005], [0.02, -0.003, -5.0]]))
        layer.bias.copy_(torch.tensor([0.004, -0.5]))
    wgan.WeightClipping(0.01).after_step(layer)
    assert torch.equal(layer.weight, torch.tensor([[0.01, -0.01, 0.005], [0.01, -0.003, -0.01]]))
    assert torch.equal(layer.bias, torch.tensor([0.004, -0.01]))


def test_after_a_training_step_all_critic_params_are_within_clip(run_tiny):
    c = 0.02
    trainer = run_tiny(["wgan"], data="ring", options={"wgan": {"clip": str(c)}, **SMALL_RING}, fit=False)
    trainer.d_update()
    d_params = torch.cat([p.detach().flatten() for p in trainer.D.parameters()])
    assert d_params.abs().max().item() <= c
    # Clipping binds (PyTorch's init puts some weights beyond 0.02) and leaves G alone.
    assert d_params.abs().max().item() == pytest.approx(c)
    g_params = torch.cat([p.detach().flatten() for p in trainer.G.parameters()])
    assert g_params.abs().max().item() > c


def test_clip_none_disables_clipping(pm):
    sel = pm.select(["wgan"])
    opts = sel.build_options({"wgan": {"clip": "none"}})
    assert sel.hook.ganlab_regularizer(data=None, conditioner=None, options=opts) == []
    default = sel.hook.ganlab_regularizer(data=None, conditioner=None, options=sel.build_options())
    assert [(r.name, r.player, r.clip) for r in default] == [("weight_clip", "D", 0.01)]


@pytest.mark.parametrize("bad", ["0", "-0.01", "inf"])
def test_bad_clip_is_rejected_naming_the_option(pm, bad):
    with pytest.raises(ConfigError, match="clip"):
        pm.select(["wgan"]).build_options({"wgan": {"clip": bad}})


def test_defaults_resolve_to_papers_settings(run_tiny):
    trainer = run_tiny(["wgan"], data="ring", options=SMALL_RING, fit=False)
    assert trainer.setup.train.n_critic == 5
    assert trainer.setup.train.lr == 5e-5
    for opt in (trainer.opt_d, trainer.opt_g):
        assert type(opt) is torch.optim.RMSprop
        assert opt.param_groups[0]["lr"] == 5e-5


def test_user_flag_wins_over_suggested_n_critic(run_tiny):
    trainer = run_tiny(["wgan"], data="ring", options=SMALL_RING, train={"n_critic": 2}, fit=False)
    assert trainer.setup.train.n_critic == 2
    assert trainer.setup.train.lr == 5e-5  # the other suggestion still applies


def test_n_critic_five_means_five_critic_steps_per_generator_step(run_tiny):
    trainer = run_tiny(["wgan"], data="ring", options=SMALL_RING, fit=False)
    calls = []
    original = trainer.d_update
    trainer.d_update = lambda measure=False: calls.append(1) or original(measure)
    trainer.train_step()
    assert len(calls) == 5
