"""The README opens with the two commands a new user runs, and CI runs the second."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _first_commands():
    blocks, inside, current = [], False, []
    for line in (REPO / "README.md").read_text().splitlines():
        if line.startswith("```"):
            if inside:
                blocks.append("\n".join(current).strip())
                current = []
            inside = not inside
        elif inside:
            current.append(line)
    return blocks[:2]


def test_readme_opens_with_run_and_test_commands():
    run, test = _first_commands()
    assert "pip install" in run and "ganlab run --plugin lsgan" in run
    assert "pip install" in test and "pytest" in test


def test_ci_runs_the_readme_test_command_verbatim():
    _, test = _first_commands()
    assert test in (REPO / ".ci" / "run").read_text().splitlines()
