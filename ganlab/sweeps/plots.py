"""Figures of a sweep: for each metric and grid point, its curve over steps and its final value per seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganlab.sweeps.aggregate import eval_rows, numeric
from ganlab.sweeps.sweep import Cell, slug


def curves(sweep_dir: Path, cells: list[Cell], finished: dict[str, dict[int, Any]]) -> dict[str, dict[str, dict[int, dict]]]:
    """metric -> group -> seed -> {step: value}, from every eval row of the finished cells."""
    out: dict[str, dict[str, dict[int, dict]]] = {}
    for cell in cells:
        if cell.seed not in finished.get(cell.group, {}):
            continue
        for row in eval_rows(Path(sweep_dir) / cell.id):
            for metric, value in numeric(row).items():
                if value is not None:
                    out.setdefault(metric, {}).setdefault(cell.group, {}).setdefault(cell.seed, {})[row["step"]] = value
    return out


def _by_point(cells: list[Cell], by_group: dict) -> dict[str, dict[str, str]]:
    """Grid point label -> variant -> group, in sweep order: one row of panels per grid point."""
    out: dict[str, dict[str, str]] = {}
    for cell in cells:
        if cell.group in by_group:
            label = ", ".join(f"{k}={v}" for k, v in cell.grid.items()) or "all"
            out.setdefault(label, {})[cell.variant] = cell.group
    return out


# A legend beside the curves stays readable up to about this many lines; past it the
# final-value panel's coloured labels name the lines instead.
LEGEND_MAX = 12


def draw(sweep_dir: Path, cells: list[Cell], groups: dict[str, dict[str, Any]], folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    finished = {g: v["finished"] for g, v in groups.items()}
    colors = plt.get_cmap("tab20").colors
    styles = ["-", "--", ":", "-."]
    paths = []
    for metric, by_group in curves(sweep_dir, cells, finished).items():
        points = _by_point(cells, by_group)
        n_max = max(len(v) for v in points.values())
        row_height = max(3.5, 0.28 * n_max + 1.3)
        fig, axes = plt.subplots(len(points), 2, figsize=(13, row_height * len(points)), squeeze=False,
                                 gridspec_kw={"width_ratios": [3, 2], "wspace": 0.45})
        for (label, variants), (ax_curve, ax_final) in zip(points.items(), axes):
            for i, (variant, group) in enumerate(variants.items()):
                seeds = by_group[group]
                color, style = colors[i % 20], styles[i // 20 % 4]
                steps = sorted(set.intersection(*(set(s) for s in seeds.values())))
                if steps:
                    values = np.array([[seeds[s][t] for t in steps] for s in seeds])
                    ax_curve.plot(steps, values.mean(axis=0), color=color, linestyle=style, label=variant,
                                  marker="o", markersize=2)
                    if len(values) > 1:
                        ax_curve.fill_between(steps, values.min(axis=0), values.max(axis=0), color=color, alpha=0.12)
                finals = [seeds[s][max(seeds[s])] for s in seeds]
                ax_final.scatter(finals, [i] * len(finals), color=color, alpha=0.8, s=18)
                ax_final.plot([np.mean(finals)] * 2, [i - 0.35, i + 0.35], color=color)
            names = list(variants)
            ax_curve.set(xlabel="step", ylabel=metric, title=f"{metric} ({label}): mean over seeds, band min–max")
            if len(names) <= LEGEND_MAX:
                ax_curve.legend(fontsize="small")
            ax_final.set_yticks(range(len(names)), names, fontsize="small")
            for tick, i in zip(ax_final.get_yticklabels(), range(len(names))):
                tick.set_color(colors[i % 20])
            ax_final.set_ylim(len(names) - 0.5, -0.5)
            ax_final.set(xlabel=metric, title=f"final value per seed ({label}; bar: mean)")
            ax_final.grid(axis="x", alpha=0.3)
        fig.subplots_adjust(left=0.06, right=0.98, top=1 - 0.5 / fig.get_figheight(),
                            bottom=0.6 / fig.get_figheight(), hspace=0.35)  # tight_layout: 10x slower
        path = folder / f"{slug(metric)}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
