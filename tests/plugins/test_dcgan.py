"""The dcgan architecture: shapes, the paper's layer rules, init, training, rejections."""

import json
import math

import pytest
import torch
from torch import nn

from ganlab.cli import main
from ganlab.conditioning import Conditioner, ProjectionHead
from ganlab.datasets import DataSpec
from ganlab.errors import ConfigError, PluginError
from ganlab.options import Options, defaults_for
from ganlab.plugins import dcgan

SIZES = (28, 32, 64)
TINY = {"dcgan": {"ngf": "4", "ndf": "4"}}


def build(side, channels=1, mode=None, latent_dim=8, **opts):
    spec = DataSpec("test", (channels, side, side), 10)
    cond = Conditioner(10, g_embed_dim=6, d_embed_dim=5, d_mode=mode) if mode else None
    options = Options({"dcgan": dcgan.DCGANOptions(**{"ngf": 4, "ndf": 4, **opts})})
    G = dcgan.ganlab_generator(data=spec, latent_dim=latent_dim, conditioner=cond, options=options)
    D = dcgan.ganlab_discriminator(data=spec, conditioner=cond, options=options)
    return G, D


@pytest.mark.parametrize("mode", [None, "concat", "projection"])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("side", SIZES)
def test_shapes_and_ranges(side, channels, mode):
    torch.manual_seed(0)
    G, D = build(side, channels, mode)
    z = torch.randn(5, 8)
    labels = torch.tensor([0, 3, 9, 3, 1]) if mode else None
    x = G(z, labels)
    assert x.shape == (5, channels, side, side)
    assert x.abs().max() <= 1  # tanh output
    scores = D(x, labels)
    assert scores.shape == (5,)
    assert torch.isfinite(scores).all()


@pytest.mark.parametrize("mode", ["concat", "projection"])
def test_labels_change_outputs(mode):
    torch.manual_seed(0)
    G, D = build(32, 3, mode)
    G.eval(), D.eval()  # batch statistics would mix samples; compare sample by sample
    z = torch.randn(4, 8)
    a, b = torch.tensor([0, 1, 2, 3]), torch.tensor([4, 5, 6, 7])
    assert not torch.allclose(G(z, a), G(z, b))
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    assert not torch.allclose(D(x, a), D(x, b))


def test_conditional_inputs_are_widened():
    G, D = build(28, 1, "concat", latent_dim=8)
    first_g = next(m for m in G.modules() if isinstance(m, nn.ConvTranspose2d))
    first_d = next(m for m in D.modules() if isinstance(m, nn.Conv2d))
    assert first_g.in_channels == 8 + 6  # z + G's label embedding
    assert first_d.in_channels == 1 + 5  # image + D's label channels
    _, D = build(28, 1, "projection")
    assert next(m for m in D.modules() if isinstance(m, nn.Conv2d)).in_channels == 1
    assert any(isinstance(m, ProjectionHead) for m in D.modules())


def _leaves(module):
    """Leaf layers in registration (= forward) order, without the label modules."""
    skip = {id(m) for h in module.modules() if isinstance(h, ProjectionHead) for m in h.modules()}
    return [m for m in module.modules()
            if not list(m.children()) and id(m) not in skip and not isinstance(m, nn.Embedding)]


POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.LPPool2d)


@pytest.mark.parametrize("mode", [None, "concat", "projection"])
@pytest.mark.parametrize("side", SIZES)
def test_generator_layer_rules(side, mode):
    G, _ = build(side, 3, mode)
    layers = _leaves(G)
    assert not any(isinstance(m, POOLING + (nn.Linear, nn.Conv2d)) for m in layers)
    convs = [i for i, m in enumerate(layers) if isinstance(m, nn.ConvTranspose2d)]
    assert len(convs) == round(math.log2(side / dcgan.START_SIDE[side])) + 1
    for i in convs[:-1]:  # hidden layers: fractionally-strided conv, batch norm, ReLU
        assert isinstance(layers[i + 1], nn.BatchNorm2d) and isinstance(layers[i + 2], nn.ReLU)
    for i in convs[1:]:
        assert layers[i].stride == (2, 2)
    assert isinstance(layers[-1], nn.Tanh) and convs[-1] == len(layers) - 2  # no batch norm on the output


