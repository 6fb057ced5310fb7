"""The real Fashion-MNIST files: sizes, label counts, checksums, layouts, and clear errors on
damaged copies (written to tmp_path)."""
import gzip
import os
import shutil

import numpy as np
import pytest

import dlbasic
from dlbasic.utils.data import DataLoader, TensorDataset
from dlbasic.vision import datasets, transforms as T
from tests.conftest import fashion_mnist_dir

FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


@pytest.fixture
def fmnist_dir():
    return fashion_mnist_dir()


@pytest.fixture
def no_fallback(monkeypatch, tmp_path):
    """Only the root passed to the dataset counts (no env var, no Debian directory)."""
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST_DIR", str(tmp_path / "absent"))
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)


def _link_all(src, dst, skip=()):
    os.makedirs(dst, exist_ok=True)
    for name in FILES:
        if name not in skip:
            os.symlink(os.path.join(src, name), os.path.join(dst, name))


def test_train_split_has_60000_images_6000_per_class(fmnist_dir):
    ds = datasets.FashionMNIST(fmnist_dir, train=True)
    assert len(ds) == 60000
    assert ds.data.shape == (60000, 28, 28) and ds.data.dtype == dlbasic.uint8
    assert ds.targets.shape == (60000,) and ds.targets.dtype == dlbasic.int64
    assert np.bincount(ds.targets.numpy(), minlength=10).tolist() == [6000] * 10
    img, target = ds[0]
    assert isinstance(img, np.ndarray) and img.shape == (28, 28) and img.dtype == np.uint8
    assert target == 9 and ds.classes[target] == "Ankle boot"    # the first training image
    assert ds.class_to_idx["T-shirt/top"] == 0
    assert 0 < ds.data.numpy().mean() < 255


def test_test_split_has_10000_images_1000_per_class(fmnist_dir):
    ds = datasets.FashionMNIST(fmnist_dir, train=False)
    assert len(ds) == 10000 and ds.data.shape == (10000, 28, 28)
    assert np.bincount(ds.targets.numpy(), minlength=10).tolist() == [1000] * 10


def test_installed_files_pass_the_checksums(fmnist_dir):
    for stem, md5 in datasets.FashionMNIST.raw_md5.items():
        path = os.path.join(fmnist_dir, stem + ".gz")
        if not os.path.exists(path):
            path = os.path.join(fmnist_dir, stem)
        arr = datasets.read_idx(path, 3 if "images" in stem else 1, md5=md5)
        assert arr.shape[0] in (60000, 10000)


def test_repeated_construction_uses_the_cache_and_copies_are_independent(fmnist_dir):
    a = datasets.FashionMNIST(fmnist_dir, train=False)
    b = datasets.FashionMNIST(fmnist_dir, train=False)
    before = b.data[0, 0, 0].item()
    a.data[0, 0, 0] = (before + 1) % 256
    assert b.data[0, 0, 0].item() == before        # each instance owns its arrays
    assert np.array_equal(a.data.numpy()[1:], b.data.numpy()[1:])
    img, _ = b[0]
    img[:] = 0                                     # a sample is a copy, too
    assert b.data.numpy()[0].any()


def test_transform_and_loader_on_real_data(fmnist_dir):
    ds = datasets.FashionMNIST(fmnist_dir, train=False,
                               transform=T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))]),
                               target_transform=lambda y: y + 100)
    x, y = next(iter(DataLoader(ds, batch_size=32)))
    assert x.shape == (32, 1, 28, 28) and x.dtype == dlbasic.float32
    assert -1.0 <= x.min().item() and x.max().item() <= 1.0
    assert y.min().item() >= 100
    raw = ds.data.numpy()[:32].astype(np.float32) / np.float32(255)
    assert np.allclose(x.numpy()[:, 0], (raw - 0.5) / 0.5)
    # the fast path: a TensorDataset straight from .data/.targets
    fast = TensorDataset(ds.data.float().div(255).unsqueeze(1), ds.targets)
    xf, yf = next(iter(DataLoader(fast, batch_size=32)))
    assert np.allclose(xf.numpy(), raw[:, None])
    assert yf.tolist() == (y - 100).tolist()


def test_torchvision_layout_root_fashionmnist_raw(fmnist_dir, tmp_path, no_fallback):
    _link_all(fmnist_dir, tmp_path / "FashionMNIST" / "raw")
    ds = datasets.FashionMNIST(str(tmp_path), train=False)
    assert len(ds) == 10000 and ds.data_dir == str(tmp_path / "FashionMNIST" / "raw")
    assert datasets.find_fashion_mnist(str(tmp_path)) == str(tmp_path / "FashionMNIST" / "raw")


