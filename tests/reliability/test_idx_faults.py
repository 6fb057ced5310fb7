"""The IDX reader on hostile and damaged files: decompression bombs, lying headers, broken
gzip streams. Each must fail fast with a RuntimeError naming the file, and never use memory
beyond the size the header declares (after that size has been checked for sanity)."""
import gzip
import hashlib
import os
import random
import subprocess
import sys
import textwrap
import time
import tracemalloc
import zlib

import numpy as np
import pytest

from dlbasic.vision import datasets

MiB = 1 << 20


def idx_header(magic, dims):
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)


def write_gz(path, data, level=9):
    path.write_bytes(gzip.compress(data, compresslevel=level))
    return str(path)


def peak_memory_of(fn):
    """(exception raised by fn or None, peak bytes allocated while it ran)."""
    tracemalloc.start()
    try:
        fn()
    except Exception as e:              # noqa: BLE001 - the caller checks what it was
        raised = e
    else:
        raised = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return raised, peak


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    """A 0.4 MB .gz: a header declaring 100 labels, the 100 labels, then 400 MB of zeros."""
    path = tmp_path_factory.mktemp("bomb") / "train-labels-idx1-ubyte.gz"
    z = zlib.compressobj(9, zlib.DEFLATED, 31)          # 31: gzip container
    zeros = bytes(MiB)
    with open(path, "wb") as f:
        f.write(z.compress(idx_header(2049, [100]) + bytes(range(100))))
        for _ in range(400):
            f.write(z.compress(zeros))
        f.write(z.flush())
    assert os.path.getsize(path) < MiB
    return str(path)


# -- decompression bombs -------------------------------------------------------------------

def test_gzip_bomb_is_refused_without_inflating_it(bomb):
    t0 = time.perf_counter()
    raised, peak = peak_memory_of(lambda: datasets.read_idx(bomb, 1))
    elapsed = time.perf_counter() - t0
    assert isinstance(raised, RuntimeError), raised
    msg = str(raised)
    assert "train-labels-idx1-ubyte.gz" in msg and "unexpected trailing bytes" in msg
    assert "expected 108 bytes" in msg
    assert peak < 50 * MiB, f"peak {peak / MiB:.0f} MiB"      # 800 MiB before streaming
    assert elapsed < 5.0                                       # it read 1 MiB, not 400


def test_gzip_bomb_with_md5_check_still_streams(bomb):
    # the checksum is computed while streaming, never over a full in-memory copy
    raised, peak = peak_memory_of(lambda: datasets.read_idx(bomb, 1, md5="0" * 32))
    assert isinstance(raised, RuntimeError) and "trailing" in str(raised)
    assert peak < 50 * MiB, f"peak {peak / MiB:.0f} MiB"


