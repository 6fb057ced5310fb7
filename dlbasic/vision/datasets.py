"""Vision datasets: MNIST and Fashion-MNIST from their IDX files, and FakeData.

IDX format (LeCun): a big-endian header -- magic number (0x00 0x00, a type code, the number of
dimensions) then one uint32 per dimension -- followed by the raw values. Labels are 2049
(unsigned bytes, 1 dim), images 2051 (unsigned bytes, 3 dims). Every check names the file, so
a truncated download or a wrong file says what is wrong instead of failing inside NumPy.
"""
import gzip
import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zlib

import numpy as np

from .._tensor import Tensor
from ..utils.data import Dataset

__all__ = ["MNIST", "FashionMNIST", "FakeData", "find_fashion_mnist", "read_idx"]

# Where the Debian package ``dataset-fashion-mnist`` installs the files.
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_DOWNLOAD_TIMEOUT = 10.0          # seconds per connection attempt

_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_MAGIC = {1: 2049, 3: 2051}    # labels, images


def _candidates(directory, stem):
    return [os.path.join(directory, stem + ".gz"), os.path.join(directory, stem)]


def _find_file(directory, stem):
    for path in _candidates(directory, stem):
        if os.path.isfile(path):
            return path
    return None


def _has_all_files(directory):
    return directory is not None and os.path.isdir(directory) and all(
        _find_file(directory, stem) for stems in _FILES.values() for stem in stems)


def find_fashion_mnist(explicit_dir=None):
    """The directory holding the four Fashion-MNIST IDX files, or ``None``.

    Looks in ``explicit_dir`` (and its torchvision layout ``FashionMNIST/raw``), then
    ``$FASHION_MNIST_DIR``, then the Debian package's ``/usr/share/datasets/fashion-mnist``.
    """
    for base in (explicit_dir, os.environ.get("FASHION_MNIST_DIR"), DEBIAN_FASHION_MNIST_DIR):
        if not base:
            continue
        for d in (base, os.path.join(base, "FashionMNIST", "raw")):
            if _has_all_files(d):
                return d
    return None


# -- IDX parsing ---------------------------------------------------------------------------
# The reader streams: it parses the header first, checks it, then reads exactly the declared
# number of bytes in bounded chunks (plus one chunk to detect trailing data), so a hostile or
# damaged file -- a small .gz that inflates to gigabytes, a header declaring absurd sizes --
# is refused without inflating it or allocating more than its checked declared size.

_IDX_TYPES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16", 0x0C: "int32",
              0x0D: "float32", 0x0E: "float64"}
_IDX_CHUNK = 1 << 20
_IDX_MAX_BYTES = 1 << 32          # 4 GiB: far beyond any IDX data set (EMNIST's largest: 0.55)
_DEFLATE_MAX_RATIO = 1032         # deflate turns one compressed byte into at most ~1032 bytes


def _corrupt_gzip(name, e):
    return RuntimeError(f"{name}: corrupt or truncated gzip stream ({e}); delete the file "
                        f"and download it again")


def _read_some(f, n):
    """Up to ``n`` bytes, fewer only at the end of the stream."""
    parts, got = [], 0
    while got < n:
        b = f.read(n - got)
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def _check_magic(head, name, ndim):
    expected_magic = _IDX_MAGIC[ndim]
    magic = int.from_bytes(head, "big")
    if magic == expected_magic:
        return
    kind = "labels" if ndim == 1 else "images"
    why = []
    if head[:2] != b"\0\0":
        why.append("an IDX file starts with two zero bytes")
    elif head[2] != 0x08:
        why.append(f"the header declares data type 0x{head[2]:02x} "
                   f"({_IDX_TYPES.get(head[2], 'unknown')})")
    if head[:2] == b"\0\0" and head[3] != ndim:
        why.append(f"the header declares {head[3]} dimensions" +
                   (" (an IDX file has 1 to 4)" if not 1 <= head[3] <= 4 else ""))
    raise RuntimeError(f"{name}: bad magic number {magic}, expected {expected_magic} "
                       f"(IDX {kind} file of unsigned bytes)" +
                       (": " + "; ".join(why) if why else ""))


