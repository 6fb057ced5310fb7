"""dlbasic.save / dlbasic.load under faults: kill -9 at random moments of a save, bit flips and
truncations at random places, pickle payloads (in plain pickles, in PyTorch's zip and legacy
layouts, in our own archives), and files written by earlier versions.

Every load of a damaged file runs in a child process with a timeout, so a hang fails the test
instead of stalling the run; nothing damaged may ever load silently.
"""
from collections import Counter, OrderedDict
import io
import json
import os
import pathlib
import pickle
import random
import selectors
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
import zlib

import numpy as np
import pytest

import dlbasic
from dlbasic.nn.parameter import Parameter
from dlbasic.serialization import CheckpointError, TruncatedCheckpointError

REPO = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(__file__).resolve().parent / "data"


def _run_child(code, *args, timeout=60):
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=REPO,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return out.stdout


# -- kill -9 at random moments of a save ---------------------------------------------------
SAVER = textwrap.dedent("""
    import sys
    import numpy as np
    import dlbasic

    path = sys.argv[1]
    ws = [dlbasic.zeros(512, 512) for _ in range(4)]            # 4 MiB of float32
    print("READY", flush=True)
    step = 0
    while True:                          # save after save: a kill lands inside one
        step += 1
        for w in ws:
            w._data.fill(step)
        dlbasic.save({"step": step, "ws": ws, "view": ws[0][1:]}, path)
        print(step, flush=True)
""")


def _readline(proc, timeout):
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            raise AssertionError(f"child printed nothing in {timeout} s")
    finally:
        sel.close()
    return proc.stdout.readline()


def _check_consistent(ckpt):
    step = ckpt["step"]
    assert len(ckpt["ws"]) == 4
    for w in ckpt["ws"]:
        assert w.shape == (512, 512) and np.all(w.numpy() == step), step
    assert np.shares_memory(ckpt["view"].numpy(), ckpt["ws"][0].numpy())
    return step


def test_kill_9_at_random_moments_of_save_never_breaks_the_checkpoint(tmp_path):
    rng = random.Random(20240611)
    path = tmp_path / "ckpt.pt"
    stale_seen = 0
    for trial in range(10):
        ws = [dlbasic.zeros(512, 512) for _ in range(4)]
        dlbasic.save({"step": 0, "ws": ws, "view": ws[0][1:]}, path)   # the previous one
        proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert _readline(proc, 30).strip() == "READY", proc.stderr.read()
            time.sleep(rng.uniform(0.0, 0.4))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            done = [int(line) for line in proc.stdout.read().split()]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        step = _check_consistent(dlbasic.load(path))
        # the file holds the last save the child finished, or the one it was renaming
        last = done[-1] if done else 0
        assert last <= step <= last + 1, (trial, step, done[-3:])
        temps = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
        assert all(f"-{proc.pid}-" in n for n in temps), temps
        stale_seen += bool(temps)
        ws = [dlbasic.ones(512, 512) for _ in range(4)]
        dlbasic.save({"step": 1, "ws": ws, "view": ws[0][1:]}, path)   # the next save
        assert os.listdir(tmp_path) == ["ckpt.pt"], trial
        assert _check_consistent(dlbasic.load(path)) == 1
    assert stale_seen >= 1          # most kills land mid-save and leave a temporary behind


# -- damaged files -------------------------------------------------------------------------
DAMAGER = textwrap.dedent("""
    import json, random, sys
    import numpy as np
    import dlbasic

    mode, src, dst, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    data = open(src, "rb").read()
    rng = random.Random(seed)
    if mode == "flip":
        # uniform offsets (mostly tensor bytes) and offsets in the zip structure at both ends
        spots = ([rng.randrange(len(data)) for _ in range(20)] +
                 [rng.randrange(200) for _ in range(10)] +
                 [len(data) - 1 - rng.randrange(400) for _ in range(10)])
    else:
        spots = ([rng.randrange(len(data)) for _ in range(20)] +
                 [len(data) - 1 - rng.randrange(400) for _ in range(10)])
    for spot in spots:
        bad = bytearray(data)
        if mode == "flip":
            bad[spot] ^= 1 << rng.randrange(8)
        else:
            del bad[spot:]
        open(dst, "wb").write(bytes(bad))
        try:
            dlbasic.load(dst)
            outcome = ["loaded"]
        except Exception as e:
            outcome = [type(e).__name__] + [c.__name__ for c in type(e).__mro__] + [str(e)]
        print(json.dumps([spot] + outcome), flush=True)
""")


