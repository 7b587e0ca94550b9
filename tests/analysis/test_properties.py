"""Property-based checks of the theory claims, through the plugins' own hooks.

Random Gaussian mixtures, LSGAN codings, logits and θ. Every tolerance is
derived in the module that computes the quantity (quadrature: Richardson
bound + float floor; closed forms: scipy quad's accuracy) or stated here.
Example counts are kept small: each example runs a quadrature or a solver,
and the CI profile (tests/conftest.py) is derandomized with no deadline.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from ganlab.analysis import criterion, dirac, disjoint, solver
from ganlab.analysis import gradient_penalty_checks as gp_checks
from ganlab.analysis.densities import Mixture, jsd, quad, total_variation
from ganlab.analysis.probe import LossProbe, implements
from ganlab.manager import make_plugin_manager

PM = make_plugin_manager(autoload=False)  # read-only here: one for the module


@st.composite
def mixtures(draw, max_components=3):
    k = draw(st.integers(1, max_components))
    weights = draw(st.lists(st.floats(0.1, 1.0), min_size=k, max_size=k))
    means = draw(st.lists(st.floats(-3.0, 3.0), min_size=k, max_size=k))
    scales = draw(st.lists(st.floats(0.3, 2.0), min_size=k, max_size=k))
    return Mixture.of(weights, means, scales)


@st.composite
def codings(draw):
    # a ≠ b, with b > a as the plugin requires (reals score higher); c anywhere.
    a, c = draw(st.floats(-2.0, 2.0)), draw(st.floats(-2.0, 2.0))
    return a, a + draw(st.floats(1e-3, 3.0)), c


def lsgan(a, b, c) -> LossProbe:
    return LossProbe(PM, ["lsgan"], {"lsgan": {"a": str(a), "b": str(b), "c": str(c)}})


log_ratios = st.floats(-7.0, 7.0)  # r = p_d/p_g from 1e-3 to 1e3


# -- 1. optimal discriminator -------------------------------------------------


@settings(max_examples=30)
@given(log_ratios)
def test_gan_optimal_d_is_log_ratio(log_r):
    r = np.exp(log_r)
    opt = solver.pointwise_min(LossProbe(PM, ["gan"]), [r / (1 + r)], [1 / (1 + r)])
    # The root of G(t) = σ(t) - p_d/(p_d+p_g) is located to float error of G
    # (~1e-16) over G' = σ'(t*) ≥ 1e-3 here: 1e-13; 1e-9 leaves margin.
    assert opt.interior[0]
    assert opt.t[0] == pytest.approx(log_r, abs=1e-9)


@settings(max_examples=30)
@given(codings(), log_ratios)
def test_lsgan_optimal_d_for_any_coding(coding, log_r):
    a, b, _ = coding
    r = np.exp(log_r)
    pd, pg = r / (1 + r), 1 / (1 + r)
    opt = solver.pointwise_min(lsgan(*coding), [pd], [pg])
    # Strictly convex with curvature p_d+p_g = 1: bisection to 4 ulps of |t| ≤ 5,
    # plus G's rounding (~1e-15 over curvature 1): 1e-12 leaves a 100x margin.
    assert opt.interior[0]
    assert opt.t[0] == pytest.approx((b * pd + a * pg) / (pd + pg), abs=1e-12)


# -- 2. virtual training criterion ---------------------------------------------


@settings(max_examples=15)
@given(mixtures(), mixtures())
def test_gan_criterion_is_minus_log4_plus_2jsd(p, q):
    m = criterion.measure(LossProbe(PM, ["gan"]), p, q, "d")
    expected = -np.log(4) + 2 * jsd(p, q)
    assert abs(m.value - expected) <= m.error + criterion.QUAD_TOL
    assert m.value >= -np.log(4) - m.error  # minimum exactly at p_g = p_d (JSD ≥ 0)


@settings(max_examples=15)
@given(mixtures(), mixtures())
def test_hinge_criterion_is_total_variation(p, q):
    # 2·min(p_d, p_g) kinks where the densities cross; the grid cuts there, so
    # the Richardson bound m.error holds for this integrand too.
    m = criterion.measure(LossProbe(PM, ["hinge"]), p, q, "d")
    assert abs(m.value - (2 * total_variation(p, q) - 2)) <= m.error + criterion.QUAD_TOL


def _over_sum(p, q, numerator) -> float:
    """∫ numerator(p_d, p_g, s) / s dx with s = p_d + p_g, by scipy's quad (0 where s = 0)."""
    def integrand(x):
        pd, pg = p.pdf(x), q.pdf(x)
        s = pd + pg
        return np.where(s > 0, numerator(pd, pg, s) / np.where(s > 0, s, 1), 0.0)

    return quad(integrand, p, q)[0]


