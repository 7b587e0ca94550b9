"""Plugins that declare nothing: the generic checks must pass correct losses and fail wrong ones.

The failing plugins are registered into a fresh manager, and ``ganlab
verify --plugin NAME`` is run through the real command line.
"""

from __future__ import annotations

import re

import pytest

from ganlab.analysis import claims as C
from ganlab.analysis import generic_checks
from ganlab.analysis.probe import LossProbe
from ganlab.analysis.suite import verify
from ganlab.cli import main

import wrong_plugins as W


def _verify_cli(monkeypatch, capsys, pm, name):
    monkeypatch.setattr("ganlab.manager.make_plugin_manager", lambda *a, **k: pm)
    code = main(["verify", "--plugin", name])
    return code, capsys.readouterr()


def _status(report, claim):
    return {r.status for r in report.results if r.claim == claim}


def test_a_correct_undeclared_loss_passes_the_generic_checks(fresh_pm, monkeypatch, capsys):
    fresh_pm.add_plugin(W.squared_hinge(), "sq-hinge", source="test")
    code, out = _verify_cli(monkeypatch, capsys, fresh_pm, "sq-hinge")
    assert code == 0, out.out
    for claim in ("loss-finite", "d-optimum", "d-monotone", "criterion-path", "g-direction"):
        assert re.search(rf"^{claim}\s+sq-hinge\s.*PASS", out.out, re.M), claim
    # The summary says that only the generic checks speak for it, and which ran.
    assert re.search(r"sq-hinge declares no claims: only the generic checks speak for it \(.*d-monotone.*\)",
                     out.out)


@pytest.mark.parametrize("factory, failing", [
    (W.swapped_squared_hinge, {"d-monotone", "g-direction"}),
    (W.swapped_d_only, {"d-monotone"}),
    (W.flipped_generator, {"g-direction"}),
    (W.flipped_critic_generator, {"g-direction"}),
])
def test_wrong_undeclared_losses_exit_1(fresh_pm, monkeypatch, capsys, factory, failing):
    fresh_pm.add_plugin(factory(), "wrong", source="test")
    code, out = _verify_cli(monkeypatch, capsys, fresh_pm, "wrong")
    assert code == 1
    assert "FAILED" in out.err
    for claim in failing:
        assert re.search(rf"^{claim}\s+wrong\s.*FAIL", out.out, re.M), claim


def test_an_always_nan_loss_fails_and_is_never_not_applicable(fresh_pm, monkeypatch, capsys):
    fresh_pm.add_plugin(W.always_nan(), "nan-loss", source="test")
    code, out = _verify_cli(monkeypatch, capsys, fresh_pm, "nan-loss")
    assert code == 1
    assert re.search(r"^loss-finite\s+nan-loss\s.*FAIL", out.out, re.M)
    report = verify(fresh_pm, ["nan-loss"])
    loss_rows = [r for r in report.results if r.claim in ("optimal-d", "criterion", "saturation", "dirac-eigen")]
    assert loss_rows and all(r.status == C.FAIL for r in loss_rows)
    assert report.count(C.PASS) == 0


def test_critic_losses_skip_pointwise_checks_with_a_reason_but_not_the_generator_sign(fresh_pm):
    rows = {r.claim: r for r in generic_checks.run(LossProbe(fresh_pm, ["wgan"]))}
    for claim in ("d-optimum", "d-monotone", "criterion-path"):
        assert rows[claim].status == C.NA and "no pointwise optimum" in rows[claim].note
    assert rows["g-direction"].status == C.PASS


def test_hinge_ties_are_skipped_not_failed(fresh_pm):
    # At q = ½ hinge's optimum is the whole of [-1, 1]: no unique t* to order.
    row = generic_checks.check_monotone(LossProbe(fresh_pm, ["hinge"]))
    assert row.status == C.PASS
    assert not row.data["unique"][12]


def test_relativistic_loss_gets_the_generic_generator_check(fresh_pm, helpers):
    fresh_pm.add_plugin(helpers.load_ragan(), "ragan", source="ganlab-ragan 0.1.0")
    rows = {r.claim: r for r in verify(fresh_pm, ["ragan"]).results}
    assert rows["d-monotone"].status == C.NA and "not a sum" in rows["d-monotone"].note
    assert rows["g-direction"].status == C.PASS
    assert rows["loss-finite"].status == C.PASS


def test_an_optimum_at_infinity_is_checked_by_its_direction(fresh_pm):
    # ½tanh's optimum is at ±∞ and float64 sees a flat objective there: no unique t*.
    fresh_pm.add_plugin(W.total_variation(), "tv", source="test")
    rows = {r.claim: r for r in generic_checks.run(LossProbe(fresh_pm, ["tv"]))}
    assert rows["d-monotone"].status == C.PASS and "no unique t*" in rows["d-monotone"].measured
    # G's gradient vanishes at D* = ±∞, so g-direction is measured at finite scores where D moves.
    assert rows["g-direction"].status == C.PASS and "D lowers the fake" in rows["g-direction"].expected


@pytest.mark.parametrize("factory, failing", [
    (W.swapped_total_variation, {"d-monotone", "g-direction"}),
    (W.flat_beyond_range, {"d-monotone", "g-direction"}),
])
def test_flat_optima_do_not_excuse_wrong_or_gradient_free_losses(fresh_pm, factory, failing):
    fresh_pm.add_plugin(factory(), "wrong", source="test")
    rows = {r.claim: r for r in generic_checks.run(LossProbe(fresh_pm, ["wrong"]))}
    for claim in failing:
        assert rows[claim].status == C.FAIL, (claim, rows[claim].measured, rows[claim].note)


def test_criterion_path_bounds_an_infinite_start_from_below(fresh_pm):
    # Pearson χ²(p_d‖q) is +∞ for P_START, whose tails are lighter than p_d's: the
    # optimum 2(p_d/q - 1) leaves every float range there. The start is then a lower
    # bound, still far above C(p_d) = 0.
    row = generic_checks.check_path(LossProbe(fresh_pm, ["fgan"], {"fgan": {"divergence": "pearson"}}))
    assert row.status == C.PASS, row.note
    assert row.measured.startswith("C(p_s) = ≥ ")
    assert row.data["C"][0] > row.data["C"][1] > row.data["C"][-1] == pytest.approx(0, abs=1e-9)
