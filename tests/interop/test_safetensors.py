"""dlbasic.utils.safetensors: round trips, safetensors.torch's refusals, atomic writes, bad
files, the package-missing path, and files exchanged with real torch + safetensors.torch."""
import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

st = pytest.importorskip("safetensors")
import safetensors.numpy as stn  # noqa: E402

import dlbasic  # noqa: E402
import dlbasic.nn as dnn  # noqa: E402
from dlbasic.utils import safetensors as S  # noqa: E402

MISSING = ("dlbasic.utils.safetensors needs the safetensors package: "
           "pip install 'dlbasic[safetensors]'")

DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]


def sample(name, shape=(2, 3)):
    rng = np.random.default_rng(len(name))
    if name == "bool":
        arr = rng.random(shape) > 0.5
    elif name.startswith("float"):
        arr = rng.standard_normal(shape).astype(name)
    else:
        info = np.iinfo(name)
        arr = rng.integers(info.min, info.max, size=shape, dtype=name, endpoint=True)
    return arr


def sample_tensors():
    out = {name: dlbasic.from_numpy(sample(name)) for name in DTYPES}
    out["scalar"] = dlbasic.tensor(3.5)
    out["empty"] = dlbasic.zeros(0, 4, dtype=dlbasic.int32)
    return out


def assert_same(loaded, original):
    assert sorted(loaded) == sorted(original)
    for k, v in original.items():
        assert loaded[k].dtype == v.dtype, k
        assert tuple(loaded[k].shape) == tuple(v.shape), k
        np.testing.assert_array_equal(loaded[k].numpy(), v.numpy(), err_msg=k)


def leftovers(directory, name):
    return [f for f in os.listdir(directory) if f.startswith(f".{name}.") and f.endswith(".tmp")]


# -- round trips ---------------------------------------------------------------------------
def test_bytes_round_trip_keeps_every_dtype_shape_and_value():
    tensors = sample_tensors()
    data = S.save(tensors)
    assert isinstance(data, bytes)
    assert_same(S.load(data), tensors)


def test_file_round_trip_and_metadata_round_trip(tmp_path):
    tensors = sample_tensors()
    path = tmp_path / "m.safetensors"
    S.save_file(tensors, path, metadata={"format": "pt", "note": "héllo"})
    assert_same(S.load_file(path), tensors)
    assert_same(S.load_file(str(path), device="cpu"), tensors)
    with st.safe_open(str(path), framework="np") as f:
        assert f.metadata() == {"format": "pt", "note": "héllo"}
    assert leftovers(tmp_path, "m.safetensors") == []


def test_bytes_metadata_round_trips():
    data = S.save({"a": dlbasic.ones(2)}, metadata={"k": "v"})
    with_meta = stn.load(data)                  # the package reads our bytes
    np.testing.assert_array_equal(with_meta["a"], np.ones(2, np.float32))
    # the header (8-byte length, then JSON) holds the metadata
    header_len = int.from_bytes(data[:8], "little")
    assert json.loads(data[8:8 + header_len])["__metadata__"] == {"k": "v"}


def test_loaded_tensors_are_writable_and_independent_of_the_source():
    src = dlbasic.arange(4.0)
    out = S.load(S.save({"x": src}))["x"]
    out.add_(1)
    np.testing.assert_array_equal(src.numpy(), [0, 1, 2, 3])
    np.testing.assert_array_equal(out.numpy(), [1, 2, 3, 4])


def test_parameters_and_requires_grad_tensors_save_their_values():
    p = dnn.Parameter(dlbasic.randn(3, 2))
    out = S.load(S.save({"p": p}))["p"]
    np.testing.assert_array_equal(out.numpy(), p.detach().numpy())
    assert not out.requires_grad


def test_disjoint_views_of_one_array_may_be_saved():
    x = dlbasic.arange(6.0).reshape(2, 3)
    out = S.load(S.save({"a": x[0], "b": x[1]}))
    np.testing.assert_array_equal(out["a"].numpy(), [0, 1, 2])
    np.testing.assert_array_equal(out["b"].numpy(), [3, 4, 5])


# -- what safetensors.torch refuses ---------------------------------------------------------
@pytest.mark.parametrize("make", [lambda x: {"a": x, "b": x},
                                  lambda x: {"a": x, "b": x[1:]},
                                  lambda x: {"a": x.view(-1), "b": x}])
