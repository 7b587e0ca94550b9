"""Steps per second of a 2-D run with PacGAN's networks, and where a step's time goes.

PacGAN (Lin et al. 2018) trains on the ring and grid mixtures with G = four
400-wide ReLU + batch-norm layers, D = three 200-wide layers, batch 100, Adam
(1e-4, (0.8, 0.999)). This runs ``Trainer.advance()`` (what ``ganlab run``
executes per step) and, interleaved in blocks with it, a hand-written loop of
the same networks and GAN losses as a user would write it (PyTorch's default
Adam, one D and one G update per step on fresh noise, the two losses read
with ``.item()`` every step for a progress line). It prints both, their ratio,
and ganlab's speed-up over the 20 ms/step the speed issue measured; then a
torch.profiler table of the operators that take ganlab's time.

It also prints the step's arithmetic floor: the floating-point operations of
one ganlab step (counted by torch's FlopCounterMode on the step itself) over
the throughput this machine reaches, in the same run, on the step's largest
matrix product (100 x 400 by 400 x 400). No loop of the same math can beat
that floor, so it says whether a speed target is reachable on these cores.

    python benchmarks/speed_2d.py [--steps 300] [--threads N] [--profile-steps 50]
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

PACGAN_TRAIN = {"data": "ring", "batch_size": 100, "lr": 1e-4, "betas": "0.8,0.999", "latent_dim": 2,
                "steps": 10**9, "device": "cpu", "log_every": 10}
PACGAN_MLP = {"g_hidden": "400,400,400,400", "d_hidden": "200,200,200", "activation": "relu"}
BEFORE = 20.0  # ms/step measured before this work (the speed issue), for the 3x target
BATCH = 100
BLOCK = 25  # steps per timed block


def hand_written(points: torch.Tensor, seed: int = 0):
    """PacGAN's networks and the non-saturating GAN loss as a plain PyTorch loop."""
    torch.manual_seed(seed)
    g_layers, width = [], 2
    for _ in range(4):
        g_layers += [nn.Linear(width, 400), nn.BatchNorm1d(400), nn.ReLU()]
        width = 400
    G = nn.Sequential(*g_layers, nn.Linear(400, 2))
    D = nn.Sequential(nn.Linear(2, 200), nn.ReLU(), nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, 200), nn.ReLU(),
                      nn.Linear(200, 1))
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.8, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.8, 0.999))
    bce = nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(BATCH, 1), torch.zeros(BATCH, 1)

    def step():
        real = points[torch.randint(len(points), (BATCH,))]
        with torch.no_grad():
            fake = G(torch.randn(BATCH, 2))
        d_loss = bce(D(real), ones) + bce(D(fake), zeros)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = bce(D(G(torch.randn(BATCH, 2))), ones)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        return d_loss.item(), g_loss.item()

    return step


def gemm_gflops(repeats: int = 400) -> float:
    """Best throughput of the step's dominant matrix product on this machine, with the current threads."""
    a, b = torch.randn(BATCH, 400), torch.randn(400, 400)
    for _ in range(20):
        a @ b
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeats // 5):
            a @ b
        best = min(best, (time.perf_counter() - t0) / (repeats // 5))
    return 2 * BATCH * 400 * 400 / best / 1e9


def step_flops(step) -> int:
    """Floating-point operations of one call of ``step`` (matrix products; elementwise work is not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def _block(step, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n * 1e3


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--profile-steps", type=int, default=50)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        request = RunRequest(["gan"], dict(PACGAN_TRAIN), {"mlp": dict(PACGAN_MLP)})
        trainer = prepare_run(make_plugin_manager(autoload=False), request, out=os.path.join(tmp, "r"), quiet=True)
        baseline = hand_written(trainer.setup.loaded.data.float().reshape(-1, 2))
        for step in (trainer.advance, baseline):
            _block(step, 20)
        blocks = max(1, args.steps // BLOCK)
        times = {"ganlab": [], "hand-written": []}
        for b in range(blocks):  # interleaved, alternating order, so machine noise hits both alike
            order = [("ganlab", trainer.advance), ("hand-written", baseline)]
            for name, step in (order if b % 2 == 0 else order[::-1]):
                times[name].append(_block(step, BLOCK))
        ms = statistics.median(times["ganlab"])
        hand = statistics.median(times["hand-written"])
        ratio = statistics.median(g / h for g, h in zip(times["ganlab"], times["hand-written"]))
        print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), PacGAN networks, batch {BATCH}, "
              f"{blocks} blocks of {BLOCK} steps, interleaved")
        print(f"ganlab {ms:.2f} ms/step ({1e3 / ms:.1f} steps/s), hand-written {hand:.2f} ms/step "
              f"({1e3 / hand:.1f} steps/s); ratio {ratio:.3f} (median of per-block ratios)")
        print(f"ganlab: {BEFORE / ms:.2f}x the {BEFORE:.0f} ms/step measured before the speed work (target >= 3x)")
        flops, gflops = step_flops(trainer.advance), gemm_gflops()
        floor = flops / gflops / 1e6
        print(f"arithmetic floor: {flops / 1e6:.0f} MFLOP/step at {gflops:.1f} GFLOP/s (this machine's best on the "
              f"step's 100x400x400 product) = {floor:.2f} ms/step; ganlab is {ms / floor:.2f}x the floor, "
              f"the 3x target ({BEFORE / 3:.2f} ms/step) is {BEFORE / 3 / floor:.2f}x it")
        table = ""
        if args.profile_steps:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(args.profile_steps):
                    trainer.advance()
            table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)
            print(table)
        trainer.close()
    return {"ms_per_step": ms, "steps_per_s": 1e3 / ms, "hand_written_ms": hand, "ratio": ratio, "profile": table,
            "mflop_per_step": flops / 1e6, "gemm_gflops": gflops, "floor_ms": floor}


if __name__ == "__main__":
    main()
