"""Claim 1: the pointwise optimal discriminator.

For a separable d_loss E_real φ_r(D(x)) + E_fake φ_f(D(x)), D*(x) minimises
p_d(x)·φ_r(t) + p_g(x)·φ_f(t) over the scalar t, so D* depends on x only
through r = p_d/p_g. We find t*(r) numerically from the plugin's d_loss
(:func:`ganlab.analysis.solver.pointwise_min`: bisection on the autograd derivative) and
compare with the closed form the plugin declares through ``ganlab_claims``.
"""

from __future__ import annotations

import numpy as np

from ganlab.analysis import claims as C
from ganlab.analysis import solver
from ganlab.analysis.families import Family
from ganlab.analysis.probe import LossProbe
from ganlab.analysis.solver import T_MAX

INFO = C.register(
    "optimal-d", "Optimal discriminator",
    source="Goodfellow et al. 2014, Prop. 1; Mao et al. 2017, eq. 7; seed 000",
    formula="t*(r) = argmin_t p_d·φ_r(t) + p_g·φ_f(t)",
    conditions="separable d_loss; r = p_d/p_g over 1e-3..1e3",
)

RATIOS = np.logspace(-3, 3, 25)  # includes r = 1 (index 12)
EPS = np.finfo(float).eps


def curve(probe: LossProbe, ratios=RATIOS) -> dict:
    """Numerical t*(r), its kind and the objective there, for each ratio.

    kind: "interior" (a bracketed minimiser), "infinite" (the infimum is
    approached as t → ±∞) or "unbounded" (no pointwise optimum).
    """
    pd, pg = ratios / (1 + ratios), 1 / (1 + ratios)
    opt = solver.pointwise_min(probe, pd, pg)
    kinds = np.where(opt.unbounded, "unbounded", np.where(opt.interior, "interior", "infinite"))
    return {"ratios": ratios, "pd": pd, "pg": pg, "t": opt.t, "kinds": kinds.tolist(), "value": opt.value}


def t_tolerance(probe: LossProbe, cur: dict) -> tuple[np.ndarray, np.ndarray]:
    """(tolerance on t*, whether the minimiser is unique), per ratio.

    Bisection leaves a bracket of width ≤ 4·eps·(1+|t|) around a sign change
    of the computed G(t) = p_d φ_r'(t) + p_g φ_f'(t) (see pointwise_min). The
    computed G is off by a few ulps of its O(1) intermediates (scores, targets,
    σ, 1 - σ): |δG| ≤ 16·eps·(p_d+p_g)(1 + |t| + |φ_r'| + |φ_f'|), which can move
    the sign change by δG/κ, κ the smaller secant slope of G over ±d around t*
    (the curvature; at a kink G jumps, so κ is large). κ > 0 means G changes
    sign within ±d: the minimiser is unique (hinge at r = 1 is flat on [-1, 1]).
    """
    t, pd, pg = cur["t"], cur["pd"], cur["pg"]
    d = 1e-6 * (1 + np.abs(t))
    r_lo, f_lo = solver.dphi(probe, t - d)
    r_hi, f_hi = solver.dphi(probe, t + d)
    r0, f0 = solver.dphi(probe, t)
    kappa = np.minimum(pd * r_hi + pg * f_hi, -(pd * r_lo + pg * f_lo)) / d
    eps = probe.precision.eps
    unique = (kappa > 0) & (np.array(cur["kinds"]) == "interior")
    delta_g = 16 * eps * (pd + pg) * (1 + np.abs(t) + np.abs(r0) + np.abs(f0))
    tol = 4 * EPS * (1 + np.abs(t)) + delta_g / np.where(unique, kappa, 1.0)
    return np.where(unique, tol, np.inf), unique


def check(probe: LossProbe) -> C.Result:
    unmet = C.unmet_premise(INFO, probe, solver.not_separable(probe), "pointwise optimum",
                           C.OptimalDiscriminator)
    if unmet is not None:
        return unmet
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
        return C.result(INFO, probe.label, C.INFO, f"t* in [{C.fmt(lo)}, {C.fmt(hi)}]", "no closed form declared",
                        "-", note="declare one with ganlab_claims -> OptimalDiscriminator", data=data)
    claim = declared[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_exp = np.asarray(claim.t_star(cur["pd"], cur["pg"]), dtype=float)
    v_exp = solver.objective(probe, cur["pd"], cur["pg"], np.clip(t_exp, -T_MAX, T_MAX))
    gap = v_exp - cur["value"]
    # The closed form must attain the numerical minimum. Both sides are float64
    # sums of O(1) terms (error ~1e-15); the numerical t* is exact to ~1e-15 and
    # enters the value only at second order. 1e-10 relative leaves a 1e5
    # margin. Where the minimiser is unique the closed form must also be within
    # tol_t of it: a shallow objective hides small errors from the gap (Δt = 1e-5
    # at curvature ≤ ¼ costs ≤ 1.3e-11), not from |Δt|.
    gap_tol = probe.precision.tol(1e-10)
    tol = gap_tol * (1 + np.abs(cur["value"]))
    tol_t, unique = t_tolerance(probe, cur)
    dt = np.abs(cur["t"] - t_exp)
    ok = np.isfinite(t_exp) & (gap <= tol) & (~unique | (dt <= tol_t))
    max_dt = float(dt[unique].max()) if unique.any() else 0.0
    worst_tol_t = float(tol_t[unique].max()) if unique.any() else 0.0
    data.update(t_expected=t_exp, gap=gap, tol_t=tol_t)
    status = C.PASS if ok.all() else C.FAIL
    bad = np.flatnonzero(~ok)
    note = "" if ok.all() else (f"at r={cur['ratios'][bad[0]]:.3g}: closed form {t_exp[bad[0]]:.6g}, "
                                f"numerical {cur['t'][bad[0]]:.6g} (gap {gap[bad[0]]:.3g})")
    return C.result(INFO, probe.label, status,
                    f"gap {C.fmt(float(gap.max()))}, max|Δt| {C.fmt(max_dt)}",
                    claim.formula, f"gap ≤ {gap_tol:.2g}(1+|V|), |Δt| ≤ {C.fmt(worst_tol_t)}",
                    formula=claim.formula, source=claim.source, note=note, data=data)


def plot(report, out):
    from ganlab.analysis import plots

    rows = [r for r in plots.rows(report, INFO.name, "t_numeric") if "unbounded" not in r.data.get("kinds", [])]
    if not rows:
        return None
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(11, 5))
    for i, r in enumerate(rows):
        st = plots.style(i)
        ratios = np.asarray(r.data["ratios"])
        if "t_expected" in r.data:
            ax.plot(ratios, r.data["t_expected"], color=st["color"], ls=st["linestyle"], lw=1)
        ax.plot(ratios, r.data["t_numeric"], st["marker"], ms=3, color=st["color"], ls=st["linestyle"] if
                "t_expected" in r.data else "none", lw=1,
                label=f"{r.plugin}: {r.expected}" if "t_expected" in r.data else f"{r.plugin} (numerical)")
    ax.set_xscale("log")
    # t* spans ±1 (LSGAN) to 2·10³ (Pearson χ²): a symmetric log scale keeps every curve readable.
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xlabel("density ratio r = p_d / p_g")
    ax.set_ylabel("optimal raw score t* (symmetric log scale)")
    ax.set_title("Optimal discriminator: numerical minimiser (markers) vs closed form (lines)")
    ax.axhline(0, color="0.8", lw=0.5)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return plots.save(fig, out / "optimal_d.png")


FAMILY = Family("optimal-d", (INFO,), check, LossProbe.has_loss, plot=plot)
