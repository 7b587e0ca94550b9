"""Spectral normalization: what gets wrapped, and that sigma(W) really becomes 1."""

import json
import math
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from ganlab.plugins import sn

LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)
TINY_DCGAN = {"dcgan": {"ngf": "4", "ndf": "4"}}


def weight_matrix(layer):
    """The (outputs, rest) matrix whose largest singular value SN divides by.

    A ConvTranspose2d stores (in, out, kh, kw), so its outputs are dim 1.
    """
    w = layer.weight.detach()
    if isinstance(layer, nn.ConvTranspose2d):
        w = w.transpose(0, 1)
    return w.reshape(w.shape[0], -1)


def sigma(layer):
    return float(torch.linalg.svdvals(weight_matrix(layer))[0])


def set_spectrum(layer, top):
    """Give the layer's weight matrix singular values top, top/2, top/4, ...

    A gap sigma2/sigma1 = 1/2 makes power iteration converge like 4^-k, so
    the estimate is exact to float precision after the 15 iterations SN runs
    when it is registered.
    """
    shape = weight_matrix(layer).shape
    u, _ = torch.linalg.qr(torch.randn(shape[0], shape[0]))
    v, _ = torch.linalg.qr(torch.randn(shape[1], shape[1]))
    k = min(shape)
    s = top * 0.5 ** torch.arange(k, dtype=torch.float32)
    m = u[:, :k] @ torch.diag(s) @ v[:, :k].T
    with torch.no_grad():
        w = layer.weight
        if isinstance(layer, nn.ConvTranspose2d):
            w.copy_(m.reshape(w.shape[1], w.shape[0], *w.shape[2:]).transpose(0, 1))
        else:
            w.copy_(m.reshape(w.shape))


def test_wrapped_layers_have_unit_spectral_norm():
    torch.manual_seed(0)
    # ConvTranspose2d with in != out * kh * kw / ... so that normalising the
    # wrong dim would leave a different sigma on the (out, in*kh*kw) matrix.
    net = nn.Sequential(nn.Linear(6, 10), nn.Conv2d(3, 5, 3), nn.ConvTranspose2d(4, 7, 2))
    for layer, top in zip(net, (4.0, 3.0, 5.0)):
        set_spectrum(layer, top)
        assert sigma(layer) == pytest.approx(top, rel=1e-5)
    assert sn.apply_spectral_norm(net) == 3
    net.eval()  # no further power iteration: uses the vectors estimated so far
    for layer in net:
        assert parametrize.is_parametrized(layer, "weight")
        assert sigma(layer) == pytest.approx(1.0, abs=1e-4)  # float32 SVD and power iteration


def test_conv_transpose_uses_output_dim():
    torch.manual_seed(0)
    layer = nn.ConvTranspose2d(4, 7, 2)
    set_spectrum(layer, 5.0)
    wrong = nn.ConvTranspose2d(4, 7, 2)
    wrong.load_state_dict(layer.state_dict())
    sn.apply_spectral_norm(layer)
    torch.nn.utils.parametrizations.spectral_norm(wrong, dim=0)
    # Normalising the (in, out*kh*kw) matrix instead leaves sigma != 1 on the outputs' matrix.
    assert sigma(layer.eval()) == pytest.approx(1.0, abs=1e-4)
    assert abs(sigma(wrong.eval()) - 1.0) > 1e-2


def _wrapped(module):
    layers = [m for m in module.modules() if isinstance(m, LAYERS)]
    return layers, [parametrize.is_parametrized(m, "weight") for m in layers]


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_every_d_layer_wrapped_g_untouched(run_tiny, arch):
    plugins = ["sn", "cgan"] + (["dcgan"] if arch == "dcgan" else [])
    setup = run_tiny(plugins, options={"cgan": {"discriminator": "projection"}, **TINY_DCGAN}, fit=False).setup
    d_layers, d_wrapped = _wrapped(setup.discriminator)
    assert d_layers and all(d_wrapped)  # including the projection head's linear
    assert not any(_wrapped(setup.generator)[1])
    # Label embeddings are lookup tables, not linear maps of x: left alone.
    assert not any(parametrize.is_parametrized(m) for m in setup.discriminator.modules()
                   if isinstance(m, nn.Embedding))
    assert [r.player for r in setup.regularizers] == ["D"]


def test_generator_option_wraps_g_too(run_tiny):
    setup = run_tiny(["dcgan", "sn"], options={"sn": {"generator": "true"}, **TINY_DCGAN}, fit=False).setup
    g_layers, g_wrapped = _wrapped(setup.generator)
    assert any(isinstance(m, nn.ConvTranspose2d) for m in g_layers) and all(g_wrapped)
    assert sorted(r.player for r in setup.regularizers) == ["D", "G"]


