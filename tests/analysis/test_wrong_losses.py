"""Deliberately wrong plugins must FAIL through the same checks that pass the built-ins."""

from __future__ import annotations

import numpy as np

from ganlab.analysis import claims as C
from ganlab.analysis import criterion, optimal_d, saturation
from ganlab.analysis import gradient_penalty_checks as gp_checks
from ganlab.analysis.probe import LossProbe
from ganlab.analysis.suite import verify


def _status(report, claim):
    return {r.status for r in report.results if r.claim == claim}


def test_lsgan_with_swapped_targets_fails_optimal_d(fresh_pm, helpers):
    fresh_pm.add_plugin(helpers.swapped_lsgan(), "bad-lsgan", source="test")
    for coding in ({}, {"preset": "pearson"}, {"a": "-0.5", "b": "2", "c": "1"}):
        probe = LossProbe(fresh_pm, ["bad-lsgan"], {"bad-lsgan": coding})
        assert optimal_d.check(probe).status == C.FAIL
        rows = {r.claim: r for r in criterion.check(probe)}
        # Mao's C(G) cannot see the swap, for any coding: the integrands differ by
        # ((a-c)² - (b-c)²)(p_d² - p_g²)/(p_d + p_g) = (...)(p_d - p_g), whose
        # integral is 0. So the D* claim is the one that must catch it.
        assert rows["criterion"].status == C.PASS
    # ... while the real plugin with the same claims passes them.
    good = LossProbe(fresh_pm, ["lsgan"])
    assert optimal_d.check(good).status == C.PASS
    assert {r.status for r in criterion.check(good)} <= {C.PASS, C.NA}


def test_minimax_labelled_non_saturating_fails(fresh_pm, helpers):
    fresh_pm.add_plugin(helpers.minimax_labelled_non_saturating(), "bad-gan", source="test")
    row = saturation.check(LossProbe(fresh_pm, ["bad-gan"]))
    assert row.status == C.FAIL
    assert "non-saturating" in row.note  # the saturation classification catches it too


def test_a_slightly_wrong_optimal_d_fails_on_delta_t(fresh_pm, helpers):
    # t* = log r + 1e-5 costs at most ½·max κ·(1e-5)² = ½·¼·1e-10 of objective
    # (κ = (p_d+p_g)σ'(t*) ≤ ¼): inside the 1e-10 gap tolerance at every ratio,
    # so only |Δt| = 1e-5 ≫ tol_t (~1e-11) can catch it.
    from ganlab.plugins import gan

    fresh_pm.add_plugin(helpers.plugin(
        ganlab_d_loss=gan.ganlab_d_loss, ganlab_g_loss=lambda fake_scores: gan.g_loss_non_saturating(fake_scores),
        ganlab_claims=lambda: C.OptimalDiscriminator(lambda pd, pg: np.log(pd / pg) + 1e-5, "log r + 1e-5",
                                                     "wrong")), "off-gan", source="test")
    row = optimal_d.check(LossProbe(fresh_pm, ["off-gan"]))
    assert np.all(row.data["gap"] <= 1e-10)
    assert row.status == C.FAIL


def test_gradient_penalty_with_a_wrong_declared_weight_fails(fresh_pm, helpers):
    from ganlab.plugins import wgan_gp as plugin_gp

    fresh_pm.add_plugin(helpers.plugin(
        ganlab_regularizer=lambda: plugin_gp.GradientPenalty(weight=5.0),
        ganlab_claims=lambda: C.GradientPenalty(weight=10.0)), "half-gp", source="test")
    row = gp_checks.check_penalty(LossProbe(fresh_pm, ["half-gp"]))
    assert row.status == C.FAIL and "GP(2u) = 5" in row.note


def test_penalty_is_taken_from_the_declaring_plugin(fresh_pm, helpers):
    # Another active plugin's penalty must not stand in for the declared one.
    fresh_pm.add_plugin(helpers.batch_norm_gp(), "bad-gp", source="test")
    row = gp_checks.check_penalty(LossProbe(fresh_pm, ["bad-gp", "r1"]))
    assert row.status == C.FAIL and "GP(unit linear critic)" in row.note


def test_batch_wide_gradient_norm_fails(fresh_pm, helpers):
    fresh_pm.add_plugin(helpers.batch_norm_gp(), "bad-gp", source="test")
    row = gp_checks.check_penalty(LossProbe(fresh_pm, ["bad-gp"]))
    assert row.status == C.FAIL
    assert "GP(unit linear critic)" in row.note  # sees √B instead of 1
    assert gp_checks.check_penalty(LossProbe(fresh_pm, ["wgan-gp"])).status == C.PASS


