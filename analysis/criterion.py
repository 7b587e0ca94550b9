"""Claim 2: the virtual training criterion C(G) at the optimal discriminator.

Measured side: on explicit 1-D densities, solve the plugin's pointwise
optimum at every grid point (vectorised bisection on the autograd
derivative of its d_loss) and integrate with Simpson's rule:

* objective "d": C(G) = -∫ min_t [p_d φ_r(t) + p_g φ_f(t)] dx = V(D*, G);
* objective "g": C(G) = ∫ (p_d + p_g)·φ_g(D*(x)) dx with φ_g(t) = g_loss([t]):
  Mao et al.'s V_LSGAN(G) = ½E_pd[(D*(x)-c)²] + ½E_pg[(D*(x)-c)²] in ganlab's
  units, i.e. the generator loss at D* plus the real-data term that does not
  depend on G.

Expected side: the plugin's declared closed form, computed from the
densities with scipy (``ganlab.analysis.densities``), never with the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize

from ganlab.analysis import claims as C
from ganlab.analysis.densities import Mixture, merged_intervals
from ganlab.analysis.probe import LossProbe

INFO = C.register(
    "criterion", "Virtual training criterion at D*",
    source="Goodfellow et al. 2014, Thm 1; Mao et al. 2017, Thm 1; seed 000",
    formula="C(G) = V(D*, G)",
    conditions="separable loss with a pointwise D*; Gaussians and mixtures, quadrature on ±12σ",
)
MIN_INFO = C.register(
    "criterion-min", "C(G) is minimised at p_g = p_d",
    source="Goodfellow et al. 2014, Thm 1; Mao et al. 2017, Thm 1",
    formula="C(G) ≥ C(p_d) = -min_t[φ_r(t)+φ_f(t)] (any separable loss: a constant D is feasible)",
    conditions="strict (p_g ≠ p_d ⇒ C(G) > C(p_d)) where the plugin declares it",
)

# Grid spacing σ_min/16 per piece: the integrands vary on the scale of the
# narrowest component. Pieces end at every crossing p_d = p_g (see grid()),
# so each integrand is smooth on its pieces and the Richardson estimate in
# measure() bounds the error actually made. The cuts cost the spectral
# accuracy a uniform grid has on a smooth, decaying integrand (each cut adds
# h⁴ end terms), so the spacing is half what one uncut grid needed.
POINTS_PER_SIGMA = 16
# Crossings are bracketed on a scan of spacing σ_min/64: two crossings closer
# than that (a near-tangency) would go unseen, but between them |p_d - p_g|
# stays below (σ_min/64)²·|(p_d - p_g)''|/8, so a kink there is no larger.
CROSSING_SCAN = 64

PAIRS = [
    ("N(0,1) vs N(1,1)", Mixture.gaussian(0, 1), Mixture.gaussian(1, 1)),
    ("N(0,1) vs N(0,2)", Mixture.gaussian(0, 1), Mixture.gaussian(0, 2)),
    ("mixture vs N(0,1.5)", Mixture.of([0.3, 0.7], [-2, 1], [0.5, 1]), Mixture.gaussian(0, 1.5)),
    ("mixture vs mixture", Mixture.of([0.5, 0.5], [-1, 2], [0.7, 0.7]), Mixture.of([0.2, 0.8], [-1.5, 1.5], [1, 0.6])),
    ("p_g = p_d", Mixture.of([0.3, 0.7], [-2, 1], [0.5, 1]), Mixture.of([0.3, 0.7], [-2, 1], [0.5, 1])),
]


@dataclass
class Measured:
    value: float
    error: float        # quadrature (Richardson) + float error bound
    unbounded: bool


def grid(p: Mixture, q: Mixture) -> list[np.ndarray]:
    """Simpson grids (4m+1 points, so every other point is a Simpson grid too) per piece.

    Pieces are the merged ±12σ intervals, cut at every root of p_d - p_g.
    There a pointwise minimum can kink (hinge: 2·min(p_d, p_g)), and Simpson's
    rule's error across a kink is O(h²) with a constant that depends on where
    the kink falls between grid points, so |I_h - I_2h| need not bound it. The roots come from the densities alone (brentq), never
    from the loss.
    """
    comps = [(m, s) for d in (p, q) for m, s in zip(d.means, d.scales)]
    out = []
    for lo, hi in merged_intervals(p, q):
        h = min(s for m, s in comps if m + 12 * s >= lo and m - 12 * s <= hi) / POINTS_PER_SIGMA
        cuts = [lo, *crossings(p, q, lo, hi, h * POINTS_PER_SIGMA / CROSSING_SCAN), hi]
        for a, b in zip(cuts[:-1], cuts[1:]):
            m = max(16, int(np.ceil((b - a) / (4 * h))))
            out.append(np.linspace(a, b, 4 * m + 1))
    return out


def crossings(p: Mixture, q: Mixture, lo: float, hi: float, step: float) -> list[float]:
    """Roots of p_d - p_g strictly inside (lo, hi), by brentq on sign changes over a scan."""
    if p == q:
        return []
    diff = lambda x: p.pdf(x) - q.pdf(x)  # noqa: E731
    xs = np.linspace(lo, hi, int(np.ceil((hi - lo) / step)) + 1)
    d = diff(xs)
    roots = []
    for i in np.flatnonzero(d[:-1] * d[1:] < 0):
        # xtol at float64 resolution: the cut then sits on the kink to ~1e-16,
        # so the kink's share of the Simpson error is of that order.
        roots.append(optimize.brentq(diff, xs[i], xs[i + 1], xtol=1e-15, rtol=4 * np.finfo(float).eps))
    roots += [float(x) for x in xs[1:-1][d[1:-1] == 0]]  # exact zeros on the scan
    return sorted(roots)


def measure(probe: LossProbe, p: Mixture, q: Mixture, objective: str = "d") -> Measured:
    pieces = grid(p, q)
    x = np.concatenate(pieces)
    pd, pg = p.pdf(x), q.pdf(x)
    opt = probe.pointwise_min(pd, pg)
    if opt.unbounded.any():
        return Measured(-np.inf if objective == "d" else np.nan, np.inf, True)
    f = -opt.value if objective == "d" else (pd + pg) * probe.phi_g(opt.t)
    fine = coarse = 0.0
    start = 0
    for xs in pieces:
        seg = f[start:start + len(xs)]
        start += len(xs)
        fine += integrate.simpson(seg, x=xs)
        coarse += integrate.simpson(seg[::2], x=xs[::2])
    # Each piece's integrand is smooth (pieces end at the kinks), so Simpson's
    # error is K·h⁴ with the same K at h and 2h: I_2h's error is 16 times I_h's,
    # and |I_h - I_2h| = 15|E_h| bounds E_h with margin. Float: each of the N integrand
    # values is a few float64 operations (≤ 1e-15 relative), plus t* exact
    # to 1e-16 (entering at second order): 1e-13·∫|f| bounds the sum.
    mass = sum(integrate.simpson(np.abs(f[i:i + len(xs)]), x=xs) for i, xs in _offsets(pieces))
    return Measured(fine, abs(fine - coarse) + 1e-13 * (1 + mass), False)


def _offsets(pieces):
    start = 0
    for xs in pieces:
        yield start, xs
        start += len(xs)


def equal_value(probe: LossProbe, objective: str) -> float:
    """C(p_d) for p_g = p_d: there D* is the constant t* minimising φ_r + φ_f."""
    opt = probe.pointwise_min(np.array([1.0]), np.array([1.0]))
    if objective == "d":
        return float(-opt.value[0])
    return float(2 * probe.phi_g(opt.t)[0])


# Closed forms come from scipy's adaptive quad (requested 1e-11 relative,
# 1e-13 absolute); 1e-9 absolute covers quad's accuracy on these peaked
# integrands with a 100x margin.
QUAD_TOL = 1e-9


def check(probe: LossProbe, pairs=PAIRS) -> list[C.Result]:
    reason = probe.not_separable()
    if reason:
        return [C.result(INFO, probe.label, C.NA, "-", "C(G) at a pointwise D*", "-", note=reason),
                C.result(MIN_INFO, probe.label, C.NA, "-", "C(G) ≥ C(p_d)", "-", note=reason)]
    declared = probe.declarations(C.Criterion)
    claim = declared[0] if declared else None
    objective = claim.objective if claim else "d"
    measured = [measure(probe, p, q, objective) for _, p, q in pairs]
    if any(m.unbounded for m in measured):
        note = "D* is unbounded (no pointwise optimum), so V(D*, G) = +∞ for p_g ≠ p_d"
        return [C.result(INFO, probe.label, C.NA, "unbounded", "C(G) at a pointwise D*", "-", note=note),
                C.result(MIN_INFO, probe.label, C.NA, "unbounded", "C(G) ≥ C(p_d)", "-", note=note)]
    expected = [float(claim.value(p, q)) for _, p, q in pairs] if claim else None
    return [_closed_form(probe, claim, measured, pairs, expected),
            _minimum(probe, claim, objective, measured, pairs, expected)]


def _closed_form(probe, claim, measured, pairs, expected) -> C.Result:
    data = {"pairs": [n for n, _, _ in pairs], "measured": [m.value for m in measured]}
    if claim is None:
        return C.result(INFO, probe.label, C.NA, f"C = {', '.join(C.fmt(m.value) for m in measured)}",
                        "no closed form declared", "-", data=data,
                        note="declare one with ganlab_claims -> Criterion")
    diffs = [abs(m.value - e) for m, e in zip(measured, expected)]
    tols = [m.error + QUAD_TOL for m in measured]
    ok = [d <= t for d, t in zip(diffs, tols)]
    data.update(expected=expected, tolerance=tols)
    worst = int(np.argmax(np.array(diffs) - np.array(tols)))
    note = "" if all(ok) else f"{pairs[worst][0]}: measured {measured[worst].value:.9g}, expected {expected[worst]:.9g}"
    return C.result(INFO, probe.label, C.PASS if all(ok) else C.FAIL,
                    f"max|ΔC| {C.fmt(max(diffs))} over {len(pairs)} pairs", claim.formula,
                    f"quadrature+float ≤ {C.fmt(max(tols))}", formula=claim.formula, source=claim.source,
                    note=note, data=data)


def _minimum(probe, claim, objective, measured, pairs, expected) -> C.Result:
    strict = bool(claim and claim.minimum_at_equal)
    c_eq = equal_value(probe, objective)
    failures = []
    margins = []
    for i, ((name, p, q), m) in enumerate(zip(pairs, measured)):
        tol = m.error + QUAD_TOL
        margin = m.value - c_eq
        margins.append(margin)
        if p == q:
            if abs(margin) > tol:
                failures.append(f"{name}: C(p_d) - C_eq = {margin:.3g}")
        elif margin < -tol:
            failures.append(f"{name}: C(G) below C(p_d) by {-margin:.3g}")
        elif strict and margin <= tol and expected[i] - c_eq > 2 * tol:
            failures.append(f"{name}: C(G) not above C(p_d) although p_g ≠ p_d")
    others = [mg for (_, p, q), mg in zip(pairs, margins) if p != q]
    worst_tol = max(m.error for m in measured) + QUAD_TOL
    return C.result(MIN_INFO, probe.label, C.FAIL if failures else C.PASS,
                    f"C_eq {C.fmt(c_eq)}; min C(G)-C_eq {C.fmt(min(others)) if others else '-'}",
                    ("C(G) > C_eq unless p_g = p_d" if strict else "C(G) ≥ C_eq"),
                    f"quadrature+float ≤ {C.fmt(worst_tol)}", note="; ".join(failures),
                    data={"c_eq": c_eq, "margins": margins, "objective": objective})
