"""Relativistic losses: G's loss is D's with the roles of real and fake swapped.

Jolicoeur-Martineau (2019) defines every relativistic GAN by a D loss
L_D(real, fake) and takes G's loss as L_D(fake, real): in RSGAN the pair
difference C(x_f) - C(x_r), in the average variants both terms, each sample
against the mean of the *other* batch. G's loss therefore depends on the
real scores, and its real-side term carries a gradient to the fakes through
their mean.

With one sample a side (the Dirac-GAN) several classic slips look right:
dropping the real-side term, overwriting the relativistic loss with the
standard one, or detaching the fake mean. With several distinct samples a
side they do not, so a plugin that declares :class:`~ganlab.analysis.claims.Relativistic`
gets its g_loss compared with its own d_loss, swapped, in value and in the
gradient with respect to every fake score.
"""

from __future__ import annotations

import numpy as np

from ganlab.analysis import claims as C
from ganlab.analysis.families import Family
from ganlab.analysis.probe import LossProbe, grad, tensor

SWAP = C.register(
    "relativistic-g", "G's loss is D's with real and fake swapped",
    source="Jolicoeur-Martineau 2019, eq. 1-2 and section 4 (the 'relativistic average' losses)",
    formula="g_loss(fake, real) = d_loss(real=fake, fake=real); ∂/∂fake equal too",
    conditions="declared Relativistic; 5 distinct scores a side, three batches; equal batch sizes",
)

BATCHES = ([0.3, -1.2, 2.0, 0.7, -0.4], [1.5, 0.9, -0.3, 2.2, 0.1], [-2.0, 0.5, 1.1, -0.8, 3.0])
TOL = 1e-12  # float64 rounding of means of O(1) terms, 1e3 margin (scaled to the code's dtype)


@C.checks(SWAP)
def check(probe: LossProbe) -> C.Result:
    tol = probe.precision.tol(TOL)
    problems, worst = [], 0.0
    for i, real_list in enumerate(BATCHES):
        fake_list = BATCHES[(i + 1) % len(BATCHES)]
        real = tensor(real_list)
        f1 = tensor(fake_list).requires_grad_(True)
        f2 = tensor(fake_list).requires_grad_(True)
        g = probe.g_loss(f1, real)
        d = probe.d_loss(f2, real)  # D's loss with the fakes in the real seat
        (gg,), (gd,) = grad(g, (f1,)), grad(d, (f2,))
        g, d = g.detach(), d.detach()
        dv = abs(float(g) - float(d))
        dg = float((gg - gd).abs().max())
        worst = max(worst, dv, dg)
        if dv > tol * (1 + abs(float(d))):
            problems.append(f"g_loss = {float(g):.6g} but d_loss with the sides swapped = {float(d):.6g}")
        elif dg > tol * (1 + float(gd.abs().max())):
            problems.append(f"values agree but ∂g_loss/∂fake = {np.round(gg.numpy(), 4).tolist()} against "
                            f"{np.round(gd.numpy(), 4).tolist()}: a detached fake mean?")
    if problems:
        depends = float(probe.g_loss(tensor(BATCHES[1]), tensor(BATCHES[0]))) != float(
            probe.g_loss(tensor(BATCHES[1]), tensor(BATCHES[2])))
        if not depends:
            problems.append("g_loss does not depend on the real scores at all: the standard GAN loss, not a "
                            "relativistic one")
    return C.result(SWAP, probe.own_label, C.FAIL if problems else C.PASS,
                    f"max |Δ| over value and ∂/∂fake {C.fmt(worst)}", "0 (G's loss is D's, swapped)",
                    f"{tol:.2g}(1+|L|)", note="; ".join(problems[:2] + problems[-1:] if len(problems) > 2 else problems))


FAMILY = Family("relativistic-g", (SWAP,), check, lambda probe: bool(probe.declarations(C.Relativistic)))
