"""Explicit 1-D densities (Gaussian mixtures) and divergences computed with scipy.

The divergences here never touch a plugin: they are the independent side
of every comparison. They integrate the closed-form integrand with
``scipy.integrate.quad`` (adaptive, with its own error estimate), while the
measured side integrates the plugin's pointwise optimum on a fixed grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, special

# Beyond 12 standard deviations a Gaussian holds 2·Φ(-12) ≈ 3.6e-33 of its
# mass, far below every tolerance used here, so integrals are cut there.
TAIL_SIGMAS = 12.0
SQRT_2PI = float(np.sqrt(2 * np.pi))


@dataclass(frozen=True)
class Mixture:
    """Σ w_k N(μ_k, σ_k²) with weights summing to 1."""

    weights: tuple[float, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]

    def __post_init__(self):
        if not (len(self.weights) == len(self.means) == len(self.scales) >= 1):
            raise ValueError("weights, means and scales need the same non-zero length")
        if min(self.scales) <= 0 or min(self.weights) < 0 or abs(sum(self.weights) - 1) > 1e-12:
            raise ValueError("scales must be positive and weights a probability vector")

    @classmethod
    def gaussian(cls, mean: float, scale: float) -> Mixture:
        return cls((1.0,), (float(mean),), (float(scale),))

    @classmethod
    def of(cls, weights, means, scales) -> Mixture:
        w = np.asarray(weights, dtype=float)
        return cls(tuple(w / w.sum()), tuple(map(float, means)), tuple(map(float, scales)))

    def pdf(self, x):
        # The normal density written out: scipy.stats' per-call overhead would
        # dominate quad's thousands of scalar calls.
        x = np.asarray(x, dtype=float)
        return sum(w * np.exp(-0.5 * ((x - m) / s) ** 2) / (s * SQRT_2PI)
                   for w, m, s in zip(self.weights, self.means, self.scales))

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        return sum(w * special.ndtr((x - m) / s) for w, m, s in zip(self.weights, self.means, self.scales))

    def intervals(self) -> list[tuple[float, float]]:
        return [(m - TAIL_SIGMAS * s, m + TAIL_SIGMAS * s) for m, s in zip(self.means, self.scales)]


def merged_intervals(*densities: Mixture) -> list[tuple[float, float]]:
    """The union of every component's ±12σ interval, as disjoint sorted pieces."""
    pieces = sorted(iv for d in densities for iv in d.intervals())
    out = [list(pieces[0])]
    for lo, hi in pieces[1:]:
        if lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


def _apart(points: list[float], gap: float) -> list[float]:
    """Sorted breakpoints, each at least ``gap`` from the one kept before it.

    Breakpoints a hair apart (means of 1e-308 and -2e-313 from hypothesis) make
    quad integrate a sub-interval narrower than its own resolution, and its
    result off by 1e-3 with an "extremely bad integrand" warning.
    """
    kept: list[float] = []
    for x in points:
        if not kept or x - kept[-1] >= gap:
            kept.append(x)
    return kept


def quad(f, p: Mixture, q: Mixture, kinks: bool = False) -> tuple[float, float]:
    """∫ f(x) dx over the merged support, with quad's own absolute error estimate.

    ``kinks``: f is not smooth where p = q (|p - q|, min(p, q)); those roots
    become breakpoints too, else quad's error estimate can miss a kink and
    be off by 1e-6.
    """
    total, err = 0.0, 0.0
    breaks = sorted(set(p.means + q.means))
    scan = min(p.scales + q.scales) / 64
    for lo, hi in merged_intervals(p, q):
        pts = _apart(sorted(set([b for b in breaks if lo < b < hi] + (crossings(p, q, lo, hi, scan) if kinks else []))),
                     scan)
        v, e = integrate.quad(f, lo, hi, points=pts or None, limit=400, epsabs=1e-13, epsrel=1e-11)
        total, err = total + v, err + e
    return total, err


def jsd(p: Mixture, q: Mixture) -> float:
    """Jensen-Shannon divergence in nats: ½KL(p‖m) + ½KL(q‖m), m = (p+q)/2."""

    def f(x):
        a, b = p.pdf(x), q.pdf(x)
        m = 0.5 * (a + b)
        return 0.5 * (special.rel_entr(a, m) + special.rel_entr(b, m))

    return quad(f, p, q)[0]


