"""Validators for plugin options, called from an options dataclass's ``__post_init__``.

They raise ``ValueError``, which ganlab reports as an invalid option naming
the plugin, so the message only needs to say which field and why.
"""

from __future__ import annotations

import math

__all__ = ["require_finite_nonnegative"]


def require_finite_nonnegative(name: str, value: float) -> None:
    """A penalty weight: 0 turns the term off, and inf or nan would poison the loss."""
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
