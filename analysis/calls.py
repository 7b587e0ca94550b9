"""Calling third-party code the way the trainer does, and saying what went wrong when it breaks.

Every hook call and penalty call the suite makes goes through :func:`call`:

* **dtype.** The suite works in float64, so that float error stays near
  1e-15 and tolerances come from the mathematics. The trainer, though,
  hands losses float32 scores, and real code builds float32 labels
  (``torch.ones(n)``) or coefficients (``torch.rand``). A call that raises in
  float64 is made again in float32, as the trainer would make it, and its
  result cast back (autograd flows through the casts). :class:`Precision`
  records the lowest floating dtype the code touched, by watching every torch
  function it calls, so that each check can scale its tolerances to it.
* **errors.** A call that raises in both dtypes becomes a :class:`ProbeError`
  naming the hook, the shapes and dtypes it was given, and the line of the
  plugin's code that raised.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch.overrides import TorchFunctionMode

DTYPE = torch.float64
EPS64 = float(torch.finfo(torch.float64).eps)
FALLBACK = torch.float32  # the dtype the trainer's losses see (stepstats.scores_of)

_OWN = (str(Path(__file__).resolve().parent), str(Path(torch.__file__).resolve().parent))


class ProbeError(RuntimeError):
    """A plugin's hook or penalty raised inside a probe, in float64 and in float32."""


@dataclass
class Precision:
    """The lowest-precision floating dtype seen in a plugin's code, and why."""

    dtype: torch.dtype = DTYPE
    why: list[str] = field(default_factory=list)
    # Set while a check is re-run at float64 tolerances to see whether a verdict depends on them.
    forced: torch.dtype | None = None
    # Calls that raised in float64 once: they go straight to float32 after that.
    sticky: set[str] = field(default_factory=set)

    @property
    def eps(self) -> float:
        return float(torch.finfo(self.forced or self.dtype).eps)

    def tol(self, tol64: float, ulps: float = 4096) -> float:
        """A tolerance stated for float64, at this precision.

        Unchanged in float64. Otherwise at least ``ulps`` units in the last place
        of the coarser dtype: the float64 tolerances for rounding are about 4,500
        ulps (1e-12) of O(1) values, a few operations' error with a 1e3 margin.
        """
        if self.forced is not None or not self.reduced:
            return tol64
        return max(tol64, ulps * self.eps)

    @property
    def reduced(self) -> bool:
        return torch.finfo(self.dtype).eps > EPS64

    def saw(self, dtype: torch.dtype, why: str) -> None:
        if torch.finfo(dtype).eps > torch.finfo(self.dtype).eps:
            self.dtype = dtype
        if why not in self.why and torch.finfo(dtype).eps > EPS64:
            self.why.append(why)


class _Watch(TorchFunctionMode):
    """Records floating dtypes coarser than ``given`` that torch functions return inside a call.

    It also maps ``device=-1`` to the CPU: code written for the GPU builds
    tensors with ``device=x.get_device()``, which is -1 for a CPU tensor, where
    the trainer on a GPU would have passed x's own device.
    """

    def __init__(self, given: torch.dtype = DTYPE):
        super().__init__()
        self.given_eps = torch.finfo(given).eps
        self.low: dict[torch.dtype, str] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if isinstance(kwargs.get("device"), int) and kwargs["device"] < 0:
            kwargs = {**kwargs, "device": "cpu"}
        out = func(*args, **kwargs)
        for t in _tensors(out):
            if (t.is_floating_point() and t.dtype not in self.low
                    and torch.finfo(t.dtype).eps > self.given_eps):
                self.low[t.dtype] = getattr(func, "__name__", str(func))
        return out


def _given(kwargs: dict[str, Any]) -> torch.dtype:
    """The coarsest floating dtype among the arguments: what the caller chose, not the plugin."""
    dtypes = [t.dtype for v in kwargs.values() for t in _leaves(v) if t.is_floating_point()]
    return max(dtypes, key=lambda d: torch.finfo(d).eps, default=DTYPE)


def _leaves(value: Any) -> list[torch.Tensor]:
    if hasattr(value, "__dataclass_fields__"):
        return [t for f in value.__dataclass_fields__ for t in _tensors(getattr(value, f))]
    return _tensors(value)


def _tensors(x) -> list[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return [t for item in x for t in _tensors(item)]
    return []


def describe_args(kwargs: dict[str, Any]) -> str:
    parts = []
    for k, v in kwargs.items():
        if isinstance(v, torch.Tensor):
            parts.append(f"{k} {tuple(v.shape)} {str(v.dtype).replace('torch.', '')}")
        elif hasattr(v, "__dataclass_fields__"):  # a PenaltyBatch: its tensors
            inner = {f: getattr(v, f) for f in v.__dataclass_fields__ if isinstance(getattr(v, f), torch.Tensor)}
            parts.append(f"{k}({describe_args(inner)})")
    return ", ".join(parts)


def raising_line(exc: BaseException) -> str:
    """``file:line: code`` of the innermost frame outside torch and this package, else the innermost."""
    frames = traceback.extract_tb(exc.__traceback__)
    theirs = [f for f in frames if not str(Path(f.filename).resolve()).startswith(_OWN)]
    f = (theirs or frames or [None])[-1]
    if f is None:
        return "unknown line"
    return f"{Path(f.filename).name}:{f.lineno}: {(f.line or '').strip()}"


def call(fn: Callable[..., Any], what: str, precision: Precision, cast: Callable[[Any, torch.dtype], Any],
         **kwargs) -> Any:
    """``fn(**kwargs)`` in float64, else in float32 as the trainer calls it; the result in float64.

    ``cast(value, dtype)`` converts one argument (tensors, or a PenaltyBatch).
    A call that raised in float64 once goes straight to float32 after that.
    """
    if what not in precision.sticky:
        try:
            return _watched(fn, what, precision, kwargs)
        except Exception as first:
            precision.sticky.add(what)
            precision.saw(FALLBACK, f"{what} raised in float64 ({type(first).__name__}: {_short(first)}), "
                                    f"so it was called in float32, as the trainer calls it")
    try:
        return _watched(fn, what, precision, {k: cast(v, FALLBACK) for k, v in kwargs.items()})
    except Exception as second:
        raise ProbeError(f"{what} raised {type(second).__name__}: {second} — called with {describe_args(kwargs)} "
                         f"(and again in float32); at {raising_line(second)}") from second


def _watched(fn: Callable[..., Any], what: str, precision: Precision, kwargs: dict[str, Any]) -> Any:
    """``fn(**kwargs)`` under :class:`_Watch`; coarser dtypes it used go into ``precision``; the result in float64."""
    watch = _Watch(_given(kwargs))
    with watch:
        out = fn(**kwargs)
    for dtype, func in watch.low.items():
        precision.saw(dtype, f"{what} computes in {str(dtype).replace('torch.', '')} ({func})")
    if isinstance(out, torch.Tensor) and out.is_floating_point() and out.dtype != DTYPE:
        out = out.to(DTYPE)
    return out


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:120]


def cast_tensor(value: Any, dtype: torch.dtype) -> Any:
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.to(dtype)
    return value
