"""The wgan-gp plugin: the gradient penalty's closed forms, its per-sample norm,
the interpolates, options and trainer defaults."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganlab.errors import ConfigError
from ganlab.plugins import wgan, wgan_gp
from ganlab.plugins.wgan_gp import GradientPenalty, gradient_penalty, interpolate
from ganlab.regularizers import PenaltyBatch


class LinearCritic(nn.Module):
    """D(x) = w · flatten(x): its input gradient is w for every sample."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))
        self.inputs, self.labels = [], []

    def forward(self, x, labels=None):
        self.inputs.append(x.detach().clone())
        self.labels.append(labels)
        return x.flatten(1) @ self.w


class QuadraticCritic(nn.Module):
    """D(x) = ½‖x‖²: its input gradient is x itself, so each sample's norm is its own."""

    def forward(self, x, labels=None):
        return 0.5 * x.flatten(1).pow(2).sum(dim=1)


def _batch(real, fake, critic, real_labels=None, fake_labels=None):
    return PenaltyBatch(real=real, fake=fake, real_labels=real_labels, fake_labels=fake_labels,
                        fake_scores=torch.zeros(len(fake)), discriminator=critic)


# float32 sums of a few terms: 1e-6 relative covers their rounding (eps ~ 1.2e-7 per operation).
REL = 1e-6


def test_linear_critic_penalty_is_norm_minus_one_squared():
    # ‖w‖ = sqrt(1 + 4 + 4 + 16) = 5 over all non-batch dims of (1, 2, 2) samples -> (5 - 1)^2 = 16.
    critic = LinearCritic([1.0, 2.0, 2.0, 4.0])
    real, fake = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(16.0, rel=REL)
    # The regularizer multiplies by λ: 10 by default, 16 * 10 = 160.
    assert GradientPenalty().penalty(_batch(real, fake, critic)).item() == pytest.approx(160.0, rel=REL)
    assert GradientPenalty(weight=2.5).penalty(_batch(real, fake, critic)).item() == pytest.approx(40.0, rel=REL)


