"""Typed options, -o overrides, TOML files and the run record."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Literal

import pytest
import torch

from ganlab.config import RunRequest, TrainConfig, load_config_file, resolve_train
from ganlab.options import parse_override
from ganlab.errors import ConfigError, PluginError
from ganlab.options import Options, build_options, defaults_for, option_fields, parse_value


@dataclass
class Opts:
    rate: float = field(default=0.5, metadata={"help": "a rate"})
    count: int = 3
    flag: bool = False
    mode: Literal["x", "y"] = "x"
    widths: tuple[int, ...] = (1, 2)
    maybe: float | None = None


def test_values_are_parsed_by_type():
    o = build_options(Opts, {"rate": "0.25", "count": "7", "flag": "true", "mode": "y",
                             "widths": "4,5,6", "maybe": "none"}, "t")
    assert (o.rate, o.count, o.flag, o.mode, o.widths, o.maybe) == (0.25, 7, True, "y", (4, 5, 6), None)
    assert build_options(Opts, {"maybe": "1.5"}, "t").maybe == 1.5
    assert option_fields(Opts)[0].help == "a rate"


@pytest.mark.parametrize("key,value,needle", [
    ("count", "2.5", "expected an integer"),
    ("rate", "fast", "expected a number"),
    ("flag", "maybe", "expected true or false"),
    ("mode", "z", "expected one of x, y"),
    ("rate", "nan", "not nan"),
])
def test_bad_value_names_key_and_expectation(key, value, needle):
    with pytest.raises(ConfigError) as err:
        build_options(Opts, {key: value}, "t")
    assert f"t.{key}" in str(err.value) and needle in str(err.value)


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError) as err:
        build_options(Opts, {"rte": "1"}, "t")
    assert "t.rte" in str(err.value) and "rate, count, flag, mode, widths, maybe" in str(err.value)


def test_post_init_rejection_becomes_config_error(pm):
    sel = pm.select(["lsgan"])
    with pytest.raises(ConfigError, match="a and b must differ"):
        sel.build_options({"lsgan": {"a": "1", "b": "1"}})


def test_options_for_inactive_or_unknown_plugin(pm):
    sel = pm.select(["lsgan"])
    with pytest.raises(ConfigError, match="--plugin gan"):
        sel.build_options({"gan": {"generator_loss": "minimax"}})
    with pytest.raises(Exception, match="unknown plugin 'nope'"):
        sel.build_options({"nope": {"x": "1"}})


def test_options_mapping_by_type_and_name(pm):
    from ganlab.plugins.lsgan import LSGANOptions

    options = pm.select(["lsgan"]).build_options({"lsgan": {"preset": "pearson"}})
    assert options[LSGANOptions] is options["lsgan"]
    assert (options[LSGANOptions].a, options[LSGANOptions].b, options[LSGANOptions].c) == (-1.0, 1.0, 0.0)
    assert defaults_for(LSGANOptions)[LSGANOptions] == LSGANOptions()  # outside a run: explicit defaults
    with pytest.raises(PluginError, match="no active plugin declares"):
        Options()[LSGANOptions]


def test_options_lookup_through_a_second_copy_of_the_class_raises(pm):
    """A module imported twice makes a twin class; -o values must not silently vanish."""
    import importlib.util

    from ganlab.plugins import lsgan

    spec = importlib.util.spec_from_file_location("lsgan_twin", lsgan.__file__)
    twin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(twin)
    options = pm.select(["lsgan"]).build_options({"lsgan": {"a": "-1"}})
    assert options[lsgan.LSGANOptions].a == -1.0
    with pytest.raises(PluginError, match="imported twice"):
        options[twin.LSGANOptions]


def test_parse_override():
    assert parse_override("lsgan.a=-1") == ("lsgan", "a", "-1")
    assert parse_override("mlp.g_hidden=1,2") == ("mlp", "g_hidden", "1,2")
    for bad in ("lsgan.a", "a=1", ".a=1"):
        with pytest.raises(ConfigError, match="PLUGIN.KEY=VALUE"):
            parse_override(bad)


def test_train_config_validation():
    with pytest.raises(ConfigError, match="--batch-size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ConfigError, match="--betas"):
        TrainConfig(betas=(0.5, 1.5))
    assert parse_value(TrainConfig.__annotations__["betas"] and tuple[float, float], "0,0.9") == (0.0, 0.9)


def test_user_values_beat_plugin_suggestions():
    train = resolve_train(RunRequest(train={"lr": 1e-3}), [("wgan", {"lr": 5e-5, "n_critic": 5})])
    assert (train.lr, train.n_critic) == (1e-3, 5)


def test_toml_file_loads_and_command_line_wins(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('plugins = ["lsgan"]\n[train]\nsteps = 7\nlr = 0.001\n[options.lsgan]\na = -1.0\nc = 0.0\n')
    from_file = load_config_file(cfg)
    merged = from_file.merged_with(RunRequest([], {"steps": 9}, {"lsgan": {"c": "0.5"}}))
    assert merged.plugins == ["lsgan"]
    assert merged.train == {"steps": 9, "lr": 0.001}
    assert merged.options == {"lsgan": {"a": -1.0, "c": "0.5"}}


@pytest.mark.parametrize("text,needle", [
    ("plugins = [\n", "not valid TOML"),
    ("[trian]\nsteps = 1\n", "unknown section(s) trian"),
    ("[train]\nstep = 1\n", "unknown trainer setting 'step'"),
    ("[train]\nsteps = 'many'\n", "bad value 'many' for steps"),
    ("plugins = 'lsgan'\n", "must be a list"),
])
def test_bad_toml_files(tmp_path, text, needle):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        resolve_train(load_config_file(cfg), [])  # values are parsed once, when the run is resolved
    assert needle in str(err.value) and (needle != "bad value 'many' for steps" or str(cfg) in str(err.value))


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config_file(tmp_path / "nope.toml")


def test_run_record_contents(run_tiny):
    trainer = run_tiny(["lsgan"], options={"lsgan": {"preset": "pearson"}})
    record = tomllib.loads((trainer.run_dir / "config.toml").read_text())
    assert record["plugins"] == ["lsgan"]
    assert record["train"]["steps"] == 3 and record["train"]["data"] == "mnist-embedded"
    assert record["options"]["lsgan"]["a"] == -1.0 and record["options"]["mlp"]["g_hidden"] == [32]
    assert record["record"]["torch"] == torch.__version__
    assert set(record["record"]["plugins"]) == {"data", "mnist-metrics", "lsgan", "mlp", "adam"}
    assert record["record"]["data"]["n"] == 10000 and "embedded" in record["record"]["data"]["source"]


def test_config_toml_reproduces_the_run(pm, tmp_path, run_tiny):
    from ganlab.run import prepare_run

    first = run_tiny(["lsgan"], options={"mlp": {"d_dropout": "0.2"}}, train={"seed": 5})
    request = load_config_file(first.run_dir / "config.toml")
    second = prepare_run(pm, request, out=tmp_path / "again", quiet=True)
    second.fit()
    a, b = first.G.state_dict(), second.G.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
