"""benchmarks/pacgan.toml, PacGAN's Table 1 as one sweep: it is the paper's set-up, and a few steps of it run through compare."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from ganlab.cli import main

SWEEP = Path(__file__).resolve().parents[2] / "benchmarks" / "pacgan.toml"


def test_the_table_1_sweep_runs_end_to_end_at_a_few_steps(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["compare", str(SWEEP), "--steps", "4", "--seeds", "1", "--threads", "1", "--out", str(out)])
    assert code == 0, capsys.readouterr().out
    cells = json.loads((out / "cells.json").read_text())
    assert len(cells) == 4 * 2
    batch = {}
    for cell in cells:
        status = json.loads((out / cell["id"] / "status.json").read_text())
        assert status["status"] == "finished" and status["step"] == 4, cell["id"]
        batch[cell["variant"]] = tomllib.loads((out / cell["id"] / "config.toml").read_text())["train"]["batch_size"]
    assert batch == {"gan": 100, "pacgan2": 200, "pacgan3": 300, "pacgan4": 400}  # as recorded by each run
    rows = json.loads((out / "results.json").read_text())["rows"]
    modes = {r["variant"] for r in rows if r["metric"] == "modes_captured" and r["n"] == 1}
    assert modes == {f"{v} [data={d}]" for v in batch for d in ("ring", "grid")}

    # The curves script reads the same cells: one table row per variant and mixture, each cell's last row.
    curves = _curves_script()
    saved = tmp_path / "curves.jsonl"
    text = curves.main([str(out), "--out", str(tmp_path / "curves.png"), "--save", str(saved)])
    assert curves.main([str(saved), "--out", str(tmp_path / "again.png")]) == text  # the saved curves are the table
    lines = [line for line in text.splitlines()[2:]]
    assert len(lines) == 8 and all("| 4 | 1 |" in line for line in lines)
    for cell in cells:
        last = [json.loads(x) for x in (out / cell["id"] / "eval.jsonl").read_text().splitlines()][-1]
        line = next(x for x in lines if x.startswith(f"| {cell['variant']} | {cell['train']['data']} |"))
        assert f"| {last['modes_captured']:.2f} ± 0.00 |" in line
    assert (tmp_path / "curves.png").stat().st_size > 10_000


def _curves_script(name="pacgan_curves"):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, SWEEP.parent / f"{name}.py")
    curves = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(curves)
    return curves


def test_curves_merge_seeds_from_several_sources_at_the_steps_all_reached(tmp_path):
    curves = _curves_script()

    def run(seed, steps, modes):
        return {"variant": "gan", "data": "ring", "seed": seed, "steps": steps, "modes_captured": modes,
                "high_quality_fraction": [0.5] * len(steps), "kl_to_uniform": [0.1] * len(steps)}

    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(json.dumps(run(0, [1000, 2000, 3000], [4.0, 6.0, 8.0])) + "\n")
    # seed 0 again (ignored: its first source wins) and seed 1, which stopped at step 2,000
    second.write_text(json.dumps(run(0, [1000], [1.0])) + "\n" + json.dumps(run(1, [1000, 2000], [2.0, 7.0])) + "\n")
    text = curves.main([str(first), str(second), "--out", str(tmp_path / "c.png")])
    row = text.splitlines()[2]
    assert row.startswith("| gan | ring | 2,000 | 2 | 6.50 ± 0.71 | 50.00 ± 0.00 |"), row


def test_the_write_ups_claims_come_from_the_curves(tmp_path):
    claims = _curves_script("pacgan_claims")
    steps = [1000, 2000, 3000, 4000]

    def run(variant, seed, modes, hq):
        return {"variant": variant, "data": "grid", "seed": seed, "steps": steps, "modes_captured": modes,
                "high_quality_fraction": hq, "kl_to_uniform": [0.5 if variant == "gan" else 0.1] * 4}

    saved = tmp_path / "curves.jsonl"
    saved.write_text("".join(json.dumps(r) + "\n" for r in [
        # PacGAN2's mean is above GAN's at 1,000, below at 2,000 and above from 3,000 on
        run("gan", 0, [4.0, 10.0, 9.0, 11.0], [0.1, 0.2, 0.3, 0.4]),
        run("gan", 1, [6.0, 12.0, 11.0, 13.0], [0.1, 0.6, 0.3, 0.4]),
        run("pacgan2", 0, [9.0, 5.0, 20.0, 25.0], [0.1, 0.1, 0.1, 0.1]),
        run("pacgan2", 1, [9.0, 7.0, 24.0, 25.0], [0.1, 0.1, 0.1, 0.1]),
    ]))
    text = claims.main([str(saved), "--settled", "4000"])
    assert "per seed (seed, modes, hq %): [(0, 11.0, 40.0), (1, 13.0, 40.0)]" in text
    assert "mean modes above GAN's at every report from step 3,000 on" in text
    assert "gan from 3,000: mean modes 10.0 to 12.0, single reports 9 to 13" in text
    assert "pacgan2 from 3,000: mean modes 22.0 to 25.0, single reports 20 to 25" in text
    assert "pacgan2 from 4,000: mean modes 25.0 to 25.0, single reports 25 to 25" in text
    assert "KL at 4,000: gan 0.50, pacgan2 0.10, ratio 5.0" in text
    assert "pacgan2: reports from step 3,000 below 25 modes: 2 of 4, lowest 20" in text
    # seed 1 of GAN: 10 -> 60 -> 30 (%), so the largest swing is 50 points, ending at step 2,000
    assert "from step 0: 50.0 points (seed 1, at step 2,000)" in text


def test_the_sweep_is_pacgans_table_1(pm):
    from ganlab.config import RunRequest, resolve_config
    from ganlab.sweeps.sweep import expand, load_sweep

    sweep = load_sweep(SWEEP)
    assert [v.name for v in sweep.variants] == ["gan", "pacgan2", "pacgan3", "pacgan4"]
    assert sweep.seeds == list(range(10))
    cells = expand(sweep, pm)
    assert {c.train["steps"] for c in cells} == {400_000} and {c.train["data"] for c in cells} == {"ring", "grid"}
    for cell in cells:
        if cell.seed:
            continue
        config = resolve_config(pm.select(cell.plugins), RunRequest(cell.plugins, dict(cell.train),
                                                                     {k: dict(v) for k, v in cell.options.items()}))
        m = config.options["pac"].m if "pac" in config.active else 1
        assert config.train.batch_size == 100 * m  # 100 packs of m, as PacGAN's batch counts them
        assert (config.train.latent_dim, config.train.lr, config.train.betas) == (2, 1e-4, (0.8, 0.999))
        assert config.options["mlp"].preset == "pacgan-paper" and config.options["mlp"].d_act == "maxout"
        assert config.options["gan"].generator_loss == "non-saturating"
