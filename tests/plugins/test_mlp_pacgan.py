"""``-o mlp.preset=pacgan``: the networks (and 2-D noise, batch 100, Adam settings) behind the 2-D table of docs/evaluation.md."""

from __future__ import annotations

from ganlab.config import RunRequest, resolve_config


def test_pacgan_preset_networks_and_suggestions(pm):
    request = RunRequest(["gan"], {"data": "ring"}, {"mlp": {"preset": "pacgan"}})
    config = resolve_config(pm.select(["gan"]), request)
    opts = config.options["mlp"]
    assert (opts.g_hidden, opts.d_hidden, opts.activation, opts.g_batchnorm, opts.d_dropout) == (
        (400, 400, 400, 400), (200, 200, 200), "relu", True, 0.0)
    assert (config.train.latent_dim, config.train.batch_size) == (2, 100)
    assert (config.train.lr, config.train.betas) == (1e-4, (0.8, 0.999))


def test_pacgan_preset_leaves_loss_suggestions_alone(pm):
    config = resolve_config(pm.select(["wgan"]), RunRequest(["wgan"], {"data": "ring"}, {"mlp": {"preset": "pacgan"}}))
    assert (config.train.lr, config.train.n_critic, config.train.latent_dim) == (5e-5, 5, 2)
    assert config.train.betas == (0.8, 0.999)  # wgan suggests no betas, so the preset's stand
    gp = resolve_config(pm.select(["wgan-gp"]), RunRequest(["wgan-gp"], {}, {"mlp": {"preset": "pacgan"}}))
    assert (gp.train.lr, gp.train.betas, gp.train.batch_size) == (1e-4, (0.0, 0.9), 100)
    flags = RunRequest(["gan"], {"data": "ring", "latent_dim": "4"}, {"mlp": {"preset": "pacgan"}})
    assert resolve_config(pm.select(["gan"]), flags).train.latent_dim == 4  # flags win


def test_other_presets_suggest_nothing(pm):
    for preset in ("none", "seed000", "seed002", "seed004"):
        config = resolve_config(pm.select([]), RunRequest([], {}, {"mlp": {"preset": preset}}))
        assert (config.train.latent_dim, config.train.batch_size) == (96, 64)


def test_pacgan_preset_trains(run_tiny):
    trainer = run_tiny(["gan"], data="ring", options={"mlp": {"g_hidden": "400,400,400,400", "d_hidden": "200,200,200",
                                                               "preset": "pacgan"}}, train={"steps": 2, "batch_size": 8})
    assert trainer.step == 2 and trainer.setup.train.latent_dim == 2
