"""Generic claims: what every GAN loss must satisfy, with nothing declared.

A plugin that declares no closed forms still has to behave like a GAN
loss. These checks use only the plugin's own hooks and facts that hold for
every loss under ganlab's contract (raw scores, higher = more real):

* ``loss-finite``: both losses and their gradients are finite at ordinary
  scores. NaN is a bug, never "not applicable".
* ``d-optimum``: for a separable d_loss the pointwise optimum
  t*(p_d, p_g) = argmin_t p_d φ_r(t) + p_g φ_f(t) exists, and the solver's
  t* (bisection on the autograd derivative) is no worse than every point of
  a dense grid of scores evaluated by value alone.
* ``d-monotone``: t* is non-decreasing in q = p_d/(p_d+p_g) and higher
  where data dominates than where fakes do: D scores x as more real where
  data is denser. A loss with real and fake swapped fails.
* ``criterion-path``: C(G) = -min_D d_loss is a supremum of functions
  linear in p_g, hence convex in p_g, and C(G) ≥ C(p_d) (a constant D is
  feasible). On the segment p_s = (1-s)·q + s·p_d it is therefore
  non-increasing in s; it must also drop strictly from q to p_d, or the
  criterion does not see the generator at all.
* ``g-direction``: raising the fake scores lowers g_loss where D calls the
  samples fake (at D*(x) for p_d/(p_d+p_g) = 0.1 and 0.25), or, for losses
  without a pointwise D* (critics, relativistic losses) or with one only at
  ±∞ (total variation's ½tanh, flat in float64 there), at batches where
  D's own descent lowers the fake scores. A flipped generator sign fails.
"""

from __future__ import annotations

import numpy as np
import torch

from ganlab.analysis import claims as C
from ganlab.analysis import criterion, optimal_d, solver
from ganlab.analysis.densities import Mixture
from ganlab.analysis.families import Family
from ganlab.analysis.probe import DTYPE, LossProbe, grad, tensor

FINITE = C.register(
    "loss-finite", "Losses are finite",
    source="ganlab's hook contract", formula="d_loss, g_loss and their gradients finite for scores in [-10, 10]",
    conditions="every loss plugin; batches of 1 and 41 scores",
)
OPTIMUM = C.register(
    "d-optimum", "The pointwise optimal D exists and is a minimiser",
    source="Goodfellow et al. 2014, Prop. 1 (the argument holds for any separable loss)",
    formula="t* = argmin_t p_d·φ_r(t) + p_g·φ_f(t); V(t*) ≤ V(t) on a dense grid",
    conditions="separable d_loss with a bounded optimum; q = p_d/(p_d+p_g) over 25 ratios 1e-3..1e3",
)
MONOTONE = C.register(
    "d-monotone", "D* scores x as more real where data is denser",
    source="ganlab's score convention (higher = more real); Goodfellow et al. 2014, Prop. 1",
    formula="t*(q) non-decreasing in q = p_d/(p_d+p_g), t*(q→1) > t*(q→0)",
    conditions="separable d_loss with a bounded optimum; ties (a flat optimum, hinge at q = ½) skipped",
)
PATH = C.register(
    "criterion-path", "C(G) falls to its minimum as p_g moves to p_d",
    source="Goodfellow et al. 2014, Thm 1 (C is a supremum of linear functions of p_g: convex)",
    formula="C(p_s) non-increasing in s for p_s = (1-s)q + s·p_d, C(q) > C(p_d)",
    conditions="separable d_loss with a bounded optimum; 1-D Gaussian mixtures, s ∈ {0, ½, ⅘, 1}",
)
DIRECTION = C.register(
    "g-direction", "Raising the fake score lowers g_loss",
    source="ganlab's score convention; Goodfellow et al. 2014, section 3",
    formula="∂ g_loss/∂δ (fake + δ) < 0 where D calls the samples fake",
    conditions="at D*(q) for q = 0.1, 0.25; without a pointwise D*: batches where D lowers the fake scores",
)

SCORES = np.linspace(-10, 10, 41)
# A dense value grid: spacing 0.01 over [-20, 20] plus the solver's t*. The
# objective is a float64 sum of two O(1-100) terms (rounding ~1e-14), so
# V(t*) may exceed the grid's minimum by at most 1e-12(1 + |V|).
GRID = np.linspace(-20, 20, 4001)
VALUE_TOL = 1e-12
DIRECTION_Q = (0.1, 0.25)
P_DATA = Mixture.of([0.3, 0.7], [-2, 1], [0.5, 1])
P_START = Mixture.of([0.6, 0.4], [1.5, 3.0], [0.8, 0.6])
PATH_S = (0.0, 0.5, 0.8, 1.0)


