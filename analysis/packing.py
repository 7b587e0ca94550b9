"""Packed discriminators (PacGAN): D sees the m-fold product distributions.

A plugin declaring :class:`~ganlab.analysis.claims.Packing` has one D
transform that makes D score packs of m samples and gives each sample its
pack's score. Its transform is applied to a table-valued critic on 1-D
samples: an input ``Linear(1, 1)`` (which the transform must widen to take m
samples) followed by a table T indexed by the code its output gives.

* ``packing-structure``: with the widened layer's weights set to powers of
  the batch size B and sample i equal to i, every score is
  Σ_k x_{member k} B^k, which spells out the pack the sample was scored in.
  Each sample's pack must hold it and m - 1 other samples (distinct: copies
  of one sample would make no product distribution), and every member of a
  pack must report the same pack.
* ``packing-optimal-d``: samples are three atoms with p_d = (1/2, 1/4, 1/4)
  and p_g = (1/4, 1/4, 1/2). The real batch holds every sequence s of m atoms
  4^m·p_d^m(s) times (the fake batch likewise with p_g), laid out in the
  packs the structure check found, so that the plugin-wrapped D's batch loss
  is exactly E_{s~p_d^m} φ_r(T_s) + E_{s~p_g^m} φ_f(T_s). Its minimiser over
  the table, found by bisection on the autograd derivative through the
  transform and the loss, must equal the loss's declared t*(p_d, p_g) at the
  product densities (p_d^m(s), p_g^m(s)): for the standard loss
  σ(T*_s) = p_d^m(s) / (p_d^m(s) + p_g^m(s)). A loss that declares no closed
  form is compared with its own pointwise optimum at those densities
  (:func:`ganlab.analysis.solver.pointwise_min`, which never sees a pack).
"""

from __future__ import annotations

import itertools
from math import prod

import numpy as np
import torch
from torch import nn

from ganlab.analysis import claims as C
from ganlab.analysis import solver
from ganlab.analysis.calls import DTYPE
from ganlab.analysis.families import Family
from ganlab.analysis.probe import LossProbe, grad, implements
from ganlab.analysis.solver import T_MAX

STRUCTURE = C.register(
    "packing-structure", "A packed D scores packs of m distinct samples",
    source="Lin et al. 2018 (PacGAN), section 3",
    formula="score_i = D_m(x_j1, ..., x_jm) with i among the m distinct members, the same for every member",
    conditions="1-D samples i = 0..N-1, N = m·4^m; the widened input layer set to powers of N",
)
OPTIMAL = C.register(
    "packing-optimal-d", "Optimal packed discriminator on the product densities",
    source="Lin et al. 2018 (PacGAN), section 3; Goodfellow et al. 2014, Prop. 1",
    formula="T*(s) = t*(p_d^m(s), p_g^m(s)) for every pack s (standard loss: σ(T*) = p_d^m/(p_d^m + p_g^m))",
    conditions="separable d_loss with a pointwise optimum; atoms 0, 1, 2 with p_d = (1/2, 1/4, 1/4), "
               "p_g = (1/4, 1/4, 1/2); every pack weighted exactly",
)

ATOMS = 3
# Probabilities in quarters: the batch holds every pack sequence exactly 4^m·p^m(s) times.
P_D = (2, 1, 1)
P_G = (1, 1, 2)


class _Table(nn.Module):
    """A critic on 1-D samples: an input Linear(1, 1), then T[code] (or, ``raw``, the code itself)."""

    def __init__(self, size: int):
        super().__init__()
        self.input = nn.Linear(1, 1)
        self.table = nn.Parameter(torch.zeros(size))
        self.raw = False

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        code = self.input(x.flatten(1)).reshape(-1)
        if self.raw:
            return code
        index = code.detach().round().long().clamp(0, len(self.table) - 1)
        return self.table[index]


