"""MNIST sample quality in the feature space of a small CNN classifier shipped with ganlab.

Always active; it offers metrics only for MNIST (``--data mnist`` or
``mnist-embedded``, any ``--image-size``: samples are resized back to 28x28).
All distances are in the classifier's 128-d penultimate layer (see
:mod:`ganlab.plugins.mnist_metrics.classifier`; 99.45 % accuracy on the 2,000
held-out images), not Inception's, so the numbers are "FD on MNIST features",
comparable between ganlab runs but not with published Inception FIDs:

* ``fd``: Fréchet distance (FID's formula, torchmetrics);
* ``kid_mean``, ``kid_std``: KID, unbiased, mean and std over 50 subsets of up to 1,000 (torchmetrics);
* ``precision``, ``recall``, ``density``, ``coverage``: k = 5 nearest neighbours;
* ``class_coverage`` (classes predicted for at least 1 % of the samples) and
  ``class_kl`` (KL of the predicted-class histogram to uniform);
* ``conditional_accuracy``: in a conditional run, how often the classifier
  agrees with the label G was asked for.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch

from ganlab import (
    DataSpec, MetricBatch, MetricError, Options, class_statistics, frechet_distance, hookimpl, kernel_distance, prdc,
)


@dataclass
class MNISTMetricsOptions:
    k: int = field(default=5, metadata={"help": "nearest neighbours for precision/recall/density/coverage"})
    kid_subsets: int = field(default=50, metadata={"help": "KID subsets"})
    kid_subset_size: int = field(default=1000, metadata={"help": "samples per KID subset (at most n)"})

    def __post_init__(self):
        for name in ("k", "kid_subsets", "kid_subset_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


@functools.lru_cache(maxsize=1)
def shipped_classifier():
    from ganlab.plugins.mnist_metrics.classifier import fused_for_inference, load_classifier

    return fused_for_inference(load_classifier())


def is_mnist(data: DataSpec) -> bool:
    return data.kind == "image" and data.name == "mnist" and data.shape[0] == 1 and data.num_classes in (None, 10)


@torch.no_grad()
def _embed(x: torch.Tensor, batch: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, predicted class) of samples in [-1, 1]."""
    from ganlab.plugins.mnist_metrics.classifier import FEATURE_RMS, to_classifier_input

    model = shipped_classifier()
    feats, preds = [], []
    for xb in x.split(batch):
        if not torch.isfinite(xb).all():
            raise MetricError("generated samples contain NaN or infinity; the metrics are undefined")
        f = model.features(to_classifier_input(xb))
        feats.append(f / FEATURE_RMS)
        preds.append(model.head(f).argmax(1))
    return torch.cat(feats), torch.cat(preds)


_REAL_MEMO: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def _real_embedding(real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of the real side, remembered by content: --eval-every compares with the same real set each time."""
    import hashlib

    key = f"{tuple(real.shape)}:{hashlib.blake2b(real.contiguous().numpy().tobytes(), digest_size=16).hexdigest()}"
    if key not in _REAL_MEMO:
        _REAL_MEMO.clear()  # one real set at a time
        _REAL_MEMO[key] = _embed(real)
    return _REAL_MEMO[key]


def _features(batch: MetricBatch):
    def compute():
        real_f, real_p = _real_embedding(batch.real)
        fake_f, fake_p = _embed(batch.fake)
        return real_f, real_p, fake_f, fake_p

    return batch.cached("mnist-metrics.features", compute)


def _fd(batch: MetricBatch) -> dict[str, float]:
    real_f, _, fake_f, _ = _features(batch)
    return {"fd": frechet_distance(real_f, fake_f)}


def _kid(batch: MetricBatch, opts: MNISTMetricsOptions) -> dict[str, float]:
    real_f, _, fake_f, _ = _features(batch)
    mean, std = kernel_distance(real_f, fake_f, opts.kid_subsets, opts.kid_subset_size)
    return {"kid_mean": mean, "kid_std": std}


def _prdc(batch: MetricBatch, opts: MNISTMetricsOptions) -> dict[str, float]:
    real_f, _, fake_f, _ = _features(batch)
    return prdc(real_f, fake_f, k=opts.k)


def _classes(batch: MetricBatch) -> dict[str, float]:
    _, _, _, fake_p = _features(batch)
    return class_statistics(fake_p, 10)


def _conditional_accuracy(batch: MetricBatch) -> dict[str, float]:
    if batch.fake_labels is None:
        return {}
    _, _, _, fake_p = _features(batch)
    return {"conditional_accuracy": float((fake_p == batch.fake_labels).double().mean())}


@hookimpl
def ganlab_options():
    return MNISTMetricsOptions


@hookimpl
def ganlab_metrics(data: DataSpec, options: Options):
    if not is_mnist(data):
        return None
    opts = options[MNISTMetricsOptions]
    return {
        "fd": _fd,
        "kid": functools.partial(_kid, opts=opts),
        "prdc": functools.partial(_prdc, opts=opts),
        "classes": _classes,
        "conditional_accuracy": _conditional_accuracy,
    }
