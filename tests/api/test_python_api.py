"""The Python API: ganlab.train, evaluate, compare and verify, with a loss defined in a notebook cell."""

from __future__ import annotations

import json
import types

import pytest
import torch.nn.functional as F

import ganlab
from ganlab import hookimpl

TINY = {"mlp": {"g_hidden": [8], "d_hidden": [8]}}
STEPS = {"steps": 6, "batch_size": 16, "data": "ring", "log_every": 2, "sample_every": 3}


def cell_loss(name: str = "my_loss", flipped: bool = False) -> types.ModuleType:
    """A non-saturating GAN loss as one writes it in a notebook cell; ``flipped``: D's targets swapped (a bug)."""
    sign = -1.0 if flipped else 1.0

    @hookimpl
    def ganlab_d_loss(real_scores, fake_scores):
        return F.softplus(-sign * real_scores).mean() + F.softplus(sign * fake_scores).mean()

    @hookimpl
    def ganlab_g_loss(fake_scores):
        return F.softplus(-fake_scores).mean()

    module = types.ModuleType(name)
    module.ganlab_d_loss, module.ganlab_g_loss = ganlab_d_loss, ganlab_g_loss
    return module


def test_train_gives_a_run_with_its_metrics_samples_and_config(tmp_path):
    run = ganlab.train(["lsgan"], {"lsgan": {"a": -1}, **TINY}, out=tmp_path / "r", log=lambda *a: None, **STEPS)
    assert run.status == "finished" and run.step == 6
    assert [r["step"] for r in run.metrics()] == [2, 4, 6]
    assert [p.name for p in run.samples()] == ["step_000003.png", "step_000006.png"]
    assert run.config()["options"]["lsgan"]["a"] == -1.0
    assert {r["source"] for r in run.evaluations()} == {"samples"}  # the 2-D mode report at sample steps
    assert ganlab.Run.open(tmp_path / "r").metrics() == run.metrics()


def test_the_api_run_is_the_command_lines_run(tmp_path):
    from ganlab.cli import main

    ganlab.train(["gan"], TINY, out=tmp_path / "api", log=lambda *a: None, **STEPS)
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in STEPS.items()]
    assert main(["run", "-p", "gan", "-o", "mlp.g_hidden=8", "-o", "mlp.d_hidden=8", "--quiet",
                 "--out", str(tmp_path / "cli"), *flags]) == 0
    api, cli = ganlab.Run.open(tmp_path / "api"), ganlab.Run.open(tmp_path / "cli")
    drop_time = [{k: v for k, v in r.items() if k != "time"} for r in api.metrics()]
    assert drop_time == [{k: v for k, v in r.items() if k != "time"} for r in cli.metrics()]
    assert api.evaluations() == cli.evaluations()