def test_tensors_sharing_memory_are_refused_and_save_model_is_suggested(tmp_path, make):
    x = dlbasic.arange(6.0).reshape(2, 3)
    with pytest.raises(RuntimeError, match="share memory.*save_model"):
        S.save(make(x))
    with pytest.raises(RuntimeError, match="share memory"):
        S.save_file(make(x), tmp_path / "s.safetensors")
    assert not (tmp_path / "s.safetensors").exists()


def test_non_contiguous_tensor_is_refused_naming_it():
    x = dlbasic.arange(6.0).reshape(2, 3)
    with pytest.raises(ValueError, match=r"non contiguous tensor: `t`.*\.contiguous\(\)"):
        S.save({"t": x.t()})
    out = S.load(S.save({"t": x.t().contiguous()}))["t"]
    np.testing.assert_array_equal(out.numpy(), x.numpy().T)


def test_not_a_dict_of_tensors_is_refused():
    with pytest.raises(ValueError, match="Expected a dict"):
        S.save([dlbasic.ones(1)])
    with pytest.raises(ValueError, match="Key `a` is invalid, expected dlbasic.Tensor"):
        S.save({"a": np.ones(1)})
    with pytest.raises(TypeError, match="tensor names must be str"):
        S.save({1: dlbasic.ones(1)})


@pytest.mark.parametrize("metadata", ["x", {"a": 1}, {2: "b"}])
def test_metadata_must_be_a_dict_of_str_to_str(tmp_path, metadata):
    with pytest.raises(TypeError, match="metadata must be a dict of str to str"):
        S.save({"a": dlbasic.ones(1)}, metadata=metadata)
    with pytest.raises(TypeError, match="metadata must be a dict of str to str"):
        S.save_file({"a": dlbasic.ones(1)}, tmp_path / "m.safetensors", metadata=metadata)
    assert os.listdir(tmp_path) == []


def test_device_other_than_cpu_is_refused(tmp_path):
    path = tmp_path / "d.safetensors"
    S.save_file({"a": dlbasic.ones(1)}, path)
    assert S.load_file(path, device=dlbasic.device("cpu"))["a"].item() == 1
    with pytest.raises(RuntimeError, match="CPU only"):
        S.load_file(path, device="cuda")


# -- dtypes dlbasic lacks --------------------------------------------------------------------
@pytest.mark.parametrize("np_dtype, tag", [(np.uint16, "U16"), (np.uint32, "U32"),
                                           (np.uint64, "U64"), (np.complex64, "C64")])
def test_dtype_dlbasic_lacks_raises_type_error_naming_tensor_and_dtype(tmp_path, np_dtype,
                                                                        tag):
    arrays = {"ok": np.ones(2, np.float32), "odd": np.ones(3, np_dtype)}
    path = tmp_path / "odd.safetensors"
    stn.save_file(arrays, str(path))
    with pytest.raises(TypeError, match=rf"odd.safetensors: tensor 'odd' has dtype {tag}.*"
                                        r"not support"):
        S.load_file(path)
    with pytest.raises(TypeError, match=rf"tensor 'odd' has dtype {tag}.*not support"):
        S.load(stn.save(arrays))


# -- bad input -----------------------------------------------------------------------------
def good_bytes():
    return S.save({"w": dlbasic.arange(12.0).reshape(3, 4), "b": dlbasic.zeros(3)})


@pytest.mark.parametrize("cut", [0, 4, 8, 20, -1, -7])
def test_truncated_file_raises_safetensor_error_naming_the_file(tmp_path, cut):
    data = good_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[:cut])
    with pytest.raises(st.SafetensorError, match=r"cut\.safetensors: not a valid safetensors"):
        S.load_file(path)
    with pytest.raises(st.SafetensorError, match=rf"\({len(data[:cut])} bytes\): not a valid"):
        S.load(data[:cut])


def test_corrupt_header_raises_safetensor_error_naming_the_file(tmp_path):
    data = bytearray(good_bytes())
    data[8] = ord("#")                            # the header's opening brace
    path = tmp_path / "bad.safetensors"
    path.write_bytes(bytes(data))
    with pytest.raises(st.SafetensorError, match=r"bad\.safetensors: not a valid.*JSON"):
        S.load_file(path)
    with pytest.raises(st.SafetensorError, match="not a valid"):
        S.load(bytes(data))


def test_header_length_larger_than_the_file_is_refused_without_allocating():
    data = (1 << 40).to_bytes(8, "little") + b"{}"
    with pytest.raises(st.SafetensorError, match="not a valid safetensors"):
        S.load(data)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        S.load_file(tmp_path / "nope.safetensors")


def test_load_of_something_not_bytes_is_a_type_error():
    with pytest.raises(TypeError, match="bytes of a safetensors file"):
        S.load("model.safetensors")


