"""Sample-quality metrics: the types of the ``ganlab_metrics`` hook and the math plugins share.

A plugin offers named metrics for a kind of data through ``ganlab_metrics``;
each :class:`Metric` takes a :class:`MetricBatch` (real and generated samples,
and in a conditional run the labels G was asked for) and returns named
numbers. The results of every active plugin add up, so a third-party metric
is computed, printed and logged like a built-in one.

Also here, for any plugin with a feature space: Fréchet distance and KID
(through torchmetrics), precision/recall/density/coverage, and class
histogram statistics; and what ``ganlab eval`` and ``--eval-every`` share:
seeded generation, the real reference set and computing every metric.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import torch
from torch import nn

from ganlab.errors import GanlabError, PluginError
from ganlab.hooktypes import Metric, MetricBatch

if TYPE_CHECKING:  # pragma: no cover
    from ganlab.datasets import DataSpec, LoadedData
    from ganlab.manager import Selection
    from ganlab.options import Options

# Columns of an eval.jsonl row that ganlab writes itself.
RESERVED_KEYS = ("step", "source", "n", "n_real", "seed", "seconds", "weights")


class MetricError(GanlabError):
    """A metric that cannot be computed here (missing weights, too few samples), with a fix."""


# --- collecting and computing ------------------------------------------------------


def collect_metrics(selection: Selection, data: DataSpec, options: Options) -> dict[str, tuple[str, Metric]]:
    """Every active plugin's metrics for ``data``: ``{metric name: (plugin, metric)}``."""
    out: dict[str, tuple[str, Metric]] = {}
    for plugin, offered in selection.call_each("ganlab_metrics", data=data, options=options):
        if offered is None:
            continue
        if not isinstance(offered, Mapping):
            raise PluginError(f"plugin {plugin!r} returned {type(offered).__name__} from ganlab_metrics; "
                              f"return a mapping {{name: metric}} or None")
        for name, metric in offered.items():
            if name in out:
                raise PluginError(f"plugins {out[name][0]!r} and {plugin!r} both offer metric {name!r}")
            if not callable(metric):
                raise PluginError(f"metric {name!r} of plugin {plugin!r} is not callable")
            out[name] = (plugin, metric)
    return out


def compute_metrics(metrics: Mapping[str, tuple[str, Metric]], batch: MetricBatch,
                    timings: dict[str, float] | None = None) -> dict[str, float]:
    """Call each metric; the named numbers of all of them in one flat row (a key given twice is an error)."""
    row: dict[str, float] = {}
    owner: dict[str, str] = {}
    for name, (plugin, metric) in metrics.items():
        t0 = time.perf_counter()
        try:
            values = metric(batch)
        except GanlabError:
            raise
        except Exception as exc:
            raise PluginError(f"metric {name!r} of plugin {plugin!r} failed: {type(exc).__name__}: {exc}") from exc
        if timings is not None:
            timings[name] = time.perf_counter() - t0
        if not isinstance(values, Mapping):
            raise PluginError(f"metric {name!r} of plugin {plugin!r} returned {type(values).__name__}; "
                              f"expected a mapping of names to numbers")
        for key, value in values.items():
            if key in owner or key in RESERVED_KEYS:
                raise PluginError(f"metric {name!r} ({plugin}) returns {key!r}, which "
                                  f"{'metric ' + repr(owner[key]) if key in owner else 'ganlab'} uses already")
            try:
                row[key] = float(value)
            except (TypeError, ValueError):
                raise PluginError(f"metric {name!r} ({plugin}) returned {value!r} for {key!r}; "
                                  f"expected a number") from None
            owner[key] = name
    return row