def test_trained_dcgan_weights_stay_normalised(run_tiny):
    torch.manual_seed(0)
    trainer = run_tiny(["dcgan", "sn"], train={"steps": 2},
                       options={"sn": {"generator": "true", "n_power_iterations": "30"}, **TINY_DCGAN})
    # The last optimizer step changed the weights after their last forward;
    # one more training forward re-estimates sigma (30 power-iteration steps).
    x, labels = trainer.batcher.next()
    with torch.no_grad():
        trainer.D.train()(x)
        trainer.G.train()(torch.randn(16, trainer.setup.train.latent_dim))
    for module in (trainer.D.eval(), trainer.G.eval()):
        layers, wrapped = _wrapped(module)
        assert all(wrapped)
        for layer in layers:
            # Power iteration warm-started from the previous vectors converges
            # like (sigma2/sigma1)^(2k); a 2% bound leaves room for close top
            # singular values of these small random matrices.
            assert sigma(layer) == pytest.approx(1.0, abs=2e-2)


@pytest.mark.parametrize("data", ["mnist-embedded", "ring"])
def test_trains_with_mlp(run_tiny, data, tmp_path):
    trainer = run_tiny(["sn"], data=data, out=tmp_path / "a")
    rows = [json.loads(l) for l in trainer.folder.metrics.read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in rows)
    assert all(_wrapped(trainer.D)[1])
    # A checkpoint brings back the original weights and the power-iteration vectors.
    fresh = run_tiny(["sn"], data=data, out=tmp_path / "b", fit=False)
    fresh.load_state_dict(trainer.state_dict())
    x, _ = trainer.batcher.next()
    torch.testing.assert_close(fresh.D.eval()(x), trainer.D.eval()(x))


def test_warns_when_nothing_to_wrap():
    with pytest.warns(UserWarning, match="no Linear or Conv"):
        sn.SpectralNorm("D").transform(nn.Sequential(nn.Bilinear(2, 2, 1)))  # a layer SN does not cover
    # A parameter-free D is not exempt: sn has no effect on it either, so the user hears of it.
    with pytest.warns(UserWarning, match=r"no Linear or Conv layer in G \(Sequential\)"):
        sn.SpectralNorm("G").transform(nn.Sequential(nn.ReLU()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sn.SpectralNorm("D").transform(nn.Sequential(nn.Linear(2, 1)))  # something wrapped: no warning


@pytest.mark.parametrize("n", [1, 4])
def test_n_power_iterations_reaches_every_parametrization(run_tiny, n):
    setup = run_tiny(["sn"], options={"sn": {"n_power_iterations": str(n), "generator": "true"}}, fit=False).setup
    for module in (setup.discriminator, setup.generator):
        parametrizations = [m.parametrizations.weight[0] for m in module.modules()
                            if isinstance(m, LAYERS) and parametrize.is_parametrized(m, "weight")]
        assert parametrizations and all(p.n_power_iterations == n for p in parametrizations)


def test_n_power_iterations_sets_the_steps_per_forward():
    # From one fixed u, k training forwards of SN(k=1) must equal one forward of SN(k).
    torch.manual_seed(0)
    base = nn.Linear(8, 6)
    set_spectrum(base, 3.0)
    with torch.no_grad():
        base.weight.add_(0.5 * torch.randn_like(base.weight))  # a close sigma2 keeps iteration visible
    one, three = nn.Linear(8, 6), nn.Linear(8, 6)
    for layer in (one, three):
        layer.load_state_dict(base.state_dict())
    sn.SpectralNorm("D", n_power_iterations=1).transform(one)
    sn.SpectralNorm("D", n_power_iterations=3).transform(three)
    for layer in (one, three):  # restart both from one u, far from converged
        layer.parametrizations.weight[0]._u.copy_(torch.nn.functional.normalize(torch.ones(6), dim=0))
        layer.parametrizations.weight[0]._v.copy_(torch.nn.functional.normalize(torch.ones(8), dim=0))
    x = torch.randn(2, 8)
    for _ in range(3):
        one(x)
    three(x)
    u1, u3 = one.parametrizations.weight[0]._u, three.parametrizations.weight[0]._u
    torch.testing.assert_close(u3, u1)
    one_step = nn.Linear(8, 6)
    one_step.load_state_dict(base.state_dict())
    sn.SpectralNorm("D", n_power_iterations=1).transform(one_step)
    one_step.parametrizations.weight[0]._u.copy_(torch.nn.functional.normalize(torch.ones(6), dim=0))
    one_step.parametrizations.weight[0]._v.copy_(torch.nn.functional.normalize(torch.ones(8), dim=0))
    one_step(x)
    assert not torch.allclose(one_step.parametrizations.weight[0]._u, u3, atol=1e-4)  # 1 step != 3 steps
