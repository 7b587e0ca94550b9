"""Numerics on a probe's loss hooks: per-score functions, the pointwise optimum, quadrature.

A *separable* d_loss is E φ_r(real) + E φ_f(fake). Batch-size-1 calls give
L(t, s) = φ_r(t) + φ_f(s); φ_r and φ_f are only defined up to opposite
constants, which cancel in every quantity used here (∫p_d = ∫p_g = 1), so
we fix φ_r(t) = L(t, 0) - L(0, 0)/2 and φ_f(s) = L(0, s) - L(0, 0)/2.

Every function takes a :class:`~ganlab.analysis.probe.LossProbe` and only
calls its hooks; nothing here knows which plugin it is looking at. All
tensors are float64 so that float error stays near 1e-15 and tolerances
can be set by the mathematics instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import integrate

from ganlab.analysis.densities import Mixture, crossings, merged_intervals
from ganlab.analysis.probe import DTYPE, LossProbe, grad, tensor

# Where no minimiser is found within ±T_MAX the optimum is at infinity. A
# logistic tail e^{-t} has fallen below float64 resolution long before 1024,
# so a value still falling there means the objective is unbounded below. The
# bound is far larger than that because some optima are finite but huge:
# Pearson χ²'s t* = 2(p_d/p_g - 1) is 1e16 in the tails of two Gaussians of
# different widths. Brackets only grow where the derivative still points
# outwards, and bisection stops at a relative width, so the size costs a few
# halvings on those points alone. 2^62 keeps t² (a least-squares φ) finite.
T_MAX = 2.0**62
# Separability is checked on float64 values of size O(1-10) computed with a
# handful of operations, each rounding by at most 2^-53 relative: 1e-12
# leaves a 1e3 margin, while a non-separable loss misses by O(0.1).
SEPARABLE_TOL = 1e-12


class NonFiniteLoss(ArithmeticError):
    """A loss hook returned NaN or ±inf for finite scores: a bug, never "not applicable"."""


def finite(value: float, what: str) -> float:
    if not np.isfinite(value):
        raise NonFiniteLoss(f"{what} returned {value}")
    return value


@dataclass
class Pointwise:
    """The minimiser t of p_d φ_r(t) + p_g φ_f(t) at each point and the minimum."""

    t: np.ndarray
    value: np.ndarray
    interior: np.ndarray   # a sign change of the derivative was bracketed
    unbounded: np.ndarray  # still falling at ±T_MAX: no pointwise optimum


def L(probe: LossProbe, t: float, s: float) -> float:
    return finite(float(probe.d_loss(tensor([t]), tensor([s]))), f"d_loss([{t:.3g}], [{s:.3g}])")


# -- structure -----------------------------------------------------------------


def not_separable(probe: LossProbe) -> str | None:
    """``None`` when d_loss is E φ_r(real) + E φ_f(fake) (checked numerically), else why not.

    Raises :class:`NonFiniteLoss` for a loss that is not finite at ordinary scores.
    """
    if "separable" not in probe.cache:
        probe.cache["separable"] = _check_separable(probe)
    return probe.cache["separable"]


def _check_separable(probe: LossProbe) -> str | None:
    rng = np.random.default_rng(12345)
    t, s = rng.uniform(-3, 3, 4), rng.uniform(-3, 3, 4)
    tol = probe.precision.tol(SEPARABLE_TOL)
    for i in range(3):
        a = L(probe, t[i], s[i]) + L(probe, t[i + 1], s[i + 1])
        b = L(probe, t[i], s[i + 1]) + L(probe, t[i + 1], s[i])
        if not abs(a - b) <= tol * (1 + abs(a) + abs(b)):
            return (f"d_loss is not a sum of a real-score and a fake-score term: "
                    f"L(t1,s1)+L(t2,s2)-L(t1,s2)-L(t2,s1) = {a - b:.3g}")
    # Batch means: L(T, S) = mean_i L(T_i, s0) + mean_j L(t0, S_j) - L(t0, s0), with
    # equal-size batches as the trainer passes them.
    whole = finite(float(probe.d_loss(tensor(t[:3]), tensor(s[:3]))), "d_loss on a batch")
    parts = (np.mean([L(probe, x, s[3]) for x in t[:3]]) + np.mean([L(probe, t[3], y) for y in s[:3]])
             - L(probe, t[3], s[3]))
    if not abs(whole - parts) <= tol * (1 + abs(whole) + abs(parts)):
        return f"d_loss is not a batch mean of per-sample terms (differs by {whole - parts:.3g})"
    return None


def g_not_pointwise(probe: LossProbe) -> str | None:
    """``None`` when g_loss is E φ_g(fake) alone (no real scores, batch mean)."""
    if "g_pointwise" not in probe.cache:
        probe.cache["g_pointwise"] = _check_g_pointwise(probe)
    return probe.cache["g_pointwise"]


def _check_g_pointwise(probe: LossProbe) -> str | None:
    rng = np.random.default_rng(54321)
    f = tensor(rng.uniform(-3, 3, 3))
    a = finite(float(probe.g_loss(f, tensor(rng.uniform(-3, 3, 3)))), "g_loss")
    b = finite(float(probe.g_loss(f, tensor(rng.uniform(-3, 3, 3)))), "g_loss")
    tol = probe.precision.tol(SEPARABLE_TOL)
    if not abs(a - b) <= tol * (1 + abs(a)):
        return "g_loss depends on the real scores (relativistic), so it has no per-score profile"
    each = np.mean([finite(float(probe.g_loss(f[i:i + 1])), "g_loss") for i in range(3)])
    if not abs(a - each) <= tol * (1 + abs(a)):
        return f"g_loss is not a batch mean of per-sample terms (differs by {a - each:.3g})"
    return None


# -- per-score functions (valid once separability holds) -------------------------


def phi(probe: LossProbe, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """φ_r(t) and φ_f(t), element by element: L(t, 0) and L(0, t) less L(0, 0)/2."""
    z = tensor([0.0])
    half = float(probe.d_loss(z, z)) / 2
    T = tensor(t).reshape(-1)
    n = T.numel()
    pairs = torch.stack([torch.cat([T, torch.zeros(n, dtype=DTYPE)]),
                         torch.cat([torch.zeros(n, dtype=DTYPE), T])], dim=1)
    both = _per_element(lambda ts: probe.d_loss(ts[:, 0], ts[:, 1]), pairs, probe.precision.tol(1e-12)) - half
    shape = np.shape(t)
    return both[:n].reshape(shape), both[n:].reshape(shape)


def dphi(probe: LossProbe, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """φ_r'(t) and φ_f'(t) by autograd through one batched d_loss call.

    With batch means, ∂L(T, S)/∂T_i = φ_r'(T_i)/N and ∂L/∂S_i = φ_f'(S_i)/N.
    """
    T = tensor(t).reshape(-1)
    n = T.numel()
    x, y = T.clone().requires_grad_(True), T.clone().requires_grad_(True)
    gr, gf = grad(probe.d_loss(x, y), (x, y))
    shape = np.shape(t)
    return (gr.numpy() * n).reshape(shape), (gf.numpy() * n).reshape(shape)


def phi_g(probe: LossProbe, t: np.ndarray) -> np.ndarray:
    T = tensor(t).reshape(-1)
    return _per_element(lambda x: probe.g_loss(x.reshape(1)), T, probe.precision.tol(1e-12)).reshape(np.shape(t))


def dphi_g(probe: LossProbe, t: np.ndarray) -> np.ndarray:
    """∂ g_loss / ∂ l per element, by autograd through the plugin's g_loss."""
    T = tensor(t).reshape(-1).clone().requires_grad_(True)
    (g,) = grad(probe.g_loss(T), (T,))
    return (g.numpy() * T.numel()).reshape(np.shape(t))


