"""The plugin-facing facade, and an import graph without cycles.

The rules, one test (or group) each:

* **(a) Plugins import only the facade.** A file under ``plugins/`` or
  ``examples/`` imports ganlab only as ``import ganlab`` or
  ``from ganlab import NAME`` with ``NAME`` in ``ganlab.__all__``, and reads
  no other ``ganlab.X`` attribute (dunders such as ``ganlab.__file__`` aside).
  Besides that, a plugin package (``plugins/NAME/``) may import its own
  modules, and a test file (``test_*.py``, ``conftest.py`` or any file under a
  ``tests/`` folder) may also import :mod:`ganlab.testing`. Imports inside
  functions count too; ``build/`` copies and egg-info are not sources.
* **(b) The facade resolves.** Every name in ``ganlab.__all__`` loads, and
  docs/plugin-guide.md lists each one under "What a plugin imports".
* **(c) No import cycle.** The modules under ``ganlab/`` and ``analysis/``
  (packaged as ``ganlab.analysis``) import one another without a cycle,
  counting every import that runs or is read when a module is imported: its
  top level, ``if TYPE_CHECKING:`` blocks, ``try`` blocks and class bodies,
  but not function bodies (those run later, once everything is loaded).
* **(d) The hook contract imports no run machinery.** ``hookspecs.py``
  imports (at any level) only :data:`HOOKSPECS_MAY_IMPORT`, and the ganlab
  modules it reaches through them are only :data:`LEAF_TYPES`.
* **(e) ``import ganlab`` is cheap**: it imports no torch (the command line
  checks names and flags before torch is loaded).

``test_the_checks_catch_what_they_look_for`` feeds each check a violation,
so a pass means something.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import ganlab

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "plugin-guide.md"
GUIDE_SECTION = "## What a plugin imports"
# Where each package of the ganlab distribution lives (pyproject's package-dir).
PACKAGE_DIRS = {"ganlab": REPO / "ganlab", "ganlab.analysis": REPO / "analysis"}
PLUGIN_ROOTS = [REPO / "plugins", REPO / "examples"]
NOT_SOURCES = {"build", "dist", "__pycache__"}

# (d): what hookspecs.py may import, at any level: the marker, typing, torch and the leaf modules
# that define the types hooks receive and return.
HOOKSPECS_MAY_IMPORT = {
    "__future__", "typing", "pathlib", "pluggy", "torch",
    "ganlab",               # the hookspec marker
    "ganlab.hooktypes",     # ValidationView, Metric, MetricBatch
    "ganlab.conditioning",  # Conditioner
    "ganlab.datasets",      # DataSpec, DatasetFactory
    "ganlab.options",       # Options
    "ganlab.regularizers",  # Regularizer
}
# The ganlab modules that hookspecs may reach, directly or through others.
LEAF_TYPES = {m for m in HOOKSPECS_MAY_IMPORT if m.startswith("ganlab")} | {"ganlab.errors"}


# --- (a) plugins import only the facade ---------------------------------------------------------


def _is_test_file(path: Path) -> bool:
    return path.name.startswith("test_") or path.name == "conftest.py" or "tests" in path.parts


def _own_package(path: Path) -> str | None:
    """``ganlab.plugins.NAME`` for a file of a built-in plugin package ``plugins/NAME/``."""
    rel = path.relative_to(REPO)
    if rel.parts[0] == "plugins" and len(rel.parts) > 2:
        return f"ganlab.plugins.{rel.parts[1]}"
    return None


def _facade_modules() -> dict[str, str]:
    """Module name -> the facade name that exports the whole module (``ganlab.analysis.claims`` -> ``claims``)."""
    return {getattr(ganlab, n).__name__: n for n in ganlab.__all__ if isinstance(getattr(ganlab, n), types.ModuleType)}


def _instead(module: str, name: str | None = None) -> str:
    """What to write instead of importing ``name`` from ``module`` (or the whole ``module``)."""
    modules = _facade_modules()
    for candidate in ([f"{module}.{name}"] if name else []) + [module]:
        if candidate in modules:
            return f"from ganlab import {modules[candidate]}"
    if name and name in ganlab.__all__:
        return f"from ganlab import {name}"
    what = name or module
    return f"nothing: {what} is not in the facade (export it from ganlab/__init__.py and list it in " \
           f"docs/plugin-guide.md if plugins need it)"


def facade_violations(source: str, *, own_package: str | None = None, test_file: bool = False) -> list[str]:
    """``line: what, and what to use instead`` for each way ``source`` reaches past the facade."""
    allowed_packages = ([own_package] if own_package else []) + (["ganlab.testing"] if test_file else [])

    def allowed(module: str) -> bool:
        return any(module == p or module.startswith(p + ".") for p in allowed_packages)

    exported = set(ganlab.__all__) | ({"testing"} if test_file else set())
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ganlab.") and not allowed(alias.name):
                    found.append(f"{node.lineno}: import {alias.name}; use {_instead(alias.name)}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "ganlab":
                found += [f"{node.lineno}: from ganlab import {a.name}; {a.name} is not in ganlab.__all__"
                          for a in node.names if a.name not in exported and not allowed(f"ganlab.{a.name}")]
            elif node.module.startswith("ganlab.") and not allowed(node.module):
                found += [f"{node.lineno}: from {node.module} import {a.name}; use {_instead(node.module, a.name)}"
                          for a in node.names]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ganlab":
            if not (node.attr.startswith("__") or node.attr in exported):
                found.append(f"{node.lineno}: ganlab.{node.attr}; use {_instead('ganlab', node.attr)}")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__"):
            found += [f"{node.lineno}: imports {a.value!r} by name; use {_instead(a.value)}" for a in node.args
                      if isinstance(a, ast.Constant) and str(a.value).startswith("ganlab.") and not allowed(a.value)]
    return found


def _plugin_files() -> list[Path]:
    files = []
    for root in PLUGIN_ROOTS:
        files += [p for p in root.rglob("*.py")
                  if not NOT_SOURCES & set(p.relative_to(root).parts)
                  and not any(part.endswith(".egg-info") for part in p.parts)]
    return sorted(files)


PLUGIN_FILES = _plugin_files()


def test_plugin_files_are_found():
    rel = {str(p.relative_to(REPO)) for p in PLUGIN_FILES}
    assert {"plugins/gan.py", "plugins/mnist_metrics/train.py", "examples/ganlab-ragan/ganlab_ragan/__init__.py",
            "examples/ganlab-ragan/tests/test_conformance.py"} <= rel
    assert not [r for r in rel if "/build/" in r]


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_plugins_and_examples_import_only_the_facade(path):
    found = facade_violations(path.read_text(encoding="utf-8"), own_package=_own_package(path),
                              test_file=_is_test_file(path))
    rel = path.relative_to(REPO)
    assert not found, "import from the facade `ganlab` only (docs/plugin-guide.md, \"What a plugin imports\"):\n" + \
        "\n".join(f"  {rel}:{line}" for line in found)


# --- (b) the facade resolves and is documented --------------------------------------------------


def test_every_facade_name_resolves():
    assert len(ganlab.__all__) == len(set(ganlab.__all__)), "a name is listed twice in ganlab.__all__"
    broken = []
    for name in ganlab.__all__:
        try:
            getattr(ganlab, name)
        except Exception as exc:  # an ImportError or AttributeError from a wrong lazy table
            broken.append(f"{name}: {type(exc).__name__}: {exc}")
    assert not broken, "names in ganlab.__all__ that do not load:\n  " + "\n  ".join(broken)
    assert set(ganlab.__all__) <= set(dir(ganlab))


def test_every_facade_name_resolves_in_a_fresh_interpreter():
    """Without the modules other tests loaded already, so an entry that only works by accident fails."""
    code = ("import ganlab\nbad = []\nfor n in ganlab.__all__:\n    try:\n        getattr(ganlab, n)\n"
            "    except Exception as e:\n        bad.append(f'{n}: {e!r}')\nprint(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        ganlab.no_such_name  # noqa: B018
    assert not hasattr(ganlab, "no_such_name")


def _guide_section() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    assert GUIDE_SECTION in text, f"{GUIDE.name} needs a section {GUIDE_SECTION!r}"
    section = text.split(GUIDE_SECTION, 1)[1]
    return re.split(r"^## ", section, maxsplit=1, flags=re.MULTILINE)[0]


def test_the_plugin_guide_lists_every_facade_name():
    section = _guide_section()
    listed = set(re.findall(r"^\s*[-*] `([A-Za-z_][A-Za-z0-9_]*)`", section, re.MULTILINE))
    missing = sorted(set(ganlab.__all__) - listed)
    unknown = sorted(listed - set(ganlab.__all__) - {"testing"})
    assert not missing, f"list these in {GUIDE.name}, {GUIDE_SECTION!r}: {', '.join(missing)}"
    assert not unknown, f"{GUIDE.name} lists names ganlab does not export: {', '.join(unknown)}"


# --- (c) no import cycle ------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    for package, folder in PACKAGE_DIRS.items():
        if path.is_relative_to(folder):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise ValueError(path)


def load_time_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """The imports that run (or that a type checker reads) when the module is imported: not those in functions."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            else:  # if TYPE_CHECKING:, try/except, with, class bodies, ...
                for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                    for child in getattr(node, field, None) or []:
                        visit(child.body if isinstance(child, (ast.ExceptHandler, ast.match_case)) else [child])

    visit(tree.body)
    return found


