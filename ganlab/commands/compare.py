"""``ganlab compare``: train variants x option grid x seeds as run folders, then tabulate and plot them.

The sweep (:mod:`ganlab.sweeps`) is read from a file or built from flags;
this module owns the sweep folder, progress lines and the report.
"""

from __future__ import annotations

from pathlib import Path

from ganlab.commands import EXIT_FAILED, EXIT_INTERRUPTED, add_train_flags, train_flags_given
from ganlab.errors import ConfigError

HELP = "train variants x option grid x seeds and tabulate their evaluations"
DESCRIPTION = """Train every variant x option-grid point x seed as an ordinary run folder under one
sweep folder, then tabulate the last step's eval.jsonl rows of each cell (mean ± std, 95% bootstrap
interval) and plot it. Give a sweep file, or the short form:
  ganlab compare --variant LOSS --variant "LOSS+REGULARIZER" --variant "LOSS -o LOSS.KEY=VALUE" --seeds 3 --data ring
(`ganlab plugins` lists the plugin names and their options.)
Re-running the same command skips finished cells and resumes interrupted ones."""


def add_arguments(p) -> None:
    p.add_argument("sweep", nargs="?", metavar="SWEEP.toml", help="a sweep file (see docs/evaluation.md)")
    p.add_argument("--variant", action="append", default=[], metavar='"PLUGIN[+PLUGIN] [-o P.K=V]..."',
                   help="a variant (repeat); the short form instead of a sweep file")
    p.add_argument("--only", action="append", default=[], metavar="VARIANT",
                   help="run only this variant of the sweep file (repeat)")
    p.add_argument("--seeds", metavar="N|A-B|A,B,..",
                   help="seeds 0..N-1 per variant, the seeds A to B, or a list (default 1, or the file's); "
                        "3-9 adds seeds to a sweep that ran 0-2")
    p.add_argument("--grid", action="append", default=[], metavar="PLUGIN.KEY=V1,V2",
                   help="an option axis (repeat: the Cartesian product); train.KEY=... for trainer settings")
    p.add_argument("-o", dest="overrides", action="append", default=[], metavar="PLUGIN.KEY=VALUE",
                   help="an option of every cell (where PLUGIN is active)")
    p.add_argument("--out", metavar="DIR", help="sweep folder (default sweeps/NAME-HASH: the same sweep resumes)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="cells run at once (default 1)")
    p.add_argument("--threads", type=int, metavar="N", help="torch threads per cell (default: cores // workers locally, 1 per SLURM job)")
    from ganlab.sweeps.session import EXECUTORS

    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local processes, SLURM jobs via submitit (pip install ganlab[slurm]), "
                        "or submitit's local executor (for trying the SLURM path)")
    p.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                   help="a submitit parameter, e.g. slurm_partition=gpu, timeout_min=120, gpus_per_node=1")
    p.add_argument("--vectorize", choices=("auto", "on", "off"), default="auto",
                   help="train the seeds of a variant as one batched model: auto where the plugins allow it "
                        "(else one by one, saying why), on, or off (default auto; needs --workers 1)")
    p.add_argument("--retry-failed", action="store_true", help="start failed cells again from scratch")
    p.add_argument("--report", metavar="SWEEP_DIR", help="rebuild the table and plots of a sweep folder; no training")
    add_train_flags(p.add_argument_group("trainer settings of every cell (override the file's [train])"),
                    skip=("seed", "threads"), show_defaults=False)


def _typed(key: str, raw: str):
    from ganlab.config import TRAIN_FIELDS
    from ganlab.options import parse_value

    try:
        return parse_value(TRAIN_FIELDS[key].type, raw)
    except ValueError as exc:
        raise ConfigError(f"bad value {raw!r} for --{key.replace('_', '-')}: {exc}") from None


def build_sweep(args):
    from ganlab.sweeps.sweep import Sweep, load_sweep, parse_variant, _seeds
    from ganlab.config import check_train_keys
    from ganlab.options import parse_overrides

    if args.sweep and args.variant:
        raise ConfigError("give a sweep file or --variant options, not both")
    if not args.sweep and not args.variant:
        raise ConfigError("give a sweep file (ganlab compare SWEEP.toml) or variants (--variant gan --variant lsgan)")
    if args.sweep:
        sweep = load_sweep(args.sweep)
    else:
        variants = [parse_variant(v) for v in args.variant]
        names = [v.name for v in variants]
        if len(set(names)) < len(names):
            raise ConfigError(f"--variant given twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
        sweep = Sweep("compare", [0], variants)
    if args.only:
        known = [v.name for v in sweep.variants]
        unknown = [n for n in args.only if n not in known]
        if unknown:
            raise ConfigError(f"--only {', '.join(unknown)}: not a variant of the sweep; choose from {', '.join(known)}")
        sweep.variants = [v for v in sweep.variants if v.name in args.only]
    if args.seeds is not None:
        sweep.seeds = _seeds(seed_spec(args.seeds), "--seeds")
    train = train_flags_given(args)
    check_train_keys(train, "the command line")
    sweep.train |= {k: _typed(k, v) for k, v in train.items()}
    for plugin, values in parse_overrides(args.overrides).items():
        sweep.options.setdefault(plugin, {}).update(values)
    for text in args.grid:
        key, sep, values = text.partition("=")
        plugin, dot, name = key.strip().partition(".")
        if not sep or not dot or not values:
            raise ConfigError(f"bad --grid {text!r}: expected PLUGIN.KEY=V1,V2 or train.KEY=V1,V2")
        raw = [v.strip() for v in values.split(",")]
        sweep.grid[key.strip()] = [_typed(name, v) for v in raw] if plugin == "train" else raw
    return sweep


def _slurm_params(texts: list[str]) -> dict:
    params = {}
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"bad --slurm {text!r}: expected KEY=VALUE")
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                pass
        params[key.strip()] = value
    return params


def main(args) -> int:
    from ganlab.sweeps.session import report, run_sweep
    from ganlab.sweeps.sweep import load_cells

    if args.report:
        report(Path(args.report), load_cells(Path(args.report)))
        return 0
    result = run_sweep(build_sweep(args), args.out, args.workers, args.threads, args.executor,
                       _slurm_params(args.slurm), args.retry_failed, vectorize=args.vectorize)
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if result.failed else 0


def seed_spec(text: str) -> int | list[int]:
    """``--seeds``: "3" (seeds 0, 1, 2), "3-9" (3 to 9, both included) or "0,4,7"."""
    try:
        if "," in text:
            return [int(s) for s in text.split(",")]
        if "-" in text.strip("-"):
            first, last = (int(s) for s in text.split("-"))
            if first <= last:
                return list(range(first, last + 1))
            raise ValueError
        return int(text)
    except ValueError:
        raise ConfigError(f"--seeds {text}: give a count (3), a range (3-9) or a list (0,4,7)") from None
