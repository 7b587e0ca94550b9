"""Mode coverage of a 2-D generator: the PacGAN protocol (Lin et al. 2018).

For the ``ring`` (8 modes, std 0.01) and ``grid`` (25 modes, std 0.05)
mixtures of :mod:`ganlab.toy2d`, 2,500 generated points are scored as in the
official PacGAN code (``MetricLogger`` in ``synthetic_data_experiments``):

* each point belongs to its nearest mode (Euclidean distance);
* it is *high quality* if that distance is at most 3 std;
* a mode is *captured* if at least one high-quality point belongs to it;
* ``kl_to_uniform`` is the reverse KL, ``KL(p_hq || uniform)``, where
  ``p_hq`` is the share of high-quality points per mode. Empty modes add
  ``0 * log 0 = 0``, so it is finite for a collapsed generator: it lies in
  ``[0, log n_modes]``, 0 for an even spread and ``log n_modes`` when every
  high-quality point sits on one mode. It equals ``log n_modes - H(p_hq)``;
  the official code logs that entropy ("entropy of coverage"). It is
  undefined (``nan``) when no point is high quality.

PacGAN divides by the per-mode variance (a Mahalanobis distance under ``< 3``);
with isotropic, equal modes that is the Euclidean rule above. We count a point
exactly at 3 std as high quality; the boundary has probability zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ganlab.errors import GanlabError
from ganlab.options import Options, build_options
from ganlab.plugins.data import DataOptions
from ganlab.toy2d import grid_centers, ring_centers

EVAL_SAMPLES = 2500
QUALITY_STDS = 3.0
DATASETS = ("ring", "grid")


class EvaluationError(GanlabError):
    """Bad input to the mode-coverage evaluation."""


@dataclass(frozen=True)
class ModeReport:
    modes_captured: int
    n_modes: int
    high_quality_fraction: float
    kl_to_uniform: float
    # High-quality points per mode, in the order of the centres.
    mode_counts: tuple[int, ...] = ()

    def summary(self) -> str:
        return (f"{self.modes_captured}/{self.n_modes} modes, "
                f"{100 * self.high_quality_fraction:.1f}% high quality, KL {self.kl_to_uniform:.3f}")


def _as_points(x: Any, name: str) -> torch.Tensor:
    try:
        t = torch.as_tensor(x).detach().to("cpu", torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise EvaluationError(f"{name} must be a tensor or array of shape (n, 2): {exc}") from None
    if t.dim() != 2 or t.shape[1] != 2 or t.shape[0] == 0:
        raise EvaluationError(f"{name} must have shape (n, 2) with n >= 1, got {tuple(t.shape)}")
    return t


def _check_centers(centers: torch.Tensor, std: float) -> None:
    if not torch.isfinite(centers).all():
        raise EvaluationError("centers must be finite")
    if len(centers) > 1:
        gaps = torch.cdist(centers, centers, compute_mode="donot_use_mm_for_euclid_dist")
        gaps.fill_diagonal_(math.inf)
        if gaps.min() < std:
            # Two centres closer than one std cannot be told apart; usually it is
            # linspace(0, 2*pi, n) repeating its endpoint as an extra "mode".
            i, j = divmod(int(gaps.argmin()), len(centers))
            raise EvaluationError(
                f"centers {i} and {j} are {float(gaps.min()):.3g} apart, less than one std ({std}); "
                "duplicate modes (e.g. angles from linspace(0, 2*pi, n), which repeats its endpoint) "
                "make the mode count meaningless"
            )


def evaluate_points(points: Any, centers: Any, std: float) -> ModeReport:
    """Score generated ``points`` (n, 2) against mixture ``centers`` (k, 2) of equal ``std``."""
    try:
        std = float(std)
    except (TypeError, ValueError):
        raise EvaluationError(f"std must be a positive number, got {std!r}") from None
    if not (math.isfinite(std) and std > 0):
        raise EvaluationError(f"std must be a positive number, got {std!r}")
    pts = _as_points(points, "points")
    ctr = _as_points(centers, "centers")
    _check_centers(ctr, std)
    # Direct differences, not cdist's matrix-product shortcut, so a point
    # 3 std away is judged without cancellation error.
    dist = (pts[:, None, :] - ctr[None, :, :]).norm(dim=-1)
    # A non-finite point (a diverged generator) is never high quality.
    dist = torch.nan_to_num(dist, nan=math.inf)
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= QUALITY_STDS * std
    counts = torch.bincount(nearest[good], minlength=len(ctr))
    n_good = int(good.sum())
    if n_good:
        p = counts[counts > 0].double() / n_good
        kl = float((p * (p * len(ctr)).log()).sum().clamp_min(0.0))
    else:
        kl = math.nan
    return ModeReport(
        modes_captured=int((counts > 0).sum()),
        n_modes=len(ctr),
        high_quality_fraction=n_good / len(pts),
        kl_to_uniform=kl,
        mode_counts=tuple(int(c) for c in counts),
    )


def _resolve_data_options(data_options: Any) -> DataOptions:
    if data_options is None:
        return DataOptions()
    if isinstance(data_options, DataOptions):
        return data_options
    if isinstance(data_options, Options):  # a run's resolved options (trainer.options)
        return data_options[DataOptions]
    if isinstance(data_options, Mapping):  # field values, as given with -o data.FIELD=VALUE
        return build_options(DataOptions, data_options, "data")
    raise EvaluationError(
        f"data_options must be None, a DataOptions, a run's Options or a mapping such as "
        f"{{'ring_std': 0.01}}; got {type(data_options).__name__}"
    )


def mixture(dataset_name: str, data_options: Any = None) -> tuple[torch.Tensor, float]:
    """The centres and std that ``--data dataset_name`` trains on, with these options."""
    opts = _resolve_data_options(data_options)
    if dataset_name == "ring":
        return ring_centers(opts.ring_modes, opts.ring_radius), opts.ring_std
    if dataset_name == "grid":
        return grid_centers(opts.grid_side, opts.grid_spacing), opts.grid_std
    raise EvaluationError(f"mode coverage is defined for {' and '.join(DATASETS)}, not {dataset_name!r}")


def evaluate_generator(
    generator: nn.Module,
    dataset_name: str,
    latent_dim: int,
    n: int = EVAL_SAMPLES,
    seed: int = 0,
    device: str | torch.device = "cpu",
    data_options: Any = None,
) -> ModeReport:
    """Draw ``n`` points from ``generator`` (z ~ N(0, I), seeded) and score them.

    G runs in eval mode, as when a trained model is used (batch norm from its
    running statistics), and gets back its previous mode afterwards.
    """
    if not isinstance(n, int) or n < 1:
        raise EvaluationError(f"n must be a positive integer, got {n!r}")
    if not isinstance(latent_dim, int) or latent_dim < 1:
        raise EvaluationError(f"latent_dim must be a positive integer, got {latent_dim!r}")
    centers, std = mixture(dataset_name, data_options)
    # Drawn on the CPU so that a seed gives the same z on every device.
    z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    was_training = generator.training
    generator.eval()
    try:
        with torch.no_grad():
            out = generator(z)
    finally:
        generator.train(was_training)
    if out.shape[0] != n or out[0].numel() != 2:
        raise EvaluationError(f"the generator returned shape {tuple(out.shape)}; expected ({n}, 2) points")
    return evaluate_points(out.reshape(n, 2), centers, std)
