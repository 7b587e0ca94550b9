"""Claim 6: spectral normalization (Miyato et al. 2018).

The plugin's own regularizer transform is applied to a small LeakyReLU
MLP; after power iteration, every normalised weight must have largest
singular value ≈ 1 (torch.linalg.svdvals, float64), and the network must be
1-Lipschitz: its empirical Lipschitz constant, the largest input-gradient
norm over many samples, is at most the product of its layers' spectral
norms, and that product is at most 1. The second part is what a transform
that does not normalise fails.

Dense layers only: for a convolution, σ of the reshaped (out, in·kh·kw)
kernel does not bound the operator norm (at stride 1 only
‖conv‖ ≤ √(kh·kw)·σ), so a normalised conv net is not 1-Lipschitz in general.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ganlab.analysis import claims as C
from ganlab.analysis.families import Family
from ganlab.analysis.probe import LossProbe, implements

SIGMA = C.register(
    "sn-sigma", "Normalised weights have spectral norm 1",
    source="Miyato et al. 2018, eq. 8 and Algorithm 1",
    formula="σ_max(W / σ̂(W)) = 1",
    conditions="dense layers only: MLP 2-32-32-1 with weights scaled ×3, 100 training forwards",
)
LIPSCHITZ = C.register(
    "sn-lipschitz", "Lipschitz bound of a normalised network",
    source="Miyato et al. 2018, eq. 7",
    formula="max_x ‖∇_x f(x)‖ ≤ Π_l σ_max(W_l) ≤ 1 (LeakyReLU is 1-Lipschitz)",
    conditions="dense layers only (MLP 2-32-32-1, see sn-sigma); 4096 Gaussian inputs, eval mode",
)
FORWARDS = 100


def _network() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)  # so that σ_max is far from 1 before normalisation
    return net


def check(probe: LossProbe) -> list[C.Result]:
    if not probe.declarations(C.SpectralNormalization):
        return []
    regs = [r for r in probe.regularizers() if r.player == "D" and implements(r, "transform")]
    if not regs:
        return [C.result(SIGMA, probe.own_label, C.NA, "-", "a D transform", "-", note="no D transform found")]
    with torch.random.fork_rng():
        net = _network()
        raw = [torch.linalg.svdvals(m.weight.detach().double()) for m in net if isinstance(m, nn.Linear)]
        for reg in regs:
            net = reg.transform(net)
        net.train()
        x = torch.randn(64, 2)
        with torch.no_grad():
            for _ in range(FORWARDS):
                net(x)
        net.eval()
        layers = [m for m in net.modules() if isinstance(m, nn.Linear)]
        sigmas = [float(torch.linalg.svdvals(m.weight.detach().double())[0]) for m in layers]
        xs = torch.randn(4096, 2).requires_grad_(True)
        (grad,) = torch.autograd.grad(net(xs).sum(), xs)
        lip = float(grad.norm(dim=1).max())
    iterations = FORWARDS * _power_iterations(probe) + 15  # torch runs 15 at initialisation
    # Power iteration's estimate of σ_max converges like (σ₂/σ₁)^(2k); float32
    # weights add ~10 ulps of 1.2e-7 relative.
    ratio = max(float(s[1] / s[0]) if len(s) > 1 else 0.0 for s in raw)
    tol = 2 * ratio ** (2 * iterations) + 1e-5
    err = max(abs(s - 1) for s in sigmas)
    bound = float(np.prod(sigmas))
    # Each σ is within tol of 1, so Πσ ≤ (1 + tol)^L after a true normalisation;
    # the raw weights (×3) give Πσ far above that. The gradient norms are float32:
    # relative rounding ~1e-6, hence 1e-5 relative on max‖∇f‖ ≤ Πσ.
    prod_tol = (1 + tol) ** len(sigmas) - 1
    lip_ok = lip <= bound * (1 + 1e-5) and bound <= 1 + prod_tol
    rows = [C.result(SIGMA, probe.own_label, C.PASS if err <= tol else C.FAIL,
                     "σ_max " + ", ".join(f"{s:.6f}" for s in sigmas), "1 for each layer",
                     f"2(σ₂/σ₁)^2k + 1e-5 = {C.fmt(tol)}", data={"sigmas": sigmas, "raw_ratio": ratio}),
            C.result(LIPSCHITZ, probe.own_label, C.PASS if lip_ok else C.FAIL,
                     f"max‖∇f‖ {lip:.6f}, Πσ {bound:.6f}", "max‖∇f‖ ≤ Πσ ≤ 1",
                     f"1e-5 relative (float32); Πσ ≤ 1 + {C.fmt(prod_tol)}",
                     note="" if lip_ok else (f"Πσ = {bound:.6g} > 1: the network is not 1-Lipschitz"
                                             if lip <= bound * (1 + 1e-5) else
                                             f"max‖∇f‖ = {lip:.6g} exceeds Πσ = {bound:.6g}"),
                     data={"lipschitz": lip, "bound": bound})]
    return rows


def _power_iterations(probe: LossProbe) -> int:
    for name in probe.sel.active:
        opts = probe.options.get(name)
        if hasattr(opts, "n_power_iterations"):
            return int(opts.n_power_iterations)
    return 1


FAMILY = Family("spectral-norm", (SIGMA, LIPSCHITZ), check,
                lambda probe: bool(probe.declarations(C.SpectralNormalization)))
