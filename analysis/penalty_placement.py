"""Where a gradient penalty looks: R1 on real samples, WGAN-GP on per-sample interpolates.

A penalty can have the right formula in the wrong place: R1 computed on the
fakes, or WGAN-GP with one interpolation coefficient ε for the whole batch.
Critics whose gradient is the same everywhere (linear ones) cannot tell, so
these checks use f(x) = a·x₁ + (b - a)·x₁²/2 on points with real x₁ = 0 and
fake x₁ = 1: ‖∇f‖ = |a + (b - a)·x₁| is a at every real point, b at every
fake one, and a + (b - a)(1 - ε) at the interpolate ε·real + (1 - ε)·fake.

* R1 = (γ/2)·E_real‖∇f‖² must be (γ/2)·a², not (γ/2)·b² (fakes) or the mean.
* The critic records its inputs, so the interpolates the plugin's penalty
  actually used are read back: their ε must lie in [0, 1], differ between
  samples, and the penalty must equal λ·mean((‖∇f(x̂_i)‖ - 1)²) over them.
"""

from __future__ import annotations

import numpy as np
import torch

from ganlab.analysis import claims as C
from ganlab.analysis.families import Family
from ganlab.analysis.probe import DTYPE, LossProbe
from ganlab.regularizers import PenaltyBatch

R1_PLACEMENT = C.register(
    "r1-real-only", "R1 penalises real samples only",
    source="Mescheder et al. 2018, eq. 9",
    formula="R1 = (γ/2)·E_{p_d}‖∇D(x)‖² = (γ/2)·a² for ‖∇D‖ = a on reals, b on fakes",
    conditions="critic a·x₁ + (b-a)x₁²/2, a = 0.5, b = 2; reals at x₁ = 0, fakes at x₁ = 1; batch of 16",
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
    formula="every x̂ nearer the reals (x₁ = 0) than the fakes (x₁ = 1), not all x̂ = x; "
            "GP = λ·mean((‖∇f(x̂_i)‖ - 1)²)",
    conditions="same critic and points; perturbed points read back from the critic's inputs; batch of 16",
)

A, B, BATCH = 0.5, 2.0, 16
# Float64 sums of 16 squares of O(1) numbers: rounding ≤ 16·2^-53 relative;
# 1e-12 relative leaves a margin of ~1e2 over it.
TOL = 1e-12


