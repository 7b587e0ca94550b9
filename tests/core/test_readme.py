"""The README opens with the two commands a new user runs, and CI runs the second; every relative
link in the README and docs/ reaches a file (and, with an anchor, a heading of that file)."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


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


def test_the_readme_is_a_front_page():
    assert len((REPO / "README.md").read_text().splitlines()) <= 260


def _prose_lines(path: Path):
    """Lines outside fenced code blocks, with inline code spans removed."""
    inside = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            inside = not inside
        elif not inside:
            yield re.sub(r"`[^`]*`", "", line)


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, -1, -2... for repeats."""
    seen, anchors = {}, set()
    inside = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            inside = not inside
        elif not inside and re.match(r"#{1,6} ", line):
            slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().replace("`", "").lower()).replace(" ", "-")
            anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_every_relative_link_reaches_a_file_and_heading():
    broken = []
    for page in PAGES:
        for line in _prose_lines(page):
            for target in LINK.findall(line):
                if re.match(r"[a-z]+:", target):  # https:, mailto:
                    continue
                path, _, anchor = target.partition("#")
                dest = (page.parent / path).resolve() if path else page
                if not dest.exists():
                    broken.append(f"{page.relative_to(REPO)}: {target} (no such file)")
                elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                    broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_link_check_sees_links():
    found = [t for page in PAGES for line in _prose_lines(page) for t in LINK.findall(line)]
    assert len(found) >= 20 and "docs/images/lsgan_mnist_step3000.png" in found
