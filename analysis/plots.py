"""Figures for ``ganlab verify --plot DIR``, drawn from the results' own data.

* ``optimal_d.png``: numerical t*(r) of every loss (markers) against the
  declared closed forms (lines);
* ``saturation.png``: seed 000's figure, the BCE loss -log σ(l) against the
  logit (flat beyond about 2), evaluated through the gan plugin's g_loss,
  beside ∂ g_loss/∂l of every loss;
* ``dirac.png``: Dirac-GAN trajectories (simultaneous and alternating GD)
  and the Jacobian eigenvalues in the complex plane.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ganlab.analysis import claims as C  # noqa: E402
from ganlab.analysis.suite import Report  # noqa: E402


def write_all(report: Report, out: str | Path) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fn in (optimal_d, saturation, dirac):
        path = fn(report, out)
        if path is not None:
            written.append(path)
    return written


def _rows(report: Report, claim: str, key: str) -> list[C.Result]:
    return [r for r in report.results if r.claim == claim and key in r.data]


def optimal_d(report: Report, out: Path) -> Path | None:
    rows = [r for r in _rows(report, "optimal-d", "t_numeric") if "unbounded" not in r.data.get("kinds", [])]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, r in enumerate(rows):
        color = f"C{i % 10}"
        ratios = np.asarray(r.data["ratios"])
        if "t_expected" in r.data:
            ax.plot(ratios, r.data["t_expected"], color=color, lw=1, label=f"{r.plugin}: {r.expected}")
        ax.plot(ratios, r.data["t_numeric"], "o", ms=3, color=color,
                label=None if "t_expected" in r.data else f"{r.plugin} (numerical)")
    ax.set_xscale("log")
    ax.set_xlabel("density ratio r = p_d / p_g")
    ax.set_ylabel("optimal raw score t*")
    ax.set_title("Optimal discriminator: numerical minimiser (dots) vs closed form (lines)")
    ax.axhline(0, color="0.8", lw=0.5)
    ax.legend(fontsize=6, loc="upper left")
    return _save(fig, out / "optimal_d.png")


def saturation(report: Report, out: Path) -> Path | None:
    rows = _rows(report, "saturation", "grad")
    if not rows:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    bce = next((r for r in rows if r.plugin == "gan"), None)
    if bce is not None:  # -log σ(l) is the gan plugin's non-saturating g_loss
        left.plot(bce.data["logits"], bce.data["loss"], color="C0")
        left.axvline(2, color="0.7", ls=":", lw=1)
        left.set_title("sigmoid cross-entropy -log σ(l) (gan g_loss): flat beyond l ≈ 2")
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
    return _save(fig, out / "saturation.png")


def dirac(report: Report, out: Path) -> Path | None:
    sims = [r for r in report.results if r.claim == "dirac-sim"
            and any("path" in v for v in r.data.values() if isinstance(v, dict))]
    eigs = _rows(report, "dirac-eigen", "eigenvalues")
    if not sims and not eigs:
        return None
    n = len(sims)
    cols = min(4, max(n, 1))
    rows_ = int(np.ceil(n / cols)) + 1
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
            ax.plot(e.real, e.imag, "o", color=f"C{i % 10}", ms=4, label=r.plugin)
    ax.axvline(0, color="0.7", lw=0.5)
    ax.axhline(0, color="0.7", lw=0.5)
    ax.set_xlabel("Re λ (negative: locally convergent)")
    ax.set_ylabel("Im λ")
    ax.set_title("Dirac-GAN Jacobian eigenvalues at (0, 0)")
    ax.legend(fontsize=6, ncol=3)
    return _save(fig, out / "dirac.png")


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
