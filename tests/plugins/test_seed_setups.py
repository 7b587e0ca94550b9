"""Each seed document's set-up trains a few steps (tiny batches, tiny widths where
the width is not what the seed is about), and every loss plugin of this suite
trains on images and on 2-D points.

The set-ups match the commands in docs/plugins-losses.md.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.nn.utils import parametrize

SEED_002_MLP = {"activation": "leaky_relu", "d_hidden": "512,512,512", "d_dropout": "0.4"}
SEED_004_MLP = {"activation": "leaky_relu", "g_batchnorm": "false", "g_hidden": "256,512,1024",
                "d_hidden": "1024,512,256", "d_dropout": "0.3"}
SMALL_RING = {"data": {"toy_samples": "512"}}


def rows(trainer) -> list[dict]:
    return [json.loads(line) for line in (trainer.run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_trained(trainer, steps: int) -> list[dict]:
    logged = rows(trainer)
    assert [r["step"] for r in logged] == list(range(1, steps + 1))
    for r in logged:
        assert all(math.isfinite(v) for k, v in r.items() if k != "time"), r
    assert trainer.step == steps
    return logged


def test_seed_000_cgan_with_spectral_norm_and_reconstruction(run_tiny):
    trainer = run_tiny(["cgan", "gan", "sn", "recon"], train={"lr": 3e-4, "betas": (0.4, 0.8)})
    logged = assert_trained(trainer, 3)
    assert trainer.cond is not None and trainer.cond.g_embed_dim == 32 and trainer.cond.d_embed_dim == 32
    linears = [m for m in trainer.D.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(parametrize.is_parametrized(m, "weight") for m in linears)
    assert all(r["penalty/recon"] > 0 for r in logged)  # L1 between fakes and reals is never 0
    assert trainer.fixed_labels is not None  # one class per row in the sample grid


def test_seed_000_lsgan(run_tiny):
    trainer = run_tiny(["lsgan"])
    assert_trained(trainer, 3)
    assert trainer.setup.selection.implementers("ganlab_d_loss") == ["lsgan"]


@pytest.mark.parametrize("size", [28, 32])
def test_seed_001_dcgan_small_images(run_tiny, size):
    trainer = run_tiny(["dcgan", "gan"], options={"dcgan": {"ngf": "8", "ndf": "8"}}, train={"image_size": size})
    assert_trained(trainer, 3)
    assert trainer.setup.data.shape == (1, size, size)


def test_seed_001_dcgan_at_64(run_tiny):
    # The seed's full set-up: 64x64, default widths, latent 100, Adam 2e-4 with beta1 0.5.
    trainer = run_tiny(["dcgan", "gan"], train={"image_size": 64, "batch_size": 4, "steps": 1})
    assert_trained(trainer, 1)
    t = trainer.setup.train
    assert (t.latent_dim, t.lr, tuple(t.betas)) == (100, 2e-4, (0.5, 0.999))
    with torch.no_grad():
        assert trainer.G(torch.randn(2, 100)).shape == (2, 1, 64, 64)


def test_seed_002_ls_cgan(run_tiny):
    trainer = run_tiny(["cgan", "lsgan"], options={"mlp": SEED_002_MLP},
                       train={"image_size": 32, "latent_dim": 100})
    assert_trained(trainer, 3)
    assert trainer.cond is not None
    assert sum(isinstance(m, torch.nn.Dropout) for m in trainer.D.modules()) == 3


def test_seed_003_wgan(run_tiny):
    trainer = run_tiny(["wgan"])
    assert_trained(trainer, 3)
    assert trainer.setup.train.n_critic == 5
    assert max(p.detach().abs().max().item() for p in trainer.D.parameters()) <= 0.01


def test_seed_003_wgan_gp(run_tiny):
    logged = assert_trained(run_tiny(["wgan-gp"]), 3)
    assert all(r["penalty/gradient_penalty"] >= 0 for r in logged)


def test_seed_003_wgan_with_spectral_norm_instead_of_clipping(run_tiny):
    trainer = run_tiny(["wgan", "sn"], options={"wgan": {"clip": "none"}})
    assert_trained(trainer, 3)
    assert [r.name for r in trainer.setup.regularizers] == ["spectral_norm"]


def test_seed_004_gan(run_tiny):
    trainer = run_tiny(["gan"], options={"mlp": SEED_004_MLP},
                       train={"latent_dim": 100, "betas": (0.9, 0.999)})
    assert_trained(trainer, 3)
    widths = [m.out_features for m in trainer.G.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [256, 512, 1024, 784]


@pytest.mark.parametrize("data, options", [("mnist-embedded", {}), ("ring", SMALL_RING)])
@pytest.mark.parametrize("plugins, penalty", [
    (["wgan"], None),
    (["hinge"], None),
    (["wgan-gp"], "gradient_penalty"),
    (["r1"], "r1"),
])
def test_suite_plugins_train_on_images_and_points(run_tiny, plugins, penalty, data, options):
    # The trainer's own step, without fit()'s plots (the seed tests above cover fit()).
    trainer = run_tiny(plugins, data=data, options=options, fit=False)
    d0 = [p.detach().clone() for p in trainer.D.parameters()]
    for _ in range(3):
        out = trainer.train_step(want_stats=True)
        values = [out["d_loss"], out["g_loss"], *out["penalties"].values()]
        assert all(math.isfinite(float(v.detach())) for v in values)
        assert math.isfinite(out["grad_norm_d"]) and math.isfinite(out["grad_norm_g"])
        if penalty:
            assert out["penalties"][penalty].item() > 0
    assert any(not torch.equal(a, b.detach()) for a, b in zip(d0, trainer.D.parameters()))
