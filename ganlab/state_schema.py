"""What a saved state must hold, so a damaged checkpoint is refused before anything is restored.

A plugin whose regularizer keeps state between steps declares it with
:meth:`ganlab.regularizers.Regularizer.state_spec`: one :class:`Expect` per
key of its ``state_dict()``. The host checks a checkpoint's copy against it
(and the parts it owns itself: loss scalers, the batcher, networks and an
average of G's weights) in :func:`ganlab.checkpoint_contents.problems`, and
names the plugin and key of anything wrong in one error line. Nothing resumes
with its state silently reset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping

import torch


@dataclass(frozen=True)
class Expect:
    """One key of a saved state: its kind and, for numbers, the range it must lie in.

    ``kind``: ``"number"`` (a float, int or one-element floating tensor),
    ``"int"``, ``"bool"`` or ``"tensor"`` (any tensor; ``shape`` fixes its
    shape). Numbers are finite unless ``finite=False``; ``low``/``high`` bound
    them inclusively and ``positive`` asks for > 0.
    """

    kind: Literal["number", "int", "bool", "tensor"] = "number"
    low: float | None = None
    high: float | None = None
    positive: bool = False
    finite: bool = True
    shape: tuple[int, ...] | None = None

    def problem(self, value: Any) -> str | None:
        """Why ``value`` does not fit, or None."""
        if self.kind == "tensor":
            if not isinstance(value, torch.Tensor):
                return f"is {type(value).__name__}, expected a tensor"
            if self.shape is not None and tuple(value.shape) != self.shape:
                return f"has shape {tuple(value.shape)}, expected {self.shape}"
            return None
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"is {type(value).__name__}, expected true or false"
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return f"is {type(value).__name__}, expected an integer"
            number = float(value)
        else:
            number = _number(value)
            if number is None:
                return f"is {_describe(value)}, expected a number"
        if self.finite and not math.isfinite(number):
            return f"is {number}, expected a finite number"
        if self.positive and not number > 0:
            return f"is {number}, expected > 0"
        if self.low is not None and number < self.low or self.high is not None and number > self.high:
            return f"is {number}, expected within [{self.low}, {self.high}]"
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype.is_complex:
        return float(value.detach().reshape(()))
    return None


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}"[:60]


def check(state: Any, spec: Mapping[str, Expect]) -> list[str]:
    """Problems of ``state`` against ``spec``: ``["k is list [...], expected a number"]``; [] if it fits."""
    if not isinstance(state, dict):
        return [f"is {type(state).__name__}, expected a table of {', '.join(spec)}"]
    out = [f"{key} is missing" for key in spec if key not in state]
    for key, expect in spec.items():
        if key in state:
            why = expect.problem(state[key])
            if why:
                out.append(f"{key} {why}")
    return out
