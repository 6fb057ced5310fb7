"""Hostile, truncated and corrupt PyTorch-format files: each is refused with a clear error that
names the file and the problem, without running code from it and without allocating more
than the file could hold."""
from collections import OrderedDict
import io
import os
import pathlib
import pickle
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol")

import dlbasic                                               # noqa: E402
from dlbasic import _torch_format                            # noqa: E402
from dlbasic.serialization import CheckpointError, TruncatedCheckpointError  # noqa: E402

LEGACY_HEADER = b"".join(pickle.dumps(x, protocol=2) for x in (
    0x1950a86a20f9469cfc6c, 1001, {"protocol_version": 1001, "little_endian": True,
                                   "type_sizes": {"short": 2, "int": 4, "long": 4}}))


class _Payload:
    """Unpickling this creates a marker file: proof that code from the file ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


class _Pid:
    """A storage, pickled as torch's persistent id (see _Pickler)."""

    def __init__(self, key="0", numel=10, stype=None, location="cpu"):
        self.key, self.numel, self.location = key, numel, location
        self.stype = stype or torch.FloatStorage


class _T:
    """A tensor record: torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)."""

    def __init__(self, pid, offset=0, size=(10,), stride=(1,), requires_grad=False):
        self.args = (pid, offset, size, stride, requires_grad, OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Pid):
            return ("storage", obj.stype, obj.key, obj.location, obj.numel)
        return None


def _pickle(obj, protocol=2):
    buf = io.BytesIO()
    _Pickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue()


