"""Claim 7: the Dirac-GAN (Mescheder, Geiger & Nowozin 2018, section 2).

The generator is a point mass at θ, the data a point mass at 0 and the
discriminator linear, D(x) = ψ·x. The losses are the plugin's own hooks on
the scores D(0) = 0 and D(θ) = ψθ, plus the penalties of the selection's
regularizers (called with D as a live module). The gradient vector field is

    v(θ, ψ) = (-∂ g_loss/∂θ, -∂ (d_loss + penalties)/∂ψ),

and local convergence of gradient descent at the equilibrium (0, 0) is
governed by the eigenvalues of its Jacobian, which we get by autograd
through v (itself an autograd gradient, so the plugin's code is
differentiated twice).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ganlab.analysis import claims as C
from ganlab.analysis.families import Family
from ganlab.analysis.probe import DTYPE, LossProbe, implements
from ganlab.analysis.solver import NonFiniteLoss
from ganlab.regularizers import PenaltyBatch

EIGEN = C.register(
    "dirac-eigen", "Dirac-GAN Jacobian eigenvalues",
    source="Mescheder et al. 2018, Lemma 2.2 and Thm 4.1",
    formula="eig ∂v/∂(θ,ψ) at (0, 0)",
    conditions="generator δ_θ, data δ_0, D(x) = ψx; with the selection's penalties if any",
)
SIM = C.register(
    "dirac-sim", "Dirac-GAN gradient descent",
    source="Mescheder et al. 2018, section 2.2",
    formula="simultaneous and alternating GD from (θ, ψ) = (0.4, 0.3)",
    conditions="linearised prediction: spectral radius ρ of the update's Jacobian",
)

START = (0.4, 0.3)
SIM_STEPS = 150   # without contraction: ρ = 1.005 (GAN) already doubles the radius
MAX_STEPS = 800
# Autograd through the plugin's float64 code is exact to a few ulps, but a
# defective (double) eigenvalue moves by √(perturbation) ≈ √1e-16 = 1e-8:
# 1e-6 covers that with a 100x margin.
EIG_TOL = 1e-6
# A finite-difference Jacobian (central, step 1e-5: truncation ~1e-10,
# rounding ~1e-11) must agree with autograd to 1e-6, else v is not
# differentiable at the equilibrium (e.g. the norm in a gradient penalty).
FD_STEP, FD_TOL = 1e-5, 1e-6


class _Critic(nn.Module):
    """D(x) = ψ·x as a module, so penalties can call it like a discriminator."""

    def __init__(self, psi: torch.Tensor):
        super().__init__()
        self.psi = psi

    def forward(self, x, labels=None):
        return self.psi * x.reshape(len(x), -1).sum(dim=1)


def penalty_regs(probe: LossProbe) -> list:
    return [r for r in probe.regularizers() if implements(r, "penalty")]


def field(probe: LossProbe, regs: list, z: torch.Tensor, create_graph: bool = False,
          need: tuple[bool, bool] = (True, True)) -> torch.Tensor:
    """v(θ, ψ) at z = (θ, ψ); a differentiable function of z when ``create_graph``.

    Without ``create_graph`` (simulation) one backward pass serves both
    players: G's loss sees ψ detached and D's loss θ detached, so
    ∂(L_G + L_D)/∂θ = ∂L_G/∂θ and ∂(L_G + L_D)/∂ψ = ∂L_D/∂ψ.
    """
    if create_graph:
        lg = _g_side(probe, regs, z[0], z[1]) if need[0] else None
        ld = _d_side(probe, regs, z[0], z[1]) if need[1] else None
        zero = torch.zeros((), dtype=DTYPE)
        return torch.stack([-_grad(lg, z, True)[0] if lg is not None else zero,
                            -_grad(ld, z, True)[1] if ld is not None else zero])
    theta = z[0].detach().clone().requires_grad_(True)
    psi = z[1].detach().clone().requires_grad_(True)
    total = torch.zeros((), dtype=DTYPE)
    if need[0]:
        total = total + _g_side(probe, regs, theta, psi.detach())
    if need[1]:
        total = total + _d_side(probe, regs, theta.detach(), psi)
    g_theta, g_psi = torch.autograd.grad(total, (theta, psi), allow_unused=True)
    return -torch.stack([g if g is not None else torch.zeros((), dtype=DTYPE) for g in (g_theta, g_psi)])


def _scores(theta, psi):
    critic = _Critic(psi)
    real, fake = torch.zeros(1, 1, dtype=DTYPE), theta.reshape(1, 1)
    return critic, real, fake, critic(real), critic(fake)


def _g_side(probe, regs, theta, psi):
    critic, real, fake, rs, fs = _scores(theta, psi)
    return probe.g_loss(fs, rs) + _penalties(probe, regs, "G", real, fake, rs, fs, critic)


def _d_side(probe, regs, theta, psi):
    critic, real, fake, rs, fs = _scores(theta, psi)
    return probe.d_loss(rs, fs) + _penalties(probe, regs, "D", real, fake, rs, fs, critic)


def _grad(loss, z, create_graph):
    (g,) = torch.autograd.grad(loss, z, create_graph=create_graph, retain_graph=True, allow_unused=True)
    return torch.zeros_like(z) if g is None else g


def _penalties(probe, regs, player, real, fake, real_scores, fake_scores, critic):
    total = torch.zeros((), dtype=DTYPE)
    for reg in regs:
        if reg.player == player:
            value = probe.penalty(reg, PenaltyBatch(real=real, fake=fake, real_scores=real_scores,
                                             fake_scores=fake_scores, discriminator=critic))
            if value is not None:
                total = total + value
    return total


def fd_step_tol(probe: LossProbe) -> tuple[float, float]:
    """Finite-difference step and agreement tolerance at the code's precision.

    In a coarser dtype the step grows to eps^(1/3) (truncation h² and rounding
    eps/h balance) and the error to eps^(2/3); 64 of those is the tolerance.
    """
    if not probe.precision.reduced or probe.precision.forced is not None:
        return FD_STEP, FD_TOL
    eps = probe.precision.eps
    return eps ** (1 / 3), max(FD_TOL, 64 * eps ** (2 / 3))


def jacobian(probe: LossProbe, regs: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(v(0,0), autograd Jacobian, finite-difference Jacobian)."""
    z0 = torch.zeros(2, dtype=DTYPE)
    v0 = field(probe, regs, z0).detach().numpy()
    J = torch.autograd.functional.jacobian(lambda z: field(probe, regs, z, create_graph=True), z0)
    fd = np.zeros((2, 2))
    step, _ = fd_step_tol(probe)
    for j in range(2):
        e = torch.zeros(2, dtype=DTYPE)
        e[j] = step
        fd[:, j] = (field(probe, regs, z0 + e) - field(probe, regs, z0 - e)).detach().numpy() / (2 * step)
    return v0, J.detach().numpy(), fd


