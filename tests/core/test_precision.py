"""--precision and --compile: what runs in low precision, what stays float32."""

from __future__ import annotations

import types

import pytest
import torch

from ganlab import hookimpl
from ganlab.checkpoint import load_checkpoint
from ganlab.cli import build_parser
from ganlab.regularizers import Regularizer

RING = {"data": {"toy_samples": "256"}}


def _probe_plugin(seen: dict):
    """A loss and a penalty that record the dtypes and autocast state they are called with."""

    class Probe(Regularizer):
        name, player = "probe", "D"

        def penalty(self, batch):
            seen["penalty_autocast"] = torch.is_autocast_enabled("cpu")
            seen["penalty_fake"] = batch.fake.dtype
            x = batch.real.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(batch.discriminator(x).sum(), x, create_graph=True)
            seen["penalty_grad"] = grad.dtype
            return grad.pow(2).sum(1).mean() * 0.1

    @hookimpl
    def ganlab_d_loss(real_scores, fake_scores):
        seen["scores"] = real_scores.dtype
        return (real_scores - 1).pow(2).mean() + fake_scores.pow(2).mean()

    @hookimpl
    def ganlab_regularizer():
        return Probe()

    module = types.ModuleType("probe_plugin")
    module.ganlab_d_loss, module.ganlab_regularizer = ganlab_d_loss, ganlab_regularizer
    return module


@pytest.mark.parametrize("precision,dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_networks_run_in_low_precision_and_losses_and_penalties_in_float32(pm, run_tiny, precision, dtype):
    seen = {}
    pm.add_plugin(_probe_plugin(seen), "probe")
    trainer = run_tiny(["probe"], data="ring", options=RING, train={"precision": precision}, fit=False)
    activations = []
    hook = trainer.D.register_forward_hook(lambda m, i, out: activations.append(out.dtype))
    stats = trainer.train_step(log=True)
    hook.remove()
    assert dtype in activations  # D's forward was autocast
    assert seen["scores"] == torch.float32
    assert seen["penalty_autocast"] is False and seen["penalty_fake"] == torch.float32
    assert seen["penalty_grad"] == torch.float32
    # (fp16's first scaled gradients may overflow: the scaler skips that step, so only losses are checked)
    assert all(torch.isfinite(v) for v in (stats.d_loss, stats.g_loss, *stats.penalties.values()))
    assert (precision == "fp16") == bool(trainer.precision.scalers)


def test_fp16_loss_scales_are_checkpointed_and_restored(pm, run_tiny, tmp_path):
    from ganlab.config import RunRequest
    from ganlab.run import prepare_run

    trainer = run_tiny(["lsgan"], data="ring", options=RING, train={"precision": "fp16", "steps": 3},
                       out=tmp_path / "r")
    saved = load_checkpoint(tmp_path / "r" / "checkpoint.pt")["scalers"]
    assert set(saved) == {"G", "D"} and saved["D"]["scale"] == trainer.precision.scalers["D"].get_scale()
    resumed = prepare_run(pm, RunRequest(train={"steps": 4}), resume=tmp_path / "r", quiet=True)
    assert resumed.precision.scalers["D"].state_dict() == saved["D"]
    resumed.close()


def test_compile_compiles_both_networks(run_tiny, monkeypatch):
    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: compiled.append((type(self).__name__, kw)))
    run_tiny(["lsgan"], data="ring", options=RING, train={"compile": True, "steps": 2})
    assert [name for name, _ in compiled] == ["MLPGenerator", "MLPDiscriminator"]


def test_switch_flags_work_alone_or_with_a_value():
    parser = build_parser()
    assert parser.parse_args(["run", "--compile"]).train_compile == "true"
    assert parser.parse_args(["run", "--compile", "false"]).train_compile == "false"
    assert parser.parse_args(["run", "--precision", "bf16"]).train_precision == "bf16"
    help_text = parser._subparsers._group_actions[0].choices["run"].format_help()
    assert "--precision {fp32,bf16,fp16}" in help_text and "--compile" in help_text