def _zip(records, compress=lambda name: zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in records.items():
            zf.writestr(name, data, compress_type=compress(name))
    return buf.getvalue()


def _torch_file(path, pkl, storages=None, **kw):
    """A file in torch.save's zip layout with ``pkl`` as its data.pkl."""
    records = {"archive/data.pkl": pkl, "archive/byteorder": b"little",
               "archive/version": b"3\n"}
    for key, data in (storages if storages is not None else
                      {"0": np.arange(10, dtype=np.float32).tobytes()}).items():
        records[f"archive/data/{key}"] = data
    path.write_bytes(_zip(records, **kw))
    return path


def _call(module, name, *args):
    """A protocol-2 pickle calling module.name(*args) with REDUCE."""
    return (pickle.PROTO + b"\x02" + pickle.GLOBAL + f"{module}\n{name}\n".encode()
            + pickle.dumps(tuple(args), protocol=2)[2:-1] + pickle.REDUCE + pickle.STOP)


def _refused(path, match, cls=CheckpointError):
    with pytest.raises(cls, match=match) as info:
        dlbasic.load(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, pickle.UnpicklingError) and isinstance(info.value,
                                                                        RuntimeError)
    return info.value


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
    except Exception:                   # noqa: BLE001 - the caller checks the error itself
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_the_helpers_make_files_that_load_when_nothing_is_wrong(tmp_path):
    path = _torch_file(tmp_path / "ok.pt", _pickle({"w": _T(_Pid()), "v": _T(_Pid(), 2, (3,),
                                                                              (2,))}))
    back = dlbasic.load(path)
    assert back["w"].tolist() == list(range(10)) and back["v"].tolist() == [2.0, 4.0, 6.0]
    assert np.shares_memory(back["w"].numpy(), back["v"].numpy())
    assert torch.load(path, weights_only=True)["v"].tolist() == [2.0, 4.0, 6.0]


def test_the_payload_really_runs_code_when_unpickled(tmp_path):
    marker = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()


# -- globals outside the allow-list --------------------------------------------------------
def _hostile_pickles(marker):
    m = str(marker)
    return {
        "os.system": _call("os", "system", f"touch {m}"),
        "posix.system": _call("posix", "system", f"touch {m}"),
        "builtins.eval": _call("builtins", "eval", f"open({m!r}, 'w').close()"),
        "builtins.exec": _call("__builtin__", "exec", f"open({m!r}, 'w').close()"),
        "subprocess.check_call": _call("subprocess", "check_call", ["touch", m]),
        "builtins.getattr": _call("builtins", "getattr", "x", "upper"),
        "importlib.import_module": _call("importlib", "import_module", "os"),
        "pathlib.Path.touch": pickle.dumps({"state": _Payload(marker)}, protocol=2),
        "pathlib.Path.touch (protocol 4)": pickle.dumps([_Payload(marker)], protocol=4),
        "numpy.core.multiarray._reconstruct": pickle.dumps(np.arange(3), protocol=2),
        "torch.serialization.load": _call("torch.serialization", "load", m),
    }


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_globals_outside_the_allow_list_are_refused_by_name_and_never_run(tmp_path, layout):
    marker = tmp_path / "pwned"
    for label, pkl in _hostile_pickles(marker).items():
        path = tmp_path / "evil.pt"
        if layout == "zip":
            _torch_file(path, pkl)
        else:
            path.write_bytes(LEGACY_HEADER + pkl + pickle.dumps([], protocol=2))
        err = _refused(path, "Unsupported global")
        name = {"pathlib.Path.touch": "builtins.getattr",    # protocol 2: getattr(Path, ..)
                "numpy.core.multiarray._reconstruct": "numpy"}.get(label, label.split(" ")[0])
        assert f"GLOBAL {name}" in str(err), (label, str(err))
        assert "Weights only load failed" in str(err) and "weights_only" in str(err)
        assert not marker.exists(), label
        with pytest.raises(pickle.UnpicklingError):          # torch refuses these too
            torch.load(path, weights_only=True)
    assert not marker.exists()


def test_allowed_functions_refuse_hostile_arguments_without_allocating(tmp_path):
    path = tmp_path / "evil.pt"
    cases = [
        (_call("builtins", "bytearray", 10 ** 12), "bytes only"),
        (_call("__builtin__", "bytes", 10 ** 12), "bytes only"),
        (_call("_codecs", "encode", "x" * 10, "zlib_codec"), "latin1, utf-8 or ascii"),
        (_call("torch", "Size", ("a", "b")), "malformed torch.Size"),
        (_call("collections", "OrderedDict", 5), "expects a list"),
        (_call("builtins", "complex", "1+2j"), "numbers only"),
        (_call("builtins", "set", "abc"), "expects a list"),
        (_call("torch._utils", "_rebuild_tensor_v2", "x", 0, (1,), (1,)), "typed storage"),
        (_call("torch._utils", "_rebuild_parameter", 1, True, {}), "needs a tensor"),
        (_call("torch", "device", ["cpu"]), "torch.device"),
        (_call("torch._utils", "_rebuild_tensor_v2"), "bad arguments"),
    ]
    for pkl, message in cases:
        _torch_file(path, pkl)
        peak = _peak_bytes(lambda: dlbasic.load(path))
        _refused(path, message)
        assert peak < 8 << 20, (message, peak)


def test_build_cannot_set_attributes_on_allowed_globals_tensors_or_sizes(tmp_path):
    path = tmp_path / "evil.pt"
    defaults = _torch_format._Reader.rebuild_v2.__defaults__
    state = pickle.dumps((None, {"__defaults__": (1, 2, 3)}), protocol=2)[2:-1]
    pkl = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n" + state + pickle.BUILD
           + pickle.STOP)
    _torch_file(path, pkl)
    _refused(path, "BUILD")
    assert _torch_format._Reader.rebuild_v2.__defaults__ == defaults
    tensor = _pickle(_T(_Pid()))[:-1]                  # a real tensor, then BUILD on it
    _torch_file(path, tensor + pickle.dumps({"_data": "x"}, 2)[2:-1] + pickle.BUILD
                + pickle.STOP)
    _refused(path, "BUILD .*Tensor")
    size = _call("torch", "Size", (1, 2))[:-1]
    _torch_file(path, size + pickle.dumps({"numel": 1}, 2)[2:-1] + pickle.BUILD + pickle.STOP)
    _refused(path, "BUILD .*Size")
    od = _call("collections", "OrderedDict")[:-1]
    _torch_file(path, od + pickle.dumps({"__class__": 1}, 2)[2:-1] + pickle.BUILD
                + pickle.STOP)
    _refused(path, "BUILD of an OrderedDict")
    _torch_file(path, od + pickle.dumps({"_metadata": {"": 1}}, 2)[2:-1] + pickle.BUILD
                + pickle.STOP)
    assert dlbasic.load(path)._metadata == {"": 1}      # what torch's state dicts carry