def expected_eigenvalues(probe: LossProbe, regs: list) -> tuple[np.ndarray | None, str, str]:
    """(eigenvalues, formula, source) from the declarations, or None."""
    loss = probe.declarations(C.DiracEigenvalues)
    if not loss:
        return None, "no closed form declared", ""
    claim = loss[0]
    if not regs:
        return np.array(claim.eigenvalues, dtype=complex), claim.formula, claim.source
    r1 = probe.declarations(C.R1Penalty)
    if r1 and len(regs) == 1 and claim.f_prime_0 is not None:
        g, f = r1[0].gamma, claim.f_prime_0
        root = np.sqrt(complex(g * g / 4 - f * f))
        return (np.array([-g / 2 + root, -g / 2 - root]), "-γ/2 ± sqrt(γ²/4 - f'(0)²)",
                "Mescheder et al. 2018, Thm 4.1")
    return None, "no closed form for this regularizer", ""


def _sorted(eigs: np.ndarray) -> np.ndarray:
    return np.array(sorted(np.asarray(eigs, dtype=complex), key=lambda c: (round(c.imag, 6), round(c.real, 6))))


def update_matrix(J: np.ndarray, h: float, scheme: str) -> np.ndarray:
    """The linearised map of one GD step."""
    if scheme == "simultaneous":
        return np.eye(2) + h * J
    a_theta = np.array([[1 + h * J[0, 0], h * J[0, 1]], [0, 1]])
    a_psi = np.array([[1, 0], [h * J[1, 0], 1 + h * J[1, 1]]])
    return a_psi @ a_theta


def simulate(probe: LossProbe, regs: list, scheme: str, h: float, steps: int, start=START) -> np.ndarray:
    z = torch.tensor(start, dtype=DTYPE)
    path = [z.numpy().copy()]
    for _ in range(steps):
        if scheme == "simultaneous":
            z = z + h * field(probe, regs, z).detach()
        else:  # G moves first, then D sees the new θ
            z = z + h * field(probe, regs, z, need=(True, False)).detach()
            z = z + h * field(probe, regs, z, need=(False, True)).detach()
        path.append(z.numpy().copy())
        if not np.all(np.isfinite(path[-1])) or np.linalg.norm(path[-1]) > 1e3:
            break  # clearly diverged
    return np.array(path)