@pytest.mark.parametrize("mode", [None, "concat", "projection"])
@pytest.mark.parametrize("side", SIZES)
def test_discriminator_layer_rules(side, mode):
    _, D = build(side, 3, mode)
    layers = _leaves(D)
    assert not any(isinstance(m, POOLING + (nn.Linear, nn.ConvTranspose2d, nn.Sigmoid)) for m in layers)
    convs = [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d)]
    hidden = convs if mode == "projection" else convs[:-1]
    assert isinstance(layers[hidden[0] + 1], nn.LeakyReLU)  # no batch norm on the input layer
    for i in hidden[1:]:
        assert isinstance(layers[i + 1], nn.BatchNorm2d) and isinstance(layers[i + 2], nn.LeakyReLU)
    for i in hidden:
        assert layers[i].stride == (2, 2)  # strided convolutions instead of pooling
    assert all(m.negative_slope == 0.2 for m in layers if isinstance(m, nn.LeakyReLU))
    if mode == "projection":
        assert isinstance(layers[-1], nn.LeakyReLU)  # the head is the projection's linear output
    else:
        assert convs[-1] == len(layers) - 1  # a raw score: nothing after the last conv


def test_batchnorm_can_be_left_out_of_d():
    _, D = build(32, d_batchnorm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())


def test_init_statistics():
    torch.manual_seed(0)
    G, D = build(64, 3, ngf=64, ndf=64)
    sd = 0.02
    for module in (G, D):
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                w, n = m.weight.detach(), m.weight.numel()
                # 5 standard errors of the sample mean (sd/sqrt(n)) and of the
                # sample std of a normal (sd/sqrt(2n)): fails with p < 1e-5 per layer.
                assert abs(w.mean()) < 5 * sd / math.sqrt(n)
                assert abs(w.std() - sd) < 5 * sd / math.sqrt(2 * n)
                assert m.bias is None or not m.bias.any()
            elif isinstance(m, nn.BatchNorm2d):
                n = m.weight.numel()
                assert abs(m.weight.detach().mean() - 1) < 5 * sd / math.sqrt(n)
                assert abs(m.weight.detach().std() - sd) < 5 * sd / math.sqrt(2 * n)
                assert not m.bias.any()


def test_init_can_be_turned_off():
    torch.manual_seed(0)
    G, _ = build(32, init=False)
    bn = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all((m.weight == 1).all() for m in bn)  # PyTorch's default, untouched


def test_suggests_latent_dim_100(run_tiny):
    assert run_tiny(["dcgan"], options=TINY, fit=False).setup.train.latent_dim == 100
    user = run_tiny(["dcgan"], options=TINY, train={"latent_dim": 12}, fit=False)
    assert user.setup.train.latent_dim == 12  # the user's flag wins


@pytest.mark.parametrize("image_size", [0, 64])  # native 28 and seed 001's 64
def test_trains_on_mnist(run_tiny, image_size):
    trainer = run_tiny(["dcgan", "gan"], options=TINY, train={"image_size": image_size, "steps": 2})
    side = image_size or 28
    assert trainer.setup.data.shape == (1, side, side)
    assert isinstance(trainer.G, dcgan.DCGANGenerator) and isinstance(trainer.D, dcgan.DCGANDiscriminator)
    rows = [json.loads(l) for l in trainer.folder.metrics.read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in rows)
    assert (trainer.run_dir / "samples" / "step_000002.png").is_file()


def test_rejects_points(run_tiny, tmp_path):
    with pytest.raises(ConfigError, match=r"dcgan needs images.*'ring'.*--data mnist"):
        run_tiny(["dcgan"], data="ring", options=TINY, out=tmp_path / "never")
    assert not (tmp_path / "never").exists()  # rejected before the run folder


def test_rejects_unsupported_size(run_tiny, tmp_path):
    with pytest.raises(ConfigError, match=r"48x48.*--image-size 64"):
        run_tiny(["dcgan"], options=TINY, train={"image_size": 48}, out=tmp_path / "never")
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("spec, message", [
    (DataSpec("ring", (2,), None, "points"), "dcgan needs images"),
    (DataSpec("big", (3, 48, 48), None), "48x48"),
])
def test_build_hooks_raise_for_data_they_cannot_model(spec, message):
    # The host collects these messages with ganlab_validate's, so no stand-in module is needed.
    options = defaults_for(dcgan.DCGANOptions)
    with pytest.raises(PluginError, match=message):
        dcgan.ganlab_generator(data=spec, latent_dim=4, conditioner=None, options=options)
    with pytest.raises(PluginError, match=message):
        dcgan.ganlab_discriminator(data=spec, conditioner=None, options=options)


def test_cli_error_exits_2_without_traceback(tmp_path, capsys):
    code = main(["run", "--plugin", "dcgan", "--data", "ring", "--device", "cpu", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert "dcgan needs images" in err and "Traceback" not in err
