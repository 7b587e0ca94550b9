"""Claim 4: distributions with disjoint supports (Arjovsky et al. 2017, Example 1).

P₀ = δ₀ × U[0,1] and P_θ = δ_θ × U[0,1] are parallel segments. For θ ≠ 0:
JS = log 2, KL = ∞, TV = 1 whatever θ, while W₁ = |θ|. So a loss whose
criterion at D* is a divergence of the JS/TV kind gives G no gradient
(∂C/∂θ = 0), while W₁'s gradient is ±1.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import optimize, spatial, stats

from ganlab.analysis import claims as C
from ganlab.analysis import criterion, solver
from ganlab.analysis.densities import Mixture, jsd
from ganlab.analysis.families import Family
from ganlab.analysis.probe import LossProbe, grad, tensor

EXACT = C.register(
    "disjoint-exact", "Divergences of parallel segments",
    source="Arjovsky et al. 2017, Example 1; seed 003",
    formula="θ ≠ 0: JS = log 2, KL = ∞, TV = 1, W₁ = |θ|",
    conditions="U[0,1] as 64 equal atoms; W₁ by optimal assignment (scipy)",
)
GRADIENT = C.register(
    "disjoint-gradient", "No gradient at D* once supports separate",
    source="Arjovsky et al. 2017, Example 1 and Thm 2.4",
    formula="∂C/∂θ → 0, C → -(inf φ_r + inf φ_f) and JSD → log 2 for N(0,ε²) vs N(θ,ε²), ε → 0",
    conditions="separable loss with a pointwise D*; θ = 1",
)
W1 = C.register(
    "disjoint-w1", "The critic's objective is W₁, with gradient ±1",
    source="Arjovsky et al. 2017, Example 1 and Thm 3",
    formula="max over 1-Lipschitz f of -d_loss(f(P₀), f(P_θ)) = |θ|, ∂/∂θ = sign θ",
    conditions="loss with no pointwise D* (unbounded); linear critics f(x) = kx, |k| ≤ 1, are optimal here",
)

THETAS = (-1.0, -0.25, 0.5, 2.0)
EPSILONS = (0.5, 0.2, 0.05)
ATOMS = 64
# Sums of at most 2·64 float64 terms of size ≤ 1: error ≤ 128·2^-53 ≈ 1.4e-14.
EXACT_TOL = 1e-12
FD_STEP = 1e-3


def segments(theta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Atoms of P₀ and P_θ, and both as probability vectors on the union of atoms."""
    y = (np.arange(ATOMS) + 0.5) / ATOMS
    a = np.column_stack([np.zeros(ATOMS), y])
    b = np.column_stack([np.full(ATOMS, theta), y])
    if theta == 0:
        p = q = np.full(ATOMS, 1 / ATOMS)
    else:
        p = np.concatenate([np.full(ATOMS, 1 / ATOMS), np.zeros(ATOMS)])
        q = p[::-1].copy()
    return a, b, p, q


def exact_divergences(theta: float) -> dict[str, float]:
    a, b, p, q = segments(theta)
    cost = spatial.distance.cdist(a, b)
    rows, cols = optimize.linear_sum_assignment(cost)
    return {"JS": spatial.distance.jensenshannon(p, q, base=np.e) ** 2,
            "KL": float(stats.entropy(p, q)),
            "TV": 0.5 * float(np.abs(p - q).sum()),
            "W1": float(cost[rows, cols].mean())}


def check_exact() -> C.Result:
    worst, data = 0.0, {}
    for theta in THETAS + (0.0,):
        got = exact_divergences(theta)
        want = ({"JS": np.log(2), "KL": np.inf, "TV": 1.0, "W1": abs(theta)} if theta != 0
                else {"JS": 0.0, "KL": 0.0, "TV": 0.0, "W1": 0.0})
        data[str(theta)] = got
        for k in got:
            if np.isinf(want[k]):
                worst = max(worst, 0.0 if np.isinf(got[k]) else np.inf)
            else:
                worst = max(worst, abs(got[k] - want[k]))
    # No plugin is involved: information about the example, never a PASS.
    return C.result(EXACT, "scipy", C.INFO if worst <= EXACT_TOL else C.FAIL,
                    f"max error {C.fmt(worst)} over θ ∈ {{{', '.join(map(str, THETAS))}, 0}}",
                    "JS log 2, KL ∞, TV 1, W₁ |θ| (0 at θ = 0)", f"{EXACT_TOL:g}", data=data)


