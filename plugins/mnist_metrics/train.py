"""Retrain the MNIST feature network: ``python -m ganlab.plugins.mnist_metrics.train [OUT.pt]``.

Seeded and single-threaded, so a run is deterministic on one machine (float
sums may differ across CPUs and torch builds, so the file's hash is pinned
for the shipped weights only). Trains on the first 8,000 images of the
embedded MNIST split, with random shifts of up to 2 pixels, and reports the
accuracy on the last 2,000, which it never sees. About 1-2 minutes on 2 cores.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ganlab.plugins.mnist_metrics.classifier import HELD_OUT, N_TRAIN, WEIGHTS_PATH, MNISTClassifier, accuracy, sha256

EPOCHS = 12
BATCH = 64
SEED = 0


def embedded_mnist() -> tuple[torch.Tensor, torch.Tensor]:
    """The embedded split as uint8 images ``(10000, 1, 28, 28)`` and int64 labels, loaded through the host."""
    from ganlab import load_dataset

    loaded = load_dataset("mnist-embedded", autoload=False)
    return loaded.data, loaded.labels


def _shift(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Each image moved by up to ``max_shift`` pixels in x and y (zero = background padding)."""
    n = len(x)
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(28)[None])  # (n, 28)
    cols = (dx[:, None] + torch.arange(28)[None])
    idx = torch.arange(n)[:, None, None]
    return padded[:, 0][idx, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def train(epochs: int = EPOCHS, seed: int = SEED, log=print) -> tuple[MNISTClassifier, float]:
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    images, labels = embedded_mnist()
    x = images[:N_TRAIN].float().div(127.5).sub(1)
    y = labels[:N_TRAIN]
    model = MNISTClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = epochs * (N_TRAIN // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(N_TRAIN, generator=gen)
        for i in range(N_TRAIN // BATCH):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss = F.cross_entropy(model(_shift(x[idx], gen)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        acc = accuracy(model, images[HELD_OUT], labels[HELD_OUT])
        log(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}, held-out accuracy {acc:.4f} "
            f"({time.perf_counter() - t0:.0f} s)")
    return model.eval(), acc


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else WEIGHTS_PATH
    model, acc = train()
    torch.save(model.state_dict(), out)
    print(f"wrote {out} ({out.stat().st_size:,} bytes, SHA-256 {sha256(out)}); held-out accuracy {acc:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
