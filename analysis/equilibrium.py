"""BEGAN's equilibrium control: k_t's recurrence and the D loss it weights.

A plugin declaring :class:`~ganlab.analysis.claims.EquilibriumControl` is
driven through D updates with chosen energies (L = -mean score), and its own
code's numbers are compared with the paper's recurrence, computed here in
float64 numpy:

* D's objective, ``d_loss`` plus the regularizer's term, equals
  L(x) - k_t·L(G(z)) with the k before the update, and its gradient on each
  fake score is k_t/B (the term's sign);
* k then moves by λ_k(γ·L(x) - L(G(z))), clipped to [0, 1]: the energies
  are chosen to reach both clips and to sit three times exactly at the
  equilibrium L(G(z)) = γ·L(x), where k must not move.
"""

from __future__ import annotations

import numpy as np
import torch

from ganlab.analysis import claims as C
from ganlab.analysis.families import Family
from ganlab.analysis.probe import LossProbe, grad
from ganlab.regularizers import PenaltyBatch

CONTROL = C.register(
    "began-control", "BEGAN's k_t control and controlled D loss",
    source="Berthelot et al. 2017, Eq. 4",
    formula="L_D = L(x) - k_t·L(G(z)); k_{t+1} = clip(k_t + λ_k(γ·L(x) - L(G(z))), 0, 1)",
    conditions="16 D updates of batch 8 with energies reaching both clips and three exact equilibria; "
               "L = -mean score",
)

BATCH = 8
# (L(x), L(G(z))) per D update. Differences of ±1/λ_k-scale drive k to 1 and back to 0
# in a few steps whatever λ_k; (2, 2γ) is the equilibrium.
PLAN = ("up", "up", "eq", "up", "up", "up", "down", "eq", "down", "down", "down", "small", "small", "eq", "up", "small")
# The penalty runs in float32: each update rounds k and the term by ≤ 2^-24 relative to
# O(1 + |λ_k·Δ|) values, and 16 updates compound it; 1e-5 leaves a 4x margin.
TOL = 1e-5


def _energies(kind: str, gamma: float, lam: float) -> tuple[float, float]:
    big = 0.6 / lam
    return {"up": (2.0 + big / gamma, 2.0), "down": (1.0, 1.0 + big), "eq": (2.0, 2.0 * gamma),
            "small": (1.5, 1.5 * gamma + 0.1)}[kind]


def _scores(energy: float, offset: float) -> torch.Tensor:
    spread = torch.linspace(-0.5, 0.5, BATCH, dtype=torch.float32) * offset
    return (-energy + spread).requires_grad_(True)  # mean = -energy exactly: the spread sums to 0


def check(probe: LossProbe) -> list[C.Result]:
    claim, reg = probe.owned_penalty(C.EquilibriumControl)
    if isinstance(reg, str):
        return [C.result(CONTROL, probe.own_label, C.FAIL, "-", "exactly one D penalty", "-", note=reg)]
    k = float(torch.as_tensor(reg.state_dict().get("k", float("nan"))))
    problems, ks = [], [k]
    for t, kind in enumerate(PLAN):
        lr, lf = _energies(kind, claim.gamma, claim.lambda_k)
        real, fake = _scores(lr, 1.0), _scores(lf, 0.3)
        batch = PenaltyBatch(real=real.detach()[:, None], fake=fake.detach()[:, None], real_scores=real,
                             fake_scores=fake, discriminator=lambda x, labels=None: x)
        total = probe.d_loss(real, fake).float() + probe.penalty(reg, batch).float()
        want = lr - k * lf
        (g,) = grad(total, (fake,))
        total, g = float(total.detach()), g.double().numpy()
        k_next = float(np.clip(k + claim.lambda_k * (claim.gamma * lr - lf), 0.0, 1.0))
        got_k = float(torch.as_tensor(reg.state_dict()["k"]))
        if abs(total - want) > TOL * (1 + abs(want)):
            problems.append(f"update {t + 1}: L_D = {total:.6g}, L(x) - k_t·L(G(z)) = {want:.6g} (k_t = {k:.4g})")
        if np.abs(g - k / BATCH).max() > TOL:
            problems.append(f"update {t + 1}: ∂L_D/∂s_fake = {g.mean():.4g} per sample, k_t/B = {k / BATCH:.4g}")
        if abs(got_k - k_next) > TOL:
            problems.append(f"update {t + 1} ({kind}): k went {k:.4g} → {got_k:.4g}, the recurrence gives {k_next:.4g}")
        k = k_next
        ks.append(got_k)
    touched = (min(ks) <= TOL, max(ks) >= 1 - TOL)
    if not problems and not all(touched):
        problems.append(f"k stayed in [{min(ks):.3g}, {max(ks):.3g}]: the plan never reached a clip")
    return [C.result(CONTROL, probe.own_label, C.FAIL if problems else C.PASS,
                     f"k: {' → '.join(C.fmt(x) for x in ks[:6])} … {C.fmt(ks[-1])} over {len(PLAN)} updates",
                     f"recurrence (γ = {C.fmt(claim.gamma)}, λ_k = {C.fmt(claim.lambda_k)}), both clips, L_D",
                     f"{TOL:g} (float32 over {len(PLAN)} updates)", formula=claim.formula, source=claim.source,
                     note="; ".join(problems[:3]), data={"k": ks})]


def _applies(probe: LossProbe) -> bool:
    return bool(probe.declarers(C.EquilibriumControl))


FAMILY = Family("equilibrium", (CONTROL,), check, _applies)