@pytest.fixture(scope="module")
def few_mb_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "good.pt"
    rng = np.random.default_rng(0)
    w = dlbasic.tensor(rng.standard_normal((256, 1024)).astype(np.float32))
    sd = OrderedDict([("w", Parameter(w)), ("w_t", w.detach().t()),
                      ("b", dlbasic.tensor(rng.standard_normal(1024))),
                      ("steps", dlbasic.tensor(np.arange(100_000, dtype=np.int64))),
                      ("meta", {"epoch": 3, "name": "run"})])
    dlbasic.save(sd, path)
    assert 1 << 20 < path.stat().st_size < 8 << 20
    return path


def _damage(mode, src, tmp_path, seed):
    out = _run_child(DAMAGER, mode, src, tmp_path / "bad.pt", seed, timeout=60)
    return [json.loads(line) for line in out.splitlines()]


def test_bit_flips_at_random_offsets_always_raise(few_mb_checkpoint, tmp_path):
    results = _damage("flip", few_mb_checkpoint, tmp_path, seed=7)
    assert len(results) == 40
    for spot, name, *rest in results:
        assert name != "loaded", f"a bit flip at byte {spot} loaded silently"
        assert {"CheckpointError", "RuntimeError", "UnpicklingError"} <= set(rest), (spot, rest)
        assert "bad.pt" in rest[-1]


def test_truncations_at_random_lengths_always_raise_eof_errors(few_mb_checkpoint, tmp_path):
    results = _damage("cut", few_mb_checkpoint, tmp_path, seed=11)
    assert len(results) == 30
    for length, name, *rest in results:
        assert name == "TruncatedCheckpointError", (length, name, rest[-1])
        assert {"EOFError", "OSError", "RuntimeError", "UnpicklingError"} <= set(rest)


# -- pickle payloads -----------------------------------------------------------------------
class _Payload:
    """Unpickling this creates a marker file: proof that code from the file ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


LOADER = textwrap.dedent("""
    import sys
    import dlbasic
    for path in sys.argv[1:]:
        try:
            dlbasic.load(path)
            print(path, "LOADED")
        except dlbasic.serialization.CheckpointError as e:
            print(path, "REFUSED", str(e).replace(chr(10), " "))
