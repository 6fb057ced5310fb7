"""dlbasic.save / dlbasic.load: round trips, atomic writes, and refusal of unsafe/corrupt files."""
from collections import Counter, OrderedDict
import io
import json
import math
import os
import pathlib
import pickle
import signal
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import dlbasic
from dlbasic.nn.parameter import Parameter
from dlbasic.serialization import CheckpointError

HEADER = "dlbasic_checkpoint/header.json"


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
        assert back[k]._data.flags.c_contiguous


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
    # the orphaned temporary is a hidden sibling, never the checkpoint itself
    leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert all(n.startswith(".ckpt.pt.") for n in leftovers)


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


def _zip_bytes(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


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
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    path.write_bytes(_zip_bytes({"archive/data.pkl": pickle.dumps(_Payload(marker)),
                                 "archive/version": b"3\n"}))
    with pytest.raises(CheckpointError, match="PyTorch checkpoint"):
        dlbasic.load(path)
    assert not marker.exists()


def test_real_torch_checkpoint_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "torch.pt"
    torch.save({"w": torch.ones(2)}, path)
    with pytest.raises(CheckpointError, match="PyTorch checkpoint"):
        dlbasic.load(path)


def _good_archive(tmp_path):
    path = tmp_path / "good.pt"
    dlbasic.save({"w": dlbasic.tensor(np.arange(8, dtype=np.float32)), "n": 1}, path)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    return path, members


def _header(members):
    return json.loads(members[HEADER])


def _with_header(members, header):
    out = dict(members)
    out[HEADER] = json.dumps(header).encode()
    return _zip_bytes(out)


def test_malicious_members_inside_our_archive_are_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    _, members = _good_archive(tmp_path)
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
    _, members = _good_archive(tmp_path)
    header = _header(members)
    mutate(header)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(_with_header(members, header))
    with pytest.raises(CheckpointError, match=message):
        dlbasic.load(bad)


def test_bad_json_header_is_refused(tmp_path):
    _, members = _good_archive(tmp_path)
    members[HEADER] = b"{not json"
    bad = tmp_path / "bad.pt"
    bad.write_bytes(_zip_bytes(members))
    with pytest.raises(CheckpointError, match="bad JSON"):
        dlbasic.load(bad)


def test_missing_data_member_is_refused(tmp_path):
    _, members = _good_archive(tmp_path)
    del members["dlbasic_checkpoint/data/0"]
    bad = tmp_path / "bad.pt"
    bad.write_bytes(_zip_bytes(members))
    with pytest.raises(CheckpointError, match="missing"):
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
        assert any(w in str(info.value) for w in ("empty", "truncated", "corrupt", "zip")), \
            str(info.value)


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
    _, members = _good_archive(tmp_path)
    bad = tmp_path / "bad.pt"
    # the same bytes, but deflated: a bomb would hide gigabytes this way
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data, compress_type=zipfile.ZIP_DEFLATED
                        if n.endswith("data/0") else zipfile.ZIP_STORED)
    bad.write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="compressed"):
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