def test_a_pickle_building_far_more_than_its_size_is_refused_early(tmp_path):
    # 20,000 distinct ints once, then frozenset(list) of them again and again, each kept:
    # a few hundred kB of pickle asking for gigabytes of sets
    items = b"".join(pickle.BININT2 + struct.pack("<H", i) for i in range(20_000))
    pkl = (b"\x80\x02" + pickle.EMPTY_LIST + pickle.BINPUT + b"\x00"           # result
           + pickle.GLOBAL + b"builtins\nfrozenset\n" + pickle.BINPUT + b"\x01"
           + pickle.MARK + items + pickle.LIST + pickle.BINPUT + b"\x02"
           + pickle.POP + pickle.POP
           + (pickle.BINGET + b"\x01" + pickle.BINGET + b"\x02" + pickle.TUPLE1
              + pickle.REDUCE + pickle.APPEND) * 100_000 + pickle.STOP)
    path = _torch_file(tmp_path / "bomb.pt", pkl)
    peak = _peak_bytes(lambda: dlbasic.load(path))
    _refused(path, "far more data than its size")
    assert peak < 200 << 20, peak


def test_deeply_nested_tuples_are_refused_and_deep_lists_still_load(tmp_path):
    path = tmp_path / "deep.pt"
    _torch_file(path, b"\x80\x02N" + pickle.TUPLE1 * 5000 + pickle.STOP)
    _refused(path, "nested deeper")
    _torch_file(path, b"\x80\x02" + (pickle.EMPTY_LIST + pickle.MARK) * 3000
                + (pickle.APPENDS) * 3000 + pickle.STOP)
    nested = dlbasic.load(path)
    depth = 0
    while nested:
        nested = nested[0]
        depth += 1
    assert depth == 2999


@pytest.mark.parametrize("pkl,message", [
    (b"\x80\x02(ios\nsystem\n.", "unsupported pickle opcode b'i'"),
    (b"\x80\x02(ccollections\nOrderedDict\no.", "unsupported pickle opcode b'o'"),
    (b"\x80\x02\x82\x01.", "unsupported pickle opcode"),
    (b"\x80\x02P0\n.", "unsupported pickle opcode b'P'"),
    (b"\x80\x05\x97.", "unsupported pickle opcode"),
    (b"\x80\x02h\x07.", "memo entry 7"),
    (b"\x80\x02.", "underflow"),
    (b"\x80\x02Ne.", "no MARK"),
    (b"\x80\x02}Na.", "append to lists"),
    (b"\x80\x02]NNs.", "set items of dicts"),
    (b"\x80\x02K\x01Q.", "not a storage record"),
    (b"\x80\x09N.", "protocol 9"),
], ids=["INST", "OBJ", "EXT1", "PERSID", "NEXT_BUFFER", "BINGET", "STOP", "APPENDS", "APPEND",
        "SETITEM", "BINPERSID", "PROTO"])
def test_opcodes_that_do_not_build_plain_data_are_refused(tmp_path, pkl, message):
    _refused(_torch_file(tmp_path / "op.pt", pkl), message)


def test_a_pickle_cut_before_its_stop_opcode_is_an_eof_error(tmp_path):
    full = _pickle({"w": _T(_Pid())})
    for cut in (1, 5, len(full) // 2, len(full) - 1):
        err = _refused(_torch_file(tmp_path / "cut.pt", full[:cut]), "truncated",
                       TruncatedCheckpointError)
        assert isinstance(err, EOFError)


# -- storages --------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["../../../etc/passwd", "/etc/passwd", "0/../0", "..", "",
                                 "a" * 100, "0\n"])
def test_storage_keys_that_would_point_outside_the_archive_are_refused(tmp_path, key):
    path = _torch_file(tmp_path / "key.pt", _pickle({"w": _T(_Pid(key=key))}))
    _refused(path, "is not a plain name")


def test_a_storage_key_without_its_record_is_refused(tmp_path):
    path = _torch_file(tmp_path / "key.pt", _pickle({"w": _T(_Pid(key="7"))}))
    _refused(path, "archive/data/7 is missing")


def test_storage_sizes_larger_than_their_record_or_the_file_are_refused_before_allocating(
        tmp_path):
    path = _torch_file(tmp_path / "big.pt", _pickle({"w": _T(_Pid(numel=10 ** 12),
                                                           size=(10 ** 12,))}))
    peak = _peak_bytes(lambda: dlbasic.load(path))
    _refused(path, "needs 4000000000000 bytes but record archive/data/0 holds 40")
    assert peak < 4 << 20, peak
    # a central directory that claims a record of 2 GB in a file of a few hundred bytes
    path = _torch_file(tmp_path / "claim.pt", _pickle({"w": _T(_Pid())}))
    raw = bytearray(path.read_bytes())
    name_at = raw.index(b"archive/data/0", raw.index(b"PK\x01\x02"))
    entry = raw.rindex(b"PK\x01\x02", 0, name_at)
    raw[entry + 20:entry + 28] = struct.pack("<II", 1 << 31, 1 << 31)
    path.write_bytes(bytes(raw))
    peak = _peak_bytes(lambda: dlbasic.load(path))
    with pytest.raises(CheckpointError) as info:
        dlbasic.load(path)
    assert str(path) in str(info.value) and peak < 4 << 20, (str(info.value), peak)


