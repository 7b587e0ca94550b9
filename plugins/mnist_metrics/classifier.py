"""The MNIST feature network: a small CNN classifier whose weights ship with ganlab.

Its penultimate layer (128 features after a ReLU) is the feature space of the
``mnist-metrics`` plugin (FD, KID, precision/recall/density/coverage); its
predictions give class coverage and conditional accuracy. It was trained by
``python -m ganlab.plugins.mnist_metrics.train`` on the first 8,000 images of
the embedded MNIST split; the last 2,000 are held out and never trained on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganlab import GanlabError

WEIGHTS_PATH = Path(__file__).with_name("mnist_classifier.pt")
# Checked on every load: weights that do not match are refused, never used.
WEIGHTS_SHA256 = "6e913f810e1ef4276b8de99815bf1f7eaed112a0dde7343f5f327eec79deed61"
N_TRAIN = 8000  # images [0, 8000) of the embedded split are trained on
HELD_OUT = slice(8000, 10000)  # the last 2,000: accuracy is measured here only
FEATURES = 128
# The metrics divide the 128 features by this fixed constant, their RMS over the
# held-out real images with the shipped weights, so features are O(1) as KID's
# cubic kernel (x.y/d + 1)^3 expects. A test recomputes it.
FEATURE_RMS = 2.8424


class WeightsError(GanlabError):
    """The shipped classifier weights are missing or damaged."""


class MNISTClassifier(nn.Module):
    """Images ``(n, 1, 28, 28)`` in ``[-1, 1]`` -> logits ``(n, 10)``; ``features`` gives the 128-d layer."""

    num_features = FEATURES  # read by torchmetrics for a custom feature extractor

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),   # 14x14
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 7x7
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),  # 3x3
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 9, FEATURES), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURES, 10))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def to_classifier_input(x: torch.Tensor) -> torch.Tensor:
    """Samples in ``[-1, 1]`` of shape ``(n, 1, H, W)`` as the classifier's 28x28 input."""
    x = x.float()
    if x.shape[-2:] != (28, 28):
        x = F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(-1, 1)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_classifier(path: Path = WEIGHTS_PATH, expected_sha256: str | None = WEIGHTS_SHA256) -> MNISTClassifier:
    """The shipped classifier in eval mode; its file's SHA-256 must match the one recorded here."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"the MNIST classifier weights {path} are missing; reinstall ganlab "
                           f"(or retrain them: python -m ganlab.plugins.mnist_metrics.train)")
    digest = sha256(path)
    if expected_sha256 is not None and digest != expected_sha256:
        raise WeightsError(f"the MNIST classifier weights {path} have SHA-256 {digest}, not the recorded "
                           f"{expected_sha256}: the file is damaged or was replaced; reinstall ganlab")
    model = MNISTClassifier()
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise WeightsError(f"the MNIST classifier weights {path} cannot be loaded: {exc}") from None
    return model.eval().requires_grad_(False)


def fused_for_inference(model: MNISTClassifier) -> MNISTClassifier:
    """A copy with each conv, batch norm and ReLU fused into one op: same outputs (to ~1e-5), ~1.7x faster."""
    import copy

    from torch.ao.quantization import fuse_modules

    fused = copy.deepcopy(model).eval()
    convs = [i for i, m in enumerate(fused.conv) if isinstance(m, nn.Conv2d)]
    fuse_modules(fused.conv, [[str(i), str(i + 1), str(i + 2)] for i in convs], inplace=True)
    return fused


@torch.no_grad()
def accuracy(model: MNISTClassifier, images: torch.Tensor, labels: torch.Tensor, batch: int = 1000) -> float:
    """Top-1 accuracy on uint8 or [-1, 1] images."""
    model.eval()
    correct = 0
    for xb, yb in zip(images.split(batch), labels.split(batch)):
        xb = xb.float().div(127.5).sub(1) if xb.dtype == torch.uint8 else xb
        correct += int((model(to_classifier_input(xb)).argmax(1) == yb).sum())
    return correct / len(images)