@settings(max_examples=15)
@given(mixtures(), mixtures(), codings())
def test_lsgan_criterion_matches_mao(p, q, coding):
    a, b, c = coding
    m = criterion.measure(lsgan(a, b, c), p, q, "g")
    chi = _over_sum(p, q, lambda pd, pg, s: ((b - c) * s - (b - a) * pg) ** 2)
    assert abs(2 * m.value - chi) <= 2 * (m.error + criterion.QUAD_TOL)


@settings(max_examples=10)
@given(mixtures(), mixtures(), codings())
def test_lsgan_criterion_is_minimised_at_p_g_equal_p_d_for_any_coding(p, q, coding):
    # ½∫s(D* - c)² with D* - c = ((a+b)/2 - c) + (b-a)δ/(2s), δ = p_d - p_g, s = p_d + p_g:
    # C(G) = ((a+b)/2 - c)² + (b-a)²/8·∫δ²/s, whose minimum ((a+b)/2 - c)² is at p_g = p_d.
    a, b, c = coding
    m = criterion.measure(lsgan(a, b, c), p, q, "g")
    floor = ((a + b) / 2 - c) ** 2
    delta = _over_sum(p, q, lambda pd, pg, s: (pd - pg) ** 2)
    assert abs(m.value - floor - (b - a) ** 2 / 8 * delta) <= m.error + criterion.QUAD_TOL
    same = criterion.measure(lsgan(a, b, c), p, p, "g")
    assert abs(same.value - floor) <= same.error + criterion.QUAD_TOL
    assert m.value >= same.value - m.error - same.error


@settings(max_examples=10)
@given(mixtures(), mixtures(), st.floats(-2.0, 2.0))
def test_lsgan_pearson_coding_gives_the_chi2_integral(p, q, b):
    # b - c = 1 and b - a = 2: 2C(G) = ∫(p_d - p_g)²/(p_d + p_g) dx (seed 000 names
    # it χ²_Pearson(p_d+p_g ‖ 2p_g); the integral is what is checked).
    m = criterion.measure(lsgan(b - 2, b, b - 1), p, q, "g")

    def integrand(x):
        s = p.pdf(x) + q.pdf(x)
        return np.where(s > 0, (p.pdf(x) - q.pdf(x)) ** 2 / np.where(s > 0, s, 1), 0.0)

    assert abs(2 * m.value - quad(integrand, p, q)[0]) <= 2 * (m.error + criterion.QUAD_TOL)
    assert m.value >= -m.error
    same = criterion.measure(lsgan(b - 2, b, b - 1), p, p, "g")
    assert abs(same.value) <= same.error + criterion.QUAD_TOL  # zero exactly at p_g = p_d


@settings(max_examples=10)
@given(mixtures(), mixtures(), st.sampled_from(["gan", "lsgan", "hinge"]))
def test_criterion_never_below_its_value_at_p_g_equal_p_d(p, q, name):
    # sup_D V(D, G) ≥ V(constant D, G) = -min_t[φ_r(t) + φ_f(t)] for any separable loss.
    probe = LossProbe(PM, [name])
    m = criterion.measure(probe, p, q, "d")
    assert m.value >= criterion.equal_value(probe, "d") - m.error - criterion.QUAD_TOL


