"""What a run leaves for people to look at: sample grids, scatter plots, loss curves.

Every picture is written atomically, so a full disk never leaves an empty or
half-written PNG behind. matplotlib and torchvision are imported on first use:
commands that draw nothing start faster.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ganlab.checkpoint import write_atomic


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # runs have no display
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig, path: Path) -> None:
    plt = _pyplot()
    try:
        write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=100))
    finally:
        plt.close(fig)


def save_image_grid(samples: torch.Tensor, path: Path, nrow: int) -> None:
    """Save generator outputs in [-1, 1] as a PNG grid (undoing the scaling)."""
    from torchvision.utils import save_image

    images = samples.detach().float().cpu().add(1).div(2).clamp(0, 1)
    write_atomic(path, lambda fh: save_image(images, fh, nrow=nrow, padding=2, format="png"))


def save_scatter(real: torch.Tensor, fake: torch.Tensor, path: Path, title: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(*real.cpu().T, s=2, alpha=0.3, label="real", color="tab:blue")
    ax.scatter(*fake.detach().cpu().T, s=2, alpha=0.3, label="generated", color="tab:orange")
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper right", markerscale=5)
    fig.tight_layout()
    _save_figure(fig, path)


def read_metrics(path: Path) -> list[dict]:
    """The rows of a JSONL log; a line torn by a crash is skipped."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def plot_losses(metrics_path: Path, out: Path) -> bool:
    """Loss curves and mean scores from metrics.jsonl; False when there is nothing to plot."""
    rows = read_metrics(metrics_path)
    if not rows:
        return False
    plt = _pyplot()
    nan = float("nan")
    steps = [r["step"] for r in rows]
    loss_keys = list(dict.fromkeys(k for r in rows for k in r if k.endswith("loss") or k.startswith("penalty/")))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for key in loss_keys:
        ax1.plot(steps, [nan if r.get(key) is None else r[key] for r in rows], label=key, linewidth=1)
    ax1.set_xlabel("step")
    ax1.set_title("losses")
    ax1.legend()
    for key, label in (("real_score", "D(x)"), ("fake_score", "D(G(z))")):
        ax2.plot(steps, [nan if r.get(key) is None else r[key] for r in rows], label=label, linewidth=1)
    ax2.set_xlabel("step")
    ax2.set_title("mean raw scores")
    ax2.legend()
    fig.tight_layout()
    _save_figure(fig, out)
    return True
