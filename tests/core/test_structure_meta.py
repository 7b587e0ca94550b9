"""The seams of the second restructuring, kept by tests.

* One module names a run folder's files (``ganlab/runfolder.py``); one list
  says what a checkpoint holds, and the trainer writes exactly that.
* Every subcommand is a module of ``ganlab/commands/`` with the same four
  names, and no command imports another.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

from ganlab import commands, runfolder
from ganlab.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
CODE = sorted(p for d in ("ganlab", "analysis", "plugins") for p in (ROOT / d).rglob("*.py"))
# The file names; the folder names ("samples", "checkpoints") are also ordinary words.
FOLDER_NAMES = {runfolder.CONFIG, runfolder.LOCK, runfolder.METRICS, runfolder.EVAL, runfolder.CHECKPOINT,
                runfolder.LOSS_PLOT, runfolder.EVAL_PLOT, runfolder.STATUS}


def _spelled(path: Path, root: Path = ROOT) -> list[str]:
    """String constants equal to a run-folder name (prose in docstrings that mentions one is fine)."""
    return [f"{path.relative_to(root)}:{node.lineno} {node.value!r}" for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and node.value in FOLDER_NAMES]


def test_only_runfolder_spells_a_run_folder_file_name():
    spelled = [hit for path in CODE if path.name != "runfolder.py" for hit in _spelled(path)]
    assert not spelled, "ask ganlab.runfolder.RunFolder for these paths: " + ", ".join(spelled)


def test_the_meta_test_sees_a_spelled_name(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('"""Writes metrics.jsonl."""\nfrom pathlib import Path\nPATH = Path("run") / "metrics.jsonl"\n')
    assert _spelled(bad, tmp_path) == ["bad.py:3 'metrics.jsonl'"]


def test_a_checkpoint_holds_exactly_the_listed_contents_in_order(run_tiny):
    trainer = run_tiny(["wgan-gp", "ema"], train={"steps": 1})
    assert list(trainer.state_dict()) == [e.key for e in runfolder.CHECKPOINT_CONTENTS]


def test_every_listed_kind_is_one_the_schema_check_knows():
    from ganlab.checkpoint import _TYPES

    assert {k for e in runfolder.CHECKPOINT_CONTENTS for k in e.kinds} <= set(_TYPES)


def _command_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))


def test_the_command_table_lists_every_command_module():
    assert sorted(commands.COMMANDS) == _command_modules()


@pytest.mark.parametrize("name", commands.COMMANDS)
def test_every_command_has_the_same_interface(name):
    module = importlib.import_module(f"ganlab.commands.{name}")
    assert isinstance(module.HELP, str) and module.HELP and isinstance(module.DESCRIPTION, str)
    assert callable(module.add_arguments) and callable(module.main)


def _imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


@pytest.mark.parametrize("name", commands.COMMANDS)
def test_no_command_imports_another(name):
    others = {f"ganlab.commands.{o}" for o in commands.COMMANDS if o != name}
    used = _imported(ROOT / "ganlab" / "commands" / f"{name}.py") & others
    assert not used, f"ganlab.commands.{name} imports {sorted(used)}; move what they share to ganlab.commands"


def test_only_the_cli_reaches_the_commands():
    hits = [str(p.relative_to(ROOT)) for p in CODE if "commands" not in p.parts and p.name != "cli.py"
            and any(m.startswith("ganlab.commands.") for m in _imported(p))]
    assert not hits


def test_the_parser_has_one_subcommand_per_module_wired_to_its_main():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == list(commands.COMMANDS)
    for name, p in sub.choices.items():
        assert p.get_default("handler") is importlib.import_module(f"ganlab.commands.{name}").main