class _Critic(torch.nn.Module):
    """f(x) = k·(a·x₁ + (b-a)·x₁²/2), recording every batch it is called on."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.seen: list[torch.Tensor] = []
        self.scale = scale

    def forward(self, x, labels=None):
        self.seen.append(x.detach().clone())
        x1 = x.flatten(1)[:, 0]
        return self.scale * (A * x1 + 0.5 * (B - A) * x1 ** 2)


def _grad_norm(x1, scale: float = 1.0):
    return np.abs(scale * (A + (B - A) * np.asarray(x1)))


def _points():
    y = torch.linspace(-1, 1, BATCH, dtype=DTYPE)
    real = torch.stack([torch.zeros(BATCH, dtype=DTYPE), y], dim=1)
    fake = torch.stack([torch.ones(BATCH, dtype=DTYPE), y], dim=1)
    return real, fake


def _run_penalty(reg, scale: float = 1.0) -> tuple[float, list[torch.Tensor]]:
    critic = _Critic(scale)
    real, fake = _points()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        batch = PenaltyBatch(real=real, fake=fake, real_scores=critic(real), fake_scores=critic(fake),
                             discriminator=critic)
        critic.seen.clear()  # the two calls above are ours, not the penalty's
        value = float(reg.penalty(batch).detach())
    return value, critic.seen


def check_r1(probe: LossProbe) -> C.Result:
    claim, reg = probe.owned_penalty(C.R1Penalty)
    if isinstance(reg, str):
        return C.result(R1_PLACEMENT, probe.own_label, C.FAIL, "-", "exactly one D penalty", "-", note=reg)
    value, _ = _run_penalty(reg)
    g = claim.gamma
    want, on_fakes, on_both = g / 2 * A**2, g / 2 * B**2, g / 2 * (A**2 + B**2) / 2
    ok = abs(value - want) <= TOL * (1 + want)
    note = ""
    if not ok:
        where = {"the fakes": on_fakes, "reals and fakes": on_both}
        match = [k for k, v in where.items() if abs(value - v) <= TOL * (1 + v)]
        note = f"R1 = {value:.6g}" + (f": that is the penalty on {match[0]}" if match else "")
    return C.result(R1_PLACEMENT, probe.own_label, C.PASS if ok else C.FAIL, f"R1 {C.fmt(value)}",
                    f"(γ/2)·a² = {C.fmt(want)} (fakes would give {C.fmt(on_fakes)}; γ = {C.fmt(g)})",
                    f"{TOL:g}(1+R1)", note=note, data={"value": value, "expected": want})


def _expected_gp(claim, x1: np.ndarray, value: float, where: str, problems: list[str], scale: float = 1.0) -> float:
    """λ·mean((‖∇f‖ - 1)²) at the points the penalty read back; a mismatch with ``value`` is a problem."""
    excess = _grad_norm(x1, scale) - 1
    if claim.one_sided:
        excess = np.maximum(excess, 0)
    want = claim.weight * float(np.mean(excess**2))
    if abs(value - want) > TOL * (1 + want):
        problems.append(f"GP = {value:.6g}, but λ·mean((‖∇f(x̂)‖ - 1)²) over its own {where} = {want:.6g}")
    return want


def check_gp(probe: LossProbe) -> C.Result:
    claim, reg = probe.owned_penalty(C.GradientPenalty)
    if isinstance(reg, str):
        return C.result(GP_INTERPOLATES, probe.own_label, C.FAIL, "-", "exactly one D penalty", "-", note=reg)
    value, seen = _run_penalty(reg)
    _, fake = _points()
    y = fake[:, 1].numpy()
    # The interpolates are the call whose points sit on the segments real_i–fake_i (same y, x₁ in [0, 1]).
    calls = [x.flatten(1).numpy() for x in seen
             if x.flatten(1).shape == (BATCH, 2) and np.allclose(x.flatten(1)[:, 1].numpy(), y, rtol=0, atol=TOL)]
    problems = []
    if not calls:
        return C.result(GP_INTERPOLATES, probe.own_label, C.FAIL, f"{len(seen)} critic calls", "interpolates",
                        "-", note="the penalty never evaluated the critic on points between the real and fake "
                                  "samples of each pair")
    x1 = calls[-1][:, 0]
    eps = 1 - x1  # the weight on the real sample
    if np.any(eps < -TOL) or np.any(eps > 1 + TOL):
        problems.append(f"ε outside [0, 1]: {eps.min():.3g}..{eps.max():.3g}")
    distinct = len(np.unique(np.round(eps, 12)))
    if distinct == 1:
        problems.append(f"one ε = {eps[0]:.6g} for the whole batch")
    want = _expected_gp(claim, x1, value, "interpolates", problems)
    return C.result(GP_INTERPOLATES, probe.own_label, C.FAIL if problems else C.PASS,
                    f"{distinct} distinct ε of {BATCH} in [{C.fmt(float(eps.min()))}, {C.fmt(float(eps.max()))}], "
                    f"GP {C.fmt(value)}", f"ε per sample; GP = {C.fmt(want)} from the read-back x̂",
                    f"{TOL:g}(1+GP)", note="; ".join(problems), data={"eps": eps, "value": value, "expected": want})


def check_dragan(probe: LossProbe) -> C.Result:
    claim, reg = probe.owned_penalty(C.GradientPenalty)
    if isinstance(reg, str):
        return C.result(DRAGAN_PLACEMENT, probe.own_label, C.FAIL, "-", "exactly one D penalty", "-", note=reg)
    # Near the reals f's slope is 0.5-0.7, where a one-sided penalty is 0 whatever points it used;
    # scaled by 4 the slope is 2-2.8 there, so the read-back comparison below says something.
    scale = 4.0 if claim.one_sided else 1.0
    value, seen = _run_penalty(reg, scale)
    calls = [x.flatten(1).numpy() for x in seen if x.flatten(1).shape == (BATCH, 2)]
    if not calls:
        return C.result(DRAGAN_PLACEMENT, probe.own_label, C.FAIL, f"{len(seen)} critic calls", "perturbed reals",
                        "-", note="the penalty never evaluated the critic on a batch of points")
    x = calls[-1]
    real, _ = _points()
    moved = np.abs(x - real.numpy()).max(axis=1)
    problems = []
    if np.any(np.abs(x[:, 0]) >= 0.5):
        problems.append(f"x̂₁ up to {np.abs(x[:, 0]).max():.3g}: points nearer the fakes than the reals")
    if not np.any(moved > TOL):
        problems.append("x̂ = x: the reals were not perturbed")
    want = _expected_gp(claim, x[:, 0], value, "points", problems, scale)
    return C.result(DRAGAN_PLACEMENT, probe.own_label, C.FAIL if problems else C.PASS,
                    f"x̂₁ in [{C.fmt(float(x[:, 0].min()))}, {C.fmt(float(x[:, 0].max()))}], max shift "
                    f"{C.fmt(float(moved.max()))}, GP {C.fmt(value)}", f"|x̂₁| < ½; GP = {C.fmt(want)} from the read-back x̂",
                    f"{TOL:g}(1+GP)", note="; ".join(problems), data={"x1": x[:, 0], "value": value, "expected": want})


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
