"""Shared helpers for the figures of ``ganlab verify --plot DIR``.

Each family draws its own figure from its results' data (``Family.plot``:
``optimal_d.png``, ``saturation.png``, ``dirac.png``); this module only
iterates them and holds what they share. matplotlib is imported on first
use, so a run without ``--plot`` never loads it.
"""

from __future__ import annotations

from pathlib import Path

from ganlab.analysis import claims as C
from ganlab.analysis.families import families


def write_all(report, out: str | Path) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for family in families():
        if family.plot is not None:
            path = family.plot(report, out)
            if path is not None:
                written.append(path)
    return written


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    return plt


MARKERS = ("o", "s", "^", "D", "v", "P", "X")
LINES = ("-", "--", ":", "-.")


def style(i: int) -> dict:
    """A colour, marker and line style for series i, distinct for every i below 20·7: a legend of
    dozens of entries tells each line apart (colour alone repeats after 10 or 20)."""
    import matplotlib

    colour = matplotlib.colormaps["tab20"](i % 20)
    return {"color": colour, "marker": MARKERS[(i // 20 + i) % len(MARKERS)],
            "linestyle": LINES[(i // 20 + i // 5) % len(LINES)]}


def rows(report, claim: str, key: str) -> list[C.Result]:
    return [r for r in report.results if r.claim == claim and key in r.data]


def save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
    return path
