"""What a training step measures, kept on the device until a logging step reads it."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from ganlab.errors import PluginError


@contextlib.contextmanager
def no_grad_for(params: list[torch.Tensor]) -> Iterator[None]:
    """These parameters take no gradient inside (D's during G's update); switched back after."""
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@dataclass
class Update:
    """What one update of one player computed (detached; reading a value syncs)."""

    loss: torch.Tensor
    penalties: dict[str, torch.Tensor]
    grad_norm: torch.Tensor | None
    real_score: torch.Tensor | None
    fake_score: torch.Tensor
    real: torch.Tensor
    real_labels: torch.Tensor | None


@dataclass
class StepStats:
    """What one training step measured, as device tensors (reading them syncs).

    D's numbers are means over the step's ``n_critic`` updates; grad norms
    are those of the last update, and only measured on logging steps.
    """

    d_loss: torch.Tensor
    g_loss: torch.Tensor
    penalties: dict[str, torch.Tensor]
    real_score: torch.Tensor
    fake_score: torch.Tensor
    grad_norm_d: torch.Tensor | None = None
    grad_norm_g: torch.Tensor | None = None

    @classmethod
    def of(cls, d_updates: list[Update], g: Update) -> StepStats:
        """A step's numbers from its ``n_critic`` updates of D and its update of G."""
        n = len(d_updates)
        d_penalties = {k: sum(u.penalties[k] for u in d_updates) / n for k in d_updates[0].penalties}
        return cls(
            d_loss=sum(u.loss for u in d_updates) / n,
            g_loss=g.loss,
            penalties=d_penalties | g.penalties,
            real_score=sum(u.real_score for u in d_updates) / n,
            fake_score=sum(u.fake_score for u in d_updates) / n,
            grad_norm_d=d_updates[-1].grad_norm,
            grad_norm_g=g.grad_norm,
        )

    def values(self, average=None) -> dict[str, float | None]:
        """The numbers as floats; ``average`` (a collective) makes them means over all ranks."""
        named = {"d_loss": self.d_loss, "g_loss": self.g_loss,
                 **{f"penalty/{k}": v for k, v in self.penalties.items()},
                 "real_score": self.real_score, "fake_score": self.fake_score,
                 "grad_norm_g": self.grad_norm_g, "grad_norm_d": self.grad_norm_d}
        present = {k: v for k, v in named.items() if v is not None}
        stacked = torch.stack([v.detach().float().reshape(()) for v in present.values()])
        numbers = (average(stacked) if average else stacked).tolist()  # one sync
        return {k: None for k in named} | dict(zip(present, numbers))


def strict_json(row: dict[str, Any]) -> str:
    """One JSON line; NaN and infinities become null, since bare NaN is not JSON."""
    clean = {k: (None if isinstance(v, float) and v != v or v in (float("inf"), float("-inf")) else v)
             for k, v in row.items()}
    return json.dumps(clean, allow_nan=False)


def scores_of(module, x, labels) -> torch.Tensor:
    out = module(x) if labels is None else module(x, labels)
    if not isinstance(out, torch.Tensor):
        raise PluginError(f"the discriminator returned {type(out).__name__}; expected raw scores, a tensor")
    if out.dim() not in (1, 2) or (out.dim() == 2 and out.shape[1] != 1) or out.shape[0] != x.shape[0]:
        raise PluginError(f"the discriminator returned scores of shape {tuple(out.shape)}; "
                          f"expected ({x.shape[0]},) or ({x.shape[0]}, 1)")
    return out.reshape(-1).float()  # losses always see float32 scores


def grad_norm(module: torch.nn.Module) -> torch.Tensor:
    norms = [p.grad.detach().norm() for p in module.parameters() if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.zeros(())


def all_finite(tensors: list[torch.Tensor]) -> bool:
    # Min and max in one vectorised pass (isfinite and the inf-norm are many times slower
    # on the CPU): both are finite iff every entry is; NaN propagates into them.
    extremes = [v for t in tensors if t.numel() for v in torch.aminmax(t.detach())]
    return not extremes or bool(torch.isfinite(torch.stack(extremes)).all())
