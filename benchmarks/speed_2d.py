"""Steps per second of a 2-D run with PacGAN's networks, and where a step's time goes.

PacGAN (Lin et al. 2018) trains on the ring and grid mixtures with G = four
400-wide ReLU + batch-norm layers, D = three 200-wide layers, batch 100, Adam
(1e-4, (0.8, 0.999)). This runs ``Trainer.advance()`` (what ``ganlab run``
executes per step) and prints steps/s, then a torch.profiler table of the
operators that take the time.

    python benchmarks/speed_2d.py [--steps 300] [--threads N] [--profile-steps 50]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

os.environ.setdefault("GANLAB_OFFLINE", "1")

from ganlab.config import RunRequest  # noqa: E402
from ganlab.manager import make_plugin_manager  # noqa: E402
from ganlab.run import prepare_run  # noqa: E402

PACGAN_TRAIN = {"data": "ring", "batch_size": 100, "lr": 1e-4, "betas": "0.8,0.999", "latent_dim": 2,
                "steps": 10**9, "device": "cpu", "log_every": 10}
PACGAN_MLP = {"g_hidden": "400,400,400,400", "d_hidden": "200,200,200", "activation": "relu"}
BEFORE = 20.0  # ms/step measured before this work (the speed issue), for the 3x target


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
        for _ in range(20):
            trainer.advance()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            trainer.advance()
        ms = (time.perf_counter() - t0) / args.steps * 1e3
        print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), PacGAN networks, batch 100")
        print(f"{ms:.2f} ms/step, {1e3 / ms:.1f} steps/s; {BEFORE / ms:.2f}x the {BEFORE:.0f} ms/step "
              f"measured before (target >= 3x)")
        table = ""
        if args.profile_steps:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(args.profile_steps):
                    trainer.advance()
            table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)
            print(table)
        trainer.close()
    return {"ms_per_step": ms, "steps_per_s": 1e3 / ms, "profile": table}


if __name__ == "__main__":
    main()
