"""The MNIST metrics: shipped weights, and what the numbers must do on real and corrupted digits."""

from __future__ import annotations

import math
import os

import pytest
import torch
from torchvision.transforms.functional import gaussian_blur

from ganlab.datasets import DataSpec
from ganlab.errors import PluginError
from ganlab.metrics import MetricBatch, class_statistics, collect_metrics, compute_metrics, frechet_distance, prdc
from ganlab.plugins.mnist_metrics import _embed
from ganlab.plugins.mnist_metrics.classifier import (
    FEATURE_RMS, HELD_OUT, WEIGHTS_PATH, WEIGHTS_SHA256, WeightsError, accuracy, load_classifier, sha256)
from ganlab.plugins.mnist_metrics.train import embedded_mnist

SPEC = DataSpec("mnist", (1, 28, 28), 10)
N = 1000  # samples per side: enough for stable numbers, small enough for the test suite


@pytest.fixture(scope="module")
def mnist():
    """Two disjoint halves of the embedded split (shuffled once), in [-1, 1], with labels and features."""
    images, labels = embedded_mnist()
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    x = images[perm].float().div(127.5).sub(1)
    y = labels[perm]
    a, b = slice(0, 5000), slice(5000, 10000)
    feats_a, _ = _embed(x[a][:N])
    return {"xa": x[a], "ya": y[a], "xb": x[b], "yb": y[b], "fa": feats_a}


def metrics_of(mnist, fake, fake_labels=None, manager=None, options=None):
    """Every built-in metric of MNIST through the hook, as ``ganlab eval`` computes them."""
    from ganlab.manager import make_plugin_manager

    sel = (manager or make_plugin_manager(autoload=False)).select([])
    opts = sel.build_options(options or {"mnist-metrics": {"kid_subsets": "20"}})
    batch = MetricBatch(mnist["xa"][:N], fake, SPEC, mnist["ya"][:N], fake_labels)
    return compute_metrics(collect_metrics(sel, SPEC, opts), batch)


# --- the shipped weights ------------------------------------------------------------


def test_shipped_weights_match_their_hash_and_are_small():
    assert sha256(WEIGHTS_PATH) == WEIGHTS_SHA256
    assert WEIGHTS_PATH.stat().st_size < 600_000


