"""Plugin bugs and user mistakes that must end in a clear error, never lost work."""

from __future__ import annotations

import json
import os
import types

import pytest
import torch

from ganlab import hookimpl
from ganlab.checkpoint import load_checkpoint, save_checkpoint
from ganlab.cli import main
from ganlab.config import RunRequest, dump_run_config, load_config_file, TrainConfig
from ganlab.errors import CheckpointError, ConfigError, PluginError, TrainingDiverged
from ganlab.regularizers import Regularizer
from ganlab.run import prepare_run
from ganlab.runfolder import RunFolder


def plugin(**hooks):
    module = types.ModuleType("robustness_plugin")
    for name, fn in hooks.items():
        setattr(module, name, hookimpl(fn))
    return module


class Named(Regularizer):
    def __init__(self, name, player="D"):
        self.name, self.player = name, player

    def penalty(self, batch):
        return batch.fake_scores.pow(2).mean() * 0.0 + 1.0


# --- plugin bugs are reported with the plugin's name ---------------------------

def test_regularizer_that_is_not_a_regularizer(pm, run_tiny):
    pm.add_plugin(plugin(ganlab_regularizer=lambda: object()), "odd")
    with pytest.raises(PluginError, match="'odd'.*Regularizer"):
        run_tiny(["odd"], fit=False)


def test_two_regularizers_with_one_name(pm, run_tiny):
    pm.add_plugin(plugin(ganlab_regularizer=lambda: Named("gp")), "one")
    pm.add_plugin(plugin(ganlab_regularizer=lambda: Named("gp", "G")), "two")
    with pytest.raises(PluginError, match="'one' and 'two' both add a regularizer named 'gp'"):
        run_tiny(["one", "two"], fit=False)


def test_penalties_of_all_plugins_add_up(pm, run_tiny):
    pm.add_plugin(plugin(ganlab_regularizer=lambda: Named("a")), "pa")
    pm.add_plugin(plugin(ganlab_regularizer=lambda: [Named("b"), Named("c", "G")]), "pb")
    trainer = run_tiny(["pa", "pb"], train={"steps": 1})
    row = json.loads((trainer.run_dir / "metrics.jsonl").read_text())
    assert (row["penalty/a"], row["penalty/b"], row["penalty/c"]) == (1.0, 1.0, 1.0)


def test_transform_returning_nothing(pm, run_tiny):
    class Broken(Regularizer):
        name = "broken"

        def transform(self, module):
            module.requires_grad_(False)  # forgot to return it

    pm.add_plugin(plugin(ganlab_regularizer=lambda: Broken()), "forgetful")
    with pytest.raises(PluginError, match="broken.transform.*not an nn.Module"):
        run_tiny(["forgetful"], fit=False)


def test_optimizer_hook_returning_a_string(pm, run_tiny):
    pm.add_plugin(plugin(ganlab_optimizer=lambda: "adam"), "stringopt")
    with pytest.raises(PluginError, match=r"ganlab_optimizer \(stringopt\) returned str"):
        run_tiny(["stringopt"], fit=False)


@pytest.mark.parametrize("bad,needle", [
    (lambda real_scores, fake_scores: real_scores - fake_scores, "shape (16,)"),
    (lambda real_scores, fake_scores: 1.0, "a float"),
])
def test_loss_that_is_not_a_scalar_tensor(pm, run_tiny, bad, needle):
    pm.add_plugin(plugin(ganlab_d_loss=bad), "vector")
    with pytest.raises(PluginError, match=rf"ganlab_d_loss \(vector\) returned .*{needle[:5]}"):
        run_tiny(["vector"])


def test_discriminator_returning_a_zero_dim_tensor(pm, run_tiny):
    class Sum(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(()))

        def forward(self, x):
            return (x * self.w).sum()

    pm.add_plugin(plugin(ganlab_discriminator=lambda: Sum()), "summer")
    with pytest.raises(PluginError, match=r"shape \(\)"):
        run_tiny(["summer"])