def test_whole_suite_reports_failure_for_wrong_plugins(fresh_pm, helpers):
    fresh_pm.add_plugin(helpers.swapped_lsgan(), "bad-lsgan", source="test")
    fresh_pm.add_plugin(helpers.batch_norm_gp(), "bad-gp", source="test")
    report = verify(fresh_pm, ["bad-lsgan", "bad-gp"])
    assert not report.ok
    assert C.FAIL in _status(report, "optimal-d")
    assert C.FAIL in _status(report, "wgan-gp-penalty")


def test_identity_transform_declared_as_spectral_norm_fails(fresh_pm, helpers):
    from ganlab.analysis import spectral
    from ganlab.regularizers import Regularizer

    class NoOp(Regularizer):
        name, player = "spectral_norm", "D"

        def transform(self, module):
            return module

    fresh_pm.add_plugin(helpers.plugin(ganlab_regularizer=lambda: NoOp(),
                                       ganlab_claims=lambda: C.SpectralNormalization()), "bad-sn", source="test")
    rows = {r.claim: r for r in spectral.check(LossProbe(fresh_pm, ["bad-sn"]))}
    assert rows["sn-sigma"].status == C.FAIL
    # max‖∇f‖ ≤ Πσ holds for any network; Πσ ≤ 1 is what normalisation buys.
    assert rows["sn-lipschitz"].status == C.FAIL
    assert "not 1-Lipschitz" in rows["sn-lipschitz"].note


def test_wrong_dirac_eigenvalues_fail(fresh_pm, helpers):
    from ganlab.analysis import dirac
    from ganlab.plugins import gan

    fresh_pm.add_plugin(helpers.plugin(
        ganlab_d_loss=gan.ganlab_d_loss, ganlab_g_loss=lambda fake_scores: gan.g_loss_non_saturating(fake_scores),
        ganlab_claims=lambda: C.DiracEigenvalues((1j, -1j), "±i", "wrong: that is WGAN's")), "bad-dirac", source="test")
    rows = {r.claim: r.status for r in dirac.check(LossProbe(fresh_pm, ["bad-dirac"]))}
    assert rows["dirac-eigen"] == C.FAIL


def test_a_plugin_that_raises_gets_fail_rows_not_a_crash(fresh_pm, helpers):
    def d_loss(real_scores, fake_scores):
        raise RuntimeError("boom")

    fresh_pm.add_plugin(helpers.plugin(ganlab_d_loss=d_loss), "crashy", source="test")
    report = verify(fresh_pm, ["crashy"])
    assert not report.ok
    assert any(r.status == C.FAIL and "boom" in r.note for r in report.results)


def _verify_fails(fresh_pm, monkeypatch, capsys, plugin, name: str) -> str:
    """``ganlab verify --plugin NAME`` on a wrong plugin: exit 1; what it printed."""
    from ganlab.cli import main

    fresh_pm.add_plugin(plugin, name, source="test")
    monkeypatch.setattr("ganlab.manager.make_plugin_manager", lambda *a, **k: fresh_pm)
    assert main(["verify", "--plugin", name]) == 1
    return capsys.readouterr().out


def test_r1_on_fakes_fails_and_r1_passes(fresh_pm, monkeypatch, capsys):
    import wrong_plugins as W

    out = _verify_fails(fresh_pm, monkeypatch, capsys, W.r1_on_fakes(), "r1-fakes")
    assert "penalty on the fakes" in out
    assert _status(verify(fresh_pm, ["r1"]), "r1-real-only") == {C.PASS}


def test_gradient_penalty_with_one_epsilon_per_batch_fails(fresh_pm, monkeypatch, capsys):
    import wrong_plugins as W

    out = _verify_fails(fresh_pm, monkeypatch, capsys, W.shared_epsilon_gp(), "gp-shared")
    assert "for the whole batch" in out
    # A linear critic cannot tell: the unit-slope penalty check passes the same plugin.
    row = gp_checks.check_penalty(LossProbe(fresh_pm, ["gp-shared"]))
    assert row.status == C.PASS
    assert _status(verify(fresh_pm, ["wgan-gp"]), "wgan-gp-interpolates") == {C.PASS}