# -- 3. saturation -------------------------------------------------------------


@settings(max_examples=30)
@given(st.lists(st.floats(-10.0, 10.0), min_size=1, max_size=16), st.floats(-2.0, 2.0))
def test_generator_gradients(logits, c):
    l = np.array(logits)
    ns = solver.dphi_g(LossProbe(PM, ["gan"]), l)
    mm = solver.dphi_g(LossProbe(PM, ["gan"], {"gan": {"generator_loss": "minimax"}}), l)
    ls = solver.dphi_g(lsgan(0.0, 1.0, c), l)
    # float64 autograd against the closed forms: a few ulps (1e-12 relative margin).
    assert np.allclose(ns, expit(l) - 1, rtol=0, atol=1e-12)
    assert np.allclose(mm, -expit(l), rtol=0, atol=1e-12)
    assert np.allclose(ls, l - c, rtol=0, atol=1e-12 * (1 + np.abs(l - c)).max())
    neg = l < 0  # where D rejects the fakes: minimax vanishes like e^l, NS stays near -1
    assert np.all(np.abs(mm[neg]) <= np.exp(l[neg]))
    assert np.all(np.abs(ns[neg]) >= 1 - np.exp(l[neg]))
    assert np.all(ns < 0)  # ganlab's sign: descending g_loss raises the fake score


# -- 4. disjoint supports --------------------------------------------------------


thetas = st.floats(-5.0, 5.0).filter(lambda t: abs(t) > 1e-3)


@settings(max_examples=30)
@given(thetas)
def test_disjoint_segments(theta):
    d = disjoint.exact_divergences(theta)
    # 128-term float sums: ≤ 1e-14 error.
    assert d["JS"] == pytest.approx(np.log(2), abs=1e-12)
    assert d["KL"] == np.inf
    assert d["TV"] == pytest.approx(1.0, abs=1e-12)
    assert d["W1"] == pytest.approx(abs(theta), abs=1e-12)
    value, grad, _ = disjoint.w1_from_critic(LossProbe(PM, ["wgan"]), theta)
    assert value == pytest.approx(abs(theta), abs=1e-12)
    assert grad == pytest.approx(np.sign(theta), abs=1e-12)


@settings(max_examples=10)
@given(st.floats(0.5, 3.0), st.floats(0.01, 0.03))
def test_nearly_disjoint_gaussians_saturate_gan(theta, eps):
    # |θ|/ε ≥ 16: the Bhattacharyya overlap BC = e^{-θ²/8ε²} ≤ e^{-32} ≈ 1e-14, and
    # 0 ≤ log 2 - JSD ≤ BC (see disjoint.check_gradient). The GAN criterion is
    # 2·JSD - log 4, so it is within 2·BC of its disjoint value 0.
    p, q = Mixture.gaussian(0, eps), Mixture.gaussian(theta, eps)
    overlap = np.exp(-theta**2 / (8 * eps**2))
    assert -criterion.QUAD_TOL <= np.log(2) - jsd(p, q) <= overlap + criterion.QUAD_TOL
    m = criterion.measure(LossProbe(PM, ["gan"]), p, q, "d")
    assert abs(m.value) <= 2 * overlap + m.error + criterion.QUAD_TOL


# -- 5. WGAN-GP --------------------------------------------------------------------


@settings(max_examples=10)
@given(mixtures(2), mixtures(2))
def test_optimal_w1_critic_has_unit_slope(p, q):
    out = gp_checks.optimal_critic(p, q)
    gap, h = out["cdf_gap"], np.diff(out["x"])
    big = np.abs(gap) > 1e-6  # see gp_checks.check_critic for both bounds
    assert np.all(np.abs(out["slope"][big] - np.sign(gap[big])) <= 1e-8)
    allowed = np.sum(2 * h[~big] * np.abs(gap[~big])) + 1e-12
    assert abs(out["value"] - out["w1_discrete"]) <= allowed


