"""Third-party plugins arrive through the ``ganlab`` entry-point group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ganlab.cli import main
from ganlab.errors import PluginError
from ganlab.manager import AUTOLOAD_ENV, make_plugin_manager

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "ganlab-ragan"


def fake_distribution(site: Path, dist: str, version: str, entry: str, module: str, source: str) -> None:
    """Lay out an installed distribution by hand: metadata, entry point and module."""
    info = site / f"{dist}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[ganlab]\n{entry} = {module}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(source))


GOOD = """
    import torch
    from ganlab import hookimpl

    @hookimpl
    def ganlab_d_loss(real_scores, fake_scores):
        return torch.relu(1 - real_scores).mean() + torch.relu(1 + fake_scores).mean()
"""


def test_installed_entry_point_is_discovered(site):
    fake_distribution(site, "ganlab-fake", "1.2", "fakeloss", "ganlab_fake_mod", GOOD)
    pm = make_plugin_manager()
    info = pm.info("fakeloss")
    assert info.source == "ganlab-fake 1.2" and info.hooks == ["ganlab_d_loss"]
    assert pm.select(["fakeloss"]).implementers("ganlab_d_loss") == ["fakeloss"]


def test_broken_plugin_is_listed_and_fails_only_when_selected(site, capsys, tmp_path):
    fake_distribution(site, "ganlab-broken", "0.1", "broken", "ganlab_broken_mod",
                      "raise ImportError('needs libfoo')\n")
    pm = make_plugin_manager()
    assert pm.infos["broken"].error == "ImportError: needs libfoo"
    pm.select(["lsgan"])  # everything else still works
    with pytest.raises(PluginError, match="needs libfoo"):
        pm.select(["broken"])
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "broken  [ganlab-broken 0.1]  BROKEN" in out and "error: ImportError: needs libfoo" in out
    assert main(["run", "--plugin", "broken", "--out", str(tmp_path / "r")]) == 2
    assert "ImportError: needs libfoo" in capsys.readouterr().err


def test_autoload_can_be_disabled(site, monkeypatch):
    fake_distribution(site, "ganlab-fake", "1.2", "fakeloss", "ganlab_fake_mod", GOOD)
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    assert "fakeloss" not in make_plugin_manager().infos
    assert "fakeloss" in make_plugin_manager(autoload=True).infos


def test_entry_point_shadowing_a_builtin(site):
    fake_distribution(site, "ganlab-shadow", "3.0", "lsgan", "ganlab_shadow_mod", GOOD)
    pm = make_plugin_manager()
    assert pm.info("lsgan").source == "built-in"
    assert not pm.infos["lsgan (ganlab-shadow 3.0)"].ok


def _pip_target(target: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(EXAMPLE)]
    try:
        import setuptools  # noqa: F401  (then no build environment needs downloading)
        cmd.insert(4, "--no-build-isolation")
    except ImportError:
        pass
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def test_example_package_installs_and_runs_through_the_cli(tmp_path):
    """The full path a user takes: pip install a plugin package, then use it."""
    target = tmp_path / "site"
    _pip_target(target)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]),
           "GANLAB_OFFLINE": "1"}
    env.pop(AUTOLOAD_ENV, None)
    run = lambda *args: subprocess.run([sys.executable, "-m", "ganlab", *args], capture_output=True,
                                       text=True, env=env, cwd=tmp_path)
    listing = run("plugins", "--json")
    assert listing.returncode == 0, listing.stderr
    ragan = {p["name"]: p for p in json.loads(listing.stdout)["plugins"]}["ragan"]
    assert ragan["source"] == "ganlab-ragan 0.1.0" and ragan["status"] == "ok"
    assert ragan["hooks"] == ["ganlab_claims", "ganlab_d_loss", "ganlab_g_loss", "ganlab_options"]
    trained = run("run", "--plugin", "ragan", "-o", "ragan.scale=2", "--steps", "2", "--batch-size", "8",
                  "-o", "mlp.g_hidden=16", "-o", "mlp.d_hidden=16", "--quiet", "--out", "r")
    assert trained.returncode == 0, trained.stderr
    assert "plugins data, mnist-metrics, ragan, mlp, adam" in trained.stdout
    assert 'ragan = "ganlab-ragan 0.1.0"' in (tmp_path / "r" / "config.toml").read_text()
    # The example runs the conformance kit in its own tests.
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout
