"""Combinations that must stop before training, with a message naming the problem,
and combinations of the loss plugins that must work."""

from __future__ import annotations

import json
import math
import types

import pytest
from torch import nn

from ganlab import hookimpl
from ganlab.errors import ConfigError, PluginError


@pytest.mark.parametrize("first, second", [("gan", "lsgan"), ("wgan", "hinge"), ("wgan", "wgan-gp")])
def test_two_loss_plugins_conflict_before_training(run_tiny, tmp_path, first, second):
    out = tmp_path / "never"
    with pytest.raises(PluginError) as err:
        run_tiny([first, second], data="ring", out=out)
    msg = str(err.value)
    assert f"'{first}'" in msg and f"'{second}'" in msg and "ganlab_d_loss" in msg
    assert not out.exists()


class BNCritic(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width, 8), nn.BatchNorm1d(8), nn.LeakyReLU(0.2), nn.Linear(8, 1))

    def forward(self, x, labels=None):
        return self.net(x.flatten(1))


def _bn_critic_plugin():
    from math import prod

    @hookimpl
    def ganlab_discriminator(data):
        return BNCritic(prod(data.shape))

    module = types.ModuleType("bn_critic")  # a module, like a real plugin (pluggy needs it hashable)
    module.ganlab_discriminator = ganlab_discriminator
    return module


def test_wgan_gp_rejects_a_batch_norm_critic(pm, run_tiny, tmp_path):
    pm.add_plugin(_bn_critic_plugin(), "bn-critic")
    out = tmp_path / "never"
    with pytest.raises(ConfigError) as err:
        run_tiny(["wgan-gp", "bn-critic"], data="ring", options={"data": {"toy_samples": "512"}}, out=out)
    msg = str(err.value)
    assert "batch norm" in msg and "bn-critic" in msg and "net.1" in msg
    assert "without batch norm" in msg  # the fix
    assert not out.exists()


def test_the_same_batch_norm_critic_is_fine_without_wgan_gp(pm, run_tiny):
    pm.add_plugin(_bn_critic_plugin(), "bn-critic")
    # Only the per-sample penalty forbids batch norm: wgan (clipping) builds fine.
    run_tiny(["wgan", "bn-critic"], data="ring", options={"data": {"toy_samples": "512"}}, fit=False)


def test_wgan_gp_rejects_dcgan_with_batch_norm_and_names_its_option(run_tiny, tmp_path):
    with pytest.raises(ConfigError) as err:
        run_tiny(["dcgan", "wgan-gp"], train={"image_size": 32}, out=tmp_path / "never", fit=False)
    assert "batch norm" in str(err.value) and "-o dcgan.d_batchnorm=false" in str(err.value)


def test_wgan_gp_accepts_dcgan_without_batch_norm_in_d(run_tiny):
    trainer = run_tiny(["dcgan", "wgan-gp"], options={"dcgan": {"d_batchnorm": "false", "ngf": "8", "ndf": "8"}},
                       train={"image_size": 32, "steps": 1})
    row = json.loads((trainer.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["penalty/gradient_penalty"] > 0


@pytest.mark.parametrize("plugins, penalties", [
    (["hinge", "r1"], {"r1"}),
    (["wgan-gp", "r1"], {"gradient_penalty", "r1"}),
    (["wgan", "sn"], set()),  # clipping and spectral norm both act on D, neither adds a penalty
    (["hinge", "sn"], set()),
])
def test_losses_compose_with_regularizers(run_tiny, plugins, penalties):
    trainer = run_tiny(plugins, data="ring", options={"data": {"toy_samples": "512"}}, fit=False)
    for _ in range(2):
        out = trainer.train_step()
        assert set(out.penalties) == penalties
        assert all(math.isfinite(float(v)) for v in [out.d_loss, out.g_loss, *out.penalties.values()])
