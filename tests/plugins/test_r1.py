"""The r1 plugin: closed forms of (γ/2)·E‖∇D(x_real)‖² and where it is applied."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganlab.errors import ConfigError
from ganlab.plugins.r1 import R1Penalty, r1_penalty
from ganlab.regularizers import PenaltyBatch


class LinearCritic(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))
        self.labels = []

    def forward(self, x, labels=None):
        self.labels.append(labels)
        return x.flatten(1) @ self.w


class QuadraticCritic(nn.Module):
    def forward(self, x, labels=None):
        return 0.5 * x.flatten(1).pow(2).sum(dim=1)  # gradient: x


def _batch(real, fake, critic, real_labels=None):
    return PenaltyBatch(real=real, fake=fake, real_labels=real_labels, fake_labels=None,
                        fake_scores=torch.zeros(len(fake)), discriminator=critic)


REL = 1e-6  # float32 sums of a handful of terms: rounding is a few eps (1.2e-7)


def test_linear_critic_closed_form():
    # ∇D = w with ‖w‖² = 1 + 4 + 4 = 9 for every sample: (γ/2)·9 = 45 for γ = 10, 18 for γ = 4.
    critic = LinearCritic([1.0, 2.0, 2.0])
    real = torch.randn(5, 3)
    assert r1_penalty(critic, real).item() == pytest.approx(9.0, rel=REL)
    assert R1Penalty().penalty(_batch(real, real, critic)).item() == pytest.approx(45.0, rel=REL)
    assert R1Penalty(gamma=4.0).penalty(_batch(real, real, critic)).item() == pytest.approx(18.0, rel=REL)


def test_quadratic_critic_closed_form_per_sample_over_all_dims():
    # ∇D(x) = x: ‖x_1‖² = 1 + 4 + 4 + 0 = 9, ‖x_2‖² = 1; mean 5; (10/2)·5 = 25.
    real = torch.tensor([[[[1.0, 2.0], [2.0, 0.0]]], [[[0.0, 1.0], [0.0, 0.0]]]])
    assert R1Penalty().penalty(_batch(real, real, QuadraticCritic())).item() == pytest.approx(25.0, rel=REL)


def test_only_real_samples_are_penalised():
    real = torch.ones(4, 2)  # ‖x‖² = 2 each: 5 * 2 = 10
    fake = torch.full((4, 2), 100.0)  # would give 5 * 20000 if it were used
    assert R1Penalty().penalty(_batch(real, fake, QuadraticCritic())).item() == pytest.approx(10.0, rel=REL)


def test_penalty_is_differentiable_in_critic_parameters():
    # d/dw (γ/2)‖w‖² = γ·w.
    critic = LinearCritic([1.0, 2.0, 2.0])
    R1Penalty(gamma=3.0).penalty(_batch(torch.randn(4, 3), torch.randn(4, 3), critic)).backward()
    assert torch.allclose(critic.w.grad, torch.tensor([3.0, 6.0, 6.0]), rtol=REL, atol=0)


def test_conditional_critic_gets_real_labels_and_samples_stay_untouched():
    critic = LinearCritic([1.0, 1.0])
    real = torch.randn(3, 2, requires_grad=True)
    labels = torch.tensor([2, 0, 1])
    R1Penalty().penalty(_batch(real, torch.randn(3, 2), critic, labels)).backward()
    assert torch.equal(critic.labels[-1], labels)
    assert real.grad is None  # the penalty constrains D, not the data


def test_gamma_option_and_validation(pm):
    sel = pm.select(["r1"])
    opts = sel.build_options({"r1": {"gamma": "0.5"}})
    (reg,) = sel.hook.ganlab_regularizer(data=None, conditioner=None, options=opts)
    assert (reg.name, reg.player, reg.gamma) == ("r1", "D", 0.5)
    with pytest.raises(ConfigError, match="gamma"):
        sel.build_options({"r1": {"gamma": "-1"}})


def test_penalty_is_added_to_the_critic_update(run_tiny):
    trainer = run_tiny(["r1"], data="ring", options={"data": {"toy_samples": "512"}}, fit=False)
    out = trainer.d_update()
    assert out.penalties["r1"].item() > 0
    assert trainer.g_update(out.real, out.real_labels).penalties == {}  # a D penalty only