def test_entries_that_overlap_in_the_zip_cannot_multiply_the_allocation(tmp_path):
    # 30 central-directory entries all pointing at one 1 MB record: each would load 1 MB
    big = np.zeros(1 << 18, dtype=np.float32).tobytes()
    storages = {"0": big, **{str(i): b"" for i in range(1, 30)}}
    obj = {f"t{i}": _T(_Pid(key=str(i), numel=1 << 18), size=(1 << 18,)) for i in range(30)}
    path = _torch_file(tmp_path / "overlap.pt", _pickle(obj), storages)
    raw = bytearray(path.read_bytes())
    cd = raw.index(b"PK\x01\x02")
    first = None
    pos = cd
    while True:
        pos = raw.find(b"PK\x01\x02", pos)
        if pos < 0:
            break
        n = struct.unpack("<H", raw[pos + 28:pos + 30])[0]
        name = bytes(raw[pos + 46:pos + 46 + n])
        if name == b"archive/data/0":
            first = raw[pos + 16:pos + 28], raw[pos + 42:pos + 46]
        pos += 46
    pos = cd
    while True:
        pos = raw.find(b"PK\x01\x02", pos)
        if pos < 0:
            break
        n = struct.unpack("<H", raw[pos + 28:pos + 30])[0]
        if bytes(raw[pos + 46:pos + 46 + n]).startswith(b"archive/data/"):
            raw[pos + 16:pos + 28], raw[pos + 42:pos + 46] = first   # crc, sizes, offset
        pos += 46
    path.write_bytes(bytes(raw))
    size = len(raw)
    peak = _peak_bytes(lambda: dlbasic.load(path))
    with pytest.raises(CheckpointError) as info:
        dlbasic.load(path)
    assert str(path) in str(info.value)
    assert peak < 3 * size + (4 << 20), (peak, size)


@pytest.mark.parametrize("tensor,message", [
    (_T(_Pid(), size=(100,)), "needs 100 elements of storage 0, which holds 10"),
    (_T(_Pid(), offset=11, size=(0,)), "past the end"),
    (_T(_Pid(), size=(2,), stride=(2 ** 62,)), "which holds 10"),
    (_T(_Pid(), size=(3,), stride=(-1,)), "malformed tensor stride"),
    (_T(_Pid(), size=(1,) * 65, stride=(1,) * 65), "malformed tensor size"),
    (_T(_Pid(), size=(2, 5), stride=(1,)), "has 1 strides"),
    (_T(_Pid(), offset=-1), "malformed storage offset"),
    (_T(_Pid(stype=torch.LongStorage), requires_grad=True), "integer tensor cannot require"),
    (_T(_Pid(), size=(1 << 40, 1 << 40), stride=(0, 0)), "too big to exist"),
    (_T(_Pid(numel=-5)), "malformed storage size"),
    (_T(_Pid(location=["cuda"])), "malformed storage location"),
], ids=["size", "offset", "stride", "negative-stride", "ndim", "stride-count", "neg-offset",
        "int-grad", "numel-overflow", "neg-numel", "location"])
def test_tensor_views_outside_their_storage_are_refused(tmp_path, tensor, message):
    storages = {"0": np.arange(10, dtype=np.int64 if tensor.args[0].stype is torch.LongStorage
                               else np.float32).tobytes()}
    path = _torch_file(tmp_path / "view.pt", _pickle({"w": tensor}), storages)
    _refused(path, message)


def test_compressed_records_are_refused_as_possible_zip_bombs(tmp_path):
    zeros = np.zeros(5 << 20, dtype=np.float32)               # 20 MB, deflates to ~20 kB
    pkl = _pickle({"w": _T(_Pid(numel=zeros.size), size=(zeros.size,))})
    path = _torch_file(tmp_path / "bomb.pt", pkl, {"0": zeros.tobytes()},
                       compress=lambda n: zipfile.ZIP_DEFLATED if "/data/" in n
                       else zipfile.ZIP_STORED)
    assert path.stat().st_size < 1 << 20
    peak = _peak_bytes(lambda: dlbasic.load(path))
    _refused(path, "archive/data/0 is compressed")
    assert peak < 4 << 20, peak
    path = _torch_file(tmp_path / "pkl.pt", pkl, compress=lambda n: zipfile.ZIP_DEFLATED
                       if n.endswith("data.pkl") else zipfile.ZIP_STORED)
    _refused(path, "data.pkl is compressed")


