"""Mode coverage of every loss and regularizer variant on the 2-D mixtures.

Trains each variant on ``ring`` and ``grid`` through ganlab's public API
(``prepare_run`` then ``Trainer.fit``), scores the trained generator with the
PacGAN protocol (``ganlab.plugins.data.evaluate_generator``) and prints modes
captured, % high quality and KL (mean ± std over seeds) with wall times. It
prints figures and asserts nothing.

    python benchmarks/variants.py                      # every variant, 3 seeds
    python benchmarks/variants.py --variants gan,hinge --datasets ring --steps 5000
    python benchmarks/variants.py --quick              # seconds: a smoke run

Set-up, after PacGAN's Table 1 as far as the ``mlp`` plugin allows: 2-D
Gaussian noise, G with four 400-wide ReLU + batch-norm layers, Adam with
lr 1e-4 and betas (0.8, 0.999), batch 100. PacGAN's D has three 200-wide
*maxout* layers (5 pieces); mlp has no maxout, so D here is three 200-wide
ReLU layers. PacGAN trains 400 epochs of 100,000 points (400,000 steps);
the default here, 2,000 steps, takes about 45 s per run on one CPU thread
(WGAN and WGAN-GP, with 5 critic updates per step, 2-4 times that), so the
84 runs of the first 14 variants (2 datasets, 3 seeds) take about 1.5 hours on a
2-core machine, and the 6 zoo variants add 36 more (not yet timed); ``--variants``, ``--datasets`` and ``--seeds`` pick a subset,
and ``--quick`` is a smoke run in seconds. The numbers show how far each loss
gets on that budget, not a reproduction of the paper. Where a variant's plugins suggest
trainer settings (WGAN's n_critic 5, lr 5e-5 and RMSprop; WGAN-GP's
n_critic 5 and betas (0, 0.9)), those win over the shared set-up, as they
would for a user who does not override them.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganlab.config import RunRequest
from ganlab.errors import GanlabError
from ganlab.manager import GanlabPluginManager, make_plugin_manager
from ganlab.plugins.data import EVAL_SAMPLES, evaluate_generator
from ganlab.run import prepare_run


@dataclass(frozen=True)
class Variant:
    plugins: tuple[str, ...]
    options: dict[str, dict[str, Any]] = field(default_factory=dict)


VARIANTS = {
    "gan": Variant(("gan",)),  # non-saturating G loss
    "gan-minimax": Variant(("gan",), {"gan": {"generator_loss": "minimax"}}),
    "lsgan": Variant(("lsgan",)),
    "lsgan-pearson": Variant(("lsgan",), {"lsgan": {"preset": "pearson"}}),
    "lsgan-sigmoid": Variant(("lsgan",), {"lsgan": {"sigmoid": "true"}}),  # seed 000's code
    "wgan": Variant(("wgan",)),
    "wgan-gp": Variant(("wgan-gp",)),
    "wgan-gp-one-sided": Variant(("wgan-gp",), {"wgan-gp": {"one_sided": "true"}}),
    "hinge": Variant(("hinge",)),
    "gan+r1": Variant(("gan", "r1")),
    "gan+recon": Variant(("gan", "recon")),  # points: fake i pulled towards real i
    "gan+sn": Variant(("gan", "sn")),
    "gan+sn-g": Variant(("gan", "sn"), {"sn": {"generator": "true"}}),  # G normalised too
    "hinge+sn": Variant(("hinge", "sn")),
    # Issue 12's zoo (cr and diffaugment are for images only, so not here).
    "fgan-kl": Variant(("fgan",), {"fgan": {"divergence": "kl"}}),
    "fgan-js": Variant(("fgan",)),
    "rasgan": Variant(("relativistic",)),
    "rahinge": Variant(("relativistic",), {"relativistic": {"kind": "rahinge"}}),
    "gan+dragan": Variant(("gan", "dragan")),
    "gan+lecam": Variant(("gan", "lecam")),
}
DATASETS = ("ring", "grid")

PACGAN_TRAIN = {"batch_size": 100, "lr": 1e-4, "betas": (0.8, 0.999), "latent_dim": 2}
PACGAN_MLP = {"g_hidden": "400,400,400,400", "d_hidden": "200,200,200", "activation": "relu", "g_batchnorm": True}
QUICK_TRAIN = {**PACGAN_TRAIN, "batch_size": 32}
QUICK_MLP = {**PACGAN_MLP, "g_hidden": "32,32", "d_hidden": "32"}
DEFAULT_STEPS, QUICK_STEPS = 2000, 20
# Evaluation noise is seeded apart from training noise (seed + 1, seed + 2 in the trainer).
EVAL_SEED_OFFSET = 1000

# PacGAN (Lin et al. 2018) Table 1, plain GAN: (modes captured, modes, % high quality).
PACGAN_GAN = {"ring": (6.3, 8, 98.2), "grid": (17.3, 25, 94.8)}
COLUMNS = ("data", "variant", "runs", "modes", "high quality %", "KL", "s/run")


@dataclass
class RunResult:
    dataset: str
    variant: str
    seed: int
    seconds: float
    modes: int | None = None
    n_modes: int | None = None
    hq_percent: float | None = None
    kl: float | None = None
    error: str | None = None


@dataclass
class Row:
    """One line of the table: a variant on a dataset, over its seeds."""

    dataset: str
    variant: str
    runs: int
    failed: int
    cells: dict[str, str]


def plugin_suggestions(pm: GanlabPluginManager, variant: Variant) -> dict[str, Any]:
    """Trainer settings the variant's own plugins ask for (they beat the shared set-up)."""
    selection = pm.select(list(variant.plugins))
    options = selection.build_options({k: dict(v) for k, v in variant.options.items()})
    suggested: dict[str, Any] = {}
    for _, values in selection.call_each("ganlab_train_defaults", options=options):
        suggested.update(values or {})
    return suggested


