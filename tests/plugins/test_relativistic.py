"""Relativistic GANs: hand-computed values, the other-batch mean, G's real-side term, verify's view."""

from __future__ import annotations

import math
import types

import pytest
import torch
import torch.nn.functional as F

from ganlab import hookimpl
from ganlab.analysis import claims as C
from ganlab.analysis.suite import verify
from ganlab.plugins import relativistic as R

# real mean 2, fake mean -1, chosen so that same-batch means (2 and -1 subtracted from their
# own batches) give different numbers from other-batch means.
REAL = torch.tensor([1.0, 3.0], dtype=torch.float64)
FAKE = torch.tensor([0.0, -2.0], dtype=torch.float64)


def sp(x):
    return math.log1p(math.exp(x))


# C̃(x_r) = real - mean(fake) = (2, 4); C̃(x_f) = fake - mean(real) = (-2, -4).
D_EXPECTED = {
    "rsgan": (sp(-(1 - 0)) + sp(-(3 + 2))) / 2,                      # pairs (1, 0), (3, -2)
    "rasgan": (sp(-2) + sp(-4)) / 2 + (sp(-2) + sp(-4)) / 2,
    "ralsgan": ((2 - 1) ** 2 + (4 - 1) ** 2) / 2 + ((-2 + 1) ** 2 + (-4 + 1) ** 2) / 2,
    "rahinge": (max(0, 1 - 2) + max(0, 1 - 4)) / 2 + (max(0, 1 - 2) + max(0, 1 - 4)) / 2,
}
# G swaps the roles: fake - mean(real) = (-2, -4) pushed up, real - mean(fake) = (2, 4) pushed down.
G_EXPECTED = {
    "rsgan": (sp(-(0 - 1)) + sp(-(-2 - 3))) / 2,
    "rasgan": (sp(2) + sp(4)) / 2 + (sp(2) + sp(4)) / 2,
    "ralsgan": ((-2 - 1) ** 2 + (-4 - 1) ** 2) / 2 + ((2 + 1) ** 2 + (4 + 1) ** 2) / 2,
    "rahinge": (3 + 5) / 2 + (3 + 5) / 2,
}


@pytest.mark.parametrize("kind", list(D_EXPECTED))
def test_hand_computed_losses(kind):
    assert R.d_loss(REAL, FAKE, kind).item() == pytest.approx(D_EXPECTED[kind], abs=1e-12)
    assert R.g_loss(FAKE, REAL, kind).item() == pytest.approx(G_EXPECTED[kind], abs=1e-12)


def test_same_batch_mean_would_give_another_value():
    # The bug: subtracting a batch's own mean. The hand-computed values above exclude it.
    same = F.softplus(-(REAL - REAL.mean())).mean() + F.softplus(FAKE - FAKE.mean()).mean()
    assert abs(same.item() - D_EXPECTED["rasgan"]) > 0.1
    assert R.d_loss(REAL, FAKE, "rasgan").item() == pytest.approx(D_EXPECTED["rasgan"], abs=1e-12)


def test_rasgan_generator_keeps_the_real_side_term_and_its_gradient():
    # ∂/∂f_j of mean_j sp(-(f_j - m_r)) + mean_i sp(r_i - m_f)
    #   = -σ(-(f_j - m_r))/n_f - mean_i σ(r_i - m_f)/n_f: the second part comes from the
    # real-side term through m_f, and is lost if that term is dropped or m_f detached.
    fake = FAKE.clone().requires_grad_(True)
    real = REAL.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(R.g_loss(fake, real, "rasgan"), fake)
    sig = torch.sigmoid
    own = -sig(-(FAKE - REAL.mean())) / 2
    real_side = -sig(REAL - FAKE.mean()).mean() / 2
    assert torch.allclose(grad, own + real_side, atol=1e-12)
    assert real_side.abs().item() > 0.4  # large enough that dropping it fails the line above


