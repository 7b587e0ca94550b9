"""The hinge plugin: closed forms on known scores and the margin."""

from __future__ import annotations

import torch

from ganlab.plugins import hinge


def _hooks(pm):
    sel = pm.select(["hinge"])
    return sel.hook, sel.build_options()


def test_d_loss_matches_closed_form(pm):
    hook, opts = _hooks(pm)
    real, fake = torch.tensor([2.0, -0.5]), torch.tensor([-3.0, 0.5])
    # real: relu(1 - 2) = 0, relu(1 + 0.5) = 1.5 -> mean 0.75
    # fake: relu(1 - 3) = 0, relu(1 + 0.5) = 1.5 -> mean 0.75
    # Every intermediate is a short binary fraction, so the sum is exact.
    assert hook.ganlab_d_loss(real_scores=real, fake_scores=fake, options=opts).item() == 1.5


def test_g_loss_matches_closed_form(pm):
    hook, opts = _hooks(pm)
    fake = torch.tensor([-3.0, 0.5])
    assert hook.ganlab_g_loss(fake_scores=fake, real_scores=None, options=opts).item() == 1.25  # -(-2.5 / 2)


def test_d_loss_is_zero_beyond_the_margin():
    real, fake = torch.tensor([1.0, 4.0]), torch.tensor([-1.0, -2.5])
    assert hinge.ganlab_d_loss(real, fake).item() == 0.0


def test_gradient_vanishes_only_for_samples_beyond_the_margin():
    real = torch.tensor([2.0, 0.0, -1.0, 0.5], requires_grad=True)
    fake = torch.tensor([-2.0, 0.25], requires_grad=True)
    hinge.ganlab_d_loss(real, fake).backward()
    # d/dr_i relu(1 - r_i)/n = -1/n where r_i < 1, else 0 (n = 4); d/df_j relu(1 + f_j)/m = 1/m where f_j > -1 (m = 2).
    assert torch.equal(real.grad, torch.tensor([0.0, -0.25, -0.25, -0.25]))
    assert torch.equal(fake.grad, torch.tensor([0.0, 0.5]))


def test_d_loss_with_unequal_batch_sizes():
    real, fake = torch.tensor([0.0]), torch.tensor([0.0, 1.0, -3.0])
    # real: relu(1) = 1; fake: (1 + 2 + 0) / 3 = 1 (3/3 is exact) -> 2.
    assert hinge.ganlab_d_loss(real, fake).item() == 2.0
