"""densities.f_divergence against Gaussian closed forms, and its infinite χ² cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import xlogy

from ganlab.analysis.densities import Mixture, f_divergence, jsd

P, Q = Mixture.gaussian(0, 1), Mixture.gaussian(1, 1)


def test_kl_of_unit_gaussians_is_half_the_squared_mean_gap():
    assert f_divergence(P, Q, lambda u: xlogy(u, u)) == pytest.approx(0.5, abs=1e-9)


def test_squared_hellinger_is_two_minus_twice_the_bhattacharyya_coefficient():
    bc = math.exp(-1 / 8)  # equal σ = 1, means 1 apart
    assert f_divergence(P, Q, lambda u: (np.sqrt(u) - 1) ** 2) == pytest.approx(2 - 2 * bc, abs=1e-9)


def test_pearson_chi2_of_equal_width_gaussians():
    # ∫ p²/q - 1 = exp(Δμ²/σ²) - 1 for equal σ.
    assert f_divergence(P, Q, lambda u: (u - 1) ** 2, "pearson") == pytest.approx(math.e - 1, abs=1e-8)


def test_paper_js_generator_gives_twice_jsd():
    f = lambda u: xlogy(u, u) - xlogy(u + 1, (u + 1) / 2)  # noqa: E731
    assert f_divergence(P, Q, f) == pytest.approx(2 * jsd(P, Q), abs=1e-9)


@pytest.mark.parametrize("kind, p, q, finite", [
    ("neyman", Mixture.gaussian(0, 1), Mixture.gaussian(0, 2), False),   # ∫q²/p: q √2 times wider or more
    ("neyman", Mixture.gaussian(0, 2), Mixture.gaussian(0, 1), True),
    ("pearson", Mixture.gaussian(0, 2), Mixture.gaussian(0, 1), False),  # ∫p²/q
    ("pearson", Mixture.gaussian(0, 1), Mixture.gaussian(0, 1.2), True),
])
def test_chi2_divergences_are_infinite_for_the_wrong_tails(kind, p, q, finite):
    f = (lambda u: (u - 1) ** 2) if kind == "pearson" else (lambda u: (1 - u) ** 2 / u)
    assert np.isfinite(f_divergence(p, q, f, kind)) == finite
