"""Datasets: the embedded MNIST, toy mixtures, image folders and batching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab.datasets import Batcher, DataRequest, load_embedded_mnist, load_image_folder, load_torchvision
from ganlab.errors import DataError
from ganlab.toy2d import grid_centers, ring_centers

# Class counts of the official MNIST test split, as published with the files.
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def request(tmp_path, **kw):
    return DataRequest(name="x", root=tmp_path, **kw)


def test_embedded_mnist_is_the_real_test_split(tmp_path):
    loaded = load_embedded_mnist(request(tmp_path))
    assert loaded.data.shape == (10000, 1, 28, 28) and loaded.data.dtype == torch.uint8
    assert torch.bincount(loaded.labels).tolist() == MNIST_TEST_COUNTS
    assert loaded.spec.num_classes == 10 and loaded.spec.shape == (1, 28, 28)
    x = loaded.to_model_range(loaded.data[:100])
    assert x.min() == -1.0 and x.max() == 1.0  # MNIST has pure black and pure white pixels


def test_embedded_mnist_resized_for_dcgan(tmp_path):
    loaded = load_embedded_mnist(request(tmp_path, image_size=64))
    assert loaded.data.shape == (10000, 1, 64, 64)


def test_mnist_falls_back_to_embedded_when_offline(tmp_path):
    loaded = load_torchvision("mnist", request(tmp_path))
    assert loaded.identity["name"] == "mnist-embedded"
    assert "no network" in loaded.source and str(tmp_path) in loaded.source


def test_full_mnist_is_used_when_present(tmp_path):
    # Lay out torchvision's processed files, as a download would leave them.
    pytest.importorskip("torchvision")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    src = Path(__file__).resolve().parents[2] / "ganlab" / "embedded" / "mnist"
    import gzip
    import shutil
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(src / f"{name}.gz") as fin, open(raw / name, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        # torchvision's train split is read from train-* files; reuse the test files for the check.
        shutil.copy(raw / name, raw / name.replace("t10k", "train"))
    loaded = load_torchvision("mnist", request(tmp_path))
    assert loaded.identity["name"] == "mnist" and "torchvision" in loaded.source
    assert loaded.data.shape == (10000, 1, 28, 28)


def test_other_datasets_offline_name_the_fix(tmp_path):
    with pytest.raises(DataError) as err:
        load_torchvision("cifar10", request(tmp_path))
    assert "--data-root" in str(err.value) and "mnist-embedded" in str(err.value)


def test_image_folder_with_class_subfolders(tmp_path):
    from PIL import Image

    for cls, color in (("cats", 0), ("dogs", 255)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("RGB", (40, 30), (color, color, color)).save(tmp_path / cls / f"{i}.png")
    loaded = load_image_folder(tmp_path, request(tmp_path, image_size=16))
    assert loaded.data.shape == (6, 3, 16, 16)
    assert loaded.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert loaded.data[:3].max() == 0 and loaded.data[3:].min() == 255


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="no images"):
        load_image_folder(tmp_path, request(tmp_path))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot read image"):
        load_image_folder(tmp_path, request(tmp_path))


def test_image_folder_trains(run_tiny, tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(20):
        Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(folder / f"{i}.png")
    trainer = run_tiny(["lsgan"], data=str(folder), train={"image_size": 8})
    assert trainer.setup.data.shape == (1, 8, 8) and trainer.step == 3


def test_toy_centres_are_distinct_and_on_spec():
    ring = ring_centers(8, 1.0)
    assert len(torch.unique(ring.round(decimals=5), dim=0)) == 8
    assert torch.allclose(ring.norm(dim=1), torch.ones(8))
    grid = grid_centers(5, 2.0)
    assert sorted(set(grid[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0] and len(grid) == 25


def test_toy_dataset_options(run_tiny):
    trainer = run_tiny(["lsgan"], data="ring", options={"data": {"ring_modes": "4", "ring_radius": "3",
                                                                "toy_samples": "400"}})
    pts = trainer.setup.loaded.data
    assert pts.shape == (400, 2)
    # std 0.01 around radius 3: every point within 3 +- 6 std (the chance of exceeding that is ~1e-9)
    assert ((pts.norm(dim=1) - 3).abs() < 0.06).all()
    assert (trainer.run_dir / "samples" / "step_000003.png").is_file()


def test_batcher_visits_every_sample_once_per_epoch(tmp_path):
    from ganlab.datasets import DataSpec, LoadedData

    data = torch.arange(10, dtype=torch.float32).unsqueeze(1).repeat(1, 2)
    loaded = LoadedData(data, torch.arange(10), DataSpec("t", (2,), 10, "points"), "test")
    b = Batcher(loaded, 5, torch.device("cpu"), seed=0)
    seen = torch.cat([b.next()[0][:, 0] for _ in range(2)])
    assert sorted(seen.tolist()) == list(range(10))
    x, y = b.next()
    assert torch.equal(x[:, 0].long(), y)  # labels travel with their samples
    with pytest.raises(DataError, match="larger than the dataset"):
        Batcher(loaded, 11, torch.device("cpu"), seed=0)


def test_batcher_has_no_per_item_loader(tmp_path):
    loaded = load_embedded_mnist(request(tmp_path))
    b = Batcher(loaded, 64, torch.device("cpu"), seed=0)
    assert b.data.data_ptr() == loaded.data.data_ptr() or b.data.device.type != "cpu"
    x, y = b.next()
    assert x.shape == (64, 1, 28, 28) and x.dtype == torch.float32 and y.shape == (64,)


def test_with_a_network_torchvision_downloads_into_data_root(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    import ganlab.datasets as gd

    calls = []

    class FakeMNIST:
        mirrors = ["https://example.invalid/mnist/"]

        def __init__(self, root, train, download):
            calls.append((root, train, download))
            if not download:
                raise RuntimeError("Dataset not found. You can use download=True to download it")
            self.data = torch.zeros(60000, 28, 28, dtype=torch.uint8)
            self.targets = torch.arange(60000) % 10

    monkeypatch.setattr(tvd, "MNIST", FakeMNIST)
    monkeypatch.setattr(gd, "network_reachable", lambda url, timeout=3.0: url == FakeMNIST.mirrors[0])
    loaded = load_torchvision("mnist", request(tmp_path))
    assert calls == [(str(tmp_path), True, False), (str(tmp_path), True, True)]
    assert loaded.data.shape == (60000, 1, 28, 28) and loaded.identity["name"] == "mnist"
    assert "60,000" in loaded.source
