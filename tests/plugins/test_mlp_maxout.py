"""mlp's maxout activation, its N(0, std) init and the ``pacgan-paper`` preset (PacGAN's networks)."""

from __future__ import annotations

import math

import pytest
import torch

from ganlab.config import RunRequest, options_read_back, resolve_config
from ganlab.errors import ConfigError
from ganlab.options import options_as_dict
from ganlab.plugins.mlp import PRESETS, Maxout, MLPDiscriminator, MLPGenerator, MLPOptions, NormalLinear


def build(pm, **values):
    return pm.select(["mlp"]).build_options({"mlp": values})[MLPOptions]


def test_maxout_takes_the_max_of_each_group_of_consecutive_pieces():
    x = torch.tensor([[1.0, 5.0, -2.0, 0.0, -1.0, -3.0],
                      [-7.0, -8.0, -9.0, 4.0, 4.5, 4.25]])
    assert torch.equal(Maxout(3)(x), torch.tensor([[5.0, 0.0], [-7.0, 4.5]]))


def test_a_maxout_discriminator_matches_a_hand_computation():
    # One hidden maxout layer of width 2 with 3 pieces: a Linear 2 -> 6, then max over (0,1,2) and (3,4,5).
    opts = MLPOptions(d_hidden=(2,), activation="maxout", pieces=3)
    D = MLPDiscriminator((2,), opts)
    first, _ = D.features
    assert (first.in_features, first.out_features) == (2, 6)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0], [0.0, -1.0], [2.0, -1.0]]))
        first.bias.copy_(torch.tensor([0.0, 0.5, -1.0, 0.0, 0.25, 0.0]))
        D.head.weight.copy_(torch.tensor([[2.0, -3.0]]))
        D.head.bias.fill_(0.5)
    x = torch.tensor([[1.0, -2.0]])
    # Units: x1 = 1, x2 + 0.5 = -1.5, x1 + x2 - 1 = -2 -> max 1; -x1 = -1, -x2 + 0.25 = 2.25, 2x1 - x2 = 4 -> max 4.
    # Score: 2·1 - 3·4 + 0.5 = -9.5.
    assert D(x).item() == -9.5
    # The gradient reaches only the winning piece of each group.
    D(x).sum().backward()
    assert first.weight.grad[:, 0].tolist() == [2.0, 0.0, 0.0, 0.0, 0.0, -3.0]


def test_maxout_can_be_d_only_and_g_keeps_its_activation():
    opts = MLPOptions(g_hidden=(4,), d_hidden=(3, 3), activation="relu", d_activation="maxout", pieces=2)
    D, G = MLPDiscriminator((2,), opts), MLPGenerator(2, (2,), opts, tanh=False)
    assert [type(m).__name__ for m in D.features] == ["Linear", "Maxout", "Linear", "Maxout"]
    assert [m.out_features for m in D.features if isinstance(m, torch.nn.Linear)] == [6, 6]
    assert [type(m).__name__ for m in G.net] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    # maxout as the shared activation reaches G too: its batch norm normalises all w·k units
    both = MLPOptions(g_hidden=(4,), d_hidden=(3,), activation="maxout", pieces=2)
    G = MLPGenerator(2, (2,), both, tanh=False)
    assert [type(m).__name__ for m in G.net] == ["Linear", "BatchNorm1d", "Maxout", "Linear"]
    assert G(torch.randn(5, 2)).shape == (5, 2)


def _weights(module):
    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


@pytest.mark.parametrize("std", [0.02, 0.5])
def test_normal_init_draws_weights_with_the_given_std_and_zero_biases(std):
    torch.manual_seed(0)
    opts = MLPOptions(g_hidden=(300, 300), d_hidden=(300, 300), activation="maxout", pieces=3, init="normal",
                      init_std=std)
    layers = _weights(MLPDiscriminator((2,), opts)) + _weights(MLPGenerator(2, (2,), opts, tanh=False))
    assert all(isinstance(m, NormalLinear) for m in layers)
    w = torch.cat([m.weight.detach().flatten().double() for m in layers])
    n = w.numel()  # about 1.2 million
    # For n i.i.d. N(0, σ²) draws the sample mean has std σ/√n and the sample std σ/√(2n) (normal theory);
    # 5 standard errors leave a false alarm rate below 1e-6, while a wrong rule (PyTorch's uniform, a
    # std of 0.03 for 0.02) misses by hundreds of standard errors.
    assert abs(float(w.mean())) <= 5 * std / math.sqrt(n)
    assert abs(float(w.std()) - std) <= 5 * std / math.sqrt(2 * n)
    # The fourth moment tells a normal (kurtosis 3) from a uniform (1.8); its standard error is √(24/n).
    kurtosis = float(((w - w.mean()) ** 4).mean() / w.var(unbiased=False) ** 2)
    assert abs(kurtosis - 3) <= 5 * math.sqrt(24 / n)
    assert all(m.bias is None or not m.bias.any() for m in layers)


