"""benchmarks/variants.toml, the 2-D comparison sweep: it resolves, and a tiny version runs through compare."""

from __future__ import annotations

import json
from pathlib import Path

from ganlab.cli import main
from ganlab.sweeps.sweep import expand, load_sweep

SWEEP = Path(__file__).resolve().parents[2] / "benchmarks" / "variants.toml"
NAMES = ["gan", "gan-minimax", "lsgan", "lsgan-pearson", "lsgan-sigmoid", "wgan", "wgan-gp", "wgan-gp-one-sided",
         "hinge", "gan+r1", "gan+recon", "gan+sn", "gan+sn-g", "hinge+sn",
         "fgan-kl", "fgan-js", "rsgan", "rasgan", "ralsgan", "rahinge", "gan+dragan",  # the loss zoo
         "gan+dragan-one-sided", "gan+lecam", "gan+ema", "began", "began-fast-k"]
TABLE = SWEEP.parents[1] / "docs" / "evaluation.md"  # the 2-D table and its command


def test_the_sweep_is_the_documented_table(pm):
    sweep = load_sweep(SWEEP)
    assert [v.name for v in sweep.variants] == NAMES and sweep.seeds == [0, 1, 2]
    cells = expand(sweep, pm)
    assert len(cells) == len(NAMES) * 2 * 3
    assert {c.train["data"] for c in cells} == {"ring", "grid"} and {c.train["steps"] for c in cells} == {2000}
    rows = [line.split(" [data=")[0].removeprefix("| ") for line in TABLE.read_text().splitlines()
            if line.startswith("| ") and " [data=" in line]
    assert list(dict.fromkeys(rows)) == NAMES and len(rows) == 2 * len(NAMES)


def test_every_variant_resolves_and_keeps_its_plugins_suggestions(pm):
    from ganlab.config import RunRequest, resolve_config

    for cell in expand(load_sweep(SWEEP), pm):
        if cell.seed or cell.train["data"] != "ring":
            continue
        request = RunRequest(cell.plugins, dict(cell.train), {k: dict(v) for k, v in cell.options.items()})
        config = resolve_config(pm.select(cell.plugins), request)
        assert (config.train.latent_dim, config.train.batch_size) == (2, 100), cell.variant
        assert config.options["mlp"].g_hidden == (400, 400, 400, 400)
        for plugin, values in cell.options.items():
            resolved = {k: str(getattr(config.options[plugin], k)).lower() for k in values}
            assert resolved == {k: str(v).lower() for k, v in values.items()}, cell.variant
        expected = {"wgan": (5e-5, 5), "wgan-gp": (1e-4, 5)}.get(cell.plugins[0], (1e-4, 1))
        assert (config.train.lr, config.train.n_critic) == expected, cell.variant
        if cell.plugins[0] != "wgan-gp":
            assert config.train.betas == (0.8, 0.999), cell.variant


def test_a_tiny_version_runs(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["compare", str(SWEEP), "--only", "gan", "--only", "wgan-gp-one-sided", "--seeds", "1", "--steps", "2",
                 "--sample-every", "2", "--threads", "1", "-o", "mlp.preset=none", "-o", "mlp.g_hidden=8",
                 "-o", "mlp.d_hidden=8", "-o", "data.toy_samples=256", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    rows = json.loads((out / "results.json").read_text())["rows"]
    groups = {r["variant"] for r in rows}
    assert groups == {"gan [data=ring]", "gan [data=grid]", "wgan-gp-one-sided [data=ring]",
                      "wgan-gp-one-sided [data=grid]"}
    assert all(r["n"] == 1 for r in rows if r["metric"] == "modes_captured")
