"""Each seed document's set-up trains a few steps (tiny batches, tiny widths where
the width is not what the seed is about) on MNIST and, where it can run on
unlabelled points, on the 2-D ring; every loss plugin of this suite trains on
images and on 2-D points. Seed 000's cGAN and seed 002 need labels and seed 001
convolutions, so the ring rejects them (tested in test_composition.py).

The set-ups match the commands in docs/plugins-losses.md.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.nn.utils import parametrize

# run_tiny shrinks the widths, which would conflict with a preset: give the preset's own.
SEED_002 = {"mlp": {"preset": "seed002", "g_hidden": "128,256,512,1024", "d_hidden": "512,512,512"},
            "cgan": {"g_embed_dim": "10", "d_embed_dim": "10"}}
SEED_004 = {"mlp": {"preset": "seed004", "g_hidden": "256,512,1024", "d_hidden": "1024,512,256"}}
SMALL_RING = {"data": {"toy_samples": "512"}}
IMAGES_AND_POINTS = pytest.mark.parametrize("data, data_options", [("mnist-embedded", {}), ("ring", SMALL_RING)])


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
    assert trainer.pictures.labels is not None  # one class per row in the sample grid


def layers(module) -> list[str]:
    """The layer types in order, with the settings a seed fixes."""
    out = []
    for m in module.modules():
        if isinstance(m, torch.nn.Linear):
            out.append(f"Linear({m.in_features}, {m.out_features})")
        elif isinstance(m, torch.nn.BatchNorm1d):
            out.append(f"BatchNorm(eps={m.eps})")
        elif isinstance(m, torch.nn.LeakyReLU):
            out.append(f"LeakyReLU({m.negative_slope})")
        elif isinstance(m, torch.nn.Dropout):
            out.append(f"Dropout({m.p})")
        elif isinstance(m, torch.nn.Embedding):
            out.append(f"Embedding({m.num_embeddings}, {m.embedding_dim})")
        elif isinstance(m, (torch.nn.Tanh, torch.nn.GELU, torch.nn.ReLU)):
            out.append(type(m).__name__)
    return out


@IMAGES_AND_POINTS
def test_seed_000_lsgan(run_tiny, data, data_options):
    trainer = run_tiny(["lsgan"], data=data, options=data_options)
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
    trainer = run_tiny(["cgan", "lsgan"], options=SEED_002, train={"image_size": 32, "latent_dim": 100})
    assert_trained(trainer, 3)
    assert trainer.cond is not None
    # The seed's Generator: label embedding of n_classes = 10 concatenated to z (100), no batch
    # norm on the first block, BatchNorm1d(out_feat, 0.8) (eps 0.8) on the others, LeakyReLU(0.2).
    lrelu, bn = "LeakyReLU(0.2)", "BatchNorm(eps=0.8)"
    assert layers(trainer.G) == [
        "Embedding(10, 10)", "Linear(110, 128)", lrelu, "Linear(128, 256)", bn, lrelu,
        "Linear(256, 512)", bn, lrelu, "Linear(512, 1024)", bn, lrelu, "Linear(1024, 1024)", "Tanh",
    ]
    # Its Discriminator: 32·32 pixels + embedding of 10, three 512-wide layers, dropout 0.4 after
    # the second and third only, then one raw score.
    assert layers(trainer.D) == [
        "Embedding(10, 10)", "Linear(1034, 512)", lrelu, "Linear(512, 512)", lrelu, "Dropout(0.4)",
        "Linear(512, 512)", lrelu, "Dropout(0.4)", "Linear(512, 1)",
    ]


@IMAGES_AND_POINTS
def test_seed_003_wgan(run_tiny, data, data_options):
    trainer = run_tiny(["wgan"], data=data, options=data_options)
    assert_trained(trainer, 3)
    assert trainer.setup.train.n_critic == 5
    assert max(p.detach().abs().max().item() for p in trainer.D.parameters()) <= 0.01


@IMAGES_AND_POINTS
def test_seed_003_wgan_gp(run_tiny, data, data_options):
    logged = assert_trained(run_tiny(["wgan-gp"], data=data, options=data_options), 3)
    # A squared norm is never negative, so ">= 0" could not fail; an untrained critic's
    # gradient norms are not all 1, so a penalty that was really applied is positive.
    assert all(r["penalty/gradient_penalty"] > 0 for r in logged)


@IMAGES_AND_POINTS
def test_seed_003_wgan_with_spectral_norm_instead_of_clipping(run_tiny, data, data_options):
    trainer = run_tiny(["wgan", "sn"], data=data, options={"wgan": {"clip": "none"}, **data_options})
    assert_trained(trainer, 3)
    assert [r.name for r in trainer.setup.regularizers] == ["spectral_norm"]


@IMAGES_AND_POINTS
def test_seed_004_gan(run_tiny, data, data_options):
    trainer = run_tiny(["gan"], data=data, options={**SEED_004, **data_options},
                       train={"latent_dim": 100, "betas": (0.9, 0.999)})
    assert_trained(trainer, 3)
    out = math.prod(trainer.setup.data.shape)  # 784 pixels, or 2 coordinates
    lrelu, drop = "LeakyReLU(0.2)", "Dropout(0.3)"
    # The seed's G: no batch norm, tanh only for images (the grid spans ±4, beyond tanh's
    # reach); its D: dropout 0.3 after every hidden layer.
    assert layers(trainer.G) == [
        "Linear(100, 256)", lrelu, "Linear(256, 512)", lrelu, "Linear(512, 1024)", lrelu, f"Linear(1024, {out})",
        *(["Tanh"] if data == "mnist-embedded" else []),
    ]
    assert layers(trainer.D) == [
        f"Linear({out}, 1024)", lrelu, drop, "Linear(1024, 512)", lrelu, drop, "Linear(512, 256)", lrelu, drop,
        "Linear(256, 1)",
    ]


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
        out = trainer.train_step(log=True)
        values = [out.d_loss, out.g_loss, *out.penalties.values()]
        assert all(math.isfinite(float(v)) for v in values)
        assert math.isfinite(out.grad_norm_d) and math.isfinite(out.grad_norm_g)
        if penalty:
            assert out.penalties[penalty].item() > 0
    assert any(not torch.equal(a, b.detach()) for a, b in zip(d0, trainer.D.parameters()))
