"""How much does the plugin layer cost? ganlab's training step vs a hand-written loop.

Both sides train the seeds' LSGAN MLP on MNIST at batch 64 with the same math:
per step, one D update on a real batch and a fresh fake batch (generated without
grad), then one G update on fresh noise with D frozen; Adam(2e-4, (0.5, 0.999));
losses 1/2 E(D(x)-1)^2 + 1/2 E(D(G(z)))^2 and 1/2 E(D(G(z))-1)^2.

The ganlab side runs ``Trainer.advance()``, exactly what ``ganlab run`` executes
per step (hook calls, finiteness guard, metrics every 10 steps). They run in the
same process, interleaved in blocks with alternating order, so machine noise
hits both alike. Prints ms/step for each and their ratio (target: <= 0.77).
The hand-written loop uses PyTorch's defaults (for-loop Adam); ganlab's default
optimizer plugin uses the fused Adam kernel, the same arithmetic.

    python benchmarks/speed.py [--rounds 40] [--block 20] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch
from torch import nn

os.environ.setdefault("GANLAB_OFFLINE", "1")

from ganlab.config import RunRequest  # noqa: E402
from ganlab.manager import make_plugin_manager  # noqa: E402
from ganlab.run import prepare_run  # noqa: E402

LATENT, BATCH = 96, 64
TARGET = 0.77  # ganlab's step at most 0.77x the hand-written loop's (1.3x faster)


def hand_written(images_uint8: torch.Tensor, seed: int):
    """A plain PyTorch LSGAN loop with the seeds' MLP, no ganlab involved."""
    torch.manual_seed(seed)

    def g_block(i, o):
        return [nn.Linear(i, o), nn.BatchNorm1d(o), nn.GELU()]

    G = nn.Sequential(*g_block(LATENT, 128), *g_block(128, 256), *g_block(256, 512), *g_block(512, 1024),
                      nn.Linear(1024, 784), nn.Tanh())
    widths = [784, 512, 256, 128, 64, 32]
    d_layers = []
    for i, o in zip(widths, widths[1:]):
        d_layers += [nn.Linear(i, o), nn.GELU()]
    D = nn.Sequential(nn.Flatten(), *d_layers, nn.Linear(32, 1))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(seed)
    n = len(images_uint8)
    state = {"perm": torch.randperm(n, generator=gen), "pos": 0}

    def batch():
        if state["pos"] + BATCH > n:
            state["perm"], state["pos"] = torch.randperm(n, generator=gen), 0
        idx = state["perm"][state["pos"]: state["pos"] + BATCH]
        state["pos"] += BATCH
        return images_uint8[idx].float().div_(127.5).sub_(1.0)

    def step():
        real = batch()
        with torch.no_grad():
            fake = G(torch.randn(BATCH, LATENT, generator=gen)).view(BATCH, 1, 28, 28)
        d_loss = 0.5 * (D(real) - 1).pow(2).mean() + 0.5 * D(fake).pow(2).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        D.requires_grad_(False)
        fake = G(torch.randn(BATCH, LATENT, generator=gen)).view(BATCH, 1, 28, 28)
        g_loss = 0.5 * (D(fake) - 1).pow(2).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        D.requires_grad_(True)
        opt_g.step()

    return step


def ganlab_step(out_dir: str, seed: int):
    request = RunRequest(["lsgan"], {"data": "mnist-embedded", "batch_size": BATCH, "seed": seed,
                                     "steps": 10**9, "device": "cpu"}, {})
    trainer = prepare_run(make_plugin_manager(autoload=False), request, out=out_dir, quiet=True)
    return trainer.advance, trainer.setup.loaded.data


def time_block(step, n: int) -> tuple[float, float]:
    """Wall-clock and this thread's CPU time per step, in ms."""
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(n):
        step()
    return (time.perf_counter() - wall) / n * 1e3, (time.thread_time() - cpu) / n * 1e3


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--block", type=int, default=20, help="steps per timed block")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0: torch's default, as a user's loop gets); with 1, all work "
                             "runs on this thread and its CPU time is immune to other processes")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ours, images = ganlab_step(os.path.join(tmp, "run"), seed=0)
        baseline = hand_written(images, seed=0)
        for step in (ours, baseline):
            time_block(step, args.warmup)
        times = {"hand-written": [], "ganlab": []}
        for r in range(args.rounds):
            order = [("hand-written", baseline), ("ganlab", ours)]
            for name, step in (order if r % 2 == 0 else order[::-1]):
                times[name].append(time_block(step, args.block))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {BATCH}, "
          f"{args.rounds} rounds x {args.block} steps, interleaved")
    result = {}
    clocks = ["wall", "cpu"] if args.threads == 1 else ["wall"]
    for i, clock in enumerate(clocks):
        per = {k: [t[i] for t in v] for k, v in times.items()}
        med = {k: statistics.median(v) for k, v in per.items()}
        ratios = [g / h for g, h in zip(per["ganlab"], per["hand-written"])]
        ratio = statistics.median(ratios)
        print(f"{clock} time: hand-written {med['hand-written']:.3f} ms/step, ganlab {med['ganlab']:.3f} ms/step "
              f"(medians); ratio {ratio:.3f} (median of per-round ratios, "
              f"min {min(ratios):.3f}, max {max(ratios):.3f}); target <= {TARGET}")
        result[clock] = {"ms": med, "ratio": ratio}
    return result


if __name__ == "__main__":
    main()
