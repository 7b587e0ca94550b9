"""``--keep-every K`` keeps earlier checkpoints, and ``ganlab eval --step N|all`` evaluates them."""

from __future__ import annotations

import json
import os

import pytest
import torch

from ganlab.checkpoint import keep_checkpoint, load_checkpoint
from ganlab.runfolder import RunFolder
from ganlab.cli import main
from ganlab.errors import ConfigError

KEEP = {"steps": 6, "keep_every": 2, "checkpoint_every": 5}


def no_links(*args, **kwargs):
    """os.link on a file system without hard links."""
    raise OSError(95, "Operation not supported")


def _weights(path):
    return load_checkpoint(path)["generator"]


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_each_kept_checkpoint_is_the_run_at_its_step(run_tiny):
    trainer = run_tiny(["lsgan"], train=KEEP)
    assert RunFolder(trainer.run_dir).kept_steps() == [2, 4, 6]
    for step in (2, 4, 6):
        assert load_checkpoint(RunFolder(trainer.run_dir).kept(step))["step"] == step
    # Step 2's weights are those of a run that trained 2 steps (same seed), not a later state.
    short = run_tiny(["lsgan"], train={"steps": 2})
    assert _same(_weights(RunFolder(trainer.run_dir).kept(2)), _weights(short.run_dir / "checkpoint.pt"))
    assert not _same(_weights(RunFolder(trainer.run_dir).kept(2)), _weights(trainer.run_dir / "checkpoint.pt"))
    assert _same(_weights(RunFolder(trainer.run_dir).kept(6)), _weights(trainer.run_dir / "checkpoint.pt"))


def test_without_keep_every_only_the_latest_is_written(run_tiny):
    trainer = run_tiny(["lsgan"], train={"steps": 4, "checkpoint_every": 2})
    assert RunFolder(trainer.run_dir).kept_steps() == [] and not (trainer.run_dir / "checkpoints").exists()


def test_keep_every_may_change_on_resume(run_tiny):
    trainer = run_tiny(["lsgan"], train={"steps": 2, "checkpoint_every": 2})
    assert main(["run", "--resume", str(trainer.run_dir), "--steps", "4", "--keep-every", "1", "--quiet"]) == 0
    assert RunFolder(trainer.run_dir).kept_steps() == [2, 3, 4]  # the step it resumed from is a keep step now


def test_a_negative_interval_is_refused():
    with pytest.raises(ConfigError, match="--keep-every must be 0"):
        from ganlab.config import TrainConfig

        TrainConfig(keep_every=-1)


def test_a_filesystem_without_hard_links_gets_a_copy(run_tiny, monkeypatch):
    trainer = run_tiny(["lsgan"])

    monkeypatch.setattr(os, "link", no_links)
    kept = keep_checkpoint(trainer.folder, 3)
    assert kept.read_bytes() == (trainer.run_dir / "checkpoint.pt").read_bytes()
    assert os.stat(kept).st_ino != os.stat(trainer.run_dir / "checkpoint.pt").st_ino
    assert [p.name for p in kept.parent.iterdir()] == [kept.name]  # no temporary file left