def _read_idx_stream(f, name, ndim, size, compressed, md5):
    """Header, checks, then exactly the declared payload from ``f``; returns (array, md5)."""
    header_len = 4 + 4 * ndim
    head = _read_some(f, 4)
    if len(head) == 4:
        _check_magic(head, name, ndim)
        head += _read_some(f, 4 * ndim)
    if len(head) < header_len:
        raise RuntimeError(f"{name}: truncated: expected a {header_len}-byte IDX header, got "
                           f"{len(head)} bytes")
    dims = tuple(int.from_bytes(head[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if ndim == 3 and dims[1:] != (28, 28):
        raise RuntimeError(f"{name}: images are {dims[1]}x{dims[2]}, expected 28x28")
    count = 1
    for d in dims:
        count *= d
    expected = header_len + count
    if count > _IDX_MAX_BYTES:
        raise RuntimeError(f"{name}: the header declares dimensions {dims}, {count} bytes of "
                           f"data: more than any IDX data set (limit {_IDX_MAX_BYTES}); the "
                           f"header is corrupt")
    if compressed and expected > size * _DEFLATE_MAX_RATIO + 1024:
        raise RuntimeError(f"{name}: the header declares dimensions {dims}, {expected} bytes, "
                           f"but a {size}-byte gzip file can hold at most about "
                           f"{size * _DEFLATE_MAX_RATIO} bytes: the file is truncated or its "
                           f"header corrupt")
    if not compressed and size != expected:     # the file size says it all, before reading
        if size < expected:
            raise RuntimeError(f"{name}: truncated: expected {expected} bytes, got {size}")
        raise RuntimeError(f"{name}: {size - expected} unexpected trailing bytes: expected "
                           f"{expected} bytes, got {size}")
    digest = hashlib.md5(head) if md5 is not None else None
    arr = np.empty(count, dtype=np.uint8)
    view = memoryview(arr)
    pos = 0
    while pos < count:
        chunk = f.read(min(_IDX_CHUNK, count - pos))
        if not chunk:
            raise RuntimeError(f"{name}: truncated: expected {expected} bytes, got "
                               f"{header_len + pos}")
        view[pos:pos + len(chunk)] = chunk
        if digest is not None:
            digest.update(chunk)
        pos += len(chunk)
    extra = _read_some(f, _IDX_CHUNK)       # one chunk at most: never inflate the rest
    if extra:
        more = "at least " if len(extra) == _IDX_CHUNK else ""
        raise RuntimeError(f"{name}: {more}{len(extra)} unexpected trailing bytes: expected "
                           f"{expected} bytes, got {more}{expected + len(extra)}")
    return arr.reshape(dims), (digest.hexdigest() if digest is not None else None)


def read_idx(path, ndim, md5=None):
    """Parse one IDX file (``.gz`` or not); ``md5`` checks the uncompressed bytes.

    Every problem raises a ``RuntimeError`` naming the file: a bad header (magic number, data
    type, number or sizes of dimensions), a size that disagrees with the header, a corrupt or
    truncated gzip stream, a checksum mismatch.
    """
    name = os.path.basename(path)
    compressed = path.endswith(".gz")
    try:
        with open(path, "rb") as raw:
            size = os.fstat(raw.fileno()).st_size
            if compressed:
                with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                    arr, got = _read_idx_stream(f, name, ndim, size, True, md5)
            else:
                arr, got = _read_idx_stream(raw, name, ndim, size, False, md5)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise _corrupt_gzip(name, e) from None
    except OSError as e:
        raise RuntimeError(f"{name}: could not read {path}: {e}") from None
    if md5 is not None and got != md5:
        raise RuntimeError(f"{name}: checksum mismatch: MD5 of the uncompressed data is "
                           f"{got}, expected {md5} ({path} is corrupt or not the "
                           f"official file)")
    arr.flags.writeable = False         # shared through the cache: nobody may modify it
    return arr


_CACHE = {}


def _load_idx_cached(path, ndim, md5):
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns, md5)
    arr = _CACHE.get(key)
    if arr is None:
        arr = read_idx(path, ndim, md5)
        _CACHE[key] = arr
    return arr


def _md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# -- datasets ------------------------------------------------------------------------------

class MNIST(Dataset):
    """MNIST handwritten digits (torchvision's signature): 60,000 train / 10,000 test images.

    ``data`` is a uint8 tensor (N, 28, 28), ``targets`` an int64 tensor (N,). Without a
    transform a sample is ``(img, target)`` with ``img`` a uint8 NumPy array (28, 28);
    ``transforms.ToTensor()`` turns it into a float32 (1, 28, 28) tensor in [0, 1].
    """

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"]
    # MD5 of the .gz files as published (torchvision's list), used to verify downloads
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    # MD5 of the uncompressed files: also valid for re-compressed copies (Debian's .gz files
    # differ byte-wise from the originals but decompress to the same data)
    raw_md5 = {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    }
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root, train=True, transform=None, target_transform=None,
                 download=False):
        self.root = os.path.expanduser(str(root)) if root is not None else None
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        directory = self._find_dir()
        if directory is None and download:
            self.download()
            directory = self._find_dir()
        if directory is None:
            raise RuntimeError(f"Dataset not found. You can use download=True to download it. "
                               f"Looked for {self._file_list()} in: "
                               f"{', '.join(self._search_dirs())}")
        self.data_dir = directory
        images, labels = self._load(directory)
        self.data = Tensor._make(images.copy())
        self.targets = Tensor._make(labels.astype(np.int64))

    # where the files may be: root, torchvision's root/<Name>/raw, then system locations
    @property
    def raw_folder(self):
        return os.path.join(self.root or ".", self.__class__.__name__, "raw")

    def _fallback_dirs(self):
        return []

    def _search_dirs(self):
        dirs = [self.root, self.raw_folder] if self.root else []
        return [d for d in dirs + self._fallback_dirs() if d]

    def _file_list(self):
        return [s + ".gz" for stems in _FILES.values() for s in stems]

    def _find_dir(self):
        for d in self._search_dirs():
            if _has_all_files(d):
                return d
        return None

    def _load(self, directory):
        img_stem, lbl_stem = _FILES[bool(self.train)]
        img_path = _find_file(directory, img_stem)
        lbl_path = _find_file(directory, lbl_stem)
        images = _load_idx_cached(img_path, 3, self.raw_md5.get(img_stem))
        labels = _load_idx_cached(lbl_path, 1, self.raw_md5.get(lbl_stem))
        if len(images) != len(labels):
            raise RuntimeError(f"{os.path.basename(img_path)} has {len(images)} images but "
                               f"{os.path.basename(lbl_path)} has {len(labels)} labels")
        if labels.size and int(labels.max()) >= len(self.classes):
            raise RuntimeError(f"{os.path.basename(lbl_path)}: label {int(labels.max())} out "
                               f"of range for {len(self.classes)} classes")
        return images, labels

    def download(self):
        """Fetch the four ``.gz`` files into ``raw_folder`` (MD5-checked, written atomically)."""
        if self.root is None:
            raise RuntimeError("download=True needs a root directory")
        os.makedirs(self.raw_folder, exist_ok=True)
        for filename, md5 in self.resources:
            target = os.path.join(self.raw_folder, filename)
            if os.path.isfile(target) and _md5_file(target) == md5:
                continue
            errors = []
            for mirror in self.mirrors:
                url = mirror + filename
                try:
                    self._fetch(url, target, md5)
                    break
                except (urllib.error.URLError, http.client.HTTPException, OSError,
                        ValueError) as e:
                    errors.append(f"{url}: {e}")
            else:
                raise RuntimeError(
                    f"Error downloading {filename}: " + "; ".join(errors) +
                    f". Without network access, copy the IDX files into {self.raw_folder}"
                    + (" or install the Debian package dataset-fashion-mnist"
                       if isinstance(self, FashionMNIST) else ""))

    @staticmethod
    def _fetch(url, target, md5):
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, \
                    urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT) as resp:
                shutil.copyfileobj(resp, out)
            got = _md5_file(tmp)
            if got != md5:
                raise ValueError(f"checksum mismatch: MD5 {got}, expected {md5}")
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    @property
    def class_to_idx(self):
        return {c: i for i, c in enumerate(self.classes)}

    def __getitem__(self, index):
        images = self.data._data if isinstance(self.data, Tensor) else np.asarray(self.data)
        targets = self.targets._data if isinstance(self.targets, Tensor) \
            else np.asarray(self.targets)
        img, target = images[index].copy(), int(targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        lines = [f"Dataset {self.__class__.__name__}",
                 f"    Number of datapoints: {len(self)}",
                 f"    Root location: {self.root}",
                 f"    Split: {'Train' if self.train else 'Test'}"]
        if self.transform is not None:
            lines.append("    Transform: " + repr(self.transform).replace("\n", "\n    "))
        if self.target_transform is not None:
            lines.append("    Target transform: " + repr(self.target_transform))
        return "\n".join(lines)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: MNIST's format and sizes, ten kinds of clothing.

    Besides ``root`` and ``root/FashionMNIST/raw`` it finds ``$FASHION_MNIST_DIR`` and the
    Debian package's ``/usr/share/datasets/fashion-mnist``.
    """

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    raw_md5 = {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    }
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]

    def _fallback_dirs(self):
        return [d for d in (os.environ.get("FASHION_MNIST_DIR"), DEBIAN_FASHION_MNIST_DIR) if d]


class FakeData(Dataset):
    """Random images and labels, deterministic per index (torchvision's FakeData).

    Sample ``i`` is drawn from its own generator seeded with ``i + random_offset``, so it does
    not touch the global random state and is the same in every process. The image is a uint8
    NumPy array (H, W, C), or (H, W) for one channel, like a decoded picture.
    """

    def __init__(self, size=1000, image_size=(3, 224, 224), num_classes=10, transform=None,
                 target_transform=None, random_offset=0):
        self.size = size
        self.image_size = tuple(image_size)
        self.num_classes = num_classes
        self.transform = transform
        self.target_transform = target_transform
        self.random_offset = random_offset

    def __getitem__(self, index):
        if index < 0:
            index += self.size
        if not 0 <= index < self.size:
            raise IndexError(f"{self.__class__.__name__} index out of range")
        rng = np.random.default_rng(index + self.random_offset)
        c, h, w = self.image_size
        img = rng.integers(0, 256, size=(h, w, c), dtype=np.uint8)
        if c == 1:
            img = img[:, :, 0]
        target = int(rng.integers(0, self.num_classes))
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return self.size
