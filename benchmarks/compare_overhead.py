"""What ``ganlab compare`` costs per cell beyond the runs themselves (target < 1 s).

Times K tiny cells (2 variants x K/2 seeds on ``ring``) two ways in one
process, after a warm-up run so imports count for neither:

* direct: the same K runs through ``prepare_run(...).fit()``;
* compare: ``ganlab compare`` with ``--workers 1`` (in-process), which adds the
  sweep, status files, the table, results.csv/json and the plots;
* optionally (``--pool``) ``--workers 2``, which adds two spawned workers'
  start-up (imports) once per sweep.

It prints the times and the per-cell difference, best of ``--rounds``
interleaved rounds, and asserts nothing.

    python benchmarks/compare_overhead.py            # K = 8, 20 steps
    python benchmarks/compare_overhead.py --cells 16 --steps 50 --pool
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("GANLAB_OFFLINE", "1")

from ganlab.cli import main as cli_main  # noqa: E402
from ganlab.config import RunRequest  # noqa: E402
from ganlab.manager import make_plugin_manager  # noqa: E402
from ganlab.run import prepare_run  # noqa: E402

VARIANTS = ("gan", "lsgan")
TRAIN = {"data": "ring", "batch_size": 8, "log_every": 10, "checkpoint_every": 1000, "device": "cpu"}
OPTIONS = {"mlp": {"g_hidden": "8", "d_hidden": "8"}, "data": {"toy_samples": "256"}}


def direct(pm, root: Path, seeds: int, steps: int) -> float:
    t0 = time.perf_counter()
    for variant in VARIANTS:
        for seed in range(seeds):
            train = {**TRAIN, "steps": steps, "sample_every": steps, "seed": seed}
            request = RunRequest([variant], train, {k: dict(v) for k, v in OPTIONS.items()})
            prepare_run(pm, request, out=root / f"{variant}-{seed}", quiet=True, log=lambda *a: None).fit()
    return time.perf_counter() - t0


def compare(root: Path, seeds: int, steps: int, workers: int) -> float:
    args = ["compare", *(a for v in VARIANTS for a in ("--variant", v)), "--seeds", str(seeds),
            "--steps", str(steps), "--sample-every", str(steps), "--threads", "1", "--workers", str(workers),
            "--out", str(root)]
    for key, value in TRAIN.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    for plugin, values in OPTIONS.items():
        args += [a for k, v in values.items() for a in ("-o", f"{plugin}.{k}={v}")]
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli_main(args)
    took = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"ganlab compare exited with {code}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=8, help="cells per sweep (even; default 8)")
    parser.add_argument("--steps", type=int, default=20, help="steps per cell (default 20)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds, best kept (default 2)")
    parser.add_argument("--pool", action="store_true", help="also time --workers 2")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = max(args.cells // len(VARIANTS), 1)
    k = seeds * len(VARIANTS)
    pm = make_plugin_manager()
    best = {"direct": float("inf"), "compare": float("inf"), "pool": float("inf")}
    with tempfile.TemporaryDirectory(prefix="ganlab-overhead-") as tmp:
        tmp = Path(tmp)
        direct(pm, tmp / "warm-direct", 1, 2)
        compare(tmp / "warm-compare", 1, 2, 1)
        for r in range(args.rounds):
            best["direct"] = min(best["direct"], direct(pm, tmp / f"direct{r}", seeds, args.steps))
            best["compare"] = min(best["compare"], compare(tmp / f"compare{r}", seeds, args.steps, 1))
            if args.pool:
                best["pool"] = min(best["pool"], compare(tmp / f"pool{r}", seeds, args.steps, 2))
    print(f"{k} cells of {args.steps} steps (tiny MLPs on ring, 1 torch thread), best of {args.rounds} round(s):")
    print(f"  prepare_run(...).fit() in-process : {best['direct']:.2f} s ({best['direct'] / k:.3f} s per cell)")
    print(f"  ganlab compare --workers 1        : {best['compare']:.2f} s ({best['compare'] / k:.3f} s per cell)")
    print(f"  overhead per cell                 : {(best['compare'] - best['direct']) / k:+.3f} s "
          f"(sweep, status files, table, results.csv/json and plots, spread over {k} cells)")
    if args.pool:
        print(f"  ganlab compare --workers 2        : {best['pool']:.2f} s ({best['pool'] / k:.3f} s per cell, "
              f"{(best['pool'] - best['direct']) / k:+.3f} s vs direct; includes spawning 2 workers)")


if __name__ == "__main__":
    main()
