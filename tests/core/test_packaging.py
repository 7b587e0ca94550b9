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
    # Every source package ships: the package list in pyproject.toml is explicit.
    for folder, package in (("ganlab", "ganlab"), ("plugins", "ganlab/plugins"), ("analysis", "ganlab/analysis")):
        for init in (REPO / folder).rglob("__init__.py"):
            shipped = f"{package}/{init.relative_to(REPO / folder).as_posix()}"
            assert shipped in names, f"{shipped} is not in the wheel; add its package to pyproject.toml"
    assert "ganlab/plugins/mnist_metrics/mnist_classifier.pt" in names  # the metrics work offline
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "ganlab = ganlab.cli:main" in entry_points
