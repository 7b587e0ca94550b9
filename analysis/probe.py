"""Calling a plugin's loss hooks the way the theory needs them.

Every number the suite measures about a loss comes through a
:class:`LossProbe`, which calls the selected plugin's ``ganlab_d_loss`` and
``ganlab_g_loss`` hook implementations (through a manager selection), never
a second copy of the formula. All tensors are float64 so that float error
stays near 1e-15 and tolerances can be set by the mathematics instead.

A *separable* d_loss is E φ_r(real) + E φ_f(fake). Batch-size-1 calls give
L(t, s) = φ_r(t) + φ_f(s); φ_r and φ_f are only defined up to opposite
constants, which cancel in every quantity used here (∫p_d = ∫p_g = 1), so
we fix φ_r(t) = L(t, 0) - L(0, 0)/2 and φ_f(s) = L(0, s) - L(0, 0)/2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import torch

DTYPE = torch.float64
# Where no minimiser is found within ±T_MAX the optimum is at infinity. A
# logistic tail e^{-t} has fallen below float64 resolution long before 1024,
# so a value still falling there means the objective is unbounded below.
T_MAX = 1024.0
# Separability is checked on float64 values of size O(1-10) computed with a
# handful of operations, each rounding by at most 2^-53 relative: 1e-12
# leaves a 1e3 margin, while a non-separable loss misses by O(0.1).
SEPARABLE_TOL = 1e-12


def tensor(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=float), dtype=DTYPE)


@dataclass
class Pointwise:
    """The minimiser t of p_d φ_r(t) + p_g φ_f(t) at each point and the minimum."""

    t: np.ndarray
    value: np.ndarray
    interior: np.ndarray   # a sign change of the derivative was bracketed
    unbounded: np.ndarray  # still falling at ±T_MAX: no pointwise optimum


class LossProbe:
    """The loss hooks of one selection (e.g. ``["lsgan"]`` with options)."""

    def __init__(self, pm, names: Iterable[str], values: dict[str, dict[str, Any]] | None = None,
                 label: str | None = None):
        self.pm = pm
        self.names = list(names)
        self.values = {k: dict(v) for k, v in (values or {}).items()}
        self.sel = pm.select(self.names)
        self.options = self.sel.build_options({k: dict(v) for k, v in self.values.items()})
        # A selection without a loss plugin (e.g. ["r1"]) trains with the default
        # loss provider; name it, since its loss is what gets checked.
        lossless = [n for n in self.sel.implementers("ganlab_d_loss") if n not in self.names]
        self.label = label or describe(lossless + self.names, self.values)
        self.own_label = describe(self.names, self.values)  # for claims about the plugin itself
        self._sep: str | None | bool = False  # False: not yet checked

    # -- raw hook calls -------------------------------------------------------

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return self.sel.hook.ganlab_d_loss(real_scores=real, fake_scores=fake, options=self.options)

    def g_loss(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        if real is None:
            real = torch.zeros_like(fake)
        return self.sel.hook.ganlab_g_loss(fake_scores=fake, real_scores=real, options=self.options)

    def L(self, t: float, s: float) -> float:
        return float(self.d_loss(tensor([t]), tensor([s])))

    def declarations(self, kind: type | tuple[type, ...] | None = None, plugin: str | None = None) -> list[Any]:
        """The claim objects the active plugins (or only ``plugin``) return from ``ganlab_claims``."""
        out = _flatten(self._hook("ganlab_claims", plugin)(options=self.options))
        return [c for c in out if kind is None or isinstance(c, kind)]

    def declarers(self, kind: type) -> list[str]:
        """The active plugins whose own ``ganlab_claims`` returns a ``kind``."""
        return [n for n in self.sel.implementers("ganlab_claims") if self.declarations(kind, plugin=n)]

    def regularizers(self, plugin: str | None = None) -> list[Any]:
        """The regularizers of the active plugins, or only of ``plugin``."""
        from ganlab.datasets import DataSpec

        spec = DataSpec("verify", (1,), None, "points")
        return _flatten(self._hook("ganlab_regularizer", plugin)(data=spec, conditioner=None, options=self.options))

    def _hook(self, hook_name: str, plugin: str | None):
        """The selection's caller for a hook, or one that calls only ``plugin``'s implementation."""
        if plugin is None:
            return getattr(self.sel.hook, hook_name)
        if plugin not in self.sel.implementers(hook_name):
            raise ValueError(f"{plugin!r} is not an active implementer of {hook_name}")
        others = set(self.pm.get_plugins()) - {self.pm.get_plugin(plugin)}
        return self.pm.subset_hook_caller(hook_name, others)

    # -- structure ------------------------------------------------------------

    def not_separable(self) -> str | None:
        """``None`` when d_loss is E φ_r(real) + E φ_f(fake) (checked numerically), else why not."""
        if self._sep is False:
            self._sep = self._check_separable()
        return self._sep  # type: ignore[return-value]

    def _check_separable(self) -> str | None:
        rng = np.random.default_rng(12345)
        t, s = rng.uniform(-3, 3, 4), rng.uniform(-3, 3, 4)
        for i in range(3):
            a = self.L(t[i], s[i]) + self.L(t[i + 1], s[i + 1])
            b = self.L(t[i], s[i + 1]) + self.L(t[i + 1], s[i])
            if not abs(a - b) <= SEPARABLE_TOL * (1 + abs(a) + abs(b)):
                return (f"d_loss is not a sum of a real-score and a fake-score term: "
                        f"L(t1,s1)+L(t2,s2)-L(t1,s2)-L(t2,s1) = {a - b:.3g}")
        # Batch means: L(T, S) = mean_i L(T_i, s0) + mean_j L(t0, S_j) - L(t0, s0).
        whole = float(self.d_loss(tensor(t[:3]), tensor(s[:2])))
        parts = (np.mean([self.L(x, s[3]) for x in t[:3]]) + np.mean([self.L(t[3], y) for y in s[:2]])
                 - self.L(t[3], s[3]))
        if not abs(whole - parts) <= SEPARABLE_TOL * (1 + abs(whole) + abs(parts)):
            return f"d_loss is not a batch mean of per-sample terms (differs by {whole - parts:.3g})"
        return None

    def g_not_pointwise(self) -> str | None:
        """``None`` when g_loss is E φ_g(fake) alone (no real scores, batch mean)."""
        rng = np.random.default_rng(54321)
        f = tensor(rng.uniform(-3, 3, 3))
        a = float(self.g_loss(f, tensor(rng.uniform(-3, 3, 3))))
        b = float(self.g_loss(f, tensor(rng.uniform(-3, 3, 3))))
        if not abs(a - b) <= SEPARABLE_TOL * (1 + abs(a)):
            return "g_loss depends on the real scores (relativistic), so it has no per-score profile"
        each = np.mean([float(self.g_loss(f[i:i + 1])) for i in range(3)])
        if not abs(a - each) <= SEPARABLE_TOL * (1 + abs(a)):
            return f"g_loss is not a batch mean of per-sample terms (differs by {a - each:.3g})"
        return None

    # -- per-score functions (valid once separability holds) -------------------

    def phi(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """φ_r(t) and φ_f(t), element by element: L(t, 0) and L(0, t) less L(0, 0)/2."""
        z = tensor([0.0])
        half = float(self.d_loss(z, z)) / 2
        T = tensor(t).reshape(-1)
        n = T.numel()
        pairs = torch.stack([torch.cat([T, torch.zeros(n, dtype=DTYPE)]),
                             torch.cat([torch.zeros(n, dtype=DTYPE), T])], dim=1)
        both = _per_element(lambda ts: self.d_loss(ts[:, 0], ts[:, 1]), pairs) - half
        shape = np.shape(t)
        return both[:n].reshape(shape), both[n:].reshape(shape)

    def dphi(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """φ_r'(t) and φ_f'(t) by autograd through one batched d_loss call.

        With batch means, ∂L(T, S)/∂T_i = φ_r'(T_i)/N and ∂L/∂S_i = φ_f'(S_i)/N.
        """
        T = tensor(t).reshape(-1)
        n = T.numel()
        x, y = T.clone().requires_grad_(True), T.clone().requires_grad_(True)
        gr, gf = torch.autograd.grad(self.d_loss(x, y), (x, y))
        shape = np.shape(t)
        return (gr.numpy() * n).reshape(shape), (gf.numpy() * n).reshape(shape)

    def phi_g(self, t: np.ndarray) -> np.ndarray:
        T = tensor(t).reshape(-1)
        return _per_element(lambda x: self.g_loss(x.reshape(1)), T).reshape(np.shape(t))

    def dphi_g(self, t: np.ndarray) -> np.ndarray:
        """∂ g_loss / ∂ l per element, by autograd through the plugin's g_loss."""
        T = tensor(t).reshape(-1).clone().requires_grad_(True)
        (g,) = torch.autograd.grad(self.g_loss(T), T)
        return (g.numpy() * T.numel()).reshape(np.shape(t))

    # -- the pointwise optimal discriminator -----------------------------------

    def objective(self, pd, pg, t) -> np.ndarray:
        r, f = self.phi(t)
        return np.asarray(pd) * r + np.asarray(pg) * f

    def pointwise_min(self, pd, pg) -> Pointwise:
        """Minimise p_d φ_r(t) + p_g φ_f(t) over t at every point at once.

        Bisection on the sign of the autograd derivative G(t), vectorised over
        points. It also finds kinks (hinge: G jumps across 0 at ±1). 64 halvings
        of a bracket of width ≤ 2·T_MAX leave 2048·2^-64 ≈ 1e-16: float64 spacing.
        """
        pd = np.asarray(pd, dtype=float).reshape(-1)
        pg = np.asarray(pg, dtype=float).reshape(-1)

        def G(t):
            r, f = self.dphi(t)
            return pd * r + pg * f

        def G2(a, b):  # both ends of every bracket in one call
            r, f = self.dphi(np.concatenate([a, b]))
            g = np.concatenate([pd, pd]) * r + np.concatenate([pg, pg]) * f
            return g[:len(a)], g[len(a):]

        lo, hi = -np.ones_like(pd), np.ones_like(pd)
        while True:
            g_lo, g_hi = G2(lo, hi)
            grow_lo, grow_hi = (g_lo > 0) & (lo > -T_MAX), (g_hi < 0) & (hi < T_MAX)
            if not (grow_lo.any() or grow_hi.any()):
                break
            lo, hi = np.where(grow_lo, 2 * lo, lo), np.where(grow_hi, 2 * hi, hi)
        interior = (g_lo <= 0) & (g_hi >= 0)
        for _ in range(64):
            if np.all(hi - lo <= 4 * np.finfo(float).eps * (1 + np.abs(lo))):
                break
            mid = 0.5 * (lo + hi)
            up = G(mid) > 0
            hi, lo = np.where(up, mid, hi), np.where(up, lo, mid)
        t = np.where(interior, 0.5 * (lo + hi), np.where(g_lo > 0, -T_MAX, T_MAX))
        value = self.objective(pd, pg, t)
        unbounded = np.zeros_like(interior)
        if not interior.all():
            half = self.objective(pd, pg, t / 2)
            unbounded = ~interior & (value < half - 1e-9 * (1 + np.abs(half)))
        return Pointwise(t, value, interior, unbounded)


