"""PyTorch checkpoint files in both directions: ``dlbasic.load`` reads what ``torch.save``
writes (zip and legacy formats, either byte order) and ``torch.load(weights_only=True)`` reads
what ``dlbasic.save`` writes -- dtypes, shapes, strides, storage sharing, parameters, nested
checkpoints, optimizer state, devices -- and whole pickled objects need ``weights_only=False``.
"""
from collections import Counter, OrderedDict
import math
import pickle
import struct
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import dlbasic                                               # noqa: E402
from dlbasic import nn                                       # noqa: E402
from dlbasic.nn.parameter import Parameter                   # noqa: E402
from dlbasic.serialization import CheckpointError            # noqa: E402

DTYPES = [(torch.float16, dlbasic.float16), (torch.float32, dlbasic.float32),
          (torch.float64, dlbasic.float64), (torch.int8, dlbasic.int8),
          (torch.int16, dlbasic.int16), (torch.int32, dlbasic.int32),
          (torch.int64, dlbasic.int64), (torch.uint8, dlbasic.uint8),
          (torch.bool, dlbasic.bool), (torch.complex64, dlbasic.complex64),
          (torch.complex128, dlbasic.complex128)]
SHAPES = [(), (0,), (5,), (2, 3, 4), (3, 0, 2)]


