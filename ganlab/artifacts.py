"""What a run leaves for people to look at: sample grids, scatter plots, loss curves."""

from __future__ import annotations

import json
from pathlib import Path

import torch

import matplotlib

matplotlib.use("Agg")  # runs have no display
import matplotlib.pyplot as plt  # noqa: E402


def save_image_grid(samples: torch.Tensor, path: Path, nrow: int) -> None:
    """Save generator outputs in [-1, 1] as a PNG grid (undoing the scaling)."""
    from torchvision.utils import save_image

    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(samples.detach().float().cpu().add(1).div(2).clamp(0, 1), path, nrow=nrow, padding=2)


def save_scatter(real: torch.Tensor, fake: torch.Tensor, path: Path, title: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(*real.cpu().T, s=2, alpha=0.3, label="real", color="tab:blue")
    ax.scatter(*fake.detach().cpu().T, s=2, alpha=0.3, label="generated", color="tab:orange")
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper right", markerscale=5)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def read_metrics(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_losses(metrics_path: Path, out: Path) -> bool:
    """Loss curves and mean scores from metrics.jsonl; False when there is nothing to plot."""
    rows = read_metrics(metrics_path)
    if not rows:
        return False
    steps = [r["step"] for r in rows]
    loss_keys = [k for k in rows[0] if k.endswith("loss") or k.startswith("penalty/")]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for key in loss_keys:
        ax1.plot(steps, [r.get(key, float("nan")) for r in rows], label=key, linewidth=1)
    ax1.set_xlabel("step")
    ax1.set_title("losses")
    ax1.legend()
    for key, label in (("real_score", "D(x)"), ("fake_score", "D(G(z))")):
        ax2.plot(steps, [r[key] for r in rows], label=label, linewidth=1)
    ax2.set_xlabel("step")
    ax2.set_title("mean raw scores")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return True
