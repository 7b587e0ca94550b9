"""A 2 x 2 x 2 sweep (variants x one option axis x seeds): run, re-run, aggregate, report."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest

from ganlab.cli import main

VARIANTS = {"gan": 'plugins = ["gan"]', "lsgan": 'plugins = ["lsgan"]'}
GRID = '"mlp.activation" = ["relu", "gelu"]'


def cell_dirs(out: Path) -> list[Path]:
    return sorted(p.parent for p in out.glob("cells/*/seed*/config.toml"))


def last_eval(run_dir: Path) -> dict:
    return json.loads((run_dir / "eval.jsonl").read_text().splitlines()[-1])


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, tiny_sweep):
    """Run the sweep once with two worker processes; returns (sweep file, folder, first output)."""
    tmp = tmp_path_factory.mktemp("sweep")
    path = tmp / "tiny.toml"
    path.write_text(tiny_sweep(VARIANTS, seeds=2, grid=GRID))
    out = tmp / "out"
    return path, out


def run(capsys, *args) -> tuple[int, str]:
    code = main(["compare", *map(str, args), "--threads", "1"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_sweep_runs_then_skips_then_resumes_missing(sweep, capsys):
    path, out = sweep
    code, text = run(capsys, path, "--out", out, "--workers", "2")
    assert code == 0, text
    assert "8 cells" in text and "0 finished earlier" in text
    dirs = cell_dirs(out)
    assert len(dirs) == 8
    assert all(json.loads((d / "status.json").read_text())["status"] == "finished" for d in dirs)
    assert (out / "sweep.toml").is_file() and (out / "results.csv").is_file() and (out / "results.json").is_file()
    assert sorted(p.name for p in (out / "plots").glob("*.png")) == sorted(
        f"{k}.png" for k in ("modes_captured", "n_modes", "high_quality_fraction", "kl_to_uniform")
        if any(last_eval(d).get(k) is not None for d in dirs))
    stamps = {d: (d / "metrics.jsonl").stat().st_mtime_ns for d in dirs}

    # The same command again: nothing trains.
    code, text = run(capsys, path, "--out", out)
    assert code == 0 and "8 finished earlier (skipped)" in text and "0 to start" in text and "ran " not in text
    assert {d: (d / "metrics.jsonl").stat().st_mtime_ns for d in dirs} == stamps

    # One cell lost entirely, one stopped after a checkpoint (no final status): only those run.
    import shutil

    lost, stopped = dirs[0], dirs[5]
    shutil.rmtree(lost)
    (stopped / "status.json").unlink()
    code, text = run(capsys, path, "--out", out)
    assert code == 0, text
    assert "6 finished earlier (skipped)" in text and "1 to resume, 1 to start" in text
    assert text.count("finished") >= 2 and "ran 2 cell(s)" in text
    for d in dirs:
        if d not in (lost, stopped):
            assert (d / "metrics.jsonl").stat().st_mtime_ns == stamps[d]
    assert json.loads((lost / "status.json").read_text())["status"] == "finished"


def test_table_equals_hand_computation(sweep, capsys):
    path, out = sweep
    if not (out / "results.json").is_file():
        pytest.skip("needs the sweep of the previous test")
    rows = json.loads((out / "results.json").read_text())["rows"]
    cells = json.loads((out / "cells.json").read_text())
    groups: dict[str, list[dict]] = {}
    for cell in cells:
        groups.setdefault(cell["group"], []).append(last_eval(out / cell["id"]))
    assert sorted(groups) == sorted({r["variant"] for r in rows}) and len(groups) == 4
    checked = 0
    for r in rows:
        values = [e[r["metric"]] for e in groups[r["variant"]] if e[r["metric"]] is not None]
        assert r["n"] == len(values) and r["failed"] == 0
        if not values:  # e.g. KL undefined (null) in every seed
            assert r["mean"] is None and r["ci_low"] is None
            continue
        assert r["mean"] == pytest.approx(statistics.mean(values), rel=1e-12, abs=1e-12)
        if len(values) > 1:
            assert r["std"] == pytest.approx(statistics.stdev(values), rel=1e-9, abs=1e-12)
        else:
            assert r["std"] is None
        assert min(values) - 1e-12 <= r["ci_low"] <= r["mean"] <= r["ci_high"] <= max(values) + 1e-12
        checked += 1
    assert checked >= 12
    with open(out / "results.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [(t["variant"], t["metric"]) for t in table] == [(r["variant"], r["metric"]) for r in rows]
    assert [float(t["mean"]) if t["mean"] else None for t in table] == [r["mean"] for r in rows]
    # results.md: a variant per row, a metric per column, the same means.
    wide = (out / "results.md").read_text().splitlines()
    metrics = [c.strip() for c in wide[0].strip("|").split("|")][1:-1]
    assert len(wide) == 2 + len(groups) and set(metrics) == {r["metric"] for r in rows}
    for line in wide[2:]:
        variant, *values, failed = [c.strip() for c in line.strip("|").split("|")]
        for metric, shown in zip(metrics, values):
            r = next(r for r in rows if r["variant"] == variant and r["metric"] == metric)
            assert shown == "–" if r["mean"] is None else float(shown.split(" ")[0]) == pytest.approx(r["mean"], rel=1e-3)


def test_report_rebuilds_without_training(sweep, capsys):
    path, out = sweep
    if not (out / "results.json").is_file():
        pytest.skip("needs the sweep of the previous test")
    before = (out / "results.csv").read_text()
    stamps = [(d / "metrics.jsonl").stat().st_mtime_ns for d in cell_dirs(out)]
    (out / "results.csv").unlink()
    import shutil

    shutil.rmtree(out / "plots")
    code, text = run(capsys, "--report", out)
    assert code == 0 and "| variant" in text and "modes_captured" in text
    assert (out / "results.csv").read_text() == before
    assert list((out / "plots").glob("*.png"))
    assert [(d / "metrics.jsonl").stat().st_mtime_ns for d in cell_dirs(out)] == stamps


def test_another_sweep_in_the_same_folder_is_refused(sweep, capsys):
    path, out = sweep
    if not (out / "sweep.toml").is_file():
        pytest.skip("needs the sweep of the previous test")
    code, text = run(capsys, "--variant", "hinge", "--data", "ring", "--out", out)
    assert code == 2 and "holds another sweep" in text
