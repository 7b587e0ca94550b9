"""The regularizer protocol: penalties, constraints and module transforms.

One object covers the three kinds of regularization GAN papers use, so the
trainer treats them all alike:

* a penalty added to a player's loss (gradient penalty, R1);
* a constraint applied after that player's optimizer step (weight clipping);
* a transform applied once to that player's module (spectral normalization).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch
from torch import nn

Player = Literal["D", "G"]


@dataclass(frozen=True, kw_only=True)
class PenaltyBatch:
    """What a penalty may look at during one update of its player.

    ``fake`` is detached from the generator in a D update and carries the
    generator's graph in a G update. ``discriminator`` and ``generator`` are
    the live modules; call ``discriminator(x, labels)`` for extra scores.
    ``real_scores`` is ``None`` in a G update unless the g_loss asks for it.
    Keyword-only: penalties read fields by name, so new fields can be added.
    """

    real: torch.Tensor
    fake: torch.Tensor
    fake_scores: torch.Tensor
    discriminator: Callable[..., torch.Tensor]
    real_scores: torch.Tensor | None = None
    real_labels: torch.Tensor | None = None
    fake_labels: torch.Tensor | None = None
    generator: nn.Module | None = None
    step: int = 0


class Regularizer:
    """Base class: override any of :meth:`transform`, :meth:`penalty`, :meth:`after_step`."""

    name: str = "regularizer"
    player: Player = "D"

    def transform(self, module: nn.Module) -> nn.Module:
        return module

    def penalty(self, batch: PenaltyBatch) -> torch.Tensor | None:
        return None

    def after_step(self, module: nn.Module) -> None:
        return None

    def state_dict(self) -> dict:
        """State the regularizer carries between steps (moving averages, say); saved in checkpoints."""
        return {}

    def state_spec(self) -> dict:
        """What :meth:`state_dict` holds, key by key: ``{"k": Expect(low=0, high=1)}``.

        Values are :class:`ganlab.state_schema.Expect`. Before a run resumes,
        the host checks the checkpoint's copy of the state against it and
        refuses a damaged one with the plugin and key named. Without a spec
        only the keys are checked.
        """
        return {}

    def load_state_dict(self, state: dict) -> None:
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} on {self.player}>"