def test_uncompressed_files_are_accepted(fmnist_dir, tmp_path, no_fallback):
    _link_all(fmnist_dir, tmp_path, skip=("t10k-labels-idx1-ubyte.gz",))
    with gzip.open(os.path.join(fmnist_dir, "t10k-labels-idx1-ubyte.gz")) as f:
        (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(f.read())
    ds = datasets.FashionMNIST(str(tmp_path), train=False)
    assert len(ds) == 10000


def test_missing_file_is_reported(fmnist_dir, tmp_path, no_fallback):
    _link_all(fmnist_dir, tmp_path, skip=("t10k-images-idx3-ubyte.gz",))
    with pytest.raises(RuntimeError, match="Dataset not found") as e:
        datasets.FashionMNIST(str(tmp_path), train=False)
    assert "t10k-images-idx3-ubyte.gz" in str(e.value) and str(tmp_path) in str(e.value)


def test_truncated_copy_of_real_gz_file_gives_clear_error(fmnist_dir, tmp_path, no_fallback):
    _link_all(fmnist_dir, tmp_path, skip=("t10k-images-idx3-ubyte.gz",))
    data = open(os.path.join(fmnist_dir, "t10k-images-idx3-ubyte.gz"), "rb").read()
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(data[:len(data) // 2])
    with pytest.raises(RuntimeError,
                       match="t10k-images-idx3-ubyte.gz: corrupt or truncated gzip stream"):
        datasets.FashionMNIST(str(tmp_path), train=False)


def test_truncated_payload_gives_expected_and_actual_size(fmnist_dir, tmp_path, no_fallback):
    _link_all(fmnist_dir, tmp_path, skip=("t10k-images-idx3-ubyte.gz",))
    with gzip.open(os.path.join(fmnist_dir, "t10k-images-idx3-ubyte.gz")) as f:
        raw = f.read()
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb", compresslevel=1) as f:
        f.write(raw[:-1000])                        # a valid gzip of a short file
    with pytest.raises(RuntimeError, match="t10k-images-idx3-ubyte.gz: truncated: expected "
                                           "7840016 bytes, got 7839016"):
        datasets.FashionMNIST(str(tmp_path), train=False)


def test_corrupt_magic_number(fmnist_dir, tmp_path, no_fallback):
    _link_all(fmnist_dir, tmp_path, skip=("t10k-labels-idx1-ubyte.gz",))
    with gzip.open(os.path.join(fmnist_dir, "t10k-labels-idx1-ubyte.gz")) as f:
        raw = bytearray(f.read())
    raw[3] = 3                                      # 2049 -> 2051
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(bytes(raw))
    with pytest.raises(RuntimeError, match="t10k-labels-idx1-ubyte.gz: bad magic number 2051, "
                                           "expected 2049"):
        datasets.FashionMNIST(str(tmp_path), train=False)


def test_checksum_mismatch_names_the_file(fmnist_dir, tmp_path, no_fallback):
    _link_all(fmnist_dir, tmp_path, skip=("t10k-labels-idx1-ubyte.gz",))
    with gzip.open(os.path.join(fmnist_dir, "t10k-labels-idx1-ubyte.gz")) as f:
        raw = bytearray(f.read())
    raw[100] = (raw[100] + 1) % 10                  # one wrong label, format still valid
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(bytes(raw))
    with pytest.raises(RuntimeError, match="t10k-labels-idx1-ubyte.gz: checksum mismatch"):
        datasets.FashionMNIST(str(tmp_path), train=False)


def test_download_true_with_files_present_does_not_touch_network(fmnist_dir, tmp_path,
                                                                  no_fallback, monkeypatch):
    _link_all(fmnist_dir, tmp_path / "FashionMNIST" / "raw")

    def no_network(*a, **k):
        raise AssertionError("download attempted although the files are present")
    monkeypatch.setattr(datasets.urllib.request, "urlopen", no_network)
    assert len(datasets.FashionMNIST(str(tmp_path), train=False, download=True)) == 10000


def test_find_fashion_mnist_prefers_explicit_dir(fmnist_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    _link_all(fmnist_dir, tmp_path)
    assert datasets.find_fashion_mnist(str(tmp_path)) == str(tmp_path)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path))
    assert datasets.find_fashion_mnist() == str(tmp_path)
    shutil.rmtree(tmp_path)
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST_DIR", str(tmp_path / "absent"))
    assert datasets.find_fashion_mnist() is None
