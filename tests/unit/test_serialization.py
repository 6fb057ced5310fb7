"""dlbasic.save / dlbasic.load: round trips, atomic writes, and refusal of unsafe/corrupt files."""
from collections import Counter, OrderedDict
import io
import errno
import json
import math
import os
import pathlib
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import warnings
import zipfile
import zlib

import numpy as np
import pytest

import dlbasic
from dlbasic import nn
import dlbasic.serialization as S
from dlbasic.nn.parameter import Parameter
from dlbasic.serialization import CheckpointError, TruncatedCheckpointError

HEADER = "dlbasic_checkpoint/header.json"    # of version-1/2 files: still read, no longer written
V2_FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "reliability/data/checkpoint_v2.pt"


def _round_trip(obj, tmp_path=None):
    if tmp_path is None:
        buf = io.BytesIO()
        dlbasic.save(obj, buf)
        buf.seek(0)
        return dlbasic.load(buf)
    path = tmp_path / "ckpt.pt"
    dlbasic.save(obj, path)
    return dlbasic.load(path)


def _assert_same_tensor(a, b):
    assert type(a) is type(b)
    assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


# -- round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int16", "int32",
                                   "int64", "uint8", "bool"])
@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3, 4), (3, 0, 2)])
def test_tensor_round_trip_keeps_dtype_shape_and_values(dtype, shape):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal(shape) * 50).astype(dtype)
    t = dlbasic.tensor(arr)
    back = _round_trip(t)
    _assert_same_tensor(back, t)


def test_non_contiguous_views_round_trip_as_their_values():
    base = dlbasic.tensor(np.arange(60, dtype=np.float32).reshape(3, 4, 5))
    views = {"T": base.detach().permute(2, 0, 1), "strided": base.detach()[:, ::2, 1::2],
             "step3": dlbasic.tensor(np.arange(10.0)).detach()[::3]}
    back = _round_trip(views)
    for k, v in views.items():
        _assert_same_tensor(back[k], v)
    # a view that overlaps no other saved tensor is stored compactly, as its values
    assert back["step3"]._data.flags.c_contiguous and back["step3"]._data.flags.owndata
    # two views of one buffer keep sharing it (and their strides), as in torch
    assert np.shares_memory(back["T"]._data, back["strided"]._data)
    assert back["T"]._data.strides == views["T"]._data.strides


def test_nested_containers_round_trip_exactly(tmp_path):
    w = dlbasic.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    obj = OrderedDict([
        ("model", OrderedDict([("fc.weight", w), ("fc.bias", dlbasic.zeros(2))])),
        ("optimizer", {"state": {0: {"step": dlbasic.tensor(3.0), "buf": dlbasic.ones(2)}},
                       "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1],
                                         "nesterov": False, "foreach": None}]}),
        ("epoch", 7), ("big", 2 ** 80), ("neg", -3), ("name", "résumé ✓"),
        ("floats", [0.1, -0.0, float("inf"), -float("inf"), 1e-310, 1.7976931348623157e308]),
        ("nested", [[[(1, [2, {"a": (None,)}])]]]), ("empty", [(), [], {}]),
        ("raw", b"\x00\xffbytes"), ("flags", (True, False)), ("milestones", Counter([3, 3, 7])),
        ("tags", {1, 2, 3}), ("frozen", frozenset({"a"})),
        (3, "int key"), ((1, 2), "tuple key"), (None, "none key"), (2.5, "float key"),
        ("dtype", dlbasic.float16), ("shape", dlbasic.Size([2, 3])),
        ("np_scalars", [np.float32(1.5), np.int64(4), np.bool_(True)]),
    ])
    back = _round_trip(obj, tmp_path)
    assert type(back) is OrderedDict and list(back) == list(obj)
    assert type(back["model"]) is OrderedDict
    _assert_same_tensor(back["model"]["fc.weight"], w)
    assert back["optimizer"]["param_groups"] == obj["optimizer"]["param_groups"]
    assert isinstance(back["optimizer"]["param_groups"][0]["betas"], tuple)
    assert list(back["optimizer"]["state"]) == [0]
    for key in ("epoch", "big", "neg", "name", "nested", "empty", "raw", "flags", "tags",
                "frozen", 3, (1, 2), None, 2.5):
        assert back[key] == obj[key] and type(back[key]) is type(obj[key]), key
    assert back["milestones"] == Counter({3: 2, 7: 1}) and type(back["milestones"]) is Counter
    assert back["floats"][:4] == [0.1, -0.0, math.inf, -math.inf]
    assert math.copysign(1.0, back["floats"][1]) == -1.0
    assert back["floats"][4:] == obj["floats"][4:]
    assert back["dtype"] is dlbasic.float16
    assert back["shape"] == (2, 3) and isinstance(back["shape"], dlbasic.Size)
    assert back["np_scalars"] == [1.5, 4, True]
    nan = _round_trip([float("nan")])
    assert math.isnan(nan[0])


