"""Issue 8, runs: nothing lost, nothing falsely green.

Each test breaks on the behaviour before the run-path rewrite (plugins that
exit at import, unlocked run folders, shared temp names, half-written files,
unchecked optimizer state, tracebacks instead of one message...). The ones
that need a real second process (locks, file-size limits, signals) are in
``test_reliability_processes.py``.
"""

from __future__ import annotations

import errno
import json
import shutil
import signal
import sys
import textwrap
import tomllib
import types
from pathlib import Path

import pytest
import torch

from ganlab import hookimpl
from ganlab.checkpoint import load_checkpoint
from ganlab.cli import main
from ganlab.manager import AUTOLOAD_ENV, make_plugin_manager

TINY = ["--data", "ring", "-o", "data.toy_samples=256", "--batch-size", "8", "-o", "mlp.g_hidden=8",
        "-o", "mlp.d_hidden=8", "--quiet", "--sample-every", "1000", "--device", "cpu"]


# --- helpers ---------------------------------------------------------------------


def fake_distribution(site: Path, dist: str, entry: str, module: str, source: str) -> None:
    """An installed distribution laid out by hand: metadata, a ``ganlab`` entry point, its module."""
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"  # importlib.metadata reads the name up to the first '-'
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[ganlab]\n{entry} = {module}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(source))


def with_plugins(monkeypatch, **plugins) -> None:
    """Make ``ganlab`` (the CLI) see extra in-process plugins, by name."""
    from ganlab import manager

    def made(autoload=None):
        pm = make_plugin_manager(autoload=False)
        for name, module in plugins.items():
            pm.add_plugin(module, name)
        return pm

    monkeypatch.setattr(manager, "make_plugin_manager", made)
    # The CLI refuses unknown names before loading any plugin: these in-process ones are known too.
    early = manager.check_names_early
    monkeypatch.setattr(manager, "check_names_early", lambda names, **kw: early([n for n in names if n not in plugins]))