def _per_element(fn, T: torch.Tensor, tol: float) -> np.ndarray:
    """fn(T[i:i+1]) for every row of T: vmapped when the plugin's code allows, else a loop."""
    with torch.no_grad():
        try:
            out = torch.func.vmap(lambda row: fn(row.unsqueeze(0)))(T).reshape(-1)
            # vmap must agree with plain calls (a plugin could branch on values).
            k = min(3, len(T))
            if all(abs(float(out[i]) - float(fn(T[i:i + 1]))) <= tol * (1 + abs(float(out[i])))
                   for i in range(k)):
                return out.numpy().copy()
        except Exception:  # an op without a batching rule: fall back to a loop
            pass
        return np.array([float(fn(T[i:i + 1])) for i in range(len(T))])


# -- the pointwise optimal discriminator -------------------------------------------


def objective(probe: LossProbe, pd, pg, t) -> np.ndarray:
    r, f = phi(probe, t)
    return np.asarray(pd) * r + np.asarray(pg) * f


def grow_brackets(G_pair, n: int):
    """Brackets ``[lo, hi]`` around the sign change (- to +) of n derivatives at once: ``(lo, hi, G(lo), G(hi))``.

    Each starts at [-1, 1] and doubles on the side that still lacks the sign
    change, up to ±T_MAX. ``G_pair(lo, hi)`` gives the derivatives at both ends.
    """
    lo, hi = -np.ones(n), np.ones(n)
    while True:
        g_lo, g_hi = G_pair(lo, hi)
        grow_lo, grow_hi = (g_lo > 0) & (lo > -T_MAX), (g_hi < 0) & (hi < T_MAX)
        if not (grow_lo.any() or grow_hi.any()):
            return lo, hi, g_lo, g_hi
        lo, hi = np.where(grow_lo, 2 * lo, lo), np.where(grow_hi, 2 * hi, hi)


