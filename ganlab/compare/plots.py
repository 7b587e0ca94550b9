"""Figures of a sweep: for each metric, its curve over steps and its final value per seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganlab.compare.aggregate import eval_rows, numeric
from ganlab.compare.sweep import Cell, slug


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


def draw(sweep_dir: Path, cells: list[Cell], groups: dict[str, dict[str, Any]], folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    finished = {g: v["finished"] for g, v in groups.items()}
    paths = []
    for metric, by_group in curves(sweep_dir, cells, finished).items():
        fig, (ax_curve, ax_final) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
        names = list(by_group)
        for i, (group, seeds) in enumerate(by_group.items()):
            color = f"C{i % 10}"
            steps = sorted(set.intersection(*(set(s) for s in seeds.values())))
            if steps:
                values = np.array([[seeds[s][t] for t in steps] for s in seeds])
                ax_curve.plot(steps, values.mean(axis=0), color=color, label=group, marker="o", markersize=3)
                if len(values) > 1:
                    ax_curve.fill_between(steps, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2)
            finals = [seeds[s][max(seeds[s])] for s in seeds]
            ax_final.scatter([i] * len(finals), finals, color=color, alpha=0.7)
            ax_final.plot([i - 0.25, i + 0.25], [np.mean(finals)] * 2, color=color)
        ax_curve.set(xlabel="step", ylabel=metric, title=f"{metric}: mean over seeds, band min–max")
        ax_curve.legend(fontsize="small")
        ax_final.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize="small")
        ax_final.set(ylabel=metric, title="final value per seed (line: mean)")
        fig.subplots_adjust(left=0.06, right=0.98, top=0.92, bottom=0.3, wspace=0.2)  # tight_layout: 10x slower
        path = folder / f"{slug(metric)}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
