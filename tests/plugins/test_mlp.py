"""The mlp plugin's options: presets, their conflicts, and the batch-norm and dropout placement."""

from __future__ import annotations

import pytest
import torch

from ganlab.errors import ConfigError
from ganlab.options import options_as_dict
from ganlab.plugins.mlp import MLPDiscriminator, MLPGenerator, MLPOptions


def build(pm, **values):
    return pm.select(["mlp"]).build_options({"mlp": values})[MLPOptions]


def test_seed000_preset_is_the_default(pm):
    assert options_as_dict(build(pm, preset="seed000")) == {**options_as_dict(MLPOptions()), "preset": "seed000"}


def test_preset_with_a_conflicting_field_is_rejected_naming_it(pm):
    with pytest.raises(ConfigError, match=r"d_hidden=\(32,\)"):
        build(pm, preset="seed002", d_hidden="32")
    with pytest.raises(ConfigError, match="activation=relu") as err:
        build(pm, preset="seed004", activation="relu", g_hidden="32")
    assert "g_hidden=(32,)" in str(err.value)  # every conflict is listed, not just the first


def test_preset_accepts_its_own_values_so_a_saved_config_reads_back(pm):
    resolved = options_as_dict(build(pm, preset="seed002"))
    again = build(pm, **{k: ",".join(map(str, v)) if isinstance(v, tuple) else str(v) for k, v in resolved.items()})
    assert options_as_dict(again) == resolved
    assert (again.g_batchnorm_eps, again.d_dropout, again.d_dropout_first) == (0.8, 0.4, False)


@pytest.mark.parametrize("bad", [{"g_batchnorm_eps": "0"}, {"d_dropout": "1"}, {"g_hidden": "0"}])
def test_bad_values_are_rejected_naming_the_field(pm, bad):
    (name,) = bad
    with pytest.raises(ConfigError, match=name):
        build(pm, **bad)


def test_first_layer_switches_only_touch_the_first_layer():
    opts = MLPOptions(g_hidden=(4, 5, 6), d_hidden=(7, 8), d_dropout=0.5,
                      g_batchnorm_first=False, d_dropout_first=False, g_batchnorm_eps=0.25)
    g = MLPGenerator(3, (2,), opts, tanh=False)
    norms = [(m.num_features, m.eps) for m in g.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert norms == [(5, 0.25), (6, 0.25)]
    d = MLPDiscriminator((2,), opts)
    kinds = [type(m).__name__ for m in d.features]
    assert kinds == ["Linear", "GELU", "Linear", "GELU", "Dropout"]


@pytest.mark.parametrize("data, bound", [("ring", 1.0), ("grid", 4.0)])
def test_point_generators_are_not_squashed(run_tiny, data, bound):
    # The grid's outer modes sit at ±4: a tanh output could never reach them.
    G = run_tiny([], data=data, options={"data": {"toy_samples": "256"}}, fit=False).G
    assert not any(isinstance(m, torch.nn.Tanh) for m in G.modules())
    with torch.no_grad():
        last = [m for m in G.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.bias.fill_(bound + 10.0)  # the output layer alone can move samples past the data's extent
        assert G.eval()(torch.randn(4, G.net[0].in_features)).min() > bound


def test_image_generators_end_in_tanh(run_tiny):
    G = run_tiny([], fit=False).G
    assert isinstance(list(G.net)[-1], torch.nn.Tanh)
    with torch.no_grad():
        for p in G.parameters():
            p.mul_(50)  # drive the pre-activations far out: images still stay in [-1, 1]
        assert G.eval()(torch.randn(8, G.net[0].in_features)).abs().max() <= 1
