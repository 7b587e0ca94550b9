"""Spectral normalization (Miyato, Kataoka, Koyama & Yoshida 2018).

Every weight W of a linear or convolutional layer is replaced by
W / sigma(W), where sigma(W) is W's largest singular value, estimated by
power iteration (``n_power_iterations`` steps each training forward, with
u and v carried over between steps). A normalised linear layer is
1-Lipschitz, and so are ReLU and LeakyReLU, so an MLP built from them is
1-Lipschitz (batch norm, if D has it, is not constrained). Seed 003 lists it
beside WGAN's weight clipping as a way to constrain the critic; seed 000's
cGAN wraps its D's hidden layers this way.

A convolution's kernel is normalised as the matrix (out, in * kh * kw), as in
the paper. That matrix's σ does not bound the convolution operator's norm:
the bound goes the other way, ‖conv‖ ≤ sqrt(kh * kw) * σ at stride 1, so a
normalised conv layer is at most sqrt(kh * kw)-Lipschitz, not 1-Lipschitz
(a 1-channel 3x3 kernel of ones: σ = 3, operator norm on large images 9).
For ``ConvTranspose`` the output channels are dim 1 of the weight
(in, out, kh, kw), so the matrix is built with ``dim=1``.

Embedding layers are left alone: an embedding is a table looked up by a
discrete label, not a linear map of D's input, so its scale does not enter
D's Lipschitz constant with respect to x in concat mode. (In projection mode
the row embed(y) multiplies D's features; the paper normalises that table
too, which this plugin does not: a projection run keeps that term
unconstrained.)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ganlab import Regularizer, hookimpl

WRAPPED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


@dataclass
class SNOptions:
    generator: bool = field(default=False, metadata={"help": "also normalise G's layers (as in SAGAN)"})
    n_power_iterations: int = field(
        default=1, metadata={"help": "power-iteration steps per training forward (the paper uses 1)"}
    )

    def __post_init__(self):
        if self.n_power_iterations < 1:
            raise ValueError(f"n_power_iterations must be at least 1, got {self.n_power_iterations}")


@hookimpl
def ganlab_options():
    return SNOptions


class PowerIteration(nn.Module):
    """The parametrization ``W -> W / sigma(W)``, with u and v carried over between training forwards.

    The same estimate as ``torch.nn.utils.parametrizations.spectral_norm`` (15
    iterations at the start, ``n_power_iterations`` per training forward, the
    same buffer names, so checkpoints load either way), but u and v are
    updated with ``copy_`` rather than ``out=``: ``torch.func.vmap`` has no
    batching rule for ``out=``, and ``ganlab run --seeds K`` trains K seeds'
    normalised layers as one batched module.
    """

    def __init__(self, weight: torch.Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12):
        super().__init__()
        self.dim, self.eps, self.n_power_iterations = dim, eps, n_power_iterations
        h, w = self._matrix(weight).shape
        self.register_buffer("_u", F.normalize(weight.new_empty(h).normal_(0, 1), dim=0, eps=eps))
        self.register_buffer("_v", F.normalize(weight.new_empty(w).normal_(0, 1), dim=0, eps=eps))
        self._iterate(self._matrix(weight), 15)  # a good start, so sigma is close from the first step

    def _matrix(self, weight: torch.Tensor) -> torch.Tensor:
        if self.dim != 0:
            weight = weight.movedim(self.dim, 0)
        return weight.flatten(1)

    @torch.no_grad()
    def _iterate(self, matrix: torch.Tensor, n: int) -> None:
        for _ in range(n):
            self._u.copy_(F.normalize(torch.mv(matrix, self._v), dim=0, eps=self.eps))
            self._v.copy_(F.normalize(torch.mv(matrix.H, self._u), dim=0, eps=self.eps))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        matrix = self._matrix(weight)
        if self.training:
            self._iterate(matrix, self.n_power_iterations)
        # Clones: the buffers change in place at the next forward, and a loss
        # such as D(real) - D(fake) backpropagates through both forwards.
        u, v = self._u.clone(), self._v.clone()
        return weight / torch.vdot(u, torch.mv(matrix, v))

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        return value


def apply_spectral_norm(module: nn.Module, n_power_iterations: int = 1) -> int:
    """Wrap every Linear and Conv weight of ``module`` in place; returns how many."""
    count = 0
    for layer in list(module.modules()):
        if not isinstance(layer, WRAPPED) or parametrize.is_parametrized(layer, "weight"):
            continue  # already parametrized (e.g. by the architecture itself): keep that
        dim = 1 if isinstance(layer, TRANSPOSED) else 0
        parametrize.register_parametrization(layer, "weight", PowerIteration(layer.weight, n_power_iterations, dim))
        count += 1
    return count


class SpectralNorm(Regularizer):
    name = "spectral_norm"

    def __init__(self, player: str, n_power_iterations: int = 1):
        self.player = player
        # Regularizer names are unique per run; D's keeps the plain name.
        self.name = "spectral_norm" if player == "D" else "spectral_norm_g"
        self.n_power_iterations = n_power_iterations

    def transform(self, module: nn.Module) -> nn.Module:
        if not apply_spectral_norm(module, self.n_power_iterations):
            warnings.warn(
                f"sn found no Linear or Conv layer in {self.player} ({type(module).__name__}); "
                "spectral normalization has no effect there",
                UserWarning,
                stacklevel=2,
            )
        return module


@hookimpl
def ganlab_regularizer(options):
    opts = options[SNOptions]
    regs = [SpectralNorm("D", opts.n_power_iterations)]
    if opts.generator:
        regs.append(SpectralNorm("G", opts.n_power_iterations))
    return regs


@hookimpl
def ganlab_claims():
    # Largest singular value 1 and the Lipschitz bound, checked by `ganlab verify`.
    from ganlab import claims as C

    return [C.SpectralNormalization()]
