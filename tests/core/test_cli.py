"""The command line: user mistakes exit 2 with one message and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ganlab.cli import main

TINY = ["--steps", "2", "--batch-size", "8", "-o", "mlp.g_hidden=16", "-o", "mlp.d_hidden=16",
        "--data", "mnist-embedded", "--device", "cpu", "--quiet"]


def test_run_trains_and_reports(tmp_path, capsys):
    assert main(["run", "--plugin", "lsgan", *TINY, "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "plugins data, mnist-metrics, lsgan, mlp, adam" in out
    assert "data: embedded MNIST test split" in out
    assert "step 2/2" in out and "D(x)=" in out and "D(G(z))=" in out
    assert (tmp_path / "r" / "samples" / "step_000002.png").is_file()


def test_run_resume_extends_a_run(tmp_path, capsys):
    assert main(["run", "--plugin", "lsgan", *TINY, "--out", str(tmp_path / "r")]) == 0
    assert main(["run", "--resume", str(tmp_path / "r"), "--steps", "4", "--quiet"]) == 0
    assert "resuming at step 2 of 4" in capsys.readouterr().out


def test_run_from_config_file(tmp_path, capsys):
    assert main(["run", "--plugin", "lsgan", *TINY, "--out", str(tmp_path / "a")]) == 0
    assert main(["run", "--config", str(tmp_path / "a" / "config.toml"), "--out", str(tmp_path / "b"),
                 "--steps", "1", "--quiet"]) == 0
    assert "step 1/1" in capsys.readouterr().out


@pytest.mark.parametrize("args,needle", [
    (["run", "--plugin", "lsgn"], "unknown plugin 'lsgn'; available: lsgan"),
    (["run", "--plugin", "gan", "--plugin", "lsgan"], "both implement ganlab_d_loss"),
    (["run", "--plugin", "lsgan", "-o", "lsgan.z=1"], "valid keys for lsgan: a, b, c, preset, sigmoid"),
    (["run", "--plugin", "lsgan", "-o", "lsgan.a=high"], "bad value 'high' for lsgan.a"),
    (["run", "-o", "lsgan"], "PLUGIN.KEY=VALUE"),
    (["run", "--steps", "many"], "bad value 'many' for steps"),
    (["run", "--steps", "0"], "--steps must be at least 1"),
    (["run", "--data", "nosuchset"], "unknown dataset 'nosuchset'"),
    (["run", "--data", "./no/such/folder"], "no such folder"),
    (["run", "--data", "cifar10", "--data-root", "/nonexistent-ganlab"], "--data-root"),
    (["run", "--config", "/nonexistent.toml"], "does not exist"),
    (["run", "--resume", "/nonexistent-run"], "not a ganlab run folder"),
])
def test_user_errors_exit_2_without_traceback(args, needle, capsys, tmp_path):
    out = [] if "--resume" in args else ["--out", str(tmp_path / "r")]  # --resume refuses --out
    assert main([*args, *out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganlab: error: ") and needle in err
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_offline_error_names_embedded_datasets(capsys, tmp_path):
    assert main(["run", "--data", "fashion-mnist", "--data-root", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "no network" in err and "mnist-embedded" in err and "ring" in err


def test_cuda_request_without_cuda(capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["run", "--device", "cuda", "--out", str(tmp_path / "r")]) == 2
    assert "--device cpu" in capsys.readouterr().err


def test_sigmoid_warning_is_shown(capsys, tmp_path):
    assert main(["run", "--plugin", "lsgan", "-o", "lsgan.preset=pearson", "-o", "lsgan.sigmoid=true",
                 *TINY, "--out", str(tmp_path / "r")]) == 0
    assert "ganlab: warning: lsgan.sigmoid squashes scores into (0, 1), so target(s) a=-1.0" in capsys.readouterr().err


def test_plugins_lists_names_sources_hooks_options(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "lsgan  [built-in]" in out
    assert "hooks: claims, d_loss, g_loss, options" in out
    assert "-o lsgan.a=0.0  (float) D's target for fake samples" in out


def test_plugins_json(capsys):
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name["lsgan"]["source"] == "built-in" and by_name["lsgan"]["status"] == "ok"
    assert {"name": "a", "type": "float", "default": 0.0, "help": "D's target for fake samples"} in by_name["lsgan"]["options"]
    assert data["defaults"]["ganlab_d_loss"] == "gan"


def test_real_process_error_has_no_traceback(tmp_path):
    env = {**os.environ, "GANLAB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "ganlab.cli", "run", "--plugin", "nope"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 2
    assert "unknown plugin 'nope'" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [["run", "--plugin", "lsgn"], ["run", "--steps", "0"],
                                  ["run", "-o", "lsgn.a=1"], ["--help"]])
def test_user_errors_and_help_never_import_torch(args):
    """Typos fail in a blink: importing torch alone takes seconds."""
    import subprocess
    import sys

    code = ("import sys\nfrom ganlab.cli import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
            "print('torch imported' if 'torch' in sys.modules else 'no torch')" % (args,))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().endswith("no torch"), out.stdout + out.stderr
