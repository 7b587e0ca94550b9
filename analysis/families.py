"""The registry of check families that ``ganlab verify`` runs.

A family is one module in ``analysis/`` that ends with
``FAMILY = Family(...)``: the claims it reports, whether it applies to a
probe, how it runs, and optionally rows about the mathematics alone and a
figure. :data:`FAMILY_MODULES` is the one place that lists them, in table
order; adding a family means one new module, its name here, and its test.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ganlab.analysis import claims as C

if TYPE_CHECKING:
    from ganlab.analysis.probe import LossProbe

FAMILY_MODULES = (
    "generic_checks",
    "optimal_d",
    "criterion",
    "saturation",
    "disjoint",
    "dirac",
    "relativistic_g",
    "gradient_penalty_checks",
    "penalty_placement",
    "per_sample",
    "spectral",
    "equilibrium",
    "weight_average",
    "packing",
)


@dataclass(frozen=True)
class Family:
    name: str
    claims: tuple[C.ClaimInfo, ...]
    run: Callable[[LossProbe], list[C.Result]]
    applies: Callable[[LossProbe], bool]
    # Rows that touch no plugin, added once to a full run (shown as INFO).
    standalone: Callable[[], list[C.Result]] | None = None
    plot: Callable[[C.Report, Path], Path | None] | None = None


def families() -> list[Family]:
    return [importlib.import_module(f"ganlab.analysis.{m}").FAMILY for m in FAMILY_MODULES]


def all_claims() -> dict[str, C.ClaimInfo]:
    return {c.name: c for f in families() for c in f.claims}
