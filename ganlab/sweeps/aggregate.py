"""The results table: per group (variant at a grid point) and metric, over seeds.

A cell's metrics are the numeric values of its ``eval.jsonl`` rows at the
largest step there (the PacGAN mode report on ring/grid, and whatever else is
written there, merged; rows of G's raw weights from ``ganlab eval --raw`` are
left out); only finished cells count. Statistics: mean, sample std
(ddof 1), and a 95 % percentile bootstrap interval of the mean (10,000
resamples, numpy's generator seeded with ``BOOTSTRAP_SEED``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.sweeps.cells import read_status
from ganlab.sweeps.sweep import Cell
from ganlab.runfolder import RunFolder

RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
COLUMNS = ("variant", "metric", "mean", "std", "ci_low", "ci_high", "n", "failed")


@dataclass
class Row:
    variant: str
    metric: str
    mean: float | None
    std: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    failed: int


def eval_rows(run_dir: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        lines = RunFolder(run_dir).eval.read_text().splitlines()
    except OSError:
        return rows
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass  # a line torn by a crash
    return rows


# What an eval.jsonl row says about itself rather than about the samples (ganlab.metrics.RESERVED_KEYS).
NOT_METRICS = frozenset({"step", "n", "n_real", "seed", "seconds"})


def numeric(row: dict[str, Any]) -> dict[str, float | None]:
    """The row's metrics: numbers (bools excluded) and nulls (an undefined value), not the step or sizes."""
    return {k: (None if v is None else float(v)) for k, v in row.items()
            if k not in NOT_METRICS and (v is None or isinstance(v, (int, float)) and not isinstance(v, bool))}


def final_metrics(run_dir: Path) -> dict[str, float | None]:
    """The metrics of the run's last step, merged over its rows (one evaluator per row).

    The last step is the largest, not the last row's: ``ganlab eval --step N``
    appends rows of earlier steps. Rows of G's raw weights in a run that
    averages them (``ganlab eval --raw``) are left out: the run reports its average.
    """
    rows = [r for r in eval_rows(run_dir) if isinstance(r.get("step"), int) and r.get("weights") != "raw"]
    if not rows:
        return {}
    last = max(r["step"] for r in rows)
    merged: dict[str, float | None] = {}
    for row in rows:
        if row["step"] == last:
            merged |= numeric(row)
    return merged


def bootstrap_ci(values: np.ndarray, resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    if len(values) == 1:
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def summarise(values: list[float], failed: int, variant: str, metric: str) -> Row:
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if not len(x):
        return Row(variant, metric, None, None, None, None, 0, failed)
    std = float(x.std(ddof=1)) if len(x) > 1 else None
    low, high = bootstrap_ci(x)
    return Row(variant, metric, float(x.mean()), std, low, high, len(x), failed)


def collect(sweep_dir: Path, cells: list[Cell]) -> dict[str, dict[str, Any]]:
    """Per group: its cells' statuses and final metrics, in sweep order."""
    groups: dict[str, dict[str, Any]] = {}
    for cell in cells:
        g = groups.setdefault(cell.group, {"finished": {}, "failed": {}, "other": []})
        run_dir = Path(sweep_dir) / cell.id
        status = (read_status(run_dir) or {}).get("status")
        if status == "finished":
            g["finished"][cell.seed] = final_metrics(run_dir)
        elif status == "failed":
            g["failed"][cell.seed] = (read_status(run_dir) or {}).get("message", "")
        else:
            g["other"].append(cell.seed)
    return groups


def table(groups: dict[str, dict[str, Any]]) -> list[Row]:
    rows = []
    for group, g in groups.items():
        metrics = list(dict.fromkeys(k for m in g["finished"].values() for k in m))
        failed = len(g["failed"])
        if not metrics:
            rows.append(Row(group, "–", None, None, None, None, 0, failed))
        for metric in metrics:
            rows.append(summarise([m.get(metric) for m in g["finished"].values()], failed, group, metric))
    return rows


def _fmt(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.4g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.3e}"


def markdown(rows: list[Row]) -> str:
    header = ("variant", "metric", "mean ± std", "95% CI", "n", "failed")
    lines = [(r.variant, r.metric, _fmt(r.mean) + (f" ± {_fmt(r.std)}" if r.std is not None else ""),
              f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]" if r.ci_low is not None else "–", str(r.n), str(r.failed))
             for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]

    def fmt(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([fmt(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(fmt, lines)])


def wide_markdown(rows: list[Row]) -> str:
    """One row per variant, one column per metric (mean ± std, and n where seeds lack it): a paper's table."""
    groups = list(dict.fromkeys(r.variant for r in rows))
    metrics = list(dict.fromkeys(r.metric for r in rows if r.metric != "–"))
    by = {(r.variant, r.metric): r for r in rows}
    seeds = {g: max((r.n + r.failed for r in rows if r.variant == g), default=0) for g in groups}

    def cell(r: Row | None, total: int) -> str:
        if r is None or r.mean is None:
            return "–"
        text = _fmt(r.mean) + (f" ± {_fmt(r.std)}" if r.std is not None else "")
        return text + (f" (n={r.n})" if r.n < total else "")

    header = ["variant", *metrics, "failed"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for g in groups:
        failed = max((r.failed for r in rows if r.variant == g), default=0)
        lines.append("| " + " | ".join([g, *(cell(by.get((g, m)), seeds[g]) for m in metrics), str(failed)]) + " |")
    return "\n".join(lines) + "\n"


def csv_text(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow(["" if v is None else v for v in (getattr(r, c) for c in COLUMNS)])
    return out.getvalue()


def json_text(rows: list[Row], groups: dict[str, dict[str, Any]]) -> str:
    cells = {group: {"finished": {str(s): m for s, m in g["finished"].items()},
                     "failed": {str(s): msg for s, msg in g["failed"].items()},
                     "unfinished": g["other"]} for group, g in groups.items()}
    doc = {"rows": [asdict(r) for r in rows], "cells": cells,
           "bootstrap": {"resamples": RESAMPLES, "seed": BOOTSTRAP_SEED, "interval": 0.95, "of": "mean"}}
    return json.dumps(doc, indent=1, allow_nan=False, default=lambda v: None) + "\n"