def import_graph(sources: dict[str, tuple[str, bool]]) -> dict[str, dict[str, int]]:
    """``{module: {imported module: line}}`` among ``sources`` (``{module: (source, is_package)}``)."""
    graph: dict[str, dict[str, int]] = {}
    for module, (source, is_package) in sources.items():
        edges: dict[str, int] = {}
        for node in load_time_imports(ast.parse(source)):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    package = module if is_package else module.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}" if base else package
                # `from P import x` reaches submodule P.x when there is one, else P itself.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in sources else base for a in node.names]
            for target in targets:
                if target in sources and target != module:
                    edges.setdefault(target, node.lineno)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def _sources() -> dict[str, tuple[str, bool]]:
    return {_module_name(p): (p.read_text(encoding="utf-8"), p.name == "__init__.py")
            for folder in PACKAGE_DIRS.values() for p in sorted(folder.rglob("*.py"))}


def _describe(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    return "\n".join(f"  {a} imports {b} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:]))


def test_the_ganlab_modules_have_no_import_cycle():
    graph = import_graph(_sources())
    assert {"ganlab", "ganlab.hookspecs", "ganlab.manager", "ganlab.analysis.claims"} <= set(graph)
    cycle = find_cycle(graph)
    assert cycle is None, ("import cycle (TYPE_CHECKING imports count: move the shared types to a leaf module "
                           "such as ganlab/hooktypes.py):\n" + _describe(cycle, graph))


# --- (d) hookspecs imports no run machinery -----------------------------------------------------


def _every_import(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def hookspecs_problems(source: str, graph: dict[str, dict[str, int]]) -> list[str]:
    allowed = {m for m in HOOKSPECS_MAY_IMPORT}
    bad = [f"line {line}: imports {module}" for line, module in _every_import(source)
           if module not in allowed and module.split(".")[0] not in {"torch"}]
    reached, todo = set(), [m for m in graph.get("ganlab.hookspecs", {})]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo += list(graph.get(module, {}))
    bad += [f"reaches {module}" for module in sorted(reached - LEAF_TYPES - {"ganlab.hookspecs"})]
    return bad


def test_hookspecs_imports_no_run_machinery():
    source = (REPO / "ganlab" / "hookspecs.py").read_text(encoding="utf-8")
    problems = hookspecs_problems(source, import_graph(_sources()))
    assert not problems, (f"hookspecs.py may import only {sorted(HOOKSPECS_MAY_IMPORT)} and reach only the leaf "
                          f"modules {sorted(LEAF_TYPES)}:\n  " + "\n  ".join(problems))


# --- (e) import ganlab stays cheap --------------------------------------------------------------


@pytest.mark.parametrize("module", ["ganlab", "ganlab.hookspecs"])
def test_importing_the_facade_imports_no_torch(module):
    code = f"import sys\nimport {module}\ndir(ganlab)\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0 and out.stdout.strip() == "False", f"import {module} imported torch: " + \
        out.stdout + out.stderr


# --- the checks find what they look for ---------------------------------------------------------


def test_the_checks_catch_what_they_look_for():
    # (a) every way past the facade, and what is allowed
    assert facade_violations("from ganlab.regularizers import Regularizer") == [
        "1: from ganlab.regularizers import Regularizer; use from ganlab import Regularizer"]
    assert facade_violations("def f():\n    from ganlab.analysis import claims as C") == [
        "2: from ganlab.analysis import claims; use from ganlab import claims"]
    assert facade_violations("from ganlab.analysis.densities import jsd") == [
        "1: from ganlab.analysis.densities import jsd; use from ganlab import densities"]
    assert "use from ganlab import augment" in facade_violations("import ganlab.augment")[0]
    assert "not in ganlab.__all__" in facade_violations("from ganlab import manager")[0]
    assert "not in the facade" in facade_violations("import ganlab\nganlab.manager.make_plugin_manager()")[0]
    assert "by name" in facade_violations("importlib.import_module('ganlab.runsetup')")[0]
    assert facade_violations("from ganlab.testing import check_plugin") != []
    assert facade_violations("from ganlab.testing import check_plugin", test_file=True) == []
    assert facade_violations("from ganlab import testing", test_file=True) == []
    assert facade_violations("from ganlab.plugins.mnist_metrics.classifier import sha256",
                             own_package="ganlab.plugins.mnist_metrics") == []
    assert facade_violations("from ganlab.plugins.data import mixture",
                             own_package="ganlab.plugins.mnist_metrics") != []
    assert facade_violations("import ganlab\nfrom ganlab import hookimpl, claims as C\nx = ganlab.__file__") == []
    # (c) cycles through TYPE_CHECKING blocks and class bodies count; imports inside functions do not
    cyclic = {"ganlab.a": ("from ganlab.b import B", False),
              "ganlab.b": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ganlab.a import A", False)}
    graph = import_graph(cyclic)
    assert find_cycle(graph) == ["ganlab.a", "ganlab.b", "ganlab.a"]
    assert "ganlab.b imports ganlab.a (line 3)" in _describe(find_cycle(graph), graph)
    lazy = dict(cyclic, **{"ganlab.b": ("def f():\n    from ganlab.a import A", False)})
    assert find_cycle(import_graph(lazy)) is None
    in_class = dict(cyclic, **{"ganlab.b": ("class B:\n    from ganlab.a import A", False)})
    assert find_cycle(import_graph(in_class)) is not None
    relative = {"ganlab.p": ("from . import q", True), "ganlab.p.q": ("from .. import p", False)}
    assert find_cycle(import_graph(relative)) == ["ganlab.p", "ganlab.p.q", "ganlab.p"]
    # (d) a direct import of run machinery, anywhere, and one reached through a leaf module
    assert hookspecs_problems("def f():\n    from ganlab.runsetup import build_run", {}) == [
        "line 2: imports ganlab.runsetup"]
    reach = {"ganlab.hookspecs": {"ganlab.hooktypes": 1}, "ganlab.hooktypes": {"ganlab.config": 3}}
    assert hookspecs_problems("from ganlab.hooktypes import ValidationView", reach) == ["reaches ganlab.config"]