def test_the_command_line_calls_the_api(tmp_path, monkeypatch):
    from ganlab import api
    from ganlab.cli import main

    calls = []
    real = api.train_request
    monkeypatch.setattr(api, "train_request", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert main(["run", "-p", "gan", "--quiet", "--out", str(tmp_path / "r"), "--steps", "2",
                 "--batch-size", "8", "--data", "ring"]) == 0
    assert calls == [1]


def test_a_notebook_loss_trains_and_matches_the_builtin_it_rewrites(tmp_path):
    mine = ganlab.train([cell_loss()], TINY, out=tmp_path / "mine", log=lambda *a: None, **STEPS)
    builtin = ganlab.train(["gan"], TINY, out=tmp_path / "gan", log=lambda *a: None, **STEPS)
    assert mine.config()["plugins"] == ["my-loss"]
    assert mine.config()["record"]["plugins"]["my-loss"] == "in-memory"
    # The same loss and seeds: the same run, step for step, up to float32 rounding (gan's loss is written
    # another way, so each step differs by a few ulps, ~1e-7 relative, and 6 steps barely grow that).
    assert [r["d_loss"] for r in mine.metrics()] == pytest.approx([r["d_loss"] for r in builtin.metrics()], rel=1e-5)


def test_a_notebook_loss_is_verified_and_a_bug_in_it_is_caught():
    good = ganlab.verify(cell_loss())
    assert good.ok and {r.plugin for r in good.results} == {"my-loss"}
    assert any(r.status == "PASS" for r in good.results)
    bad = ganlab.verify(cell_loss("flipped_loss", flipped=True))
    assert not bad.ok and any(r.status == "FAIL" for r in bad.results)


def test_evaluate_returns_the_row_and_appends_it(tmp_path):
    run = ganlab.train([cell_loss()], TINY, out=tmp_path / "r", log=lambda *a: None, **STEPS)
    row = ganlab.evaluate(run, n=100)
    assert row["step"] == 6 and row["source"] == "eval" and row["n_modes"] == 8
    written = [json.loads(line) for line in (tmp_path / "r" / "eval.jsonl").read_text().splitlines()]
    assert written[-1]["source"] == "eval" and written[-1]["modes_captured"] == row["modes_captured"]


def test_compare_tabulates_builtin_and_notebook_variants(tmp_path):
    results = ganlab.compare(["gan", cell_loss()], seeds=2, out=tmp_path / "s", options=TINY, **STEPS)
    rows = results.rows
    assert {r["variant"] for r in rows} == {"gan", "my-loss"} and results.failed == 0
    by = {(r["variant"], r["metric"]): r for r in rows}
    assert by["gan", "modes_captured"]["n"] == 2
    # The notebook loss is the built-in one: the same cells up to float32 rounding, so the same table.
    assert by["gan", "high_quality_fraction"]["mean"] == pytest.approx(by["my-loss", "high_quality_fraction"]["mean"])
    assert len(results.runs()) == 4
    table = results.table()
    assert len(table) == len(rows)


def test_mistakes_raise_ganlab_errors_with_the_command_lines_messages(tmp_path):
    with pytest.raises(ganlab.PluginError, match="unknown plugin 'lsgna'.*lsgan"):
        ganlab.train(["lsgna"], out=tmp_path / "a", **STEPS)
    with pytest.raises(ganlab.ConfigError, match="stepz"):
        ganlab.train(["gan"], out=tmp_path / "b", stepz=3)
    with pytest.raises(ganlab.ConfigError, match="unknown option lsgan.q"):
        ganlab.train(["lsgan"], {"lsgan": {"q": 1}}, out=tmp_path / "c", **STEPS)
    with pytest.raises(ganlab.PluginError, match="like the built-in plugin"):
        ganlab.verify(cell_loss("gan"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()  # nothing left behind


def test_in_memory_plugins_stay_in_their_call(tmp_path):
    ganlab.verify(cell_loss())
    with pytest.raises(ganlab.PluginError, match="unknown plugin 'my-loss'"):
        ganlab.train(["my-loss"], out=tmp_path / "r", **STEPS)


def test_an_object_plugin_trains_resumes_and_evaluates(tmp_path):
    class SoftHinge:
        ganlab_name = "soft-hinge"

        @hookimpl
        def ganlab_d_loss(self, real_scores, fake_scores):
            return F.softplus(1 - real_scores).mean() + F.softplus(1 + fake_scores).mean()

        @hookimpl
        def ganlab_g_loss(self, fake_scores):
            return -fake_scores.mean()

    mine = SoftHinge()
    run = ganlab.train(mine, TINY, out=tmp_path / "r", log=lambda *a: None, **STEPS)
    assert run.config()["plugins"] == ["soft-hinge"]
    longer = ganlab.train([mine], resume=run.folder, steps=8, log=lambda *a: None)
    assert (longer.folder, longer.step) == (run.folder, 8) and run.metrics()[-1]["step"] == 8
    assert ganlab.evaluate(run.folder, n=50, plugins=[mine])["step"] == 8
    with pytest.raises(ganlab.PluginError, match="unknown plugin 'soft-hinge'"):
        ganlab.evaluate(run.folder, n=50)  # without it, the run cannot be rebuilt