def run_one(pm, name, variant, dataset, seed, steps, quick, device, out_root: Path) -> RunResult:
    t0 = time.perf_counter()
    suggested = plugin_suggestions(pm, variant)
    shared = {k: v for k, v in (QUICK_TRAIN if quick else PACGAN_TRAIN).items() if k not in suggested}
    train = {**shared, "data": dataset, "seed": seed, "steps": steps, "device": device,
             # One log row, one scatter plot, one checkpoint: keep I/O out of the timing.
             "log_every": steps, "sample_every": steps, "checkpoint_every": steps}
    options = {"mlp": dict(QUICK_MLP if quick else PACGAN_MLP), **variant.options}
    request = RunRequest(list(variant.plugins), train, options)
    result = RunResult(dataset, name, seed, 0.0)
    try:
        trainer = prepare_run(pm, request, out=out_root / f"{dataset}-{name}-seed{seed}",
                              quiet=True, log=lambda *a: None)
        trainer.fit()
        report = evaluate_generator(
            trainer.G, dataset, trainer.setup.train.latent_dim, n=EVAL_SAMPLES,
            seed=EVAL_SEED_OFFSET + seed, device=trainer.device, data_options=trainer.options,
        )
    except Exception as exc:  # one broken variant must not end the benchmark
        kind = "" if isinstance(exc, GanlabError) else f"{type(exc).__name__}: "
        result.error = kind + str(exc).splitlines()[0]
    else:
        result.modes, result.n_modes = report.modes_captured, report.n_modes
        result.hq_percent = 100 * report.high_quality_fraction
        result.kl = report.kl_to_uniform
    result.seconds = time.perf_counter() - t0
    return result


def mean_std(values: list[float], digits: int) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def summarise(results: list[RunResult]) -> Row:
    ok = [r for r in results if r.error is None]
    n_modes = ok[0].n_modes if ok else None
    kls = [r.kl for r in ok if not math.isnan(r.kl)]
    kl = mean_std(kls, 2)
    if len(kls) < len(ok):  # no high-quality point at all: KL undefined
        kl += f" (undefined in {len(ok) - len(kls)})"
    modes = mean_std([float(r.modes) for r in ok], 1)
    cells = {
        "modes": f"{modes} / {n_modes}" if ok else "–",
        "high quality %": mean_std([r.hq_percent for r in ok], 1),
        "KL": kl,
        "s/run": f"{statistics.mean(r.seconds for r in results):.1f}",
    }
    first = results[0]
    return Row(first.dataset, first.variant, len(results), len(results) - len(ok), cells)


def reference_row(dataset: str) -> Row:
    modes, n_modes, hq = PACGAN_GAN[dataset]
    cells = {"modes": f"{modes} / {n_modes}", "high quality %": f"{hq}", "KL": "–", "s/run": "–"}
    return Row(dataset, "PacGAN Table 1: GAN", 10, 0, cells)


