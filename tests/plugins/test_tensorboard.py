"""The tensorboard plugin, read back with TensorBoard's own reader (EventAccumulator)."""

from __future__ import annotations

import json
import types
from pathlib import Path

from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from ganlab import hookimpl
from ganlab.cli import main

SMALL = ["-o", "mlp.g_hidden=16", "-o", "mlp.d_hidden=16", "--batch-size", "8", "--device", "cpu"]


def events(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def session_hparams(folder: Path) -> dict:
    acc = events(folder)
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    out = {}
    for key, value in info.hparams.items():
        kind = value.WhichOneof("kind")
        out[key] = getattr(value, kind)
    return out


def test_metrics_eval_rows_samples_and_hparams_reach_tensorboard(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--plugin", "gan", "--plugin", "tensorboard", "--data", "ring", "--steps", "8",
                 "--log-every", "2", "--sample-every", "4", "--quiet", "--out", str(out), *SMALL]) == 0
    acc = events(out / "tensorboard")
    metrics = rows(out / "metrics.jsonl")
    for key in ("d_loss", "g_loss", "d_real", "grad_norm_d"):
        if key not in metrics[0]:
            continue
        logged = acc.Scalars(f"train/{key}")
        assert [e.step for e in logged] == [r["step"] for r in metrics] == [2, 4, 6, 8]
        for e, r in zip(logged, metrics):  # events hold float32: within its rounding of the row's value
            assert abs(e.value - r[key]) <= 2 ** -23 * max(1.0, abs(r[key]))
    evals = rows(out / "eval.jsonl")
    assert [r["step"] for r in evals] == [4, 8]
    mode_keys = [k for k in evals[0] if k not in ("step", "source", "n") and all(r[k] is not None for r in evals)]
    assert "high_quality_fraction" in mode_keys
    assert not [k for k in evals[0] if evals[0][k] is None and f"eval/samples/{k}" in events(out / "tensorboard").Tags()["scalars"]]  # undefined values (KL with no sample near a mode) are not plotted as 0
    for key in mode_keys:
        logged = acc.Scalars(f"eval/samples/{key}")
        assert [(e.step, round(e.value, 4)) for e in logged] == [(r["step"], round(float(r[key]), 4)) for r in evals]
    pictures = acc.Images("samples")
    assert [p.step for p in pictures] == [4, 8]
    with Image.open(out / "samples" / "step_000008.png") as png:
        assert (pictures[-1].width, pictures[-1].height) == png.size

    hp = session_hparams(out / "tensorboard" / "hparams")
    assert hp["plugins"] == "gan,tensorboard" and hp["train.steps"] == 8 and hp["train.data"] == "ring"
    assert hp["mlp.g_hidden"] == "16" and hp["status"] == "finished"
    final = events(out / "tensorboard" / "hparams")
    assert abs(final.Scalars("final/d_loss")[-1].value - metrics[-1]["d_loss"]) <= 2 ** -23 * max(1, abs(metrics[-1]["d_loss"]))


def test_ganlab_eval_of_the_saved_run_adds_its_rows_and_keeps_trainings(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--plugin", "gan", "--plugin", "tensorboard", "--data", "ring", "--steps", "4",
                 "--log-every", "1", "--sample-every", "100", "--checkpoint-every", "2", "--keep-every", "2",
                 "--quiet", "--out", str(out), *SMALL]) == 0
    trained = [e.step for e in events(out / "tensorboard").Scalars("train/d_loss")]
    capsys.readouterr()
    assert main(["eval", str(out), "--n", "200", "--step", "2", "--json"]) == 0  # a step before the last
    row = json.loads(capsys.readouterr().out)
    acc = events(out / "tensorboard")
    assert [e.step for e in acc.Scalars("train/d_loss")] == trained == [1, 2, 3, 4]  # steps 3, 4 not purged
    for key in ("modes_captured", "high_quality_fraction"):
        logged = acc.Scalars(f"eval/eval/{key}")
        assert [(e.step, round(e.value, 4)) for e in logged] == [(2, round(row[key], 4))]
    assert not [t for t in acc.Tags()["scalars"] if t.split("/")[-1] in ("seed", "n_real", "seconds", "n")]


def _fails_once_at(at):
    state = {"failed": False}

    def on_log(step, record, run_dir):
        if step == at and not state["failed"]:
            state["failed"] = True
            raise RuntimeError("the machine went away")

    plugin = types.ModuleType("flaky")
    plugin.ganlab_on_log = hookimpl(on_log)
    return plugin


def test_a_resumed_run_continues_the_event_files_without_duplicate_steps(tmp_path, pm):
    from ganlab.config import RunRequest
    from ganlab.errors import PluginError
    from ganlab.run import prepare_run

    pm.add_plugin(_fails_once_at(6), "flaky", source="test")
    out = tmp_path / "run"
    train = {"data": "ring", "steps": 8, "log_every": 1, "sample_every": 100, "checkpoint_every": 4,
             "batch_size": 8, "device": "cpu"}
    request = RunRequest(["gan", "tensorboard", "flaky"], train, {"mlp": {"g_hidden": "16", "d_hidden": "16"}})
    trainer = prepare_run(pm, request, out=out, quiet=True, log=lambda *a: None)
    try:
        trainer.fit()
    except PluginError as exc:
        assert "went away" in str(exc)
    else:
        raise AssertionError("the flaky plugin should have stopped the run")
    first = events(out / "tensorboard").Scalars("train/d_loss")
    assert [e.step for e in first][-1] >= 5  # logged past the checkpoint at 4: these steps are trained again

    prepare_run(pm, RunRequest(train={"steps": 8}), resume=out, quiet=True, log=lambda *a: None).fit()
    logged = events(out / "tensorboard").Scalars("train/d_loss")
    metrics = rows(out / "metrics.jsonl")
    assert [e.step for e in logged] == [r["step"] for r in metrics] == list(range(1, 9))
    for e, r in zip(logged, metrics):
        assert abs(e.value - r["d_loss"]) <= 2 ** -23 * max(1.0, abs(r["d_loss"]))
    assert session_hparams(out / "tensorboard" / "hparams")["status"] == "finished"


def test_a_sweep_is_one_hparams_table(tmp_path, capsys):
    out = tmp_path / "sweep"
    code = main(["compare", "--variant", "gan+tensorboard", "--variant", "lsgan+tensorboard", "--data", "ring",
                 "--steps", "3", "--out", str(out), "--threads", "1", "-o", "mlp.g_hidden=16",
                 "-o", "mlp.d_hidden=16", "--batch-size", "8"])
    assert code == 0, capsys.readouterr()
    sessions = sorted(out.glob("cells/*/seed0/tensorboard/hparams"))
    assert len(sessions) == 2
    assert sorted(session_hparams(s)["plugins"] for s in sessions) == ["gan,tensorboard", "lsgan,tensorboard"]


def test_without_the_package_the_run_stops_before_it_starts_and_says_how_to_install(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    out = tmp_path / "run"
    assert main(["run", "--plugin", "tensorboard", "--data", "ring", "--steps", "2", "--out", str(out), *SMALL]) == 2
    err = capsys.readouterr().err
    assert "pip install 'ganlab[tensorboard]'" in err and "Traceback" not in err
    assert not out.exists()