def check_gradient(probe: LossProbe, theta: float = 1.0) -> C.Result:
    unmet = C.unmet_premise(GRADIENT, probe, solver.not_separable(probe), "∂C/∂θ → 0")
    if unmet is not None:
        return unmet
    if not solver.has_pointwise_optimum(probe):
        return C.result(GRADIENT, probe.label, C.NA, "unbounded", "∂C/∂θ → 0", "-",
                        note="no pointwise D*: see disjoint-w1")
    falling = _unbounded_side(probe)
    if falling:
        return C.result(GRADIENT, probe.label, C.NA, "-", "∂C/∂θ → 0", "-",
                        note=f"{falling} is unbounded below, so C(G) → ∞ as the supports separate "
                             "(a KL-type divergence: KL = ∞ in disjoint-exact); there is no limit to reach")
    declared = probe.declarations(C.Criterion)
    claim = declared[0] if declared else None
    objective = claim.objective if claim else "d"
    grads, values, tols, js, worst = [], [], [], [], -np.inf
    for eps in EPSILONS:
        p = Mixture.gaussian(0, eps)
        sides = [Mixture.gaussian(theta + FD_STEP, eps), Mixture.gaussian(theta - FD_STEP, eps)]
        plus, minus = (criterion.measure(probe, p, q, objective) for q in sides)
        grads.append((plus.value - minus.value) / (2 * FD_STEP))
        values.append((plus.value + minus.value) / 2)  # C(θ) up to δ²/2·|C''|
        # Central difference: quadrature errors of both sides over 2δ, plus
        # truncation δ²/6·|C‴|, where C‴ is of the size of C' over ε² here.
        tols.append((plus.error + minus.error) / (2 * FD_STEP) + FD_STEP**2 / eps**2 * abs(grads[-1]))
        js.append(jsd(p, Mixture.gaussian(theta, eps)))
        if claim is not None:  # the independent side: the declared C(G), by scipy quad
            for m, q in zip((plus, minus), sides):
                worst = max(worst, abs(m.value - float(claim.value(p, q))) - m.error - criterion.QUAD_TOL)
    # 0 ≤ log 2 - JSD ≤ BC = ∫√(p q) dx, since log(1 + x) ≤ √x gives
    # p·log(1 + q/p) ≤ √(pq) in log 2 - JSD = ½∫p·log(1 + q/p) + q·log(1 + p/q);
    # for N(0,ε²) and N(θ,ε²), BC = exp(-θ²/8ε²) (2e-22 at ε = 0.05, θ = 1).
    overlap = [float(np.exp(-theta**2 / (8 * eps**2))) for eps in EPSILONS]
    js_ok = all(-criterion.QUAD_TOL <= np.log(2) - j <= bc + criterion.QUAD_TOL for j, bc in zip(js, overlap))
    data = {"epsilons": EPSILONS, "dC_dtheta": grads, "C": values, "JSD_scipy": js, "overlap": overlap}
    measured = ("∂C/∂θ " + ", ".join(C.fmt(g) for g in grads) + f" (ε = {', '.join(map(str, EPSILONS))}); "
                f"C(ε={EPSILONS[-1]}) {C.fmt(values[-1])}")
    note = f"scipy: JSD → {C.fmt(js[-1])} (log 2 = {C.fmt(np.log(2))}), 0 ≤ log 2 - JSD ≤ exp(-θ²/8ε²)"
    # ∂C/∂θ → 0 holds for every separable loss with a bounded D* (C tends to
    # -(inf φ_r + inf φ_f) whatever θ), so on its own it tests nothing about
    # the plugin: it is a PASS only as agreement with the declared C(G).
    flat = abs(grads[-1]) <= tols[-1] + criterion.QUAD_TOL
    if claim is None:
        status = C.INFO if flat and js_ok else C.FAIL
        expected = "∂C/∂θ → 0 (no Criterion declared to compare C with)"
    else:
        status = C.PASS if flat and js_ok and worst <= 0 else C.FAIL
        expected = f"∂C/∂θ → 0 and C = {claim.formula} (scipy) at every ε, θ ± δ"
        if worst > 0:
            note = f"measured C differs from the declared {claim.formula} by {C.fmt(worst)} beyond tolerance; " + note
    return C.result(GRADIENT, probe.label, status, measured, expected,
                    f"FD+quadrature {C.fmt(tols[-1] + criterion.QUAD_TOL)}; JSD {C.fmt(criterion.QUAD_TOL)}",
                    note=note, data=data)