def check(probe: LossProbe, include_plain: bool = True) -> list[C.Result]:
    """Eigenvalue and simulation rows; with penalties, also the loss alone (``include_plain``)."""
    regs = penalty_regs(probe)
    extra = [r.name for r in regs if r.name not in probe.names]
    label = probe.label + (" +" + ",".join(extra) if extra else "")
    with torch.random.fork_rng():  # penalties may draw random interpolates
        torch.manual_seed(0)
        row, J, smooth, expected = _eigen_row(probe, regs, label)
        rows = [row, _sim_row(probe, regs, label, J, smooth, expected)]
    if regs and include_plain:  # the loss alone, too
        rows.insert(0, _eigen_row(probe, [], probe.label)[0])
    return rows


def _eigen_row(probe, regs, label):
    """(row, Jacobian, whether v is smooth at (0, 0), declared eigenvalues or None)."""
    v0, J, fd = jacobian(probe, regs)
    if not np.all(np.isfinite(v0)):
        raise NonFiniteLoss(f"the Dirac-GAN gradient field at (0, 0) is {v0.tolist()}")
    eigs = np.linalg.eigvals(J) if np.all(np.isfinite(J)) else np.full(2, np.nan)
    data = {"jacobian": J, "eigenvalues": eigs, "v0": v0}
    measured = "eig " + ", ".join(C.fmt(complex(e)) for e in _sorted(eigs))
    if np.max(np.abs(v0)) > probe.precision.tol(1e-12):
        return C.result(EIGEN, label, C.NA, f"v(0,0) = {C.fmt(v0[0])}, {C.fmt(v0[1])}", "equilibrium at (0, 0)",
                        "-", note="(0, 0) is not a stationary point of this selection", data=data), J, False, None
    if not (np.all(np.isfinite(J)) and np.all(np.isfinite(fd))) or \
            np.max(np.abs(J - fd)) > fd_step_tol(probe)[1] * (1 + np.max(np.abs(J))):
        return C.result(EIGEN, label, C.NA, measured, "differentiable field", "-", data=data,
                        note=f"autograd and finite differences disagree by {np.max(np.abs(J - fd)):.3g}: "
                             "v is not differentiable at (0, 0)"), J, False, None
    expected, formula, source = expected_eigenvalues(probe, regs)
    if expected is None:
        return C.result(EIGEN, label, C.INFO, measured, formula, "-", data=data), J, True, None
    err = float(np.max(np.abs(_sorted(eigs) - _sorted(expected))))
    data["expected"] = expected
    exp_text = f"{formula} = " + ", ".join(C.fmt(complex(e)) for e in _sorted(expected))
    # A double root moves by √(perturbation): the tolerance scales with √eps.
    eig_tol = EIG_TOL * float(np.sqrt(probe.precision.tol(1e-12) / 1e-12))
    return C.result(EIGEN, label, C.PASS if err <= eig_tol else C.FAIL, measured + f" (|Δ| {C.fmt(err)})",
                    exp_text, f"{eig_tol:.2g} (√eps for double roots)", formula=formula, source=source,
                    data=data), J, True, expected


