"""The cgan conditioner with the mlp and dcgan architectures."""

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
from ganlab.plugins import cgan

TINY_DCGAN = {"dcgan": {"ngf": "4", "ndf": "4"}}
MNIST = DataSpec("mnist", (1, 28, 28), 10)


def test_conditioner_follows_data_and_options():
    cond = cgan.ganlab_conditioner(data=MNIST, options=defaults_for(cgan.CGANOptions))
    assert cond == Conditioner(10, g_embed_dim=32, d_embed_dim=32, d_mode="concat")  # seed 000's 32
    opts = Options({"cgan": cgan.CGANOptions(g_embed_dim=8, d_embed_dim=4, discriminator="projection")})
    cond = cgan.ganlab_conditioner(data=DataSpec("x", (3, 32, 32), 7), options=opts)
    assert cond == Conditioner(7, g_embed_dim=8, d_embed_dim=4, d_mode="projection")


def test_conditioner_refuses_unlabelled_data():
    ring = DataSpec("ring", (2,), None, "points")
    with pytest.raises(PluginError, match=r"cgan needs class labels.*'ring'.*--data mnist"):
        cgan.ganlab_conditioner(data=ring, options=defaults_for(cgan.CGANOptions))


def _rows(trainer):
    return [json.loads(l) for l in trainer.folder.metrics.read_text().splitlines()]


def _labels_matter(trainer):
    G = trainer.G.eval()
    z = torch.randn(4, trainer.setup.train.latent_dim)
    with torch.no_grad():
        return not torch.allclose(G(z, torch.tensor([0, 1, 2, 3])), G(z, torch.tensor([9, 8, 7, 6])))


@pytest.mark.parametrize("mode", ["concat", "projection"])
@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_trains_conditionally(run_tiny, arch, mode):
    plugins = ["cgan"] if arch == "mlp" else ["dcgan", "cgan"]
    trainer = run_tiny(plugins, options={"cgan": {"discriminator": mode}, **TINY_DCGAN}, train={"steps": 2})
    cond = trainer.setup.conditioner
    assert cond.num_classes == 10 and cond.d_mode == mode
    rows = _rows(trainer)
    assert [r["step"] for r in rows] == [1, 2]
    assert all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in rows)
    assert _labels_matter(trainer)
    # The sample grid is 10 x 10, one class per row.
    assert trainer.pictures.labels.view(10, 10).tolist() == [[c] * 10 for c in range(10)]
    D = trainer.D
    first = next(m for m in D.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
    width = first.in_features - 784 if arch == "mlp" else first.in_channels - 1
    heads = [m for m in D.modules() if isinstance(m, ProjectionHead)]
    if mode == "concat":
        assert width == 32 and not heads  # the label enters with D's input
    else:
        assert width == 0 and len(heads) == 1  # the label enters only at the projection head


def test_dcgan_projection_enters_through_inner_product():
    from ganlab.plugins import dcgan

    torch.manual_seed(0)
    cond = Conditioner(10, d_mode="projection")
    D = dcgan.ganlab_discriminator(data=MNIST, conditioner=cond,
                                   options=Options({"dcgan": dcgan.DCGANOptions(ndf=4)})).eval()
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    a, b = torch.tensor([0, 1, 2]), torch.tensor([5, 1, 9])
    with torch.no_grad():
        h = D.features(x).flatten(1)
        embed = D.projection.embed.weight
        # Miyato & Koyama 2018: D(x, y) = w.h(x) + embed(y).h(x), so changing y
        # changes the score by exactly (embed(a) - embed(b)).h(x).
        torch.testing.assert_close(D(x, a) - D(x, b), ((embed[a] - embed[b]) * h).sum(1))
        torch.testing.assert_close(D(x, a), D.projection.linear(h).squeeze(1) + (embed[a] * h).sum(1))


def test_rejects_unlabelled_data(run_tiny, tmp_path):
    with pytest.raises(ConfigError, match=r"cgan needs class labels.*'ring'.*--data mnist"):
        run_tiny(["cgan"], data="ring", out=tmp_path / "never")
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("plugins", [["cgan", "dcgan"], ["dcgan", "cgan"]])
def test_every_problem_is_listed(run_tiny, tmp_path, plugins):
    # Both build hooks raise (cgan's conditioner, dcgan's G and D); the host shows every message at once.
    with pytest.raises(ConfigError) as info:
        run_tiny(plugins, data="ring", options=TINY_DCGAN, out=tmp_path / "never")
    assert "cgan needs class labels" in str(info.value) and "dcgan needs images" in str(info.value)
    assert not (tmp_path / "never").exists()


def test_build_setup_reports_a_raising_conditioner_with_the_validators(pm):
    from ganlab.config import RunRequest
    from ganlab.runsetup import build_setup

    request = RunRequest(["cgan", "wgan-gp", "dcgan"], {"data": "ring", "device": "cpu"}, TINY_DCGAN)
    with pytest.raises(ConfigError) as info:
        build_setup(pm, request)
    msg = str(info.value)
    assert "cgan needs class labels" in msg and "dcgan needs images" in msg
    # No D was built, so wgan-gp's batch-norm check has nothing to object to.
    assert "batch norm" not in msg


def test_bad_embedding_size_is_rejected(run_tiny):
    with pytest.raises(ConfigError, match="g_embed_dim"):
        run_tiny(["cgan"], options={"cgan": {"g_embed_dim": "0"}}, fit=False)


def test_cli_error_exits_2_without_traceback(tmp_path, capsys):
    code = main(["run", "--plugin", "cgan", "--data", "ring", "--device", "cpu", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert "cgan needs class labels" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def _scores_per_sample(D, x, labels):
    return torch.stack([D(x[i:i + 1], labels[i:i + 1]).reshape(()) for i in range(len(x))])


@pytest.mark.parametrize("mode", ["concat", "projection"])
@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_d_scores_each_sample_with_its_own_label(run_tiny, arch, mode):
    plugins = ["cgan"] if arch == "mlp" else ["dcgan", "cgan"]
    D = run_tiny(plugins, options={"cgan": {"discriminator": mode}, **TINY_DCGAN}, fit=False).D.eval()
    torch.manual_seed(0)
    x = torch.rand(10, 1, 28, 28) * 2 - 1
    y = torch.arange(10)
    with torch.no_grad():
        batch = D(x, y).reshape(10)
        # A D that ignores labels gives the same scores under other labels...
        assert not torch.isclose(batch, D(x, (y + 1) % 10).reshape(10)).any()
        # ...and one that shuffles or mixes labels across the batch scores differently than sample by sample.
        torch.testing.assert_close(batch, _scores_per_sample(D, x, y))


def test_the_label_checks_catch_a_shuffling_d():
    torch.manual_seed(0)
    from ganlab.plugins.mlp import MLPDiscriminator, MLPOptions

    D = MLPDiscriminator((1, 28, 28), MLPOptions(d_hidden=(16,)), Conditioner(10)).eval()
    x, y = torch.rand(10, 1, 28, 28), torch.arange(10)
    with torch.no_grad():
        shuffled = D(x, y.roll(1)).reshape(10)  # what a D scoring sample i with y[i-1] returns
        assert not torch.allclose(shuffled, _scores_per_sample(D, x, y))