def test_requires_grad_and_parameter_type_survive():
    p = Parameter(dlbasic.tensor(np.arange(4.0, dtype=np.float32)))
    frozen = Parameter(dlbasic.tensor(np.arange(3.0)), requires_grad=False)
    t = dlbasic.tensor([1.0, 2.0], requires_grad=True)
    back = _round_trip({"p": p, "frozen": frozen, "t": t, "plain": dlbasic.ones(2)})
    assert type(back["p"]) is Parameter and back["p"].requires_grad
    assert type(back["frozen"]) is Parameter and not back["frozen"].requires_grad
    assert type(back["t"]) is dlbasic.Tensor and back["t"].requires_grad and back["t"].is_leaf
    assert not back["plain"].requires_grad
    _assert_same_tensor(back["p"], p)


def test_loaded_tensors_are_writable_leaves_and_shared_ones_stay_shared():
    a = dlbasic.ones(3)
    back = _round_trip({"x": a, "y": a, "z": [a]})
    assert back["x"] is back["y"] is back["z"][0]
    back["x"].add_(1)                      # writable memory, not a read-only buffer
    assert back["x"].numpy().tolist() == [2.0, 2.0, 2.0]
    assert a.numpy().tolist() == [1.0, 1.0, 1.0]


def test_non_tensor_arrays_and_grad_are_not_saved():
    t = dlbasic.tensor([1.0, 2.0], requires_grad=True)
    t.grad = dlbasic.ones(2)
    back = _round_trip({"t": t, "arr": np.arange(6, dtype=np.int16).reshape(2, 3)})
    assert back["t"].grad is None
    assert isinstance(back["arr"], np.ndarray) and back["arr"].dtype == np.int16
    np.testing.assert_array_equal(back["arr"], np.arange(6).reshape(2, 3))


def test_paths_and_file_objects_are_both_accepted(tmp_path):
    obj = {"w": dlbasic.arange(5)}
    dlbasic.save(obj, str(tmp_path / "a.pt"))
    dlbasic.save(obj, pathlib.Path(tmp_path / "b.pt"))
    with open(tmp_path / "c.pt", "wb") as fh:
        fh.write(b"prefix")                   # a file object is written at its position
        dlbasic.save(obj, fh)
    with open(tmp_path / "c.pt", "rb") as fh:
        assert fh.read(6) == b"prefix"
        _assert_same_tensor(dlbasic.load(fh)["w"], obj["w"])
    for name in ("a.pt", "b.pt"):
        _assert_same_tensor(dlbasic.load(tmp_path / name)["w"], obj["w"])
        with open(tmp_path / name, "rb") as fh:
            _assert_same_tensor(dlbasic.load(io.BytesIO(fh.read()))["w"], obj["w"])


def test_map_location_is_accepted_for_compatibility(tmp_path):
    path = tmp_path / "m.pt"
    dlbasic.save({"w": dlbasic.ones(2)}, path)
    for loc in ("cpu", dlbasic.device("cpu"), {"cuda:0": "cpu"}, lambda storage, loc: storage):
        assert dlbasic.load(path, map_location=loc)["w"].numpy().tolist() == [1.0, 1.0]
    doubled = dlbasic.load(path, map_location=lambda t, loc: t * 2)
    assert doubled["w"].numpy().tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match="cuda"):
        dlbasic.load(path, map_location="cuda")
    assert dlbasic.load(path, weights_only=False)["w"].shape == (2,)