@torch.no_grad()
def generate(generator: nn.Module, n: int, latent_dim: int, num_classes: int | None, seed: int,
             device: torch.device | str = "cpu", batch: int = 1000) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` samples from fixed, seeded noise (drawn on the CPU, so equal on every device), in eval mode.

    In a conditional run (``num_classes`` given) G is asked for every class in
    turn: labels ``0, 1, ..., num_classes - 1, 0, ...``.
    """
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, latent_dim, generator=gen)
    labels = torch.arange(n) % num_classes if num_classes else None
    was_training = generator.training
    generator.eval()
    try:
        out = []
        for i in range(0, n, batch):
            zb = z[i:i + batch].to(device)
            xb = generator(zb) if labels is None else generator(zb, labels[i:i + batch].to(device))
            out.append(xb.float().cpu())
    finally:
        generator.train(was_training)
    return torch.cat(out), labels


def real_reference(loaded: LoadedData, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``min(n, len(data))`` real samples without replacement, chosen by ``seed``, in the model range."""
    idx = torch.randperm(len(loaded), generator=torch.Generator().manual_seed(seed))[:n]
    real = loaded.to_model_range(loaded.data[idx].cpu()).float()
    labels = loaded.labels[idx].cpu() if loaded.labels is not None else None
    return real, labels


def evaluate_generator(selection: Selection, loaded: LoadedData, options: Options, generator: nn.Module,
                       latent_dim: int, conditional: bool, n: int, seed: int = 0,
                       device: torch.device | str = "cpu", timings: dict[str, float] | None = None,
                       ) -> dict[str, float]:
    """Every active metric on ``n`` generated samples against ``n`` real ones; ``{}`` when none applies."""
    metrics = collect_metrics(selection, loaded.spec, options)
    if not metrics:
        return {}
    num_classes = loaded.spec.num_classes if conditional else None
    fake, fake_labels = generate(generator, n, latent_dim, num_classes, seed, device)
    real, real_labels = real_reference(loaded, n, seed)
    batch = MetricBatch(real, fake, loaded.spec, real_labels, fake_labels)
    return compute_metrics(metrics, batch, timings)


# --- the math ------------------------------------------------------------------------


class _Precomputed(nn.Module):
    """Features computed once are handed to torchmetrics as its (custom) feature extractor's output."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def frechet_distance(real_features: torch.Tensor, fake_features: torch.Tensor) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets (FID's formula), via torchmetrics."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    # Every sample is here already: under torchrun only rank 0 evaluates, and a sync would wait for the others.
    fid = FrechetInceptionDistance(feature=_Precomputed(real_features.shape[1]), sync_on_compute=False)
    fid.update(real_features.double(), real=True)
    fid.update(fake_features.double(), real=False)
    return float(fid.compute())


def kernel_distance(real_features: torch.Tensor, fake_features: torch.Tensor, subsets: int = 100,
                    subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID (unbiased MMD² with the cubic polynomial kernel): mean and std over random subsets, via torchmetrics.

    The subsets are drawn from a seeded stream, so equal inputs give equal numbers. A subset holds at
    most half of the smaller set, so subsets differ and the std says something.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size, min(len(real_features), len(fake_features)) // 2)
    if size < 2:
        raise MetricError("KID needs at least 2 real and 2 generated samples")
    with warnings.catch_warnings():  # "will save all extracted features": they are in memory already
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=_Precomputed(real_features.shape[1]), subsets=subsets,
                                      subset_size=size, sync_on_compute=False)
    kid.update(real_features.float(), real=True)
    kid.update(fake_features.float(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = kid.compute()
    return float(mean), float(std)


def _sq_distances(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (len(a), len(b)) by one matrix product; no square roots needed."""
    d = torch.addmm(b_sq[None, :], a, b.T, alpha=-2.0)
    return d.add_(a.pow(2).sum(1, keepdim=True)).clamp_min_(0.0)


def _kth_neighbour_radii(x: torch.Tensor, x_sq: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Squared distance of each row of ``x`` to its k-th nearest other row."""
    radii = []
    for start in range(0, len(x), chunk):
        d = _sq_distances(x[start:start + chunk], x, x_sq)
        radii.append(d.topk(k + 1, dim=1, largest=False).values[:, -1])  # the nearest one is itself
    return torch.cat(radii)


def prdc(real_features: torch.Tensor, fake_features: torch.Tensor, k: int = 5,
         chunk: int = 1024) -> dict[str, float]:
    """Precision and recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020).

    Each real sample's k-NN ball (radius: distance to its k-th nearest real
    neighbour) and each fake one's make up the two manifolds:

    * precision: share of fake samples inside some real ball;
    * recall: share of real samples inside some fake ball;
    * density: mean over fake samples of the number of real balls holding it, over k;
    * coverage: share of real balls that hold at least one fake sample.

    Memory stays at ``chunk`` rows of distances at a time.
    """
    real, fake = real_features.float(), fake_features.float()
    if min(len(real), len(fake)) <= k:
        raise MetricError(f"precision/recall need more than k = {k} real and generated samples")
    real_sq, fake_sq = real.pow(2).sum(1), fake.pow(2).sum(1)
    r_real = _kth_neighbour_radii(real, real_sq, k, chunk)
    r_fake = _kth_neighbour_radii(fake, fake_sq, k, chunk)
    in_real = torch.zeros(len(fake), dtype=torch.bool)     # fake j inside some real ball
    density = torch.zeros(len(fake), dtype=torch.float64)   # real balls holding fake j
    covered = torch.zeros(len(real), dtype=torch.bool)      # real ball i holds some fake
    recalled = torch.zeros(len(real), dtype=torch.bool)     # real i inside some fake ball
    for start in range(0, len(real), chunk):
        d = _sq_distances(real[start:start + chunk], fake, fake_sq)    # (chunk, n_fake)
        inside = d < r_real[start:start + chunk, None]
        counts = inside.sum(0)
        density += counts
        in_real |= counts > 0
        covered[start:start + chunk] = inside.any(1)
        recalled[start:start + chunk] = (d < r_fake[None, :]).any(1)
    return {"precision": float(in_real.double().mean()), "recall": float(recalled.double().mean()),
            "density": float(density.mean() / k), "coverage": float(covered.double().mean())}


def class_statistics(predicted: torch.Tensor, num_classes: int, min_share: float = 0.1) -> dict[str, float]:
    """Which classes generated samples fall into, by a classifier's predictions.

    ``class_coverage``: classes that get at least ``min_share`` of their fair
    share (1/num_classes) of the samples, so a stray misclassification does not
    count as a class; ``class_kl``: KL(class histogram ‖ uniform), 0 for an even
    spread and log(num_classes) when every sample is one class.
    """
    counts = torch.bincount(predicted.reshape(-1), minlength=num_classes).double()
    p = counts / counts.sum()
    nonzero = p > 0
    kl = float((p[nonzero] * (p[nonzero] * num_classes).log()).sum().clamp_min(0.0))
    covered = int((p >= min_share / num_classes).sum())
    return {"class_coverage": covered, "class_kl": kl}


# --- logging ---------------------------------------------------------------------------


def plot_eval(eval_path: Path, out: Path, key: str = "fd") -> bool:
    """``key`` (FD) against step from ``eval.jsonl`` into ``out``; False when there is nothing to plot."""
    steps, values = [], []
    if not Path(eval_path).is_file():
        return False
    for line in Path(eval_path).read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get(key) is not None and row.get("source", "train") == "train":
            steps.append(row["step"])
            values.append(row[key])
    if not steps:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, values, marker="o")
    ax.set_xlabel("step")
    ax.set_ylabel(key.upper() + (" (MNIST classifier features)" if key == "fd" else ""))
    ax.set_yscale("log" if min(values) > 0 and max(values) / min(values) > 20 else "linear")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return True


def isfinite_row(row: Mapping[str, float]) -> bool:
    return all(math.isfinite(v) for v in row.values() if isinstance(v, float))
