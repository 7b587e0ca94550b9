"""GPU figures: DCGAN 64 px on MNIST per epoch, the 2-D PacGAN step, and DDP scaling.

Prints, on the first CUDA device (and all of them for DDP):

* DCGAN 64x64 MNIST (seed 001's set-up, batch 100): seconds per epoch of
  60,000 images (extrapolated from timed steps) for fp32, bf16, bf16 + compile;
  seed 001 reports 68 s per epoch, the target is at most 5 s;
* 2-D steps/s with PacGAN's networks, eager and compiled (CUDA graphs);
* DDP: DCGAN steps/s with 1..N GPUs under torchrun, batch 100 per GPU.

Without a CUDA device it says so and measures nothing. Asserts nothing.

    python benchmarks/gpu.py [--steps 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import torch

os.environ.setdefault("GANLAB_OFFLINE", "1")

from ganlab.config import RunRequest  # noqa: E402
from ganlab.manager import make_plugin_manager  # noqa: E402
from ganlab.run import prepare_run  # noqa: E402

DCGAN = (["dcgan", "gan"], {"data": "mnist-embedded", "image_size": 64, "batch_size": 100, "device": "cuda",
                            "steps": 10**9, "log_every": 100}, {})
PACGAN = (["gan"], {"data": "ring", "batch_size": 100, "lr": 1e-4, "betas": "0.8,0.999", "device": "cuda",
                    "steps": 10**9, "log_every": 100}, {"mlp": {"preset": "pacgan"}})
EPOCH = 60_000


def ms_per_step(setup, train: dict, steps: int, tmp: str, name: str) -> float:
    plugins, base, options = setup
    request = RunRequest(list(plugins), {**base, **train}, options)
    trainer = prepare_run(make_plugin_manager(autoload=False), request, out=os.path.join(tmp, name), quiet=True,
                          log=lambda *a: None)
    for _ in range(30):  # warm-up; compilation happens here
        trainer.advance()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.advance()
    torch.cuda.synchronize()
    trainer.close()
    return (time.perf_counter() - t0) / steps * 1e3


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device: nothing measured (run this on a machine with a GPU)")
        return
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, {torch.cuda.device_count()} GPU(s)")
    with tempfile.TemporaryDirectory() as tmp:
        for label, train in (("fp32", {}), ("bf16", {"precision": "bf16"}),
                             ("bf16 + compile", {"precision": "bf16", "compile": True})):
            ms = ms_per_step(DCGAN, train, args.steps, tmp, f"dcgan-{label.replace(' ', '')}")
            print(f"DCGAN 64 px MNIST, batch 100, {label}: {ms:.2f} ms/step, "
                  f"{ms * EPOCH / 100 / 1e3:.1f} s/epoch (seed 001: 68 s; target <= 5 s)")
        for label, train in (("eager", {}), ("compiled", {"compile": True})):
            ms = ms_per_step(PACGAN, train, args.steps * 5, tmp, f"pacgan-{label}")
            print(f"2-D PacGAN networks, batch 100, {label}: {1e3 / ms:.0f} steps/s")
        for n in range(1, torch.cuda.device_count() + 1):
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n),
                   "-m", "ganlab", "run", "--plugin", "dcgan", "--plugin", "gan", "--data", "mnist-embedded",
                   "--image-size", "64", "--batch-size", "100", "--steps", str(args.steps), "--quiet",
                   "--log-every", str(args.steps), "--out", os.path.join(tmp, f"ddp{n}")]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            print(f"DDP {n} GPU(s): {args.steps / (time.perf_counter() - t0):.1f} steps/s "
                  f"(start-up included), {n * 100} images per step")


if __name__ == "__main__":
    main()
