"""How long do the sample-quality metrics take? Every MNIST metric on 10,000 vs 10,000 samples.

Generates 10,000 samples from a freshly initialised seed-000 MLP generator
(its samples are noise-like; the cost of the metrics does not depend on
quality) and takes the 10,000 embedded MNIST images as the real side, then
times each part as ``ganlab eval --n 10000`` runs it: generation, the
classifier's features of both sides, FD, KID, precision/recall/density/
coverage (k = 5) and the class statistics. Prints the figures and asserts
nothing (target: all metrics under 30 s on 2 CPU cores).

    python benchmarks/metrics.py [--n 10000] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

os.environ.setdefault("GANLAB_OFFLINE", "1")

from ganlab.config import RunRequest, resolve_config  # noqa: E402
from ganlab.manager import make_plugin_manager  # noqa: E402
from ganlab.metrics import MetricBatch, collect_metrics, compute_metrics, generate, real_reference  # noqa: E402
from ganlab.runsetup import build_run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    selection = make_plugin_manager(autoload=False).select(["lsgan"])
    setup = build_run(selection, resolve_config(selection, RunRequest(["lsgan"], {"data": "mnist-embedded",
                                                                                  "device": "cpu"})))
    metrics = collect_metrics(selection, setup.data, setup.options)

    t0 = time.perf_counter()
    fake, _ = generate(setup.generator, args.n, setup.train.latent_dim, None, seed=0)
    t_gen = time.perf_counter() - t0
    real, real_labels = real_reference(setup.loaded, args.n, seed=0)
    batch = MetricBatch(real, fake, setup.data, real_labels, None)

    from ganlab.plugins.mnist_metrics import _features, shipped_classifier  # the plugin's shared feature cache

    c0 = time.process_time()
    t0 = time.perf_counter()
    import torchmetrics.image.fid  # noqa: F401  (a one-time cost per process, ~5 s of CPU)
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    shipped_classifier()
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    _features(batch)
    t_feat = time.perf_counter() - t0
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    row = compute_metrics(metrics, batch, timings)
    t_metrics = time.perf_counter() - t0
    cpu = time.process_time() - c0

    print(f"{len(fake):,} generated vs {len(real):,} real MNIST samples, {torch.get_num_threads()} torch threads")
    print(f"  generate (mlp, seed 000 G)     {t_gen:6.2f} s")
    print(f"  import torchmetrics            {t_import:6.2f} s")
    print(f"  load + hash-check classifier   {t_load:6.2f} s")
    print(f"  classifier features (2 x n)    {t_feat:6.2f} s")
    for name, seconds in timings.items():
        print(f"  {name:<30} {seconds:6.2f} s")
    total = t_import + t_load + t_feat + t_metrics
    print(f"  all metrics (features incl.)   {total:6.2f} s wall, {cpu:.2f} s CPU   (target < 30 s wall)")
    print(f"  load average now: {', '.join(f'{v:.2f}' for v in os.getloadavg())} (others' processes slow the wall time)")
    print("values: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()))


if __name__ == "__main__":
    main()
