"""What a check reports, and the checks every returned value goes through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: ``passed``, or a ``message`` that says what to fix."""

    check: str
    passed: bool
    message: str = ""
    skipped: bool = False

    @property
    def failed(self) -> bool:
        return not self.passed and not self.skipped

    def __str__(self) -> str:
        status = "skipped" if self.skipped else "ok" if self.passed else "FAILED"
        return f"{self.check}: {status}" + (f" ({self.message})" if self.message else "")


class CheckFailed(Exception):
    """Raised inside a check with the message to report."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class Results:
    """Collects the results of one plugin's checks, in the order they ran."""

    def __init__(self) -> None:
        self.items: list[CheckResult] = []

    def run(self, check: str, fn: Callable[[], str | None]) -> bool:
        try:
            note = fn()
        except CheckFailed as exc:
            self.items.append(CheckResult(check, False, str(exc)))
            return False
        except Exception as exc:  # a plugin may fail in any way; report, don't crash
            self.items.append(CheckResult(check, False, f"raised {type(exc).__name__}: {exc}"))
            return False
        self.items.append(CheckResult(check, True, note or ""))
        return True

    def skip(self, check: str, why: str) -> None:
        self.items.append(CheckResult(check, False, why, skipped=True))

    def fail(self, check: str, message: str) -> None:
        self.items.append(CheckResult(check, False, message))


def num(value: Any) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def require_scalar(value: Any, what: str) -> torch.Tensor:
    """``value`` if it is a finite floating-point scalar tensor; otherwise the check fails saying why."""
    require(
        isinstance(value, torch.Tensor),
        f"{what} returned {describe(value)}, not a tensor; return a scalar torch tensor",
    )
    require(
        value.shape == (),
        f"{what} returned a tensor of shape {tuple(value.shape)}; reduce it to a scalar "
        "(shape ()), e.g. with .mean() over the batch",
    )
    require(value.is_floating_point(), f"{what} returned dtype {value.dtype}; return a floating-point tensor")
    require(bool(torch.isfinite(value.detach())), f"{what} returned {num(value)} on ordinary scores; make it finite")
    return value