def _toward(q: Mixture, p: Mixture, s: float) -> Mixture:
    if s == 1.0:
        return p
    w = [(1 - s) * x for x in q.weights] + [s * x for x in p.weights]
    keep = [i for i, x in enumerate(w) if x > 0]
    means, scales = q.means + p.means, q.scales + p.scales
    return Mixture.of([w[i] for i in keep], [means[i] for i in keep], [scales[i] for i in keep])


def check_finite(probe: LossProbe) -> C.Result:
    problems = []
    for n in (1, len(SCORES)):
        for shift in (0.0, 0.5):
            real = tensor(SCORES[:n] + shift).requires_grad_(True)
            fake = tensor(SCORES[::-1][:n] - shift).requires_grad_(True)
            for name, fn in (("d_loss", lambda: probe.d_loss(real, fake)), ("g_loss", lambda: probe.g_loss(fake, real))):
                value = fn()
                grads = torch.autograd.grad(value, (real, fake), allow_unused=True)
                bad = not torch.isfinite(value).all() or any(g is not None and not torch.isfinite(g).all()
                                                            for g in grads)
                if bad:
                    problems.append(f"{name} on {n} score(s) = {float(value.detach()):.3g}")
    return C.result(FINITE, probe.label, C.FAIL if problems else C.PASS,
                    "all finite" if not problems else "; ".join(problems[:2]), "finite values and gradients",
                    "exact", note="; ".join(problems))


def _pointwise_reason(probe: LossProbe) -> str | None:
    reason = solver.not_separable(probe)
    if reason:
        return reason
    if not solver.has_pointwise_optimum(probe):
        return ("p_d·φ_r + p_g·φ_f is unbounded below for p_d ≠ p_g (a critic loss): there is no pointwise "
                "optimum; the critic needs a Lipschitz constraint instead")
    return None


def _curve(probe: LossProbe) -> dict:
    if "curve" not in probe.cache:
        probe.cache["curve"] = optimal_d.curve(probe)
    return probe.cache["curve"]


def check_optimum(probe: LossProbe) -> C.Result:
    unmet = C.unmet_premise(OPTIMUM, probe, _pointwise_reason(probe), "a pointwise optimum")
    if unmet is not None:
        return unmet
    cur = _curve(probe)
    pd, pg = cur["pd"][:, None], cur["pg"][:, None]
    r, f = solver.phi(probe, GRID)
    grid_min = (pd * r[None, :] + pg * f[None, :]).min(axis=1)
    excess = cur["value"] - grid_min
    tol = probe.precision.tol(VALUE_TOL) * (1 + np.abs(grid_min))
    bad = np.flatnonzero(excess > tol)
    note = "" if not bad.size else (f"at q={cur['pd'][bad[0]]:.3g}: V(t*={cur['t'][bad[0]]:.6g}) exceeds the grid "
                                    f"minimum by {excess[bad[0]]:.3g}")
    return C.result(OPTIMUM, probe.label, C.FAIL if bad.size else C.PASS,
                    f"max V(t*) - min_grid V {C.fmt(float(excess.max()))}", "≤ 0 (t* is a minimiser)",
                    f"{probe.precision.tol(VALUE_TOL):.2g}(1+|V|)", note=note, data={"excess": excess})


def check_monotone(probe: LossProbe) -> C.Result:
    unmet = C.unmet_premise(MONOTONE, probe, _pointwise_reason(probe), "t* increasing in q")
    if unmet is not None:
        return unmet
    cur = _curve(probe)
    tol_t, unique = optimal_d.t_tolerance(probe, cur)
    # An optimum at ±T_MAX (infinite) is a single point too: its direction counts.
    unique = unique | (np.array(cur["kinds"]) == "infinite")
    tol_t = np.where(np.isfinite(tol_t), tol_t, 0.0)
    idx = np.flatnonzero(unique)
    if len(idx) < 2:  # e.g. ½tanh's optimum at ±∞, where float64 sees a flat objective
        return _monotone_direction(probe, cur)
    t, q = cur["t"][idx], cur["pd"][idx]
    drops = [(q[i], q[i + 1], t[i] - t[i + 1]) for i in range(len(idx) - 1)
             if t[i + 1] < t[i] - tol_t[idx[i]] - tol_t[idx[i + 1]]]
    rise = float(t[-1] - t[0]) if len(idx) >= 2 else 0.0
    strict = len(idx) >= 2 and rise > tol_t[idx[0]] + tol_t[idx[-1]]
    problems = [f"t* falls by {d:.3g} from q={a:.3g} to q={b:.3g}" for a, b, d in drops[:2]]
    if not strict:
        problems.append(f"t*(q={q[-1]:.3g}) - t*(q={q[0]:.3g}) = {rise:.3g}: D does not score data above fakes"
                        if len(idx) >= 2 else "no unique minimiser to compare")
    return C.result(MONOTONE, probe.label, C.FAIL if problems else C.PASS,
                    f"t* from {C.fmt(float(t[0]))} (q={C.fmt(float(q[0]))}) to {C.fmt(float(t[-1]))} "
                    f"(q={C.fmt(float(q[-1]))}), {len(drops)} drops",
                    "non-decreasing, t*(q→1) > t*(q→0)", "bisection tol_t (see optimal-d)",
                    note="; ".join(problems), data={"q": cur["pd"], "t": cur["t"], "unique": unique})