""")


def _seal(archive):
    """Append the trailer dlbasic.save writes, so a crafted zip passes the CRC check."""
    buf = io.BytesIO(archive)
    with zipfile.ZipFile(buf, "a") as zf:
        zf.comment = b"dlbasic-crc32-len:" + b"0" * 24
    data = buf.getvalue()[:-24]
    return data + b"%08x%016x" % (zlib.crc32(data), len(data) + 24)


def test_pickle_payloads_never_execute(tmp_path, few_mb_checkpoint):
    marker = tmp_path / "pwned"
    payload = {"state": _Payload(marker)}
    good = few_mb_checkpoint.read_bytes()
    files = {}
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        files[f"pickle{protocol}.pt"] = pickle.dumps(payload, protocol=protocol)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:              # torch's layout: a pickle in a zip
        zf.writestr("archive/data.pkl", pickle.dumps(payload))
        zf.writestr("archive/version", "3\n")
    files["torch_style.pt"] = buf.getvalue()
    files["torch_style_sealed.pt"] = _seal(buf.getvalue())
    for protocol in (2, 4):                            # STACK_GLOBAL, FRAME, MEMOIZE too
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("archive/data.pkl", pickle.dumps(payload, protocol=protocol))
            zf.writestr("archive/version", "3\n")
        files[f"torch_style_protocol{protocol}.pt"] = buf.getvalue()
    # the legacy (pre-1.6) layout: magic number, protocol, system info, then the object
    legacy = b"".join(pickle.dumps(x, protocol=2) for x in (
        0x1950a86a20f9469cfc6c, 1001, {"protocol_version": 1001, "little_endian": True}))
    files["torch_legacy.pt"] = legacy + pickle.dumps(payload, protocol=2)
    files["torch_legacy_keys.pt"] = legacy + pickle.dumps({}, 2) + pickle.dumps(payload, 2)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:              # the old layout, the header a pickle
        zf.writestr("dlbasic_checkpoint/header.json", pickle.dumps(payload))
    files["pickle_header.pt"] = _seal(buf.getvalue())
    with zipfile.ZipFile(few_mb_checkpoint) as zf:     # a file we wrote, its pickle replaced
        members = {n: zf.read(n) for n in zf.namelist()}
    members["archive/data.pkl"] = pickle.dumps(payload, protocol=2)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    files["ours_pickle_replaced.pt"] = _seal(buf.getvalue())
    files["pickle_then_checkpoint.pt"] = pickle.dumps(payload) + good
    files["checkpoint_then_pickle.pt"] = good + pickle.dumps(payload)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    out = _run_child(LOADER, *[tmp_path / n for n in files])
    verdicts = dict(line.split(" ", 1) for line in out.splitlines())
    assert len(verdicts) == len(files)
    for name in files:
        assert verdicts[str(tmp_path / name)].startswith("REFUSED"), (name, verdicts)
    assert not marker.exists()
    pickle.loads(files["pickle2.pt"])                  # the weapon is real: pickle runs it
    assert marker.exists()


# -- files written by earlier versions -----------------------------------------------------
def test_checkpoints_written_by_version_1_still_load(tmp_path):
    # data/checkpoint_v1.pt was written by dlbasic.save as of commit b88d776 (format version
    # 1: one compact member per tensor, no trailer) from exactly these values
    path = DATA / "checkpoint_v1.pt"
    with zipfile.ZipFile(path) as zf:
        assert json.loads(zf.read("dlbasic_checkpoint/header.json"))["version"] == 1
    ck = dlbasic.load(path)
    assert type(ck["w"]) is Parameter and ck["w"].requires_grad and ck["w_again"] is ck["w"]
    np.testing.assert_array_equal(ck["w"].detach().numpy(),
                                  np.arange(12, dtype=np.float32).reshape(3, 4) / 4)
    assert type(ck["frozen"]) is Parameter and not ck["frozen"].requires_grad
    assert ck["frozen"].tolist() == [1.5, -2.5] and ck["frozen"].dtype == dlbasic.float64
    assert ck["t_grad"].requires_grad and ck["t_grad"].is_leaf
    assert ck["i64"].tolist() == [[-3, 4], [5, 2 ** 40]] and ck["i64"].dtype == dlbasic.int64
    assert ck["flags"].tolist() == [True, False, True]
    assert ck["half0d"].shape == () and ck["half0d"].dtype == dlbasic.float16
    assert ck["u8"].tolist() == [0, 1, 2, 3, 4] and ck["view"].tolist() == [2.0, 4.0, 6.0]
    assert isinstance(ck["arr"], np.ndarray) and ck["arr"].dtype == np.int16
    assert ck["arr"].tolist() == [[0, 1, 2], [3, 4, 5]]
    nested = ck["nested"]
    assert type(nested) is OrderedDict and list(nested) == ["list", "tuple", "set", "fs", "c"]
    assert nested["list"] == [1, 2.5, None, True] and nested["tuple"] == (1, "two")
    assert nested["set"] == {3, 4} and nested["fs"] == frozenset({"a"})
    assert nested["c"] == Counter("aab") and type(nested["c"]) is Counter
    assert ck["bytes"] == b"\x00\xffab" and np.isnan(ck["nan"]) and ck["inf"] == -np.inf
    assert ck["dtype"] == dlbasic.float32 and str(ck["device"]) == "cpu"
    assert ck["size"] == dlbasic.Size([2, 3]) and ck["empty"].shape == (0, 3)
    ck["w"].detach().add_(1)                     # loaded memory is writable
    # and they get the same protection as before: damage is refused, cut files are EOFErrors
    data = path.read_bytes()
    pos = data.find(np.float32(2.75).tobytes())
    assert pos > 0
    bad = bytearray(data)
    bad[pos] ^= 0x01
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(bad))
    with pytest.raises(CheckpointError, match="corrupt|CRC"):
        dlbasic.load(damaged)
    damaged.write_bytes(data[:len(data) // 2])
    with pytest.raises(TruncatedCheckpointError):
        dlbasic.load(damaged)


def test_checkpoints_written_by_version_2_still_load(tmp_path):
    # data/checkpoint_v2.pt was written by dlbasic.save as of commit c54103e (format version
    # 2: JSON header, storages shared by views, CRC-32 trailer) from exactly these values
    path = DATA / "checkpoint_v2.pt"
    with zipfile.ZipFile(path) as zf:
        assert json.loads(zf.read("dlbasic_checkpoint/header.json"))["version"] == 2
        assert zf.comment.startswith(b"dlbasic-crc32-len:")
    ck = dlbasic.load(path)
    assert list(ck)[:3] == ["w", "w_again", "frozen"]
    assert type(ck["w"]) is Parameter and ck["w"].requires_grad and ck["w_again"] is ck["w"]
    np.testing.assert_array_equal(ck["w"].detach().numpy(),
                                  np.arange(12, dtype=np.float32).reshape(3, 4) / 4)
    assert type(ck["frozen"]) is Parameter and not ck["frozen"].requires_grad
    assert ck["frozen"].tolist() == [1.5, -2.5] and ck["frozen"].dtype == dlbasic.float64
    assert ck["t_grad"].requires_grad and ck["t_grad"].tolist() == [0.5, 0.25]
    assert ck["i64"].tolist() == [[-3, 4], [5, 2 ** 40]] and ck["i64"].dtype == dlbasic.int64
    assert ck["flags"].tolist() == [True, False, True]
    assert ck["half0d"].shape == () and ck["half0d"].dtype == dlbasic.float16
    assert ck["u8"].tolist() == [0, 1, 2, 3, 4] and ck["u8"].dtype == dlbasic.uint8
    # version 2's shared storages: the views still view their base
    base, tail, t, step3 = ck["base"], ck["tail"], ck["t"], ck["step3"]
    assert tail.tolist() == list(range(1, 10)) and step3.tolist() == [0, 3, 6, 9]
    assert t.tolist() == [[0, 5], [1, 6], [2, 7], [3, 8], [4, 9]]
    base.add_(100)
    assert tail.tolist()[0] == 101 and step3.tolist()[1] == 103 and t.tolist()[0] == [100, 105]
    assert isinstance(ck["arr"], np.ndarray) and ck["arr"].tolist() == [[0, 1, 2], [3, 4, 5]]
    nested = ck["nested"]
    assert type(nested) is OrderedDict and nested["set"] == {3, 4}
    assert nested["c"] == Counter("aab") and nested["fs"] == frozenset({"a"})
    assert ck["bytes"] == b"\x00\xffab" and np.isnan(ck["nan"]) and ck["inf"] == -np.inf
    assert ck["dtype"] == dlbasic.float32 and str(ck["device"]) == "cpu"
    assert ck["size"] == dlbasic.Size([2, 3]) and ck["empty"].shape == (0, 3)
    # and the same protection: damage is refused, cut files are EOFErrors
    data = path.read_bytes()
    pos = data.find(np.float32(2.75).tobytes())
    assert pos > 0
    bad = bytearray(data)
    bad[pos] ^= 0x01
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(bad))
    with pytest.raises(CheckpointError, match="corrupt|CRC"):
        dlbasic.load(damaged)
    damaged.write_bytes(data[:len(data) // 2])
    with pytest.raises(TruncatedCheckpointError):
        dlbasic.load(damaged)


@pytest.mark.parametrize("fixture", ["checkpoint_v1.pt", "checkpoint_v2.pt"])
def test_old_checkpoint_resaved_is_in_pytorch_format_and_equal(tmp_path, fixture):
    ck = dlbasic.load(DATA / fixture)
    dlbasic.save(ck, tmp_path / "new.pt")
    with zipfile.ZipFile(tmp_path / "new.pt") as zf:
        names = zf.namelist()
        assert "archive/data.pkl" in names and "archive/version" in names
        assert not any(n.startswith("dlbasic_checkpoint/") for n in names)
        assert zf.comment.startswith(b"dlbasic-crc32-len:")
    again = dlbasic.load(tmp_path / "new.pt")
    assert again["w_again"] is again["w"] and list(again) == list(ck)
    assert type(again["w"]) is Parameter and type(again["nested"]) is OrderedDict
    assert isinstance(again["arr"], np.ndarray) and again["nested"]["c"] == Counter("aab")
    np.testing.assert_array_equal(again["i64"].numpy(), ck["i64"].numpy())
    np.testing.assert_array_equal(again["w"].detach().numpy(), ck["w"].detach().numpy())
