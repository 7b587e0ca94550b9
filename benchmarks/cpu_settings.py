"""CPU settings measured: threads on a quiet and on a busy machine, and each --precision on a CPU.

On a shared machine other processes keep the cores busy; torch's default
(one thread per core) then makes every operator wait for threads that are not
running. This trains the same short 2-D run (``ganlab run --data ring -o
mlp.preset=pacgan``) four ways: quiet and busy, each with ``--threads 0``
(torch's default) and ``--threads 1``. "Busy" runs one spinning process per
core beside it, for the whole measurement. It prints steps/s, and the ratio of
one thread to the default in the same conditions. Then it trains the same run
on one quiet thread in fp32, fp16 and bf16 and prints each against fp32.

    python benchmarks/cpu_settings.py [--steps 300]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import subprocess
import sys
import tempfile
import time


def _spin(stop):
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def steps_per_second(steps: int, threads: int, out: str, precision: str = "fp32") -> float:
    cmd = [sys.executable, "-m", "ganlab", "run", "--data", "ring", "-o", "mlp.preset=pacgan", "--steps", str(steps),
           "--threads", str(threads), "--precision", precision, "--quiet", "--device", "cpu", "--sample-every", str(steps),
           "--checkpoint-every", str(steps), "--log-every", str(steps), "--out", out]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    rates = re.findall(r"\(([\d.]+) steps/s\)", done.stdout)
    return float(rates[-1]) if rates else steps / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for load in ("quiet", "busy"):
            stop = mp.Event()
            spinners = [mp.Process(target=_spin, args=(stop,)) for _ in range(cores if load == "busy" else 0)]
            for p in spinners:
                p.start()
            try:
                for threads in (0, 1):
                    results[load, threads] = steps_per_second(args.steps, threads, f"{tmp}/{load}-{threads}")
            finally:
                stop.set()
                for p in spinners:
                    p.join()
        speeds = {p: steps_per_second(args.steps, 1, f"{tmp}/{p}", p) for p in ("fp32", "fp16", "bf16")}
    print(f"{cores} cores, {args.steps} steps of the 2-D PacGAN set-up; steps/s (higher is better)")
    print(f"{'machine':8s} {'--threads 0 (default)':>22s} {'--threads 1':>12s} {'1 thread / default':>19s}")
    for load in ("quiet", "busy"):
        a, b = results[load, 0], results[load, 1]
        print(f"{load:8s} {a:22.1f} {b:12.1f} {b / a:19.2f}")
    print("\nprecision on one quiet thread: steps/s, and against fp32")
    for p, v in speeds.items():
        print(f"{p:8s} {v:8.1f} {v / speeds['fp32']:6.2f}")


if __name__ == "__main__":
    main()
