"""dlbasic.vision without the real dataset: transforms, FakeData, the IDX parser on synthetic
files, missing files and download failures."""
import gzip
import os
import time
import urllib.error

import numpy as np
import pytest

import dlbasic
from dlbasic.utils.data import DataLoader, TensorDataset
from dlbasic.vision import datasets, transforms as T


# -- transforms ----------------------------------------------------------------------------

def test_to_tensor_scales_uint8_and_moves_channels_first():
    img = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    t = T.ToTensor()(img)
    assert t.shape == (1, 2, 2) and t.dtype == dlbasic.float32
    assert np.array_equal(t.numpy()[0], np.array([[0, 1], [0.2, 0.4]], dtype=np.float32))
    rgb = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    t = T.ToTensor()(rgb)
    assert t.shape == (3, 2, 4)
    assert t.numpy()[2, 1, 3] == np.float32(rgb[1, 3, 2]) / np.float32(255)
    f = T.ToTensor()(np.ones((2, 2), dtype=np.float64))     # not uint8: no scaling
    assert f.dtype == dlbasic.float64 and f.numpy().max() == 1.0
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        T.ToTensor()([[1, 2]])
    with pytest.raises(ValueError, match="pic should be 2/3 dimensional"):
        T.ToTensor()(np.zeros((1, 2, 2, 3), np.uint8))


def test_to_tensor_accepts_pil_images():
    Image = pytest.importorskip("PIL.Image")
    img = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    t = T.ToTensor()(Image.fromarray(img))
    assert np.allclose(t.numpy()[0], img / 255.0)


def test_normalize_values_and_errors():
    x = dlbasic.tensor([[[1.0, 2.0]], [[3.0, 5.0]]])          # (C=2, H=1, W=2)
    y = T.Normalize(mean=[1.0, 1.0], std=[2.0, 4.0])(x)
    assert y.tolist() == [[[0.0, 0.5]], [[0.5, 1.0]]]
    assert x.tolist() == [[[1.0, 2.0]], [[3.0, 5.0]]]          # not in place
    same = T.Normalize([1.0, 1.0], [2.0, 4.0], inplace=True)(x)
    assert same is x and x.tolist() == [[[0.0, 0.5]], [[0.5, 1.0]]]
    with pytest.raises(TypeError, match="Input tensor should be a torch tensor"):
        T.Normalize([0.0], [1.0])(np.zeros((1, 2, 2)))
    with pytest.raises(TypeError, match="Input tensor should be a float tensor"):
        T.Normalize([0.0], [1.0])(dlbasic.zeros(1, 2, 2, dtype=dlbasic.int64))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize([0.0], [0.0])(dlbasic.zeros(1, 2, 2))
    with pytest.raises(ValueError, match=r"Expected tensor to be a tensor image of size"):
        T.Normalize([0.0], [1.0])(dlbasic.zeros(2, 2))


def test_normalize_is_differentiable():
    x = dlbasic.ones(1, 2, 2, requires_grad=True)
    T.Normalize([0.5], [0.25])(x).sum().backward()
    assert x.grad.tolist() == [[[4.0, 4.0], [4.0, 4.0]]]


def test_pad_modes_and_forms():
    img = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    out = T.Pad(1)(img)
    assert out.shape == (4, 4) and out[0].tolist() == [0, 0, 0, 0] and out[1, 1] == 1
    out = T.Pad((1, 2))(img)                 # left/right 1, top/bottom 2
    assert out.shape == (6, 4)
    out = T.Pad((1, 0, 2, 3), fill=9)(img)   # left, top, right, bottom
    assert out.shape == (5, 5) and out[0].tolist() == [9, 1, 2, 9, 9]
    assert T.Pad(1, padding_mode="edge")(img)[0].tolist() == [1, 1, 2, 2]
    assert T.Pad(1, padding_mode="reflect")(img)[0].tolist() == [4, 3, 4, 3]
    assert T.Pad(1, padding_mode="symmetric")(img)[0].tolist() == [1, 1, 2, 2]
    t = T.Pad(1)(dlbasic.ones(3, 2, 2))      # tensors pad their last two dims
    assert t.shape == (3, 4, 4) and t.sum().item() == 12
    rgb = T.Pad(1, fill=(1, 2, 3))(np.zeros((2, 2, 3), np.uint8))
    assert rgb[0, 0].tolist() == [1, 2, 3] and rgb[1, 1].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="Padding mode should be either"):
        T.Pad(1, padding_mode="wrap")
    with pytest.raises(ValueError, match="Padding must be an int or a 1, 2, or 4 element"):
        T.Pad((1, 2, 3))
    with pytest.raises(TypeError, match="Got inappropriate padding arg"):
        T.Pad("1")


