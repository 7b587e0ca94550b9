"""f-GAN: closed-form loss values per divergence, and verify failing wrong conjugates."""

from __future__ import annotations

import math
import types

import pytest
import torch

from ganlab import hookimpl
from ganlab.analysis import claims as C
from ganlab.analysis.suite import verify
from ganlab.options import defaults_for
from ganlab.plugins import fgan

# (divergence, real score, fake score, d_loss = -g_f(real) + f*(g_f(fake)), alternative g_loss = -g_f(fake)),
# each worked out by hand from Table 6 of Nowozin et al. 2016.
CASES = [
    ("kl", 1.0, 0.0, -1 + math.exp(-1), 0.0),                       # g_f = v, f*(t) = e^(t-1)
    ("reverse-kl", 0.0, 2.0, 1 + 1, math.exp(-2)),                 # g_f = -e^-v, f*(t) = -1 - log(-t)
    ("pearson", 2.0, 2.0, -2 + (1 + 2), -2.0),                      # f*(t) = t²/4 + t
    ("neyman", 0.0, math.log(4), 0 + (2 - 2 * 0.5), -0.75),         # g_f = 1 - e^-v, f*(t) = 2 - 2√(1-t)
    ("hellinger", math.log(2), math.log(2), -0.5 + 1, -0.5),        # g_f = 1 - e^-v, f*(t) = t/(1-t)
    ("jensen-shannon", math.log(3), math.log(3), -math.log(1.5) + math.log(2), -math.log(1.5)),
    ("total-variation", math.atanh(0.6), 0.0, -0.3, 0.0),          # g_f = ½tanh v, f*(t) = t
]


def _opts(**values):
    from ganlab.options import Options

    return Options({"fgan": fgan.FGANOptions(**values)})


@pytest.mark.parametrize("kind, real, fake, d_expected, g_expected", CASES, ids=[c[0] for c in CASES])
def test_closed_form_values(kind, real, fake, d_expected, g_expected):
    r, f = torch.tensor([real], dtype=torch.float64), torch.tensor([fake], dtype=torch.float64)
    assert fgan.d_loss(r, f, kind).item() == pytest.approx(d_expected, abs=1e-12)
    assert fgan.g_loss(f, kind).item() == pytest.approx(g_expected, abs=1e-12)


def test_saddle_generator_is_minus_the_conjugate_term():
    f = torch.tensor([math.log(3)], dtype=torch.float64)
    assert fgan.g_loss(f, "jensen-shannon", "saddle").item() == pytest.approx(-math.log(2), abs=1e-12)


def test_jensen_shannon_is_stable_at_large_scores():
    big = torch.tensor([-200.0, 200.0], requires_grad=True)
    loss = fgan.d_loss(big, big, "jensen-shannon") + fgan.g_loss(big, "jensen-shannon")
    (grad,) = torch.autograd.grad(loss, big)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()


def test_default_options_exist():
    assert defaults_for(fgan.FGANOptions)[fgan.FGANOptions].divergence == "jensen-shannon"


def _wrong(conjugate):
    """fgan's KL with another conjugate term, still declaring fgan's KL claims."""
    module = types.ModuleType("wrong_fgan")

    def d_loss(real_scores, fake_scores):
        return -real_scores.mean() + conjugate(fake_scores).mean()

    def g_loss(fake_scores):
        return -fake_scores.mean()

    def claims():
        return fgan.ganlab_claims(_opts(divergence="kl"))

    for name, fn in (("ganlab_d_loss", d_loss), ("ganlab_g_loss", g_loss), ("ganlab_claims", claims)):
        setattr(module, name, hookimpl(fn))
    return module


