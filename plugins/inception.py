"""Inception FID and IS for 3-channel images, only with Inception's own weights already on disk.

Select it with ``--plugin inception``. It offers the ``inception`` metric
(``inception_fid``, ``inception_is_mean``, ``inception_is_std``) for RGB data,
computed by torchmetrics with torch-fidelity's port of the 2015 TF Inception
(the network of published FIDs). It never downloads and never substitutes
another network under these names: when torch-fidelity or the weights file
is missing, or the file is not the one torch-fidelity publishes, the metric
fails with one message that says how to get them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

import torch

from ganlab import DataSpec, MetricBatch, MetricError, hookimpl

WEIGHTS_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
               "weights-inception-2015-12-05-6726825d.pth")

# torch.hub's convention (its HASH_REGEX): the digits before the extension begin the file's SHA-256.
# torch-fidelity loads without check_hash, so a partial download or another network's weights under
# this name would load and give FIDs no paper can be compared with; ganlab checks the prefix itself.
EXPECTED_SHA256_PREFIX = re.search(r"-([a-f0-9]+)\.", WEIGHTS_URL.rsplit("/", 1)[1]).group(1)
_checked: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> digest: hashed once per file


def weights_path() -> Path:
    """Where torch-fidelity (through torch.hub) keeps the Inception weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_URL.rsplit("/", 1)[1]


def _fetch_hint() -> str:
    return (f"on a machine with network run: pip install torch-fidelity && python -c \"import torch; "
            f"torch.hub.load_state_dict_from_url('{WEIGHTS_URL}')\" (or copy the file to {weights_path()}). "
            f"ganlab never replaces Inception by another network under these metric names")


def require_inception() -> None:
    if importlib.util.find_spec("torch_fidelity") is None:
        raise MetricError(f"Inception FID/IS need the torch-fidelity package, which is not installed; {_fetch_hint()}")
    if not weights_path().is_file():
        raise MetricError(f"Inception FID/IS need the Inception weights at {weights_path()}, which are not "
                          f"there (ganlab does not download them); {_fetch_hint()}")
    digest = _sha256(weights_path())
    if not digest.startswith(EXPECTED_SHA256_PREFIX):
        raise MetricError(f"the Inception weights at {weights_path()} are not torch-fidelity's file: its SHA-256 "
                          f"begins {digest[:len(EXPECTED_SHA256_PREFIX)]}, not {EXPECTED_SHA256_PREFIX} (a partial "
                          f"download, or other weights under that name); delete it and fetch it again: {_fetch_hint()}")


def _sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _checked:
        with open(path, "rb") as f:
            _checked[key] = hashlib.file_digest(f, "sha256").hexdigest()
    return _checked[key]


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    """The 8-bit image a sample in [-1, 1] stands for, rounded (k / 127.5 - 1 maps back to k exactly)."""
    return ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def inception_metric(batch: MetricBatch) -> dict[str, float]:
    require_inception()
    from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3
    from torchmetrics.image.inception import InceptionScore

    # One process holds every sample (rank 0 under torchrun): no sync with ranks that do not evaluate.
    # antialias=False: resize to 299 like TF and torch-fidelity (torchmetrics' default antialiased resize
    # is, in its own words, different from the original Inception v3 implementation).
    fid = FrechetInceptionDistance(feature=2048, antialias=False, sync_on_compute=False)
    logits = NoTrainInceptionV3(name="inception-v3-compat", features_list=["logits_unbiased"], antialias=False)
    score = InceptionScore(feature=logits, sync_on_compute=False)
    with torch.random.fork_rng(devices=[]):  # IS shuffles its splits with the global stream
        torch.manual_seed(0)
        for chunk in batch.real.split(100):
            fid.update(_to_uint8(chunk), real=True)
        for chunk in batch.fake.split(100):
            fid.update(_to_uint8(chunk), real=False)
            score.update(_to_uint8(chunk))
        is_mean, is_std = score.compute()
        return {"inception_fid": float(fid.compute()), "inception_is_mean": float(is_mean),
                "inception_is_std": float(is_std)}


@hookimpl
def ganlab_metrics(data: DataSpec):
    if data.kind != "image" or data.shape[0] != 3:
        return None
    return {"inception": inception_metric}
