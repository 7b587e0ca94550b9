"""Per-seed steps/s of ``--seeds K`` (K seeds as one batched model) against separate runs, beside the floor.

Two set-ups of the issue: PacGAN's 2-D networks (G four 400-wide ReLU +
batch-norm layers, D three 200-wide layers, batch 100, ring) and seed 000's
MNIST MLP (G 128-256-512-1024 with batch norm, D 512-256, LSGAN, batch 64).
For each K it times, interleaved in blocks so machine noise hits both alike:

* one separate run's step (``Trainer.train_step``): K separate runs take K
  times it, one after another;
* the batched step of K seeds (``SeedGroup.train_step``).

It prints the per-seed throughput ratio (batched over separate, measured in
the same run), the batched step's wall time over one seed's, and the
arithmetic floor: the step's floating-point operations (torch's
FlopCounterMode on the step itself) over the best throughput this machine
reaches, in the same run, on the step's largest matrix product at the
batched shape. No loop of the same math beats the floor.

    python benchmarks/seeds.py [--ks 1,4,10,32] [--steps 60] [--threads N] [--only 2d|mnist] [--device cuda]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

os.environ.setdefault("GANLAB_OFFLINE", "1")

from ganlab.config import RunRequest  # noqa: E402
from ganlab.manager import make_plugin_manager  # noqa: E402
from ganlab.run import prepare_run  # noqa: E402
from ganlab.seeds import SeedGroup  # noqa: E402

SETUPS = {
    "2d": {"title": "PacGAN's 2-D networks, batch 100, ring", "plugins": ["gan"],
           "train": {"data": "ring", "batch_size": 100, "lr": 1e-4, "betas": "0.8,0.999", "latent_dim": 2},
           "options": {"mlp": {"preset": "pacgan"}}, "largest": (100, 400, 400), "ks": (1, 4, 10, 32)},
    "mnist": {"title": "seed 000's MLP (mlp's defaults), LSGAN, batch 64, the embedded MNIST split",
              "plugins": ["lsgan"], "train": {"data": "mnist-embedded", "batch_size": 64},
              "options": {}, "largest": (64, 1024, 784), "ks": (1, 4, 8, 10, 32)},
}
BLOCK = 5  # steps per timed block


DEVICE = {"name": "cpu"}


def _sync() -> None:
    if DEVICE["name"] == "cuda":
        torch.cuda.synchronize()


def trainers(setup: dict, k: int, root: str) -> tuple[list, list]:
    pm = make_plugin_manager(autoload=False)
    made, streams = [], []
    for seed in range(k):
        train = {**setup["train"], "seed": seed, "steps": 10**9, "device": DEVICE["name"], "log_every": 10**9,
                 "sample_every": 10**9, "checkpoint_every": 10**9}
        request = RunRequest(list(setup["plugins"]), train, {p: dict(v) for p, v in setup["options"].items()})
        made.append(prepare_run(pm, request, out=os.path.join(root, f"k{k}-seed{seed}"), quiet=True,
                                log=lambda *a: None))
        streams.append(torch.get_rng_state())
    return made, streams


def gemm_gflops(k: int, m: int, n: int, p: int) -> float:
    """Best throughput of k independent (m x n) @ (n x p) products as one batched product."""
    a, b = torch.randn(k, m, n, device=DEVICE["name"]), torch.randn(k, n, p, device=DEVICE["name"])
    for _ in range(5):
        torch.bmm(a, b)
    _sync()
    reps = max(3, int(2e8 // (2 * k * m * n * p)))
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.bmm(a, b)
        _sync()
        best = min(best, (time.perf_counter() - t0) / reps)
    return 2 * k * m * n * p / best / 1e9


def flops_of(step) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def _block(step, n: int) -> float:
    _sync()
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    _sync()
    return (time.perf_counter() - t0) / n * 1e3


def measure(setup: dict, k: int, steps: int) -> dict:
    with tempfile.TemporaryDirectory() as root:
        ts, streams = trainers(setup, k, root)
        one = ts[0]
        if k == 1:
            group_step = one.train_step
        else:
            group = SeedGroup(ts, streams, log=lambda *a: None, quiet=True)
            group_step = lambda: group.train_step(False)  # noqa: E731
        for step in (one.train_step, group_step):
            _block(step, 2)
        blocks = max(2, steps // BLOCK)
        times = {"separate": [], "batched": []}
        for b in range(blocks):
            order = [("separate", one.train_step), ("batched", group_step)]
            for name, step in (order if b % 2 == 0 else order[::-1]):
                times[name].append(_block(step, BLOCK))
        flops = flops_of(group_step)
        for t in ts:
            t.close()
    single, batched = statistics.median(times["separate"]), statistics.median(times["batched"])
    gflops = gemm_gflops(k, *setup["largest"])
    floor = flops / gflops / 1e6
    return {"k": k, "single_ms": single, "batched_ms": batched, "per_seed_speedup": k * single / batched,
            "wall_over_one": batched / single, "floor_ms": floor, "over_floor": batched / floor,
            "mflop": flops / 1e6, "gflops": gflops}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ks", help="comma-separated K (default: 1,4,10,32; MNIST adds 8)")
    parser.add_argument("--steps", type=int, default=60, help="timed steps per variant (in blocks of 5)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--only", choices=sorted(SETUPS), action="append")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args(argv)
    DEVICE["name"] = args.device
    where = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    if args.threads:
        torch.set_num_threads(args.threads)
    out = {}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {where}; blocks of {BLOCK} steps, "
          f"batched and separate interleaved")
    for name in args.only or list(SETUPS):
        setup = SETUPS[name]
        ks = [int(x) for x in args.ks.split(",")] if args.ks else list(setup["ks"])
        print(f"\n{setup['title']}")
        print(f"{'K':>3} {'one seed ms':>11} {'K batched ms':>12} {'per-seed x':>10} {'wall / one':>10} "
              f"{'floor ms':>8} {'/ floor':>7}")
        rows = []
        for k in ks:
            r = measure(setup, k, args.steps)
            rows.append(r)
            print(f"{k:>3} {r['single_ms']:>11.2f} {r['batched_ms']:>12.2f} {r['per_seed_speedup']:>10.2f} "
                  f"{r['wall_over_one']:>10.2f} {r['floor_ms']:>8.2f} {r['over_floor']:>7.2f}", flush=True)
        out[name] = rows
    print("\nper-seed x: K separate runs' time over the batched step's (the speed-up per seed); wall / one: the "
          "batched step over one seed's; floor: the step's matrix-product FLOPs at this machine's best batched-GEMM "
          "throughput")
    return out


if __name__ == "__main__":
    main()