def test_generator_loss_does_not_reach_the_real_scores():
    real = REAL.clone().requires_grad_(True)
    loss = R.g_loss(FAKE.clone().requires_grad_(True), real, "rasgan")
    assert torch.autograd.grad(loss, real, allow_unused=True)[0] is None


def test_unequal_batches():
    real, fake = torch.randn(5, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    for kind in D_EXPECTED:
        assert torch.isfinite(R.d_loss(real, fake, kind)) and torch.isfinite(R.g_loss(fake, real, kind))


def test_verify_marks_pointwise_claims_na_and_checks_the_rest(pm):
    report = verify(pm, ["relativistic"])
    assert report.ok
    by = {}
    for r in report.results:
        by.setdefault(r.claim, []).append(r)
    for claim in ("optimal-d", "criterion", "d-optimum", "saturation"):
        assert all(r.status == C.NA and ("not a sum" in r.note or "relativistic" in r.note) for r in by[claim])
    assert len(by["dirac-eigen"]) == 4 and all(r.status == C.PASS for r in by["dirac-eigen"])
    assert all(r.status == C.PASS for r in by["g-direction"])


def _wrong_same_batch():
    """RaSGAN with each batch compared with its own mean (the classic bug)."""
    module = types.ModuleType("same_batch")

    def d_loss(real_scores, fake_scores):
        return F.softplus(-(real_scores - real_scores.mean())).mean() + F.softplus(fake_scores - fake_scores.mean()).mean()

    def g_loss(fake_scores, real_scores):
        return F.softplus(-(fake_scores - fake_scores.mean())).mean() + F.softplus(real_scores - real_scores.mean()).mean()

    module.ganlab_d_loss = hookimpl(d_loss)
    module.ganlab_g_loss = hookimpl(g_loss)
    module.ganlab_claims = hookimpl(lambda: R.ganlab_claims(_options("rasgan")))
    return module


def _options(kind):
    from ganlab.options import Options

    return Options({"relativistic": R.RelativisticOptions(kind=kind)})


def test_verify_fails_the_same_batch_mean(pm):
    pm.add_plugin(_wrong_same_batch(), "same-batch", source="test")
    report = verify(pm, ["same-batch"])
    failed = {r.claim for r in report.results if r.status == C.FAIL}
    assert {"g-direction", "dirac-eigen"} <= failed, failed


@pytest.mark.parametrize("kind", list(D_EXPECTED))
def test_trains_on_ring(run_tiny, kind):
    run_tiny(["relativistic"], data="ring", options={"relativistic": {"kind": kind}, "data": {"toy_samples": "512"}})


def test_verify_fails_a_discriminator_that_prefers_fakes(pm):
    # D's roles swapped: it pushes fakes above the real mean; G is correct.
    module = types.ModuleType("swapped")
    module.ganlab_d_loss = hookimpl(lambda real_scores, fake_scores: R.d_loss(fake_scores, real_scores, "rasgan"))
    module.ganlab_g_loss = hookimpl(lambda fake_scores, real_scores: R.g_loss(fake_scores, real_scores, "rasgan"))
    pm.add_plugin(module, "swapped", source="test")
    row = next(r for r in verify(pm, ["swapped"]).results if r.claim == "g-direction")
    assert row.status == C.FAIL and "D prefers fakes" in row.note


def test_trains_on_mnist(run_tiny):
    run_tiny(["relativistic"], options={"relativistic": {"kind": "ralsgan"}})
    trainer = run_tiny(["relativistic"], fit=False)
    out = trainer.d_update()
    before = [p.grad.clone() if p.grad is not None else None for p in trainer.D.parameters()]
    trainer.g_update(out.real, out.real_labels)
    # G's update leaves D's gradients alone (the real scores are constants for G).
    after = [p.grad for p in trainer.D.parameters()]
    assert all((a is None and b is None) or torch.equal(a, b) for a, b in zip(after, before))
