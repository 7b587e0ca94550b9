"""Where a gradient penalty looks: R1 on real samples, WGAN-GP on per-sample interpolates.

A penalty can have the right formula in the wrong place: R1 computed on the
fakes, or WGAN-GP with one interpolation coefficient ε for the whole batch.
Critics whose gradient is the same everywhere (linear ones) cannot tell, so
these checks use f(x) = a·s + (b - a)·s²/2 with s = ⟨u, x⟩ for a unit u, on
samples with real s = 0 and fake s = 1: ‖∇f‖ = |a + (b - a)·s| is a at every
real sample, b at every fake one, and a + (b - a)(1 - ε) at the interpolate
ε·real + (1 - ε)·fake. Every check runs on 2-D points and on 1- and
3-channel images (:mod:`ganlab.analysis.penalty_inputs`), where per-pixel
norms and per-element ε show.

* R1 = (γ/2)·E_real‖∇f‖² must be (γ/2)·a², not (γ/2)·b² (fakes) or the mean.
* The critic records its inputs, so the interpolates the plugin's penalty
  actually used are read back: they must lie on the segments real_i–fake_i
  (an ε per element leaves them), their ε must lie in [0, 1] and differ
  between samples, and the penalty must equal λ·mean((‖∇f(x̂_i)‖ - 1)²) over them.
"""

from __future__ import annotations

import copy

import torch

from ganlab.analysis import claims as C
from ganlab.analysis.families import Family
from ganlab.analysis.penalty_inputs import SHAPES, Ridge, along, coordinate, unit
from ganlab.analysis.probe import DTYPE, LossProbe
from ganlab.regularizers import PenaltyBatch

R1_PLACEMENT = C.register(
    "r1-real-only", "R1 penalises real samples only",
    source="Mescheder et al. 2018, eq. 9",
    formula="R1 = (γ/2)·E_{p_d}‖∇D(x)‖² = (γ/2)·a² for ‖∇D‖ = a on reals, b on fakes",
    conditions="critic a·s + (b-a)s²/2, s = ⟨u, x⟩, a = 0.5, b = 2; reals at s = 0, fakes at s = 1; "
               "points and 1- and 3-channel images, batch of 16",
)
GP_INTERPOLATES = C.register(
    "wgan-gp-interpolates", "WGAN-GP draws one ε per sample",
    source="Gulrajani et al. 2017, Algorithm 1 (ε ~ U[0, 1] inside the per-sample loop)",
    formula="x̂_i = ε_i·x_i + (1-ε_i)·x̃_i, ε_i ∈ [0, 1] not all equal; GP = λ·mean((‖∇f(x̂_i)‖ - 1)²)",
    conditions="same critic and points; interpolates read back from the critic's inputs; batch of 16",
)

DRAGAN_PLACEMENT = C.register(
    "dragan-near-real", "DRAGAN penalises near the real samples",
    source="Kodali et al. 2017, section 4 (x̂ = x + δ, δ a small perturbation of the data)",
    formula="every x̂ nearer the reals (s = 0) than the fakes (s = 1), not all x̂ = x; "
            "GP = λ·mean((‖∇f(x̂_i)‖ - 1)²)",
    conditions="same critic and points; perturbed points read back from the critic's inputs; batch of 16",
)

A, B, BATCH = 0.5, 2.0, 16
# Float64 sums of 16 squares of O(1) numbers: rounding ≤ 16·2^-53 relative;
# 1e-12 relative leaves a margin of ~1e2 over it (scaled to the code's dtype).
TOL = 1e-12
# Reals sit at ⟨u, x⟩ = 0 and fakes at 1; their other components are this small
# (a DRAGAN perturbation scales with std(x), so it stays well inside |⟨u, x̂⟩| < ½).
SPREAD = 0.1


def _points(shape):
    u = unit(shape)
    real = along(u, shape, BATCH, 0.0, SPREAD, seed=1)
    fake = along(u, shape, BATCH, 1.0, SPREAD, seed=2)
    return u, real, fake


def _run_penalty(probe: LossProbe, reg, shape, scale: float = 1.0):
    """(penalty, the critic's recorded calls, u, real, fake) for a Ridge critic on ``shape``."""
    u, real, fake = _points(shape)
    critic = Ridge(u, A, B, scale)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        batch = PenaltyBatch(real=real, fake=fake, real_scores=critic(real), fake_scores=critic(fake),
                             discriminator=critic)
        critic.seen.clear()  # the two calls above are ours, not the penalty's
        value = float(probe.penalty(copy.deepcopy(reg), batch).detach())
    return value, critic, u, real, fake


