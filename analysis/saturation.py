"""Claim 3: gradient saturation of the generator loss.

∂ g_loss / ∂ l over raw fake scores l in [-10, 10], by autograd through the
plugin's own g_loss. The minimax loss log(1 - σ(l)) has gradient -σ(l),
which vanishes exactly where D confidently rejects the fakes (l → -∞); the
non-saturating -log σ(l) keeps |gradient| → 1 there; least squares grows
linearly in |l - c|. ganlab's sign convention: a negative gradient means G
lowers its loss by raising the score (higher = more real).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from ganlab.analysis import claims as C
from ganlab.analysis import solver
from ganlab.analysis.families import Family
from ganlab.analysis.probe import LossProbe

INFO = C.register(
    "saturation", "Generator gradient saturation",
    source="Goodfellow et al. 2014, section 3; Mao et al. 2017, section 3.2; seed 000",
    formula="∂ g_loss/∂l over l ∈ [-10, 10]",
    conditions="g_loss is a batch mean of a function of each fake score",
)

LOGITS = np.linspace(-10, 10, 201)
# Saturating: at l = -10 the gradient has fallen below 1% of its largest
# magnitude on [-10, 10]. Minimax: σ(-10)/σ(10) = 4.5e-5; every
# non-saturating loss here keeps ≥ 50% (NS: 0.99995, WGAN/hinge: 1, LS: grows).
SATURATION_RATIO = 1e-2
# Autograd in float64 and the numpy closed form each round a few operations
# at 2^-53 relative: 1e-12 relative leaves a 1e3 margin.
GRAD_TOL = 1e-12


def profile(probe: LossProbe, logits=LOGITS) -> dict:
    grad = solver.dphi_g(probe, logits)
    peak = float(np.max(np.abs(grad)))
    ratio = abs(float(grad[0])) / peak if peak > 0 else 0.0
    return {"logits": logits, "grad": grad, "ratio": ratio, "saturating": ratio < SATURATION_RATIO,
            "loss": solver.phi_g(probe, logits)}


def check(probe: LossProbe) -> C.Result:
    unmet = C.unmet_premise(INFO, probe, solver.g_not_pointwise(probe), "per-score gradient",
                           C.GeneratorGradient)
    if unmet is not None:
        return unmet
    prof = profile(probe)
    g = prof["grad"]
    kind = "saturating" if prof["saturating"] else "non-saturating"
    measured = f"∂(-10) {C.fmt(float(g[0]))}, ∂(0) {C.fmt(float(g[100]))}, ∂(10) {C.fmt(float(g[-1]))}: {kind}"
    data = {"logits": prof["logits"], "grad": g, "loss": prof["loss"], "ratio": prof["ratio"]}
    declared = probe.declarations(C.GeneratorGradient)
    if not declared:
        return C.result(INFO, probe.label, C.INFO, measured, "no closed form declared", "-", data=data,
                        note="declare one with ganlab_claims -> GeneratorGradient")
    claim = declared[0]
    expected = np.asarray(claim.grad(prof["logits"]), dtype=float)
    err = np.abs(g - expected)
    tol = probe.precision.tol(GRAD_TOL)
    ok_grad = bool(np.all(err <= tol * (1 + np.abs(expected))))
    ok_kind = prof["saturating"] == claim.saturating
    notes = []
    if not ok_grad:
        i = int(np.argmax(err))
        notes.append(f"at l={prof['logits'][i]:.3g}: autograd {g[i]:.6g}, closed form {expected[i]:.6g}")
    if not ok_kind:
        notes.append(f"declared {'saturating' if claim.saturating else 'non-saturating'}, but |∂(-10)|/max|∂| = "
                     f"{prof['ratio']:.3g}")
    data["expected"] = expected
    return C.result(INFO, probe.label, C.PASS if ok_grad and ok_kind else C.FAIL,
                    measured + f", max|Δ| {C.fmt(float(err.max()))}",
                    f"{claim.formula}: ∂(-10) {C.fmt(float(expected[0]))}, ∂(0) {C.fmt(float(expected[100]))}, "
                    f"∂(10) {C.fmt(float(expected[-1]))} ({'saturating' if claim.saturating else 'non-saturating'})",
                    f"|Δ| ≤ {tol:.2g}(1+|∂|); saturating iff ratio < {SATURATION_RATIO:g}",
                    formula=claim.formula, source=claim.source, note="; ".join(notes), data=data)


def _is_non_saturating_bce(row) -> bool:
    """Whether the row's declared gradient is σ(l) - 1, the gradient of -log σ(l)."""
    expected = row.data.get("expected")
    return expected is not None and bool(np.allclose(expected, expit(row.data["logits"]) - 1, rtol=0, atol=1e-12))


def plot(report, out):
    from ganlab.analysis import plots

    rows = plots.rows(report, INFO.name, "grad")
    if not rows:
        return None
    plt = plots.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    bce = next((r for r in rows if r.status == C.PASS and _is_non_saturating_bce(r)), None)
    if bce is not None:  # seed 000's figure, through the first plugin whose g_loss passed as -log σ(l)
        left.plot(bce.data["logits"], bce.data["loss"], color="C0")
        left.axvline(2, color="0.7", ls=":", lw=1)
        left.set_title(f"sigmoid cross-entropy -log σ(l) ({bce.plugin} g_loss): flat beyond l ≈ 2")
    left.set_xlabel("logit l")
    left.set_ylabel("loss")
    for i, r in enumerate(rows):
        right.plot(r.data["logits"], r.data["grad"], color=f"C{i % 10}", label=r.plugin)
    right.set_ylim(-3, 3)
    right.axhline(0, color="0.8", lw=0.5)
    right.set_xlabel("raw fake score l")
    right.set_ylabel("∂ g_loss / ∂ l (autograd)")
    right.set_title("Generator gradients (negative: G raises its score)")
    right.legend(fontsize=6)
    return plots.save(fig, out / "saturation.png")


FAMILY = Family("saturation", (INFO,), check, LossProbe.has_loss, plot=plot)
