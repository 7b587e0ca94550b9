"""What a run says about itself before and early in training: a busy CPU, fp16 on a CPU, its length."""

from __future__ import annotations

import pytest

from ganlab import cpu_load
from ganlab.estimate import Estimate


def test_busy_machine_is_detected_only_with_default_threads():
    assert cpu_load.busy_message(3.0, 2, threads=0) is not None
    assert "--threads 1" in cpu_load.busy_message(3.0, 2, threads=0)
    assert cpu_load.busy_message(3.0, 2, threads=1) is None  # the user chose
    assert cpu_load.busy_message(1.0, 2, threads=0) is None  # below 0.75 per core
    assert cpu_load.busy_message(9.0, 1, threads=0) is None  # one core: one thread already


def test_estimate_speaks_once_for_long_runs_only():
    e = Estimate(0, 10_000)
    assert e.update(1, 0.0) is None  # the first step is warm-up, not timed
    assert e.update(5, 4.0) is None  # too few steps and seconds yet
    said = e.update(11, 10.0)  # 10 steps in 10 s: 9,989 steps left at 1 s/step
    assert said and "about 2 h 46 min" in said and "1.00 s/step" in said
    assert e.update(12, 11.0) is None  # once


def test_estimate_is_silent_for_short_runs():
    e = Estimate(0, 3_000)
    e.update(1, 0.0)
    assert e.update(11, 0.1) is None  # 100 steps/s: 30 s in all


def test_estimate_counts_from_the_resumed_step():
    e = Estimate(9_000, 10_000)
    e.update(9_001, 0.0)
    assert "about 33 min for the remaining 989 steps" in e.update(9_011, 20.0)  # 2 s/step


def test_a_run_warns_once_on_a_busy_machine_and_for_fp16_on_cpu(tmp_path, monkeypatch, capsys):
    from ganlab.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cpu_load.os, "getloadavg", lambda: (7.5, 7.0, 7.0))
    monkeypatch.setattr(cpu_load.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(cpu_load.torch, "get_num_threads", lambda: 2)  # torch's default there, not the tests' 1
    args = ["run", "--data", "ring", "--steps", "2", "--batch-size", "8", "--quiet",
            "-o", "mlp.g_hidden=8", "-o", "mlp.d_hidden=8", "--device", "cpu"]
    assert main([*args, "--out", "a", "--precision", "fp16"]) == 0
    err = capsys.readouterr().err
    assert err.count("the machine is busy (load average 7.5 on 2 cores)") == 1
    assert "fp16 on a CPU" in err
    assert main([*args, "--out", "b", "--threads", "1"]) == 0
    assert "busy" not in capsys.readouterr().err
    monkeypatch.setattr(cpu_load.torch, "get_num_threads", lambda: 1)  # e.g. OMP_NUM_THREADS=1
    assert main([*args, "--out", "c"]) == 0
    assert "busy" not in capsys.readouterr().err


@pytest.mark.parametrize("seconds, text", [(400, "about 7 min"), (5400, "about 1 h 30 min")])
def test_durations_read_naturally(seconds, text):
    from ganlab.estimate import _duration

    assert _duration(seconds) == text