def _monotone_direction(probe: LossProbe, cur: dict) -> C.Result:
    """The same claim where no minimiser is unique: the way minimisation moves t from 0.

    Total variation's ½tanh reaches its optimum only at ±∞, and its derivative
    underflows past |t| ≈ 19, so float64 sees a flat objective wherever the
    solver stops. The descent direction -G(0) = -(p_d φ_r'(0) + p_g φ_f'(0)) is
    O(p) there: it must not fall as q rises, and must point up where data
    dominates and down where fakes do. A loss with no gradient, or with real
    and fake swapped, fails.
    """
    q = cur["pd"]
    r, f = solver.dphi(probe, np.zeros_like(q))
    descent = -(q * r + cur["pg"] * f)
    tol = probe.precision.tol(1e-12)  # rounding of O(1) derivatives; a real direction here is O(1e-3) or more
    signs = np.where(descent > tol, 1, np.where(descent < -tol, -1, 0))
    problems = []
    if np.any(np.diff(signs) < 0):
        i = int(np.flatnonzero(np.diff(signs) < 0)[0])
        problems.append(f"the descent direction at t = 0 turns down from q={q[i]:.3g} to q={q[i + 1]:.3g}")
    if not (signs[0] < 0 < signs[-1]):
        problems.append(f"-G(0) = {descent[0]:.3g} at q={q[0]:.3g} and {descent[-1]:.3g} at q={q[-1]:.3g}: "
                        "D is not pushed to score data above fakes")
    return C.result(MONOTONE, probe.label, C.FAIL if problems else C.PASS,
                    f"no unique t* (flat in float64); -G(0) from {C.fmt(float(descent[0]))} (q={C.fmt(float(q[0]))}) "
                    f"to {C.fmt(float(descent[-1]))} (q={C.fmt(float(q[-1]))})",
                    "descent at t = 0 non-decreasing in q, < 0 → > 0", f"|G| > {tol:g}",
                    note="; ".join(problems) or "t* lies at ±∞, so the direction D moves towards it is compared",
                    data={"q": q, "descent": descent})


def check_path(probe: LossProbe) -> C.Result:
    unmet = C.unmet_premise(PATH, probe, _pointwise_reason(probe), "C(p_s) falls to C(p_d)")
    if unmet is not None:
        return unmet
    ms = [criterion.measure(probe, P_DATA, _toward(P_START, P_DATA, s), "d") for s in PATH_S]
    values = [m.value for m in ms]
    problems = []
    for (s0, a), (s1, b) in zip(zip(PATH_S, ms), zip(PATH_S[1:], ms[1:])):
        # An unbounded side is a lower bound on C: it can prove a rise into it, never one out of it.
        if not a.unbounded and b.value > a.value + a.error + b.error:  # quadrature bounds of both sides
            problems.append(f"C rises from {a.value:.6g} (s={s0:g}) to {b.value:.6g} (s={s1:g})")
    if ms[-1].unbounded:
        problems.append("C(p_d) is unbounded: at p_g = p_d the pointwise optimum must be finite")
    drop = values[0] - values[-1]
    if not drop > ms[0].error + ms[-1].error:
        problems.append(f"C(q) - C(p_d) = {drop:.3g}: the criterion does not see the generator")
    shown = [("≥ " if m.unbounded else "") + C.fmt(m.value) for m in ms]
    note = "; ".join(problems)
    if not problems and any(m.unbounded for m in ms):
        note = ("≥: somewhere on that p_s the optimum lies beyond ±2^62 (C = +∞, e.g. χ² against lighter "
                "tails), so the value is the lower bound -∫V(±2^62)")
    bounded = [m.error for m in ms if not m.unbounded] or [np.inf]
    return C.result(PATH, probe.label, C.FAIL if problems else C.PASS,
                    "C(p_s) = " + ", ".join(shown) + f" (s = {', '.join(map(str, PATH_S))})",
                    "non-increasing, C(q) > C(p_d)", f"quadrature ≤ {C.fmt(max(bounded))}",
                    note=note, data={"s": PATH_S, "C": values})


