"""The README's table of `ganlab run` flags agrees with the argument parser, and every
`ganlab ...` command in the README's and docs' code blocks parses.

The table is the one under the header ``| flag | default | meaning |``: its first column
names flags in backticks, its second their defaults, one per flag, separated by ", " (or one
for all of the row's flags, or none). The parser comes from ``ganlab.cli.build_parser()``;
each flag's default is read from its help text, which ends in "(default X)".
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

from ganlab.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
HEADER = "| flag | default | meaning |"
FLAG = re.compile(r"`(-{1,2}[A-Za-z][\w-]*)`")
HELP_DEFAULT = re.compile(r"\(default ([^()]*)\)\s*$")


def _run_parser() -> argparse.ArgumentParser:
    """`ganlab run`'s parser, found through the subcommands action of ganlab's parser."""
    parser = build_parser()
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(subcommands) == 1, "ganlab's parser should have one set of subcommands"
    return subcommands[0].choices["run"]


def _run_actions() -> list[argparse.Action]:
    """Every option of `ganlab run` but --help."""
    return [a for a in _run_parser()._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def _name(action: argparse.Action) -> str:
    return next((s for s in action.option_strings if s.startswith("--")), action.option_strings[0])


def _help_default(action: argparse.Action) -> str | None:
    found = HELP_DEFAULT.search(action.help or "")
    return found.group(1) if found else None


def _split_top_level(cell: str) -> list[str]:
    """Split on ", " outside parentheses and backticks."""
    parts, depth, tick, current = [], 0, False, ""
    i = 0
    while i < len(cell):
        ch = cell[i]
        if ch == "`":
            tick = not tick
        elif ch == "(" and not tick:
            depth += 1
        elif ch == ")" and not tick:
            depth -= 1
        if cell.startswith(", ", i) and depth == 0 and not tick:
            parts.append(current.strip())
            current, i = "", i + 2
            continue
        current += ch
        i += 1
    if current.strip():
        parts.append(current.strip())
    return parts


def _table(text: str) -> list[tuple[list[str], list[str]]]:
    """The flag table's rows as (flags, defaults)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == HEADER]
    assert len(starts) == 1, f"expected one table headed {HEADER!r}, found {len(starts)}"
    rows = []
    for line in lines[starts[0] + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        assert len(cells) == 3, f"a flag row needs three cells: {line}"
        flags = FLAG.findall(cells[0])
        assert flags and FLAG.sub("", cells[0]).replace(",", "").strip() == "", \
            f"the first cell should hold only flags in backticks: {cells[0]!r}"
        defaults = _split_top_level(cells[1])
        assert len(defaults) in (0, 1, len(flags)), f"give one default per flag, one for all, or none: {line}"
        if len(defaults) == 1:
            defaults = defaults * len(flags)
        rows.append((flags, defaults))
    return rows


def _normalise(value: str) -> str:
    value = value.replace("`", "")
    value = re.sub(r"\s*\([^()]*\)", "", value)  # "0 (off)" -> "0"
    return value.strip().lower()


def _same(a: str, b: str) -> bool:
    a, b = _normalise(a), _normalise(b)
    if a == b:
        return True
    try:
        return float(a) == float(b)  # 2e-4 and 0.0002
    except ValueError:
        return False


def _table_flags(rows) -> dict[str, str | None]:
    table = {}
    for flags, defaults in rows:
        for i, flag in enumerate(flags):
            assert flag not in table, f"{flag} is in the table twice"
            table[flag] = defaults[i] if defaults else None
    return table


README_TABLE = _table_flags(_table(README.read_text()))


def test_the_table_covers_the_trainer_settings():
    groups = {g.title: g for g in _run_parser()._action_groups}
    assert "trainer settings" in groups, "the run parser lost its 'trainer settings' group"
    trainer = [_name(a) for a in groups["trainer settings"]._group_actions]
    assert len(trainer) >= 10
    missing = [flag for flag in trainer if flag not in README_TABLE]
    assert not missing, f"trainer flags missing from the README's table: {missing}"


def test_every_flag_in_the_table_exists():
    known = {s for a in _run_actions() for s in a.option_strings}
    unknown = [flag for flag in README_TABLE if flag not in known]
    assert not unknown, f"the README's flag table names flags `ganlab run` does not accept: {unknown}"


def test_every_run_flag_is_in_the_table():
    missing = [_name(a) for a in _run_actions() if not any(s in README_TABLE for s in a.option_strings)]
    assert not missing, f"`ganlab run` flags missing from the README's flag table: {missing}"


def test_the_table_states_the_parsers_defaults():
    wrong = []
    for action in _run_actions():
        flags = [s for s in action.option_strings if s in README_TABLE]
        if not flags:
            continue  # test_every_run_flag_is_in_the_table reports it
        stated, actual = README_TABLE[flags[0]], _help_default(action)
        if actual is None and stated is not None:
            wrong.append(f"{flags[0]}: the table says {stated!r}, the help names no default")
        elif actual is not None and (stated is None or not _same(stated, actual)):
            wrong.append(f"{flags[0]}: the table says {stated!r}, the help says {actual!r}")
    assert not wrong, "the README's flag table disagrees with `ganlab run --help`:\n" + "\n".join(wrong)


SUBCOMMANDS = ("run", "plugins", "verify", "eval", "compare")


def _code_block_commands(path: Path) -> list[str]:
    """`ganlab ...` commands in a Markdown file's bash code blocks, continuations joined. Untyped
    blocks also hold program output ("ganlab 13.35 ms/step"), so there only lines that name a
    subcommand count."""
    commands, inside, kind, pending = [], False, "", ""
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            inside, kind = not inside, line[3:].strip()
            continue
        if not inside or kind not in ("bash", "sh", ""):
            continue
        line = pending + line.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        for part in line.split("&&"):
            if not part.strip().startswith("ganlab "):
                continue
            if kind == "" and part.split()[1] not in SUBCOMMANDS:
                continue
            words = shlex.split(part.replace("$(nproc)", "2"), comments=True)
            commands.append(shlex.join(words[1:]))
    return commands


def _examples() -> list[tuple[str, str]]:
    return [(path.relative_to(REPO).as_posix(), command)
            for path in [README, *sorted((REPO / "docs").glob("*.md"))]
            for command in _code_block_commands(path)]


def test_the_readme_shows_each_command():
    shown = {shlex.split(command)[0] for path, command in _examples() if path == "README.md"}
    assert shown >= set(SUBCOMMANDS), f"the README shows no example of: {set(SUBCOMMANDS) - shown}"


def _strict_parser() -> argparse.ArgumentParser:
    """ganlab's parser with abbreviations off, so `--resum` in an example is an error, not --resume."""
    parser = build_parser()
    parsers = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            parsers += action.choices.values()
    for p in parsers:
        p.allow_abbrev = False
    return parser


def test_every_example_command_parses(capsys):
    examples, refused = _examples(), []
    assert len(examples) >= 20
    for path, command in examples:
        try:
            _strict_parser().parse_args(shlex.split(command))
        except SystemExit:
            refused.append(f"{path}: ganlab {command}\n    {capsys.readouterr().err.strip().splitlines()[-1]}")
    assert not refused, "example commands the argument parser refuses:\n" + "\n".join(refused)
