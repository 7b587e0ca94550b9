"""Smoke test of benchmarks/variants.py in --quick mode (seconds, not a benchmark)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "variants.py"


@pytest.fixture(scope="module")
def variants():
    spec = importlib.util.spec_from_file_location("ganlab_bench_variants", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def table_rows(text: str) -> list[list[str]]:
    lines = [l for l in text.splitlines() if l.startswith("|") and not l.startswith("|-")]
    return [[c.strip() for c in l.strip("|").split("|")] for l in lines]


def test_quick_run_prints_the_table(variants, pm, capsys):
    rows = variants.main(["--quick", "--variants", "gan", "--datasets", "ring", "--steps", "3"], pm=pm)
    out = capsys.readouterr().out
    header, *body = table_rows(out)
    assert header == ["data", "variant", "runs", "modes", "high quality %", "KL", "s/run"]
    assert [r[:3] for r in body] == [["ring", "PacGAN Table 1: GAN", "10"], ["ring", "gan", "1"]]
    assert body[0][3:5] == ["6.3 / 8", "98.2"]
    modes, n_modes = re.fullmatch(r"(\S+) / (\d+)", body[1][3]).groups()
    assert n_modes == "8" and 0 <= float(modes) <= 8
    assert 0 <= float(body[1][4]) <= 100
    assert float(body[1][6]) > 0
    assert re.search(r"total wall time \d+ s for 1 runs \([\d.]+ s per run", out)
    assert [(r.dataset, r.variant, r.failed) for r in rows] == [("ring", "PacGAN Table 1: GAN", 0), ("ring", "gan", 0)]


def test_variant_with_a_missing_plugin_is_skipped_and_reported(variants, pm, capsys):
    pm.infos["hinge"].error = "simulated: not installed"
    rows = variants.main(["--quick", "--variants", "hinge", "--datasets", "grid", "--steps", "1"], pm=pm)
    out = capsys.readouterr().out
    assert "skipped hinge: plugin(s) hinge missing or broken" in out
    assert [r.variant for r in rows] == ["PacGAN Table 1: GAN"]


def test_unknown_variant_is_a_usage_error(variants, capsys):
    with pytest.raises(SystemExit):
        variants.main(["--variants", "gan,nope"])
    assert "unknown variant nope" in capsys.readouterr().err


def test_statistics_over_seeds(variants):
    ok = [variants.RunResult("ring", "gan", s, 2.0, m, 8, hq, kl)
          for s, (m, hq, kl) in enumerate([(6, 90.0, 0.2), (8, 100.0, float("nan"))])]
    row = variants.summarise(ok + [variants.RunResult("ring", "gan", 2, 4.0, error="diverged")])
    assert (row.runs, row.failed) == (3, 1)
    assert row.cells["modes"] == "7.0 ± 1.4 / 8"  # sample std of (6, 8) is sqrt(2)
    assert row.cells["high quality %"] == "95.0 ± 7.1"
    assert row.cells["KL"] == "0.20 (undefined in 1)"
    assert row.cells["s/run"] == "2.7"


def test_every_variant_resolves_its_options(variants, pm):
    # A typo in a plugin or option name would only show mid-benchmark; catch it here.
    for name, variant in variants.VARIANTS.items():
        options = pm.select(list(variant.plugins)).build_options(
            {k: dict(v) for k, v in variant.options.items()})
        for plugin, values in variant.options.items():
            resolved = {k: str(getattr(options[plugin], k)).lower() for k in values}
            assert resolved == {k: str(v).lower() for k, v in values.items()}, name


def test_added_variants_train(variants, pm, capsys):
    added = ["gan+recon", "wgan-gp-one-sided", "lsgan-sigmoid", "gan+sn-g"]
    rows = variants.main(["--quick", "--variants", ",".join(added), "--datasets", "ring", "--steps", "1"], pm=pm)
    assert [(r.variant, r.failed) for r in rows[1:]] == [(name, 0) for name in added]
    assert "failed:" not in capsys.readouterr().out


def test_zoo_variants_train(variants, pm, capsys):
    added = ["fgan-kl", "rahinge", "gan+dragan", "gan+lecam"]
    rows = variants.main(["--quick", "--variants", ",".join(added), "--datasets", "ring", "--steps", "1"], pm=pm)
    assert [(r.variant, r.failed) for r in rows[1:]] == [(name, 0) for name in added]
    assert "failed:" not in capsys.readouterr().out
