"""The speed benchmark keeps working (its figures are printed, never asserted)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "speed.py"


def test_speed_benchmark_runs_and_reports_every_side(capsys):
    spec = importlib.util.spec_from_file_location("speed_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--rounds", "2", "--block", "1", "--warmup", "1", "--threads", "1"])
    assert set(result) == {"wall", "cpu"}
    for clock in result.values():
        assert set(clock["ms"]) == {"seed 000", "same math", "ganlab"} and all(v > 0 for v in clock["ms"].values())
        assert clock["seed 000"] > 0 and clock["same math"] > 0
    out = capsys.readouterr().out
    assert "ganlab / seed 000" in out and "target <= 0.77" in out


def test_2d_benchmark_runs_both_sides(capsys):
    path = SCRIPT.parent / "speed_2d.py"
    spec = importlib.util.spec_from_file_location("speed_2d_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--steps", "25", "--profile-steps", "0", "--threads", "1"])
    assert result["ms_per_step"] > 0 and result["hand_written_ms"] > 0 and result["ratio"] > 0
    out = capsys.readouterr().out
    assert "hand-written" in out and "target >= 3x" in out and "arithmetic floor" in out
    # The floor's FLOP count, by hand: matrix products only, 2*m*k*n each, batch 100; no input
    # gradient for the data (first layers) except D's first layer in G's update, where it reaches G.
    b, g_in, d_in = 100, [2, 400, 400, 400, 400], [2, 200, 200, 200]
    g_out, d_out = g_in[1:] + [2], d_in[1:] + [1]
    g_fwd = sum(2 * b * i * o for i, o in zip(g_in, g_out))
    d_fwd = sum(2 * b * i * o for i, o in zip(d_in, d_out))
    d_first = 2 * b * d_in[0] * d_out[0]
    g_first = 2 * b * g_in[0] * g_out[0]
    d_step = g_fwd + 2 * d_fwd + 2 * (d_fwd + d_fwd - d_first)  # weight and input gradients, reals and fakes
    g_step = g_fwd + d_fwd + d_fwd + g_fwd + (g_fwd - g_first)  # D: input gradients only (frozen)
    assert abs(result["mflop_per_step"] * 1e6 - (d_step + g_step)) < 1
    assert 0 < result["floor_ms"] < result["ms_per_step"]