# -- damaged files ---------------------------------------------------------------------------
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_truncated_torch_files_raise_eof_errors_naming_the_file(tmp_path, legacy):
    src = tmp_path / "good.pt"
    torch.save({"w": torch.randn(64, 32), "v": torch.arange(100), "n": {"epoch": 3}}, src,
               _use_new_zipfile_serialization=not legacy)
    data = src.read_bytes()
    bad = tmp_path / "cut.pt"
    rng = np.random.default_rng(0)
    for keep in sorted({0, 1, 2, 10, 100, len(data) - 1, len(data) - 22,
                        *rng.integers(1, len(data), 30).tolist()}):
        bad.write_bytes(data[:keep])
        with pytest.raises(TruncatedCheckpointError) as info:
            dlbasic.load(bad)
        assert isinstance(info.value, EOFError) and str(bad) in str(info.value), keep


def test_flipped_bytes_in_the_records_of_a_torch_file_are_caught_by_zip_crcs(tmp_path):
    src = tmp_path / "good.pt"
    torch.save({"w": torch.arange(1000, dtype=torch.float32)}, src)
    data = src.read_bytes()
    with zipfile.ZipFile(src) as zf:
        pkl_info = zf.getinfo("good/data.pkl")
    for pos in (data.find(np.float32(777.0).tobytes()), data.find(b"_rebuild_tensor_v2")):
        assert pos > 0
        bad = bytearray(data)
        bad[pos] ^= 0x10
        (tmp_path / "flip.pt").write_bytes(bytes(bad))
        with pytest.raises(CheckpointError, match="CRC|corrupt") as info:
            dlbasic.load(tmp_path / "flip.pt")
        assert str(tmp_path / "flip.pt") in str(info.value)
    assert pkl_info.file_size > 0


def test_legacy_files_with_inconsistent_storages_are_refused(tmp_path):
    src = tmp_path / "good.pt"
    torch.save({"w": torch.arange(6, dtype=torch.float32)}, src,
               _use_new_zipfile_serialization=False)
    data = src.read_bytes()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(pickle.dumps(123, 2) + data[15:])
    _refused(bad, "Invalid magic number")
    bad.write_bytes(data[:15] + pickle.dumps(999, 2) + data[21:])
    _refused(bad, "Invalid protocol version")
    size_at = len(data) - 24 - 8                           # the 8-byte element count
    assert int.from_bytes(data[size_at:size_at + 8], "little") == 6
    bad.write_bytes(data[:size_at] + (7).to_bytes(8, "little") + data[size_at + 8:])
    _refused(bad, "wrong size: expected 6 got 7")
    obj = {"w": _T(_Pid(key="1", numel=10 ** 12), size=(10 ** 12,))}
    bad.write_bytes(LEGACY_HEADER + _pickle(obj) + pickle.dumps(["1"], 2) + b"\0" * 64)
    peak = _peak_bytes(lambda: dlbasic.load(bad))
    _refused(bad, "more than the whole file holds")
    assert peak < 4 << 20, peak
    obj = {"w": _T(_Pid(key="1", numel=2), size=(2,))}
    bad.write_bytes(LEGACY_HEADER + _pickle(obj) + pickle.dumps(["2"], 2))
    _refused(bad, "not used by the object")
    bad.write_bytes(LEGACY_HEADER + _pickle(obj) + pickle.dumps([], 2))
    _refused(bad, "has no data")
    bad.write_bytes(pickle.dumps({"a": 1}, 2))
    _refused(bad, "Invalid magic number")


def test_a_torchscript_like_archive_is_refused_before_unpickling(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "ts.pt"
    path.write_bytes(_zip({"archive/data.pkl": pickle.dumps(_Payload(marker)),
                           "archive/constants.pkl": b"", "archive/code/__torch__.py": b""}))
    _refused(path, "TorchScript")
    assert not marker.exists()


def test_a_save_that_fails_midway_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "ckpt.pt"
    dlbasic.save({"v": 1, "w": dlbasic.ones(3)}, path)
    before = path.read_bytes()

    class Explodes:
        def __reduce__(self):
            raise RuntimeError("cannot pickle me")
    with pytest.raises(RuntimeError, match="cannot pickle me"):
        dlbasic.save({"w": dlbasic.ones(1000), "x": Explodes()}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.pt"]
    assert dlbasic.load(path)["v"] == 1
