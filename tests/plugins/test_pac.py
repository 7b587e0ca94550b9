"""The pac plugin (PacGAN's packing): D scores packs of m consecutive samples, each sample gets its pack's score."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from ganlab.cli import main
from ganlab.errors import ConfigError, PluginError
from ganlab.plugins.mlp import MLPDiscriminator, MLPOptions, NormalLinear
from ganlab.plugins.pac import Packing, PackedDiscriminator
from ganlab.testing import assert_plugin_conforms


def first_linear(module):
    return next(m for m in module.modules() if isinstance(m, torch.nn.Linear))


def test_each_sample_gets_the_score_of_its_pack_of_consecutive_samples():
    D = Packing(2, (2,)).transform(torch.nn.Linear(2, 1))
    layer = first_linear(D)
    assert (layer.in_features, layer.out_features) == (4, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 10.0, 100.0, 1000.0]]))
        layer.bias.fill_(0.5)
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    # Packs (x0, x1) and (x2, x3), concatenated: [1, 2, 3, 4] and [5, 6, 7, 8].
    assert D(x).tolist() == [4321.5, 4321.5, 8765.5, 8765.5]


def test_images_are_packed_along_channels():
    inner = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 4), torch.nn.Flatten(1), torch.nn.Linear(2, 1))
    D = Packing(3, (1, 4, 4)).transform(inner)
    conv = next(m for m in D.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.in_channels == 3 and conv.weight.shape == (2, 3, 4, 4)
    x = torch.randn(6, 1, 4, 4)
    with torch.no_grad():
        out = D(x)
        # Pack j's channels are samples 3j, 3j + 1, 3j + 2, in order.
        packs = torch.stack([torch.cat([x[3 * j + k] for k in range(3)]) for j in range(2)])
        expected = D.inner(packs).reshape(2)
    assert torch.equal(out, expected.repeat_interleave(3))


def test_the_widened_layer_is_drawn_by_the_architectures_own_rule():
    torch.manual_seed(0)
    normal = Packing(4, (2,)).transform(MLPDiscriminator((2,), MLPOptions(preset="pacgan-paper")))
    layer = first_linear(normal)
    assert isinstance(layer, NormalLinear) and layer.weight.shape == (1000, 8) and not layer.bias.any()
    n = layer.weight.numel()  # 8,000 N(0, 0.02²) draws: the sample std has standard error σ/√(2n)
    assert abs(float(layer.weight.detach().std()) - 0.02) <= 5 * 0.02 / math.sqrt(2 * n)
    plain = first_linear(Packing(4, (2,)).transform(MLPDiscriminator((2,), MLPOptions(d_hidden=(64,)))))
    # PyTorch's default for the wide layer: U(-1/√fan_in, 1/√fan_in) with fan_in = 4·2.
    bound = 1 / math.sqrt(8)
    assert layer.in_features == 8 and float(plain.weight.abs().max()) <= bound
    assert float(plain.weight.abs().max()) > 0.9 * bound  # not the narrow layer's 1/√2 nor a smaller one


def test_m_1_keeps_ds_layers_and_weights():
    torch.manual_seed(0)
    D = MLPDiscriminator((2,), MLPOptions(d_hidden=(8,)))
    before = {k: v.clone() for k, v in D.state_dict().items()}
    packed = Packing(1, (2,)).transform(D)
    assert {k.removeprefix("inner."): v for k, v in packed.state_dict().items()}.keys() == before.keys()
    assert all(torch.equal(packed.inner.state_dict()[k], v) for k, v in before.items())


def test_a_batch_that_is_not_a_multiple_of_m_is_refused():
    D = Packing(3, (2,)).transform(torch.nn.Linear(2, 1))
    with pytest.raises(PluginError, match="multiple of 3"):
        D(torch.randn(4, 2))


def test_a_d_whose_first_layer_does_not_read_the_samples_is_refused():
    with pytest.raises(PluginError, match="does not read one sample"):
        Packing(2, (2,)).transform(torch.nn.Sequential(torch.nn.Linear(3, 1)))


def test_the_loss_is_the_mean_over_packs_with_its_gradients():
    torch.manual_seed(0)
    D = Packing(2, (2,)).transform(MLPDiscriminator((2,), MLPOptions(d_hidden=(8,))))
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    per_sample = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
    packs = lambda x: D.inner(x.reshape(3, 4)).reshape(3)  # noqa: E731
    per_pack = F.softplus(-packs(real)).mean() + F.softplus(packs(fake)).mean()
    assert torch.allclose(per_sample, per_pack, rtol=1e-6, atol=0)
    g1 = torch.autograd.grad(per_sample, list(D.parameters()))
    g2 = torch.autograd.grad(per_pack, list(D.parameters()))
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-8) for a, b in zip(g1, g2))


def test_r1_on_a_packed_d_is_m_times_the_per_pack_r1():
    # A gradient penalty differentiates the batch's score sum, in which each pack's score appears m times.
    torch.manual_seed(0)
    m = 3
    D = Packing(m, (2,)).transform(MLPDiscriminator((2,), MLPOptions(d_hidden=(8,)))).double()
    x = torch.randn(9, 2, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(D(x).sum(), x)
    per_sample = g.pow(2).sum(1).mean()
    packs = x.detach().reshape(3, 2 * m).requires_grad_(True)
    (gp,) = torch.autograd.grad(D.inner(packs).sum(), packs)
    per_pack = gp.pow(2).sum(1).mean()
    assert torch.allclose(per_sample, m * per_pack, rtol=1e-12, atol=0)


def _rows(run_dir):
    return [{k: v for k, v in json.loads(line).items() if k != "time"}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_m_1_trains_bit_for_bit_like_no_pac(run_tiny, tmp_path):
    train = {"steps": 5, "batch_size": 16}
    plain = run_tiny(["gan"], data="ring", train=train, out=tmp_path / "plain")
    packed = run_tiny(["gan", "pac"], data="ring", options={"pac": {"m": "1"}}, train=train, out=tmp_path / "pac1")
    assert isinstance(packed.D, PackedDiscriminator)
    assert _rows(tmp_path / "plain") == _rows(tmp_path / "pac1") and len(_rows(tmp_path / "plain")) == 5
    for a, b in ((plain.G, packed.G), (plain.D, packed.D.inner)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    for a, b in ((plain.opt_d, packed.opt_d), (plain.opt_g, packed.opt_g)):
        for pa, pb in zip(a.state_dict()["state"].values(), b.state_dict()["state"].values()):
            assert all(torch.equal(pa[k], pb[k]) for k in pa)


def test_m_2_trains_and_changes_the_run(run_tiny, tmp_path):
    train = {"steps": 3, "batch_size": 16}
    plain = run_tiny(["gan"], data="ring", train=train, out=tmp_path / "plain")
    packed = run_tiny(["gan", "pac"], data="ring", train=train, out=tmp_path / "pac2")
    assert first_linear(packed.D).in_features == 4 and packed.step == 3
    assert _rows(tmp_path / "plain") != _rows(tmp_path / "pac2")


def test_a_packed_run_resumes(run_tiny, tmp_path):
    run_tiny(["gan", "pac"], data="ring", options={"pac": {"m": "4"}}, train={"steps": 2}, out=tmp_path / "r")
    assert main(["run", "--resume", str(tmp_path / "r"), "--steps", "3", "--quiet"]) == 0
    assert [r["step"] for r in _rows(tmp_path / "r")] == [1, 2, 3]


@pytest.mark.parametrize("plugins", [["gan"], ["gan", "sn"], ["lsgan"], ["wgan"], ["wgan-gp"], ["hinge"],
                                     ["gan", "r1"], ["gan", "dragan"], ["gan", "lecam"], ["gan", "recon"],
                                     ["gan", "ema"], ["relativistic"], ["fgan"]])
def test_packing_composes_with_every_loss_and_regularizer(run_tiny, plugins):
    trainer = run_tiny([*plugins, "pac"], data="ring", options={"pac": {"m": "2"}}, train={"steps": 2})
    assert trainer.step == 2 and first_linear(trainer.D).in_features == 4


@pytest.mark.parametrize("plugins", [["gan", "cr"], ["gan", "diffaugment"], ["dcgan", "gan"]])
def test_packing_composes_with_image_plugins(run_tiny, plugins):
    trainer = run_tiny([*plugins, "pac"], data="mnist-embedded", options={"pac": {"m": "2"}},
                       train={"steps": 1, "batch_size": 8, **({"image_size": 32} if "dcgan" in plugins else {})})
    assert trainer.step == 1
    layer = next(m for m in trainer.D.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    assert (layer.in_channels if isinstance(layer, torch.nn.Conv2d) else layer.in_features) in (2, 2 * 28 * 28)


def test_a_d_that_uses_its_input_after_the_first_layer_is_refused_before_the_run(run_tiny):
    # began brings its own D, an autoencoder whose score compares the input with its reconstruction:
    # widening its input layer alone cannot make the reconstruction m samples wide.
    with pytest.raises(ConfigError, match="pac widens only D's input layer.*cannot be packed"):
        run_tiny(["began", "pac"], data="ring", fit=False)


def test_spectral_norm_normalises_the_widened_layer(run_tiny):
    from torch.nn.utils import parametrize

    trainer = run_tiny(["gan", "sn", "pac"], data="ring", train={"steps": 1})
    layer = first_linear(trainer.D)
    assert layer.in_features == 4 and parametrize.is_parametrized(layer, "weight")


def test_a_batch_size_that_is_not_a_multiple_of_m_is_refused_before_the_run(run_tiny):
    with pytest.raises(ConfigError, match=r"--batch-size 16 is not a multiple of 3.*--batch-size 300"):
        run_tiny(["gan", "pac"], data="ring", options={"pac": {"m": "3"}}, fit=False)


def test_a_conditional_run_is_refused(run_tiny):
    with pytest.raises(ConfigError, match="pac packs unconditional samples"):
        run_tiny(["gan", "cgan", "pac"], fit=False)


def test_m_below_1_is_refused(run_tiny):
    with pytest.raises(ConfigError, match="m must be at least 1"):
        run_tiny(["gan", "pac"], data="ring", options={"pac": {"m": "0"}}, fit=False)


@pytest.mark.parametrize("m", [2, 4])
def test_pac_conforms(m):
    assert_plugin_conforms("pac", options={"pac": {"m": m}})


def test_verify_passes_for_every_declared_packing_degree():
    from ganlab.analysis.suite import verify

    report = verify(plugins=["pac"])
    assert report.ok and report.count("PASS") == len(report.results) == 8
    assert {r.data.get("m") for r in report.results} == {1, 2, 3, 4}