def test_frozen_discriminator_parameters_stay_frozen(pm, run_tiny):
    from ganlab.plugins.mlp import MLPDiscriminator, MLPOptions

    def ganlab_discriminator(data, conditioner):
        d = MLPDiscriminator(data.shape, MLPOptions(d_hidden=(8,)), conditioner)
        d.features.requires_grad_(False)  # e.g. a pretrained feature extractor
        return d

    pm.add_plugin(plugin(ganlab_discriminator=ganlab_discriminator), "frozen-d")
    trainer = run_tiny(["frozen-d"], train={"steps": 2})
    assert not any(p.requires_grad for p in trainer.D.features.parameters())
    assert all(p.requires_grad for p in trainer.D.head.parameters())


def test_conditional_run_on_labelled_points(pm, run_tiny):
    from ganlab.datasets import DataSpec, LoadedData

    def ganlab_datasets():
        def load(request):
            x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
            return LoadedData(x, (x[:, 0] > 0).long(), DataSpec("halves", (2,), 2, "points"), "two halves")
        return {"halves": load}

    pm.add_plugin(plugin(ganlab_datasets=ganlab_datasets), "halves")
    trainer = run_tiny(["halves", "cgan"], data="halves")
    assert trainer.pictures.labels.unique().tolist() == [0, 1]
    assert (trainer.run_dir / "samples" / "step_000003.png").is_file()


# --- user mistakes ------------------------------------------------------------

