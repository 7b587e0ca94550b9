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
from ganlab.analysis import claims as C
from ganlab.analysis import solver
from ganlab.analysis.densities import Mixture
from ganlab.analysis.families import Family
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
    unbounded: bool     # the optimum lies beyond ±T_MAX somewhere: C is +∞, ``value`` a lower bound ("d") or NaN


def measure(probe: LossProbe, p: Mixture, q: Mixture, objective: str = "d") -> Measured:
    pieces = solver.grid(p, q)
    x = np.concatenate(pieces)
    pd, pg = p.pdf(x), q.pdf(x)
    opt = solver.pointwise_min(probe, pd, pg)
    unbounded = bool(opt.unbounded.any())
    if unbounded and objective == "g":
        return Measured(np.nan, np.inf, True)
    # Where the objective still falls at ±T_MAX, V(T_MAX) exceeds its infimum, so
    # -∫V(t) is a lower bound on C = -∫ min V (which is +∞ when the fall has no end).
    f = -opt.value if objective == "d" else (pd + pg) * solver.phi_g(probe, opt.t)
    value, error = solver.simpson(f, pieces)
    return Measured(value, error, unbounded)


def equal_value(probe: LossProbe, objective: str) -> float:
    """C(p_d) for p_g = p_d: there D* is the constant t* minimising φ_r + φ_f."""
    opt = solver.pointwise_min(probe, np.array([1.0]), np.array([1.0]))
    if objective == "d":
        return float(-opt.value[0])
    return float(2 * solver.phi_g(probe, opt.t)[0])


# Closed forms come from scipy's adaptive quad (requested 1e-11 relative,
# 1e-13 absolute); 1e-9 absolute covers quad's accuracy on these peaked
# integrands with a 100x margin.
QUAD_TOL = 1e-9


def check(probe: LossProbe, pairs=PAIRS) -> list[C.Result]:
    reason = solver.not_separable(probe)
    declared = probe.declarations(C.Criterion)
    if reason and declared:
        return [C.contradicted(INFO, probe.label, declared[0], "C(G) at a pointwise D*", reason)]
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
        return C.result(INFO, probe.label, C.INFO, f"C = {', '.join(C.fmt(m.value) for m in measured)}",
                        "no closed form declared", "-", data=data,
                        note="declare one with ganlab_claims -> Criterion")
    # A divergence that is infinite on a pair (χ² with the wrong tails) cannot be
    # compared with the measured side, which integrates over a cut support.
    finite = [bool(np.isfinite(e)) for e in expected]
    if not any(finite):
        return C.result(INFO, probe.label, C.NA, "-", claim.formula, "-", formula=claim.formula,
                        source=claim.source, note="the closed form is infinite on every pair", data=data)
    diffs = [abs(m.value - e) if ok_ else 0.0 for m, e, ok_ in zip(measured, expected, finite)]
    tols = [m.error + QUAD_TOL for m in measured]
    ok = [d <= t for d, t in zip(diffs, tols)]
    data.update(expected=expected, tolerance=tols)
    worst = int(np.argmax(np.array(diffs) - np.array(tols)))
    skipped = [pairs[i][0] for i, ok_ in enumerate(finite) if not ok_]
    note = "" if all(ok) else f"{pairs[worst][0]}: measured {measured[worst].value:.9g}, expected {expected[worst]:.9g}"
    if skipped:
        note = "; ".join(filter(None, [note, f"skipped (closed form infinite): {', '.join(skipped)}"]))
    return C.result(INFO, probe.label, C.PASS if all(ok) else C.FAIL,
                    f"max|ΔC| {C.fmt(max(diffs))} over {sum(finite)} pairs", claim.formula,
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
    # Without a strict declaration C(G) ≥ C(p_d) holds for every separable
    # loss (a constant D is feasible), so agreeing with it says nothing about
    # the plugin: shown as INFO unless violated.
    status = C.FAIL if failures else (C.PASS if strict else C.INFO)
    return C.result(MIN_INFO, probe.label, status,
                    f"C_eq {C.fmt(c_eq)}; min C(G)-C_eq {C.fmt(min(others)) if others else '-'}",
                    ("C(G) > C_eq unless p_g = p_d" if strict else "C(G) ≥ C_eq"),
                    f"quadrature+float ≤ {C.fmt(worst_tol)}", note="; ".join(failures),
                    data={"c_eq": c_eq, "margins": margins, "objective": objective})


FAMILY = Family("criterion", (INFO, MIN_INFO), check, LossProbe.has_loss)