def test_normal_init_lives_in_reset_parameters_so_a_rebuilt_layer_draws_alike():
    layer = NormalLinear(2, 4, std=0.02)
    layer.weight = torch.nn.Parameter(torch.empty(4000, 200))
    layer.bias = torch.nn.Parameter(torch.ones(4000))
    layer.reset_parameters()
    assert abs(float(layer.weight.detach().std()) - 0.02) <= 5 * 0.02 / math.sqrt(2 * layer.weight.numel())
    assert not layer.bias.any()


def test_default_init_is_pytorchs():
    torch.manual_seed(0)
    layers = _weights(MLPDiscriminator((2,), MLPOptions()))
    assert all(type(m) is torch.nn.Linear for m in layers)
    torch.manual_seed(0)
    again = [torch.nn.Linear(m.in_features, m.out_features) for m in layers]
    assert all(torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias) for a, b in zip(layers, again))


@pytest.mark.parametrize("bad", [{"pieces": "1"}, {"init_std": "0"}, {"g_batchnorm_momentum": "0"},
                                 {"g_batchnorm_momentum": "1.5"}])
def test_bad_values_are_rejected_naming_the_field(pm, bad):
    (name,) = bad
    with pytest.raises(ConfigError, match=name):
        build(pm, **bad)


def test_pacgan_paper_preset_is_pacgans_networks(pm):
    opts = build(pm, preset="pacgan-paper")
    assert (opts.g_hidden, opts.d_hidden, opts.activation, opts.d_act, opts.pieces) == (
        (400, 400, 400, 400), (200, 200, 200), "relu", "maxout", 5)
    assert (opts.init, opts.init_std, opts.g_bias, opts.g_batchnorm_eps, opts.g_batchnorm_momentum) == (
        "normal", 0.02, False, 1e-4, 0.05)
    D, G = MLPDiscriminator((2,), opts), MLPGenerator(2, (2,), opts, tanh=False)
    # D: LinearMaxout(2 -> 200, 5 pieces) x 3 and a linear output, as fjxmlzn/PacGAN builds it.
    assert [(m.in_features, m.out_features) for m in _weights(D)] == [(2, 1000), (200, 1000), (200, 1000), (200, 1)]
    assert [m.pieces for m in D.modules() if isinstance(m, Maxout)] == [5, 5, 5]
    # G: 2 -> 400 x 4 (no bias, batch norm, ReLU) -> 2 with a bias and no tanh.
    assert [(m.in_features, m.out_features, m.bias is not None) for m in _weights(G)] == [
        (2, 400, False), (400, 400, False), (400, 400, False), (400, 400, False), (400, 2, True)]
    norms = [(m.eps, m.momentum) for m in G.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert norms == [(1e-4, 0.05)] * 4


def test_pacgan_paper_suggests_the_pacgan_training_set_up_and_reads_back(pm):
    config = resolve_config(pm.select(["gan"]), RunRequest(["gan"], {"data": "ring"}, {"mlp": {"preset": "pacgan-paper"}}))
    assert (config.train.latent_dim, config.train.batch_size, config.train.lr, config.train.betas) == (
        2, 100, 1e-4, (0.8, 0.999))
    first, again = options_read_back(pm.select(["mlp"]), {"mlp": {"preset": "pacgan-paper"}})
    assert again == first and first["mlp"]["d_activation"] == "maxout"


def test_the_pacgan_preset_is_unchanged():
    # The 2-D comparison of docs/evaluation.md was run with it: ReLU everywhere, PyTorch's init.
    assert PRESETS["pacgan"] == {"activation": "relu", "g_hidden": (400, 400, 400, 400), "d_hidden": (200, 200, 200)}
    opts = MLPOptions(preset="pacgan")
    assert (opts.d_act, opts.init, opts.g_bias, opts.g_batchnorm_eps, opts.g_batchnorm_momentum) == (
        "relu", "default", True, 1e-5, 0.1)


def test_the_presets_differ_only_in_what_the_paper_has_otherwise():
    old, paper = options_as_dict(MLPOptions(preset="pacgan")), options_as_dict(MLPOptions(preset="pacgan-paper"))
    changed = {k for k in old if old[k] != paper[k]}
    assert changed == {"preset", "d_activation", "init", "g_bias", "g_batchnorm_eps", "g_batchnorm_momentum"}


def test_a_maxout_run_trains(run_tiny):
    trainer = run_tiny(["gan"], data="ring", options={"mlp": {"d_activation": "maxout", "pieces": "3",
                                                               "init": "normal"}}, train={"steps": 2})
    assert trainer.step == 2
