"""An exponential moving average (EMA) of the generator's weights.

GAN iterates oscillate around an equilibrium rather than settle on it;
averaging G's weights over time damps the oscillation (Yazıcı et al. 2019,
"The Unusual Effectiveness of Averaging in GAN Training"). ProGAN (Karras et
al. 2018) and BigGAN sample and report every metric from such an average,
not from the G being trained. After every G update

    θ̄ ← β·θ̄ + (1 - β)·θ,

the first update copying θ. With ``rampup`` (the default) the factor is
β_t = min(β, (1 + t)/(10 + t)) with t the number of earlier updates, the
rule of TensorFlow's ``ExponentialMovingAverage(num_updates=t)``: without
it, β = 0.999 keeps a trace of the random initial weights for thousands of
steps. Buffers (batch norm's running statistics) are averaged the same way;
integer buffers (batch counters) are copied.

Training does not change: G and D train exactly as without the plugin, and
only the sample grids, the metrics and ``ganlab eval`` see the average.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from ganlab import ConfigError, hookimpl


@dataclass
class EMAOptions:
    decay: float = field(default=0.999, metadata={"help": "β, the weight of the old average at each G update"})
    rampup: bool = field(default=True, metadata={"help": "β_t = min(β, (1+t)/(10+t)) over the first updates"})

    def __post_init__(self):
        if not 0 <= self.decay < 1:
            raise ConfigError(f"ema.decay must be in [0, 1), got {self.decay}; 0.999 is common (0.9999 for long "
                              f"runs), and 0 samples from G itself")


class ExponentialAverage(nn.Module):
    """``θ̄ ← β_t·θ̄ + (1 - β_t)·θ`` over G's parameters and buffers.

    torch's ``AveragedModel`` keeps its update count in a device tensor and
    reads it on every update, which on a GPU waits for the device at every
    step; here the count is a Python int, checkpointed as extra state.
    """

    def __init__(self, generator: nn.Module, decay: float = 0.999, rampup: bool = True):
        super().__init__()
        self.module = copy.deepcopy(generator).requires_grad_(False)
        self.decay, self.rampup = decay, rampup
        self.updates = 0

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def beta(self) -> float:
        """The factor of the next update."""
        t = self.updates
        return min(self.decay, (1 + t) / (10 + t)) if self.rampup else self.decay

    @torch.no_grad()
    def update_parameters(self, generator: nn.Module) -> None:
        mine = [*self.module.parameters(), *self.module.buffers()]
        theirs = [t.detach() for t in (*generator.parameters(), *generator.buffers())]
        if len(mine) != len(theirs):
            raise RuntimeError(f"the average has {len(mine)} tensors, the generator {len(theirs)}")
        floats = [(a, b) for a, b in zip(mine, theirs) if a.is_floating_point()]
        if self.updates == 0 or not floats:
            for a, b in zip(mine, theirs):
                a.copy_(b)
        else:
            torch._foreach_lerp_([a for a, _ in floats], [b for _, b in floats], 1 - self.beta())
            for a, b in zip(mine, theirs):
                if not a.is_floating_point():
                    a.copy_(b)
        self.updates += 1

    def get_extra_state(self) -> dict:
        return {"updates": self.updates}

    def set_extra_state(self, state: dict) -> None:
        updates = state.get("updates") if isinstance(state, dict) else None
        if isinstance(updates, bool) or not isinstance(updates, int) or updates < 0:
            raise ValueError(f"ema: the average's update count is {updates!r}, expected an integer >= 0")
        self.updates = updates


@hookimpl
def ganlab_options():
    return EMAOptions


@hookimpl
def ganlab_generator_average(generator, options):
    o = options[EMAOptions]
    return ExponentialAverage(generator, o.decay, o.rampup)


@hookimpl
def ganlab_claims(options):
    from ganlab import claims as C

    o = options[EMAOptions]
    return [C.WeightAverage(decay=o.decay, rampup=o.rampup)]


@hookimpl
def ganlab_verify_variants():
    # decay 0.5: the ramp (1+t)/(10+t) passes β after 8 updates, so the cap min(β, ·) is checked too.
    return [{}, {"decay": "0.5"}, {"rampup": "false", "decay": "0.9"}]