def test_unsupported_objects_are_refused_at_save_time(tmp_path):
    class Model:
        def state_dict(self):
            return {}

    with pytest.raises(TypeError, match="state_dict"):
        dlbasic.save(Model(), tmp_path / "x.pt")
    with pytest.raises(TypeError, match="lambda|function"):
        dlbasic.save({"f": lambda: 0}, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()
    assert os.listdir(tmp_path) == []                # no temporary file left behind
    with pytest.raises(RuntimeError, match="Parent directory"):
        dlbasic.save({}, tmp_path / "missing" / "x.pt")


def test_overwrite_keeps_file_mode_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "ckpt.pt"
    dlbasic.save({"v": 1}, path)
    os.chmod(path, 0o640)
    dlbasic.save({"v": 2}, path)
    assert dlbasic.load(path) == {"v": 2}
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["ckpt.pt"]


# -- atomicity -----------------------------------------------------------------------------
CHILD = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import dlbasic
    import dlbasic.serialization as S

    path, stage = sys.argv[1], sys.argv[2]
    real_fdopen, real_replace = os.fdopen, os.replace

    class Slow:
        # forwards to the real file; pauses (to be killed) once 1 MiB has been written
        def __init__(self, f):
            self.f, self.n = f, 0
        def write(self, b):
            n = self.f.write(b)
            self.n += n
            if stage == "data" and self.n > (1 << 20):
                self.f.flush()
                print("PAUSED", flush=True)
                time.sleep(120)
            return n
        def __getattr__(self, name):
            return getattr(self.f, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

    def slow_replace(src, dst):
        print("PAUSED", flush=True)
        time.sleep(120)
        real_replace(src, dst)

    S.os.fdopen = lambda fd, mode: Slow(real_fdopen(fd, mode))
    if stage == "rename":
        S.os.replace = slow_replace
    big = dlbasic.tensor(np.full((2_000_000,), 7.0, dtype=np.float32))
    dlbasic.save({"version": 2, "w": big}, path)
""")


@pytest.mark.parametrize("stage", ["data", "rename"])
def test_kill_during_save_leaves_previous_checkpoint_intact(tmp_path, stage):
    path = tmp_path / "ckpt.pt"
    old = {"version": 1, "w": dlbasic.tensor(np.arange(10, dtype=np.float32))}
    dlbasic.save(old, path)
    before = path.read_bytes()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(path), stage],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()          # the child is now paused mid-save
        assert line.strip() == "PAUSED", proc.stderr.read()
        temps = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
        assert len(temps) == 1 and os.path.getsize(tmp_path / temps[0]) > (1 << 20)
        # while the new checkpoint is being written, readers still see the old one
        assert path.read_bytes() == before
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    loaded = dlbasic.load(path)
    assert loaded["version"] == 1
    _assert_same_tensor(loaded["w"], old["w"])
    # the orphaned temporary is a hidden sibling, never the checkpoint itself, named after
    # the process that wrote it; the next save to the same target removes it
    leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert all(n.startswith(".ckpt.pt.") for n in leftovers)
    assert leftovers and all(f"-{proc.pid}-" in n for n in leftovers)
    dlbasic.save(old, path)
    assert sorted(os.listdir(tmp_path)) == ["child.py", "ckpt.pt"]


def test_completed_save_replaces_previous_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pt"
    dlbasic.save({"version": 1}, path)
    dlbasic.save({"version": 2, "w": dlbasic.ones(3)}, path)
    assert dlbasic.load(path)["version"] == 2
    assert os.listdir(tmp_path) == ["ckpt.pt"]


# -- refusing unsafe and corrupt files -----------------------------------------------------
class _Payload:
    """Unpickling this creates a marker file: proof that code from the file ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def _seal(archive):
    """Give a hand-made zip the trailer dlbasic.save writes (the zip comment: CRC-32 of every
    byte before its 24 digits, then the length), so a test reaches the checks behind it."""
    buf = io.BytesIO(archive)
    with zipfile.ZipFile(buf, "a") as zf:
        zf.comment = b"dlbasic-crc32-len:" + b"0" * 24
    data = buf.getvalue()[:-24]
    return data + b"%08x%016x" % (zlib.crc32(data), len(data) + 24)


def _zip_bytes(members, compress=lambda name: zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data, compress_type=compress(name))
    return _seal(buf.getvalue())


def test_payload_really_runs_code_when_unpickled(tmp_path):
    # sanity check of the test's weapon: plain pickle would execute it
    marker = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_pickle_file_is_refused_without_running_code(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "ckpt.pt"
    path.write_bytes(pickle.dumps({"state": _Payload(marker)}, protocol=protocol))
    with pytest.raises(pickle.UnpicklingError, match="pickle"):
        dlbasic.load(path)
    with pytest.raises(RuntimeError, match="never unpickles"):
        dlbasic.load(path)
    assert not marker.exists()


def test_torch_style_zip_with_malicious_pickle_is_refused(tmp_path):
    # the restricted unpickler refuses the global by name before calling anything
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    path.write_bytes(_zip_bytes({"archive/data.pkl": pickle.dumps(_Payload(marker)),
                                 "archive/version": b"3\n"}))
    with pytest.raises(CheckpointError, match="Unsupported global") as info:
        dlbasic.load(path)
    assert "pathlib.Path.touch" in str(info.value) and str(path) in str(info.value)
    assert not marker.exists()


def test_real_torch_checkpoint_loads(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "torch.pt"
    w = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    torch.save({"w": w, "ones": torch.ones(2, dtype=torch.float64), "n": 3}, path)
    back = dlbasic.load(path)
    assert sorted(back) == ["n", "ones", "w"] and back["n"] == 3
    assert type(back["w"]) is dlbasic.Tensor and back["w"].dtype == dlbasic.float32
    assert back["w"].shape == (2, 3) and not back["w"].requires_grad
    np.testing.assert_array_equal(back["w"].numpy(), w.numpy())
    assert back["ones"].dtype == dlbasic.float64 and back["ones"].tolist() == [1.0, 1.0]


_GOOD_V2_HEADER = {
    "format": "dlbasic.checkpoint", "version": 2,
    "root": ["dict", [[["str", "w"], ["tensor", 0]], [["str", "n"], ["int", 1]]]],
    "storages": [{"nbytes": 32}],
    "tensors": [{"kind": "tensor", "dtype": "<f4", "shape": [8], "strides": [4], "offset": 0,
                 "storage": 0, "requires_grad": False}],
}


def _v2_bytes(header, storages):
    """A version-2 dlbasic checkpoint as dlbasic.save wrote it before it switched to PyTorch's
    format (see ``git show c54103e:dlbasic/serialization.py``): the JSON header, then one
    stored member ``data/<j>`` per storage, sealed with the CRC-32 trailer."""
    members = {HEADER: json.dumps(header, separators=(",", ":")).encode()}
    for j, raw in enumerate(storages):
        members[f"dlbasic_checkpoint/data/{j}"] = raw
    return _zip_bytes(members)


def _good_archive(tmp_path, fmt="zip"):
    """A checkpoint of ``{"w": arange(8) as float32, "n": 1}`` and its members: as
    dlbasic.save writes it now (``"zip"``, PyTorch's layout), or (``"v2"``) as the version-2
    writer did, which dlbasic.load still reads and must still check."""
    path = tmp_path / f"good_{fmt}.pt"
    if fmt == "zip":
        dlbasic.save({"w": dlbasic.tensor(np.arange(8, dtype=np.float32)), "n": 1}, path)
    else:
        assert fmt == "v2"
        path.write_bytes(_v2_bytes(_GOOD_V2_HEADER, [np.arange(8, dtype="<f4").tobytes()]))
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    return path, members


def test_the_hand_built_v2_archive_is_laid_out_as_the_old_writer_wrote_and_loads(tmp_path):
    # the v2 refusal tests below edit this file; it must be a faithful version-2 file, so
    # compare its layout with tests/reliability/data/checkpoint_v2.pt (the old writer's output)
    path, members = _good_archive(tmp_path, "v2")
    with zipfile.ZipFile(V2_FIXTURE) as zf:
        real = json.loads(zf.read(HEADER))
        real_names, real_comment = zf.namelist(), zf.comment
    header = _header(members)
    assert set(header) == set(real) and header["version"] == real["version"] == 2
    assert header["format"] == real["format"]
    assert set(header["tensors"][0]) == set(real["tensors"][0])
    assert set(header["storages"][0]) == set(real["storages"][0])
    assert real_names == [HEADER] + [f"dlbasic_checkpoint/data/{j}"
                                     for j in range(len(real["storages"]))]
    assert list(members) == [HEADER, "dlbasic_checkpoint/data/0"]
    with zipfile.ZipFile(path) as zf:
        assert len(zf.comment) == len(real_comment) and zf.comment[:18] == real_comment[:18]
    back = dlbasic.load(path)
    assert list(back) == ["w", "n"] and back["n"] == 1
    assert type(back["w"]) is dlbasic.Tensor and not back["w"].requires_grad
    _assert_same_tensor(back["w"], dlbasic.tensor(np.arange(8, dtype=np.float32)))
    # unsealed, a version-2 file is refused: the trailer really is checked
    with zipfile.ZipFile(path) as zf:
        unsealed = io.BytesIO()
        with zipfile.ZipFile(unsealed, "w") as out:
            for n in zf.namelist():
                out.writestr(n, zf.read(n))
    (tmp_path / "unsealed.pt").write_bytes(unsealed.getvalue())
    with pytest.raises(CheckpointError, match="checksum record"):
        dlbasic.load(tmp_path / "unsealed.pt")


def _header(members):
    return json.loads(members[HEADER])


def _with_header(members, header):
    out = dict(members)
    out[HEADER] = json.dumps(header).encode()
    return _zip_bytes(out)


def test_malicious_members_inside_our_archive_are_never_executed(tmp_path):
    # a version-2 file (JSON header + raw members): the reader of those must stay safe
    # (PyTorch-format files: tests/interop/test_torch_checkpoint_hostile.py)
    marker = tmp_path / "pwned"
    _, members = _good_archive(tmp_path, "v2")
    # a pickle smuggled into a data member is read as raw bytes of the declared size, nothing
    # more: here the size disagrees with the declared shape, so the file is refused
    evil = dict(members)
    evil["dlbasic_checkpoint/data/0"] = pickle.dumps(_Payload(marker))
    evil["../../escape.txt"] = b"path traversal"
    bad = tmp_path / "evil.pt"
    bad.write_bytes(_zip_bytes(evil))
    with pytest.raises(CheckpointError, match="bytes"):
        dlbasic.load(bad)
    # a header asking for an object type we do not know
    header = _header(members)
    header["root"] = ["pickle", pickle.dumps(_Payload(marker)).hex()]
    bad.write_bytes(_with_header(members, header))
    with pytest.raises(CheckpointError, match="unknown or malformed type tag 'pickle'"):
        dlbasic.load(bad)
    # a dtype outside the whitelist (object arrays would need pickle)
    header = _header(members)
    header["tensors"][0]["dtype"] = "|O"
    bad.write_bytes(_with_header(members, header))
    with pytest.raises(CheckpointError, match="unsupported dtype"):
        dlbasic.load(bad)
    assert not marker.exists()
    assert not (tmp_path.parent.parent / "escape.txt").exists()


@pytest.mark.parametrize("mutate,message", [
    (lambda h: h.update(format="other"), "does not describe a dlbasic checkpoint"),
    (lambda h: h.update(version=99), "unsupported checkpoint version"),
    (lambda h: h["tensors"][0].update(shape=[1000]), "needs 4000 bytes"),
    (lambda h: h["tensors"][0].update(shape=[-8]), "malformed shape"),
    (lambda h: h["tensors"][0].update(kind="module"), "unknown kind"),
    (lambda h: h.update(root=["tensor", 5]), "reference to tensor 5"),
    (lambda h: h.update(root=["dict", [["a"]]]), "malformed mapping item"),
    (lambda h: h.update(root=["int", "12"]), "malformed type tag 'int'"),
    (lambda h: h.update(root=["dict", [[["list", []], ["none"]]]]), "unhashable"),
    (lambda h: h.pop("root"), "no root"),
])
def test_inconsistent_header_is_refused_with_a_clear_error(tmp_path, mutate, message):
    # the JSON header of a version-2 file, which dlbasic.load still reads
    _, members = _good_archive(tmp_path, "v2")
    header = _header(members)
    mutate(header)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(_with_header(members, header))
    with pytest.raises(CheckpointError, match=message):
        dlbasic.load(bad)


def test_bad_json_header_is_refused(tmp_path):
    _, members = _good_archive(tmp_path, "v2")
    members[HEADER] = b"{not json"
    bad = tmp_path / "bad.pt"
    bad.write_bytes(_zip_bytes(members))
    with pytest.raises(CheckpointError, match="bad JSON"):
        dlbasic.load(bad)


def test_missing_data_member_is_refused(tmp_path):
    # version 2 (PyTorch format: test_a_storage_key_without_its_record_is_refused, hostile tests)
    _, members = _good_archive(tmp_path, "v2")
    del members["dlbasic_checkpoint/data/0"]
    bad = tmp_path / "bad.pt"
    bad.write_bytes(_zip_bytes(members))
    # (the messages name the file, whose tmp_path holds the test's name: match more than a word)
    with pytest.raises(CheckpointError, match="member dlbasic_checkpoint/data/0 is missing"):
        dlbasic.load(bad)


def test_truncated_files_raise_clear_errors(tmp_path):
    path, _ = _good_archive(tmp_path)
    data = path.read_bytes()
    bad = tmp_path / "trunc.pt"
    for cut in (0, 3, 30, len(data) // 2, len(data) - 30, len(data) - 1):
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError) as info:
            dlbasic.load(bad)
        assert str(bad) in str(info.value)
        problem = str(info.value).replace(str(bad), "")     # tmp_path holds "truncated"
        assert any(w in problem for w in ("empty", "truncated", "corrupt", "zip")), problem


def test_flipped_data_byte_fails_crc_check(tmp_path):
    path, _ = _good_archive(tmp_path)
    data = bytearray(path.read_bytes())
    # float32 arange(8) = 0,1,2,...: find the bytes of 7.0 and corrupt them
    pos = bytes(data).find(np.float32(7.0).tobytes())
    assert pos > 0
    data[pos] ^= 0xFF
    bad = tmp_path / "flip.pt"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt|CRC"):
        dlbasic.load(bad)


def test_random_and_foreign_files_are_refused(tmp_path):
    bad = tmp_path / "x.pt"
    bad.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(CheckpointError, match="not a dlbasic checkpoint"):
        dlbasic.load(bad)
    bad.write_bytes(_zip_bytes({"readme.txt": b"hello"}))
    with pytest.raises(CheckpointError, match="not a dlbasic checkpoint"):
        dlbasic.load(bad)
    with pytest.raises(FileNotFoundError):
        dlbasic.load(tmp_path / "nope.pt")


def test_module_and_optimizer_checkpoint_resumes_training(tmp_path):
    """The usual recipe: save model + optimizer + epoch, rebuild, load, get the same outputs."""
    import dlbasic.nn as nn
    import dlbasic.optim as optim
    dlbasic.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    x = dlbasic.randn(5, 6)
    for _ in range(3):
        opt.zero_grad()
        model(x).pow(2).sum().backward()
        opt.step()
    path = tmp_path / "ckpt.pt"
    dlbasic.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, path)

    dlbasic.manual_seed(1)
    model2 = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    opt2 = optim.Adam(model2.parameters(), lr=0.5)
    ckpt = dlbasic.load(path)
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optimizer"])
    assert ckpt["epoch"] == 3
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        m(x).pow(2).sum().backward()
        o.step()
    np.testing.assert_array_equal(model2(x).detach().numpy(), model(x).detach().numpy())


def test_deep_nesting_round_trips_and_absurd_nesting_is_refused():
    deep = leaf = []
    for _ in range(150):
        leaf.append([])
        leaf = leaf[0]
    leaf.append(dlbasic.ones(1))
    back = _round_trip(deep)
    for _ in range(150):
        back = back[0]
    assert back[0].numpy().tolist() == [1.0]
    absurd = []
    for _ in range(10_000):
        absurd = [absurd]
    with pytest.raises(ValueError, match="nested deeper"):
        _round_trip(absurd)


def test_compressed_or_oversized_data_claims_are_refused_before_allocating(tmp_path):
    # version-2 files (PyTorch-format ones: test_compressed_records_are_refused_as_possible_zip_
    # bombs and test_storage_sizes_larger_than_their_record_or_the_file_are_refused_before_
    # allocating in tests/interop/test_torch_checkpoint_hostile.py)
    _, members = _good_archive(tmp_path, "v2")
    bad = tmp_path / "bad.pt"
    # the same bytes, but deflated: a bomb would hide gigabytes this way
    bad.write_bytes(_zip_bytes(members, lambda n: zipfile.ZIP_DEFLATED
                               if n.endswith("data/0") else zipfile.ZIP_STORED))
    with pytest.raises(CheckpointError, match="data member is compressed"):
        dlbasic.load(bad)
    # a header claiming a 4 TB tensor fails on the size check, not on a 4 TB allocation
    header = _header(members)
    header["tensors"][0]["shape"] = [10 ** 12]
    bad.write_bytes(_with_header(members, header))
    with pytest.raises(CheckpointError, match="bytes"):
        dlbasic.load(bad)


def test_map_location_callable_errors_are_not_disguised(tmp_path):
    path = tmp_path / "m.pt"
    dlbasic.save({"w": dlbasic.ones(2)}, path)

    def boom(t, loc):
        raise KeyError("user bug")

    with pytest.raises(KeyError, match="user bug"):
        dlbasic.load(path, map_location=boom)


def test_saving_through_a_symlink_replaces_the_target_file(tmp_path):
    real = tmp_path / "real.pt"
    link = tmp_path / "latest.pt"
    dlbasic.save({"v": 1}, real)
    os.symlink(real, link)
    dlbasic.save({"v": 2}, link)
    assert os.path.islink(link)
    assert dlbasic.load(real) == {"v": 2} and dlbasic.load(link) == {"v": 2}


# -- shared storage ------------------------------------------------------------------------
def test_views_keep_sharing_memory_with_their_base_after_loading(tmp_path):
    x = dlbasic.arange(10.0)
    back = _round_trip({"a": x, "b": x[1:], "t": x.view(2, 5).t(), "c": x[::3]}, tmp_path)
    a, b, t, c = back["a"], back["b"], back["t"], back["c"]
    assert b.tolist() == list(range(1, 10)) and c.tolist() == [0, 3, 6, 9]
    assert t.tolist() == [[0, 5], [1, 6], [2, 7], [3, 8], [4, 9]]
    a.add_(100)                         # writing into a changes its views, as in torch
    assert b.tolist() == list(range(101, 110)) and c.tolist() == [100, 103, 106, 109]
    assert t.tolist()[0] == [100, 105]
    b.mul_(0)
    assert a.tolist() == [100] + [0] * 9
    assert a._vbox is b._vbox           # one storage, one version counter
    with zipfile.ZipFile(tmp_path / "ckpt.pt") as zf:        # the base is stored once
        records = [i for i in zf.infolist() if re.fullmatch(r"[^/]+/data/[^/]+", i.filename)]
        assert len(records) == 1 and records[0].file_size == 10 * 4, zf.namelist()
        assert records[0].filename.split("/")[0] + "/data.pkl" in zf.namelist()


def test_tied_weights_and_array_views_share_memory_after_loading():
    first, second = nn.Linear(3, 3), nn.Linear(3, 3)
    second.weight = first.weight
    sd = nn.Sequential(first, second).state_dict()       # two tensors over one buffer
    m = np.arange(12, dtype=np.int64).reshape(3, 4)
    back = _round_trip({"sd": sd, "m": m, "row": m[1]})
    w0, w1 = back["sd"]["0.weight"], back["sd"]["1.weight"]
    assert w0 is not w1 and np.shares_memory(w0.numpy(), w1.numpy())
    np.testing.assert_array_equal(w0.numpy(), first.weight.detach().numpy())
    assert not np.shares_memory(back["sd"]["0.bias"].numpy(), back["sd"]["1.bias"].numpy())
    back["m"][1, 2] = -7
    assert back["row"].tolist() == [4, 5, -7, 7]


def test_a_lone_slice_of_a_large_buffer_is_stored_as_its_values(tmp_path):
    big = dlbasic.zeros(1_000_000)
    path = tmp_path / "s.pt"
    dlbasic.save({"s": big[10:20], "t": big[::100_000]}, path)
    assert path.stat().st_size < 4096          # not the 4 MB buffer the slices come from
    back = dlbasic.load(path)
    assert back["s"].tolist() == [0.0] * 10 and back["t"].shape == (10,)
    assert back["s"]._data.flags.owndata and back["s"]._data.flags.writeable


@pytest.mark.parametrize("mutate,message", [
    (lambda e: e.update(offset=4), "needs 36 bytes of storage 0, which holds 32"),
    (lambda e: e.update(strides=[-4]), r"bytes -28\.\.4 are outside it"),
    (lambda e: e.update(strides=[2 ** 62]), "outside it"),
    (lambda e: e.update(strides=[4, 4]), "malformed strides"),
    (lambda e: e.update(strides=None), "malformed strides"),
    (lambda e: e.update(offset=-1), "malformed offset"),
    (lambda e: e.update(storage=3), "reference to storage 3, but the archive holds 1"),
    (lambda e: e.update(shape=[1] * 65, strides=[4] * 65), "malformed shape"),
])
def test_view_records_pointing_outside_their_storage_are_refused(tmp_path, mutate, message):
    # version-2 view records (PyTorch-format ones: test_tensor_views_outside_their_storage_are_
    # refused in tests/interop/test_torch_checkpoint_hostile.py)
    _, members = _good_archive(tmp_path, "v2")
    header = _header(members)
    assert header["tensors"][0]["strides"] == [4] and header["storages"] == [{"nbytes": 32}]
    mutate(header["tensors"][0])
    bad = tmp_path / "bad.pt"
    bad.write_bytes(_with_header(members, header))
    with pytest.raises(CheckpointError, match=message):
        dlbasic.load(bad)


def test_storage_size_must_match_its_member(tmp_path):
    # version 2 (PyTorch format: test_storage_sizes_larger_than_their_record_..., hostile tests)
    _, members = _good_archive(tmp_path, "v2")
    header = _header(members)
    header["storages"][0]["nbytes"] = 40
    bad = tmp_path / "bad.pt"
    bad.write_bytes(_with_header(members, header))
    with pytest.raises(CheckpointError, match="storage 0 needs 40 bytes but the archive holds "
                                              "32"):
        dlbasic.load(bad)


# -- exception types like PyTorch's --------------------------------------------------------
def _error_of(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fn()
        except Exception as e:          # noqa: BLE001 - the test compares the types
            return e
    return None


def test_load_errors_are_instances_of_what_torch_load_raises(tmp_path):
    # code written to catch torch.load's errors must catch ours for the same damage
    torch = pytest.importorskip("torch")
    ours, theirs = tmp_path / "ours.pt", tmp_path / "theirs.pt"
    dlbasic.save({"w": dlbasic.tensor(np.arange(4096, dtype=np.float32))}, ours)
    torch.save({"w": torch.arange(4096, dtype=torch.float32)}, theirs)
    a, b = ours.read_bytes(), theirs.read_bytes()
    junk = np.random.default_rng(0).bytes(1000)
    # (a flipped byte is no case here: torch.load mostly returns the damaged values, and
    # where it fails its error depends on the pickle opcode the flip happens to make)
    cases = {"empty": (b"", b""), "random": (junk, junk), "one byte": (a[:1], b[:1])}
    for keep in (10, 100, 1000, 4000):
        cases[f"first {keep} bytes"] = (a[:keep], b[:keep])
    for cut in (1, 10, 30, 100):
        cases[f"last {cut} bytes cut"] = (a[:-cut], b[:-cut])
    torch_types = set()
    for label, (mine, torchs) in cases.items():
        (tmp_path / "m.pt").write_bytes(mine)
        (tmp_path / "t.pt").write_bytes(torchs)
        err = _error_of(lambda: dlbasic.load(tmp_path / "m.pt"))
        assert isinstance(err, CheckpointError), (label, err)
        assert str(tmp_path / "m.pt") in str(err)
        expected = _error_of(lambda: torch.load(tmp_path / "t.pt", weights_only=True))
        if expected is not None:
            torch_types.add(type(expected))
            assert isinstance(err, type(expected)), (label, type(err).__mro__, expected)
    assert {EOFError, OSError, RuntimeError, pickle.UnpicklingError} <= {
        c for t in torch_types for c in t.__mro__}       # the cases cover each of torch's
    assert isinstance(_error_of(lambda: dlbasic.load(tmp_path / "nope.pt")), FileNotFoundError)


@pytest.mark.parametrize("fmt", ["zip", "v2"])
def test_empty_and_cut_off_files_raise_eof_errors(tmp_path, fmt):
    path, _ = _good_archive(tmp_path, fmt)
    data = path.read_bytes()
    bad = tmp_path / "cut.pt"
    for keep in range(0, len(data), 7):
        bad.write_bytes(data[:keep])
        with pytest.raises(TruncatedCheckpointError) as info:
            dlbasic.load(bad)
        assert isinstance(info.value, (EOFError, OSError, RuntimeError,
                                       pickle.UnpicklingError)), keep
    with pytest.raises(EOFError, match="the file is empty"):
        bad.write_bytes(b"")
        dlbasic.load(bad)


@pytest.mark.parametrize("fmt", ["zip", "v2"])
def test_flipped_byte_in_the_zip_structure_is_refused(tmp_path, fmt):
    # zip's own CRCs cover only member contents; the trailer's CRC covers everything else
    path, _ = _good_archive(tmp_path, fmt)
    data = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    unchecked_by_zip = [infos[0].header_offset + 10,     # mtime in the first local header
                        len(data) - 24 - 42 - 22 + 12]   # central directory entry's date
    for pos in unchecked_by_zip + [len(data) - 1, len(data) - 30]:
        bad = bytearray(data)
        bad[pos] ^= 0x04
        (tmp_path / "f.pt").write_bytes(bytes(bad))
        with pytest.raises(CheckpointError, match="corrupt"):
            dlbasic.load(tmp_path / "f.pt")


# -- targets that cannot be written --------------------------------------------------------
def test_saving_onto_a_directory_raises_is_a_directory_error(tmp_path):
    target = tmp_path / "ckpt"
    target.mkdir()
    err = _error_of(lambda: dlbasic.save({"v": 1}, target))
    assert isinstance(err, IsADirectoryError) and err.errno == errno.EISDIR
    assert isinstance(err, RuntimeError)          # what torch.save raises for a directory
    assert err.filename == str(target) and str(target) in str(err)
    assert os.listdir(target) == [] and os.listdir(tmp_path) == ["ckpt"]
    torch = pytest.importorskip("torch")
    assert isinstance(err, type(_error_of(lambda: torch.save({}, str(target)))))


def test_write_protected_checkpoint_is_refused_even_for_root(tmp_path):
    path = tmp_path / "ckpt.pt"
    dlbasic.save({"v": 1}, path)
    os.chmod(path, 0o444)
    before = path.read_bytes()
    with pytest.raises(PermissionError, match="write-protected") as info:
        dlbasic.save({"v": 2}, path)
    assert isinstance(info.value, RuntimeError) and info.value.errno == errno.EACCES
    assert info.value.filename == str(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.pt"]
    os.chmod(path, 0o644)
    dlbasic.save({"v": 2}, path)
    assert dlbasic.load(path) == {"v": 2}


def _unprivileged(fn):
    """Run ``fn`` as an ordinary user (forked and setuid to nobody when we are root); return
    (class name, is RuntimeError, filename, message) of what it raises, or None."""
    def describe(e):
        if e is None:
            return None
        return [type(e).__name__, isinstance(e, PermissionError), isinstance(e, RuntimeError),
                getattr(e, "filename", None), str(e)]
    if os.geteuid() != 0:
        return describe(_error_of(fn))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                        # child: drop root, run, report, leave at once
        try:
            os.close(r)
            os.setgid(65534)
            os.setuid(65534)
            out = json.dumps(describe(_error_of(fn)))
        except BaseException as e:      # noqa: BLE001 - report anything to the parent
            out = json.dumps(["child failed", False, False, None, repr(e)])
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        text = f.read()
    os.waitpid(pid, 0)
    return json.loads(text)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_read_only_directory_error_names_the_target_not_the_temporary():
    directory = tempfile.mkdtemp(prefix="dlbasic-ro-")
    try:
        os.chmod(directory, 0o555)
        target = os.path.join(directory, "ckpt.pt")
        got = _unprivileged(lambda: dlbasic.save({"v": 1}, target))
        assert got is not None and got[0] != "child failed", got
        name, is_permission, is_runtime, filename, message = got
        assert is_permission and is_runtime          # torch.save raises RuntimeError here
        assert filename == target and ".tmp" not in message, message
        assert os.listdir(directory) == []
    finally:
        os.chmod(directory, 0o755)
        os.rmdir(directory)


def test_a_save_failing_midway_removes_its_temporary_and_names_the_target(tmp_path,
                                                                          monkeypatch):
    path = tmp_path / "ckpt.pt"
    dlbasic.save({"v": 1}, path)
    real = S._write_archive

    def disk_full(fh, encoder, root):
        fh.write(b"x" * 100_000)
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(S, "_write_archive", disk_full)
    with pytest.raises(OSError, match="No space left") as info:
        dlbasic.save({"v": 2}, path)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert isinstance(info.value, RuntimeError)
    monkeypatch.setattr(S, "_write_archive", lambda *a: (_ for _ in ()).throw(ValueError("x")))
    with pytest.raises(ValueError):
        dlbasic.save({"v": 2}, path)
    assert os.listdir(tmp_path) == ["ckpt.pt"] and dlbasic.load(path) == {"v": 1}
    monkeypatch.setattr(S, "_write_archive", real)


LOCK_HOLDER = textwrap.dedent("""
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("LOCKED", flush=True)
    sys.stdin.read()                   # hold the lock until the parent closes our stdin
""")


@pytest.mark.skipif(S.fcntl is None, reason="needs flock")
def test_next_save_removes_temporaries_of_dead_writers_only(tmp_path):
    path = tmp_path / "ckpt.pt"
    dead = 999_999_999                               # above any pid_max: never a live process
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER,
                               str(tmp_path / f".ckpt.pt.{S._HOST}-{dead}-0000000c.tmp")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "LOCKED"
        names = {
            "dead writer": f".ckpt.pt.{S._HOST}-{dead}-0000000a.tmp",
            "live writer": f".ckpt.pt.{S._HOST}-{holder.pid}-0000000b.tmp",
            "locked (another pid namespace)": f".ckpt.pt.{S._HOST}-{dead}-0000000c.tmp",
            "other host": f".ckpt.pt.otherhost-{dead}-0000000d.tmp",
            "other target": f".ckpt.pt.bak.{S._HOST}-{dead}-0000000e.tmp",
            "not a temporary": ".ckpt.pt.notes.tmp",
        }
        for name in names.values():
            if not (tmp_path / name).exists():
                (tmp_path / name).write_bytes(b"partial checkpoint")
        dlbasic.save({"v": 1}, path)
        left = set(os.listdir(tmp_path))
        assert names["dead writer"] not in left
        for what, name in names.items():
            if what != "dead writer":
                assert name in left, what
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()
    dlbasic.save({"v": 2}, path)                     # the writer is gone and its lock free
    left = set(os.listdir(tmp_path))
    assert names["live writer"] not in left and names["locked (another pid namespace)"] not in left
    assert {names["other host"], names["other target"], names["not a temporary"]} <= left
    assert dlbasic.load(path) == {"v": 2}


# -- property: any tree of supported values round-trips -------------------------------------
from hypothesis import given, settings, strategies as st          # noqa: E402

_DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]


@st.composite
def _tensors(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    dtype = draw(st.sampled_from(_DTYPES))
    seed = draw(st.integers(0, 2 ** 16))
    arr = (np.random.default_rng(seed).standard_normal(shape) * 100).astype(dtype)
    t = dlbasic.tensor(arr)
    if arr.ndim >= 2 and draw(st.booleans()):
        t = t.transpose(0, 1)                       # non-contiguous
    return t


_scalars = (st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70)
            | st.floats(allow_nan=False) | st.text(max_size=8) | st.binary(max_size=8))
_keys = st.integers(-5, 5) | st.text(max_size=5) | st.none() | st.booleans()
_trees = st.recursive(_scalars | _tensors(),
                      lambda kids: (st.lists(kids, max_size=4)
                                    | st.lists(kids, max_size=3).map(tuple)
                                    | st.dictionaries(_keys, kids, max_size=4)),
                      max_leaves=12)


def _same(a, b):
    if isinstance(a, dlbasic.Tensor):
        _assert_same_tensor(b, a)
        return
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert a == b


@settings(max_examples=60, deadline=None)
@given(_trees)
def test_any_tree_of_supported_values_round_trips(tree):
    _same(tree, _round_trip(tree))
