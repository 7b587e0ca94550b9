"""Rules every built-in plugin keeps: it imports only the host, and it passes the conformance kit."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from ganlab.defaults import BUILTINS
from ganlab.testing import assert_plugin_conforms

PLUGIN_DIR = Path(importlib.import_module("ganlab.plugins").__file__).parent
PLUGIN_PACKAGE = "ganlab.plugins"

# What a plugin needs beside itself for its checks to exercise everything it does.
# Augmentations are for images only: they reject the default 2-D points.
CONTEXT = {"recon": {"with_plugins": ["cgan"]}, "cr": {"data": "mnist-embedded"}, "diffaugment": {"data": "mnist-embedded"}}
GENERIC = {"register", "train", "models"}  # checks every plugin gets, whatever it implements


def plugin_imports(source: str) -> list[str]:
    """The ``ganlab.plugins`` modules a module's source imports, anywhere in it (functions included)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith(PLUGIN_PACKAGE + ".")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == PLUGIN_PACKAGE:
                found += [f"{PLUGIN_PACKAGE}.{a.name}" for a in node.names]
            elif node.module.startswith(PLUGIN_PACKAGE + "."):
                found.append(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append("." * node.level + (node.module or ""))  # a relative import inside the package
    return found


@pytest.mark.parametrize("source, imported", [
    ("import ganlab.plugins.wgan", ["ganlab.plugins.wgan"]),
    ("from ganlab.plugins import recon as r", ["ganlab.plugins.recon"]),
    ("from ganlab.plugins.wgan import d_loss", ["ganlab.plugins.wgan"]),
    ("def claims():\n    from ganlab.plugins import wgan\n    return wgan", ["ganlab.plugins.wgan"]),
    ("from . import wgan", ["."]),
    ("import ganlab.pairing\nfrom ganlab.checks import require_finite_nonnegative\nimport torch", []),
])
def test_the_import_rule_sees_every_form(source, imported):
    assert plugin_imports(source) == imported


PLUGIN_FILES = sorted([p for p in PLUGIN_DIR.glob("*.py") if p.name != "__init__.py"]
                      + list(PLUGIN_DIR.glob("*/*.py")))


def _own_package(path: Path) -> str | None:
    """A plugin that is a package (plugins/NAME/) may import its own modules."""
    return f"{PLUGIN_PACKAGE}.{path.parent.name}" if path.parent != PLUGIN_DIR else None


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: str(p.relative_to(PLUGIN_DIR)))
def test_no_plugin_imports_another(path):
    own = _own_package(path)
    others = [m for m in plugin_imports(path.read_text(encoding="utf-8"))
              if own is None or not (m == own or m.startswith(own + "."))]
    assert others == [], (
        f"{path.name} imports another plugin; move what is shared into a host module (ganlab.*)")


def test_every_builtin_module_is_checked_for_imports():
    modules = {name.rsplit(".", 1)[-1] for name in BUILTINS.values()}
    checked = {p.stem if p.parent == PLUGIN_DIR else p.parent.name for p in PLUGIN_FILES}
    assert modules <= checked


@pytest.mark.parametrize("name", list(BUILTINS))
def test_every_builtin_conforms(name):
    results = assert_plugin_conforms(name, **CONTEXT.get(name, {}))
    # Passing only the generic checks would say nothing about what the plugin does.
    specific = {r.check for r in results if r.passed and r.check.split(".")[0] not in GENERIC}
    assert specific, f"{name}: no check about its own hooks ran ({[str(r) for r in results]})"