def test_norm_is_per_sample_not_batch_wide():
    # ‖w‖ = 1, so every sample's gradient has norm 1 and the penalty is 0 (up to
    # the rounding of sqrt(0.36 + 0.64), squared: < 1e-12). A norm over the whole
    # batch's gradient would be sqrt(4) = 2, giving (2 - 1)^2 = 1.
    critic = LinearCritic([0.6, 0.8])
    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    assert gradient_penalty(critic, real, fake).item() < 1e-12
    x = interpolate(real, fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    batch_wide = (grad.norm() - 1) ** 2
    assert batch_wide.item() == pytest.approx(1.0, rel=REL)


def test_crafted_critic_separates_per_sample_from_other_norms():
    # With real == fake, x̂ = real for any ε. D = ½‖x‖² has gradient x, so sample
    # norms are ‖[[1, 2], [2, 0]]‖ = 3 and 0: per sample ((3-1)^2 + (0-1)^2) / 2 = 2.5.
    # Batch-wide: (3 - 1)^2 = 4. Mean norm first: (1.5 - 1)^2 = 0.25. Per row of
    # the last dim: norms sqrt(5), 2, 0, 0 give another value again.
    x = torch.tensor([[[[1.0, 2.0], [2.0, 0.0]]], [[[0.0, 0.0], [0.0, 0.0]]]])
    assert gradient_penalty(QuadraticCritic(), x, x.clone()).item() == pytest.approx(2.5, rel=REL)


def test_one_sided_penalises_only_norms_above_one():
    real, fake = torch.randn(5, 2), torch.randn(5, 2)
    small = LinearCritic([0.3, 0.4])  # ‖w‖ = 0.5
    assert gradient_penalty(small, real, fake, one_sided=True).item() == 0.0  # max(0, -0.5)^2, exact
    assert gradient_penalty(small, real, fake).item() == pytest.approx(0.25, rel=REL)
    large = LinearCritic([3.0, 4.0])  # ‖w‖ = 5: both variants give 16
    assert gradient_penalty(large, real, fake, one_sided=True).item() == pytest.approx(16.0, rel=REL)
    assert gradient_penalty(large, real, fake).item() == pytest.approx(16.0, rel=REL)


def test_interpolates_use_one_uniform_epsilon_per_sample():
    critic = LinearCritic([1.0] * 9)
    real, fake = torch.ones(64, 1, 3, 3), torch.zeros(64, 1, 3, 3)
    gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    x_hat = critic.inputs[-1].flatten(1)  # x̂_i = ε_i everywhere in sample i
    eps = x_hat[:, 0]
    assert torch.equal(x_hat, eps[:, None].expand_as(x_hat))  # broadcast over non-batch dims
    assert bool(((eps >= 0) & (eps <= 1)).all())
    # U[0, 1] has std 0.289; the mean of 64 draws has std 0.036, so 0.5 ± 0.15 is a 4σ band
    # (and the seeded generator makes this one draw fixed).
    assert eps.std().item() > 0.15
    assert abs(eps.mean().item() - 0.5) < 0.15
    gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    assert torch.equal(critic.inputs[-1], critic.inputs[-2])  # the generator drives ε


def test_penalty_is_differentiable_in_critic_parameters():
    # create_graph=True: d/dw (‖w‖ - 1)^2 = 2 (‖w‖ - 1) w / ‖w‖ = 2 * 2 * w / 3 for w = [1, 2, 2].
    critic = LinearCritic([1.0, 2.0, 2.0])
    gradient_penalty(critic, torch.randn(4, 3), torch.randn(4, 3)).backward()
    expected = torch.tensor([1.0, 2.0, 2.0]) * 4 / 3
    assert torch.allclose(critic.w.grad, expected, rtol=REL, atol=0)


def test_no_gradient_flows_back_into_the_samples():
    critic = LinearCritic([1.0, 2.0])
    real = torch.randn(3, 2, requires_grad=True)
    fake = torch.randn(3, 2, requires_grad=True)  # as if it carried G's graph
    gradient_penalty(critic, real, fake).backward()
    assert real.grad is None and fake.grad is None


class PerClassLinearCritic(nn.Module):
    """D(x, y) = w_y · x: its input gradient is w_y, so the penalty shows which label each x̂ got."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))
        self.inputs, self.labels = [], []

    def forward(self, x, labels):
        self.inputs.append(x.detach().clone())
        self.labels.append(labels.clone())
        return (x * self.w[labels]).sum(dim=1)


def test_conditional_interpolates_join_a_real_and_a_fake_of_one_label():
    # The trainer draws fake labels independently, so the label sets differ.
    # Reals of classes 0, 1, 2 sit at x = (y, 1), fakes at (y, -1): x̂ between a
    # real and a fake of one class y has first coordinate exactly y.
    real_labels, fake_labels = torch.tensor([0, 1, 2]), torch.tensor([2, 0, 0, 5])
    real = torch.stack([real_labels.double(), torch.ones(3, dtype=torch.float64)], dim=1)
    fake = torch.stack([fake_labels.double(), -torch.ones(4, dtype=torch.float64)], dim=1)
    # ‖w_0‖ = 5, ‖w_1‖ = 3, ‖w_2‖ = 1; class 5 has no real, so its fake is left out.
    w = [[3.0, 4.0], [0.0, 3.0], [0.6, 0.8], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]
    critic = PerClassLinearCritic(w).double()
    value = GradientPenalty(weight=10.0).penalty(_batch(real, fake, critic, real_labels, fake_labels))
    x_hat, labels = critic.inputs[-1], critic.labels[-1]
    assert labels.tolist() == [2, 0, 0]  # the fakes' order, each scored with its shared label
    # ε·y + (1 - ε)·y differs from y by float64 rounding only (< 1e-15 for y <= 2).
    assert torch.allclose(x_hat[:, 0], labels.double(), rtol=0, atol=1e-12)
    assert bool(((x_hat[:, 1] >= -1) & (x_hat[:, 1] <= 1)).all())
    # Same-label pairs give λ·mean((‖w_2‖-1)², (‖w_0‖-1)², (‖w_0‖-1)²) = 10·(0 + 16 + 16)/3.
    # Pairing by index under the real labels would give 10·(16 + 4 + 0)/3 instead.
    assert value.item() == pytest.approx(320 / 3, rel=1e-12)


def test_conditional_penalty_is_zero_without_a_shared_label():
    critic = PerClassLinearCritic([[3.0, 4.0]] * 8)
    real_labels, fake_labels = torch.tensor([0, 1, 2]), torch.tensor([7, 7, 7])
    batch = _batch(torch.randn(3, 2), torch.randn(3, 2), critic, real_labels, fake_labels)
    assert GradientPenalty().penalty(batch).item() == 0.0
    assert critic.inputs == []  # nothing to interpolate, so the critic is not asked


def test_same_label_pairs_reuse_recons_rule():
    import ganlab.pairing
    from ganlab.plugins import recon

    # One pairing rule, from the host, so the two plugins' pairs agree.
    assert wgan_gp.pair_by_label is ganlab.pairing.pair_by_label is recon.pair_by_label
    real, fake = torch.arange(4.0)[:, None], 10 + torch.arange(3.0)[:, None]
    r, f, y = wgan_gp.same_label_pairs(real, fake, torch.tensor([1, 0, 0, 1]), torch.tensor([0, 0, 0]))
    # Reals of class 0 are rows 1 and 2, used in turn: fakes 0, 1, 2 take reals 1, 2, 1.
    assert (r.flatten().tolist(), f.flatten().tolist(), y.tolist()) == ([1, 2, 1], [10, 11, 12], [0, 0, 0])


def test_conditional_run_trains_with_the_penalty(run_tiny):
    trainer = run_tiny(["cgan", "wgan-gp"], fit=False)
    out = trainer.train_step()
    # Seeded, so one fixed draw: 16 fakes over 10 classes share classes with 16 reals, and the
    # untrained critic's gradient norms are not 1, so the penalty is positive.
    assert out.penalties["gradient_penalty"].item() > 0


def test_unequal_batches_pair_up_to_the_shorter():
    critic = LinearCritic([3.0, 4.0])
    value = gradient_penalty(critic, torch.randn(3, 2), torch.randn(5, 2), labels=torch.tensor([0, 1, 2]))
    assert critic.inputs[-1].shape == (3, 2)
    assert value.item() == pytest.approx(16.0, rel=REL)


def test_losses_are_wgans(pm):
    sel = pm.select(["wgan-gp"])
    opts = sel.build_options()
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-2.0, 0.5])
    # Closed forms as in test_wgan: -0.75 - 2 = -2.75 and 0.75 (exact binary fractions).
    assert sel.hook.ganlab_d_loss(real_scores=real, fake_scores=fake, options=opts).item() == -2.75
    assert sel.hook.ganlab_g_loss(fake_scores=fake, real_scores=None, options=opts).item() == 0.75
    # Written again rather than imported (plugins never import each other): they must agree with wgan's.
    for seed in range(3):
        gen = torch.Generator().manual_seed(seed)
        real, fake = torch.randn(5, generator=gen), torch.randn(7, generator=gen)
        assert torch.equal(wgan_gp.ganlab_d_loss(real, fake), wgan.ganlab_d_loss(real, fake))
        assert torch.equal(wgan_gp.ganlab_g_loss(fake), wgan.ganlab_g_loss(fake))


def test_defaults_resolve_to_papers_settings_without_clipping(run_tiny):
    trainer = run_tiny(["wgan-gp"], data="ring", options={"data": {"toy_samples": "512"}}, fit=False)
    t = trainer.setup.train
    assert (t.n_critic, t.lr, tuple(t.betas)) == (5, 1e-4, (0.0, 0.9))
    for opt in (trainer.opt_d, trainer.opt_g):
        assert type(opt) is torch.optim.Adam
        assert opt.param_groups[0]["betas"] == (0.0, 0.9)
    assert [(r.name, r.player) for r in trainer.setup.regularizers] == [("gradient_penalty", "D")]


def test_options_reach_the_regularizer(pm):
    sel = pm.select(["wgan-gp"])
    opts = sel.build_options({"wgan-gp": {"weight": "2.5", "one_sided": "true"}})
    (reg,) = sel.hook.ganlab_regularizer(data=None, conditioner=None, options=opts)
    assert (reg.weight, reg.one_sided) == (2.5, True)


@pytest.mark.parametrize("bad", ["-1", "inf"])
def test_bad_weight_is_rejected_naming_the_option(pm, bad):
    with pytest.raises(ConfigError, match="weight"):
        pm.select(["wgan-gp"]).build_options({"wgan-gp": {"weight": bad}})