def halve(G, lo: np.ndarray, hi: np.ndarray, halvings: int):
    """Bisect every bracket on the sign of ``G`` until it is 4·eps·(1 + |t|) wide (or ``halvings`` run out)."""
    for _ in range(halvings):
        if np.all(hi - lo <= 4 * np.finfo(float).eps * (1 + np.abs(lo))):
            break
        mid = 0.5 * (lo + hi)
        up = G(mid) > 0
        hi, lo = np.where(up, mid, hi), np.where(up, lo, mid)
    return lo, hi


def pointwise_min(probe: LossProbe, pd, pg) -> Pointwise:
    """Minimise p_d φ_r(t) + p_g φ_f(t) over t at every point at once.

    Bisection on the sign of the autograd derivative G(t), vectorised over
    points. It also finds kinks (hinge: G jumps across 0 at ±1). A bracket
    grows by doubling until it holds t*, so it is at most twice as wide as
    max(1, |t*|); 64 halvings bring it to 2^-63 of that, below the relative
    stopping width 4·eps·(1 + |t|).
    """
    pd = np.asarray(pd, dtype=float).reshape(-1)
    pg = np.asarray(pg, dtype=float).reshape(-1)

    def G(t):
        r, f = dphi(probe, t)
        return pd * r + pg * f

    def G2(a, b):  # both ends of every bracket in one call
        r, f = dphi(probe, np.concatenate([a, b]))
        g = np.concatenate([pd, pd]) * r + np.concatenate([pg, pg]) * f
        return g[:len(a)], g[len(a):]

    lo, hi, g_lo, g_hi = grow_brackets(G2, len(pd))
    if not (np.all(np.isfinite(g_lo)) and np.all(np.isfinite(g_hi))):
        raise NonFiniteLoss("the derivative of d_loss is not finite at ordinary scores")
    interior = (g_lo <= 0) & (g_hi >= 0)
    lo, hi = halve(G, lo, hi, 64)
    t = np.where(interior, 0.5 * (lo + hi), np.where(g_lo > 0, -T_MAX, T_MAX))
    value = objective(probe, pd, pg, t)
    unbounded = np.zeros_like(interior)
    if not interior.all():
        half = objective(probe, pd, pg, t / 2)
        unbounded = ~interior & (value < half - probe.precision.tol(1e-9) * (1 + np.abs(half)))
    return Pointwise(t, value, interior, unbounded)


def has_pointwise_optimum(probe: LossProbe) -> bool:
    """False for critic losses (WGAN): p_d φ_r + p_g φ_f → -∞ for p_d ≠ p_g."""
    if "bounded" not in probe.cache:
        probe.cache["bounded"] = not pointwise_min(probe, [0.75], [0.25]).unbounded[0]
    return probe.cache["bounded"]


# -- quadrature on piecewise-smooth integrands -----------------------------------------

# Grid spacing σ_min/16 per piece: the integrands vary on the scale of the
# narrowest component. Pieces end at every crossing p_d = p_g (see grid()),
# so each integrand is smooth on its pieces and the Richardson estimate in
# simpson() bounds the error actually made. The cuts cost the spectral
# accuracy a uniform grid has on a smooth, decaying integrand (each cut adds
# h⁴ end terms), so the spacing is half what one uncut grid needed.
POINTS_PER_SIGMA = 16
# Crossings are bracketed on a scan of spacing σ_min/64: two crossings closer
# than that (a near-tangency) would go unseen, but between them |p_d - p_g|
# stays below (σ_min/64)²·|(p_d - p_g)''|/8, so a kink there is no larger.
CROSSING_SCAN = 64


def grid(p: Mixture, q: Mixture) -> list[np.ndarray]:
    """Simpson grids (4m+1 points, so every other point is a Simpson grid too) per piece.

    Pieces are the merged ±12σ intervals, cut at every root of p_d - p_g.
    There a pointwise minimum can kink (hinge: 2·min(p_d, p_g)), and Simpson's
    rule's error across a kink is O(h²) with a constant that depends on where
    the kink falls between grid points, so |I_h - I_2h| need not bound it.
    The roots come from the densities alone (brentq), never from the loss.
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


def simpson(f: np.ndarray, pieces: list[np.ndarray]) -> tuple[float, float]:
    """∫f over the concatenated ``pieces`` and a bound on the error made.

    Each piece's integrand is smooth (pieces end at the kinks), so Simpson's
    error is K·h⁴ with the same K at h and 2h: I_2h's error is 16 times I_h's,
    and |I_h - I_2h| = 15|E_h| bounds E_h with margin. Float: each of the N
    integrand values is a few float64 operations (≤ 1e-15 relative), plus t*
    exact to 1e-16 (entering at second order): 1e-13·∫|f| bounds the sum.
    """
    fine = coarse = mass = 0.0
    start = 0
    for xs in pieces:
        seg = f[start:start + len(xs)]
        start += len(xs)
        fine += integrate.simpson(seg, x=xs)
        coarse += integrate.simpson(seg[::2], x=xs[::2])
        mass += integrate.simpson(np.abs(seg), x=xs)
    return fine, abs(fine - coarse) + 1e-13 * (1 + mass)
