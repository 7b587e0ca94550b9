"""Datasets: the embedded MNIST, torchvision files under --data-root, toy mixtures, image folders, batching.

Files under --data-root are written here by hand in torchvision's layout;
nothing is downloaded (conftest sets GANLAB_OFFLINE).
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import ganlab.plugins.data as data_plugin
from ganlab.datasets import Batcher, DataRequest, DataSpec, LoadedData, load_image_folder
from ganlab.errors import DataError, GanlabError
from ganlab.options import defaults_for
from ganlab.plugins.data import DataOptions, grid_centers, load_embedded_mnist, load_torchvision, ring_centers

# Class counts of the official MNIST test split, as published with the files.
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def request(tmp_path, **kw):
    return DataRequest(name="x", root=tmp_path, options=defaults_for(DataOptions), **kw)


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX format by its spec: 0, 0, type 0x08 (uint8), ndim, big-endian dims, data."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def fake_mnist(root: Path, n: int = 5, folder: str = "MNIST", labels: np.ndarray | None = None, test: bool = False):
    """n 28x28 images whose pixels are (i + row + col) % 256, written where torchvision keeps them."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    i, r, c = np.meshgrid(np.arange(n), np.arange(28), np.arange(28), indexing="ij")
    images = ((i + r + c) % 256).astype(np.uint8)
    labels = np.arange(n) % 10 if labels is None else labels
    for split in ("train", "t10k") if test else ("train",):
        (raw / f"{split}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    return images, labels


# --- the embedded split ----------------------------------------------------------


def test_embedded_mnist_is_the_real_test_split(tmp_path):
    loaded = load_embedded_mnist(request(tmp_path))
    assert loaded.data.shape == (10000, 1, 28, 28) and loaded.data.dtype == torch.uint8
    assert torch.bincount(loaded.labels).tolist() == MNIST_TEST_COUNTS
    assert loaded.spec.num_classes == 10 and loaded.spec.shape == (1, 28, 28)
    assert "10,000 images" in loaded.source and loaded.pinned_name == "mnist-embedded"
    x = loaded.to_model_range(loaded.data[:100])
    assert x.min() == -1.0 and x.max() == 1.0  # MNIST has pure black and pure white pixels


def test_embedded_mnist_resized_for_dcgan(tmp_path):
    loaded = load_embedded_mnist(request(tmp_path, image_size=64))
    assert loaded.data.shape == (10000, 1, 64, 64)


# --- torchvision's files under --data-root ------------------------------------------


def test_mnist_falls_back_to_embedded_only_when_absent_and_offline(tmp_path):
    loaded = load_torchvision("mnist", request(tmp_path))
    assert loaded.identity["name"] == "mnist-embedded" and loaded.pinned_name == "mnist-embedded"
    assert "no network" in loaded.source and str(tmp_path) in loaded.source


def test_mnist_files_are_read_as_torchvision_reads_them(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    images, labels = fake_mnist(tmp_path, n=7, test=True)  # torchvision wants the test files too
    loaded = load_torchvision("mnist", request(tmp_path))
    tv = torchvision.datasets.MNIST(str(tmp_path), train=True, download=False)
    assert torch.equal(loaded.data[:, 0], tv.data) and torch.equal(loaded.labels, tv.targets)
    assert loaded.data.shape == (7, 1, 28, 28) and int(loaded.data[3, 0, 2, 5]) == 3 + 2 + 5
    assert loaded.identity["name"] == "mnist" and loaded.pinned_name is None
    # The description counts what was loaded, not what MNIST usually holds.
    assert "(7 images)" in loaded.source and "60,000" not in loaded.source


def test_fashion_mnist_is_read_from_its_own_folder(tmp_path):
    fake_mnist(tmp_path, n=4, folder="FashionMNIST")
    loaded = load_torchvision("fashion-mnist", request(tmp_path))
    assert loaded.data.shape == (4, 1, 28, 28) and "Fashion-MNIST" in loaded.source and "(4 images)" in loaded.source
    # Fashion-MNIST's files are not MNIST's.
    assert load_torchvision("mnist", request(tmp_path)).identity["name"] == "mnist-embedded"


def _bad_header(raw):
    (raw / "train-images-idx3-ubyte").write_bytes(b"GIF89a" + bytes(100))


def _empty(raw):
    (raw / "train-images-idx3-ubyte").write_bytes(b"")


def _truncated(raw):
    full = (raw / "train-images-idx3-ubyte").read_bytes()
    (raw / "train-images-idx3-ubyte").write_bytes(full[:-1])


def _extra_bytes(raw):
    with open(raw / "train-images-idx3-ubyte", "ab") as fh:
        fh.write(b"\0")


def _header_only(raw):
    (raw / "train-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3, 0, 0]))


def _too_few_labels(raw):
    (raw / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.arange(3)))


def _labels_missing(raw):
    (raw / "train-labels-idx1-ubyte").unlink()


def _images_is_a_folder(raw):
    (raw / "train-images-idx3-ubyte").unlink()
    (raw / "train-images-idx3-ubyte").mkdir()


def _label_out_of_range(raw):
    (raw / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.array([0, 1, 2, 3, 200])))


@pytest.mark.parametrize("damage, bad_file, reason", [
    (_bad_header, "train-images-idx3-ubyte", "does not start with the IDX header of a 3-D uint8 array"),
    (_empty, "train-images-idx3-ubyte", "is empty"),
    (_truncated, "train-images-idx3-ubyte", "is truncated: 3,935 bytes, but its header (5 x 28 x 28) needs 3,936"),
    (_extra_bytes, "train-images-idx3-ubyte", "has extra bytes"),
    (_header_only, "train-images-idx3-ubyte", "is truncated inside its header"),
    (_too_few_labels, "train-labels-idx1-ubyte", "holds 3 labels for the 5 images"),
    (_labels_missing, "train-labels-idx1-ubyte", "is missing"),
    (_images_is_a_folder, "train-images-idx3-ubyte", "cannot be read"),
    (_label_out_of_range, "train-labels-idx1-ubyte", "holds label 200; expected 0 to 9"),
])
def test_unreadable_mnist_files_are_a_data_error_naming_them(tmp_path, damage, bad_file, reason):
    fake_mnist(tmp_path, n=5)
    raw = tmp_path / "MNIST" / "raw"
    damage(raw)
    with pytest.raises(DataError) as err:
        load_torchvision("mnist", request(tmp_path))
    message = str(err.value)
    assert f"{raw / bad_file} {reason}" in message
    assert "Delete them" in message and "--data-root" in message
    # Never the embedded split with a made-up reason.
    assert "no network" not in message


def test_broken_files_are_not_downloaded_over(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted over files that are present")

    monkeypatch.setattr(tvd, "MNIST", no_download)
    monkeypatch.setattr(data_plugin, "network_reachable", lambda url, timeout=3.0: True)
    fake_mnist(tmp_path)
    _empty(tmp_path / "MNIST" / "raw")
    with pytest.raises(DataError, match="is empty"):
        load_torchvision("mnist", request(tmp_path))


def cifar_batch(first: int, n: int = 2) -> dict:
    """n 32x32 images whose red, green and blue planes are 10, 20 and 30 plus the image index."""
    planes = np.stack([np.full((32, 32), 10 * (c + 1) + first + k, np.uint8) for k in range(n) for c in range(3)])
    return {"data": planes.reshape(n, 3 * 32 * 32), "labels": [(first + k) % 10 for k in range(n)]}


def fake_cifar10(root: Path, monkeypatch) -> Path:
    """Five small train batches (and test/meta files) with their checksums standing in for the published ones."""
    from torchvision.datasets import CIFAR10

    folder = root / CIFAR10.base_folder
    folder.mkdir(parents=True)

    def write(name, obj):
        (folder / name).write_bytes(pickle.dumps(obj))
        return [name, hashlib.md5((folder / name).read_bytes()).hexdigest()]

    train = [write(f"data_batch_{i}", cifar_batch(2 * i)) for i in range(1, 6)]
    monkeypatch.setattr(CIFAR10, "train_list", train)
    monkeypatch.setattr(CIFAR10, "test_list", [write("test_batch", cifar_batch(0))])
    name, md5 = write("batches.meta", {"label_names": [str(i) for i in range(10)]})
    monkeypatch.setattr(CIFAR10, "meta", {"filename": name, "key": "label_names", "md5": md5})
    return folder


def test_cifar10_channels_are_red_green_blue_as_torchvision_reads_them(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    fake_cifar10(tmp_path, monkeypatch)
    loaded = load_torchvision("cifar10", request(tmp_path))
    assert loaded.data.shape == (10, 3, 32, 32) and "(10 images)" in loaded.source
    # Image 0 of data_batch_1 (index 2): planes 12, 22, 32.
    assert loaded.data[0, :, 5, 7].tolist() == [12, 22, 32]
    assert loaded.labels.tolist() == [2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    tv = CIFAR10(str(tmp_path), train=True, download=False)  # HWC
    assert torch.equal(loaded.data, torch.from_numpy(tv.data).permute(0, 3, 1, 2))


def test_damaged_cifar10_batch_is_a_data_error_naming_it(tmp_path, monkeypatch):
    folder = fake_cifar10(tmp_path, monkeypatch)
    (folder / "data_batch_3").write_bytes(b"garbage")
    (folder / "data_batch_5").unlink()
    with pytest.raises(DataError) as err:
        load_torchvision("cifar10", request(tmp_path))
    message = str(err.value)
    assert f"{folder / 'data_batch_3'} does not match its published checksum" in message
    assert f"{folder / 'data_batch_5'} is missing" in message
    assert "data_batch_1" not in message and "Delete them" in message


def test_other_datasets_offline_name_the_fix_and_the_datasets_that_need_no_download(tmp_path):
    with pytest.raises(DataError) as err:
        load_torchvision("cifar10", request(tmp_path))
    message = str(err.value)
    assert "--data-root" in message and "no network" in message
    assert "mnist-embedded, ring, grid" in message


def test_with_a_network_torchvision_downloads_into_data_root(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    calls = []

    class FakeMNIST:
        mirrors = ["https://example.invalid/mnist/"]

        def __init__(self, root, train, download):
            calls.append((root, train, download))
            fake_mnist(Path(root), n=12, test=True)

    monkeypatch.setattr(tvd, "MNIST", FakeMNIST)
    monkeypatch.setattr(data_plugin, "network_reachable", lambda url, timeout=3.0: url == FakeMNIST.mirrors[0])
    loaded = load_torchvision("mnist", request(tmp_path))
    assert calls == [(str(tmp_path), True, True)]
    assert loaded.data.shape == (12, 1, 28, 28) and loaded.identity == {
        "name": "mnist", "split": "train", "n": 12, "root": str(tmp_path)}
    assert "(12 images)" in loaded.source


def test_a_failed_download_of_mnist_falls_back_and_says_why(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    class FailingMNIST:
        mirrors = ["https://example.invalid/mnist/"]

        def __init__(self, root, train, download):
            raise OSError("connection reset")

    monkeypatch.setattr(tvd, "MNIST", FailingMNIST)
    monkeypatch.setattr(data_plugin, "network_reachable", lambda url, timeout=3.0: True)
    loaded = load_torchvision("mnist", request(tmp_path))
    assert loaded.pinned_name == "mnist-embedded"
    assert "downloading it failed (OSError: connection reset)" in loaded.source


def test_unreadable_data_root_files_stop_the_cli_with_one_message(tmp_path, capsys):
    from ganlab.cli import main

    fake_mnist(tmp_path / "data")
    _too_few_labels(tmp_path / "data" / "MNIST" / "raw")
    assert main(["run", "--data", "mnist", "--data-root", str(tmp_path / "data"), "--device", "cpu",
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "holds 3 labels for the 5 images" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_the_fallback_is_pinned_in_the_run_config(run_tiny):
    import tomllib

    trainer = run_tiny(data="mnist", fit=False)
    assert trainer.setup.loaded.pinned_name == "mnist-embedded"
    config = tomllib.loads((trainer.run_dir / "config.toml").read_text())
    assert config["train"]["data"] == "mnist-embedded"


# --- image folders -------------------------------------------------------------


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


def test_image_folder_keeps_channels_and_pixels_in_place(tmp_path):
    from PIL import Image

    # 3x3 RGB image: red = 10 * row, green = 100 + col, blue = 200 + row + col (all distinct per channel).
    img = Image.new("RGB", (3, 3))
    for row in range(3):
        for col in range(3):
            img.putpixel((col, row), (10 * row, 100 + col, 200 + row + col))
    img.save(tmp_path / "a.png")  # PNG: lossless
    loaded = load_image_folder(tmp_path, request(tmp_path, image_size=3))  # native size: no resampling
    assert loaded.data.shape == (1, 3, 3, 3) and loaded.data.dtype == torch.uint8
    assert loaded.data[0, 0].tolist() == [[0, 0, 0], [10, 10, 10], [20, 20, 20]]
    assert loaded.data[0, 1].tolist() == [[100, 101, 102]] * 3
    assert loaded.data[0, 2].tolist() == [[200, 201, 202], [201, 202, 203], [202, 203, 204]]
    assert loaded.data[0, :, 2, 1].tolist() == [20, 101, 203]  # row 2, column 1


def test_grayscale_image_folder_stays_one_channel(tmp_path):
    from PIL import Image

    Image.fromarray(np.array([[0, 50], [100, 250]], dtype=np.uint8)).save(tmp_path / "g.png")
    loaded = load_image_folder(tmp_path, request(tmp_path, image_size=2))
    assert loaded.data.tolist() == [[[[0, 50], [100, 250]]]]


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


# --- the 2-D mixtures ------------------------------------------------------------


def test_toy_centres_are_distinct_and_on_spec():
    ring = ring_centers(8, 1.0)
    assert len(torch.unique(ring.round(decimals=5), dim=0)) == 8
    assert torch.allclose(ring.norm(dim=1), torch.ones(8))
    grid = grid_centers(5, 2.0)
    assert sorted(set(grid[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0] and len(grid) == 25


def test_toy_dataset_options(run_tiny):
    trainer = run_tiny(["lsgan"], data="ring", options={"data": {"ring_modes": "4", "ring_radius": "3",
                                                                "toy_samples": "400"}}, fit=False)
    pts = trainer.setup.loaded.data
    assert pts.shape == (400, 2)
    # std 0.01 around radius 3: every point within 3 +- 6 std (the chance of exceeding that is ~1e-9)
    assert ((pts.norm(dim=1) - 3).abs() < 0.06).all()
    assert trainer.setup.loaded.pinned_name is None


def test_bad_toy_options_are_user_errors(run_tiny):
    with pytest.raises(GanlabError, match="overlap"):
        run_tiny(data="ring", options={"data": {"ring_std": "0.5"}}, fit=False)


def test_host_names_no_builtin_dataset():
    import ganlab.datasets as host

    source = Path(host.__file__).read_text()
    for name in ('"ring"', '"grid"', '"mnist"', "mnist-embedded", "ganlab.toy2d", "ganlab.evaluation"):
        assert name not in source
    for gone in ("evaluation", "toy2d"):
        assert not (Path(host.__file__).parent / f"{gone}.py").exists()


# --- batching ------------------------------------------------------------------


def test_batcher_visits_every_sample_once_per_epoch(tmp_path):
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
