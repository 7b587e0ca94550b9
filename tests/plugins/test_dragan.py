"""DRAGAN: the per-sample norm (not per pixel), the perturbation around reals, verify and training."""

from __future__ import annotations

import types

import pytest
import torch

from ganlab import hookimpl
from ganlab.analysis import claims as C
from ganlab.analysis.suite import verify
from ganlab.errors import GanlabError
from ganlab.plugins import dragan
from ganlab.regularizers import PenaltyBatch, Regularizer


class Linear(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = w

    def forward(self, x, labels=None):
        return x.flatten(1) @ self.w.flatten()


def test_linear_critic_on_images_gives_lambda_times_norm_minus_one_squared():
    torch.manual_seed(0)
    real = torch.rand(8, 1, 4, 4, dtype=torch.float64) * 2 - 1
    w = torch.full((16,), 0.5, dtype=torch.float64)  # ‖w‖ = 2, every component 0.5
    got = dragan.DRAGANPenalty(weight=10.0).penalty(
        PenaltyBatch(real=real, fake=real, fake_scores=Linear(w)(real), discriminator=Linear(w)))
    assert got.item() == pytest.approx(10.0 * (2 - 1) ** 2, rel=1e-12)
    # Per pixel the gradient's entries are 0.5 each: λ·mean((0.5 - 1)²) = 2.5, which the line above rules out.


def test_points_stay_near_the_reals_and_move():
    torch.manual_seed(0)
    real = torch.randn(64, 2)
    x_hat = dragan.perturb(real)
    shift = x_hat - real
    assert (shift >= 0).all() and (shift <= 0.5 * real.std(unbiased=False) + 1e-6).all()
    assert shift.abs().max() > 0


class PerPixel(Regularizer):
    """DRAGAN with the norm taken per pixel: (|∂D/∂x_j| - 1)² averaged over elements."""

    name, player = "dragan", "D"

    def penalty(self, batch):
        x = dragan.perturb(batch.real).requires_grad_(True)
        (grad,) = torch.autograd.grad(batch.discriminator(x).sum(), x, create_graph=True)
        return 10.0 * ((grad.abs() - 1) ** 2).mean()


def test_verify_fails_a_per_pixel_norm(pm):
    module = types.ModuleType("per_pixel")
    module.ganlab_regularizer = hookimpl(lambda: PerPixel())
    module.ganlab_claims = hookimpl(lambda: C.GradientPenalty(weight=10.0, around="real"))
    pm.add_plugin(module, "per-pixel", source="test")
    report = verify(pm, ["per-pixel"])
    failed = {r.claim for r in report.results if r.status == C.FAIL}
    assert "wgan-gp-penalty" in failed, failed


def test_verify_fails_a_penalty_at_the_fakes(pm):
    class AtFakes(Regularizer):
        name, player = "dragan", "D"

        def penalty(self, batch):
            return 10.0 * dragan.dragan_penalty(batch.discriminator, batch.fake)

    module = types.ModuleType("at_fakes")
    module.ganlab_regularizer = hookimpl(lambda: AtFakes())
    module.ganlab_claims = hookimpl(lambda: C.GradientPenalty(weight=10.0, around="real"))
    pm.add_plugin(module, "at-fakes", source="test")
    failed = {r.claim for r in verify(pm, ["at-fakes"]).results if r.status == C.FAIL}
    assert "dragan-near-real" in failed


def test_builtin_passes_verify(pm):
    report = verify(pm, ["dragan"])
    assert report.ok
    assert {r.claim for r in report.results if r.status == C.PASS} >= {"wgan-gp-penalty", "dragan-near-real"}


@pytest.mark.parametrize("data", ["ring", "mnist-embedded"])
def test_trains_with_a_loss(run_tiny, data):
    options = {"data": {"toy_samples": "512"}} if data == "ring" else {}
    trainer = run_tiny(["dragan", "hinge"], data=data, options=options, fit=False)
    out = trainer.d_update()
    assert out.penalties["dragan"].item() >= 0
    trainer.fit()


def test_batch_norm_critic_is_rejected(run_tiny):
    with pytest.raises(GanlabError, match="dragan penalises each sample"):
        run_tiny(["dcgan", "dragan"], fit=False)


@pytest.mark.parametrize("slope", [0.5, 2.0])
def test_one_sided_penalises_only_slopes_above_one(slope):
    torch.manual_seed(0)
    real = torch.randn(16, 2, dtype=torch.float64)
    w = torch.tensor([slope, 0.0], dtype=torch.float64)
    batch = PenaltyBatch(real=real, fake=real, fake_scores=Linear(w)(real), discriminator=Linear(w))
    two_sided = dragan.DRAGANPenalty(weight=10.0).penalty(batch).item()
    one_sided = dragan.DRAGANPenalty(weight=10.0, one_sided=True).penalty(batch).item()
    assert two_sided == pytest.approx(10.0 * (slope - 1) ** 2, rel=1e-12)
    assert one_sided == pytest.approx(10.0 * max(0.0, slope - 1) ** 2, rel=1e-12)


def test_one_sided_option_reaches_the_penalty_and_its_claim(pm):
    # The claim then expects 0 at slope 0.5: only a penalty that is one-sided itself passes.
    report = verify(pm, ["dragan"], options={"dragan": {"one_sided": "true"}})
    assert report.ok
    gp = [r for r in report.results if r.claim == "wgan-gp-penalty"]
    assert gp and gp[0].status == C.PASS and gp[0].data["expected"][0] == 0.0


def test_verify_compares_a_one_sided_penalty_where_it_is_active(pm):
    # Scores the perturbed points, but takes the penalty's value at the unperturbed reals. Near the
    # reals the probe critic's slope is below 1 unless verify scales it, and a one-sided penalty would
    # be 0 at either set of points: the read-back comparison must still see the difference.
    class ValueAtReals(Regularizer):
        name, player = "dragan", "D"

        def penalty(self, batch):
            x = batch.real.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(batch.discriminator(x).sum(), x, create_graph=True)
            batch.discriminator(dragan.perturb(batch.real))  # the last call: what verify reads back
            return 10.0 * ((grad.norm(dim=1) - 1).clamp(min=0) ** 2).mean()

    module = types.ModuleType("value_at_reals")
    module.ganlab_regularizer = hookimpl(lambda: ValueAtReals())
    module.ganlab_claims = hookimpl(lambda: C.GradientPenalty(weight=10.0, one_sided=True, around="real"))
    pm.add_plugin(module, "value-at-reals", source="test")
    failed = {r.claim for r in verify(pm, ["value-at-reals"]).results if r.status == C.FAIL}
    assert "dragan-near-real" in failed