def _worst(rows: list[dict]) -> dict:
    """The first shape with a problem, else the points."""
    return next((r for r in rows if r["problems"]), rows[0])


@C.checks(R1_PLACEMENT)
def check_r1(probe: LossProbe) -> C.Result:
    claim, reg = probe.owned_penalty(C.R1Penalty)
    if isinstance(reg, str):
        return C.result(R1_PLACEMENT, probe.own_label, C.FAIL, "-", "exactly one D penalty", "-", note=reg)
    g, tol = claim.gamma, probe.precision.tol(TOL)
    want, on_fakes, on_both = g / 2 * A**2, g / 2 * B**2, g / 2 * (A**2 + B**2) / 2
    rows = []
    for where, shape in SHAPES.items():
        value, *_ = _run_penalty(probe, reg, shape)
        problems = []
        if abs(value - want) > tol * (1 + want):
            named = {"the fakes": on_fakes, "reals and fakes": on_both,
                     "σ(D) instead of the raw score": g / 2 * (A / 4) ** 2}
            match = [k for k, v in named.items() if abs(value - v) <= tol * (1 + v)]
            problems.append(f"on {where}: R1 = {value:.6g}" + (f": that is the penalty on {match[0]}" if match else ""))
        rows.append({"where": where, "value": value, "problems": problems})
    problems = [p for r in rows for p in r["problems"]]
    shown = _worst(rows)
    return C.result(R1_PLACEMENT, probe.own_label, C.FAIL if problems else C.PASS,
                    f"R1 {C.fmt(shown['value'])} on {shown['where'] if problems else f'{len(SHAPES)} input shapes'}",
                    f"(γ/2)·a² = {C.fmt(want)} (fakes would give {C.fmt(on_fakes)}; γ = {C.fmt(g)})",
                    f"{tol:.2g}(1+R1)", note="; ".join(problems), data={"rows": rows, "expected": want})


def _expected_gp(claim, critic: Ridge, s: torch.Tensor, value: float, where: str, problems: list[str],
                 tol: float) -> float:
    """λ·mean((‖∇f‖ - 1)²) at the points the penalty read back; a mismatch with ``value`` is a problem."""
    excess = critic.grad_norm(s) - 1
    if claim.one_sided:
        excess = excess.clamp(min=0)
    want = claim.weight * float((excess**2).mean())
    if abs(value - want) > tol * (1 + want):
        problems.append(f"GP = {value:.6g}, but λ·mean((‖∇f(x̂)‖ - 1)²) over its own {where} = {want:.6g}")
    return want


