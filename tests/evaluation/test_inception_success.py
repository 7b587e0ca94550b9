"""Inception FID and IS that run: the plugin's real loading path, with a weights file the test makes.

The file holds seeded random weights in exactly the format torch-fidelity's
FeatureExtractorInceptionV3 loads (its own state_dict), under the name and
folder the plugin and torch-fidelity look in (torch's hub cache, here a tmp
dir). The plugin's numbers are checked against FID's and IS's formulas on
features that torch-fidelity's extractor, called directly, gives for the same
8-bit images. A random network makes meaningless but deterministic numbers.
"""

from __future__ import annotations

import hashlib
import math
from unittest import mock

import numpy as np
import pytest
import torch
import torch_fidelity.feature_extractor_inceptionv3 as tf_inception
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from ganlab.datasets import DataSpec
from ganlab.manager import make_plugin_manager
from ganlab.metrics import MetricBatch, MetricError, collect_metrics, compute_metrics
from ganlab.plugins import inception

SPEC = DataSpec("rgb", (3, 32, 32))
N = 20  # images per side: IS's 10 splits get 2 each (1 would make every split's score exactly 1)
# Inception resizes every image to INPUT_IMAGE_SIZE (299) before the network, so its cost per image does
# not depend on the image size: ~0.2 s per image on one CPU thread, and this test took ~27 s at 299 (100
# forward passes). It runs the same network code at the smallest input Inception v3 accepts (75: Mixed_7
# then sees 1x1), set on torch-fidelity's class, which both the plugin (through torchmetrics) and the
# reference extractor use: ~8 s, of which ~3 s are torchmetrics' eigenvalues of a 2048x2048 matrix. The
# loading, the 8-bit conversion and the TF-style resize (32 -> 75 here) are the plugin's real path.
SMALL_INPUT = 75


def random_inception_state_dict(seed: int) -> dict[str, torch.Tensor]:
    """Seeded random weights with the keys, shapes and dtypes of torch-fidelity's Inception.

    Convolutions and the classifier are random; BatchNorm's running statistics are then set to those
    of a batch of random images (as if trained on them), so that activations stay normalised through
    the ~100 layers and the features, and the logits, differ between images.
    """
    # The constructor loads weights; build only the architecture to read its state_dict's format.
    with mock.patch.object(tf_inception, "load_state_dict_from_url", lambda *a, **k: {}), \
            mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None):
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, value in net.state_dict().items():  # tensors that share the module's storage
            if key == "fc.weight":  # logits that spread over a few units between images
                value.copy_(torch.randn(value.shape, generator=g) * 0.05)
            elif value.dim() == 4:  # conv weights, He scale
                value.copy_(torch.randn(value.shape, generator=g) * math.sqrt(2.0 / value[0].numel()))
            elif key.endswith((".bn.weight", ".bn.bias", "fc.bias")):
                value.copy_((1.0 if key.endswith("weight") else 0.0) + 0.1 * torch.randn(value.shape, generator=g))
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.reset_running_stats()
                module.momentum = None  # one batch in train mode: running stats = that batch's
        net.train()
        net(torch.randint(0, 256, (16, 3, 32, 32), generator=g, dtype=torch.uint8))
    return net.state_dict()