def _push(loss, n: int = 4) -> float:
    """d/dδ of ``loss(δ)`` at 0 by autograd: the effect of raising every fake score together."""
    delta = torch.zeros((), dtype=DTYPE, requires_grad=True)
    value = loss(delta)
    if not torch.isfinite(value):
        raise solver.NonFiniteLoss(f"a loss returned {float(value)}")
    (g,) = grad(value, (delta,))
    return float(g)


def _direction_optima(probe: LossProbe, qs) -> tuple[np.ndarray, np.ndarray, bool]:
    """t* where fakes dominate (p_d = q) and where data does (p_d = 1 - q), and whether all are unique."""
    qs = np.asarray(qs, dtype=float)
    cur = optimal_d.curve(probe, ratios=np.concatenate([qs / (1 - qs), (1 - qs) / qs]))
    n = len(qs)
    return cur["t"][:n], cur["t"][n:], bool(optimal_d.t_tolerance(probe, cur)[1].all())


def check_direction(probe: LossProbe) -> C.Result:
    n = 4
    ones = torch.ones(n, dtype=DTYPE)
    spread = tensor(np.linspace(-0.3, 0.3, n))  # distinct scores: a relativistic loss sees a batch, not one value
    states, where = [], ""
    pointwise = _pointwise_reason(probe) is None
    if pointwise:
        t_fakes, t_reals, pointwise = _direction_optima(probe, DIRECTION_Q)
    if pointwise:
        for q, t_fake, t_real in zip(DIRECTION_Q, t_fakes, t_reals):
            states.append((f"D*(q={q:g})", float(t_real) * ones, float(t_fake) * ones))
        where = "at D* where fakes dominate"
    else:  # no pointwise D*, or one only at ±∞ (where every bounded activation saturates)
        for real, fake in ((0.0, 0.0), (1.0, -1.0)):
            states.append((f"real {real:g}, fake {fake:g}", real + spread, fake + spread))
        where = "where D lowers the fake scores"
    parts, problems, pushes = [], [], []
    for name, real, fake in states:
        g = _push(lambda d: probe.g_loss(fake + d, real))
        parts.append(f"{name}: {C.fmt(g)}")
        if not pointwise:
            d = _push(lambda d: probe.d_loss(real, fake + d))
            parts[-1] += f" (D's {C.fmt(d)})"
            # D need not push fakes down everywhere: a margin loss past its margin (rahinge
            # at real 1, fake -1) is flat there and a least-squares one (ralsgan) pulls fakes
            # below their target back up. It must push them down at one state at least.
            pushes.append(d)
        # Autograd of an O(1) loss: a few ulps; a real descent direction is O(0.01) or more here.
        if not g < -probe.precision.tol(1e-12):
            problems.append(f"at {name} ∂g_loss/∂δ = {g:.3g} ≥ 0: raising the fake score does not lower g_loss")
    if pushes and not any(p > 0 for p in pushes):
        if all(p == 0 for p in pushes):  # BEGAN: the push on fakes is its controlled k_t term, a regularizer
            parts.append("d_loss ignores the fake scores")
        else:
            problems.append("D's loss never falls as the fake scores fall, at any state: D prefers fakes")
    return C.result(DIRECTION, probe.label, C.FAIL if problems else C.PASS, "; ".join(parts),
                    f"∂g_loss/∂δ < 0 {where}", f"< -{probe.precision.tol(1e-12):.2g} (autograd)", note="; ".join(problems))


def run(probe: LossProbe) -> list[C.Result]:
    rows = [check_finite(probe)]
    if rows[0].status == C.FAIL:  # nothing below can be measured on NaN; the other families fail too
        return rows
    for check in (check_optimum, check_monotone, check_path, check_direction):
        try:
            rows.append(check(probe))
        except Exception as exc:  # each its own row: one raising must not hide the others
            info = {check_optimum: OPTIMUM, check_monotone: MONOTONE, check_path: PATH,
                    check_direction: DIRECTION}[check]
            rows.append(C.result(info, probe.label, C.FAIL, "raised", "a result", "-",
                                 note=f"{type(exc).__name__}: {exc}"))
    return rows


FAMILY = Family("generic", (FINITE, OPTIMUM, MONOTONE, PATH, DIRECTION), run, LossProbe.has_loss)