def _transform(probe: LossProbe) -> tuple[C.Packing, object]:
    """(the declaration, the declaring plugin's single D transform) or (declaration, error text)."""
    owner = probe.declarers(C.Packing)[0]
    claim = probe.declarations(C.Packing, plugin=owner)[0]
    regs = [r for r in probe.regularizers(plugin=owner, shape=(1,)) if r.player == "D" and implements(r, "transform")]
    if len(regs) != 1:
        return claim, f"{owner} declares Packing but returns {len(regs)} D transforms"
    return claim, regs[0]


def _packed(reg, m: int) -> tuple[nn.Module, nn.Linear, _Table]:
    """The transform applied to a fresh float64 table critic: (packed D, its input Linear, the table)."""
    base = _Table(ATOMS ** m).double()
    packed = reg.transform(base)
    linears = [layer for layer in packed.modules() if isinstance(layer, nn.Linear)]
    tables = [layer for layer in packed.modules() if isinstance(layer, _Table)]
    if len(linears) != 1 or len(tables) != 1:
        raise AssertionError(f"the transform left {len(linears)} Linear layers and {len(tables)} copies of the "
                             "critic; a packing transform widens D's input layer and keeps D")
    return packed, linears[0], tables[0]


def _scores(packed: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = packed(x)
    if tuple(out.shape) not in ((len(x),), (len(x), 1)):
        raise AssertionError(f"the packed D returned scores of shape {tuple(out.shape)} for {len(x)} samples; "
                             "the trainer needs one score per sample")
    return out.reshape(-1)


@C.checks(STRUCTURE)
def _structure(probe: LossProbe, reg, m: int, total: int = sum(P_D)) -> tuple[C.Result, list[tuple[int, ...]] | None]:
    """The packs of a batch of m·total^m samples, read through the packed D."""
    n = m * total ** m
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        packed, layer, table = _packed(reg, m)
    fail = lambda measured, note: (C.result(STRUCTURE, probe.own_label, C.FAIL, measured,  # noqa: E731
                                            f"packs of m = {m}", "exact", note=note), None)
    if layer.in_features != m:
        return fail(f"input layer takes {layer.in_features}",
                    f"D's input layer takes {layer.in_features} features of 1-D samples; a D packing m = {m} "
                    f"samples needs {m}")
    table.raw = True
    with torch.no_grad():
        # Codes Σ_k x_k·n^k < n^m (≤ 1024^4 = 2^40 here) are exact float64 integers below 2^53.
        layer.weight.copy_(torch.tensor([[float(n) ** k for k in range(m)]], dtype=DTYPE))
        layer.bias.zero_()
        codes = _scores(packed, torch.arange(n, dtype=DTYPE).reshape(n, 1)).numpy()
    members = [tuple(int(c // n ** k) % n for k in range(m)) for c in np.rint(codes)]
    for i, pack in enumerate(members):
        problem = ("its pack does not hold it" if i not in pack else
                   "its pack repeats a sample" if len(set(pack)) < m else
                   next((f"member {j} reports pack {members[j]}" for j in pack if members[j] != pack), None))
        if problem:
            return fail(f"sample {i}: pack {pack}", f"sample {i} was scored in pack {pack}: {problem}")
    packs = list(dict.fromkeys(members))
    return C.result(STRUCTURE, probe.own_label, C.PASS, f"{len(packs)} packs of {m} distinct samples",
                    f"{n // m} packs of m = {m}", "exact (integer codes in float64)",
                    data={"m": m, "packs": len(packs)}), packs


def _batch(packs: list[tuple[int, ...]], weights: tuple[int, ...], m: int) -> torch.Tensor:
    """Samples laid out so that the packs hold every sequence s of m atoms Π_k weights[s_k] times."""
    x = torch.empty(len(packs) * m, 1, dtype=DTYPE)
    sequences = [s for s in itertools.product(range(ATOMS), repeat=m) for _ in range(prod(weights[a] for a in s))]
    assert len(sequences) == len(packs)  # Σ_s Π_k w[s_k] = (Σ w)^m
    for pack, s in zip(packs, sequences):
        for position, atom in zip(pack, s):
            x[position, 0] = float(atom)
    return x


def _index(m: int) -> np.ndarray:
    """The table index of each sequence s: Σ_k s_k·3^k (member k is the pack's k-th block)."""
    return np.array([sum(a * ATOMS ** k for k, a in enumerate(s)) for s in itertools.product(range(ATOMS), repeat=m)])


@C.checks(OPTIMAL)
def _optimal(probe: LossProbe, reg, m: int, packs: list[tuple[int, ...]], p_d: tuple[int, ...] = P_D,
             p_g: tuple[int, ...] = P_G) -> C.Result:
    """The packed D's optimal table against t*(p_d^m, p_g^m); ``p_d``, ``p_g`` are integer weights of one sum."""
    unmet = C.unmet_premise(OPTIMAL, probe, solver.not_separable(probe), "pointwise optimum")
    if unmet is not None:
        return unmet
    if not solver.has_pointwise_optimum(probe):
        return C.result(OPTIMAL, probe.label, C.NA, "unbounded below", "no pointwise optimum", "-",
                        note="the loss has no pointwise optimal D (a critic loss), packed or not")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        packed, layer, table = _packed(reg, m)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[float(ATOMS) ** k for k in range(m)]], dtype=DTYPE))
        layer.bias.zero_()
    total = sum(p_d)
    real, fake = _batch(packs, p_d, m), _batch(packs, p_g, m)
    slots = torch.cat([_slots(packed, real), _slots(packed, fake)])  # each sample's table slot
    order = _index(m)  # sequence (in itertools order) -> table slot
    pd = np.array([prod(p_d[a] for a in s) for s in itertools.product(range(ATOMS), repeat=m)]) / total ** m
    pg = np.array([prod(p_g[a] for a in s) for s in itertools.product(range(ATOMS), repeat=m)]) / total ** m

    def loss_and_grads(t: np.ndarray):
        """The batch d_loss with T = t (per sequence), ∂/∂T, and Σ|∂L/∂score| over each sequence's samples."""
        values = torch.zeros(ATOMS ** m, dtype=DTYPE)
        values[torch.as_tensor(order)] = torch.as_tensor(t, dtype=DTYPE)
        with torch.no_grad():
            table.table.copy_(values)
        real_scores, fake_scores = _scores(packed, real), _scores(packed, fake)
        loss = probe.d_loss(real_scores, fake_scores)
        g_table, g_real, g_fake = grad(loss, (table.table, real_scores, fake_scores))
        size = torch.zeros(ATOMS ** m, dtype=DTYPE)
        size.index_add_(0, slots, torch.cat([g_real, g_fake]).detach().abs().to(DTYPE))
        return float(loss.detach()), g_table.detach().numpy()[order], size.numpy()[order]

    G = lambda t: loss_and_grads(t)[1]  # noqa: E731
    # Bisection on the sign of ∂L/∂T_s, every sequence at once (each slot's derivative depends on its own
    # T_s only, since its samples score T_s alone); brackets double until they hold the sign change.
    lo, hi, g_lo, g_hi = solver.grow_brackets(lambda a, b: (G(a), G(b)), len(pd))
    interior = (g_lo <= 0) & (g_hi >= 0)
    lo, hi = solver.halve(G, lo, hi, 200)
    t_num = 0.5 * (lo + hi)

    declared = probe.declarations(C.OptimalDiscriminator)
    if declared:
        claim = declared[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            t_exp = np.asarray(claim.t_star(pd, pg), dtype=float)
        expected = f"t*(p_d^m, p_g^m) with the loss's t* = {claim.formula}"
    else:
        t_exp = solver.pointwise_min(probe, pd, pg).t
        expected = "the loss's own pointwise t* at (p_d^m, p_g^m)"
    if not interior.all():
        return C.result(OPTIMAL, probe.label, C.FAIL, "no interior minimiser", expected, "-",
                        note=f"the packed D's loss has no minimiser over T for {int((~interior).sum())} packs")

    v_num, _, size = loss_and_grads(t_num)
    count = torch.bincount(slots, minlength=ATOMS ** m).to(DTYPE).numpy()[order]
    v_exp = loss_and_grads(np.clip(t_exp, -T_MAX, T_MAX))[0] if np.all(np.isfinite(t_exp)) else np.inf
    # Tolerance on T*, as in optimal-d: the bisection bracket 4·eps·(1 + |t|), plus the rounding δG of the
    # computed derivative over its slope κ. ∂L/∂T_s sums the n_s per-score terms of slot s; each is off by a
    # few ulps of its O(1) intermediates (16·eps relative) and the sum adds n_s·eps of Σ|terms|:
    # δG_s ≤ (n_s + 16)·eps·Σ_{i∈s} |∂L/∂score_i|. κ is the smaller secant slope of G over ±d around T*.
    eps = probe.precision.eps
    d = 1e-6 * (1 + np.abs(t_num))
    kappa = np.minimum(G(t_num + d), -G(t_num - d)) / d
    delta_g = (count + 16) * eps * size
    # κ = 0 where the objective is flat around its minimum (hinge at p_d^m = p_g^m: any T in [-1, 1]): no
    # unique minimiser to compare with, so only the gap below decides there, as in optimal-d.
    unique = kappa > 0
    tol_t = np.where(unique, 4 * np.finfo(float).eps * (1 + np.abs(t_num)) + delta_g / np.where(unique, kappa, 1.0),
                     np.inf)
    dt = np.abs(t_num - t_exp)
    # And the closed form must attain the minimum: both sides are float64 means of O(1) terms.
    gap_tol = probe.precision.tol(1e-10)
    gap = v_exp - v_num
    ok = bool(np.all(np.isfinite(t_exp)) and np.all(dt <= tol_t) and gap <= gap_tol * (1 + abs(v_num)))
    worst = int(np.argmax(np.where(unique, dt / tol_t, 0.0)))
    sequence = list(itertools.product(range(ATOMS), repeat=m))[worst]
    note = "" if ok else (f"at pack {sequence}: expected {t_exp[worst]:.6g}, the packed D's loss is minimised at "
                          f"{t_num[worst]:.6g} (gap {gap:.3g})")
    return C.result(OPTIMAL, probe.label, C.PASS if ok else C.FAIL,
                    f"m = {m}: max|ΔT| {C.fmt(float(dt[unique].max()) if unique.any() else 0.0)}, "
                    f"gap {C.fmt(float(gap))}", expected,
                    f"|ΔT| ≤ {C.fmt(float(tol_t[unique].max()) if unique.any() else 0.0)}, "
                    f"gap ≤ {gap_tol:.2g}(1+|V|)",
                    note=note, data={"m": m, "pd": pd, "pg": pg, "t_numeric": t_num, "t_expected": t_exp,
                                     "tol_t": tol_t, "gap": gap})


def _slots(packed: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Each sample's table slot, read through the packed D with the table switched to its codes."""
    table = next(module for module in packed.modules() if isinstance(module, _Table))
    table.raw = True
    try:
        with torch.no_grad():
            return _scores(packed, x).round().long()
    finally:
        table.raw = False


def check(probe: LossProbe) -> list[C.Result]:
    claim, reg = _transform(probe)
    if isinstance(reg, str):
        return [C.result(STRUCTURE, probe.own_label, C.FAIL, "no single D transform", f"packs of m = {claim.m}",
                         "-", note=reg)]
    m = int(claim.m)
    row, packs = _structure(probe, reg, m)
    if packs is None:
        return [row, C.result(OPTIMAL, probe.label, C.NA, "-", "-", "-", note="the packs could not be read")]
    return [row, _optimal(probe, reg, m, packs)]


FAMILY = Family("packing", (STRUCTURE, OPTIMAL), check, lambda probe: bool(probe.declarations(C.Packing)))
