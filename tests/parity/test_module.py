"""Module system against torch: repr, state_dict keys and loading, errors, traversal names."""
from collections import OrderedDict

import numpy as np
import pytest

from tests.parity.harness import assert_close, to_dlbasic_state, to_torch_state, torch

import dlbasic
import dlbasic.nn as dnn


def build_mlp(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(12, 8),
        nn.Dropout(0.25),
        nn.Identity(),
        nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8), nn.Dropout(0.1, inplace=True)),
        nn.Linear(8, 3, bias=False),
    )


def build_custom(lib):
    nn = lib.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(4, 4)
            self.norm = nn.LayerNorm((4,), eps=1e-6)
            self.register_buffer("steps", lib.zeros(1))
            self.register_buffer("scratch", lib.zeros(2), persistent=False)
            self.scale = nn.Parameter(lib.ones(4))

        def forward(self, x):
            return self.norm(self.proj(x)) * self.scale

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 4, padding_idx=0)
            self.blocks = nn.ModuleList([Block() for _ in range(3)])
            self.heads = nn.ModuleDict(OrderedDict(a=nn.Linear(4, 2), b=nn.Identity()))
            self.seq = nn.Sequential(OrderedDict(fc=nn.Linear(4, 4), drop=nn.Dropout()))
            self.gain = nn.Parameter(lib.tensor(2.0))

        def forward(self, idx):
            h = self.embed(idx)
            for blk in self.blocks:
                h = blk(h)
            return self.heads["a"](self.seq(h)) * self.gain

    return Net()


@pytest.mark.parametrize("build", [build_mlp, build_custom])
def test_repr_is_identical_to_torch(build):
    assert repr(build(dlbasic)) == repr(build(torch))


def test_container_and_layer_reprs_are_identical_to_torch():
    def mk(lib):
        nn = lib.nn
        return [
            nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.Identity(), nn.Linear(2, 2)]),
            nn.ModuleList(),
            nn.Sequential(),
            nn.ModuleDict({"x": nn.Flatten(0, 1), "y": nn.Unflatten(1, (2, 3))}),
            nn.Embedding(3, 4, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True),
            nn.LayerNorm((3, 4), elementwise_affine=False),
            nn.Bilinear(2, 3, 4, bias=False),
            nn.GroupNorm(2, 4, affine=False),
            nn.Dropout1d(), nn.Dropout2d(0.2, inplace=True), nn.Dropout3d(0.3),
        ]
    for d, t in zip(mk(dlbasic), mk(torch)):
        assert repr(d) == repr(t)


@pytest.mark.parametrize("build", [build_mlp, build_custom])
def test_state_dict_keys_and_shapes_equal_torch(build):
    t_sd = build(torch).state_dict()
    d_sd = build(dlbasic).state_dict()
    assert isinstance(d_sd, OrderedDict)
    assert list(d_sd) == list(t_sd)
    for k in t_sd:
        assert tuple(d_sd[k].shape) == tuple(t_sd[k].shape), k
        assert not d_sd[k].requires_grad


@pytest.mark.parametrize("build", [build_mlp, build_custom])
def test_traversal_names_equal_torch(build):
    t, d = build(torch), build(dlbasic)
    assert [n for n, _ in d.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in d.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in d.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in d.named_children()] == [n for n, _ in t.named_children()]
    assert [n for n, _ in d.named_parameters(prefix="m", recurse=False)] == \
        [n for n, _ in t.named_parameters(prefix="m", recurse=False)]


def test_torch_state_dict_as_numpy_loads_strictly_and_gives_same_outputs():
    t, d = build_custom(torch), build_custom(dlbasic)
    with torch.no_grad():
        for p in t.parameters():
            p.normal_()
    sd = {k: v.detach().numpy() for k, v in t.state_dict().items()}
    res = d.load_state_dict(sd, strict=True)
    assert res.missing_keys == [] and res.unexpected_keys == []
    t.eval()
    d.eval()
    idx = np.array([[1, 0, 5], [9, 3, 3]], dtype=np.int64)
    assert_close(d(dlbasic.tensor(idx)), t(torch.tensor(idx)), 1e-5, 1e-4, "outputs")


def test_round_trip_our_state_dict_into_torch():
    t, d = build_mlp(torch), build_mlp(dlbasic)
    t.load_state_dict(to_torch_state(d), strict=True)
    t.eval()
    d.eval()
    x = np.random.default_rng(0).standard_normal((5, 3, 4)).astype(np.float32)
    assert_close(d(dlbasic.tensor(x)), t(torch.tensor(x)), 1e-5, 1e-4, "outputs")


def _both_errors(t_mod, d_mod, t_sd, d_sd):
    with pytest.raises(RuntimeError) as t_exc:
        t_mod.load_state_dict(t_sd)
    with pytest.raises(RuntimeError) as d_exc:
        d_mod.load_state_dict(d_sd)
    return str(t_exc.value), str(d_exc.value)


