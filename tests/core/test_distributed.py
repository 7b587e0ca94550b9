"""Data-parallel training under torchrun: 2 gloo ranks on the CPU against one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from ganlab.checkpoint import load_checkpoint

# No batch norm and no dropout: each rank normalising its own slice would differ from one big batch.
TINY = ["--plugin", "lsgan", "--data", "ring", "-o", "data.toy_samples=256", "-o", "mlp.g_hidden=16",
        "-o", "mlp.d_hidden=16", "-o", "mlp.g_batchnorm=false", "--steps", "4", "--quiet", "--device", "cpu",
        "--log-every", "2", "--checkpoint-every", "2"]


def _run(cmd, tmp_path):
    env = {**os.environ, "GANLAB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out


def _torchrun(args, tmp_path):
    return _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                 "-m", "ganlab", "run", *args], tmp_path)


def test_two_ranks_with_batch_b_match_one_process_with_batch_2b(tmp_path):
    # With an EMA of G, metrics every 2 steps and kept checkpoints: rank 0 alone writes them.
    extra = ["--plugin", "ema", "-o", "ema.decay=0.5", "--eval-every", "2", "--eval-samples", "50", "--keep-every", "2"]
    _run([sys.executable, "-m", "ganlab", "run", *TINY, *extra, "--batch-size", "8", "--out", "one"], tmp_path)
    two = _torchrun([*TINY, *extra, "--batch-size", "4", "--out", "two"], tmp_path)
    assert "data-parallel over 2 ranks" in two.stdout
    a, b = load_checkpoint(tmp_path / "one" / "checkpoint.pt"), load_checkpoint(tmp_path / "two" / "checkpoint.pt")
    averages = {k: v for k, v in a["generator_average"].items() if isinstance(v, torch.Tensor)}
    for name, weight in averages.items():
        torch.testing.assert_close(b["generator_average"][name], weight, rtol=1e-5, atol=1e-6, msg=name)
    evals = [json.loads(l) for l in (tmp_path / "two" / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in evals if r.get("source") == "train"] == [2, 4]
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir()) == ["step_000002.pt", "step_000004.pt"]
    for net in ("generator", "discriminator"):
        for name, weight in a[net].items():
            # Same arithmetic but for the order of floating-point sums (two half-batch means averaged
            # vs one mean), a few float32 ulps per step through Adam's normalised updates.
            torch.testing.assert_close(b[net][name], weight, rtol=1e-5, atol=1e-6, msg=f"{net}.{name}")
    rows = lambda run: [json.loads(l) for l in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
    # Only rank 0 writes, once per logging step, and the logged losses are means over both ranks' shards.
    assert [r["step"] for r in rows("two")] == [2, 4]
    for r1, r2 in zip(rows("one"), rows("two")):
        assert r2["d_loss"] == pytest.approx(r1["d_loss"], rel=1e-4)
        assert r2["g_loss"] == pytest.approx(r1["g_loss"], rel=1e-4)


def test_two_ranks_resume_with_a_gradient_penalty(tmp_path):
    args = [*TINY, "--batch-size", "4", "--plugin", "wgan-gp", "--n-critic", "2"]
    args[args.index("lsgan")] = "r1"  # gan + r1 on one rank, wgan-gp's penalty: both take input gradients
    _torchrun([*args, "--steps", "2", "--out", "r"], tmp_path)
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt")["step"] == 2
    _torchrun(["--resume", "r", "--steps", "4", "--quiet"], tmp_path)
    state = load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    assert state["step"] == 4
    assert all(torch.isfinite(w).all() for w in state["discriminator"].values())
    rows = [json.loads(l) for l in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4] and all(r["penalty/gradient_penalty"] > 0 for r in rows)


def test_two_ranks_step_began_k_from_the_whole_batch(tmp_path):
    # k_t is regularizer state stepped from batch energies: each rank must use the global batch's.
    args = [*TINY, "-o", "began.k0=0.5", "-o", "began.gamma=1.0", "-o", "began.lambda_k=0.1",
            "-o", "began.hidden=16", "-o", "began.embedding=4"]
    args[args.index("lsgan")] = "began"
    _run([sys.executable, "-m", "ganlab", "run", *args, "--batch-size", "8", "--out", "one"], tmp_path)
    _torchrun([*args, "--batch-size", "4", "--out", "two"], tmp_path)
    a, b = load_checkpoint(tmp_path / "one" / "checkpoint.pt"), load_checkpoint(tmp_path / "two" / "checkpoint.pt")
    k1, k2 = float(a["regularizers"]["began"]["k"]), float(b["regularizers"]["began"]["k"])
    assert k1 != 0.5 and k2 == pytest.approx(k1, abs=1e-6)
    for name, weight in a["discriminator"].items():
        torch.testing.assert_close(b["discriminator"][name], weight, rtol=1e-5, atol=1e-6, msg=name)


def test_two_ranks_evaluate_mnist_metrics_on_rank_zero_without_waiting_for_the_other(tmp_path):
    # torchmetrics' FD and KID sync over every initialised rank by default; rank 0 alone evaluates.
    args = [*TINY, "--batch-size", "4", "--eval-every", "2", "--eval-samples", "40", "--out", "m"]
    args[args.index("ring")] = "mnist-embedded"
    _torchrun(args, tmp_path)
    rows = [json.loads(l) for l in (tmp_path / "m" / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4] and all(r["fd"] > 0 for r in rows)
