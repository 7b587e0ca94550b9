"""LeCam regularization (Tseng, Jiang, Zhang, Yang & Lu 2021, "Regularizing GANs under limited data").

D's loss gets

    λ · (E_x (D(x) - α_F)² + E_z (D(G(z)) - α_R)²),

where α_R and α_F are exponential moving averages (decay 0.99) of D's mean
score on real and on generated samples. Pulling real scores towards the
fakes' anchor and fake scores towards the reals' keeps D's predictions from
drifting apart when data is scarce (the paper links the regularized LSGAN
objective to the LeCam divergence).

The anchors are updated from the current batch's detached mean scores
before the penalty is computed, as in the authors' code; the first update
sets them to the first batch's means (the code's ``start_itr`` warm-up,
shortened to one step). ``hinged=true`` is the authors' code's form,
relu(D(x) - α_F)² + relu(α_R - D(G(z)))², which only penalises real scores
above the fake anchor and fake scores below the real one.

The anchors are state: :meth:`LeCamPenalty.state_dict` and
:meth:`LeCamPenalty.load_state_dict` hold it, and checkpoints save it, so a
resumed run continues with the same anchors. They stay tensors on the
device: updating them never waits for the device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ganlab import Expect, PenaltyBatch, Regularizer, hookimpl, require_finite_nonnegative


@dataclass
class LeCamOptions:
    weight: float = field(default=0.3, metadata={"help": "λ, the weight of the regularizer"})
    decay: float = field(default=0.99, metadata={"help": "decay of the anchors' moving averages"})
    hinged: bool = field(default=False, metadata={"help": "the authors' code's relu form instead of the paper's"})

    def __post_init__(self):
        require_finite_nonnegative("weight (λ)", self.weight)
        if not 0.0 <= self.decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {self.decay}")


@hookimpl
def ganlab_options():
    return LeCamOptions


class LeCamPenalty(Regularizer):
    name = "lecam"
    player = "D"

    def __init__(self, weight: float = 0.3, decay: float = 0.99, hinged: bool = False):
        self.weight, self.decay, self.hinged = weight, decay, hinged
        self.anchor_real: torch.Tensor | None = None
        self.anchor_fake: torch.Tensor | None = None

    def _ema(self, old: torch.Tensor | None, new: torch.Tensor) -> torch.Tensor:
        return new if old is None else self.decay * old + (1 - self.decay) * new

    def update(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> None:
        self.anchor_real = self._ema(self.anchor_real, real_scores.detach().float().mean())
        self.anchor_fake = self._ema(self.anchor_fake, fake_scores.detach().float().mean())

    def penalty(self, batch: PenaltyBatch) -> torch.Tensor:
        real, fake = batch.real_scores, batch.fake_scores
        if real is None:  # a D update always has them; nothing to pull otherwise
            return fake.new_zeros(())
        real, fake = real.reshape(-1), fake.reshape(-1)
        self.update(real, fake)
        if self.hinged:
            reg = F.relu(real - self.anchor_fake).pow(2).mean() + F.relu(self.anchor_real - fake).pow(2).mean()
        else:
            reg = (real - self.anchor_fake).pow(2).mean() + (fake - self.anchor_real).pow(2).mean()
        return self.weight * reg

    def state_dict(self) -> dict:
        if self.anchor_real is None:
            return {}
        return {"anchor_real": self.anchor_real, "anchor_fake": self.anchor_fake}

    def state_spec(self) -> dict:
        # The anchors exist from the first D update on, and every checkpoint comes after one.
        return {"anchor_real": Expect(), "anchor_fake": Expect()}

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.anchor_real, self.anchor_fake = state["anchor_real"], state["anchor_fake"]


@hookimpl
def ganlab_regularizer(options):
    o = options[LeCamOptions]
    return LeCamPenalty(o.weight, o.decay, o.hinged)