def _unbounded_side(probe: LossProbe) -> str | None:
    """'φ_r' or 'φ_f' when it still falls far out (t = ±256 → ±512), else None.

    The claim's limit -(inf φ_r + inf φ_f) needs both infima finite; f-GAN's
    KL has φ_r(t) = -t. ±512 keeps exp(±t/2)-type terms inside float64.
    """
    r, _ = solver.phi(probe, np.array([256.0, 512.0]))
    _, f = solver.phi(probe, np.array([-256.0, -512.0]))
    for name, (a, b) in (("φ_r", r), ("φ_f", f)):
        if b < a - 1e-9 * (1 + abs(a)):
            return name
    return None


def w1_from_critic(probe: LossProbe, theta: float) -> tuple[float, float, float]:
    """(max over k ∈ [-1, 1] of -d_loss(k·P₀, k·P_θ), its θ-gradient by autograd, argmax k).

    Only the x coordinate differs between the segments, so f(x, y) = k·x with
    |k| ≤ 1 covers the optimal 1-Lipschitz critics: E_P₀ f - E_Pθ f ≤ |θ| for
    every 1-Lipschitz f, with equality at k = -sign θ.
    """
    ks = np.linspace(-1, 1, 201)  # includes ±1, where a linear objective peaks
    real = torch.zeros(ATOMS, dtype=torch.float64)
    fake = torch.full((ATOMS,), float(theta), dtype=torch.float64)
    vals = [-float(probe.d_loss(k * real, k * fake)) for k in ks]
    k = float(ks[int(np.argmax(vals))])
    th = tensor(theta).requires_grad_(True)
    (g,) = grad(-probe.d_loss(k * real, k * th * torch.ones(ATOMS, dtype=torch.float64)), (th,))
    return max(vals), float(g), k


def check_w1(probe: LossProbe) -> C.Result:
    unmet = C.unmet_premise(W1, probe, solver.not_separable(probe), "|θ|")
    if unmet is not None:
        return unmet
    if solver.has_pointwise_optimum(probe):
        return C.result(W1, probe.label, C.NA, "-", "|θ|", "-",
                        note="this loss has a pointwise D*: its criterion is not W₁ (see disjoint-gradient)")
    ts = np.linspace(-3, 3, 13)
    r, f = solver.dphi(probe, ts)
    if np.all(np.abs(f) <= EXACT_TOL) or np.all(np.abs(r) <= EXACT_TOL):
        # Not E f(fake) - E f(real) in any scaling: BEGAN's d_loss is L(x) alone (k_t·L(G(z)) is a regularizer).
        side = "fake" if np.all(np.abs(f) <= EXACT_TOL) else "real"
        return C.result(W1, probe.label, C.NA, "-", "|θ|", "-",
                        note=f"d_loss ignores the {side} scores: it is not a critic's E f(fake) - E f(real), "
                             "so its value is not W₁")
    worst_v, worst_g, data = 0.0, 0.0, {}
    for theta in THETAS:
        value, grad, k = w1_from_critic(probe, theta)
        worst_v = max(worst_v, abs(value - abs(theta)))
        worst_g = max(worst_g, abs(grad - np.sign(theta)))
        data[str(theta)] = {"W1": value, "gradient": grad, "k": k}
    ok = worst_v <= EXACT_TOL and worst_g <= EXACT_TOL
    return C.result(W1, probe.label, C.PASS if ok else C.FAIL,
                    f"max|W₁-|θ|| {C.fmt(worst_v)}, max|∂-sign θ| {C.fmt(worst_g)}",
                    "W₁ = |θ|, ∂W₁/∂θ = sign θ", f"{EXACT_TOL:g}", data=data)


def run(probe: LossProbe) -> C.Result:
    """Arjovsky's Example 1 in the form that applies: no gradient at D*, or W₁ for critics."""
    if solver.not_separable(probe) is None and not solver.has_pointwise_optimum(probe):
        return check_w1(probe)
    return check_gradient(probe)


FAMILY = Family("disjoint", (EXACT, GRADIENT, W1), run, LossProbe.has_loss, standalone=lambda: [check_exact()])