BOMB_CHILD = textwrap.dedent("""
    import sys
    from dlbasic.vision import datasets

    def peak_rss_kib():
        # VmHWM is this process's own peak; getrusage's ru_maxrss would start from the
        # parent's peak, inherited across fork and exec
        with open("/proc/self/status") as f:
            return int(next(line for line in f if line.startswith("VmHWM")).split()[1])

    before = peak_rss_kib()
    try:
        datasets.read_idx(sys.argv[1], 1)
    except RuntimeError as e:
        print("RAISED", e)
    print("GROWTH_KIB", peak_rss_kib() - before)
""")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_gzip_bomb_resident_memory_growth_is_small(bomb):
    # RSS also counts what tracemalloc cannot see (zlib's buffers, NumPy's allocations)
    out = subprocess.run([sys.executable, "-c", BOMB_CHILD, bomb], capture_output=True,
                         text=True, timeout=60,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert out.returncode == 0, out.stderr
    assert "RAISED" in out.stdout and "trailing" in out.stdout
    growth_kib = int(out.stdout.split("GROWTH_KIB")[1])
    assert growth_kib < 50 * 1024, f"RSS grew by {growth_kib / 1024:.0f} MiB"


def test_plain_file_with_huge_trailing_data_is_refused_from_its_size(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_header(2049, [100]) + bytes(100))
    os.truncate(path, 400 * MiB)                  # sparse: 400 MB of zeros, no disk used
    raised, peak = peak_memory_of(lambda: datasets.read_idx(str(path), 1))
    assert isinstance(raised, RuntimeError)
    assert f"labels: {400 * MiB - 108} unexpected trailing bytes: expected 108 bytes" \
        in str(raised)
    assert peak < 1 * MiB


# -- lying headers -------------------------------------------------------------------------

def test_header_declaring_more_than_the_gzip_can_hold_is_refused_before_allocating(tmp_path):
    # 3 GB of labels declared in a file of a few dozen bytes: refused from the file size
    p = write_gz(tmp_path / "liar.gz", idx_header(2049, [3_000_000_000]) + bytes(10))
    raised, peak = peak_memory_of(lambda: datasets.read_idx(p, 1))
    assert isinstance(raised, RuntimeError)
    assert "liar.gz: the header declares dimensions (3000000000,)" in str(raised)
    assert "can hold at most" in str(raised)
    assert peak < 1 * MiB


def test_absurd_declared_sizes_are_refused(tmp_path):
    # 2**32 - 1 images of 28x28: 3.4 TB, beyond any IDX data set whatever the file size
    p = write_gz(tmp_path / "huge.gz", idx_header(2051, [2 ** 32 - 1, 28, 28]))
    raised, peak = peak_memory_of(lambda: datasets.read_idx(p, 3))
    assert isinstance(raised, RuntimeError)
    assert "huge.gz: the header declares dimensions (4294967295, 28, 28)" in str(raised)
    assert "more than any IDX data set" in str(raised)
    assert peak < 1 * MiB
    # a plain file's size is known exactly: a header declaring more is truncated at once
    q = tmp_path / "huge"
    q.write_bytes(idx_header(2049, [2 ** 31]) + bytes(5))
    with pytest.raises(RuntimeError, match=r"huge: truncated: expected 2147483656 bytes, "
                                           r"got 13"):
        datasets.read_idx(str(q), 1)


@pytest.mark.parametrize("head,message", [
    (idx_header(2051, [3, 28, 28]), "bad magic number 2051, expected 2049 .*declares 3 dim"),
    ((0x0800).to_bytes(4, "big"), "bad magic number 2048, expected 2049 .*declares 0 "
                                  r"dimensions \(an IDX file has 1 to 4\)"),
    (idx_header(0x0805, [1, 1, 1, 1, 1]), r"bad magic number 2053.*declares 5 dimensions "
                                          r"\(an IDX file has 1 to 4\)"),
    (idx_header(0x0D01, [4]), r"bad magic number 3329, expected 2049 .*data type 0x0d "
                              r"\(float32\)"),
    (idx_header(0x1F8B0801, [4]), "bad magic number 529205249.*starts with two zero bytes"),
    (b"\x00\x00\x08", "truncated: expected a 8-byte IDX header, got 3 bytes"),
    (idx_header(2049, [4])[:6], "truncated: expected a 8-byte IDX header, got 6 bytes"),
    (b"", "truncated: expected a 8-byte IDX header, got 0 bytes"),
    (idx_header(2049, [10]) + bytes(4), "truncated: expected 18 bytes, got 12"),
])
@pytest.mark.parametrize("compress", [True, False])
def test_hostile_headers_give_clear_errors(tmp_path, head, message, compress):
    name = "f.gz" if compress else "f"
    p = tmp_path / name
    p.write_bytes(gzip.compress(head) if compress else head)
    with pytest.raises(RuntimeError, match=f"^{name}: {message}"):
        datasets.read_idx(str(p), 1)


# -- broken gzip streams -------------------------------------------------------------------

def _good_gz(n=300):
    data = idx_header(2051, [n, 28, 28]) + np.random.default_rng(0).integers(
        0, 256, n * 784, dtype=np.uint8).tobytes()
    return data, gzip.compress(data, compresslevel=6)


@pytest.mark.parametrize("damage", ["not gzip", "truncated", "crc", "length", "empty body"])
def test_broken_gzip_streams_are_reported_as_such(tmp_path, damage):
    _, good = _good_gz()
    bad = {"not gzip": b"definitely not a gzip file, just some text",
           "truncated": good[:len(good) * 2 // 3],
           "crc": good[:-8] + bytes([good[-8] ^ 0x01]) + good[-7:],
           "length": good[:-4] + bytes([good[-4] ^ 0x01]) + good[-3:],
           "empty body": good[:10]}[damage]
    p = tmp_path / "x-idx3-ubyte.gz"
    p.write_bytes(bad)
    with pytest.raises(RuntimeError, match="^x-idx3-ubyte.gz: corrupt or truncated gzip "
                                           "stream .*download it again"):
        datasets.read_idx(str(p), 3)


def test_random_bit_flips_in_a_gzip_file_always_raise(tmp_path):
    # a gzip header's flag byte (3: its text hint and reserved bits), mtime, extra flags and OS
    # byte (4..9) are not covered by its CRC and change nothing; every other byte is checked:
    # a flip there must be refused, never return different data
    data, good = _good_gz()
    rng = random.Random(1234)
    p = tmp_path / "flip-idx3-ubyte.gz"
    for _ in range(40):
        bad = bytearray(good)
        pos = rng.choice([rng.randrange(0, 3), rng.randrange(10, len(good))])
        bad[pos] ^= 1 << rng.randrange(8)
        p.write_bytes(bytes(bad))
        t0 = time.perf_counter()
        with pytest.raises(RuntimeError, match="^flip-idx3-ubyte.gz: "):
            datasets.read_idx(str(p), 3)
        assert time.perf_counter() - t0 < 5.0


def test_md5_is_computed_over_the_streamed_bytes(tmp_path):
    data, good = _good_gz()
    p = tmp_path / "ok-idx3-ubyte.gz"
    p.write_bytes(good)
    arr = datasets.read_idx(str(p), 3, md5=hashlib.md5(data).hexdigest())
    assert arr.shape == (300, 28, 28) and arr.tobytes() == data[16:]
    assert not arr.flags.writeable
    with pytest.raises(RuntimeError, match="ok-idx3-ubyte.gz: checksum mismatch: MD5 of the "
                                           f"uncompressed data is {hashlib.md5(data).hexdigest()}"):
        datasets.read_idx(str(p), 3, md5="0" * 32)


def test_valid_file_needs_little_more_than_its_array(tmp_path):
    n = 20_000                                     # 15.7 MB of images
    data = idx_header(2051, [n, 28, 28]) + bytes(n * 784)
    p = tmp_path / "big-idx3-ubyte.gz"
    p.write_bytes(gzip.compress(data, compresslevel=1))
    result = []
    raised, peak = peak_memory_of(lambda: result.append(datasets.read_idx(str(p), 3)))
    assert raised is None and result[0].shape == (n, 28, 28)
    # the array itself plus a few 1 MiB chunks in flight (gzip's buffers, the copy into the
    # array); inflating the whole file first needed twice the array
    assert peak < n * 784 + 8 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_loader_reads_synthetic_files_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST_DIR", str(tmp_path / "none"))
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    d = tmp_path / "some" / "where"
    d.mkdir(parents=True)
    imgs = np.random.default_rng(1).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    for split in ("train", "t10k"):
        write_gz(d / f"{split}-images-idx3-ubyte.gz", idx_header(2051, [3, 28, 28]) +
                 imgs.tobytes())
        (d / f"{split}-labels-idx1-ubyte").write_bytes(idx_header(2049, [3]) + bytes([1, 2, 3]))
    class Synthetic(datasets.MNIST):
        raw_md5 = {}                               # not the official files: no checksums

    ds = Synthetic(str(d), train=False)
    assert len(ds) == 3 and ds.targets.tolist() == [1, 2, 3]
    assert np.array_equal(ds.data.numpy(), imgs)