def _torch_tensor(shape, tdtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    if tdtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if tdtype.is_complex:
        return torch.randn(shape, generator=g, dtype=tdtype) * 50
    if tdtype.is_floating_point:
        return (torch.randn(shape, generator=g) * 50).to(tdtype)
    return torch.randint(0, 100, shape, generator=g).to(tdtype)


def _element_strides(t):
    return tuple(s // t._data.itemsize for s in t._data.strides)


def _torch_roundtrip_path(obj, tmp_path, name="t.pt", **kw):
    path = tmp_path / name
    torch.save(obj, path, **kw)
    return path


# -- torch.save -> dlbasic.load -----------------------------------------------------------
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("tdtype,ddtype", DTYPES, ids=[str(d[1]) for d in DTYPES])
def test_torch_tensors_of_every_dtype_and_shape_load_with_their_values(tmp_path, tdtype,
                                                                        ddtype, legacy):
    tensors = {str(s): _torch_tensor(s, tdtype, i) for i, s in enumerate(SHAPES)}
    path = _torch_roundtrip_path(tensors, tmp_path, _use_new_zipfile_serialization=not legacy)
    back = dlbasic.load(path)
    assert list(back) == list(tensors)
    for k, t in tensors.items():
        got = back[k]
        assert type(got) is dlbasic.Tensor and got.dtype == ddtype, k
        assert tuple(got.shape) == tuple(t.shape) and not got.requires_grad
        np.testing.assert_array_equal(got.numpy(), t.numpy())
        got.numpy()[...] = 0 if got.numel() else got.numpy()       # loaded memory is writable


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_views_of_one_torch_storage_share_memory_and_strides_after_loading(tmp_path, legacy):
    base = torch.arange(24, dtype=torch.float32)
    views = OrderedDict([
        ("base", base), ("tail", base[3:]), ("t", base.view(4, 6).t()), ("step", base[::5]),
        ("perm", base.view(2, 3, 4).permute(2, 0, 1)[1:]), ("row", base.view(4, 6)[2]),
        ("expanded", torch.ones(1, dtype=torch.float64).expand(4, 3)),
        ("alone", torch.arange(5, dtype=torch.int64)),
    ])
    path = _torch_roundtrip_path(views, tmp_path, _use_new_zipfile_serialization=not legacy)
    back = dlbasic.load(path)
    for k, t in views.items():
        np.testing.assert_array_equal(back[k].numpy(), t.numpy())
        assert _element_strides(back[k]) == t.stride(), k
    arrays = {k: back[k].numpy() for k in ("base", "tail", "t", "step", "perm", "row")}
    for k, a in arrays.items():
        assert np.shares_memory(a, arrays["base"]), k
        assert back[k]._vbox is back["base"]._vbox, k       # one storage, one version counter
    assert not np.shares_memory(back["alone"].numpy(), arrays["base"])
    back["base"].add_(1000)                 # writing into the base shows in every view
    assert back["tail"].tolist()[0] == 1003 and back["row"].tolist()[0] == 1012
    assert back["t"].tolist()[1][0] == 1001 and back["perm"].tolist()[0][0][0] == 1001


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_parameters_and_requires_grad_survive_loading_from_torch(tmp_path, legacy):
    obj = {"p": torch.nn.Parameter(torch.randn(3, 2)),
           "frozen": torch.nn.Parameter(torch.randn(2, dtype=torch.float64),
                                        requires_grad=False),
           "leaf": torch.randn(4, requires_grad=True), "plain": torch.randn(2),
           "int_param": torch.nn.Parameter(torch.arange(3), requires_grad=False)}
    back = dlbasic.load(_torch_roundtrip_path(obj, tmp_path,
                                              _use_new_zipfile_serialization=not legacy))
    assert type(back["p"]) is Parameter and back["p"].requires_grad
    assert type(back["frozen"]) is Parameter and not back["frozen"].requires_grad
    assert back["frozen"].dtype == dlbasic.float64
    assert type(back["leaf"]) is dlbasic.Tensor and back["leaf"].requires_grad
    assert back["leaf"].is_leaf and back["leaf"].grad_fn is None
    assert not back["plain"].requires_grad
    assert type(back["int_param"]) is Parameter and back["int_param"].dtype == dlbasic.int64
    for k in obj:
        np.testing.assert_array_equal(back[k].detach().numpy(), obj[k].detach().numpy())
    # a loaded parameter trains: gradients flow into it
    back["p"].sum().backward()
    assert back["p"].grad.tolist() == [[1.0, 1.0]] * 3


def _torch_mlp():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                            torch.nn.Linear(8, 3))
    with torch.no_grad():
        m[1].running_mean.copy_(torch.randn(8) * 0.1)
        m[1].running_var.copy_(torch.rand(8) + 0.5)
        m[1].num_batches_tracked.fill_(7)
    return m


def _dlbasic_mlp():
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def test_a_torch_state_dict_loads_strictly_and_gives_the_same_outputs(tmp_path):
    tm = _torch_mlp().eval()
    path = _torch_roundtrip_path(tm.state_dict(), tmp_path)
    sd = dlbasic.load(path)
    assert type(sd) is OrderedDict and list(sd) == list(tm.state_dict())
    assert sd["1.num_batches_tracked"].dtype == dlbasic.int64
    assert sd["1.num_batches_tracked"].shape == () and int(sd["1.num_batches_tracked"]) == 7
    assert isinstance(sd._metadata, OrderedDict) and "1" in sd._metadata   # torch's BUILD state
    ours = _dlbasic_mlp()
    result = ours.load_state_dict(sd, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    ours.eval()
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    with torch.no_grad():
        expected = tm(torch.tensor(x)).numpy()
    with dlbasic.no_grad():
        got = ours(dlbasic.tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_a_nested_torch_training_checkpoint_loads_whole(tmp_path):
    tm = _torch_mlp()
    opt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    tm(torch.randn(4, 6)).sum().backward()
    opt.step()
    ckpt = {"model": tm.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
            "config": {"lr": 0.1, "betas": (0.9, 0.999), "name": "run-1", "layers": [4, 8],
                       "flags": {"amp": False, "seed": None}},
            "size": torch.Size([2, 3]), "dtype": torch.float16, "device": torch.device("cpu"),
            "raw": b"\x00\xffab", "tags": {1, 2}, "counts": Counter("aab"), "z": 1 + 2j,
            "big": 2 ** 100, "neg": -7, "floats": [float("nan"), -0.0, float("inf"), 1e-310],
            3: "int key", (1, 2): "tuple key"}
    back = dlbasic.load(_torch_roundtrip_path(ckpt, tmp_path))
    assert list(back) == list(ckpt)
    assert back["epoch"] == 3 and back["config"] == ckpt["config"]
    assert isinstance(back["config"]["betas"], tuple)
    assert back["size"] == (2, 3) and type(back["size"]) is dlbasic.Size
    assert back["dtype"] is dlbasic.float16 and back["device"] == dlbasic.device("cpu")
    assert back["raw"] == b"\x00\xffab" and back["tags"] == {1, 2}
    assert type(back["counts"]) is Counter and back["counts"] == Counter("aab")
    assert back["z"] == 1 + 2j and back["big"] == 2 ** 100 and back["neg"] == -7
    assert math.isnan(back["floats"][0]) and math.copysign(1, back["floats"][1]) == -1
    assert back["floats"][2:] == [math.inf, 1e-310]
    assert back[3] == "int key" and back[(1, 2)] == "tuple key"
    state = back["optimizer"]["state"]
    assert sorted(state) == list(range(len(list(tm.parameters()))))
    assert type(state[0]["momentum_buffer"]) is dlbasic.Tensor
    np.testing.assert_array_equal(state[0]["momentum_buffer"].numpy(),
                                  opt.state_dict()["state"][0]["momentum_buffer"].numpy())
    assert back["optimizer"]["param_groups"][0]["momentum"] == 0.9


@pytest.mark.parametrize("protocol", [1, 3, 4, 5])     # (torch.load cannot read 0 itself)
def test_torch_files_pickled_with_other_protocols_load_too(tmp_path, protocol):
    base = torch.arange(6.0)
    obj = OrderedDict([("w", torch.nn.Parameter(torch.randn(2, 3))), ("base", base),
                       ("view", base[2:]), ("cfg", {"name": "x" * 300, "ids": [1, 2 ** 40],
                                                    "raw": b"\x00\x01", "s": {3}})])
    back = dlbasic.load(_torch_roundtrip_path(obj, tmp_path, pickle_protocol=protocol))
    assert type(back["w"]) is Parameter and back["cfg"] == obj["cfg"]
    np.testing.assert_array_equal(back["w"].detach().numpy(), obj["w"].detach().numpy())
    assert back["view"].tolist() == [2.0, 3.0, 4.0, 5.0]
    assert np.shares_memory(back["view"].numpy(), back["base"].numpy())


def _train_steps(model, opt, xs, framework):
    for x in xs:
        opt.zero_grad()
        if framework == "torch":
            loss = model(torch.tensor(x)).pow(2).mean()
        else:
            loss = model(dlbasic.tensor(x)).pow(2).mean()
        loss.backward()
        opt.step()


def _linear_pair(seed):
    tm = torch.nn.Linear(5, 3)
    dm = nn.Linear(5, 3)
    with torch.no_grad():
        g = np.random.default_rng(seed)
        w = g.standard_normal((3, 5)).astype(np.float32)
        b = g.standard_normal(3).astype(np.float32)
        tm.weight.copy_(torch.tensor(w))
        tm.bias.copy_(torch.tensor(b))
    dm.weight._data[...] = w
    dm.bias._data[...] = b
    return tm, dm


OPTIMIZERS = {
    "sgd_momentum": (lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
                     lambda p: dlbasic.optim.SGD(p, lr=0.5, momentum=0.1)),
    "adam": (lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), weight_decay=0.01),
             lambda p: dlbasic.optim.Adam(p, lr=0.5)),
    "adamw_amsgrad": (lambda p: torch.optim.AdamW(p, lr=0.01, amsgrad=True),
                      lambda p: dlbasic.optim.AdamW(p, lr=0.5)),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_a_torch_optimizer_state_resumes_identically_in_dlbasic(tmp_path, name):
    make_torch, make_ours = OPTIMIZERS[name]
    xs = list(np.random.default_rng(1).standard_normal((6, 4, 5)).astype(np.float32))
    tm, dm = _linear_pair(0)
    topt = make_torch(tm.parameters())
    _train_steps(tm, topt, xs[:3], "torch")
    path = tmp_path / "ckpt.pt"
    torch.save({"model": tm.state_dict(), "optimizer": topt.state_dict()}, path)
    ckpt = dlbasic.load(path)
    dopt = make_ours(dm.parameters())             # other options: the file's must win
    dm.load_state_dict(ckpt["model"])
    dopt.load_state_dict(ckpt["optimizer"])
    if name != "sgd_momentum":                    # torch keeps step as a 0-d float tensor
        step = dopt.state[dm.weight]["step"]
        assert isinstance(step, dlbasic.Tensor) and float(step) == 3.0
    assert dopt.param_groups[0]["lr"] == topt.param_groups[0]["lr"]
    _train_steps(tm, topt, xs[3:], "torch")
    _train_steps(dm, dopt, xs[3:], "dlbasic")
    np.testing.assert_allclose(dm.weight.detach().numpy(), tm.weight.detach().numpy(),
                               atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(dm.bias.detach().numpy(), tm.bias.detach().numpy(),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_a_dlbasic_optimizer_state_resumes_identically_in_torch(tmp_path, name):
    make_torch, make_ours = OPTIMIZERS[name]
    xs = list(np.random.default_rng(2).standard_normal((6, 4, 5)).astype(np.float32))
    tm, dm = _linear_pair(3)
    dopt = make_ours(dm.parameters())
    topt_ref = make_torch([torch.nn.Parameter(torch.zeros(1))])
    for key, value in topt_ref.param_groups[0].items():     # the same options as torch's
        if key != "params" and key in dopt.param_groups[0]:
            dopt.param_groups[0][key] = value
    _train_steps(dm, dopt, xs[:3], "dlbasic")
    path = tmp_path / "ckpt.pt"
    dlbasic.save({"model": dm.state_dict(), "optimizer": dopt.state_dict()}, path)
    ckpt = torch.load(path, weights_only=True)
    topt = make_torch(tm.parameters())
    tm.load_state_dict(ckpt["model"])
    topt.load_state_dict(ckpt["optimizer"])
    _train_steps(tm, topt, xs[3:], "torch")
    _train_steps(dm, dopt, xs[3:], "dlbasic")
    np.testing.assert_allclose(tm.weight.detach().numpy(), dm.weight.detach().numpy(),
                               atol=1e-5, rtol=1e-5)


def _rewrite_zip(src, dst, change):
    """Copy a torch.save archive with ``change(name, data) -> data`` applied to each record."""
    with zipfile.ZipFile(src) as zf:
        records = [(n, zf.read(n)) for n in zf.namelist()]
    with zipfile.ZipFile(dst, "w") as out:
        for n, data in records:
            out.writestr(n, change(n, data))


def test_big_endian_files_load_like_little_endian_ones(tmp_path):
    # torch.save writes native order; a file from a big-endian machine says 'big' in its
    # byteorder record and holds byte-swapped storages: make one, check torch reads it back
    # equal (so the file is right), then that dlbasic does too
    tensors = [torch.randn(3, 4), torch.arange(-5, 5, dtype=torch.int64),
               torch.randn(2, dtype=torch.float64), torch.randn(3).half(),
               torch.tensor([True, False]), torch.arange(6, dtype=torch.int16),
               torch.arange(4, dtype=torch.int32)]
    obj = {f"t{i}": t for i, t in enumerate(tensors)}
    obj["view"] = tensors[0][1:, ::2]                          # shares storage 0
    little = _torch_roundtrip_path(obj, tmp_path, "little.pt")
    prefix = "little"
    sizes = {str(i): t.element_size() for i, t in enumerate(tensors)}

    def swap(name, data):
        if name == f"{prefix}/byteorder":
            return b"big"
        if name.startswith(f"{prefix}/data/"):
            itemsize = sizes[name.rsplit("/", 1)[1]]
            return np.frombuffer(data, dtype=f"<u{itemsize}" if itemsize > 1 else "u1") \
                .astype(f">u{itemsize}" if itemsize > 1 else "u1").tobytes()
        return data
    big = tmp_path / "big.pt"
    _rewrite_zip(little, big, swap)
    assert big.read_bytes() != little.read_bytes()
    reference = torch.load(big, weights_only=True)
    back = dlbasic.load(big)
    for k, t in obj.items():
        np.testing.assert_array_equal(reference[k].numpy(), t.numpy())
        np.testing.assert_array_equal(back[k].numpy(), t.numpy())
        assert back[k].dtype.name == str(t.dtype).replace("torch.", ""), k
    assert np.shares_memory(back["view"].numpy(), back["t0"].numpy())


def test_storages_saved_on_a_gpu_need_map_location_like_in_torch(tmp_path):
    src = _torch_roundtrip_path({"w": torch.arange(4.0), "b": torch.ones(2)}, tmp_path, "g.pt")
    gpu = tmp_path / "gpu.pt"
    # what a CUDA checkpoint's pickle says: location 'cuda:0' instead of 'cpu'
    _rewrite_zip(src, gpu, lambda n, d: d.replace(b"X\x03\x00\x00\x00cpu",
                                                  b"X\x06\x00\x00\x00cuda:0")
                 if n.endswith("data.pkl") else d)
    with pytest.raises(RuntimeError):                  # torch on a CPU-only machine refuses too
        torch.load(gpu, weights_only=True)
    with pytest.raises(CheckpointError, match="map_location='cpu'") as info:
        dlbasic.load(gpu)
    assert str(gpu) in str(info.value) and "cuda:0" in str(info.value)
    for loc in ("cpu", dlbasic.device("cpu"), {"cuda:0": "cpu"}):
        assert dlbasic.load(gpu, map_location=loc)["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
    seen = []
    out = dlbasic.load(gpu, map_location=lambda t, loc: seen.append(loc) or t * 2)
    assert out["w"].tolist() == [0.0, 2.0, 4.0, 6.0] and seen == ["cuda:0", "cuda:0"]
    with pytest.raises(CheckpointError, match="CPU only"):
        dlbasic.load(gpu, map_location={"cuda:0": "cuda:1"})
    with pytest.raises(RuntimeError, match="cuda"):
        dlbasic.load(gpu, map_location="cuda")


def test_map_location_callable_errors_reach_the_caller_unchanged(tmp_path):
    path = _torch_roundtrip_path({"w": torch.ones(2)}, tmp_path)

    def boom(t, loc):
        raise KeyError("user bug")
    with pytest.raises(KeyError, match="user bug"):
        dlbasic.load(path, map_location=boom)


def test_devices_in_a_checkpoint_load_as_devices_or_their_names(tmp_path):
    path = _torch_roundtrip_path({"cpu": torch.device("cpu"), "gpu": torch.device("cuda", 1)},
                                 tmp_path)
    back = dlbasic.load(path)
    assert isinstance(back["cpu"], dlbasic.device) and back["cpu"].type == "cpu"
    assert back["gpu"] == "cuda:1"            # no such device here: kept as its name


@pytest.mark.parametrize("make,message", [
    (lambda: torch.zeros(3, dtype=torch.bfloat16), "bfloat16"),
    (lambda: torch.zeros(3, dtype=torch.uint16), "uint16"),
    (lambda: torch.quantize_per_tensor(torch.rand(4), 0.1, 0, torch.quint8), "quantized"),
    (lambda: torch.eye(3).to_sparse(), "sparse"),
    (lambda: torch.empty(2, 3, device="meta"), "meta"),
], ids=["bfloat16", "uint16", "quantized", "sparse", "meta"])
def test_unsupported_torch_features_raise_a_clear_error_naming_them(tmp_path, make, message):
    path = _torch_roundtrip_path({"x": make()}, tmp_path)
    with pytest.raises(CheckpointError, match=message) as info:
        dlbasic.load(path)
    assert isinstance(info.value, pickle.UnpicklingError) and str(path) in str(info.value)


def test_a_torchscript_archive_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with pytest.raises(CheckpointError, match="TorchScript"):
        dlbasic.load(path)


# -- dlbasic.save -> torch.load ------------------------------------------------------------
@pytest.mark.parametrize("tdtype,ddtype", DTYPES, ids=[str(d[1]) for d in DTYPES])
def test_torch_load_reads_dlbasic_tensors_with_equal_dtype_shape_and_values(tmp_path, tdtype,
                                                                           ddtype):
    ours = {str(s): dlbasic.tensor(_torch_tensor(s, tdtype, i).numpy())
            for i, s in enumerate(SHAPES)}
    path = tmp_path / "ours.pt"
    dlbasic.save(ours, path)
    back = torch.load(path, weights_only=True)
    assert list(back) == list(ours)
    for k, t in ours.items():
        assert back[k].dtype == tdtype and tuple(back[k].shape) == tuple(t.shape), k
        np.testing.assert_array_equal(back[k].numpy(), t.numpy())


def test_torch_load_sees_dlbasic_views_as_views_of_one_storage(tmp_path):
    base = dlbasic.arange(24.0)
    ours = OrderedDict([("base", base), ("tail", base[3:]), ("t", base.view(4, 6).t()),
                        ("step", base[::5]), ("alone", dlbasic.arange(3))])
    path = tmp_path / "views.pt"
    dlbasic.save(ours, path)
    back = torch.load(path, weights_only=True)
    ptr = back["base"].untyped_storage().data_ptr()
    for k in ("base", "tail", "t", "step"):
        assert back[k].untyped_storage().data_ptr() == ptr, k
        assert back[k].stride() == _element_strides(ours[k]), k
        np.testing.assert_array_equal(back[k].numpy(), ours[k].numpy())
    assert back["tail"].storage_offset() == 3
    assert back["alone"].untyped_storage().data_ptr() != ptr
    back["base"].add_(100)
    assert back["tail"][0].item() == 103 and back["t"][1, 0].item() == 101


def test_torch_load_reads_a_dlbasic_training_checkpoint_and_model(tmp_path):
    dlbasic.manual_seed(0)
    ours = _dlbasic_mlp()
    ours[1].running_mean._data[...] = np.linspace(-0.2, 0.2, 8)
    opt = dlbasic.optim.Adam(ours.parameters(), lr=0.01)
    ours(dlbasic.randn(4, 6)).sum().backward()
    opt.step()
    ckpt = {"model": ours.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
            "config": {"lr": 0.01, "betas": (0.9, 0.999), "name": "run", "none": None},
            "size": dlbasic.Size([2, 3]), "dtype": dlbasic.float16, "device": dlbasic.device("cpu"),
            "raw": b"\x00\xff", "empty": b"", "tags": {1, 2}, "counts": Counter("aab"),
            "z": 1 - 2j, "big": -2 ** 90, "floats": [float("nan"), -0.0, float("inf")],
            "p": Parameter(dlbasic.ones(2)), "frozen": Parameter(dlbasic.ones(2),
                                                                 requires_grad=False),
            "leaf": dlbasic.tensor([1.0, 2.0], requires_grad=True), "arr": np.arange(3)}
    path = tmp_path / "ckpt.pt"
    dlbasic.save(ckpt, path)
    back = torch.load(path, weights_only=True)
    assert list(back) == list(ckpt)
    assert type(back["model"]) is OrderedDict and list(back["model"]) == list(ckpt["model"])
    assert "1" in back["model"]._metadata
    assert back["model"]["1.num_batches_tracked"].dtype == torch.int64
    assert back["epoch"] == 3 and back["config"] == ckpt["config"]
    assert back["size"] == torch.Size([2, 3]) and type(back["size"]) is torch.Size
    assert back["dtype"] is torch.float16 and back["device"] == torch.device("cpu")
    assert back["raw"] == b"\x00\xff" and back["empty"] == b"" and back["tags"] == {1, 2}
    assert type(back["counts"]) is Counter and back["counts"] == Counter("aab")
    assert back["z"] == 1 - 2j and back["big"] == -2 ** 90
    assert math.isnan(back["floats"][0]) and math.copysign(1, back["floats"][1]) == -1
    assert type(back["p"]) is torch.nn.Parameter and back["p"].requires_grad
    assert type(back["frozen"]) is torch.nn.Parameter and not back["frozen"].requires_grad
    assert back["leaf"].requires_grad and back["leaf"].is_leaf
    assert back["arr"].tolist() == [0, 1, 2]            # a NumPy array is a tensor for torch
    step = back["optimizer"]["state"][0]["step"]
    assert step.dtype == torch.float32 and step.shape == () and step.item() == 1.0
    tm = _torch_mlp()
    tm.load_state_dict(back["model"], strict=True)
    tm.eval()
    ours.eval()
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    with torch.no_grad():
        expected = tm(torch.tensor(x)).numpy()
    with dlbasic.no_grad():
        got = ours(dlbasic.tensor(x)).numpy()
    np.testing.assert_allclose(expected, got, atol=1e-5, rtol=1e-5)


def test_dlbasic_files_have_torch_records_aligned_storages_and_load_with_mmap(tmp_path):
    ours = {"w": dlbasic.randn(7, 3), "b": dlbasic.arange(5), "h": dlbasic.ones(3).half()}
    path = tmp_path / "ours.pt"
    dlbasic.save(ours, path)
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names[0] == "archive/data.pkl" and zf.read("archive/version") == b"3\n"
        assert zf.read("archive/byteorder") == b"little"
        data = [i for i in zf.infolist() if i.filename.startswith("archive/data/")]
        assert len(data) == 3
        for info in data:
            n, m = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
            start = info.header_offset + 30 + n + m
            assert start % 64 == 0, info.filename
            assert raw[start:start + info.file_size] == zf.read(info)
    back = torch.load(path, weights_only=True, mmap=True)
    for k, t in ours.items():
        np.testing.assert_array_equal(back[k].numpy(), t.numpy())


def test_numpy_arrays_come_back_as_arrays_in_dlbasic_and_as_tensors_in_torch(tmp_path):
    m = np.arange(12, dtype=np.int16).reshape(3, 4)
    obj = {"m": m, "row": m[1], "scalars": [np.float32(1.5), np.int64(4), np.bool_(True)]}
    path = tmp_path / "np.pt"
    dlbasic.save(obj, path)
    back = dlbasic.load(path)
    assert isinstance(back["m"], np.ndarray) and back["m"].dtype == np.int16
    assert isinstance(back["row"], np.ndarray) and np.shares_memory(back["m"], back["row"])
    assert back["scalars"] == [1.5, 4, True] and type(back["scalars"][1]) is int
    theirs = torch.load(path, weights_only=True)
    assert theirs["m"].dtype == torch.int16 and theirs["row"].tolist() == [4, 5, 6, 7]


# -- whole objects -------------------------------------------------------------------------
def test_a_whole_module_loads_back_only_with_weights_only_false(tmp_path):
    dlbasic.manual_seed(0)
    model = _dlbasic_mlp().eval()
    path = tmp_path / "model.pt"
    dlbasic.save(model, path)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed") as info:
        dlbasic.load(path)
    text = str(info.value)
    assert "GLOBAL dlbasic.nn.modules" in text and "weights_only" in text and str(path) in text
    with pytest.raises(pickle.UnpicklingError):            # torch refuses it the same way
        torch.load(path, weights_only=True)
    with pytest.warns(UserWarning, match="arbitrary code"):
        again = dlbasic.load(path, weights_only=False)
    assert type(again) is nn.Sequential and not again.training
    assert type(again[0].weight) is Parameter and again[0].weight.requires_grad
    x = dlbasic.randn(3, 6)
    with dlbasic.no_grad():
        np.testing.assert_array_equal(again(x).numpy(), model(x).numpy())


def test_a_pickled_torch_module_is_refused_without_importing_torch(tmp_path):
    path = tmp_path / "torch_model.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(CheckpointError, match="GLOBAL torch.nn.modules.linear.Linear"):
        dlbasic.load(path)
    child = (
        "import sys, warnings, dlbasic\n"
        "warnings.simplefilter('ignore')\n"
        "try:\n"
        "    dlbasic.load(sys.argv[1], weights_only=False)\n"
        "    print('LOADED')\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, 'torch' in sys.modules, str(e).replace(chr(10), ' '))\n")
    out = subprocess.run([sys.executable, "-c", child, str(path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    name, imported, message = out.stdout.strip().split(" ", 2)
    assert name == "CheckpointError" and imported == "False", out.stdout
    assert "state_dict()" in message and "torch.nn.modules.linear.Linear" in message


def test_objects_that_cannot_be_pickled_fail_before_any_file_is_written(tmp_path):
    path = tmp_path / "x.pt"
    for bad in ({"f": lambda: 0}, {"ok": dlbasic.ones(2), "lock": threading.Lock()},
                {"c": np.zeros(2, dtype=np.uint16)}):
        with pytest.raises(TypeError):
            dlbasic.save(bad, path)
        assert list(tmp_path.iterdir()) == []
    with pytest.raises(pickle.PicklingError, match="lambda"):
        dlbasic.save([lambda: 1], path)
    assert list(tmp_path.iterdir()) == []