def test_strict_load_error_messages_equal_torch():
    t, d = torch.nn.Linear(3, 2), dnn.Linear(3, 2)
    # missing
    t_msg, d_msg = _both_errors(t, d, {"weight": torch.zeros(2, 3)},
                                {"weight": dlbasic.zeros(2, 3)})
    assert d_msg == t_msg
    assert 'Missing key(s) in state_dict: "bias".' in d_msg
    # unexpected (with a nested key) and missing together
    t_msg, d_msg = _both_errors(t, d, {"weight": torch.zeros(2, 3), "bias": torch.zeros(2),
                                       "extra": torch.zeros(1), "sub.w": torch.zeros(1)},
                                {"weight": dlbasic.zeros(2, 3), "bias": dlbasic.zeros(2),
                                 "extra": dlbasic.zeros(1), "sub.w": dlbasic.zeros(1)})
    assert d_msg == t_msg
    assert 'Unexpected key(s) in state_dict: "extra", "sub.w".' in d_msg
    # size mismatch
    t_msg, d_msg = _both_errors(t, d, {"weight": torch.zeros(4, 3), "bias": torch.zeros(2)},
                                {"weight": dlbasic.zeros(4, 3), "bias": dlbasic.zeros(2)})
    assert d_msg == t_msg
    assert "size mismatch for weight: copying a param with shape torch.Size([4, 3]) from " \
           "checkpoint, the shape in current model is torch.Size([2, 3])." in d_msg


def test_nested_strict_load_error_equals_torch():
    t, d = build_custom(torch), build_custom(dlbasic)
    t_sd = t.state_dict()
    d_sd = d.state_dict()
    for sd in (t_sd, d_sd):
        del sd["blocks.1.steps"]
        sd["blocks.7.proj.weight"] = sd["blocks.0.proj.weight"]
        sd["heads.a.weight"] = sd["heads.a.weight"][:1]
    t_msg, d_msg = _both_errors(t, d, t_sd, d_sd)
    assert d_msg == t_msg


def test_non_strict_load_reports_keys_like_torch():
    t, d = build_mlp(torch), build_mlp(dlbasic)
    sd_t = t.state_dict()
    sd_d = d.state_dict()
    for sd in (sd_t, sd_d):
        sd.pop("1.bias")
        sd["bogus"] = sd["1.weight"]
    rt = t.load_state_dict(sd_t, strict=False)
    rd = d.load_state_dict(sd_d, strict=False)
    assert rd.missing_keys == rt.missing_keys == ["1.bias"]
    assert rd.unexpected_keys == rt.unexpected_keys == ["bogus"]
    assert type(rd).__name__ == "_IncompatibleKeys" and repr(rd) == repr(rt)
    assert repr(d.load_state_dict(d.state_dict())) == repr(t.load_state_dict(t.state_dict()))


def test_attribute_errors_match_torch():
    for lib in (torch, dlbasic):
        m = lib.nn.Linear(2, 2)
        with pytest.raises(AttributeError) as exc:
            m.nonexistent
        assert str(exc.value) == "'Linear' object has no attribute 'nonexistent'"
    msgs = []
    for lib in (torch, dlbasic):
        m = lib.nn.Linear(2, 2)
        with pytest.raises(TypeError) as exc:
            m.weight = lib.zeros(2, 2)
        msgs.append(str(exc.value))
        with pytest.raises(KeyError) as exc:
            m.register_buffer("weight", lib.zeros(1))
        msgs.append(str(exc.value))
        with pytest.raises(TypeError) as exc:
            m.add_module("x", 3)
        msgs.append(str(exc.value))
    assert msgs[:3] == msgs[3:]


def test_forward_hooks_behave_like_torch():
    outs = {}
    for lib in (torch, dlbasic):
        m = lib.nn.Linear(3, 2)
        m.load_state_dict({k: lib.tensor(np.asarray(v)) for k, v in
                           {"weight": np.arange(6, dtype=np.float32).reshape(2, 3),
                            "bias": np.ones(2, np.float32)}.items()})
        seen = []
        h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
        h2 = m.register_forward_hook(lambda mod, args, out: seen.append(args[0].sum().item()))
        h3 = m.register_forward_hook(lambda mod, args, out: out + 100)
        x = lib.ones(1, 3)
        a = m(x).detach().numpy().copy()
        h1.remove()
        b = m(x).detach().numpy().copy()
        h3.remove()
        h2.remove()
        c = m(x).detach().numpy().copy()
        outs[lib.__name__] = (a, b, c, seen)
    t, d = outs["torch"], outs["dlbasic"]
    for x, y in zip(t[:3], d[:3]):
        np.testing.assert_allclose(x, y)
    assert t[3] == d[3] == [6.0, 3.0]


def test_train_eval_flags_propagate_like_torch():
    t, d = build_custom(torch), build_custom(dlbasic)
    t.eval()
    d.eval()
    assert [m.training for m in d.modules()] == [m.training for m in t.modules()]
    t.blocks.train()
    d.blocks.train()
    assert [m.training for m in d.modules()] == [m.training for m in t.modules()]


def test_sequential_indexing_like_torch():
    t, d = build_mlp(torch), build_mlp(dlbasic)
    assert repr(d[1:3]) == repr(t[1:3])
    assert repr(d[::-2]) == repr(t[::-2])
    assert repr(d[-1]) == repr(t[-1])
    assert len(d) == len(t)
    del t[1]
    del d[1]
    assert repr(d) == repr(t)
    t.insert(1, torch.nn.Identity())
    d.insert(1, dnn.Identity())
    t.append(torch.nn.Flatten())
    d.append(dnn.Flatten())
    assert repr(d) == repr(t)
    with pytest.raises(IndexError):
        d[10]
    assert list(dict(d.named_children())) == list(dict(t.named_children()))