def format_table(rows: list[Row]) -> str:
    """A Markdown table, so it can be pasted into the docs as is."""
    lines = [[r.dataset, r.variant, f"{r.runs - r.failed}/{r.runs}" if r.failed else str(r.runs),
              *(r.cells[c] for c in COLUMNS[3:])] for r in rows]
    widths = [max(len(c), *(len(line[i]) for line in lines)) for i, c in enumerate(COLUMNS)]

    def fmt(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([fmt(COLUMNS), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(fmt, lines)])


def _names(text: str, known, what: str, parser) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        parser.error(f"unknown {what} {', '.join(unknown) or '(none)'}; choose from {', '.join(known)}")
    return names


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, help=f"generator updates per run (default {DEFAULT_STEPS}; "
                                                  f"{QUICK_STEPS} with --quick)")
    parser.add_argument("--seeds", type=int, help="seeds per variant and dataset (default 3; 1 with --quick)")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated: ring, grid")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated: {', '.join(VARIANTS)}")
    parser.add_argument("--quick", action="store_true", help="tiny networks and few steps: a smoke run")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    # One thread by default: these small models gain little from more, and on
    # a busy machine torch's thread pool was several times slower.
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--out", help="keep the run folders here (default: a temporary folder)")
    args = parser.parse_args(argv)
    args.datasets = _names(args.datasets, DATASETS, "dataset", parser)
    args.variants = _names(args.variants, VARIANTS, "variant", parser)
    args.steps = args.steps if args.steps is not None else (QUICK_STEPS if args.quick else DEFAULT_STEPS)
    args.seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    if args.steps < 1 or args.seeds < 1:
        parser.error("--steps and --seeds must be at least 1")
    return args


def missing_plugins(pm: GanlabPluginManager, variant: Variant) -> list[str]:
    return [p for p in variant.plugins if p not in pm.infos or not pm.infos[p].ok]


def main(argv: list[str] | None = None, pm: GanlabPluginManager | None = None) -> list[Row]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    pm = pm or make_plugin_manager()
    skipped = {n: missing_plugins(pm, VARIANTS[n]) for n in args.variants}
    skipped = {n: m for n, m in skipped.items() if m}
    names = [n for n in args.variants if n not in skipped]
    arch = QUICK_MLP if args.quick else PACGAN_MLP
    print(f"ganlab variants benchmark{' (quick)' if args.quick else ''}: {args.steps} steps, "
          f"{args.seeds} seed(s), {EVAL_SAMPLES} evaluation samples, device {args.device}, "
          f"{torch.get_num_threads()} torch thread(s)")
    print(f"G {arch['g_hidden']} {arch['activation']} + batch norm, D {arch['d_hidden']} "
          f"{arch['activation']}, {QUICK_TRAIN if args.quick else PACGAN_TRAIN}")
    for name, missing in skipped.items():
        print(f"skipped {name}: plugin(s) {', '.join(missing)} missing or broken (see `ganlab plugins`)")
    sys.stdout.flush()

    rows, failures, all_results = [], [], []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ganlab-variants-") as tmp:
        out_root = Path(args.out) if args.out else Path(tmp)
        for dataset in args.datasets:
            rows.append(reference_row(dataset))
            for name in names:
                results = []
                for seed in range(args.seeds):
                    r = run_one(pm, name, VARIANTS[name], dataset, seed, args.steps, args.quick,
                                args.device, out_root)
                    shown = r.error or (f"{r.modes}/{r.n_modes} modes, {r.hq_percent:.1f}% high quality, "
                                        f"KL {r.kl:.3f}")
                    print(f"  {dataset} {name} seed {seed}: {shown} ({r.seconds:.1f} s)", file=sys.stderr, flush=True)
                    results.append(r)
                    if r.error:
                        failures.append(r)
                all_results += results
                rows.append(summarise(results))
    total = time.perf_counter() - t_start

    print()
    print(format_table(rows))
    print()
    n = len(all_results)
    per_run = total / n if n else 0.0
    print(f"total wall time {total:.0f} s for {n} runs ({per_run:.1f} s per run, "
          f"{1000 * per_run / args.steps:.1f} ms per step including set-up and evaluation)")
    print("modes and high quality: mean ± std over seeds; KL = KL(high-quality mode shares || uniform), "
          "0 is an even spread, log(modes) all on one mode")
    for r in failures:
        print(f"failed: {r.dataset} {r.variant} seed {r.seed}: {r.error}")
    return rows


if __name__ == "__main__":
    main()