def test_overlapping_toy_modes_are_rejected_before_training(run_tiny, tmp_path):
    with pytest.raises(ConfigError, match="ring_std"):
        run_tiny(["gan"], data="ring", options={"data": {"ring_modes": "64", "ring_std": "0.1"}},
                 out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("make_args,needle", [
    (lambda t: ["run", "--out", str(t / "file.txt")], "is a file"),
    (lambda t: ["run", "--config", str(t)], "cannot read config file"),
    (lambda t: ["run", "--seed", "18446744073709551615"], "--seed must be in"),
    (lambda t: ["run", "--plugin", "lsgan", "-o", "adam.lr=1"], "'adam' has no options"),
])
def test_more_user_errors_exit_2(tmp_path, capsys, make_args, needle):
    (tmp_path / "file.txt").write_text("x")
    assert main(make_args(tmp_path)) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


@pytest.mark.parametrize("text,needle", [("train = 5\n", "'train' in"), ("options = 3\n", "[options]")])
def test_toml_tables_of_the_wrong_type(tmp_path, text, needle):
    (tmp_path / "c.toml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config_file(tmp_path / "c.toml")
    assert needle in str(err.value)


def test_diverged_run_through_the_cli(pm, tmp_path, capsys, monkeypatch):
    import ganlab.manager as manager

    @hookimpl
    def ganlab_d_loss(real_scores, fake_scores):
        return real_scores.mean() * float("inf")

    module = types.ModuleType("inf_loss")
    module.ganlab_d_loss = ganlab_d_loss
    original = manager.make_plugin_manager

    def with_inf(autoload=None):
        made = original(autoload=False)
        made.add_plugin(module, "inf")
        return made

    monkeypatch.setattr(manager, "make_plugin_manager", with_inf)
    early = manager.check_names_early
    monkeypatch.setattr(manager, "check_names_early", lambda names, **kw: early([n for n in names if n != "inf"]))
    assert main(["run", "--plugin", "inf", "--steps", "3", "--batch-size", "8", "-o", "mlp.g_hidden=8",
                 "-o", "mlp.d_hidden=8", "--quiet", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "non-finite at step 1" in err and "Traceback" not in err


# --- run folders ----------------------------------------------------------------

def test_default_run_folders_never_collide(tmp_path):
    first, lock1, _ = RunFolder(tmp_path / "20260101-000000-gan").claim("a = 1\n", explicit=False)
    second, lock2, _ = RunFolder(tmp_path / "20260101-000000-gan").claim("a = 2\n", explicit=False)
    assert first.path != second.path and second.path.name == "20260101-000000-gan-2"
    assert first.config.read_text() == "a = 1\n" and second.config.read_text() == "a = 2\n"
    lock1.release(), lock2.release()


def test_explicit_out_claimed_by_another_run(tmp_path):
    _, lock, _ = RunFolder(tmp_path / "r").claim("a = 1\n", explicit=True)
    # While the other run holds the folder, the loser is told it is in use, never to delete it.
    with pytest.raises(ConfigError, match=rf"in use by another ganlab process \(pid {os.getpid()}\)") as err:
        RunFolder(tmp_path / "r").claim("a = 2\n", explicit=True)
    assert "delete" not in str(err.value)
    lock.release()
    with pytest.raises(ConfigError, match="stopped before its first checkpoint"):
        RunFolder(tmp_path / "r").claim("a = 2\n", explicit=True)
    assert (tmp_path / "r" / "config.toml").read_text() == "a = 1\n"


def test_run_without_checkpoint_explains_what_to_do(pm, tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.toml").write_text('plugins = ["lsgan"]\n')
    with pytest.raises(CheckpointError, match="--config"):
        prepare_run(pm, RunRequest(), resume=tmp_path / "r")


# --- checkpoints ----------------------------------------------------------------

def test_non_finite_weights_never_replace_the_checkpoint(tmp_path, run_tiny):
    trainer = run_tiny(["lsgan"], out=tmp_path / "r")
    before = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    with torch.no_grad():
        next(trainer.G.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="non-finite"):
        trainer.save_checkpoint()
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == before


def test_resume_refuses_other_data(pm, tmp_path, run_tiny):
    run_tiny(["lsgan"], out=tmp_path / "r")
    path = tmp_path / "r" / "checkpoint.pt"
    state = load_checkpoint(path)
    state["data"]["n"] = 60000
    save_checkpoint({k: v for k, v in state.items() if k != "format"}, path)
    with pytest.raises(CheckpointError, match="trained on"):
        prepare_run(pm, RunRequest(train={"steps": 5}), resume=tmp_path / "r")


def test_resume_on_another_device_type_warns_and_continues(pm, tmp_path, run_tiny):
    run_tiny(["lsgan"], out=tmp_path / "r")
    path = tmp_path / "r" / "checkpoint.pt"
    state = load_checkpoint(path)
    state["device"] = "cuda"  # as if written on a GPU machine
    save_checkpoint({k: v for k, v in state.items() if k != "format"}, path)
    with pytest.warns(UserWarning, match="written on cuda"):
        trainer = prepare_run(pm, RunRequest(train={"steps": 4}), resume=tmp_path / "r", quiet=True)
    assert trainer.fit() == "finished" and trainer.step == 4


def test_torn_metrics_line_does_not_block_resume(pm, tmp_path, run_tiny):
    run_tiny(["lsgan"], out=tmp_path / "r")
    with open(tmp_path / "r" / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 4, "d_lo')  # killed mid-write
    trainer = prepare_run(pm, RunRequest(train={"steps": 4}), resume=tmp_path / "r", quiet=True)
    trainer.fit()
    steps = [json.loads(l)["step"] for l in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


# --- the run record -----------------------------------------------------------------

def test_every_builtin_option_survives_the_run_record(pm, tmp_path):
    """Options written to config.toml read back to the same values, None included."""
    from ganlab.options import build_options

    for name, info in pm.infos.items():
        if not info.ok or info.options_cls is None:
            continue
        values = {f: getattr(info.options_cls(), f) for f in info.options_cls.__dataclass_fields__}
        text = dump_run_config([name], TrainConfig(), {name: values}, {"note": 'quote " and \\ and \n\t'})
        (tmp_path / "c.toml").write_text(text)
        loaded = load_config_file(tmp_path / "c.toml")
        assert build_options(info.options_cls, loaded.options[name], name) == info.options_cls(), name


def test_none_option_survives_the_run_record(tmp_path, run_tiny):
    """wgan.clip=none (clipping off, e.g. with sn) must not come back as the default 0.01."""
    trainer = run_tiny(["wgan", "sn"], options={"wgan": {"clip": "none"}})
    loaded = load_config_file(trainer.run_dir / "config.toml")
    assert loaded.options["wgan"]["clip"] == "none"
    assert [r.name for r in trainer.setup.regularizers] == ["spectral_norm"]


def test_record_writes_unusual_values(tmp_path):
    from pathlib import Path

    import numpy as np

    record = {"root": Path("/data/x"), "n": np.int64(7), "ключ": "значение", "bell": "\x07"}
    (tmp_path / "c.toml").write_text(dump_run_config([], TrainConfig(), {}, record))
    import tomllib

    got = tomllib.loads((tmp_path / "c.toml").read_text())["record"]
    assert got == {"root": "/data/x", "n": 7, "ключ": "значение", "bell": "\x07"}