def total_variation(p: Mixture, q: Mixture) -> float:
    """½∫|p - q| dx."""
    return 0.5 * quad(lambda x: abs(p.pdf(x) - q.pdf(x)), p, q, kinks=True)[0]


def lsgan_integral(p: Mixture, q: Mixture, a: float, b: float, c: float) -> float:
    """∫ ((b-c)(p+q) - (b-a) q)² / (p+q) dx, which Mao et al. show equals 2C(G)."""

    def f(x):
        s = p.pdf(x) + q.pdf(x)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(s > 0, ((b - c) * s - (b - a) * q.pdf(x)) ** 2 / np.where(s > 0, s, 1), 0.0)

    return quad(f, p, q)[0]


def crossings(p: Mixture, q: Mixture, lo: float, hi: float, step: float) -> list[float]:
    """Roots of p_d - p_g strictly inside (lo, hi), by brentq on sign changes over a scan."""
    if p == q:
        return []
    diff = lambda x: p.pdf(x) - q.pdf(x)  # noqa: E731
    xs = np.linspace(lo, hi, int(np.ceil((hi - lo) / step)) + 1)
    d = diff(xs)
    roots = []
    # Where |p - q| stays at float noise (equal mixtures written differently),
    # sign changes are rounding, not crossings: a kink of height < 1e-12·max(p+q)
    # moves an integral by less than that times the scan step.
    tiny = 1e-12 * float(np.max(p.pdf(xs) + q.pdf(xs)))
    big = np.abs(d) > tiny
    for i in np.flatnonzero((d[:-1] * d[1:] < 0) & (big[:-1] | big[1:])):
        # xtol at float64 resolution: the cut then sits on the kink to ~1e-16,
        # so the kink's share of the Simpson error is of that order.
        roots.append(optimize.brentq(diff, xs[i], xs[i + 1], xtol=1e-15, rtol=4 * np.finfo(float).eps))
    # Exact zeros on the scan, where p - q changes sign across them.
    at_zero = (d[1:-1] == 0) & (d[:-2] * d[2:] < 0) & (big[:-2] | big[2:])
    roots += [float(x) for x in xs[1:-1][at_zero]]
    return sorted(roots)


def wasserstein1(p: Mixture, q: Mixture) -> float:
    """W₁ in 1-D: ∫|F_p - F_q| dx."""
    return quad(lambda x: abs(p.cdf(x) - q.cdf(x)), p, q)[0]


# Tail conditions for the χ² divergences: ∫ p²/q dx is finite for Gaussian
# mixtures iff 2/σ_p² > 1/σ_q² for their widest components (the integrand's
# exponent is -x²(1/σ_p² - 1/(2σ_q²)) far out), i.e. σ_p,max² < 2·σ_q,max².
def _chi2_finite(p: Mixture, q: Mixture) -> bool:
    wide = lambda d: max(s for s, w in zip(d.scales, d.weights) if w > 0)  # noqa: E731
    return wide(p) ** 2 < 2 * wide(q) ** 2


# Which divergences are infinite for which tails: (p, q) -> finite.
F_DIVERGENCE_FINITE = {
    "pearson": _chi2_finite,                        # ∫ p²/q
    "neyman": lambda p, q: _chi2_finite(q, p),      # ∫ q²/p
}


def f_divergence(p: Mixture, q: Mixture, f, kind: str | None = None) -> float:
    """D_f(p‖q) = ∫ q·f(p/q) dx by adaptive quadrature; ``inf`` where the tails make it diverge.

    ``f`` is a numpy function of the ratio u = p/q (convex, f(1) = 0).
    ``kind`` names a divergence of :data:`F_DIVERGENCE_FINITE` whose
    finiteness depends on the tails: quadrature on a cut support would
    return a finite number for an infinite integral, so that is decided
    analytically first.
    """
    check = F_DIVERGENCE_FINITE.get(kind or "")
    if check is not None and not check(p, q):
        return float("inf")

    def integrand(x):
        a, b = p.pdf(x), q.pdf(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return b * f(a / b)

    # |u - 1| (total variation) has a kink where p = q.
    return quad(integrand, p, q, kinks=True)[0]
