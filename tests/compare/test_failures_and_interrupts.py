"""A failing cell never stops the others; Ctrl-C stops cleanly and a re-run completes only what is missing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ganlab.cli import main


def run(capsys, *args) -> tuple[int, str]:
    code = main(["compare", *map(str, args), "--threads", "1"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_failing_cell_is_recorded_and_the_others_finish(tmp_path, tiny_sweep, capsys):
    path = tmp_path / "s.toml"
    # dcgan on 2-D points is a bad combination (ConfigError) in every cell of its variant.
    path.write_text(tiny_sweep({"dcgan": 'plugins = ["dcgan"]', "gan": 'plugins = ["gan"]'}, seeds=1))
    out = tmp_path / "out"
    code, text = run(capsys, path, "--out", out)
    assert code == 1 and "Traceback" not in text
    failed = json.loads((out / "cells/dcgan/seed0/status.json").read_text())
    assert failed["status"] == "failed" and "dcgan" in failed["message"] and failed["error"] == "ConfigError"
    assert json.loads((out / "cells/gan/seed0/status.json").read_text())["status"] == "finished"
    assert "failed: dcgan seed 0:" in text
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [(r["variant"], r["n"], r["failed"]) for r in rows if r["variant"] == "dcgan"] == [("dcgan", 0, 1)]
    assert all(r["n"] == 1 and r["failed"] == 0 for r in rows if r["variant"] == "gan" and r["mean"] is not None)
    # A re-run skips the failed cell (it would fail again) unless asked.
    code, text = run(capsys, path, "--out", out)
    assert code == 1 and "1 finished earlier" in text and "1 failed earlier" in text and "ran " not in text
    code, text = run(capsys, path, "--out", out, "--retry-failed")
    assert code == 1 and "ran 1 cell(s)" in text


def interrupted_sweep(tmp_path, tiny_sweep, steps: int, when: Path, *flags: str) -> tuple[Path, Path]:
    """Start a 3-seed sweep in a process of its own, Ctrl-C it once ``when`` exists, and check the stop."""
    path = tmp_path / "s.toml"
    text = tiny_sweep({"gan": 'plugins = ["gan"]'}, seeds=3, steps=steps, sample_every=steps)
    path.write_text(text.replace("checkpoint_every = 2", "checkpoint_every = 50").replace("log_every = 2", "log_every = 50"))
    out = tmp_path / "out"
    env = {**os.environ, "GANLAB_OFFLINE": "1", "GANLAB_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ganlab", "compare", str(path), "--out", str(out),
                             "--workers", "1", "--threads", "1", *flags], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            # a shell running the tests in the background ignores SIGINT: not the child
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    target = out / when
    deadline = time.monotonic() + 120
    while not (target.exists() and target.stat().st_size) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr and "re-run the same command" in stdout
    return path, out


def test_ctrl_c_stops_cleanly_and_a_rerun_completes_the_rest(tmp_path, tiny_sweep, capsys):
    path, out = interrupted_sweep(tmp_path, tiny_sweep, 150, Path("cells/gan/seed0/status.json"),
                                  "--vectorize", "off")
    first = out / "cells/gan/seed0/status.json"
    finished = [p for p in out.glob("cells/gan/seed*/status.json")
                if json.loads(p.read_text())["status"] == "finished"]
    assert 1 <= len(finished) < 3
    stamp = (first.parent / "metrics.jsonl").stat().st_mtime_ns

    code, text = run(capsys, path, "--out", out, "--vectorize", "off")
    assert code == 0, text
    assert f"{len(finished)} finished earlier (skipped)" in text and f"ran {3 - len(finished)} cell(s)" in text
    assert (first.parent / "metrics.jsonl").stat().st_mtime_ns == stamp
    for seed in range(3):
        status = json.loads((out / f"cells/gan/seed{seed}/status.json").read_text())
        assert status["status"] == "finished" and status["step"] == 150


def test_ctrl_c_stops_a_batched_group_at_one_step_and_a_rerun_resumes_every_seed(tmp_path, tiny_sweep, capsys):
    from ganlab.checkpoint import load_checkpoint

    path, out = interrupted_sweep(tmp_path, tiny_sweep, 400, Path("cells/gan/seed2/metrics.jsonl"))
    assert not list(out.glob("cells/gan/seed*/status.json"))  # interrupted: resumable from the checkpoint
    steps = {load_checkpoint(out / f"cells/gan/seed{k}/checkpoint.pt")["step"] for k in range(3)}
    assert len(steps) == 1 and 0 < min(steps) < 400  # the group stops at one step

    code, text = run(capsys, path, "--out", out)
    assert code == 0, text
    for k in range(3):
        status = json.loads((out / f"cells/gan/seed{k}/status.json").read_text())
        assert status["status"] == "finished" and status["step"] == 400, text


def test_a_diverged_cell_is_failed_with_its_message(tmp_path, pm, monkeypatch):
    from ganlab.sweeps.cells import cell_state, run_cell
    from ganlab.errors import TrainingDiverged
    from ganlab.trainer import Trainer

    def diverge(self):
        self.close()
        raise TrainingDiverged("training stopped: a loss became non-finite at step 3")

    monkeypatch.setattr(Trainer, "fit", diverge)
    cell = {"id": "cells/gan/seed0", "plugins": ["gan"], "options": {"mlp": {"g_hidden": "8", "d_hidden": "8"}},
            "train": {"data": "ring", "steps": 4, "batch_size": 8, "seed": 0}}
    record = run_cell(cell, str(tmp_path), threads=1, pm=pm)
    assert record["status"] == "failed" and record["error"] == "TrainingDiverged"
    assert "non-finite at step 3" in record["message"]
    assert cell_state(tmp_path / "cells/gan/seed0") == "failed"
    # A finished or failed cell is never run again.
    assert run_cell(cell, str(tmp_path), threads=1, pm=pm)["skipped"] is True


def test_an_error_while_stopping_is_an_interruption_not_a_failure(tmp_path, pm, monkeypatch):
    from ganlab.sweeps import cells
    from ganlab.trainer import Trainer

    def cut_short(self):  # a second Ctrl-C broke an import inside the step, say
        self.signals.requested = True
        self.close()
        raise AttributeError("module 'matplotlib' has no attribute 'artist'")

    monkeypatch.setattr(Trainer, "fit", cut_short)
    monkeypatch.setitem(cells._stop, "requested", False)
    cell = {"id": "cells/gan/seed0", "plugins": ["gan"], "options": {"mlp": {"g_hidden": "8", "d_hidden": "8"}},
            "train": {"data": "ring", "steps": 4, "batch_size": 8, "seed": 0}}
    record = cells.run_cell(cell, str(tmp_path), threads=1, pm=pm)
    assert record["status"] == "interrupted" and not (tmp_path / "cells/gan/seed0/status.json").exists()
    # ... and this process starts no further cell.
    assert cells.run_cell({**cell, "id": "cells/gan/seed1"}, str(tmp_path), pm=pm)["message"] == "not started"
