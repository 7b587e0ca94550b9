"""Generic claims about every D penalty, with nothing declared: penalties are per sample.

ganlab's contract says a penalty is a mean of one term per sample. Two
facts follow, checked on every D penalty a plugin returns, on 2-D points and
on 1- and 3-channel images (:mod:`ganlab.analysis.penalty_inputs`):

* ``penalty-per-sample``: with a linear critic (the same gradient
  everywhere, so random interpolates or perturbations do not matter) the
  penalty of a batch equals the mean of its samples' penalties, and a batch
  repeated twice has the penalty of the batch. A norm over the whole batch
  (√B times each sample's) or a sum instead of a mean fails.
* ``penalty-draws``: with a critic whose gradient differs at every point,
  a batch of n copies of one (real, fake) pair averages n independent draws
  when each sample draws its own ε or noise, so across seeds its variance is
  1/n of one pair's. One draw shared by the batch leaves it at 1. The ratio
  decides, at a threshold 1/√n that both hypotheses miss only with the
  probability of an F(K-1, K-1) variable beyond √n (stated in the row).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from scipy import stats

from ganlab.analysis import claims as C
from ganlab.analysis.families import Family
from ganlab.analysis.penalty_inputs import SHAPES, Bowl, Linear, unit
from ganlab.analysis.probe import DTYPE, LossProbe, implements
from ganlab.regularizers import PenaltyBatch

PER_SAMPLE = C.register(
    "penalty-per-sample", "A penalty is a mean of per-sample terms",
    source="ganlab's hook contract (penalties are per sample); Gulrajani et al. 2017, eq. 3",
    formula="P(batch) = mean_i P(sample_i); P([batch; batch]) = P(batch)",
    conditions="every D penalty without running statistics, nothing declared; linear critic; points and 1- and 3-channel images, batch of 8",
)
DRAWS = C.register(
    "penalty-draws", "Each sample draws its own randomness",
    source="Gulrajani et al. 2017, Algorithm 1 (ε per sample); Kodali et al. 2017 (δ per sample)",
    formula="Var P(n copies) / Var P(1 copy) ≈ 1/n (≈ 1 for one draw per batch); fail above 1/√n",
    conditions=f"every random D penalty; critic ½‖x - c‖²; n = 64 copies, K = 48 seeds, each input shape",
)

BATCH = 8
COPIES, SEEDS = 64, 48
# Rounding of means of O(1-10) terms: 1e-12 relative (scaled to the code's dtype) leaves a 1e3 margin.
TOL = 1e-12


def own_penalties(probe: LossProbe) -> list[tuple[Any, dict]]:
    """(penalty, the input shapes it is probed on) for each D penalty of the probe's own plugins.

    A plugin that offers its penalty for images only (consistency
    regularization augments images) is probed on images only.
    """
    if "own_penalties" not in probe.cache:
        out = []
        if _has_regularizers(probe):
            for n in probe.names:
                for shapes in ({k: v for k, v in SHAPES.items() if len(v) == 1},
                               {k: v for k, v in SHAPES.items() if len(v) > 1}):
                    regs = [r for r in probe.regularizers(plugin=n, shape=next(iter(shapes.values())))
                            if r.player == "D" and implements(r, "penalty")]
                    if regs:
                        out.extend((r, SHAPES if len(next(iter(shapes.values()))) == 1 else shapes) for r in regs)
                        break
        probe.cache["own_penalties"] = out
    return probe.cache["own_penalties"]


def _has_regularizers(probe: LossProbe) -> bool:
    return any(n in probe.sel.implementers("ganlab_regularizer") for n in probe.names)


def _value(probe, reg, critic, real, fake, seed: int = 0) -> float:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        np.random.seed(seed)
        batch = PenaltyBatch(real=real, fake=fake, real_scores=critic(real), fake_scores=critic(fake),
                             discriminator=critic)
        out = probe.penalty(copy.deepcopy(reg), batch)  # stateful penalties must not remember a probe
    return float(out.detach()) if out is not None else 0.0


@C.checks(PER_SAMPLE)
def check_per_sample(probe: LossProbe, reg, shapes: dict) -> C.Result:
    tol = probe.precision.tol(TOL)
    problems, shown = [], {}
    for where, shape in shapes.items():
        critic = Linear(1.7 * unit(shape, seed=3))
        g = torch.Generator().manual_seed(5)
        real = torch.randn(BATCH, *shape, generator=g, dtype=DTYPE)
        fake = torch.randn(BATCH, *shape, generator=g, dtype=DTYPE) + 1
        whole = _value(probe, reg, critic, real, fake)
        again = _value(probe, reg, critic, real, fake, seed=1)
        if abs(whole - again) > tol * (1 + abs(whole)):
            shown.setdefault(where, f"random even for a linear critic ({whole:.4g} vs {again:.4g}): left to penalty-draws")
            continue
        each = float(np.mean([_value(probe, reg, critic, real[i:i + 1], fake[i:i + 1]) for i in range(BATCH)]))
        twice = _value(probe, reg, critic, torch.cat([real, real]), torch.cat([fake, fake]))
        shown.setdefault(where, f"P {C.fmt(whole)}, mean of samples {C.fmt(each)}, doubled {C.fmt(twice)}")
        if abs(whole - each) > tol * (1 + abs(whole) + abs(each)):
            problems.append(f"on {where}: P(batch of {BATCH}) = {whole:.6g} but the mean of its samples' "
                            f"penalties is {each:.6g} (ratio {whole / each if each else float('inf'):.4g})")
        if abs(whole - twice) > tol * (1 + abs(whole)):
            problems.append(f"on {where}: repeating the batch changes the penalty from {whole:.6g} to {twice:.6g}")
    if len(shown) == sum(v.startswith("random even") for v in shown.values()):
        return C.result(PER_SAMPLE, f"{probe.own_label} ({reg.name})", C.NA, "random for every critic",
                        "equal: mean of per-sample terms", "-", note=next(iter(shown.values())))
    if problems:
        problems.append("a norm over the whole batch, or a sum instead of a mean, couples the samples")
    where = problems[0].split(":")[0][3:] if problems else "points"
    return C.result(PER_SAMPLE, f"{probe.own_label} ({reg.name})", C.FAIL if problems else C.PASS,
                    f"{shown.get(where, '-')} on {where if problems else f'{len(shapes)} input shapes'}",
                    "equal: mean of per-sample terms", f"{tol:.2g}(1+|P|)", note="; ".join(problems))


@C.checks(DRAWS)
def check_draws(probe: LossProbe, reg, shapes: dict) -> C.Result:
    label = f"{probe.own_label} ({reg.name})"
    threshold = 1 / np.sqrt(COPIES)
    # Both hypotheses (ratio 1/n or 1) sit a factor √n from the threshold; a sample
    # variance ratio of K-1 and K-1 degrees of freedom crosses it with this probability.
    miss = float(stats.f.sf(np.sqrt(COPIES), SEEDS - 1, SEEDS - 1))
    ratios, problems, random_anywhere = {}, [], False
    for where, shape in shapes.items():
        g = torch.Generator().manual_seed(11)
        real1 = torch.randn(1, *shape, generator=g, dtype=DTYPE)
        fake1 = torch.randn(1, *shape, generator=g, dtype=DTYPE) + 1
        critic = Bowl(torch.randn(int(np.prod(shape)), generator=g, dtype=DTYPE))
        one = np.array([_value(probe, reg, critic, real1, fake1, seed=s) for s in range(SEEDS)])
        spread = float(one.std())
        if spread <= probe.precision.tol(TOL) * (1 + float(np.abs(one).mean())):
            continue  # deterministic (R1): nothing drawn
        random_anywhere = True
        many = np.array([_value(probe, reg, critic, real1.expand(COPIES, *shape), fake1.expand(COPIES, *shape),
                                seed=s) for s in range(SEEDS)])
        ratio = float(many.var(ddof=1) / one.var(ddof=1))
        ratios[where] = ratio
        if ratio > threshold:
            problems.append(f"on {where}: the variance across seeds of a batch of {COPIES} copies is {ratio:.3g} "
                            f"of one pair's (per-sample draws give 1/{COPIES} = {1 / COPIES:.3g}): one draw "
                            "shared by the whole batch")
    if not random_anywhere:
        return C.result(DRAWS, label, C.NA, "deterministic", "per-sample draws", "-",
                        note="the penalty draws nothing at random")
    return C.result(DRAWS, label, C.FAIL if problems else C.PASS,
                    ", ".join(f"{k} {C.fmt(v)}" for k, v in ratios.items()),
                    f"≈ 1/{COPIES} = {C.fmt(1 / COPIES)} (per sample), 1 if shared",
                    f"< 1/√{COPIES} = {C.fmt(threshold)} (misjudged w.p. {miss:.1g})", note="; ".join(problems),
                    data={"ratios": ratios})


def _running_state(probe: LossProbe, reg, shapes: dict) -> bool:
    """Whether calling the penalty changes its state (anchors or a controller fed by each batch)."""
    shape = next(iter(shapes.values()))
    trial = copy.deepcopy(reg)
    before = repr(trial.state_dict())
    critic = Linear(unit(shape))
    x = torch.randn(BATCH, *shape, dtype=DTYPE)
    probe.penalty(trial, PenaltyBatch(real=x, fake=x + 1, real_scores=critic(x), fake_scores=critic(x + 1),
                                      discriminator=critic))
    return repr(trial.state_dict()) != before


def run(probe: LossProbe) -> list[C.Result]:
    rows = []
    for reg, shapes in own_penalties(probe):
        if _running_state(probe, reg, shapes):
            # LeCam's anchors and BEGAN's k are fed by each batch's mean scores, by design:
            # the current batch enters every sample's term, so per-sample does not apply.
            rows.append(C.result(PER_SAMPLE, f"{probe.own_label} ({reg.name})", C.NA, "-", "per-sample terms", "-",
                                 note="the penalty updates running statistics (its state_dict) from each batch"))
            continue
        rows.append(check_per_sample(probe, reg, shapes))
        rows.append(check_draws(probe, reg, shapes))
    return rows


FAMILY = Family("per-sample", (PER_SAMPLE, DRAWS), run, lambda probe: bool(own_penalties(probe)))
