"""Issue 8, runs: what needs a real second process - locks, file-size limits, signals.

Signals are timed by what the run has written or printed (polled with
deadlines), never by fixed sleeps.
"""

from __future__ import annotations

import os
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ganlab.checkpoint import load_checkpoint
from ganlab.cli import main
from ganlab.config import RunRequest
from ganlab.manager import AUTOLOAD_ENV, make_plugin_manager
from ganlab.run import prepare_run
from ganlab.runfolder import RunLock

from .test_reliability import TINY, error_lines, finished_run, no_temp_files, run_copy  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and resource limits")

DEADLINE = 120  # seconds; generous for a loaded machine, never waited out when things work
FOREVER = ["--steps", "100000", "--log-every", "1", "--checkpoint-every", "100000", "--sample-every", "100000"]


def env() -> dict[str, str]:
    e = {**os.environ, "GANLAB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    e.pop(AUTOLOAD_ENV, None)
    return e


class Proc:
    """A ganlab subprocess whose stdout lines can be awaited."""

    def __init__(self, args: list[str], cwd: Path, prefix: list[str] | None = None, **popen):
        cmd = [sys.executable, *(prefix or ["-m", "ganlab"]), *args]
        # A shell that runs the tests in the background ignores SIGINT, and children inherit that:
        # give them the default disposition, so Python installs its Ctrl-C handler as for a user.
        popen.setdefault("preexec_fn", lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
                                  cwd=cwd, **popen)
        self.lines: queue.Queue = queue.Queue()
        self.out: list[str] = []
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        for line in self.p.stdout:
            self.out.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_line(self, needle: str) -> str:
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                self.p.kill()
                raise AssertionError(f"no line with {needle!r} within {DEADLINE}s: {''.join(self.out)}") from None
            if line is None:
                raise AssertionError(f"ended before {needle!r}: {''.join(self.out)}{self.p.stderr.read()}")
            if needle in line:
                return line

    def wait_until(self, condition, what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while not condition():
            if self.p.poll() is not None:
                raise AssertionError(f"ended before {what}: {''.join(self.out)}{self.p.stderr.read()}")
            if time.monotonic() > deadline:
                self.p.kill()
                raise AssertionError(f"no {what} within {DEADLINE}s")
            time.sleep(0.02)

    def finish(self) -> tuple[int, str, str]:
        try:
            rc = self.p.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise
        self.pump.join(DEADLINE)
        return rc, "".join(self.out), self.p.stderr.read()


def has_metrics(run_dir: Path):
    return lambda: (run_dir / "metrics.jsonl").is_file() and (run_dir / "metrics.jsonl").stat().st_size > 0


# --- 2. a run folder in use is refused by name, never called stale ---------------------------


def test_run_folder_in_use_is_refused_to_another_process(run_copy, tmp_path):
    pm = make_plugin_manager(autoload=False)
    resumed = prepare_run(pm, RunRequest(train={"steps": 5}), resume=run_copy, quiet=True)  # holds the lock
    fresh = prepare_run(pm, RunRequest(["lsgan"], {"data": "ring", "batch_size": 8, "steps": 2, "device": "cpu"},
                                       {"data": {"toy_samples": "256"}, "mlp": {"g_hidden": "8", "d_hidden": "8"}}),
                        out=tmp_path / "fresh", quiet=True)  # no checkpoint yet: config.toml and the lock only
    before = {p: p.read_bytes() for p in (run_copy / "checkpoint.pt", run_copy / "config.toml",
                                          tmp_path / "fresh" / "config.toml")}
    attempts = [["run", "--resume", str(run_copy), "--steps", "6", "--quiet"],
                ["run", "--plugin", "lsgan", *TINY, "--out", str(run_copy)],
                ["run", "--plugin", "lsgan", *TINY, "--out", str(tmp_path / "fresh")],
                ["run", "--resume", str(tmp_path / "fresh"), "--quiet"]]  # training, not "stopped"
    script = ("import sys\nfrom ganlab.cli import main\n"
              f"for args in {attempts!r}:\n    print('rc', main(args), flush=True)\n")
    try:
        other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env(),
                               cwd=tmp_path, timeout=DEADLINE)
    finally:
        resumed.close(), fresh.close()
    assert other.stdout.split() == ["rc", "2"] * 4, other.stdout + other.stderr
    lines = error_lines(other.stderr)
    assert len(lines) == 4 and "Traceback" not in other.stderr
    for line in lines:
        assert f"is in use by another ganlab process (pid {os.getpid()})" in line and "delete" not in line, line
    assert {p: p.read_bytes() for p in before} == before
    RunLock(run_copy).acquire().release()  # released when the holder closed


# --- 3. a file-size limit (a full disk) while checkpointing ----------------------------------------


def test_file_size_limit_while_checkpointing(run_copy, tmp_path):
    checkpoint = run_copy / "checkpoint.pt"
    kept, plot = checkpoint.read_bytes(), (run_copy / "losses.png").read_bytes()
    small = max(p.stat().st_size for p in run_copy.iterdir() if p.suffix in (".toml", ".jsonl"))
    limit = len(kept) // 2  # config, metrics and the lock fit; a checkpoint and a plot do not
    assert small < limit < len(plot)

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    run = subprocess.run([sys.executable, "-m", "ganlab", "run", "--resume", str(run_copy), "--steps", "4",
                          "--checkpoint-every", "1", "--quiet"],
                         capture_output=True, text=True, env=env(), cwd=tmp_path, timeout=DEADLINE,
                         preexec_fn=limited)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    lines = error_lines(run.stderr)
    assert len(lines) == 1 and lines[0].startswith(f"ganlab: error: cannot write {checkpoint}: File too large")
    assert "previous checkpoint is intact" in lines[0] and f"--resume {run_copy}" in lines[0]
    assert no_temp_files(run_copy)
    assert checkpoint.read_bytes() == kept and load_checkpoint(checkpoint)["step"] == 2
    assert (run_copy / "losses.png").read_bytes() == plot  # the failed re-plot left the old one
    # With room again, the run continues from the kept checkpoint.
    assert main(["run", "--resume", str(run_copy), "--steps", "3", "--quiet"]) == 0
    assert load_checkpoint(checkpoint)["step"] == 3


# --- 9. signals --------------------------------------------------------------------------------------


def test_sigterm_saves_a_checkpoint_and_the_run_resumes(tmp_path):
    out = tmp_path / "r"
    run = Proc(["run", "--plugin", "lsgan", *TINY, *FOREVER, "--out", str(out)], cwd=tmp_path)
    run.wait_until(has_metrics(out), "first logged step")
    run.p.send_signal(signal.SIGTERM)
    rc, stdout, stderr = run.finish()
    assert rc == 130, stdout + stderr
    assert "SIGTERM: finishing this step and saving a checkpoint" in stdout
    assert f"; continue with: ganlab run --resume {out}" in stdout
    assert "Traceback" not in stderr and not error_lines(stderr), stderr
    step = load_checkpoint(out / "checkpoint.pt")["step"]
    assert step >= 1 and no_temp_files(out)
    assert main(["run", "--resume", str(out), "--steps", str(step + 2), "--quiet"]) == 0
    assert load_checkpoint(out / "checkpoint.pt")["step"] == step + 2


def test_second_ctrl_c_aborts_with_one_line(tmp_path):
    out = tmp_path / "r"
    run = Proc(["run", "--plugin", "lsgan", *TINY, *FOREVER, "--out", str(out)], cwd=tmp_path)
    run.wait_until(has_metrics(out), "first logged step")
    run.p.send_signal(signal.SIGINT)
    run.wait_for_line("interrupt: finishing this step")  # the first one is being handled: saving begins
    run.p.send_signal(signal.SIGINT)
    rc, stdout, stderr = run.finish()
    assert rc == 130, stdout + stderr
    assert error_lines(stderr) == ["ganlab: aborted"], stderr
    assert no_temp_files(out)
    RunLock(out).acquire().release()  # the folder is free again


def _loaded(pid: int, library: str):
    def check() -> bool:
        try:
            return library in Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            return False
    return check


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see start-up progress")
def test_ctrl_c_during_start_up_is_one_line(tmp_path):
    """SIGINT while ganlab is still starting: inside main (torch is loading), before the "run folder" line."""
    out = tmp_path / "r"
    run = Proc(["run", "--plugin", "lsgan", *TINY, *FOREVER, "--out", str(out)], cwd=tmp_path)
    run.wait_until(_loaded(run.p.pid, "libtorch"), "torch loading")  # only main() imports torch
    run.p.send_signal(signal.SIGINT)
    rc, stdout, stderr = run.finish()
    assert "run folder" not in stdout, "the signal came too late to test start-up"
    assert rc == 130, stdout + stderr
    assert error_lines(stderr) == ["ganlab: aborted"], stderr
    assert not out.exists() or not any(out.iterdir())


def test_sigterm_during_start_up_is_one_line_and_leaves_nothing(tmp_path):
    """A scheduler's SIGTERM while ganlab is still starting: no traceback, no stub blocking --out."""
    out = tmp_path / "r"
    run = Proc(["run", "--plugin", "lsgan", *TINY, *FOREVER, "--out", str(out)], cwd=tmp_path)
    run.wait_until(_loaded(run.p.pid, "libtorch"), "torch loading")
    run.p.send_signal(signal.SIGTERM)
    rc, stdout, stderr = run.finish()
    assert "run folder" not in stdout, "the signal came too late to test start-up"
    assert rc == 143, stdout + stderr
    assert len(error_lines(stderr)) == 1 and "terminated before training started" in stderr, stderr
    assert not out.exists() or not any(out.iterdir())