# -- atomic writes ---------------------------------------------------------------------------
def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "a.safetensors"
    S.save_file({"v": dlbasic.ones(3)}, path)
    before = path.read_bytes()

    def half_written(arrays, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x10\x00\x00")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(stn, "save_file", half_written)
    with pytest.raises(OSError, match="No space left"):
        S.save_file({"v": dlbasic.zeros(3)}, path)
    assert path.read_bytes() == before
    assert leftovers(tmp_path, "a.safetensors") == []
    with pytest.raises(OSError):
        S.save_file({"v": dlbasic.zeros(3)}, tmp_path / "new.safetensors")
    assert os.listdir(tmp_path) == ["a.safetensors"]


def test_failed_rename_leaves_no_partial_file(tmp_path, monkeypatch):
    def no_rename(src, dst):
        raise PermissionError(13, "Permission denied", dst)

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(PermissionError):
        S.save_file({"v": dlbasic.ones(3)}, tmp_path / "r.safetensors")
    assert os.listdir(tmp_path) == []


def test_overwrite_replaces_content_and_keeps_the_file_mode(tmp_path):
    path = tmp_path / "o.safetensors"
    S.save_file({"v": dlbasic.ones(3)}, path)
    os.chmod(path, 0o640)
    S.save_file({"v": dlbasic.full((2,), 7.0)}, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    np.testing.assert_array_equal(S.load_file(path)["v"].numpy(), [7, 7])
    assert leftovers(tmp_path, "o.safetensors") == []


def test_write_protected_target_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "ro.safetensors"
    S.save_file({"v": dlbasic.ones(3)}, path)
    before = path.read_bytes()
    os.chmod(path, 0o444)
    with pytest.raises(PermissionError, match="write-protected") as info:
        S.save_file({"v": dlbasic.zeros(3)}, path)
    assert info.value.filename == str(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ro.safetensors"]


def test_new_file_gets_the_umask_mode(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    path = tmp_path / "n.safetensors"
    S.save_file({"v": dlbasic.ones(1)}, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask


def test_saving_through_a_symlink_replaces_the_target_not_the_link(tmp_path):
    target = tmp_path / "real.safetensors"
    S.save_file({"v": dlbasic.ones(1)}, target)
    link = tmp_path / "link.safetensors"
    link.symlink_to(target)
    S.save_file({"v": dlbasic.zeros(1)}, link)
    assert link.is_symlink()
    assert S.load_file(target)["v"].item() == 0


def test_bad_targets_raise_os_errors_naming_the_target(tmp_path):
    with pytest.raises(IsADirectoryError):
        S.save_file({"v": dlbasic.ones(1)}, tmp_path)
    missing = tmp_path / "no" / "such" / "x.safetensors"
    with pytest.raises(FileNotFoundError) as info:
        S.save_file({"v": dlbasic.ones(1)}, missing)
    assert info.value.filename == str(missing)
    assert os.listdir(tmp_path) == []


# -- the package missing ---------------------------------------------------------------------
def test_every_function_says_what_to_install_when_the_package_is_missing(tmp_path,
                                                                         monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    model = dnn.Linear(2, 2)
    calls = [lambda: S.save({"a": dlbasic.ones(1)}),
             lambda: S.save_file({"a": dlbasic.ones(1)}, tmp_path / "x.safetensors"),
             lambda: S.load(b""),
             lambda: S.load_file(tmp_path / "x.safetensors"),
             lambda: S.save_model(model, tmp_path / "m.safetensors"),
             lambda: S.load_model(model, tmp_path / "m.safetensors")]
    for call in calls:
        with pytest.raises(ImportError) as info:
            call()
        assert str(info.value) == MISSING
        assert info.value.name == "safetensors"
    assert os.listdir(tmp_path) == []


def test_import_dlbasic_works_without_the_package():
    code = ("import sys; sys.modules['safetensors'] = None\n"
            "import dlbasic, dlbasic.utils\n"
            "mod = dlbasic.utils.safetensors\n"
            "import dlbasic.utils.safetensors as S\n"
            "assert S is mod\n"
            "try:\n"
            "    S.load(b'')\n"
            "except ImportError as e:\n"
            "    print('ERR', e)\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ERR " + MISSING


# -- whole models ----------------------------------------------------------------------------
def mlp():
    return dnn.Sequential(dnn.Linear(4, 8), dnn.ReLU(), dnn.Linear(8, 3))


class Tied(dnn.Module):
    def __init__(self):
        super().__init__()
        self.embed = dnn.Linear(4, 4, bias=False)
        self.head = dnn.Linear(4, 4)
        self.head.weight = self.embed.weight

    def forward(self, x):
        return self.head(self.embed(x))


def test_state_dict_round_trip_gives_a_fresh_model_identical_outputs(tmp_path):
    model = mlp()
    path = tmp_path / "mlp.safetensors"
    S.save_file(model.state_dict(), path)
    dlbasic.manual_seed(123)
    fresh = mlp()
    x = dlbasic.randn(5, 4)
    assert not np.array_equal(fresh(x).detach().numpy(), model(x).detach().numpy())
    fresh.load_state_dict(S.load_file(path))
    np.testing.assert_array_equal(fresh(x).detach().numpy(), model(x).detach().numpy())


def test_save_model_and_load_model_round_trip(tmp_path):
    model = mlp()
    path = tmp_path / "mlp.safetensors"
    S.save_model(model, path, metadata={"epoch": "3"})
    dlbasic.manual_seed(7)
    fresh = mlp()
    missing, unexpected = S.load_model(fresh, path)
    assert missing == set() and unexpected == []
    x = dlbasic.randn(2, 4)
    np.testing.assert_array_equal(fresh(x).detach().numpy(), model(x).detach().numpy())
    with st.safe_open(str(path), framework="np") as f:
        assert f.metadata() == {"epoch": "3"}


def test_tied_weights_are_refused_by_save_file_and_written_once_by_save_model(tmp_path):
    model = Tied()
    with pytest.raises(RuntimeError, match="save_model"):
        S.save_file(model.state_dict(), tmp_path / "t.safetensors")
    path = tmp_path / "tied.safetensors"
    meta = {"user": "x"}
    S.save_model(model, path, metadata=meta)
    assert meta == {"user": "x"}                   # the caller's dict is not modified
    with st.safe_open(str(path), framework="np") as f:
        assert sorted(f.keys()) == ["embed.weight", "head.bias"]
        assert f.metadata() == {"user": "x", "head.weight": "embed.weight"}

    fresh = Tied()
    missing, unexpected = S.load_model(fresh, path)
    assert missing == set() and unexpected == []
    assert fresh.head.weight is fresh.embed.weight  # still tied
    x = dlbasic.randn(3, 4)
    np.testing.assert_array_equal(fresh(x).detach().numpy(), model(x).detach().numpy())


def test_load_model_strict_names_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "part.safetensors"
    sd = mlp().state_dict()
    S.save_file({"0.weight": sd["0.weight"], "extra": dlbasic.ones(1)}, path)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "0.bias", '
                                           r'"2.bias", "2.weight"(.|\n)*Unexpected key\(s\) '
                                           r'in state_dict: "extra"'):
        S.load_model(mlp(), path)
    model = mlp()
    missing, unexpected = S.load_model(model, path, strict=False)
    assert missing == {"0.bias", "2.weight", "2.bias"}
    assert unexpected == ["extra"]
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), sd["0.weight"].numpy())


def test_save_model_packs_non_contiguous_parameters_unless_asked_not_to(tmp_path):
    model = dnn.Linear(3, 2)
    model.weight.data = dlbasic.randn(3, 2).t()
    assert not model.weight.is_contiguous()
    with pytest.raises(ValueError, match=r"non contiguous.*force_contiguous=True"):
        S.save_model(model, tmp_path / "nc.safetensors", force_contiguous=False)
    assert os.listdir(tmp_path) == []
    S.save_model(model, tmp_path / "nc.safetensors")
    out = S.load_file(tmp_path / "nc.safetensors")
    np.testing.assert_array_equal(out["weight"].numpy(), model.weight.detach().numpy())


def test_partial_view_sharing_with_no_covering_tensor_is_refused_by_save_model(tmp_path):
    model = dnn.Module()
    base = dlbasic.arange(6.0)
    model.register_buffer("a", base[0:4])
    model.register_buffer("b", base[2:6])
    with pytest.raises(RuntimeError, match="no suitable name to keep"):
        S.save_model(model, tmp_path / "v.safetensors")
    assert os.listdir(tmp_path) == []


# -- interchange with real torch + safetensors.torch -----------------------------------------
TORCH_DTYPES = DTYPES


def torch_sample(torch):
    out = {name: torch.from_numpy(sample(name).copy()) for name in TORCH_DTYPES}
    out["scalar"] = torch.tensor(2.25, dtype=torch.float64)
    out["empty"] = torch.zeros(0, 5, dtype=torch.int64)
    return out


def assert_torch_equal(torch_tensors, ours):
    assert sorted(torch_tensors) == sorted(ours)
    for k, t in torch_tensors.items():
        assert str(t.dtype).split(".")[-1] == ours[k].dtype.name, k
        assert tuple(t.shape) == tuple(ours[k].shape), k
        np.testing.assert_array_equal(t.numpy(), ours[k].numpy(), err_msg=k)


def test_file_from_safetensors_torch_loads_equal(tmp_path):
    torch = pytest.importorskip("torch")
    stt = pytest.importorskip("safetensors.torch")
    tensors = torch_sample(torch)
    path = tmp_path / "pt.safetensors"
    stt.save_file(tensors, str(path), metadata={"from": "torch"})
    assert_torch_equal(tensors, S.load_file(path))
    with st.safe_open(str(path), framework="np") as f:
        assert f.metadata() == {"from": "torch"}


def test_dlbasic_file_loads_equal_in_safetensors_torch(tmp_path):
    torch = pytest.importorskip("torch")
    stt = pytest.importorskip("safetensors.torch")
    ours = sample_tensors()
    path = tmp_path / "dl.safetensors"
    S.save_file(ours, path, metadata={"from": "dlbasic"})
    assert_torch_equal(stt.load_file(str(path)), ours)
    with st.safe_open(str(path), framework="pt") as f:
        assert f.metadata() == {"from": "dlbasic"}
        assert isinstance(f.get_tensor("float32"), torch.Tensor)


def test_bytes_interchange_both_ways():
    torch = pytest.importorskip("torch")
    stt = pytest.importorskip("safetensors.torch")
    tensors = torch_sample(torch)
    assert_torch_equal(tensors, S.load(stt.save(tensors)))
    ours = sample_tensors()
    assert_torch_equal(stt.load(S.save(ours)), ours)


def test_bfloat16_from_torch_raises_type_error_naming_the_dtype(tmp_path):
    torch = pytest.importorskip("torch")
    stt = pytest.importorskip("safetensors.torch")
    path = tmp_path / "bf.safetensors"
    stt.save_file({"w": torch.ones(2, dtype=torch.bfloat16)}, str(path))
    with pytest.raises(TypeError, match=r"bf\.safetensors: tensor 'w' has dtype BF16 "
                                        r"\(torch\.bfloat16\), which dlbasic does not support"):
        S.load_file(path)


def torch_mlp(torch):
    nn = torch.nn
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def test_dlbasic_model_loads_into_torch_and_back_with_equal_outputs(tmp_path):
    torch = pytest.importorskip("torch")
    stt = pytest.importorskip("safetensors.torch")
    model = mlp()
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    expected = model(dlbasic.from_numpy(x)).detach().numpy()

    path = tmp_path / "dl.safetensors"
    S.save_model(model, path)
    tmodel = torch_mlp(torch)
    missing, unexpected = stt.load_model(tmodel, str(path))
    assert not missing and not unexpected
    with torch.no_grad():
        np.testing.assert_allclose(tmodel(torch.from_numpy(x)).numpy(), expected, rtol=1e-6,
                                   atol=1e-6)

    back = tmp_path / "pt.safetensors"
    stt.save_model(tmodel, str(back))
    fresh = mlp()
    S.load_model(fresh, back)
    np.testing.assert_array_equal(fresh(dlbasic.from_numpy(x)).detach().numpy(), expected)


def test_tied_weights_interchange_with_safetensors_torch_save_model(tmp_path):
    torch = pytest.importorskip("torch")
    stt = pytest.importorskip("safetensors.torch")
    nn = torch.nn

    class TorchTied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(4, 4, bias=False)
            self.head = nn.Linear(4, 4)
            self.head.weight = self.embed.weight

    tmodel = TorchTied()
    path = tmp_path / "pt_tied.safetensors"
    stt.save_model(tmodel, str(path))
    ours_path = tmp_path / "dl_tied.safetensors"
    S.save_model(Tied(), ours_path)
    with st.safe_open(str(path), framework="np") as f, \
            st.safe_open(str(ours_path), framework="np") as g:
        assert sorted(f.keys()) == sorted(g.keys())      # the same name is kept
        assert f.metadata() == g.metadata()

    fresh = Tied()
    S.load_model(fresh, path)
    assert fresh.head.weight is fresh.embed.weight
    np.testing.assert_array_equal(fresh.head.weight.detach().numpy(),
                                  tmodel.embed.weight.detach().numpy())
    back = TorchTied()
    stt.load_model(back, str(ours_path))
    assert back.head.weight is back.embed.weight
