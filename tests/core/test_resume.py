"""Resuming continues bit for bit; failures keep earlier work intact."""

from __future__ import annotations

import json
import types

import pytest
import torch

from ganlab import hookimpl
from ganlab.checkpoint import RunWriteError, load_checkpoint
from ganlab.config import RunRequest
from ganlab.errors import CheckpointError, ConfigError, TrainingDiverged
from ganlab.run import prepare_run


def _state(trainer):
    average = trainer.G_avg.state_dict() if trainer.G_avg is not None else {}
    return {**{f"G.{k}": v for k, v in trainer.G.state_dict().items()},
            **{f"D.{k}": v for k, v in trainer.D.state_dict().items()},
            **{f"G_avg.{k}": v for k, v in average.items()}}


def _equal(a, b) -> bool:
    return torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b


@pytest.mark.parametrize("plugins,options,train", [
    (["lsgan"], {"mlp": {"d_dropout": "0.3"}}, {}),  # dropout draws from the global RNG
    (["gan"], {}, {"n_critic": 2, "data": "ring"}),  # several critic steps per G step, toy data
    (["wgan", "sn"], {"wgan": {"clip": "none"}}, {}),  # a None option, power-iteration buffers
    (["cgan", "wgan-gp"], {}, {}),  # labels, a penalty drawing from the global RNG
    (["lsgan", "lecam"], {}, {}),  # a regularizer with state of its own (moving-average anchors)
    (["began"], {"began": {"k0": "0.5", "gamma": "1.0", "lambda_k": "0.1"}}, {}),  # k_t as state, k ≠ 0 throughout
    (["lsgan", "ema"], {"ema": {"decay": "0.9"}}, {}),  # an average of G's weights and its update count
])
def test_resume_is_bitwise_identical(pm, tmp_path, run_tiny, plugins, options, train):
    n = 6
    straight = run_tiny(plugins, options=options, train={**train, "steps": n}, out=tmp_path / "straight")
    half = run_tiny(plugins, options=options, train={**train, "steps": n // 2}, out=tmp_path / "split")
    assert half.step == n // 2
    resumed = prepare_run(pm, RunRequest(train={"steps": n}), resume=tmp_path / "split", quiet=True)
    assert resumed.step == n // 2
    resumed.fit()
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys()
    mismatched = [k for k in a if not _equal(a[k], b[k])]
    assert not mismatched
    # The optimizer and random states match too, so training would keep matching.
    for opt in ("opt_g", "opt_d"):
        sa, sb = getattr(straight, opt).state_dict()["state"], getattr(resumed, opt).state_dict()["state"]
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[i][k], sb[i][k]) for i in sa for k in sa[i])
    assert torch.equal(straight.noise.get_state(), resumed.noise.get_state())
    assert torch.equal(straight.batcher.generator.get_state(), resumed.batcher.generator.get_state())
    rows_a = (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()
    rows_b = (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    strip = lambda rows: [{k: v for k, v in json.loads(r).items() if k != "time"} for r in rows]
    assert strip(rows_a) == strip(rows_b)


def test_resume_drops_metrics_logged_after_the_checkpoint(pm, tmp_path, run_tiny):
    run_tiny(["lsgan"], train={"steps": 5, "checkpoint_every": 2}, out=tmp_path / "r")
    ckpt = load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    assert ckpt["step"] == 5
    # Simulate a crash after step 4's checkpoint by rewinding to an older checkpoint file.
    trainer = prepare_run(pm, RunRequest(train={"steps": 5}), resume=tmp_path / "r", quiet=True)
    trainer.step = 4
    trainer.save_checkpoint()
    trainer.close()  # hand the folder back, as a finished or crashed process does
    again = prepare_run(pm, RunRequest(train={"steps": 6}), resume=tmp_path / "r", quiet=True)
    steps = [json.loads(l)["step"] for l in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert again.step == 4 and steps == [1, 2, 3, 4]


def test_resume_refuses_changed_plugins_or_options(pm, tmp_path, run_tiny):
    run_tiny(["lsgan"], out=tmp_path / "r")
    with pytest.raises(ConfigError, match="--plugin"):
        prepare_run(pm, RunRequest(plugins=["gan"]), resume=tmp_path / "r")
    with pytest.raises(ConfigError, match="--lr"):
        prepare_run(pm, RunRequest(train={"lr": 0.1}), resume=tmp_path / "r")


def test_resume_of_a_folder_that_is_not_a_run(pm, tmp_path):
    with pytest.raises(CheckpointError, match="not a ganlab run folder"):
        prepare_run(pm, RunRequest(), resume=tmp_path)


def test_corrupt_checkpoint_is_a_clear_error(pm, tmp_path, run_tiny):
    run_tiny(["lsgan"], out=tmp_path / "r")
    ckpt = tmp_path / "r" / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[: len(ckpt.read_bytes()) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        prepare_run(pm, RunRequest(train={"steps": 5}), resume=tmp_path / "r")
    ckpt.write_bytes(b"hello")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(ckpt)


def test_checkpoint_without_ganlab_format_is_rejected(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a ganlab checkpoint"):
        load_checkpoint(path)


def test_checkpoint_write_is_atomic(tmp_path, run_tiny, monkeypatch):
    trainer = run_tiny(["lsgan"], out=tmp_path / "r")
    before = (tmp_path / "r" / "checkpoint.pt").read_bytes()

    def exploding_save(obj, fh):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", exploding_save)
    with pytest.raises(RunWriteError, match=r"cannot write .*checkpoint.pt: disk full.*previous checkpoint is intact"):
        trainer.save_checkpoint()
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "r").iterdir() if "tmp" in p.name) == []  # temp removed


def _nan_plugin(at_call):
    calls = {"n": 0}

    @hookimpl
    def ganlab_d_loss(real_scores, fake_scores):
        calls["n"] += 1
        loss = (real_scores - 1).pow(2).mean() + fake_scores.pow(2).mean()
        return loss * float("nan") if calls["n"] >= at_call else loss

    module = types.ModuleType("nan_plugin")
    module.ganlab_d_loss = ganlab_d_loss
    return module


def test_non_finite_loss_stops_and_keeps_last_checkpoint(pm, tmp_path, run_tiny):
    pm.add_plugin(_nan_plugin(at_call=4), "nan-at-4")
    with pytest.raises(TrainingDiverged) as err:
        run_tiny(["nan-at-4"], train={"steps": 10, "checkpoint_every": 2}, out=tmp_path / "r")
    msg = str(err.value)
    assert "step 4" in msg and "d_loss=nan" in msg and "intact" in msg
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt")["step"] == 2
    steps = [json.loads(l)["step"] for l in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]


def test_existing_run_folder_is_never_overwritten(pm, tmp_path, run_tiny):
    run_tiny(["lsgan"], out=tmp_path / "r")
    before = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        run_tiny(["lsgan"], out=tmp_path / "r")
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == before


def test_ctrl_c_finishes_the_step_saves_and_resumes(pm, tmp_path, run_tiny):
    import os
    import signal

    def ganlab_on_log(step):
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends

    module = types.ModuleType("interrupter")
    module.ganlab_on_log = hookimpl(ganlab_on_log)
    pm.add_plugin(module, "interrupter")
    trainer = run_tiny(["interrupter"], train={"steps": 6}, fit=False, out=tmp_path / "r")
    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN under a background shell
    assert trainer.fit() == "interrupted"
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt")["step"] == 2
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    resumed = prepare_run(pm, RunRequest(train={"steps": 3}), resume=tmp_path / "r", quiet=True)
    assert resumed.fit() == "finished" and resumed.step == 3


def test_resume_after_a_crash_between_checkpoints(pm, tmp_path, run_tiny, monkeypatch):
    straight = run_tiny(["lsgan"], train={"steps": 6}, out=tmp_path / "straight")
    crashing = run_tiny(["lsgan"], train={"steps": 6, "checkpoint_every": 2, "sample_every": 5},
                        out=tmp_path / "crash", fit=False)

    def crash():
        raise RuntimeError("power cut")

    monkeypatch.setattr(crashing, "save_samples", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        crashing.fit()
    assert load_checkpoint(tmp_path / "crash" / "checkpoint.pt")["step"] == 4
    resumed = prepare_run(pm, RunRequest(train={"steps": 6}), resume=tmp_path / "crash", quiet=True)
    assert resumed.step == 4
    resumed.fit()
    a, b = _state(straight), _state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(l)["step"] for l in (tmp_path / "crash" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
