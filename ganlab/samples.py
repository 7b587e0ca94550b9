"""Pictures of G's samples from fixed noise, at every sample step: an image grid or a 2-D scatter.

The noise (and, in a conditional run, one class per grid row) is drawn once
from the run's seed, so the pictures of one run show the same z throughout.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganlab.artifacts import save_image_grid, save_scatter
from ganlab.runfolder import RunFolder

SAMPLES_UNCONDITIONAL = 64
SAMPLES_PER_CLASS = 10
SCATTER_POINTS = 2500


def generate(G: torch.nn.Module, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    return G(z) if labels is None else G(z, labels)


def fixed_inputs(kind: str, conditioner, latent_dim: int, seed: int, device: torch.device):
    """``(z, labels)``: 2,500 points for a scatter, else a grid (one row a class when conditional)."""
    gen = torch.Generator().manual_seed(seed)
    if kind == "points":
        n = SCATTER_POINTS
        labels = torch.arange(n) % conditioner.num_classes if conditioner is not None else None
    elif conditioner is not None:
        labels = conditioner.grid_labels(SAMPLES_PER_CLASS)
        n = len(labels)
    else:
        n, labels = SAMPLES_UNCONDITIONAL, None
    z = torch.randn(n, latent_dim, generator=gen)
    return z.to(device), (labels.to(device) if labels is not None else None)


class SamplePictures:
    """Draws the fixed-noise samples and writes ``samples/step_XXXXXX.png``."""

    def __init__(self, setup, folder: RunFolder, sampler: torch.nn.Module):
        self.folder, self.sampler = folder, sampler
        self.data, self.loaded = setup.data, setup.loaded
        self.z, self.labels = fixed_inputs(setup.data.kind, setup.conditioner, setup.train.latent_dim,
                                           setup.train.seed + 2, setup.device)

    @torch.no_grad()
    def draw(self) -> torch.Tensor:
        """G's samples of the fixed noise, in eval mode (batch norm from running statistics)."""
        was_training = self.sampler.training
        self.sampler.eval()
        try:
            return generate(self.sampler, self.z, self.labels)
        finally:
            self.sampler.train(was_training)

    def save(self, step: int, fake: torch.Tensor, summary: str = "") -> Path:
        path = self.folder.sample(step)
        if self.data.kind == "points":
            title = f"{self.data.name}, step {step}" + (f"\n{summary}" if summary else "")
            save_scatter(self.loaded.data[:SCATTER_POINTS], fake, path, title)
        else:
            save_image_grid(fake, path, nrow=SAMPLES_PER_CLASS if self.labels is not None else 8)
        return path
