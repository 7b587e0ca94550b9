"""The regression corpus: loss code as public toolkits write it gets the right verdict.

Correct maths in an unusual style passes (and the named claims are really
checked, not skipped as N/A); each bug fails on the claim named with it.
Before these checks, verify was right on 14 of the 26 entries (docs/verify.md).
"""

from __future__ import annotations

import pytest

import corpus
from ganlab.analysis import claims as C
from ganlab.analysis.suite import verify

ENTRIES = {e.name: e for e in corpus.entries()}


def _report(fresh_pm, entry):
    fresh_pm.add_plugin(entry.module, entry.name, source="test")
    return verify(fresh_pm, [entry.name])


@pytest.mark.parametrize("name", [n for n, e in ENTRIES.items() if e.correct])
def test_correct_code_in_any_style_passes(fresh_pm, name):
    entry = ENTRIES[name]
    report = _report(fresh_pm, entry)
    failed = [(r.claim, r.note) for r in report.results if r.status == C.FAIL]
    assert report.ok, failed
    status = {r.claim: r.status for r in report.results}
    for claim in entry.passes:
        assert status.get(claim) == C.PASS, (claim, status.get(claim))


@pytest.mark.parametrize("name", [n for n, e in ENTRIES.items() if not e.correct])
def test_each_bug_fails_on_its_claim(fresh_pm, name):
    entry = ENTRIES[name]
    report = _report(fresh_pm, entry)
    assert not report.ok
    failed = {r.claim for r in report.results if r.status == C.FAIL}
    assert set(entry.fails) <= failed, failed


def test_the_corpus_covers_every_pattern_of_the_issue():
    styles = " ".join(e.style for e in ENTRIES.values())
    for pattern in ("mean(fake - real)", "(N, 1)", "float32", "sigmoid", "1e-8",
                    "log σ(1 - t)", "whole batch", "norm(2, dim=1)", "full shape", "σ(D)", "real-side term"):
        assert pattern in styles, pattern
    assert sum(e.correct for e in ENTRIES.values()) >= 12 and sum(not e.correct for e in ENTRIES.values()) >= 12


def test_cli_exit_codes_follow_the_verdicts(fresh_pm, monkeypatch, capsys):
    from ganlab.cli import main

    for name in ("numpy-alpha-gp", "per-pixel-norm"):
        fresh_pm.add_plugin(ENTRIES[name].module, name, source="test")
    monkeypatch.setattr("ganlab.manager.make_plugin_manager", lambda *a, **k: fresh_pm)
    assert main(["verify", "--plugin", "numpy-alpha-gp"]) == 0
    assert main(["verify", "--plugin", "per-pixel-norm"]) == 1
    out = capsys.readouterr().out
    assert "a norm per pixel" in out


def test_float32_code_is_judged_at_float32_and_says_where_float64_differs(fresh_pm):
    # BCE-with-logits against torch.ones(n) labels returns float32: in float64's tolerances
    # the loss would look "not separable" and the declared D* would FAIL.
    report = _report(fresh_pm, ENTRIES["stacked-bce"])
    row = next(r for r in report.results if r.claim == "optimal-d")
    assert row.status == C.PASS and row.data["computed_in"] == "float32"
    assert row.data["float64_status"] == C.FAIL
    assert "verdict depends on precision" in row.note and "float32" in row.note
    assert "[float32]" in row.tolerance


def test_float64_code_keeps_float64_tolerances(fresh_pm):
    report = verify(fresh_pm, ["gan"])
    assert report.ok
    assert not any("computed_in" in r.data for r in report.results)
