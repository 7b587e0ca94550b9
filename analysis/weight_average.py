"""An average of G's weights against its exponential-moving-average recurrence.

A plugin declaring :class:`~ganlab.analysis.claims.WeightAverage` builds its
average through its own ``ganlab_generator_average`` for a small float64
network with batch norm (its running statistics are averaged too). The
network then takes random states, the average is updated after each, and the
averaged float tensors are compared with the recurrence written out in numpy.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ganlab.analysis import claims as C
from ganlab.analysis.families import Family
from ganlab.analysis.probe import LossProbe
from ganlab.runsetup import average_interface_problem

RECURRENCE = C.register(
    "ema-recurrence", "the average of G's weights follows its EMA recurrence",
    source="Yazıcı et al. 2019 (EMA of G); TensorFlow ExponentialMovingAverage (num_updates)",
    formula="θ̄_1 = θ_1; θ̄_{t+1} = β_t·θ̄_t + (1 - β_t)·θ_{t+1}, β_t = min(β, (1+t)/(10+t)) with rampup, else β",
    conditions="40 updates of a float64 network (linear layer, batch norm) with N(0, 1) states",
)

UPDATES = 40
# Float64 lerps of O(1) numbers: each update rounds by ~1e-16 and the errors are
# damped by β < 1, so 1e-12 leaves a margin of ~1e3.
TOL = 1e-12


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.norm = nn.BatchNorm1d(2)

    def forward(self, z, labels=None):
        return self.norm(self.linear(z))


def _floats(module: nn.Module) -> np.ndarray:
    return np.concatenate([t.detach().double().flatten().numpy()
                           for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()])


def check(probe: LossProbe) -> list[C.Result]:
    (claim,) = probe.declarations(C.WeightAverage)[:1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        G = _Net().double()
        average = probe.sel.hook.ganlab_generator_average(generator=G, options=probe.options)
        problem = "returned None" if average is None else average_interface_problem(average)
        if problem:
            return [C.result(RECURRENCE, probe.own_label, C.FAIL, "no average", "an average of G's weights", "-",
                             note=f"the plugin declares WeightAverage but its ganlab_generator_average {problem}")]
        expected, worst = None, 0.0
        for t in range(UPDATES):
            with torch.no_grad():
                for p in (*G.parameters(), *G.buffers()):
                    if p.is_floating_point():
                        p.copy_(torch.randn_like(p))
            theta = _floats(G)
            beta = min(claim.decay, (1 + t) / (10 + t)) if claim.rampup else claim.decay
            expected = theta if expected is None else beta * expected + (1 - beta) * theta
            average.update_parameters(G)
            worst = max(worst, float(np.abs(_floats(average.module) - expected).max()))
    ok = worst <= TOL
    return [C.result(RECURRENCE, probe.own_label, C.PASS if ok else C.FAIL,
                     f"max|θ̄ - recurrence| {C.fmt(worst)} over {UPDATES} updates",
                     f"β = {C.fmt(claim.decay)}" + (", ramped up" if claim.rampup else ", constant"),
                     f"{TOL:g} (float64)", source=claim.source,
                     note="" if ok else "the average is not the declared exponential moving average",
                     data={"max_error": worst})]


def _applies(probe: LossProbe) -> bool:
    return bool(probe.declarers(C.WeightAverage))


FAMILY = Family("weight-average", (RECURRENCE,), check, _applies)
