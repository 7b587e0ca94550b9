"""Claim 1: the pointwise optimal discriminator.

For a separable d_loss E_real φ_r(D(x)) + E_fake φ_f(D(x)), D*(x) minimises
p_d(x)·φ_r(t) + p_g(x)·φ_f(t) over the scalar t, so D* depends on x only
through r = p_d/p_g. We find t*(r) numerically from the plugin's d_loss
(scipy's brentq on the autograd derivative) and compare with the closed
form the plugin declares through ``ganlab_claims``.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from ganlab.analysis import claims as C
from ganlab.analysis.probe import T_MAX, LossProbe

INFO = C.register(
    "optimal-d", "Optimal discriminator",
    source="Goodfellow et al. 2014, Prop. 1; Mao et al. 2017, eq. 7; seed 000",
    formula="t*(r) = argmin_t p_d·φ_r(t) + p_g·φ_f(t)",
    conditions="separable d_loss; r = p_d/p_g over 1e-3..1e3",
)

RATIOS = np.logspace(-3, 3, 25)  # includes r = 1 (index 12)


def brent_t_star(probe: LossProbe, pd: float, pg: float) -> tuple[float, str]:
    """(t*, kind): kind is "interior", "infinite" (infimum approached as t → ±∞) or "unbounded"."""

    def G(t: float) -> float:
        r, f = probe.dphi(np.array([t]))
        return float(pd * r[0] + pg * f[0])

    lo, hi = -1.0, 1.0
    g_lo, g_hi = G(lo), G(hi)
    while g_lo > 0 and lo > -T_MAX:
        lo *= 2
        g_lo = G(lo)
    while g_hi < 0 and hi < T_MAX:
        hi *= 2
        g_hi = G(hi)
    if g_lo <= 0 <= g_hi:
        if g_lo == 0 or g_hi == 0:
            return (lo if g_lo == 0 else hi), "interior"
        # xtol 1e-13 with rtol at 4 float64 ulps: t* to machine precision.
        return optimize.brentq(G, lo, hi, xtol=1e-13, rtol=4 * np.finfo(float).eps), "interior"
    edge = -T_MAX if g_lo > 0 else T_MAX
    v_edge = probe.objective(pd, pg, np.array([edge]))[0]
    v_half = probe.objective(pd, pg, np.array([edge / 2]))[0]
    return edge, ("unbounded" if v_edge < v_half - 1e-9 * (1 + abs(v_half)) else "infinite")


def curve(probe: LossProbe, ratios=RATIOS) -> dict:
    """Numerical t*(r), its kind and the objective there, for each ratio."""
    pd, pg = ratios / (1 + ratios), 1 / (1 + ratios)
    ts, kinds = zip(*(brent_t_star(probe, a, b) for a, b in zip(pd, pg)))
    t = np.array(ts)
    return {"ratios": ratios, "pd": pd, "pg": pg, "t": t, "kinds": list(kinds),
            "value": probe.objective(pd, pg, t)}


def check(probe: LossProbe) -> C.Result:
    reason = probe.not_separable()
    if reason:
        return C.result(INFO, probe.label, C.NA, "-", "pointwise optimum", "-", note=reason)
    cur = curve(probe)
    data = {"ratios": cur["ratios"], "t_numeric": cur["t"], "kinds": cur["kinds"]}
    if "unbounded" in cur["kinds"]:
        bad = [float(r) for r, k in zip(cur["ratios"], cur["kinds"]) if k == "unbounded"]
        return C.result(INFO, probe.label, C.NA, "unbounded below", "no pointwise optimum", "-",
                        note=f"p_d·φ_r + p_g·φ_f → -∞ as |t| → ∞ for r ≠ 1 ({len(bad)} of {len(cur['ratios'])} "
                             "ratios): the critic needs a Lipschitz constraint instead", data=data)
    declared = probe.declarations(C.OptimalDiscriminator)
    lo, hi = float(cur["t"].min()), float(cur["t"].max())
    if not declared:
        return C.result(INFO, probe.label, C.NA, f"t* in [{C.fmt(lo)}, {C.fmt(hi)}]", "no closed form declared",
                        "-", note="declare one with ganlab_claims -> OptimalDiscriminator", data=data)
    claim = declared[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_exp = np.asarray(claim.t_star(cur["pd"], cur["pg"]), dtype=float)
    v_exp = probe.objective(cur["pd"], cur["pg"], np.clip(t_exp, -T_MAX, T_MAX))
    gap = v_exp - cur["value"]
    # The closed form is right iff it attains the numerical minimum. Both sides
    # are float64 sums of O(1) terms (error ~1e-15); brentq's t* is exact to
    # ~1e-15 and enters the value only at second order. 1e-10 relative leaves
    # a 1e5 margin, yet a D* wrong by Δt = 1e-3 at curvature ≥ 1e-3 costs ≥ 5e-10.
    tol = 1e-10 * (1 + np.abs(cur["value"]))
    ok = np.isfinite(t_exp) & (gap <= tol)
    unique = _unique(probe, cur)
    dt = np.abs(cur["t"] - t_exp)
    max_dt = float(dt[unique].max()) if unique.any() else 0.0
    data.update(t_expected=t_exp, gap=gap)
    status = C.PASS if ok.all() else C.FAIL
    worst = int(np.argmax(gap - tol))
    note = "" if ok.all() else (f"at r={cur['ratios'][worst]:.3g}: closed form {t_exp[worst]:.6g}, "
                                f"numerical {cur['t'][worst]:.6g}")
    return C.result(INFO, probe.label, status,
                    f"gap {C.fmt(float(gap.max()))}, max|Δt| {C.fmt(max_dt)}",
                    claim.formula, "gap ≤ 1e-10(1+|V|)", formula=claim.formula, source=claim.source,
                    note=note, data=data)


def _unique(probe: LossProbe, cur: dict) -> np.ndarray:
    """Where the minimum is strict (hinge at r = 1 has a flat bottom on [-1, 1])."""
    d = 1e-3
    t = cur["t"]
    up = probe.objective(cur["pd"], cur["pg"], t + d) - cur["value"]
    down = probe.objective(cur["pd"], cur["pg"], t - d) - cur["value"]
    return (np.minimum(up, down) > 1e-12) & (np.abs(t) < T_MAX)