def test_a_damaged_weights_file_is_refused(tmp_path):
    bad = tmp_path / "w.pt"
    bad.write_bytes(WEIGHTS_PATH.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(WeightsError, match="SHA-256 .* not the recorded"):
        load_classifier(bad)
    with pytest.raises(WeightsError, match="missing"):
        load_classifier(tmp_path / "absent.pt")


def test_held_out_accuracy_and_feature_scale():
    images, labels = embedded_mnist()
    model = load_classifier()
    assert accuracy(model, images[HELD_OUT], labels[HELD_OUT]) >= 0.98
    with torch.no_grad():
        f = model.features(images[HELD_OUT].float().div(127.5).sub(1))
    assert f.pow(2).mean().sqrt().item() == pytest.approx(FEATURE_RMS, rel=1e-3)


@pytest.mark.skipif(os.environ.get("GANLAB_SLOW") != "1", reason="retrains the classifier (~1.5 min); GANLAB_SLOW=1")
def test_retraining_reproduces_the_accuracy():
    from ganlab.plugins.mnist_metrics.train import train

    images, labels = embedded_mnist()
    model, acc = train(log=lambda *a: None)
    assert acc >= 0.98
    assert accuracy(model, images[HELD_OUT], labels[HELD_OUT]) == acc


# --- real against real -------------------------------------------------------------------


def test_real_against_real_is_near_perfect(mnist):
    m = metrics_of(mnist, mnist["xb"][:N])
    # Two finite samples of one distribution have a positive FD: its mean term alone has expectation
    # tr(Σ)(1/n₁ + 1/n₂), and the covariance term's bias is of the same order (d/n). Allow 10x the mean term.
    trace = torch.cov(mnist["fa"].T.double()).trace().item()
    assert 0 <= m["fd"] < 10 * trace * (2 / N)
    assert abs(m["kid_mean"]) < 0.02
    assert m["precision"] > 0.9 and m["recall"] > 0.9
    assert 0.9 < m["density"] < 1.1 and m["coverage"] > 0.9
    assert m["class_coverage"] == 10 and m["class_kl"] < 0.02
    assert "conditional_accuracy" not in m  # unconditional


def test_metrics_are_deterministic(mnist):
    assert metrics_of(mnist, mnist["xb"][:N]) == metrics_of(mnist, mnist["xb"][:N])


# --- corruption ---------------------------------------------------------------------------


def _noisy(x, std):
    return (x + std * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)


def _blurred(x, sigma):
    return gaussian_blur(x, kernel_size=9, sigma=sigma)


@pytest.mark.parametrize("corrupt, levels, worse", [
    (_noisy, (0.1, 0.3, 0.6), ("precision", "recall", "density", "coverage")),
    # Blurred digits stay inside the real manifold (precision stays ~0.99) but lose its variety:
    # recall and coverage see it, precision and density are not meant to.
    (_blurred, (0.7, 1.2, 2.0), ("recall", "coverage")),
], ids=["noise", "blur"])
def test_metrics_worsen_with_growing_corruption(mnist, corrupt, levels, worse):
    clean = mnist["xb"][:N]
    rows = [metrics_of(mnist, clean)] + [metrics_of(mnist, corrupt(clean, level)) for level in levels]
    fds = [r["fd"] for r in rows]
    kids = [r["kid_mean"] for r in rows]
    assert fds == sorted(fds) and fds[-1] > 20 * max(fds[0], 0.1), fds
    assert kids == sorted(kids), kids
    for key in worse:
        values = [r[key] for r in rows]
        assert values == sorted(values, reverse=True) and values[-1] < values[0] - 0.5, (key, values)


def test_dropping_classes_lowers_class_coverage_and_recall_but_not_precision(mnist):
    pool_x, pool_y = mnist["xb"], mnist["yb"]
    rows = []
    for dropped in (0, 3, 6):
        keep = pool_y >= dropped
        rows.append(metrics_of(mnist, pool_x[keep][:N]))
    assert [r["class_coverage"] for r in rows] == [10, 7, 4]
    recalls = [r["recall"] for r in rows]
    assert recalls[0] > recalls[1] > recalls[2], recalls
    fds = [r["fd"] for r in rows]
    assert fds[0] < fds[1] < fds[2], fds
    assert all(r["precision"] > 0.9 for r in rows), [r["precision"] for r in rows]
    kls = [r["class_kl"] for r in rows]
    assert kls[0] < kls[1] < kls[2] and kls[2] == pytest.approx(math.log(10 / 4), abs=0.05), kls


def test_a_generator_of_one_digit_covers_one_class(mnist):
    one_image = mnist["xb"][:1].expand(N, -1, -1, -1)  # total collapse: one sample over and over
    m = metrics_of(mnist, one_image)
    assert m["class_coverage"] == 1 and m["class_kl"] == pytest.approx(math.log(10), abs=1e-12)
    assert m["recall"] < 0.05 and m["coverage"] < 0.05
    threes = mnist["xb"][mnist["yb"] == 3][:N]  # many different 3s
    m = metrics_of(mnist, threes)
    assert m["class_coverage"] == 1 and m["class_kl"] == pytest.approx(math.log(10), abs=0.1)


def test_conditional_accuracy(mnist):
    requested = torch.arange(N) % 10
    honest = torch.stack([mnist["xb"][mnist["yb"] == int(c)][i // 10] for i, c in enumerate(requested)])
    assert metrics_of(mnist, honest, requested)["conditional_accuracy"] > 0.97
    ignoring = mnist["xb"][:N]  # a cGAN that ignores its label: the digits have nothing to do with it
    acc = metrics_of(mnist, ignoring, requested)["conditional_accuracy"]
    # Binomial(1000, 0.1): std 0.0095, so 0.1 ± 0.04 is a 4-sigma band.
    assert abs(acc - 0.1) < 0.04


# --- the math on its own -----------------------------------------------------------------


def test_class_statistics_counts_a_class_from_one_percent():
    preds = torch.cat([torch.zeros(980, dtype=torch.long), torch.ones(10, dtype=torch.long),
                       torch.full((9,), 2), torch.full((1,), 3)])
    stats = class_statistics(preds, 10)
    assert stats["class_coverage"] == 2  # 1 % counts, 0.9 % and 0.1 % do not


def test_prdc_on_identical_and_disjoint_sets():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(300, 8, generator=gen)
    same = prdc(a, a.clone())
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    far = prdc(a, a + 100)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    assert frechet_distance(a, a + 1) == pytest.approx(8.0, rel=1e-4)  # ‖Δμ‖² = 8, equal covariances


def test_two_plugins_offering_one_metric_name_conflict(pm):
    import types

    from ganlab import hookimpl

    def make(name):
        mod = types.ModuleType(name)

        @hookimpl
        def ganlab_metrics(data):
            return {"fd": lambda batch: {f"{name}_fd": 0.0}}

        mod.ganlab_metrics = ganlab_metrics
        return mod

    pm.add_plugin(make("one"), "one")
    pm.add_plugin(make("two"), "two")
    sel = pm.select(["one", "two"])
    with pytest.raises(PluginError, match="both offer metric 'fd'"):
        collect_metrics(sel, SPEC, sel.build_options())
