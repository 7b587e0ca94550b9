"""Every hook is documented and exercised by at least one test (datasette-style meta-tests)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from ganlab import hookspecs
from ganlab.manager import HOOK_NAMES, SINGLE_ANSWER_HOOKS

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "plugin-guide.md"
REQUIRED = {"ganlab_generator", "ganlab_discriminator", "ganlab_conditioner", "ganlab_d_loss",
            "ganlab_g_loss", "ganlab_regularizer"}


def test_the_six_contract_hooks_exist_with_their_arity():
    assert REQUIRED <= set(HOOK_NAMES)
    assert {"ganlab_generator", "ganlab_discriminator", "ganlab_conditioner", "ganlab_d_loss",
            "ganlab_g_loss"} <= set(SINGLE_ANSWER_HOOKS)
    assert "ganlab_regularizer" not in SINGLE_ANSWER_HOOKS  # penalties of all plugins add up
    assert list(inspect.signature(hookspecs.ganlab_d_loss).parameters)[:2] == ["real_scores", "fake_scores"]
    assert list(inspect.signature(hookspecs.ganlab_g_loss).parameters)[:2] == ["fake_scores", "real_scores"]


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_hook_has_a_docstring_saying_what_it_returns(name):
    doc = " ".join((inspect.getdoc(getattr(hookspecs, name)) or "").split())
    assert len(doc) > 80, f"{name} needs a docstring"
    assert re.search(r"\breturns?\b|\bignored\b", doc, re.IGNORECASE), f"{name}'s docstring must say what it returns"
    if name in SINGLE_ANSWER_HOOKS:
        assert "single answer" in doc.lower(), f"{name} is firstresult: say so in its docstring"


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_hook_has_typed_arguments(name):
    sig = inspect.signature(getattr(hookspecs, name))
    missing = [p for p, v in sig.parameters.items() if v.annotation is inspect.Parameter.empty]
    assert not missing and sig.return_annotation is not inspect.Signature.empty


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_hook_is_in_the_plugin_guide(name):
    assert f"`{name}" in GUIDE.read_text(), f"document {name} in {GUIDE.relative_to(REPO)}"


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_hook_is_implemented_in_some_test(name):
    """A test plugin implements it (so the trainer's call of it is exercised)."""
    this = Path(__file__).resolve()
    pattern = re.compile(rf"(def {name}\(|\b{name}=)")
    users = [p for p in (REPO / "tests").rglob("test_*.py") if p.resolve() != this and pattern.search(p.read_text())]
    assert users, f"no test implements {name}"


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_the_guide_gives_each_hook_its_exact_signature(name):
    """The guide's hook table lists every argument of the spec, in order, and no other."""
    args = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    rows = re.findall(rf"^\| `{name}\(([^)]*)\)`", GUIDE.read_text(), re.MULTILINE)
    assert rows == [args], f"the hook table in {GUIDE.name} should list `{name}({args})`"