def _on_segments(call: torch.Tensor, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(ε_i, largest distance from the segments real_i–fake_i relative to their length) for one recorded call.

    x̂_i = ε_i·real_i + (1 - ε_i)·fake_i exactly when x̂_i - fake_i is ε_i·(real_i - fake_i).
    """
    d = (real - fake).flatten(1)
    r = call.to(DTYPE).flatten(1) - fake.flatten(1)
    eps = (r * d).sum(1) / (d * d).sum(1)
    off = torch.linalg.vector_norm(r - eps[:, None] * d, dim=1) / torch.linalg.vector_norm(d, dim=1)
    return eps, float(off.max())


@C.checks(GP_INTERPOLATES)
def check_gp(probe: LossProbe) -> C.Result:
    claim, reg = probe.owned_penalty(C.GradientPenalty)
    if isinstance(reg, str):
        return C.result(GP_INTERPOLATES, probe.own_label, C.FAIL, "-", "exactly one D penalty", "-", note=reg)
    tol = probe.precision.tol(TOL)
    rows = []
    for where, shape in SHAPES.items():
        value, critic, u, real, fake = _run_penalty(probe, reg, shape)
        problems = []
        calls = [(x,) + _on_segments(x, real, fake) for x in critic.seen if x.shape == real.shape]
        on = [c for c in calls if c[2] <= tol]
        if not on:
            off = min((c[2] for c in calls), default=None)
            problems.append(f"on {where}: the penalty never evaluated the critic on the segments real_i–fake_i"
                            + (f" (its points lie {off:.3g} of a segment's length off them: an ε per element, "
                               "not one per sample?)" if off is not None else f" ({len(critic.seen)} critic calls)"))
            rows.append({"where": where, "value": value, "problems": problems, "eps": None})
            continue
        x, eps, _ = on[-1]
        if eps.min() < -tol or eps.max() > 1 + tol:
            problems.append(f"on {where}: ε outside [0, 1]: {float(eps.min()):.3g}..{float(eps.max()):.3g}")
        distinct = len(torch.unique(torch.round(eps * 1e6)))
        if distinct == 1:
            problems.append(f"on {where}: one ε = {float(eps[0]):.6g} for the whole batch")
        want = _expected_gp(claim, critic, coordinate(x, u), value, f"interpolates on {where}", problems, tol)
        rows.append({"where": where, "value": value, "expected": want, "eps": eps.numpy(), "distinct": distinct,
                     "problems": problems})
    problems = [p for r in rows for p in r["problems"]]
    shown = _worst(rows)
    measured = (f"{shown['distinct']} distinct ε of {BATCH} in [{C.fmt(float(shown['eps'].min()))}, "
                f"{C.fmt(float(shown['eps'].max()))}], GP {C.fmt(shown['value'])}" if shown["eps"] is not None
                else "no interpolates") + (f" on {shown['where']}" if problems else f" on {len(SHAPES)} input shapes")
    return C.result(GP_INTERPOLATES, probe.own_label, C.FAIL if problems else C.PASS, measured,
                    "ε per sample on each segment; GP from the read-back x̂", f"{tol:.2g}(1+GP)",
                    note="; ".join(problems), data={"rows": rows, "eps": shown["eps"]})


@C.checks(DRAGAN_PLACEMENT)
def check_dragan(probe: LossProbe) -> C.Result:
    claim, reg = probe.owned_penalty(C.GradientPenalty)
    if isinstance(reg, str):
        return C.result(DRAGAN_PLACEMENT, probe.own_label, C.FAIL, "-", "exactly one D penalty", "-", note=reg)
    # Near the reals f's slope is 0.5-0.7, where a one-sided penalty is 0 whatever points it used;
    # scaled by 4 the slope is 2-2.8 there, so the read-back comparison below says something.
    scale = 4.0 if claim.one_sided else 1.0
    tol = probe.precision.tol(TOL)
    rows = []
    for where, shape in SHAPES.items():
        value, critic, u, real, _ = _run_penalty(probe, reg, shape, scale)
        problems = []
        calls = [x for x in critic.seen if x.shape == real.shape]
        if not calls:
            problems.append(f"on {where}: the penalty never evaluated the critic on a batch of samples")
            rows.append({"where": where, "value": value, "problems": problems, "s": None})
            continue
        x = calls[-1]
        s = coordinate(x, u)
        moved = float(torch.linalg.vector_norm((x.to(DTYPE) - real).flatten(1), dim=1).max())
        if float(s.abs().max()) >= 0.5:
            problems.append(f"on {where}: ⟨u, x̂⟩ up to {float(s.abs().max()):.3g}: points nearer the fakes than "
                            "the reals")
        if not moved > tol:
            problems.append(f"on {where}: x̂ = x: the reals were not perturbed")
        want = _expected_gp(claim, critic, s, value, f"points on {where}", problems, tol)
        rows.append({"where": where, "value": value, "expected": want, "s": s.numpy(), "moved": moved,
                     "problems": problems})
    problems = [p for r in rows for p in r["problems"]]
    shown = _worst(rows)
    measured = (f"⟨u, x̂⟩ in [{C.fmt(float(shown['s'].min()))}, {C.fmt(float(shown['s'].max()))}], max shift "
                f"{C.fmt(shown['moved'])}, GP {C.fmt(shown['value'])}" if shown["s"] is not None else "no points"
                ) + (f" on {shown['where']}" if problems else f" on {len(SHAPES)} input shapes")
    return C.result(DRAGAN_PLACEMENT, probe.own_label, C.FAIL if problems else C.PASS, measured,
                    "|⟨u, x̂⟩| < ½ (reals at 0, fakes at 1); GP from the read-back x̂", f"{tol:.2g}(1+GP)",
                    note="; ".join(problems), data={"rows": rows})


def applies(probe: LossProbe) -> bool:
    return bool(probe.declarations((C.R1Penalty, C.GradientPenalty)))


def run(probe: LossProbe) -> list[C.Result]:
    rows = []
    if probe.declarations(C.R1Penalty):
        rows.append(check_r1(probe))
    gp = probe.declarations(C.GradientPenalty)
    if gp:
        rows.append(check_dragan(probe) if gp[0].around == "real" else check_gp(probe))
    return rows


FAMILY = Family("penalty-placement", (R1_PLACEMENT, GP_INTERPOLATES, DRAGAN_PLACEMENT), run, applies)