def fid_formula(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), sample covariances (ddof=1), in float64.

    With n < d the covariances are singular (rank n - 1), where sqrtm of the 2048x2048 product is
    ill-conditioned. The trace term is computed exactly instead: with centred features A (n_a x d) and
    B (n_b x d), S_a S_b = A^T A B^T B / ((n_a-1)(n_b-1)) has the same nonzero eigenvalues as M M^T with
    M = A B^T, so Tr (S_a S_b)^(1/2) = (sum of singular values of M) / sqrt((n_a-1)(n_b-1)).
    """
    a = feats_a - feats_a.mean(0)
    b = feats_b - feats_b.mean(0)
    na, nb = len(a), len(b)
    mean_term = float(np.sum((feats_a.mean(0) - feats_b.mean(0)) ** 2))
    trace_a = float(np.sum(a * a)) / (na - 1)
    trace_b = float(np.sum(b * b)) / (nb - 1)
    trace_sqrt = float(np.linalg.svd(a @ b.T, compute_uv=False).sum()) / math.sqrt((na - 1) * (nb - 1))
    return mean_term + trace_a + trace_b - 2 * trace_sqrt


def inception_score_formula(logits: np.ndarray, splits: int) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) in each of ``splits`` consecutive splits; mean and std (ddof=1)."""
    scores = []
    for part in np.array_split(logits, splits):
        log_p = part - part.max(1, keepdims=True)
        log_p = log_p - np.log(np.exp(log_p).sum(1, keepdims=True))  # log softmax
        p = np.exp(log_p)
        log_marginal = np.log(p.mean(0))
        scores.append(math.exp(float(np.mean(np.sum(p * (log_p - log_marginal), axis=1)))))
    return float(np.mean(scores)), float(np.std(scores, ddof=1))


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """torch's hub dir in tmp_path, with the random weights where the plugin looks; downloads fail."""
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # restored after the test, like the lines below
    torch.hub.set_dir(str(tmp_path / "hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))

    def no_download(url, *args, **kwargs):
        raise AssertionError(f"the Inception metrics tried to download {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    monkeypatch.setattr(FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", SMALL_INPUT)
    path = inception.weights_path()
    # The plugin's path is torch-fidelity's: torch.hub caches a URL's file under checkpoints/ by its name.
    assert path == tmp_path / "hub" / "checkpoints" / tf_inception.URL_INCEPTION_V3.rsplit("/", 1)[1]
    path.parent.mkdir(parents=True)
    # torch-fidelity calls load_state_dict_from_url without check_hash, so a user's real file and this one
    # take the same branch there (the cache hit, then a strict load_state_dict); ganlab checks the hash.
    torch.save(random_inception_state_dict(seed=0), path)
    # The plugin refuses a file whose SHA-256 does not begin with the name's digits: these weights pass
    # as if published (the refusal itself is tested below, with the real digits).
    monkeypatch.setattr(inception, "EXPECTED_SHA256_PREFIX", hashlib.sha256(path.read_bytes()).hexdigest()[:8])
    return path


def test_the_expected_digits_are_those_torch_hub_reads_from_the_file_name():
    name = inception.WEIGHTS_URL.rsplit("/", 1)[1]
    assert inception.EXPECTED_SHA256_PREFIX == torch.hub.HASH_REGEX.search(name).group(1) == "6726825d"


def test_a_weights_file_that_is_not_torch_fidelitys_is_refused_and_says_how_to_fetch_it(hub, monkeypatch):
    monkeypatch.setattr(inception, "EXPECTED_SHA256_PREFIX", "6726825d")
    sel = make_plugin_manager(autoload=False).select(["inception"])
    metrics = collect_metrics(sel, SPEC, sel.build_options())
    images = torch.zeros(4, 3, 32, 32)
    with pytest.raises(MetricError) as refused:
        compute_metrics({"inception": metrics["inception"]}, MetricBatch(images, images, SPEC))
    message = str(refused.value)
    assert "not torch-fidelity's file" in message and str(hub) in message and "delete it" in message
    assert f"begins {hashlib.sha256(hub.read_bytes()).hexdigest()[:8]}, not 6726825d" in message
    assert "load_state_dict_from_url" in message


def test_inception_fid_and_is_from_a_weights_file_in_the_hub_cache_match_their_formulas(hub):
    g = torch.Generator().manual_seed(1)
    # 8-bit images as a dataset holds them, and in [-1, 1] as ganlab's loaders give them (k / 127.5 - 1)
    real_u8 = torch.randint(0, 256, (N, 3, 32, 32), generator=g, dtype=torch.uint8)
    # a little darker: a random network's features blow up on images far from its BatchNorm statistics
    fake_u8 = torch.randint(0, 231, (N, 3, 32, 32), generator=g, dtype=torch.uint8)
    real, fake = real_u8.float() / 127.5 - 1, fake_u8.float() / 127.5 - 1

    sel = make_plugin_manager(autoload=False).select(["inception"])
    metrics = collect_metrics(sel, SPEC, sel.build_options())
    assert [name for name, (plugin, _) in metrics.items() if plugin == "inception"] == ["inception"]
    got = compute_metrics({"inception": metrics["inception"]}, MetricBatch(real, fake, SPEC))

    # The reference: torch-fidelity's own extractor with the same file, fed the 8-bit images directly.
    net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                      feature_extractor_weights_path=str(hub))
    with torch.no_grad():
        real_feats, _ = net(real_u8)
        fake_feats, fake_logits = net(fake_u8)
    real_feats, fake_feats = real_feats.double().numpy(), fake_feats.double().numpy()
    assert fake_feats.std(0).mean() > 1e-3 * np.abs(fake_feats).mean()  # the random network tells images apart
    expected_fid = fid_formula(real_feats, fake_feats)
    # IS shuffles its splits: the plugin draws that permutation first after seeding the global stream with 0.
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(0)).numpy()
    expected_is_mean, expected_is_std = inception_score_formula(fake_logits.double().numpy()[perm], splits=10)

    # Tolerances. Features are float32 (the plugin's batches may run other kernels than the reference's,
    # so they can differ by float32 roundoff, ~1e-7 relative), the formulas here float64, and torchmetrics
    # returns FID and IS as float32 (~6e-8 relative). FID: relative 1e-5 covers that, and the absolute part
    # covers torchmetrics' route to Tr (S_a S_b)^(1/2), the sum of sqrt(eigvals(S_a S_b)) over all 2048:
    # 2048 - 19 of them are zero and come out as roundoff ~eps64 * |S_a S_b|, whose square roots add up to
    # at most 2048 * sqrt(2.2e-16 * |S_a S_b|) (twice that in FID). IS: torchmetrics computes softmax,
    # log-softmax and KL in float32 over 1008 classes, a few 1e-7 relative; 1e-5 leaves room. Seen here:
    # FID 4797.79 off by 2e-3 (5e-7 relative), IS off by < 1e-7 relative. A change of split, seed, image
    # conversion or resize moves these numbers by far more (see the check below that they are not vacuous).
    # |S_a S_b| <= |S_a| |S_b|, and |S_a| = (largest singular value of the centred features)^2 / (n_a - 1)
    sab = math.prod(np.linalg.norm(f - f.mean(0), 2) ** 2 / (len(f) - 1) for f in (real_feats, fake_feats))
    fid_abs = 2 * 2048 * math.sqrt(2.2e-16 * sab)
    assert got["inception_fid"] == pytest.approx(expected_fid, rel=1e-5, abs=fid_abs)
    assert got["inception_is_mean"] == pytest.approx(expected_is_mean, rel=1e-5)
    assert got["inception_is_std"] == pytest.approx(expected_is_std, rel=1e-5)
    assert expected_fid > 100 * fid_abs and expected_is_mean > 1 + 1e-2 and expected_is_std > 1e-3  # not vacuous
