"""Every figure docs/evaluation.md's PacGAN write-up quotes, recomputed from the saved per-seed curves.

The table comes from ``pacgan_curves.py``; this script prints the rest: per-seed end values, the
mean ranges after PacGAN2 overtakes GAN on the grid, single-report extremes, quality at fixed steps,
the ring's mode drops and the largest swing between consecutive reports. Re-run it whenever seeds
join ``benchmarks/results/pacgan-50k.jsonl``, and update the prose from its output:

    python benchmarks/pacgan_claims.py benchmarks/results/pacgan-50k.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

HQ = "high_quality_fraction"
MODES = "modes_captured"


def load(path: Path) -> dict[tuple[str, str], list[dict]]:
    rows: dict[tuple[str, str], list[dict]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            rows.setdefault((record["variant"], record["data"]), []).append(record)
    for runs in rows.values():
        runs.sort(key=lambda r: r["seed"])
    return rows


def at(run: dict, metric: str, step: int) -> float:
    value = run[metric][run["steps"].index(step)]
    return value * 100 if metric == HQ else value


def mean_curve(runs: list[dict], metric: str) -> dict[int, float]:
    steps = sorted(set.intersection(*(set(r["steps"]) for r in runs)))
    return {s: statistics.fmean(at(r, metric, s) for r in runs) for s in steps}


def overtake_step(ahead: dict[int, float], behind: dict[int, float]) -> int | None:
    """The first report from which ``ahead``'s mean stays above ``behind``'s at every later report."""
    steps = sorted(set(ahead) & set(behind))
    first = None
    for step in steps:
        if ahead[step] > behind[step]:
            first = step if first is None else first
        else:
            first = None
    return first


def swing(run: dict, after: int = 0) -> tuple[float, int]:
    """The largest change in high-quality % between consecutive reports, and the step it ends at."""
    pairs = [(s, at(run, HQ, s)) for s in run["steps"] if s >= after]
    return max(((abs(b - a), s) for (_, a), (s, b) in zip(pairs, pairs[1:])), default=(0.0, 0))


def runs_below(run: dict, full: float, after: int) -> list[tuple[int, float]]:
    return [(s, at(run, MODES, s)) for s in run["steps"] if s >= after and at(run, MODES, s) < full]


def report(rows: dict[tuple[str, str], list[dict]], settled: int) -> str:
    out = []
    say = out.append
    for (variant, data), runs in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        last = min(r["steps"][-1] for r in runs)
        ends = [(r["seed"], at(r, MODES, last), round(at(r, HQ, last), 1)) for r in runs]
        say(f"{variant} {data}: {len(runs)} seeds, end step {last:,}; per seed (seed, modes, hq %): {ends}")
        for step in (5000, 20000):
            values = [at(r, HQ, step) for r in runs if step in r["steps"]]
            if values:
                say(f"  hq % at {step:,}: per-seed range {min(values):.1f} to {max(values):.1f}")
        for after in (0, 20000):
            biggest = max((swing(r, after) + (r["seed"],) for r in runs))
            say(f"  largest hq swing between consecutive reports from step {after:,}: {biggest[0]:.1f} points "
                f"(seed {biggest[2]}, at step {biggest[1]:,})")

    for data in sorted({d for _, d in rows}):
        gan, pac = rows.get(("gan", data)), rows.get(("pacgan2", data))
        if not (gan and pac):
            continue
        g_mean, p_mean = mean_curve(gan, MODES), mean_curve(pac, MODES)
        start = overtake_step(p_mean, g_mean)
        say(f"{data}: PacGAN2's mean modes above GAN's at every report from step "
            f"{start:,} on" if start else f"{data}: PacGAN2's mean modes never stay above GAN's")
        for since in sorted({start or settled, settled}):
            for name, runs, curve in (("gan", gan, g_mean), ("pacgan2", pac, p_mean)):
                later = [v for s, v in curve.items() if s >= since]
                single = [at(r, MODES, s) for r in runs for s in r["steps"] if s >= since]
                say(f"  {name} from {since:,}: mean modes {min(later):.1f} to {max(later):.1f}, "
                    f"single reports {min(single):.0f} to {max(single):.0f}")
        last = min(r["steps"][-1] for r in gan + pac)
        kl = [statistics.fmean(r["kl_to_uniform"][r["steps"].index(last)] for r in runs
                               if r["kl_to_uniform"][r["steps"].index(last)] is not None) for runs in (gan, pac)]
        say(f"  KL at {last:,}: gan {kl[0]:.2f}, pacgan2 {kl[1]:.2f}, ratio {kl[0] / kl[1]:.1f}")
        full = 8 if data == "ring" else 25
        for name, runs in (("gan", gan), ("pacgan2", pac)):
            below = [(r["seed"],) + b for r in runs for b in runs_below(r, full, 3000)]
            total = sum(1 for r in runs for s in r["steps"] if s >= 3000)
            lowest = min((b[2] for b in below), default=full)
            say(f"  {name}: reports from step 3,000 below {full} modes: {len(below)} of {total}, lowest {lowest:.0f}")
            if data == "ring" and name == "gan":
                for r in runs:
                    drops = [(s, m) for _, s, m in [(r["seed"],) + b for b in runs_below(r, full, 3000)]
                             if m <= full - 2]
                    if drops:
                        say(f"    seed {r['seed']} at {full - 2} or fewer at steps {[s for s, _ in drops]} "
                            f"(lowest {min(m for _, m in drops):.0f})")
    return "\n".join(out)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("curves", type=Path, help="a .jsonl saved by pacgan_curves.py --save")
    parser.add_argument("--settled", type=int, default=13000,
                        help="also quote the mean ranges from this step on (default: 13000, the write-up's)")
    args = parser.parse_args(argv)
    text = report(load(args.curves), args.settled)
    print(text)
    return text


if __name__ == "__main__":
    main()