@pytest.mark.parametrize("conjugate, failing", [
    # reverse KL's f*(t) = -1 - log(-t) on KL's identity activation: NaN for t > 0.
    (lambda v: -1 - torch.log(-v), {"loss-finite"}),
    # e^t instead of e^(t-1) (the conjugate of u log u - u): D* and C(G) move.
    (torch.exp, {"optimal-d", "criterion"}),
], ids=["reverse-kl-conjugate", "missing-minus-one"])
def test_verify_fails_a_wrong_conjugate(pm, conjugate, failing):
    pm.add_plugin(_wrong(conjugate), "wrong-fgan", source="test")
    report = verify(pm, ["wrong-fgan"])
    assert not report.ok
    failed = {r.claim for r in report.results if r.status == C.FAIL}
    assert failing <= failed, failed


def test_verify_fails_a_wrong_activation(pm):
    # Jensen-Shannon's conjugate on KL's identity activation, claiming JS.
    module = types.ModuleType("wrong_js")
    module.ganlab_d_loss = hookimpl(lambda real_scores, fake_scores: -real_scores.mean()
                                    - torch.log(2 - torch.exp(fake_scores.clamp(max=0.69))).mean())
    module.ganlab_g_loss = hookimpl(lambda fake_scores: -fake_scores.mean())
    module.ganlab_claims = hookimpl(lambda: fgan.ganlab_claims(_opts(divergence="jensen-shannon")))
    pm.add_plugin(module, "wrong-js", source="test")
    report = verify(pm, ["wrong-js"])
    assert not report.ok


def test_the_builtin_passes_verify_for_every_checked_divergence(pm):
    report = verify(pm, ["fgan"])
    assert report.ok, [(r.claim, r.plugin, r.note) for r in report.results if r.status == C.FAIL]
    # Pearson's huge-but-finite D* and total variation's D* at ±∞ are checked too, not skipped.
    for kind in ("pearson", "total-variation"):
        rows = {r.claim: r.status for r in report.results if f"divergence={kind}" in r.plugin.replace("\n", "")}
        assert rows["d-monotone"] == rows["g-direction"] == rows["criterion-path"] == C.PASS, (kind, rows)
    assert any(r.claim == "optimal-d" and "divergence=pearson" in r.plugin and r.status == C.PASS
               for r in report.results)
    kl_disjoint = [r for r in report.results if r.claim == "disjoint-gradient" and "divergence=kl" in r.plugin]
    assert kl_disjoint and all(r.status == C.NA and "unbounded below" in r.note for r in kl_disjoint)


def test_neyman_criterion_skips_pairs_where_the_divergence_is_infinite(pm):
    report = verify(pm, ["fgan"], {"fgan": {"divergence": "neyman"}})
    row = next(r for r in report.results if r.claim == "criterion")
    assert row.status == C.PASS and "skipped (closed form infinite)" in row.note


@pytest.mark.parametrize("data", ["ring", "mnist-embedded"])
def test_trains(run_tiny, data):
    trainer = run_tiny(["fgan"], data=data, options={"fgan": {"divergence": "kl"}, "data": {"toy_samples": "512"}} if data == "ring" else {"fgan": {"divergence": "kl"}})
    assert trainer is not None


@pytest.mark.parametrize("plugin, options", [
    ("fgan", {"fgan": {"divergence": "kl"}}),
    ("fgan", {"fgan": {"divergence": "hellinger", "generator_loss": "saddle"}}),
    ("relativistic", {"relativistic": {"kind": "ralsgan"}}),
])
def test_dirac_eigenvalues_with_r1_follow_from_the_declared_slope(pm, plugin, options):
    # Composition: the loss's declared √(g·b) and R1's γ give -γ/2 ± sqrt(γ²/4 - g·b) (Mescheder Thm 4.1).
    from ganlab.analysis import dirac
    from ganlab.analysis.probe import LossProbe

    probe = LossProbe(pm, [plugin, "r1"], {**options, "r1": {"gamma": "2"}})
    rows = [r for r in dirac.check(probe) if r.claim == "dirac-eigen"]
    assert len(rows) == 2 and all(r.status == C.PASS for r in rows), [(r.measured, r.expected) for r in rows]
    assert any("γ" in r.expected for r in rows)
