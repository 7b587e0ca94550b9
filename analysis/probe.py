"""Calling one selection's hooks: losses, claims and regularizers.

Every number the suite measures about a plugin comes through a
:class:`LossProbe`, which calls the selected plugin's hook implementations
(through a manager selection), never a second copy of the formula. What is
computed from those calls (per-score functions, the pointwise optimum,
quadrature) lives in :mod:`ganlab.analysis.solver`.
"""

from __future__ import annotations

from typing import Any, Iterable

import copy
import dataclasses

import numpy as np
import torch

from ganlab.analysis.calls import DTYPE, Precision, ProbeError, call, cast_tensor


def tensor(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=float), dtype=DTYPE)


class LossProbe:
    """The loss hooks of one selection (e.g. ``["lsgan"]`` with options)."""

    def __init__(self, pm, names: Iterable[str], values: dict[str, dict[str, Any]] | None = None,
                 label: str | None = None):
        self.pm = pm
        self.names = list(names)
        self.values = {k: dict(v) for k, v in (values or {}).items()}
        self.sel = pm.select(self.names)
        self.options = self.sel.build_options({k: dict(v) for k, v in self.values.items()})
        # A selection without a loss plugin (e.g. ["r1"]) trains with the default
        # loss provider; name it, since its loss is what gets checked.
        lossless = [n for n in self.sel.implementers("ganlab_d_loss") if n not in self.names]
        self.label = label or describe(lossless + self.names, self.values)
        self.own_label = describe(self.names, self.values)  # for claims about the plugin itself
        # Answers that depend only on the hooks (separability, ...), computed once by the solver.
        self.cache: dict[str, Any] = {}
        # The dtype the plugin's code computed in (float32 labels, say): tolerances scale with precision.tol.
        self.precision = Precision()

    # -- raw hook calls -------------------------------------------------------

    # Scores come as the trainer passes them: equal-size batches of shape (batch,).

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return call(lambda real_scores, fake_scores: self.sel.hook.ganlab_d_loss(
            real_scores=real_scores, fake_scores=fake_scores, options=self.options),
            "ganlab_d_loss", self.precision, cast_tensor, real_scores=real, fake_scores=fake)

    def g_loss(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        if real is None:
            real = torch.zeros_like(fake)
        return call(lambda fake_scores, real_scores: self.sel.hook.ganlab_g_loss(
            fake_scores=fake_scores, real_scores=real_scores, options=self.options),
            "ganlab_g_loss", self.precision, cast_tensor, fake_scores=fake, real_scores=real)

    def penalty(self, reg: Any, batch: Any) -> torch.Tensor | None:
        """``reg.penalty(batch)`` under the same dtype and error handling as the loss hooks."""
        return penalty(reg, batch, self.precision)

    def survey(self) -> None:
        """Call every hook once on small batches, so ``precision`` is known before any check runs.

        Errors are left to the checks, which report them with the claim they were measuring.
        """
        scores = tensor([0.5, -1.0, 2.0, 0.25])
        for fn in (lambda: self.d_loss(scores, scores.flip(0)), lambda: self.g_loss(scores, scores.flip(0))):
            try:
                fn()
            except Exception:
                pass
        from ganlab.regularizers import PenaltyBatch

        try:
            regs = self.regularizers()
        except Exception:
            regs = []
        with torch.random.fork_rng():
            torch.manual_seed(0)
            for reg in regs:
                if not implements(reg, "penalty"):
                    continue
                real, fake = torch.randn(4, 2, dtype=DTYPE), torch.randn(4, 2, dtype=DTYPE)
                critic = _Survey()
                try:
                    reg = copy.deepcopy(reg)  # a stateful penalty must not remember the survey
                    self.penalty(reg, PenaltyBatch(real=real, fake=fake, real_scores=critic(real),
                                                   fake_scores=critic(fake), discriminator=critic))
                except Exception:
                    pass

    def has_loss(self) -> bool:
        """Whether one of the named plugins itself implements a loss hook (not the default provider)."""
        return any(n in self.sel.implementers(h) for n in self.names for h in ("ganlab_d_loss", "ganlab_g_loss"))

    def declarations(self, kind: type | tuple[type, ...] | None = None, plugin: str | None = None) -> list[Any]:
        """The claim objects the active plugins (or only ``plugin``) return from ``ganlab_claims``."""
        out = _flatten(self._hook("ganlab_claims", plugin)(options=self.options))
        return [c for c in out if kind is None or isinstance(c, kind)]

    def declarers(self, kind: type) -> list[str]:
        """The active plugins whose own ``ganlab_claims`` returns a ``kind``."""
        return [n for n in self.sel.implementers("ganlab_claims") if self.declarations(kind, plugin=n)]

    def regularizers(self, plugin: str | None = None, shape: tuple[int, ...] = (1,)) -> list[Any]:
        """The regularizers of the active plugins, or only of ``plugin``, for data of ``shape``."""
        from ganlab.datasets import DataSpec

        spec = DataSpec("verify", shape, None, "points" if len(shape) == 1 else "image")
        return _flatten(self._hook("ganlab_regularizer", plugin)(data=spec, conditioner=None, options=self.options))

    def owned_penalty(self, kind: type) -> tuple[Any, Any]:
        """(declaration, the declaring plugin's single D penalty) or (declaration, error text)."""
        owner = self.declarers(kind)[0]
        claim = self.declarations(kind, plugin=owner)[0]
        regs = [r for r in self.regularizers(plugin=owner) if r.player == "D" and implements(r, "penalty")]
        if len(regs) != 1:
            return claim, f"{owner} declares {kind.__name__} but returns {len(regs)} D penalties"
        return claim, regs[0]

    def _hook(self, hook_name: str, plugin: str | None):
        """The selection's caller for a hook, or one that calls only ``plugin``'s implementation."""
        if plugin is None:
            return getattr(self.sel.hook, hook_name)
        if plugin not in self.sel.implementers(hook_name):
            raise ValueError(f"{plugin!r} is not an active implementer of {hook_name}")
        others = set(self.pm.get_plugins()) - {self.pm.get_plugin(plugin)}
        return self.pm.subset_hook_caller(hook_name, others)


class _Survey(torch.nn.Module):
    def forward(self, x, labels=None):
        return (x.flatten(1) ** 2).sum(1) / 2 + x.flatten(1)[:, 0]


def _cast_batch(batch: Any, dtype: torch.dtype) -> Any:
    changes = {f.name: getattr(batch, f.name).to(dtype) for f in dataclasses.fields(batch)
               if isinstance(getattr(batch, f.name), torch.Tensor) and getattr(batch, f.name).is_floating_point()}
    return dataclasses.replace(batch, **changes)


def penalty(reg: Any, batch: Any, precision: Precision) -> torch.Tensor | None:
    """A regularizer's penalty on ``batch`` (float64, else float32 as the trainer calls it)."""
    return call(lambda batch: reg.penalty(batch), f"{reg.name}.penalty", precision, _cast_batch, batch=batch)


def grad(value: torch.Tensor, inputs) -> tuple[torch.Tensor, ...]:
    """Autograd gradients, zero for inputs the value does not depend on.

    A loss may ignore one side: BEGAN's d_loss is L(x) alone (its fake term
    is a controlled regularizer), so ∂d_loss/∂fake is 0, not an error.
    """
    inputs = tuple(inputs)
    if not value.requires_grad:
        return tuple(torch.zeros_like(x) for x in inputs)
    return torch.autograd.grad(value, inputs, allow_unused=True, materialize_grads=True)


def implements(reg: Any, method: str) -> bool:
    """Whether a regularizer overrides ``method`` (penalty, transform, after_step) of the no-op base."""
    from ganlab.regularizers import Regularizer

    return getattr(type(reg), method, None) is not getattr(Regularizer, method)


def _flatten(answers) -> list[Any]:
    """A multi-answer hook's results, each a single object, a list of them or None."""
    out: list[Any] = []
    for item in answers:
        out.extend(item if isinstance(item, (list, tuple)) else [item])
    return [x for x in out if x is not None]


def describe(names: list[str], values: dict[str, dict[str, Any]]) -> str:
    label = "+".join(names)
    opts = [f"{k}={v}" for p in values.values() for k, v in p.items()]
    return f"{label}[{','.join(opts)}]" if opts else label


__all__ = ["LossProbe", "ProbeError", "grad", "implements", "penalty", "tensor", "DTYPE"]
