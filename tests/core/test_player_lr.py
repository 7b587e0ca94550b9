"""--g-lr and --d-lr: each player's optimizer gets its own rate, whichever plugin builds it."""

from __future__ import annotations

import pytest

from ganlab.cli import main


def _lrs(trainer):
    return trainer.opt_g.param_groups[0]["lr"], trainer.opt_d.param_groups[0]["lr"]


def test_without_them_both_players_use_lr(run_tiny):
    assert _lrs(run_tiny(["lsgan"], train={"lr": 3e-4}, fit=False)) == (3e-4, 3e-4)


@pytest.mark.parametrize("plugins", [["lsgan"], ["wgan"]])  # Adam from `adam`, RMSprop from `wgan`
def test_ttur_reaches_each_player_s_optimizer(run_tiny, plugins):
    trainer = run_tiny(plugins, train={"d_lr": 4e-4, "g_lr": 1e-4})
    assert _lrs(trainer) == (1e-4, 4e-4)
    # One player set: the other keeps --lr (WGAN's suggested 5e-5 for wgan, the default 2e-4 otherwise).
    other = run_tiny(plugins, train={"d_lr": 4e-4}, fit=False)
    assert _lrs(other) == (5e-5 if plugins == ["wgan"] else 2e-4, 4e-4)


def test_the_rates_are_recorded_and_refused_when_negative(run_tiny, capsys):
    trainer = run_tiny(["lsgan"], train={"d_lr": 4e-4})
    assert "d_lr = 0.0004" in (trainer.run_dir / "config.toml").read_text()
    assert main(["run", "--plugin", "lsgan", "--d-lr", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--d-lr must be 0 (use --lr) or a positive number" in err and "Traceback" not in err