def plugin_module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, hookimpl(fn))
    return module


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def one_error(capsys) -> str:
    """The run's stderr, checked to be exactly one ``ganlab: error:`` line and no traceback."""
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = error_lines(captured.err)
    assert len(lines) == 1 and lines[0].startswith("ganlab: error: "), captured.err
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A tiny lsgan run trained to step 2 with a checkpoint, metrics and a loss plot (copy before changing)."""
    out = tmp_path_factory.mktemp("base") / "run"
    assert main(["run", "--plugin", "lsgan", *TINY, "--steps", "2", "--log-every", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    return copy


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# --- 1. plugins that exit or raise KeyboardInterrupt at import -------------------------


def test_plugin_exiting_at_import_is_broken_and_ganlab_still_works(site, tmp_path, capsys):
    fake_distribution(site, "ganlab-exits", "exits", "rel_exits_mod", "import sys\nsys.exit(3)\n")
    fake_distribution(site, "ganlab-sysexit", "sysexit", "rel_sysexit_mod", "raise SystemExit('bye')\n")
    fake_distribution(site, "ganlab-ctrlc", "ctrlc", "rel_ctrlc_mod", "raise KeyboardInterrupt\n")
    pm = make_plugin_manager()
    assert "sys.exit(3)" in pm.infos["exits"].error
    assert "sys.exit('bye')" in pm.infos["sysexit"].error
    assert "KeyboardInterrupt" in pm.infos["ctrlc"].error

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for name in ("exits", "sysexit", "ctrlc"):
        assert f"{name}  [ganlab-{name} 0.1]  BROKEN" in out
    assert main(["run", "--plugin", "lsgan", *TINY, "--steps", "1", "--out", str(tmp_path / "ok")]) == 0
    assert (tmp_path / "ok" / "checkpoint.pt").is_file()
    capsys.readouterr()
    assert main(["run", "--plugin", "exits", *TINY, "--steps", "1", "--out", str(tmp_path / "no")]) == 2
    assert "is broken: called sys.exit(3) at import" in one_error(capsys)


def test_a_real_ctrl_c_while_plugins_load_is_not_swallowed(site):
    fake_distribution(site, "ganlab-kill", "kill", "rel_kill_mod",
                      "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\n")
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        make_plugin_manager()
    assert signal.getsignal(signal.SIGINT) is before  # the loader's temporary handler is gone
    # A plugin merely raising KeyboardInterrupt, with no key pressed, is only broken.
    (site / "rel_kill_mod.py").write_text("raise KeyboardInterrupt('not really')\n")
    assert "KeyboardInterrupt" in make_plugin_manager().infos["kill"].error


# --- 2. temp files never collide; run files are as readable as before -----------------


def test_overlapping_atomic_writes_to_one_path_do_not_collide(tmp_path):
    from ganlab.checkpoint import write_atomic

    target = tmp_path / "checkpoint.pt"

    def outer(fh):
        fh.write(b"outer")
        write_atomic(target, lambda inner: inner.write(b"inner"))  # a second writer, mid-write

    write_atomic(target, outer)
    assert target.read_bytes() == b"outer"
    assert no_temp_files(tmp_path)


def test_run_files_are_as_readable_as_config_toml(finished_run):
    mode = (finished_run / "config.toml").stat().st_mode & 0o777
    for name in ("checkpoint.pt", "losses.png", "metrics.jsonl"):
        assert (finished_run / name).stat().st_mode & 0o777 == mode, name
    assert all(p.stat().st_mode & 0o777 == mode for p in (finished_run / "samples").iterdir())


# --- 3. a failed plot write never leaves an empty losses.png --------------------------


def test_failed_loss_plot_keeps_the_previous_one(run_copy, monkeypatch):
    import matplotlib.figure

    from ganlab.artifacts import plot_losses
    from ganlab.checkpoint import RunWriteError

    before = (run_copy / "losses.png").read_bytes()
    assert before

    def disk_full(self, fname, *args, **kwargs):
        if isinstance(fname, (str, Path)):
            fname = open(fname, "wb")
        fname.write(b"\x89PNG half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", disk_full)
    with pytest.raises(RunWriteError, match=r"losses\.png: No space left on device"):
        plot_losses(run_copy / "metrics.jsonl", run_copy / "losses.png")
    assert (run_copy / "losses.png").read_bytes() == before
    assert no_temp_files(run_copy)


def test_disk_full_at_the_first_checkpoint_claims_no_checkpoint(tmp_path, monkeypatch, capsys):
    def disk_full(obj, fh):
        fh.write(b"PK half a zip")
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr(torch, "save", disk_full)
    out = tmp_path / "r"
    assert main(["run", "--plugin", "lsgan", *TINY, "--steps", "2", "--out", str(out)]) == 2
    message = one_error(capsys)
    assert f"cannot write {out / 'checkpoint.pt'}: File too large" in message
    assert "No checkpoint was written yet" in message and "intact" not in message and "--resume" not in message
    assert not (out / "checkpoint.pt").exists() and no_temp_files(out)


# --- 4. non-finite optimizer state ------------------------------------------------------


def test_overflowing_optimizer_state_stops_the_run_and_keeps_the_checkpoint(tmp_path, monkeypatch, capsys):
    calls = []

    def d_loss(real_scores, fake_scores):
        calls.append(1)
        scale = 1.0 if len(calls) <= 2 else 1e25  # from step 3: a finite loss whose squared grads overflow
        return scale * (fake_scores - real_scores).mean()

    with_plugins(monkeypatch, huge=plugin_module("huge", ganlab_d_loss=d_loss))
    out = tmp_path / "r"
    assert main(["run", "--plugin", "huge", *TINY, "--steps", "6", "--log-every", "1", "--checkpoint-every", "2",
                 "--out", str(out)]) == 2
    message = one_error(capsys)
    assert "non-finite" in message and "D's optimizer state" in message
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 2  # the last good one, not the overflowed state

    def no_constants(name):
        raise AssertionError(f"{name} in metrics.jsonl is not JSON")

    rows = [json.loads(line, parse_constant=no_constants) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]


# --- 5. damaged checkpoints ---------------------------------------------------------------


@pytest.mark.parametrize("damage,needle", [
    (lambda s: s.update(step="2"), "step is str"),
    (lambda s: s.pop("batcher"), "missing batcher"),
    (lambda s: s.update(generator=[1, 2]), "generator is list"),
    (lambda s: s.update(step=-1), "step is -1"),
])
def test_checkpoint_with_a_missing_key_or_wrong_type(run_copy, capsys, damage, needle):
    path = run_copy / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    damage(state)
    torch.save(state, path)
    assert main(["run", "--resume", str(run_copy), "--steps", "4", "--quiet"]) == 2
    message = one_error(capsys)
    assert "is damaged" in message and needle in message


# --- 7. failures after the run folder exists; sizes refused before anything is written ----


@pytest.mark.parametrize("exc", [MemoryError(), RuntimeError("not enough memory: you tried to allocate 9 GB")])
def test_failure_after_the_folder_was_made_leaves_nothing_behind(tmp_path, monkeypatch, capsys, exc):
    import ganlab.trainer

    def no_memory(*args, **kwargs):
        raise exc

    monkeypatch.setattr(ganlab.trainer, "Batcher", no_memory)
    new, given = tmp_path / "new", tmp_path / "given"
    given.mkdir()  # a folder the user made: kept, but emptied of what the run wrote
    for out in (new, given):
        assert main(["run", "--plugin", "lsgan", *TINY, "--steps", "1", "--out", str(out)]) == 2
        assert "out of memory" in one_error(capsys)
    assert not new.exists() and list(given.iterdir()) == []
    monkeypatch.undo()
    assert main(["run", "--plugin", "lsgan", *TINY, "--steps", "1", "--out", str(new)]) == 0
    assert (new / "checkpoint.pt").is_file()


@pytest.mark.parametrize("flags,needle", [
    (["--batch-size", "512"], "larger than the dataset"),
    (["--image-size", "100000"], "--image-size 100000"),
])
def test_impossible_sizes_are_refused_before_anything_is_written(tmp_path, capsys, flags, needle):
    out = tmp_path / "r"
    assert main(["run", "--plugin", "lsgan", *TINY, *flags, "--steps", "1", "--out", str(out)]) == 2
    assert needle in one_error(capsys)
    assert not out.exists()


# --- 8. resume refusals leave the run as it was ---------------------------------------------


def test_resume_below_the_saved_step_is_refused_and_changes_nothing(run_copy, capsys):
    with open(run_copy / "metrics.jsonl", "a") as fh:  # rows of steps after the checkpoint, as a crash leaves
        fh.write('{"step": 3, "d_loss": 1e30}\n{"step": 4, "d_lo')
    files = {name: (run_copy / name).read_bytes() for name in ("config.toml", "metrics.jsonl", "checkpoint.pt")}
    assert main(["run", "--resume", str(run_copy), "--steps", "1", "--quiet"]) == 2
    assert "at step 2, beyond --steps 1" in one_error(capsys)
    assert {name: (run_copy / name).read_bytes() for name in files} == files


def test_resume_into_another_out_is_refused(run_copy, tmp_path, capsys):
    other = tmp_path / "elsewhere"
    assert main(["run", "--resume", str(run_copy), "--out", str(other), "--quiet"]) == 2
    assert f"drop --out {other}" in one_error(capsys)
    assert not other.exists()


# --- 9. (the rest, with real processes, is in test_reliability_processes.py) ---------------------


def test_ctrl_c_while_the_run_prints_still_saves(pm, tmp_path):
    """The notice printed from the signal handler may hit a print in progress (a re-entrant write)."""
    import os

    from ganlab.config import RunRequest
    from ganlab.run import prepare_run

    printing = []

    def log(line=""):
        if printing:  # what a BufferedWriter does when a signal handler prints during a print
            raise RuntimeError("reentrant call inside <_io.BufferedWriter name='<stdout>'>")
        printing.append(line)
        try:
            if line.startswith("step 2/"):
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C mid-print
                printing.append("the handler has run")  # (signals are handled between bytecodes)
        finally:
            printing.clear()

    request = RunRequest(["lsgan"], {"data": "ring", "batch_size": 8, "steps": 6, "log_every": 1,
                                     "sample_every": 1000, "device": "cpu"},
                         {"data": {"toy_samples": "256"}, "mlp": {"g_hidden": "8", "d_hidden": "8"}})
    trainer = prepare_run(pm, request, out=tmp_path / "r", quiet=True, log=log)
    assert trainer.fit() == "interrupted"
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt")["step"] == 2


# --- 10. plugin failures: one message naming the plugin and the hook ----------------------------


def _raises_on_third_call():
    calls = []

    def d_loss(real_scores, fake_scores):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return (fake_scores - real_scores).mean()

    return d_loss


G_SIDE = torch.nn.Parameter(torch.ones(()))


@pytest.mark.parametrize("hook_name,make,needles", [
    ("ganlab_d_loss", _raises_on_third_call,
     ["plugin 'bad' failed in ganlab_d_loss at step 3: RuntimeError: boom"]),
    ("ganlab_d_loss", lambda: lambda real_scores, fake_scores: (
        real_scores.detach().mean() * 0 + torch.tensor(1.0, requires_grad=True)),
     ["ganlab_d_loss (bad) gave D no gradient"]),
    ("ganlab_d_loss", lambda: lambda real_scores, fake_scores: real_scores.detach().mean(),
     ["ganlab_d_loss (bad)", "no gradient path to D"]),
    ("ganlab_d_loss", lambda: lambda real_scores, fake_scores: G_SIDE * 2.0,  # constants and G-side tensors only
     ["ganlab_d_loss (bad) gave D no gradient"]),
    ("ganlab_g_loss", lambda: lambda fake_scores: fake_scores.detach().mean(),
     ["ganlab_g_loss (bad)", "no gradient path to G"]),
    ("ganlab_on_log", lambda: lambda step, record: 1 / 0,
     ["plugin 'bad' failed in ganlab_on_log at step 1: ZeroDivisionError"]),
    ("ganlab_d_loss", lambda: lambda real_scores, fake_scores: sys.exit(0),  # not a successful run
     ["plugin 'bad' failed in ganlab_d_loss at step 1: SystemExit: 0"]),
    ("ganlab_generator", lambda: lambda data, latent_dim: int("layer"),
     ["plugin 'bad' failed in ganlab_generator: ValueError"]),
    ("ganlab_optimizer", lambda: lambda player, params: sys.exit("no optimizer"),
     ["plugin 'bad' failed in ganlab_optimizer for G: SystemExit: no optimizer"]),
])
def test_plugin_failure_is_one_message_naming_plugin_and_hook(tmp_path, monkeypatch, capsys, hook_name, make,
                                                              needles):
    with_plugins(monkeypatch, bad=plugin_module("bad", **{hook_name: make()}))
    assert main(["run", "--plugin", "bad", *TINY, "--steps", "4", "--log-every", "1",
                 "--out", str(tmp_path / "r")]) == 2
    message = one_error(capsys)
    assert all(n in message for n in needles), message


# --- 11. option values and the autoload switch ----------------------------------------------------


@pytest.mark.parametrize("value,needle", [("inf", "expected a finite number"), ("-inf", "expected a finite number"),
                                          ("nan", "expected a number, not nan")])
def test_non_finite_option_value_is_refused(tmp_path, capsys, value, needle):
    out = tmp_path / "r"
    assert main(["run", "--plugin", "lsgan", "-o", f"lsgan.b={value}", *TINY, "--steps", "1", "--out", str(out)]) == 2
    message = one_error(capsys)
    assert f"bad value '{value}' for lsgan.b" in message and needle in message
    assert not out.exists()


def test_repeated_option_takes_the_last_value(tmp_path):
    out = tmp_path / "r"
    assert main(["run", "--plugin", "lsgan", "-o", "lsgan.a=0.5", "-o", "lsgan.a=-0.25", *TINY, "--steps", "1",
                 "--out", str(out)]) == 0
    assert tomllib.loads((out / "config.toml").read_text())["options"]["lsgan"]["a"] == -0.25


@pytest.mark.parametrize("value,loaded", [("0", True), ("false", True), ("", True), ("1", False), ("yes", False)])
def test_autoload_switch_reads_its_value(site, monkeypatch, value, loaded):
    fake_distribution(site, "ganlab-fine", "fine", "rel_fine_mod",
                      "from ganlab import hookimpl\n\n@hookimpl\ndef ganlab_d_loss(real_scores, fake_scores):\n"
                      "    return (fake_scores - real_scores).mean()\n")
    monkeypatch.setenv(AUTOLOAD_ENV, value)
    assert ("fine" in make_plugin_manager().infos) is loaded


def test_sigterm_after_the_folder_was_made_removes_the_new_run(tmp_path, monkeypatch, capsys):
    """SIGTERM between claiming the folder and training (the handler raises Terminated there)."""
    from ganlab.errors import Terminated

    def terminated(*args, **kwargs):
        raise Terminated

    monkeypatch.setattr("ganlab.run.Trainer.__init__", terminated)
    out = tmp_path / "r"
    assert main(["run", "--plugin", "lsgan", *TINY, "--steps", "2", "--out", str(out)]) == 143
    assert "terminated before training started" in capsys.readouterr().err
    assert not out.exists()


def test_sigterm_outside_ganlab_run_names_the_command_not_training(monkeypatch, capsys):
    from ganlab.errors import Terminated

    def terminated(*args, **kwargs):
        raise Terminated

    monkeypatch.setattr("ganlab.commands.verify.main", terminated)
    assert main(["verify", "--plugin", "gan"]) == 143
    err = capsys.readouterr().err
    assert "ganlab verify: terminated" in err and "training" not in err


def test_a_plugin_failing_in_a_set_up_hook_is_named(tmp_path, monkeypatch, capsys):
    def ganlab_regularizer():
        raise ValueError("boom")

    with_plugins(monkeypatch, faulty=plugin_module("faulty", ganlab_regularizer=ganlab_regularizer))
    out = tmp_path / "r"
    assert main(["run", "--plugin", "faulty", *TINY, "--steps", "2", "--out", str(out)]) == 2
    message = one_error(capsys)
    assert "plugin 'faulty' failed in ganlab_regularizer: ValueError: boom" in message
    assert not out.exists()
