"""The host knows no built-in plugin by name: built-ins are ordinary plugins.

Only the table of defaults (``ganlab/defaults.py``) names them. Everything else
a built-in brings (its datasets, their evaluation, its options) reaches the
host through hooks, as a third-party plugin's would.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ganlab.defaults import BUILTINS

ROOT = Path(__file__).resolve().parents[2]
HOST = ROOT / "ganlab"
TABLE = HOST / "defaults.py"
# analysis/ is packaged as ganlab.analysis: verify is host code too, so it names no built-in either
# (plugins declare their own verify variants through ganlab_verify_variants).
HOST_FILES = sorted(p for p in [*HOST.rglob("*.py"), *(ROOT / "analysis").rglob("*.py")] if p != TABLE)


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, kinds) and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}


def plugin_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("ganlab.plugins")]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("ganlab.plugins"):
                found.append(node.module)
            elif node.module == "ganlab" and any(a.name == "plugins" for a in node.names):
                found.append("ganlab.plugins")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__"):
            found += [a.value for a in node.args if isinstance(a, ast.Constant) and str(a.value).startswith(
                "ganlab.plugins")]
    return found


# "data" is also the everyday key of every dataset field and record, so a bare
# "data" string says nothing; a plugin *name* in use shows as an option path
# ("data.ring_std", [options.data]) or a --plugin argument, which is checked for
# every name. The other names are checked as whole strings too.
WORDS = {"data"}


def plugin_names_in_strings(source: str) -> list[str]:
    tree = ast.parse(source)
    docs = _docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in docs:
            continue
        text = node.value
        for name in BUILTINS:
            n = re.escape(name)
            used = re.search(rf"(--plugin|-p)\s+{n}\b|(?<![\w.-]){n}\.[a-z_]+\s*=|options\.{n}\b", text)
            if used or (text == name and name not in WORDS):
                hits.append(f"{name!r} in {text[:60]!r} (line {node.lineno})")
    return hits


@pytest.mark.parametrize("path", HOST_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_host_module_imports_a_builtin_plugin(path):
    assert plugin_imports(path.read_text()) == []


@pytest.mark.parametrize("path", HOST_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_host_string_names_a_builtin_plugin(path):
    assert plugin_names_in_strings(path.read_text()) == []


def test_the_checks_catch_what_they_look_for():
    """Each check flags a host module that names a built-in (so a pass means something)."""
    assert plugin_imports("from ganlab.plugins import data") == ["ganlab.plugins"]
    assert plugin_imports("from ganlab import plugins") == ["ganlab.plugins"]
    assert plugin_imports("def f():\n    import ganlab.plugins.lsgan") == ["ganlab.plugins.lsgan"]
    assert plugin_imports("importlib.import_module('ganlab.plugins.mlp')") == ["ganlab.plugins.mlp"]
    assert plugin_imports("import ganlab.options") == []
    assert len(plugin_names_in_strings('x = "lsgan"')) == 1
    assert len(plugin_names_in_strings('x = f"use -o data.ring_std={v}"')) == 1
    assert len(plugin_names_in_strings('x = "add --plugin sn to fix it"')) == 1
    assert plugin_names_in_strings('x = "data"') == []  # a dict key, see WORDS
    assert plugin_names_in_strings('"""the lsgan docs may name plugins"""') == []


def test_the_table_of_defaults_names_only_registered_builtins():
    from ganlab.defaults import ALWAYS_ACTIVE, DEFAULT_PROVIDERS, TINY_OPTIONS

    assert set(ALWAYS_ACTIVE) | set(DEFAULT_PROVIDERS.values()) | set(TINY_OPTIONS) <= set(BUILTINS)
