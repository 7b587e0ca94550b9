"""``ganlab eval`` and ``--eval-every``: metrics of a run, offline, from built-in and third-party plugins."""

from __future__ import annotations

import json

import pytest

from ganlab.cli import main
from ganlab.manager import AUTOLOAD_ENV, make_plugin_manager
from ganlab.stepstats import strict_json

from .test_entrypoints import fake_distribution

MNIST_KEYS = {"fd", "kid_mean", "kid_std", "precision", "recall", "density", "coverage", "class_coverage", "class_kl"}

THIRD_PARTY = """
    from ganlab import hookimpl

    def brightness_gap(batch):
        return {"brightness_gap": float((batch.fake.mean() - batch.real.mean()).abs()),
                "fake_count": len(batch.fake)}

    @hookimpl
    def ganlab_metrics(data):
        return {"brightness": brightness_gap} if data.kind == "image" else None
"""


def _eval_json(capsys, *args) -> dict:
    assert main(["eval", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_two_evals_of_one_checkpoint_agree_and_are_logged(run_tiny, capsys):
    trainer = run_tiny(["lsgan"])
    first = _eval_json(capsys, trainer.run_dir, "--n", 300)
    second = _eval_json(capsys, trainer.run_dir, "--n", 300)
    assert MNIST_KEYS <= set(first) and first["step"] == 3 and first["source"] == "eval"
    drop = lambda row: {k: v for k, v in row.items() if k != "seconds"}  # noqa: E731
    assert drop(first) == drop(second)
    rows = [json.loads(line) for line in (trainer.run_dir / "eval.jsonl").read_text().splitlines()]
    assert [drop(r) for r in rows] == [drop(first), drop(second)]
    assert main(["eval", str(trainer.run_dir), "--n", "300"]) == 0  # the table
    out = capsys.readouterr().out
    assert "fd" in out and "class_coverage" in out and "at step 3" in out


def test_eval_of_a_conditional_run_reports_conditional_accuracy(run_tiny, capsys):
    trainer = run_tiny(["cgan", "lsgan"])
    row = _eval_json(capsys, trainer.run_dir, "--n", 200)
    assert 0 <= row["conditional_accuracy"] <= 1


@pytest.mark.parametrize("damage", ["missing", "corrupt", "no-run", "wrong-step"])
def test_a_missing_or_corrupt_checkpoint_is_one_message_and_exit_2(run_tiny, capsys, tmp_path, damage):
    trainer = run_tiny(["lsgan"])
    ckpt = trainer.run_dir / "checkpoint.pt"
    target, extra = trainer.run_dir, []
    if damage == "missing":
        ckpt.unlink()
    elif damage == "corrupt":
        ckpt.write_bytes(ckpt.read_bytes()[:200])
    elif damage == "no-run":
        target = tmp_path / "nothing-here"
    else:
        extra = ["--step", "2000"]
    assert main(["eval", str(target), "--n", "100", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganlab: error:") and err.count("\n") == 1 and "Traceback" not in err
    assert not (trainer.run_dir / "eval.jsonl").exists()


def test_a_third_party_metric_shows_up_in_ganlab_eval(run_tiny, capsys, tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    fake_distribution(site, "ganlab-brightness", "0.1", "brightness", "ganlab_brightness_mod", THIRD_PARTY)
    trainer = run_tiny(["brightness", "lsgan"], manager=make_plugin_manager(autoload=True))
    row = _eval_json(capsys, trainer.run_dir, "--n", 200)
    assert row["fake_count"] == 200 and row["brightness_gap"] >= 0
    assert MNIST_KEYS <= set(row)  # alongside the built-in ones
    assert main(["eval", str(trainer.run_dir), "--n", "200"]) == 0
    assert "brightness_gap" in capsys.readouterr().out


WATCHER = """
    import json
    import os
    from ganlab import hookimpl

    @hookimpl
    def ganlab_on_eval(step, row, run_dir):
        if os.environ.get("WATCHER_FAILS"):
            raise RuntimeError("the dashboard is down")
        with open(os.environ["WATCHER_LOG"], "a") as f:
            f.write(json.dumps({"step": step, "row": row, "run_dir": str(run_dir)}) + "\\n")
"""


def test_ganlab_eval_tells_the_runs_observers_each_row_it_writes(run_tiny, capsys, tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    seen = tmp_path / "seen.jsonl"
    monkeypatch.setenv("WATCHER_LOG", str(seen))
    fake_distribution(site, "ganlab-watcher", "0.1", "watcher", "ganlab_watcher_mod", WATCHER)
    trainer = run_tiny(["watcher", "gan"], data="ring", manager=make_plugin_manager(autoload=True),
                       train={"steps": 4, "checkpoint_every": 2, "keep_every": 2})
    trained = len(seen.read_text().splitlines())  # the mode report of the last step's scatter plot
    assert main(["eval", str(trainer.run_dir), "--n", "100", "--step", "all"]) == 0
    written = [json.loads(line) for line in (trainer.run_dir / "eval.jsonl").read_text().splitlines()]
    told = [json.loads(line) for line in seen.read_text().splitlines()]
    # The observer gets the row itself (NaN where eval.jsonl, strict JSON, writes null).
    assert [json.loads(strict_json(t["row"])) for t in told] == written and len(written) == trained + 2
    assert [(t["step"], t["row"]["source"]) for t in told[trained:]] == [(2, "eval"), (4, "eval")]  # kept, latest
    assert {t["run_dir"] for t in told} == {str(trainer.run_dir)}

    monkeypatch.setenv("WATCHER_FAILS", "1")
    capsys.readouterr()
    assert main(["eval", str(trainer.run_dir), "--n", "100"]) == 2
    err = capsys.readouterr().err
    assert "'watcher'" in err and "the dashboard is down" in err and "Traceback" not in err
    after = (trainer.run_dir / "eval.jsonl").read_text().splitlines()
    assert len(after) == len(written) + 1 and json.loads(after[-1])["source"] == "eval"  # written before it failed


def test_eval_every_logs_metrics_during_training_and_plots_fd(run_tiny):
    trainer = run_tiny(["lsgan"], train={"steps": 4, "eval_every": 2, "eval_samples": 200})
    rows = [json.loads(line) for line in (trainer.run_dir / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4] and all(r["source"] == "train" for r in rows)
    assert all(MNIST_KEYS <= set(r) for r in rows)
    assert (trainer.run_dir / "eval.png").stat().st_size > 1000


def test_eval_every_leaves_training_unchanged(run_tiny):
    import torch

    plain = run_tiny(["lsgan"], train={"steps": 4})
    evaluated = run_tiny(["lsgan"], train={"steps": 4, "eval_every": 2, "eval_samples": 100})
    for a, b in zip(plain.G.state_dict().values(), evaluated.G.state_dict().values()):
        assert torch.equal(a, b)


def test_eval_every_on_a_mixture_logs_the_mode_report(run_tiny):
    trainer = run_tiny(["lsgan"], data="ring", train={"steps": 2, "eval_every": 2, "eval_samples": 500})
    rows = [json.loads(line) for line in (trainer.run_dir / "eval.jsonl").read_text().splitlines()]
    modes = [r for r in rows if r.get("source") == "train"]
    assert len(modes) == 1 and modes[0]["n_modes"] == 8 and "modes_captured" in modes[0]


def test_eval_every_must_not_be_negative(capsys, tmp_path):
    assert main(["run", "--eval-every", "-1", "--out", str(tmp_path / "r")]) == 2
    assert "--eval-every" in capsys.readouterr().err


def test_inception_metrics_without_their_weights_are_one_clear_message(run_tiny, capsys, tmp_path, monkeypatch):
    import numpy as np
    import torch
    from PIL import Image

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    folder = tmp_path / "rgb"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    trainer = run_tiny(["inception", "lsgan"], data=str(folder), train={"batch_size": 8, "image_size": 16})
    assert main(["eval", str(trainer.run_dir), "--n", "20"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Inception" in err and "never replaces Inception" in err
    assert ("torch-fidelity" in err) and ("load_state_dict_from_url" in err)
    assert not (trainer.run_dir / "eval.jsonl").exists()


def test_a_run_from_before_mnist_metrics_still_resumes(run_tiny, capsys):
    import torch

    trainer = run_tiny(["lsgan"])
    ckpt = trainer.run_dir / "checkpoint.pt"
    state = torch.load(ckpt, weights_only=True)
    state["plugins"] = [p for p in state["plugins"] if p != "mnist-metrics"]  # as written before it existed
    torch.save(state, ckpt)
    assert main(["run", "--resume", str(trainer.run_dir), "--steps", "4", "--quiet"]) == 0
    assert "resuming at step 3 of 4" in capsys.readouterr().out
