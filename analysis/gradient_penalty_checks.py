"""WGAN-GP checks (Gulrajani et al. 2017, Prop. 1).

Part 1 (mathematics, no plugin): for two 1-D distributions, the optimal
critic of the W₁ dual, max Σ (p_d - p_g)_i f_i subject to
|f_{i+1} - f_i| ≤ x_{i+1} - x_i, solved as a linear program on a grid, has
slope ±1 wherever the CDFs differ (integration by parts:
E_pd f - E_pg f = ∫ f'(x) (F_g - F_d) dx), and its value is W₁.

Part 2 (the plugin): the gradient penalty of a plugin declaring
``GradientPenalty`` is zero for critics whose gradient has norm 1 at every
sample and λ(‖∇‖ - 1)² for a linear critic, with the declared weight λ. A norm taken over
the whole batch instead of per sample fails: for a unit-slope critic it
sees √B.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import optimize, stats

from ganlab.analysis import claims as C
from ganlab.analysis.densities import Mixture
from ganlab.analysis.families import Family
from ganlab.analysis.penalty_inputs import SHAPES, Distance, Linear, unit
from ganlab.analysis.probe import DTYPE, LossProbe, implements
from ganlab.regularizers import PenaltyBatch

CRITIC = C.register(
    "wgan-gp-critic", "Optimal W₁ critic has unit slope",
    source="Gulrajani et al. 2017, Prop. 1; seed 003",
    formula="|f*'| = 1 wherever F_d ≠ F_g; Σ(p_d - p_g)f* = W₁",
    conditions="1-D distributions on a 241-point grid; LP by scipy (HiGHS)",
)
PENALTY = C.register(
    "wgan-gp-penalty", "Gradient penalty is per-sample (‖∇‖ - 1)²",
    source="Gulrajani et al. 2017, eq. 3",
    formula="GP(f) = 0 if ‖∇f‖ = 1 at every sample; GP(s·u·x) = λ(s - 1)²",
    conditions="linear and distance critics on 2-D points and 1- and 3-channel images, batch of 16; "
               "the plugin's own regularizer",
)

PAIRS = [
    ("N(0,1) vs N(1,1)", Mixture.gaussian(0, 1), Mixture.gaussian(1, 1)),
    ("N(0,1) vs N(0,2)", Mixture.gaussian(0, 1), Mixture.gaussian(0, 2)),
    ("mixture vs N(0,1)", Mixture.of([0.3, 0.7], [-2, 1], [0.5, 0.8]), Mixture.gaussian(0, 1)),
]
GRID = 241


def optimal_critic(p: Mixture, q: Mixture) -> dict:
    lo = min(min(d.means) - 8 * max(d.scales) for d in (p, q))
    hi = max(max(d.means) + 8 * max(d.scales) for d in (p, q))
    x = np.linspace(lo, hi, GRID)
    mp, mq = p.pdf(x), q.pdf(x)
    mp, mq = mp / mp.sum(), mq / mq.sum()
    n, h = GRID, np.diff(x)
    # Variables f_0..f_{n-1}; rows f_{i+1} - f_i ≤ h_i and f_i - f_{i+1} ≤ h_i; f_0 = 0.
    A = np.zeros((2 * (n - 1), n))
    idx = np.arange(n - 1)
    A[idx, idx + 1], A[idx, idx] = 1, -1
    A[n - 1 + idx, idx + 1], A[n - 1 + idx, idx] = -1, 1
    bounds = [(0, 0)] + [(None, None)] * (n - 1)
    res = optimize.linprog(-(mp - mq), A_ub=A, b_ub=np.concatenate([h, h]), bounds=bounds, method="highs",
                           options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    f = res.x
    slope = np.diff(f) / h
    gap = np.cumsum(mq - mp)[:-1]  # F_g - F_d on each cell
    return {"x": x, "f": f, "slope": slope, "cdf_gap": gap, "value": -res.fun,
            "w1_discrete": stats.wasserstein_distance(x, x, mp, mq)}


def check_critic() -> C.Result:
    worst_slope, excess, data = 0.0, 0.0, {}
    for name, p, q in PAIRS:
        out = optimal_critic(p, q)
        # Where |F_g - F_d| > 1e-6 a wrong slope costs 2h·1e-6 ≈ 1e-7 of
        # objective, far above the 1e-10 tolerances HiGHS is run with, so the
        # LP's vertex solution must have slope sign(F_g - F_d) there, exactly
        # up to feasibility 1e-10 per cell of width h ≈ 0.1: ≤ 1e-8.
        gap, h = out["cdf_gap"], np.diff(out["x"])
        where = np.abs(gap) > 1e-6
        dev = np.abs(out["slope"][where] - np.sign(gap[where]))
        worst_slope = max(worst_slope, float(dev.max()) if dev.size else 0.0)
        # The LP value may fall short of W₁ only by the cells it may get wrong
        # (2h|F_g - F_d| each), plus float error on O(1) sums (1e-12).
        allowed = float(np.sum(2 * h[~where] * np.abs(gap[~where]))) + 1e-12
        excess = max(excess, abs(out["value"] - out["w1_discrete"]) - allowed)
        data[name] = {k: out[k] for k in ("x", "f", "value", "w1_discrete")}
    ok = worst_slope <= 1e-8 and excess <= 0
    # No plugin is involved: information about the mathematics, never a PASS.
    return C.result(CRITIC, "scipy", C.INFO if ok else C.FAIL,
                    f"max|f' - sign(F_g-F_d)| {C.fmt(worst_slope)}, |LP - W₁| beyond bound {C.fmt(max(excess, 0))}",
                    "f' = sign(F_g - F_d) (|f'| = 1); LP value = W₁ (scipy)",
                    "1e-8 slope; value: Σ 2h|ΔF| over cells with |ΔF| ≤ 1e-6", data=data)


def _penalty(probe: LossProbe, reg, critic, real, fake) -> float:
    batch = PenaltyBatch(real=real, fake=fake, real_scores=critic(real), fake_scores=critic(fake), discriminator=critic)
    return float(probe.penalty(reg, batch).detach())


@C.checks(PENALTY)
def check_penalty(probe: LossProbe) -> C.Result:
    owners = probe.declarers(C.GradientPenalty)
    if not owners:
        return C.result(PENALTY, probe.label, C.NA, "-", "a gradient penalty", "-",
                        note="the selection declares no GradientPenalty")
    # The penalty checked is the declaring plugin's own, whatever else is active.
    owner = owners[0]
    claim = probe.declarations(C.GradientPenalty, plugin=owner)[0]
    regs = [r for r in probe.regularizers(plugin=owner) if r.player == "D" and implements(r, "penalty")]
    if len(regs) != 1:
        return C.result(PENALTY, probe.label, C.FAIL, f"{len(regs)} D penalties", "exactly one", "-",
                        note=f"{owner} declares a GradientPenalty, so its ganlab_regularizer must return "
                             f"one D regularizer with a penalty (found {[r.name for r in regs]})")
    reg, lam = regs[0], claim.weight
    slopes = (0.5, 2.0, 3.0)
    # Every per-sample norm of a linear critic s·u is exactly s, so GP(s·u) =
    # λ(s-1)² (0 for s < 1 if one-sided). Norms, squares and a mean of 16
    # terms round at a few ulps: 1e-12·(1 + λ(s-1)²) leaves a 1e3 margin in
    # float64 (scaled to the code's dtype), and "zero" means ≤ tol·(1 + λ).
    tol = probe.precision.tol(1e-12)
    expected = [0.0 if claim.one_sided and s < 1 else lam * (s - 1) ** 2 for s in slopes]
    problems, data = [], {}
    for where, shape in SHAPES.items():
        u = unit(shape)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            real = torch.randn(16, *shape, dtype=DTYPE)
            fake = torch.randn(16, *shape, dtype=DTYPE) + 3
            zero_unit = _penalty(probe, reg, Linear(u), real, fake)
            zero_dist = _penalty(probe, reg, Distance(40 * torch.roll(u, 1)), real, fake)
            pens = [_penalty(probe, reg, Linear(s * u), real, fake) for s in slopes]
        data[where] = {"unit": zero_unit, "distance": zero_dist, "penalties": pens}
        for name, got in (("GP(unit linear critic)", zero_unit), ("GP(‖x - c‖, per-sample norm 1)", zero_dist)):
            if abs(got) > tol * (1 + lam):
                problems.append(f"on {where}: {name} = {got:.3g}, expected 0")
        for s, got, want in zip(slopes, pens, expected):
            if abs(got - want) > tol * (1 + want):
                problems.append(f"on {where}: GP({s:g}u) = {got:.6g}, expected λ(s-1)² = {want:.6g}")
    shown = data["points"] if not problems else data[problems[0].split(":")[0][3:]]
    measured = (f"GP(unit) {C.fmt(shown['unit'])}, GP(‖x-c‖) {C.fmt(shown['distance'])}, "
                f"GP(0.5u, 2u, 3u) {', '.join(C.fmt(v) for v in shown['penalties'])}"
                + (f" on {problems[0].split(':')[0][3:]}" if problems else f" on {len(SHAPES)} input shapes"))
    want = f"0, 0, then λ·(s-1)² = {', '.join(C.fmt(v) for v in expected)} (λ = {C.fmt(lam)}" + (
        ", s > 1 only)" if claim.one_sided else ")")
    if problems and any("images" in p for p in problems) and not any(p.startswith("on points") for p in problems):
        problems.append("right on 2-D points but wrong on images: a norm over dim=1 of NCHW gradients is a norm "
                        "per pixel; flatten each sample's gradient first")
    return C.result(PENALTY, probe.label, C.FAIL if problems else C.PASS, measured, want,
                    f"{tol:.2g}(1+|GP|)", note="; ".join(problems[:3] + problems[-1:] if len(problems) > 3 else problems),
                    data={"shapes": data, "slopes": slopes, "expected": expected, "weight": lam})


FAMILY = Family("gradient-penalty", (CRITIC, PENALTY), check_penalty,
                lambda probe: bool(probe.declarations(C.GradientPenalty)), standalone=lambda: [check_critic()])