def _sim_row(probe, regs, label, J, smooth, expected):
    """Simulated GD against the prediction of the *declared* eigenvalues.

    One simultaneous step is z ↦ z + h·v(z), linearised I + hJ, whose
    eigenvalues are 1 + hλ: the declared λ alone predict ρ, independently of
    the plugin. (Alternating GD needs all of J, so its row part is
    information only.) Without declared eigenvalues the linearisation comes
    from the plugin itself and the row is INFO.
    """
    lam = np.abs(np.linalg.eigvals(J)).max() if smooth else 0.0
    h = min(0.2, 1 / lam) if lam > 0 else 0.2
    outcomes, parts, verdict = {}, [], None
    for scheme in ("simultaneous", "alternating"):
        rho = float(np.abs(np.linalg.eigvals(update_matrix(J, h, scheme))).max()) if smooth else np.nan
        declared = scheme == "simultaneous" and expected is not None
        if declared:
            rho = float(np.abs(1 + h * np.asarray(expected)).max())
        contracting = rho < 1 - 1e-9
        # Steps for the linearisation to predict a 100-fold contraction.
        need = int(np.ceil(np.log(1e-2) / np.log(rho))) if contracting else SIM_STEPS
        if need > MAX_STEPS:  # a very slow mode (R1 with large γ): predicted, not simulated
            outcomes[scheme] = {"rho": rho, "h": h, "steps": 0}
            parts.append(f"{scheme[:3]}: slow (ρ {C.fmt(rho)}, ρ^{MAX_STEPS} = {C.fmt(rho ** MAX_STEPS)})")
            continue
        path = simulate(probe, regs, scheme, h, need)
        shrink = float(np.linalg.norm(path[-1]) / np.linalg.norm(path[0]))
        converged = shrink < 0.1  # 10x margin over the predicted 0.01 (eigenvectors are not orthogonal)
        # Path length over the start's norm: a field that is zero everywhere
        # also "does not converge", so not converging must come with motion.
        moved = float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum() / np.linalg.norm(path[0]))
        if declared:  # ρ < 1: must converge; ρ ≥ 1: must not, while moving
            verdict = converged if contracting else (not converged and moved > 0.1)
        outcomes[scheme] = {"path": path, "rho": rho, "h": h, "steps": len(path) - 1, "shrink": shrink,
                            "converged": converged, "moved": moved}
        parts.append(f"{scheme[:3]}: {'converges' if converged else 'no'} (ρ {C.fmt(rho)}, ×{C.fmt(shrink)})")
    status = C.INFO if verdict is None else (C.PASS if verdict else C.FAIL)
    if expected is not None:
        want = (f"sim: ρ = max|1 + hλ| = {C.fmt(outcomes['simultaneous']['rho'])} from the declared λ "
                f"(h = {C.fmt(h)}): {'converges' if outcomes['simultaneous']['rho'] < 1 - 1e-9 else 'does not converge'}")
    else:
        want = "no eigenvalues declared: ρ from the plugin's own Jacobian"
    note = "" if smooth else "no linearisation at (0, 0): simulation only"
    if smooth and verdict is None and expected is not None:
        note = f"contraction too slow to simulate within {MAX_STEPS} steps (stiff: see dirac-eigen)"
    return C.result(SIM, label, status, "; ".join(parts), want, "converges: final/initial < 0.1; else path ≥ 0.1",
                    data=outcomes, note=note)


def applies(probe: LossProbe) -> bool:
    return probe.has_loss() or bool(penalty_regs(probe))


def run(probe: LossProbe) -> list[C.Result]:
    # A penalty plugin alone is checked with the default loss, not reported again without it.
    return check(probe, include_plain=probe.has_loss())


def plot(report, out):
    from ganlab.analysis import plots

    sims = [r for r in report.results if r.claim == "dirac-sim"
            and any("path" in v for v in r.data.values() if isinstance(v, dict))]
    eigs = plots.rows(report, "dirac-eigen", "eigenvalues")
    if not sims and not eigs:
        return None
    n = len(sims)
    cols = min(4, max(n, 1))
    rows_ = int(np.ceil(n / cols)) + 1
    plt = plots.pyplot()
    fig = plt.figure(figsize=(3.2 * cols, 3.0 * rows_))
    for i, r in enumerate(sims):
        ax = fig.add_subplot(rows_, cols, i + 1)
        for scheme, style in (("simultaneous", "C3"), ("alternating", "C0")):
            path = r.data.get(scheme, {}).get("path")
            if path is not None:
                path = np.clip(np.asarray(path), -3, 3)
                ax.plot(path[:, 0], path[:, 1], color=style, lw=0.8, label=scheme)
        ax.plot([0], [0], "k*", ms=6)
        ax.set_title(r.plugin, fontsize=7)
        ax.set_xlabel("θ", fontsize=7)
        ax.set_ylabel("ψ", fontsize=7)
        ax.tick_params(labelsize=6)
        if i == 0:
            ax.legend(fontsize=6)
    ax = fig.add_subplot(rows_, 1, rows_)
    for i, r in enumerate(eigs):
        e = np.asarray(r.data["eigenvalues"], dtype=complex)
        if np.all(np.isfinite(e)):
            st = plots.style(i)
            ax.plot(e.real, e.imag, st["marker"], color=st["color"], ms=5, ls="none", label=r.plugin)
    ax.axvline(0, color="0.7", lw=0.5)
    ax.axhline(0, color="0.7", lw=0.5)
    ax.set_xlabel("Re λ (negative: locally convergent)")
    ax.set_ylabel("Im λ")
    ax.set_title("Dirac-GAN Jacobian eigenvalues at (0, 0)")
    # Re λ runs from -γ (R1, γ = 10) to 0, where most losses sit: symmetric log keeps both readable.
    ax.set_xscale("symlog", linthresh=0.1)
    ax.legend(fontsize=6, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return plots.save(fig, out / "dirac.png")


FAMILY = Family("dirac", (EIGEN, SIM), run, applies, plot=plot)
