"""Packing (PacGAN; Lin, Khetan, Fanti & Oh 2018): D judges m samples at once.

A packed discriminator scores *packs*: m samples concatenated, real packs of m
real samples and fake packs of m generated ones. A generator that drops modes
makes packs that look alike far more often than real packs do, so D sees mode
collapse much more clearly; formally D sees the m-fold product distributions
p_d^m and p_g^m, and the optimal packed D of the standard loss is
σ(D*) = p_d^m / (p_d^m + p_g^m) on packs (``ganlab verify`` checks this
through this module's own wrapping). ``m = 1`` is the ordinary GAN, bit for bit.

How it is built: a transform of D, so it composes with every loss, penalty
and architecture. D's input layer (its first ``Linear`` or ``Conv``, which must
read the samples) is rebuilt m times as wide with the layer's own
``reset_parameters``, so it is drawn from the architecture's initialisation
rule; the wrapper then groups each run of m consecutive samples of the batch
it is given into one pack, concatenated along dim 1 (a point's coordinates,
an image's channels: PacGAN's layout), scores the packs, and gives every sample
its pack's score.

The batch: ``--batch-size`` counts samples, so D sees ``batch_size / m`` real
packs and as many fake packs, and the batch size must be a multiple of m.
PacGAN's code counts packs (its batch of 100 holds 100 packs of m samples
each: fjxmlzn/PacGAN's data stream yields packs, and it draws m noise batches
of 100), so PacGAN-m's set-up is ``--batch-size`` 100·m.

Losses see one score per sample, as the hook contract says; since each pack's
score appears m times, a batch mean is the mean over packs, exactly, and so
are its gradients: the loss is PacGAN's loss on packs. Penalties are per pack
in the same sense: a penalty is computed by its plugin on the packed D, so
every score it reads is a pack's score, and a gradient penalty's
∇_x Σ D(x) holds, for each sample, m times the gradient of its pack's score
with respect to that member (the sum counts each pack m times); its
per-sample norm is therefore a norm over one member's block of the pack's
gradient, scaled by m, not the norm over the whole pack. PacGAN itself
uses no penalty.

Conditional runs are refused: a pack of m samples has m labels, and PacGAN
defines no conditional packing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from math import prod

import torch
from torch import nn
from torch.nn.utils import parametrize

from ganlab import PluginError, Regularizer, hookimpl

CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass
class PacOptions:
    m: int = field(default=2, metadata={"help": "packing degree: samples per pack that D scores jointly "
                                                "(1 = no packing; PacGAN uses 2, 3, 4)"})

    def __post_init__(self):
        if self.m < 1:
            raise ValueError(f"m must be at least 1 (samples per pack), got {self.m}")


@hookimpl
def ganlab_options():
    return PacOptions


def input_layer(module: nn.Module, shape: tuple[int, ...]) -> tuple[str, nn.Module]:
    """(name, layer) of D's first Linear or Conv layer, which must read one sample of ``shape``."""
    for name, layer in module.named_modules():
        if isinstance(layer, nn.Linear):
            reads = layer.in_features == prod(shape)
        elif isinstance(layer, CONVS):
            reads = (len(shape) == layer.weight.dim() - 1 and layer.in_channels == shape[0]
                     and layer.groups == 1)
        else:
            continue
        if not reads:
            raise PluginError(
                f"pac widens D's input layer to take m samples, but D's first layer {name!r} ({layer}) does not "
                f"read one sample of shape {tuple(shape)}; pac needs a D whose first Linear or Conv layer takes "
                "the samples (mlp and dcgan do)")
        if parametrize.is_parametrized(layer):
            raise PluginError(
                f"pac widens D's input layer {name!r}, but another transform has already reparametrised it "
                "(spectral norm?); pac's transform must run first")
        return name, layer
    raise PluginError(f"pac found no Linear or Conv layer in D ({type(module).__name__}) to widen for packs of m")