def _eval_rows(capsys, run_dir, *steps) -> list[dict]:
    args = [x for s in steps for x in ("--step", str(s))]
    assert main(["eval", str(run_dir), "--n", "200", "--json", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_eval_of_a_kept_step_is_the_eval_of_that_step(run_tiny, capsys):
    trainer = run_tiny(["lsgan"], train=KEEP)
    short = run_tiny(["lsgan"], train={"steps": 2})
    drop = lambda row: {k: v for k, v in row.items() if k != "seconds"}  # noqa: E731
    (kept,) = _eval_rows(capsys, trainer.run_dir, 2)
    (latest_of_short,) = _eval_rows(capsys, short.run_dir)
    assert kept["step"] == 2 and drop(kept) == drop(latest_of_short)


def test_eval_all_is_every_kept_step_then_the_latest_once(run_tiny, capsys):
    trainer = run_tiny(["lsgan"], train={**KEEP, "steps": 7})
    rows = _eval_rows(capsys, trainer.run_dir, "all")
    assert [r["step"] for r in rows] == [2, 4, 6, 7]
    logged = [json.loads(line) for line in (trainer.run_dir / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if r["source"] == "eval"] == [2, 4, 6, 7]


def test_eval_of_a_step_that_was_not_kept_names_the_steps_there_are(run_tiny, capsys):
    trainer = run_tiny(["lsgan"], train=KEEP)
    assert main(["eval", str(trainer.run_dir), "--n", "200", "--step", "4", "--step", "3"]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint of step 3" in err and "2, 4, 6" in err and "Traceback" not in err
    assert not (trainer.run_dir / "eval.jsonl").exists()  # step 4 was not evaluated either: nothing half-done
    plain = run_tiny(["lsgan"])
    assert main(["eval", str(plain.run_dir), "--step", "1"]) == 2
    assert "--keep-every" in capsys.readouterr().err


def test_eval_all_evaluates_a_latest_that_is_a_kept_step_once(run_tiny, capsys):
    trainer = run_tiny(["lsgan"], train=KEEP)  # 6 steps, kept every 2: the latest is step 6's kept file
    assert [r["step"] for r in _eval_rows(capsys, trainer.run_dir, "all")] == [2, 4, 6]


def test_eval_all_on_a_run_that_trains_on_meanwhile_evaluates_its_newest_checkpoint(run_tiny, capsys, monkeypatch):
    from ganlab import run_evaluation as eval_command

    trainer = run_tiny(["lsgan"], train={**KEEP, "steps": 7})
    evaluate = eval_command._evaluate
    calls = []

    def training_goes_on(run_dir, *args, **kwargs):  # the run takes 2 more steps after the first evaluation
        calls.append(1)
        if len(calls) == 2:
            assert main(["run", "--resume", str(run_dir), "--steps", "9", "--quiet"]) == 0
        return evaluate(run_dir, *args, **kwargs)

    monkeypatch.setattr(eval_command, "_evaluate", training_goes_on)
    assert main(["eval", str(trainer.run_dir), "--n", "200", "--step", "all"]) == 0
    rows = [json.loads(line) for line in (trainer.run_dir / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["source"] == "eval"] == [2, 4, 6, 9]


def test_a_kept_step_lost_to_a_kill_is_kept_on_resume(run_tiny):
    trainer = run_tiny(["lsgan"], train=KEEP)
    RunFolder(trainer.run_dir).kept(6).unlink()  # killed after writing step 6's checkpoint, before keeping it
    assert main(["run", "--resume", str(trainer.run_dir), "--steps", "7", "--quiet"]) == 0
    assert RunFolder(trainer.run_dir).kept_steps() == [2, 4, 6]
    assert load_checkpoint(RunFolder(trainer.run_dir).kept(6))["step"] == 6


def test_a_full_disk_while_keeping_names_the_kept_file(run_tiny, monkeypatch):
    import shutil

    from ganlab.checkpoint import RunWriteError

    trainer = run_tiny(["lsgan"])

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", no_links)
    monkeypatch.setattr(shutil, "copyfile", full)
    with pytest.raises(RunWriteError, match=r"cannot write .*checkpoints/step_000003\.pt: No space left"):
        keep_checkpoint(trainer.folder, 3)
    assert list((trainer.run_dir / "checkpoints").iterdir()) == []


def test_without_the_latest_checkpoint_the_kept_ones_are_named(run_tiny, capsys):
    trainer = run_tiny(["lsgan"], train=KEEP)
    (trainer.run_dir / "checkpoint.pt").unlink()
    assert main(["eval", str(trainer.run_dir), "--n", "100", "--step", "3"]) == 2
    assert "kept checkpoints of steps 2, 4, 6 and no checkpoint.pt" in capsys.readouterr().err
    assert [r["step"] for r in _eval_rows(capsys, trainer.run_dir, 4)] == [4]  # a kept step still evaluates


def test_eval_all_without_the_latest_checkpoint_evaluates_nothing(run_tiny, capsys):
    trainer = run_tiny(["lsgan"], train=KEEP)
    (trainer.run_dir / "checkpoint.pt").unlink()
    assert main(["eval", str(trainer.run_dir), "--n", "100", "--step", "all"]) == 2
    assert "kept checkpoints of steps 2, 4, 6: name them with --step N" in capsys.readouterr().err
    assert not (trainer.run_dir / "eval.jsonl").exists()


def test_only_files_named_as_kept_count_as_kept(run_tiny):
    trainer = run_tiny(["lsgan"], train=KEEP)
    folder = trainer.run_dir / "checkpoints"
    (folder / "step_1.pt").write_bytes(b"")  # hand-named: not findable as step 1's
    (folder / "step_x.pt").write_bytes(b"")
    assert RunFolder(trainer.run_dir).kept_steps() == [2, 4, 6]
