"""``--threads N``: a trainer setting that sets torch's CPU thread count when the run starts."""

from __future__ import annotations

import torch

from ganlab.cli import build_parser, main


def test_threads_is_a_run_flag_with_help():
    help_text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert "--threads" in help_text and "torch CPU threads" in help_text


def test_threads_sets_torch_threads_and_is_recorded(run_tiny):
    before = torch.get_num_threads()
    try:
        trainer = run_tiny(["gan"], data="ring", train={"threads": 2, "steps": 1})
        assert torch.get_num_threads() == 2
        assert "threads = 2" in (trainer.run_dir / "config.toml").read_text()
    finally:
        torch.set_num_threads(before)


def test_threads_default_leaves_torch_alone(run_tiny):
    torch.set_num_threads(1)
    run_tiny(["gan"], data="ring", train={"steps": 1})
    assert torch.get_num_threads() == 1


def test_negative_threads_is_a_user_error(capsys):
    assert main(["run", "--data", "ring", "--threads", "-1"]) == 2
    assert "--threads must be 0" in capsys.readouterr().err