@settings(max_examples=25)
@given(st.floats(0.0, 4.0), st.floats(0.0, 2 * np.pi), st.integers(0, 2**16))
def test_gradient_penalty_is_lambda_times_squared_excess(slope, angle, seed):
    probe = LossProbe(PM, ["wgan-gp"])
    (reg,) = [r for r in probe.regularizers() if implements(r, "penalty")]
    g = torch.Generator().manual_seed(seed)
    real, fake = torch.randn(8, 2, generator=g, dtype=torch.float64), torch.randn(8, 2, generator=g, dtype=torch.float64)
    w = slope * torch.tensor([np.cos(angle), np.sin(angle)], dtype=torch.float64)
    from ganlab.analysis.penalty_inputs import Linear

    value = gp_checks._penalty(probe, reg, Linear(w), real, fake)
    lam = probe.options["wgan-gp"].weight
    # Every per-sample norm equals the slope; float64 norm and square: 1e-12 relative.
    assert value == pytest.approx(lam * (slope - 1) ** 2, abs=1e-12 * (1 + lam * (slope - 1) ** 2))


# -- 6. spectral normalization ---------------------------------------------------------


@settings(max_examples=10)
@given(st.integers(2, 12), st.integers(2, 12), st.floats(0.1, 10.0), st.integers(0, 2**16))
def test_spectral_norm_transform_normalises_any_layer(n_in, n_out, scale, seed):
    sel = PM.select(["sn"])
    opts = sel.build_options()
    from ganlab.datasets import DataSpec

    (reg,) = [r for regs in sel.hook.ganlab_regularizer(data=DataSpec("t", (1,), None, "points"), conditioner=None,
                                                        options=opts) for r in (regs if isinstance(regs, list) else [regs])]
    torch.manual_seed(seed)
    layer = torch.nn.Linear(n_in, n_out)
    with torch.no_grad():
        layer.weight.mul_(scale)
    s = torch.linalg.svdvals(layer.weight.detach().double())
    net = reg.transform(torch.nn.Sequential(layer))
    k = 200
    with torch.no_grad():
        for _ in range(k):
            net(torch.randn(4, n_in))
    net.eval()
    sigma = float(torch.linalg.svdvals(net[0].weight.detach().double())[0])
    ratio = float(s[1] / s[0]) if len(s) > 1 else 0.0
    # Power iteration: (σ₂/σ₁)^(2k) after k + 15 steps, plus float32 rounding.
    assert abs(sigma - 1) <= 2 * ratio ** (2 * k) + 1e-5


# -- 7. Dirac-GAN -------------------------------------------------------------------------


@settings(max_examples=15)
@given(st.floats(0.05, 20.0))
def test_r1_dirac_eigenvalues(gamma):
    probe = LossProbe(PM, ["gan", "r1"], {"r1": {"gamma": str(gamma)}})
    _, J, _ = dirac.jacobian(probe, dirac.penalty_regs(probe))
    got = np.sort_complex(np.linalg.eigvals(J))
    root = np.sqrt(complex(gamma**2 / 4 - 0.25))
    want = np.sort_complex(np.array([-gamma / 2 + root, -gamma / 2 - root]))
    assert np.max(np.abs(got - want)) <= dirac.EIG_TOL  # √eps for the double root at γ = 1
    assert np.all(got.real < 0)  # R1 makes the equilibrium locally convergent


@settings(max_examples=15)
@given(codings())
def test_lsgan_dirac_jacobian(coding):
    a, _, c = coding
    _, J, fd = dirac.jacobian(lsgan(*coding), [])
    assert np.allclose(J, [[0, c], [a, 0]], atol=1e-12)
    assert np.allclose(J, fd, atol=dirac.FD_TOL)
