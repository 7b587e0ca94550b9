"""Modes and high-quality % against step for each row of a PacGAN Table 1 sweep, mean ± std over seeds.

Reads the ``eval.jsonl`` of every cell of ``ganlab compare benchmarks/pacgan.toml`` sweep folders
(the mode report of 2,500 fixed-noise samples at each sample step), or the curves a run of this
script saved (``--save``), merges them (a seed given twice keeps its first source), prints the
table at the last step every seed of a row reached, beside the paper's numbers, and draws
``pacgan_curves.png``: one panel per mixture and metric, a line per variant (mean over seeds, the
band one std).

    python benchmarks/pacgan_curves.py sweeps/pacgan-50k --save benchmarks/results/pacgan-50k.jsonl \
        --out docs/images/pacgan_curves.png
    # later, more seeds (ganlab compare ... --seeds 3-9 --out sweeps/pacgan-50k-more) join the saved ones:
    python benchmarks/pacgan_curves.py benchmarks/results/pacgan-50k.jsonl sweeps/pacgan-50k-more --save ...
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

# Lin et al. 2018, Table 1 (400 epochs, 10 runs): modes, high-quality %, reverse KL; mean ± std.
# Only the rows checked against the paper itself are listed (see docs/evaluation.md).
PAPER: dict[tuple[str, str], str] = {
    ("gan", "ring"): "6.3 ± 0.5 modes, 98.2 ± 0.2 %",
    ("gan", "grid"): "17.3 ± 0.8 modes, 94.8 ± 0.7 %",
}
METRICS = (("modes_captured", "modes"), ("high_quality_fraction", "high-quality %"), ("kl_to_uniform", "KL"))


def runs_of_sweep(sweep: Path) -> list[dict]:
    """One record per cell: variant, data, seed and, per metric, its values at ``steps``."""
    from ganlab.sweeps.aggregate import eval_rows

    records = []
    for cell in json.loads((sweep / "cells.json").read_text()):
        rows = [r for r in eval_rows(sweep / cell["id"]) if r.get("source") == "samples"]
        if not rows:  # not started yet: it would leave its row no step in common
            continue
        record = {"variant": cell["variant"], "data": cell["train"]["data"], "seed": cell["seed"],
                  "steps": [r["step"] for r in rows]}
        for metric, _ in METRICS:
            record[metric] = [r.get(metric) for r in rows]
        records.append(record)
    return records


def load(sources: list[Path]) -> list[dict]:
    """The runs of every source (sweep folder or saved .jsonl), a (variant, data, seed) once."""
    seen, records = set(), []
    for source in sources:
        if source.is_dir():
            found = runs_of_sweep(source)
        elif source.is_file():
            found = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
        else:
            raise SystemExit(f"{source}: no such sweep folder or saved curves file")
        for record in found:
            key = (record["variant"], record["data"], record["seed"])
            if key not in seen:
                seen.add(key)
                records.append(record)
    return records


def curves_of(records: list[dict]) -> dict[tuple[str, str], dict[int, dict[str, list[float]]]]:
    """{(variant, data): {step: {metric: [one value per seed]}}} at the steps every seed of the row reached."""
    by_row: dict = defaultdict(list)
    for record in records:
        by_row[record["variant"], record["data"]].append(record)
    out: dict = {}
    for key, runs in by_row.items():
        common = set.intersection(*(set(r["steps"]) for r in runs))
        out[key] = defaultdict(lambda: defaultdict(list))
        for run in runs:
            for i, step in enumerate(run["steps"]):
                if step not in common:
                    continue
                for metric, _ in METRICS:
                    value = run[metric][i]
                    if value is not None:
                        out[key][step][metric].append(value * (100 if metric == "high_quality_fraction" else 1))
    return {k: v for k, v in out.items() if v}


def _ms(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def table(curves) -> str:
    lines = ["| variant | data | steps | seeds | modes | high-quality % | KL | paper (400,000 steps) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (variant, data), by_step in sorted(curves.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        last = max(by_step)
        row = by_step[last]
        cells = []
        for metric, _ in METRICS:
            values = row.get(metric, [])
            cells.append("–" if not values else "{:.2f} ± {:.2f}".format(*_ms(values)) +
                         (f" ({len(values)})" if metric == "kl_to_uniform" and len(values) < len(row["modes_captured"])
                          else ""))
        seeds = len(row["modes_captured"])
        lines.append(f"| {variant} | {data} | {last:,} | {seeds} | " + " | ".join(cells) +
                     f" | {PAPER.get((variant, data), 'see docs/evaluation.md')} |")
    return "\n".join(lines)


def plot(curves, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datas = sorted({d for _, d in curves}, reverse=True)  # ring, grid
    fig, axes = plt.subplots(2, len(datas), figsize=(5.5 * len(datas), 7), squeeze=False)
    for col, data in enumerate(datas):
        for row, (metric, label) in enumerate(METRICS[:2]):
            ax = axes[row][col]
            for (variant, d), by_step in sorted(curves.items()):
                if d != data:
                    continue
                steps = sorted(by_step)
                stats = [_ms(by_step[s][metric]) for s in steps]
                mean = [m for m, _ in stats]
                std = [s for _, s in stats]
                line, = ax.plot(steps, mean, label=variant)
                ax.fill_between(steps, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                                color=line.get_color(), alpha=0.2)
            paper = {"modes_captured": {"ring": 6.3, "grid": 17.3}, "high_quality_fraction": {"ring": 98.2, "grid": 94.8}}
            ax.axhline(paper[metric][data], color="grey", linestyle="--", linewidth=1, label="paper's GAN (400k steps)")
            ax.set_title(f"{data}: {label}")
            ax.set_xlabel("step")
            ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", type=Path, nargs="+", metavar="SWEEP|CURVES.jsonl")
    parser.add_argument("--out", type=Path, help="the plot (default: pacgan_curves.png in the first sweep folder)")
    parser.add_argument("--save", type=Path, metavar="CURVES.jsonl", help="write the merged per-seed curves here")
    args = parser.parse_args(argv)
    records = load(args.sources)
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        ordered = sorted(records, key=lambda r: (r["data"], r["variant"], r["seed"]))
        args.save.write_text("".join(json.dumps(r) + "\n" for r in ordered))
    curves = curves_of(records)
    text = table(curves)
    print(text)
    out = args.out or next((s for s in args.sources if s.is_dir()), Path(".")) / "pacgan_curves.png"
    plot(curves, out)
    print(f"plot: {out}")
    return text


if __name__ == "__main__":
    main()
