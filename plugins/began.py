"""BEGAN, the boundary equilibrium GAN (Berthelot, Schumm & Metz 2017).

D is an autoencoder. Its energy on a sample is the reconstruction error
L(x) = mean_i |x_i - AE(x)_i|^η (η = 1 in the paper), and its raw score is
the negated energy, so that, as everywhere in ganlab, higher means more
real. With s = -L:

    d_loss = L(x) - k_t·L(G(z)) = -E[s_real] + k_t·E[s_fake]
    g_loss = L(G(z))            = -E[s_fake]
    k_{t+1} = clip(k_t + λ_k·(γ·L(x) - L(G(z))), 0, 1)

k_t is a proportional controller: it raises D's push against fakes while
G's energy is below γ times the data's, and lowers it otherwise, so
training settles where E[L(G(z))] = γ·E[L(x)]. γ (the diversity ratio)
trades sample quality against variety.

ganlab's losses are pure functions of scores, so ``d_loss`` is L(x) alone
and the controlled term -k_t·L(G(z)) is a D-side regularizer named
``began`` that carries k_t as state: checkpoints save it, and a resumed run
continues with the same k. It updates k after each D update from that
update's detached energies, on the device; under torchrun the energies are
averaged over the ranks first (one small all-reduce), so every rank holds
the k one process with the whole batch would. The
``penalty/began`` column of ``metrics.jsonl`` is -k_t·L(G(z)).

The paper's autoencoder is convolutional, with ELU layers; this one is an
MLP (encoder widths ``hidden``, a bottleneck of ``embedding``, the decoder
mirrored) that works on images and 2-D points alike. The paper trains with
Adam at lr 1e-4 and halves it when the convergence measure
M = L(x) + |γ·L(x) - L(G(z))| stalls; ganlab suggests lr 1e-4 and keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

import torch
from torch import nn

from ganlab import Expect, PenaltyBatch, PluginError, Regularizer, hookimpl


@dataclass
class BEGANOptions:
    gamma: float = field(default=0.5, metadata={"help": "γ, the diversity ratio E[L(G(z))]/E[L(x)] at equilibrium"})
    lambda_k: float = field(default=0.001, metadata={"help": "λ_k, the step of k's proportional control"})
    k0: float = field(default=0.0, metadata={"help": "k's starting value, in [0, 1]"})
    norm: int = field(default=1, metadata={"help": "η: the energy is mean |x - AE(x)|^η (1 or 2)"})
    hidden: tuple[int, ...] = field(default=(256, 128), metadata={"help": "the autoencoder's encoder widths"})
    embedding: int = field(default=32, metadata={"help": "the autoencoder's bottleneck width"})

    def __post_init__(self):
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        if not 0 < self.lambda_k < 1:
            raise ValueError(f"lambda_k must be in (0, 1), got {self.lambda_k}")
        if not 0 <= self.k0 <= 1:
            raise ValueError(f"k0 must be in [0, 1], got {self.k0}")
        if self.norm not in (1, 2):
            raise ValueError(f"norm must be 1 or 2, got {self.norm}")
        if self.embedding < 1 or not self.hidden or min(self.hidden) < 1:
            raise ValueError("embedding and every hidden width must be positive, with at least one hidden layer")


@hookimpl
def ganlab_options():
    return BEGANOptions


@hookimpl
def ganlab_train_defaults():
    return {"lr": 1e-4}


class EnergyAutoencoder(nn.Module):
    """Scores a sample by its negated reconstruction error: -mean |x - AE(x)|^η, shape (batch, 1)."""

    def __init__(self, in_shape, opts: BEGANOptions):
        super().__init__()
        width = prod(in_shape)
        widths = [width, *opts.hidden, opts.embedding]
        self.encoder = _mlp(widths)
        self.decoder = _mlp(widths[::-1])
        self.norm = opts.norm

    def forward(self, x, labels=None):
        flat = x.flatten(1)
        error = (flat - self.decoder(self.encoder(flat))).abs()
        return -(error if self.norm == 1 else error.pow(2)).mean(dim=1, keepdim=True)


def _mlp(widths):
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ELU())
    return nn.Sequential(*layers)


@hookimpl
def ganlab_discriminator(data, conditioner, options):
    if conditioner is not None:
        raise PluginError("began's D is an unconditional autoencoder; drop the conditioner plugin (cgan)")
    return EnergyAutoencoder(data.shape, options[BEGANOptions])


@hookimpl
def ganlab_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """L(x) = -E[s_real]; the term -k_t·L(G(z)) is the ``began`` regularizer's."""
    return -real_scores.mean()


@hookimpl
def ganlab_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """L(G(z)) = -E[s_fake]."""
    return -fake_scores.mean()


def _mean_over_ranks(t: torch.Tensor) -> torch.Tensor:
    # Under torchrun each rank sees an equal shard: the mean of the shards' means is the global
    # batch's, so every rank steps k alike, as one process with the whole batch would.
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        t = t.clone()
        dist.all_reduce(t)
        t = t / dist.get_world_size()
    return t


class EquilibriumControl(Regularizer):
    """-k_t·L(G(z)) in D's loss, then k's proportional step towards E[L(G(z))] = γ·E[L(x)]."""

    name = "began"
    player = "D"

    def __init__(self, gamma: float = 0.5, lambda_k: float = 0.001, k0: float = 0.0):
        self.gamma, self.lambda_k = gamma, lambda_k
        self.k: torch.Tensor | float = float(k0)

    def penalty(self, batch: PenaltyBatch) -> torch.Tensor:
        fake_energy = -batch.fake_scores.float().mean()
        self.k = torch.as_tensor(self.k, dtype=fake_energy.dtype, device=fake_energy.device)  # a checkpoint's is on the CPU
        term = -self.k * fake_energy
        if batch.real_scores is not None:
            energies = _mean_over_ranks(torch.stack([-batch.real_scores.detach().float().mean(), fake_energy.detach()]))
            step = self.lambda_k * (self.gamma * energies[0] - energies[1])
            self.k = torch.clamp(self.k + step, 0.0, 1.0)
        return term

    def state_dict(self) -> dict:
        return {"k": torch.as_tensor(self.k).detach().clone()}

    def state_spec(self) -> dict:
        return {"k": Expect(low=0.0, high=1.0)}  # k is clipped to [0, 1] at every step

    def load_state_dict(self, state: dict) -> None:
        if "k" in state:
            self.k = state["k"]


@hookimpl
def ganlab_regularizer(options):
    o = options[BEGANOptions]
    return EquilibriumControl(o.gamma, o.lambda_k, o.k0)


@hookimpl
def ganlab_claims(options):
    # Closed forms for `ganlab verify`, which checks them against the code above.
    import numpy as np

    from ganlab import claims as C

    o = options[BEGANOptions]
    return [
        C.GeneratorGradient(lambda l: -np.ones_like(l), False, "∂/∂s (-s) = -1: G lowers its energy at a constant rate",
                            "Berthelot et al. 2017, Eq. 4"),
        C.EquilibriumControl(o.gamma, o.lambda_k, "k_{t+1} = clip(k_t + λ_k(γ·L(x) - L(G(z))), 0, 1); "
                             "D adds -k_t·L(G(z))", "Berthelot et al. 2017, Eq. 4"),
    ]