def test_random_crop_with_padding_is_a_shifted_window():
    img = np.arange(1, 26, dtype=np.uint8).reshape(5, 5)
    crop = T.RandomCrop(5, padding=2)
    seen = set()
    for _ in range(60):
        out = crop(img)
        assert out.shape == (5, 5)
        padded = np.pad(img, 2)
        # the output is some 5x5 window of the zero-padded image
        hits = [(i, j) for i in range(5) for j in range(5)
                if np.array_equal(padded[i:i + 5, j:j + 5], out)]
        assert hits
        seen.update(hits)
    assert len(seen) > 5
    assert np.array_equal(T.RandomCrop(5)(img), img)             # full size: identity
    with pytest.raises(ValueError, match="Required crop size"):
        T.RandomCrop(6)(img)
    assert T.RandomCrop(7, pad_if_needed=True)(img).shape == (7, 7)
    assert T.RandomCrop((2, 3))(dlbasic.ones(1, 5, 5)).shape == (1, 2, 3)


def test_random_transforms_follow_manual_seed():
    img = np.arange(64, dtype=np.uint8).reshape(8, 8)
    tf = T.Compose([T.RandomCrop(6, padding=1), T.RandomHorizontalFlip()])
    dlbasic.manual_seed(4)
    a = [tf(img) for _ in range(10)]
    dlbasic.manual_seed(4)
    b = [tf(img) for _ in range(10)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_horizontal_flip_probability_extremes():
    img = np.array([[1, 2, 3]], dtype=np.uint8)
    assert T.RandomHorizontalFlip(1.0)(img).tolist() == [[3, 2, 1]]
    assert T.RandomHorizontalFlip(0.0)(img).tolist() == [[1, 2, 3]]
    t = T.RandomHorizontalFlip(1.0)(dlbasic.tensor([[[1, 2, 3]]]))
    assert t.tolist() == [[[3, 2, 1]]]
    assert T.RandomVerticalFlip(1.0)(np.array([[1], [2]])).tolist() == [[2], [1]]
    flips = sum(T.RandomHorizontalFlip()(img)[0, 0] == 3 for _ in range(400))
    assert 140 < flips < 260


def test_center_crop_and_lambda_and_compose():
    img = np.arange(25).reshape(5, 5)
    assert T.CenterCrop(3)(img).tolist() == [[6, 7, 8], [11, 12, 13], [16, 17, 18]]
    assert T.CenterCrop(7)(img).shape == (7, 7)
    tf = T.Compose([T.Lambda(lambda x: x + 1), T.Lambda(lambda x: x * 2)])
    assert tf(1) == 4
    assert "Lambda()" in repr(tf) and repr(tf).startswith("Compose(")
    with pytest.raises(TypeError, match="Argument lambd should be callable"):
        T.Lambda(3)


# -- FakeData ------------------------------------------------------------------------------

def test_fake_data_is_deterministic_per_index():
    ds = datasets.FakeData(size=10, image_size=(3, 8, 6), num_classes=4)
    img, target = ds[3]
    assert img.shape == (8, 6, 3) and img.dtype == np.uint8 and 0 <= target < 4
    img2, target2 = ds[3]
    assert np.array_equal(img, img2) and target == target2
    assert not np.array_equal(ds[4][0], img)
    other = datasets.FakeData(size=10, image_size=(3, 8, 6), num_classes=4, random_offset=1)
    assert np.array_equal(other[2][0], ds[3][0])
    state = dlbasic.get_rng_state()
    ds[0]
    assert np.array_equal(dlbasic.get_rng_state().numpy(), state.numpy())   # global untouched
    with pytest.raises(IndexError):
        ds[10]


def test_fake_data_through_transforms_and_loader():
    ds = datasets.FakeData(size=9, image_size=(1, 28, 28), transform=T.ToTensor())
    x, y = next(iter(DataLoader(ds, batch_size=4)))
    assert x.shape == (4, 1, 28, 28) and x.dtype == dlbasic.float32 and y.dtype == dlbasic.int64
    assert 0.0 <= x.min().item() and x.max().item() <= 1.0


# -- IDX parsing on synthetic files --------------------------------------------------------------

def idx_bytes(arr, magic=None):
    arr = np.asarray(arr, dtype=np.uint8)
    magic = magic if magic is not None else 0x800 + arr.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return header + arr.tobytes()


def write(path, data, compress=True):
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return str(path)


def test_read_idx_round_trip(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, (3, 28, 28)).astype(np.uint8)
    p = write(tmp_path / "imgs.gz", idx_bytes(imgs))
    assert np.array_equal(datasets.read_idx(p, 3), imgs)
    q = write(tmp_path / "labels", idx_bytes([1, 2, 3]), compress=False)
    assert datasets.read_idx(q, 1).tolist() == [1, 2, 3]


def test_read_idx_rejects_truncated_data(tmp_path):
    data = idx_bytes(np.zeros((3, 28, 28)))
    p = write(tmp_path / "imgs.gz", data[:-10])
    with pytest.raises(RuntimeError, match=r"imgs.gz: truncated: expected 2368 bytes, got 2358"):
        datasets.read_idx(p, 3)
    p = write(tmp_path / "hdr.gz", data[:6])
    with pytest.raises(RuntimeError, match="hdr.gz: truncated"):
        datasets.read_idx(p, 3)
    p = write(tmp_path / "long.gz", data + b"xx")
    with pytest.raises(RuntimeError, match="long.gz: 2 unexpected trailing bytes"):
        datasets.read_idx(p, 3)


def test_read_idx_rejects_bad_magic_and_dims(tmp_path):
    p = write(tmp_path / "labels.gz", idx_bytes(np.zeros((3, 28, 28))))
    with pytest.raises(RuntimeError, match="labels.gz: bad magic number 2051, expected 2049"):
        datasets.read_idx(p, 1)
    p = write(tmp_path / "imgs.gz", idx_bytes(np.zeros((2, 28, 28)), magic=0x12345678))
    with pytest.raises(RuntimeError, match="imgs.gz: bad magic number 305419896"):
        datasets.read_idx(p, 3)
    p = write(tmp_path / "small.gz", idx_bytes(np.zeros((2, 20, 20))))
    with pytest.raises(RuntimeError, match="small.gz: images are 20x20, expected 28x28"):
        datasets.read_idx(p, 3)


def test_read_idx_wraps_gzip_errors_with_the_file_name(tmp_path):
    good = gzip.compress(idx_bytes(np.zeros((4, 28, 28))))
    p = tmp_path / "cut.gz"
    p.write_bytes(good[:len(good) // 2])
    with pytest.raises(RuntimeError, match="cut.gz: corrupt or truncated gzip stream"):
        datasets.read_idx(str(p), 3)
    bad = bytearray(good)
    bad[-8] ^= 0xFF                                  # break the CRC
    p = tmp_path / "crc.gz"
    p.write_bytes(bytes(bad))
    with pytest.raises(RuntimeError, match="crc.gz: corrupt or truncated gzip stream"):
        datasets.read_idx(str(p), 3)
    p = tmp_path / "notgzip.gz"
    p.write_bytes(b"hello world, definitely not gzip")
    with pytest.raises(RuntimeError, match="notgzip.gz: corrupt"):
        datasets.read_idx(str(p), 3)


def test_checksum_mismatch_on_synthetic_files_with_official_names(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST_DIR", str(tmp_path / "none"))
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    for stem, arr in [("t10k-images-idx3-ubyte", np.zeros((2, 28, 28))),
                      ("t10k-labels-idx1-ubyte", [1, 2]),
                      ("train-images-idx3-ubyte", np.zeros((2, 28, 28))),
                      ("train-labels-idx1-ubyte", [1, 2])]:
        write(tmp_path / (stem + ".gz"), idx_bytes(arr))
    with pytest.raises(RuntimeError, match=r"t10k-images-idx3-ubyte.gz: checksum mismatch"):
        datasets.FashionMNIST(str(tmp_path), train=False)


def test_missing_files_say_where_they_were_looked_for(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST_DIR", str(tmp_path / "none"))
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    with pytest.raises(RuntimeError, match="Dataset not found. You can use download=True") as e:
        datasets.FashionMNIST(str(tmp_path))
    assert os.path.join(str(tmp_path), "FashionMNIST", "raw") in str(e.value)
    with pytest.raises(RuntimeError, match="Dataset not found"):
        datasets.MNIST(str(tmp_path))
    assert datasets.find_fashion_mnist(str(tmp_path)) is None


def test_download_without_network_fails_fast_and_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST_DIR", str(tmp_path / "none"))
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    # a closed local port: connection refused at once
    monkeypatch.setattr(datasets.FashionMNIST, "mirrors", ["http://127.0.0.1:9/"])
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="Error downloading train-images-idx3-ubyte.gz") as e:
        datasets.FashionMNIST(str(tmp_path), download=True)
    assert time.monotonic() - start < 10
    assert "127.0.0.1:9" in str(e.value)
    assert not [f for f in os.listdir(tmp_path / "FashionMNIST" / "raw")]   # no partial files

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")
    monkeypatch.setattr(datasets.urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError, match="network is unreachable"):
        datasets.MNIST(str(tmp_path), download=True)


def test_download_checks_md5_of_fetched_file(tmp_path, monkeypatch):
    import io
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST_DIR", str(tmp_path / "none"))
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setattr(datasets.urllib.request, "urlopen",
                        lambda url, timeout=None: io.BytesIO(b"an error page"))
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        datasets.FashionMNIST(str(tmp_path), download=True)
    assert not os.listdir(tmp_path / "FashionMNIST" / "raw")


def test_tensor_dataset_fast_path_from_images():
    images = dlbasic.from_numpy(np.zeros((5, 28, 28), np.uint8))
    ds = TensorDataset(images.float().div(255).unsqueeze(1), dlbasic.arange(5))
    x, y = next(iter(DataLoader(ds, batch_size=5)))
    assert x.shape == (5, 1, 28, 28) and y.tolist() == [0, 1, 2, 3, 4]
