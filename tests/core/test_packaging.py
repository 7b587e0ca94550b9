"""plugins/ and analysis/ ship as ganlab.plugins and ganlab.analysis, never as top-level packages."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_installed_layout_has_no_top_level_plugins_or_analysis(tmp_path):
    probe = ("import importlib.util as u, ganlab.plugins as p, ganlab.analysis as a;"
             "print(u.find_spec('plugins'), u.find_spec('analysis'), p.__name__, a.__name__)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.split() == ["None", "None", "ganlab.plugins", "ganlab.analysis"]


def test_wheel_contents(tmp_path):
    pytest.importorskip("setuptools")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(REPO)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("ganlab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"ganlab", next(t for t in tops if t.endswith(".dist-info"))}
    assert "ganlab/plugins/lsgan.py" in names and "ganlab/analysis/__init__.py" in names
    assert "ganlab/embedded/mnist/t10k-images-idx3-ubyte.gz" in names

    assert "ganlab/plugins/mnist_metrics/mnist_classifier.pt" in names  # the metrics work offline
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "ganlab = ganlab.cli:main" in entry_points


def test_every_source_package_is_listed_for_the_wheel():
    # The list is explicit, and a wheel built beside a stale build/ folder would hide a missing entry.
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    for folder, package in (("ganlab", "ganlab"), ("plugins", "ganlab.plugins"), ("analysis", "ganlab.analysis")):
        for init in (REPO / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(REPO / folder).parts
            dotted = ".".join([package, *parts])
            assert dotted in listed, f"package {dotted} is not shipped; add it to [tool.setuptools] packages"
