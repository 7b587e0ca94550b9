"""Rules every built-in plugin keeps: it imports only the host, and it passes the conformance kit."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from ganlab.plugins import BUILTINS
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


@pytest.mark.parametrize("path", sorted(p for p in PLUGIN_DIR.glob("*.py") if p.name != "__init__.py"),
                         ids=lambda p: p.name)
def test_no_plugin_imports_another(path):
    assert plugin_imports(path.read_text(encoding="utf-8")) == [], (
        f"{path.name} imports another plugin; move what is shared into a host module (ganlab.*)")


def test_every_builtin_module_is_checked_for_imports():
    modules = {name.rsplit(".", 1)[-1] + ".py" for name in BUILTINS.values()}
    assert modules <= {p.name for p in PLUGIN_DIR.glob("*.py")}


@pytest.mark.parametrize("name", list(BUILTINS))
def test_every_builtin_conforms(name):
    results = assert_plugin_conforms(name, **CONTEXT.get(name, {}))
    # Passing only the generic checks would say nothing about what the plugin does.
    specific = {r.check for r in results if r.passed and r.check.split(".")[0] not in GENERIC}
    assert specific, f"{name}: no check about its own hooks ran ({[str(r) for r in results]})"