def implements(reg: Any, method: str) -> bool:
    """Whether a regularizer overrides ``method`` (penalty, transform, after_step) of the no-op base."""
    from ganlab.regularizers import Regularizer

    return getattr(type(reg), method, None) is not getattr(Regularizer, method)


def _flatten(answers) -> list[Any]:
    """A multi-answer hook's results, each a single object, a list of them or None."""
    out: list[Any] = []
    for item in answers:
        out.extend(item if isinstance(item, (list, tuple)) else [item])
    return [x for x in out if x is not None]


def _per_element(fn, T: torch.Tensor) -> np.ndarray:
    """fn(T[i:i+1]) for every row of T: vmapped when the plugin's code allows, else a loop."""
    with torch.no_grad():
        try:
            out = torch.func.vmap(lambda row: fn(row.unsqueeze(0)))(T).reshape(-1)
            # vmap must agree with plain calls (a plugin could branch on values).
            k = min(3, len(T))
            if all(abs(float(out[i]) - float(fn(T[i:i + 1]))) <= 1e-12 * (1 + abs(float(out[i])))
                   for i in range(k)):
                return out.numpy().copy()
        except Exception:  # an op without a batching rule: fall back to a loop
            pass
        return np.array([float(fn(T[i:i + 1])) for i in range(len(T))])


def describe(names: list[str], values: dict[str, dict[str, Any]]) -> str:
    label = "+".join(names)
    opts = [f"{k}={v}" for p in values.values() for k, v in p.items()]
    return f"{label}[{','.join(opts)}]" if opts else label


__all__ = ["LossProbe", "Pointwise", "implements", "tensor", "T_MAX"]
