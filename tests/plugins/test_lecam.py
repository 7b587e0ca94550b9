"""LeCam regularization: anchors as moving averages of the other side, hand-computed penalties, training."""

from __future__ import annotations

import pytest
import torch

from ganlab.plugins.lecam import LeCamPenalty
from ganlab.regularizers import PenaltyBatch


def _batch(real, fake):
    real, fake = torch.tensor(real), torch.tensor(fake)
    return PenaltyBatch(real=real[:, None], fake=fake[:, None], real_scores=real, fake_scores=fake,
                        discriminator=lambda x, labels=None: x.flatten())


def test_first_step_anchors_are_the_batch_means_and_pull_across():
    reg = LeCamPenalty(weight=1.0, decay=0.99)
    # real mean 2, fake mean -1: reals pulled to α_F = -1, fakes to α_R = 2.
    got = reg.penalty(_batch([1.0, 3.0], [0.0, -2.0]))
    expected = ((1 + 1) ** 2 + (3 + 1) ** 2) / 2 + ((0 - 2) ** 2 + (-2 - 2) ** 2) / 2
    assert got.item() == pytest.approx(expected)
    assert (reg.anchor_real, reg.anchor_fake) == (2.0, -1.0)


def test_anchors_are_moving_averages_with_the_declared_decay():
    reg = LeCamPenalty(weight=0.5, decay=0.9)
    reg.penalty(_batch([2.0], [-1.0]))
    got = reg.penalty(_batch([4.0], [1.0]))
    a_r, a_f = 0.9 * 2 + 0.1 * 4, 0.9 * -1 + 0.1 * 1
    assert reg.anchor_real == pytest.approx(a_r) and reg.anchor_fake == pytest.approx(a_f)
    assert got.item() == pytest.approx(0.5 * ((4 - a_f) ** 2 + (1 - a_r) ** 2))


def test_hinged_form_only_penalises_crossing_the_anchor():
    reg = LeCamPenalty(weight=1.0, hinged=True)
    # α_F = -1, α_R = 2: real 1 and 3 lie above α_F (penalised), fakes 0, -2 below α_R (penalised).
    assert reg.penalty(_batch([1.0, 3.0], [0.0, -2.0])).item() == pytest.approx((4 + 16) / 2 + (4 + 16) / 2)
    reg2 = LeCamPenalty(weight=1.0, hinged=True)
    reg2.load_state_dict({"anchor_real": -5.0, "anchor_fake": 10.0})
    assert reg2.penalty(_batch([1.0], [0.0])).item() == 0.0  # real below α_F, fake above α_R


def test_gradient_reaches_the_scores_not_the_anchors():
    reg = LeCamPenalty(weight=1.0)
    real = torch.tensor([1.0, 3.0], requires_grad=True)
    fake = torch.tensor([0.0, -2.0], requires_grad=True)
    batch = PenaltyBatch(real=real[:, None], fake=fake[:, None], real_scores=real, fake_scores=fake,
                         discriminator=lambda x, labels=None: x.flatten())
    gr, gf = torch.autograd.grad(reg.penalty(batch), (real, fake))
    # ∂/∂r_i of mean (r - α_F)² = 2(r_i - α_F)/n with α_F = -1 a constant.
    assert torch.allclose(gr, torch.tensor([2.0, 4.0])) and torch.allclose(gf, torch.tensor([-2.0, -4.0]))


def test_state_round_trip():
    reg = LeCamPenalty()
    reg.penalty(_batch([1.0], [0.0]))
    other = LeCamPenalty()
    other.load_state_dict(reg.state_dict())
    assert other.state_dict() == reg.state_dict() == {"anchor_real": 1.0, "anchor_fake": 0.0}


@pytest.mark.parametrize("data", ["ring", "mnist-embedded"])
def test_trains_with_lsgan(run_tiny, data):
    options = {"data": {"toy_samples": "512"}} if data == "ring" else {}
    trainer = run_tiny(["lsgan", "lecam"], data=data, options=options, fit=False)
    out = trainer.d_update()
    assert out.penalties["lecam"].item() >= 0
    trainer.fit()