def widen(layer: nn.Module, m: int) -> nn.Module:
    """A copy of ``layer`` taking m times its input features (channels), freshly drawn by its own init rule."""
    wide = copy.deepcopy(layer)
    weight = layer.weight
    shape = (weight.shape[0], weight.shape[1] * m, *weight.shape[2:])
    wide.weight = nn.Parameter(torch.empty(shape, dtype=weight.dtype, device=weight.device))
    if isinstance(wide, nn.Linear):
        wide.in_features *= m
    else:
        wide.in_channels *= m
    wide.reset_parameters()  # the architecture's rule: PyTorch's default for the wide fan-in, or its own
    return wide


class PackedDiscriminator(nn.Module):
    """``inner`` (with an m-fold input layer) scoring packs of m consecutive samples; each sample gets its pack's score."""

    def __init__(self, inner: nn.Module, m: int):
        super().__init__()
        self.inner = inner
        self.m = m

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is not None:
            raise PluginError("pac packs unconditional samples; a pack of m samples has no single label")
        n, m = x.shape[0], self.m
        if n % m:
            raise PluginError(f"pac packs m={m} samples, but D was given {n}, not a multiple of {m}; "
                              f"use a --batch-size that is a multiple of {m}")
        # (n, C, ...) -> (n/m, m·C, ...): samples i·m ... i·m + m - 1 side by side along dim 1.
        packs = x.reshape(n // m, m * x.shape[1], *x.shape[2:])
        scores = self.inner(packs).reshape(n // m)
        return scores.repeat_interleave(m)


class Packing(Regularizer):
    name = "pac"
    player = "D"

    def __init__(self, m: int, shape: tuple[int, ...]):
        self.m, self.shape = m, tuple(shape)

    def transform(self, module: nn.Module) -> nn.Module:
        if self.m > 1:  # m = 1 keeps D's layers (and weights) as they are
            name, layer = input_layer(module, self.shape)
            if name:
                module.set_submodule(name, widen(layer, self.m))
            else:  # D is that one layer
                module = widen(layer, self.m)
        return PackedDiscriminator(module, self.m)


@hookimpl
def ganlab_regularizer(data, conditioner, options):
    if conditioner is not None:
        return None  # ganlab_validate says why the run cannot start
    return Packing(options[PacOptions].m, data.shape)


@hookimpl
def ganlab_validate(setup):
    m = setup.options[PacOptions].m
    problems = []
    if setup.conditioner is not None:
        problems.append("pac packs unconditional samples (a pack of m samples has m labels, and PacGAN defines "
                        "no conditional packing); drop --plugin pac or the conditioning plugin")
    if setup.train.batch_size % m:
        problems.append(f"pac groups the batch into packs of m={m}, but --batch-size {setup.train.batch_size} is "
                        f"not a multiple of {m}; PacGAN's batch of 100 packs is --batch-size {100 * m}")
    if setup.conditioner is None and isinstance(setup.discriminator, PackedDiscriminator):
        problem = _cannot_score_a_pack(setup.discriminator, setup.data.shape, m)
        if problem:
            problems.append(problem)
    return problems or None


def _cannot_score_a_pack(D: nn.Module, shape: tuple[int, ...], m: int) -> str | None:
    """Why the packed D fails on one pack of zeros (a copy, in eval mode), or None."""
    probe = copy.deepcopy(D).eval()
    try:
        with torch.no_grad():
            probe(torch.zeros(m, *shape))
    except Exception as exc:  # noqa: BLE001 - any failure means this D cannot be packed
        return (f"pac widens only D's input layer to take packs of m={m}, but the packed D fails on a pack "
                f"({type(exc).__name__}: {exc}); a D that uses its input again after its first layer (an "
                "autoencoder that reconstructs it, say) cannot be packed: use an architecture such as mlp or "
                "dcgan, or drop --plugin pac")
    return None


@hookimpl
def ganlab_claims(options):
    # D sees the m-fold product distributions: its optimum is the loss's own t* at (p_d^m, p_g^m).
    from ganlab import claims as C

    return [C.Packing(options[PacOptions].m)]


@hookimpl
def ganlab_verify_variants():
    return [{}, {"m": "1"}, {"m": "3"}, {"m": "4"}]
