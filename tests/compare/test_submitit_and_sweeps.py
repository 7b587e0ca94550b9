"""The SLURM path through submitit's local executor, and reading sweeps."""

from __future__ import annotations

import json
import sys

import pytest

from ganlab.cli import main
from ganlab.sweeps.sweep import expand, parse_variant, sweep_from_dict
from ganlab.errors import ConfigError


def test_submitit_local_executor_runs_a_sweep_end_to_end(tmp_path, tiny_sweep, capsys):
    pytest.importorskip("submitit")
    path = tmp_path / "s.toml"
    path.write_text(tiny_sweep({"gan": 'plugins = ["gan"]'}, seeds=1))
    out = tmp_path / "out"
    code = main(["compare", str(path), "--out", str(out), "--executor", "submitit-local", "--threads", "1"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "submitted 1 job(s)" in text
    for seed in (0,):
        assert json.loads((out / f"cells/gan/seed{seed}/status.json").read_text())["status"] == "finished"
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert any(r["metric"] == "modes_captured" and r["n"] == 1 for r in rows)
    assert list((out / "submitit").iterdir())  # submitit's job logs live in the sweep folder


def test_missing_submitit_says_how_to_install(tmp_path, tiny_sweep, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit raises ImportError
    path = tmp_path / "s.toml"
    path.write_text(tiny_sweep({"gan": 'plugins = ["gan"]'}, seeds=1))
    code = main(["compare", str(path), "--out", str(tmp_path / "out"), "--executor", "slurm"])
    assert code == 2
    assert "pip install ganlab[slurm]" in capsys.readouterr().err


def test_short_form_variants():
    v = parse_variant("wgan-gp -o wgan-gp.one_sided=true")
    assert (v.name, v.plugins, v.options) == ("wgan-gp[wgan-gp.one_sided=true]", ["wgan-gp"], {"wgan-gp": {"one_sided": "true"}})
    assert parse_variant("gan+r1").plugins == ["gan", "r1"]
    with pytest.raises(ConfigError, match="only plugin names"):
        parse_variant("gan --lr 1")


def test_grid_axes_apply_where_their_plugin_is_active_and_defaults_yield(pm):
    sweep = sweep_from_dict({
        "seeds": [0, 7],
        "train": {"data": "ring"},
        "train_defaults": {"lr": 1e-4, "batch_size": 100},
        "options": {"gan": {"generator_loss": "minimax"}, "mlp": {"g_hidden": "8"}},
        "variants": {"gan": {"plugins": ["gan"]}, "wgan": {"plugins": ["wgan"]}},
        "grid": {"gan.generator_loss": ["minimax", "non-saturating"], "train.steps": [2, 4]},
    }, "test", "t")
    cells = expand(sweep, pm)
    groups = list(dict.fromkeys(c.group for c in cells))
    assert groups == ["gan [gan.generator_loss=minimax steps=2]", "gan [gan.generator_loss=minimax steps=4]",
                      "gan [gan.generator_loss=non-saturating steps=2]", "gan [gan.generator_loss=non-saturating steps=4]",
                      "wgan [steps=2]", "wgan [steps=4]"]
    assert len(cells) == 12 and {c.seed for c in cells} == {0, 7}
    wgan = [c for c in cells if c.variant == "wgan"][0]
    assert "gan" not in wgan.options and wgan.options["mlp"] == {"g_hidden": "8"}
    assert wgan.train == {"batch_size": 100, "data": "ring", "steps": 2, "seed": 0}  # WGAN's own lr wins
    gan = cells[0]
    assert gan.train["lr"] == 1e-4 and gan.options["gan"] == {"generator_loss": "minimax"}


@pytest.mark.parametrize("data, message", [
    ({"variants": {}}, "names no variants"),
    ({"variants": {"a": {"plugins": ["gan"]}}, "bogus": 1}, "unknown key"),
    ({"variants": {"a": {"plugins": ["gan"]}}, "train": {"seed": 1}}, "seeds come from"),
    ({"variants": {"a": {"plugins": ["gan"]}}, "seeds": 0}, "seeds"),
    ({"variants": {"a": {"plugins": ["gan"]}}, "grid": {"steps": [1]}}, "PLUGIN.KEY"),
])
def test_bad_sweeps_are_user_errors(data, message):
    with pytest.raises(ConfigError, match=message):
        sweep_from_dict(data, "test", "t")


def test_final_metrics_are_the_last_step_rows_numbers(tmp_path):
    from ganlab.sweeps.aggregate import final_metrics

    (tmp_path / "eval.jsonl").write_text('{"step": 2, "a": 1}\n{"step": 4, "a": 2, "flag": true, "name": "x"}\n'
                                         '{"step": 4, "fd": 3.5, "kl": null}\n{"step": 6, "a": 9\n')  # torn line
    assert final_metrics(tmp_path) == {"a": 2.0, "fd": 3.5, "kl": None}


def test_final_metrics_ignore_later_rows_of_earlier_steps_raw_weights_and_sizes(tmp_path):
    from ganlab.sweeps.aggregate import final_metrics

    rows = [{"step": 2, "fd": 9.0}, {"step": 4, "weights": "average", "fd": 3.5},
            {"step": 4, "source": "eval", "n": 100, "n_real": 100, "seed": 0, "seconds": 1.5, "weights": "average",
             "kid": 0.1},
            {"step": 4, "source": "eval", "weights": "raw", "fd": 7.0},  # ganlab eval --raw: not the run's report
            {"step": 2, "source": "eval", "fd": 8.0}]  # ganlab eval --step 2, run afterwards
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert final_metrics(tmp_path) == {"fd": 3.5, "kid": 0.1}


def test_summary_statistics_and_seeded_bootstrap():
    import numpy as np

    from ganlab.sweeps.aggregate import bootstrap_ci, summarise

    row = summarise([1.0, 2.0, None, 4.0], failed=1, variant="v", metric="m")
    assert (row.mean, row.n, row.failed) == (7 / 3, 3, 1)
    assert row.std == pytest.approx(np.std([1, 2, 4], ddof=1))
    assert 1.0 <= row.ci_low < row.mean < row.ci_high <= 4.0
    assert bootstrap_ci(np.array([1.0, 2.0, 4.0])) == (row.ci_low, row.ci_high)  # seeded: reproducible
    single = summarise([3.0], 0, "v", "m")
    assert (single.mean, single.std, single.ci_low, single.ci_high) == (3.0, None, 3.0, 3.0)


@pytest.mark.parametrize("text, seeds", [("3", 3), ("3-5", [3, 4, 5]), ("0,4,7", [0, 4, 7]), ("2-2", [2])])
def test_seeds_on_the_command_line_are_a_count_a_range_or_a_list(text, seeds):
    from ganlab.commands.compare import seed_spec

    assert seed_spec(text) == seeds


@pytest.mark.parametrize("text", ["5-3", "x", "1-2-3", "1,,2"])
def test_bad_seeds_on_the_command_line_say_the_three_forms(tmp_path, tiny_sweep, capsys, text):
    path = tmp_path / "s.toml"
    path.write_text(tiny_sweep({"gan": 'plugins = ["gan"]'}, seeds=1))
    assert main(["compare", str(path), "--seeds", text, "--out", str(tmp_path / "out")]) == 2
    assert "a count (3), a range (3-9) or a list (0,4,7)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_seed_range_adds_seeds_to_a_sweep(tmp_path, tiny_sweep, capsys):
    path = tmp_path / "s.toml"
    path.write_text(tiny_sweep({"gan": 'plugins = ["gan"]'}, seeds=1, steps=2, sample_every=2))
    out = tmp_path / "out"
    assert main(["compare", str(path), "--seeds", "2-3", "--threads", "1", "--out", str(out)]) == 0, capsys.readouterr()
    assert sorted(p.name for p in (out / "cells" / "gan").iterdir()) == ["seed2", "seed3"]
    assert json.loads((out / "cells/gan/seed3/status.json").read_text())["status"] == "finished"
