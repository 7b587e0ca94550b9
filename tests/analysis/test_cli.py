"""`ganlab verify` end to end: table, JSON, figures, exit codes, third-party plugins."""

from __future__ import annotations

import json
import re

import pytest

from ganlab.analysis import claims as C
from ganlab.analysis.families import all_claims
from ganlab.analysis.suite import verify
from ganlab.cli import main

BUILTIN_LOSSES = {"gan", "lsgan", "wgan", "hinge", "wgan-gp"}
ALL_CLAIMS = set(all_claims())  # every registered family's claims


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """One full `ganlab verify --json --plot DIR` (it takes ~20 s), shared by the tests below."""
    out = tmp_path_factory.mktemp("figures")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["verify", "--json", "--plot", str(out)])
    return code, json.loads(buf.getvalue()), out


def test_full_verify_passes_every_builtin(full_run):
    code, data, _ = full_run
    assert code == 0 and data["ok"]
    assert data["counts"]["FAIL"] == 0
    rows = data["results"]
    assert {r["claim"] for r in rows} == ALL_CLAIMS
    plugins = {r["plugin"].split("[")[0].split(" ")[0] for r in rows}
    assert BUILTIN_LOSSES | {"sn", "gan+r1", "scipy"} <= plugins
    # Every built-in option variant is covered by a plain run.
    labels = {r["plugin"] for r in rows}
    for variant in ("lsgan[sigmoid=true]", "wgan-gp[one_sided=true]", "gan[generator_loss=minimax]"):
        assert variant in labels
    for r in rows:
        assert r["status"] in C.STATUSES
        assert r["source"] and r["formula"] and r["conditions"]
    # The headline claims all PASS on the built-ins.
    passed = {(r["claim"], r["plugin"]) for r in rows if r["status"] == C.PASS}
    for claim, plugin in [("optimal-d", "gan"), ("optimal-d", "lsgan"), ("optimal-d", "hinge"),
                          ("criterion", "gan"), ("criterion", "lsgan[preset=pearson]"), ("saturation", "wgan"),
                          ("disjoint-w1", "wgan"), ("disjoint-gradient", "gan"), ("wgan-gp-penalty", "wgan-gp"),
                          ("sn-sigma", "sn"), ("dirac-eigen", "gan+r1"), ("dirac-sim", "gan+r1[gamma=2]")]:
        assert (claim, plugin) in passed
    # WGAN has no pointwise optimum: reported, not failed.
    assert {r["status"] for r in rows if r["claim"] == "optimal-d" and r["plugin"] == "wgan"} == {C.NA}


def test_plot_writes_figures(full_run):
    _, _, out = full_run
    for name in ("optimal_d.png", "saturation.png", "dirac.png"):
        path = out / name
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_output_for_one_plugin(capsys):
    assert main(["verify", "--plugin", "gan"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header == ["claim", "plugin", "measured", "expected", "tolerance", "status"]
    assert re.search(r"\d+ passed, 0 failed, \d+ info, \d+ not applicable; \d+ checks in [\d.]+ s", out)
    assert "gan[generator_loss=minimax]" in out  # both generator losses are checked


def test_options_select_the_variant(capsys):
    assert main(["verify", "--plugin", "lsgan", "-o", "lsgan.a=-1", "-o", "lsgan.b=1", "-o", "lsgan.c=0"]) == 0
    out = capsys.readouterr().out
    assert "lsgan[a=-1,b=1,c=0]" in out and "lsgan[preset" not in out


def test_options_reach_only_the_selections_they_belong_to(capsys):
    # r1 runs with the default loss gan, so gan+r1 gets γ = 2 while gan alone keeps its variants.
    assert main(["verify", "--plugin", "gan", "--plugin", "r1", "-o", "r1.gamma=2"]) == 0
    out = capsys.readouterr().out
    assert "gan+r1[gamma=2]" in out and "gan[generator_loss=minimax]" in out
    assert not re.search(r"gan\+r1\s", out)  # r1's default variant is replaced, not added to


def test_an_option_in_a_full_run(capsys):
    assert main(["verify", "-o", "lsgan.a=-1"]) == 0
    out = capsys.readouterr().out
    assert "lsgan[a=-1]" in out and "lsgan[preset=pearson]" not in out
    assert re.search(r"optimal-d\s+hinge\s", out)  # every other plugin still checked
    assert " 0 failed" in out


def test_user_mistakes_exit_2(capsys):
    assert main(["verify", "--plugin", "no-such-loss"]) == 2
    assert "unknown plugin" in capsys.readouterr().err
    assert main(["verify", "--plugin", "mlp"]) == 2  # nothing to check there
    assert main(["verify", "--plugin", "gan", "-o", "lsgan.a=1"]) == 2
    assert main(["verify", "-o", "mlp.d_hidden=8"]) == 2  # nothing of mlp's is verified
    assert "nothing for ganlab verify to check" in capsys.readouterr().err
    assert main(["verify", "--plugin", "lsgan", "-o", "lsgan.a=2"]) == 2  # b = 1 < a
    assert "b must exceed a" in capsys.readouterr().err


def test_a_failing_claim_exits_1(capsys, monkeypatch, fresh_pm, helpers):
    fresh_pm.add_plugin(helpers.swapped_lsgan(), "bad-lsgan", source="test")
    monkeypatch.setattr("ganlab.manager.make_plugin_manager", lambda *a, **k: fresh_pm)
    assert main(["verify", "--plugin", "bad-lsgan"]) == 1
    captured = capsys.readouterr()
    assert re.search(r"optimal-d\s+bad-lsgan .*FAIL", captured.out)
    assert "FAILED" in captured.err


def test_third_party_relativistic_loss_is_not_applicable_not_a_crash(fresh_pm, helpers):
    fresh_pm.add_plugin(helpers.load_ragan(), "ragan", source="ganlab-ragan 0.1.0")
    report = verify(fresh_pm, ["ragan"])
    assert report.ok
    by_claim = {r.claim: r for r in report.results}
    for claim in ("optimal-d", "criterion", "criterion-min", "saturation", "disjoint-gradient"):
        assert by_claim[claim].status == C.NA
    assert "not a sum" in by_claim["optimal-d"].note
    # Dirac-GAN needs no separability: measured from ragan's own code, with
    # nothing declared to compare it with.
    assert by_claim["dirac-sim"].status == C.INFO
    assert by_claim["dirac-eigen"].measured.startswith("eig")
