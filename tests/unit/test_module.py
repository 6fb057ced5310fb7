"""Module system and basic layers, without torch: registration, traversal, state, hooks, kernels."""
import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import dlbasic
import dlbasic.nn as nn
import dlbasic.nn.functional as F
from dlbasic.autograd import gradcheck


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.w = nn.Parameter(dlbasic.ones(2))
        self.register_buffer("count", dlbasic.zeros(1))
        self.register_buffer("tmp", dlbasic.zeros(1), persistent=False)

    def forward(self, x):
        return self.fc(x) * self.w


# -- Parameter ----------------------------------------------------------------------------
def test_parameter_shares_memory_and_requires_grad():
    t = dlbasic.zeros(3)
    p = nn.Parameter(t)
    assert isinstance(p, dlbasic.Tensor) and p.requires_grad and p.is_leaf
    p.detach()._data[0] = 5           # same buffer
    assert t[0].item() == 5
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert nn.Parameter().shape == (0,)
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    with pytest.raises(RuntimeError):
        nn.Parameter(dlbasic.zeros(2, dtype=dlbasic.int64))


def test_parameter_pickles_and_deepcopies_as_parameter():
    p = nn.Parameter(dlbasic.randn(2, 2))
    for q in (pickle.loads(pickle.dumps(p)), copy.deepcopy(p)):
        assert type(q) is nn.Parameter and q.requires_grad
        np.testing.assert_array_equal(q.detach().numpy(), p.detach().numpy())
        assert q._data is not p._data


# -- registration ---------------------------------------------------------------------------
def test_setattr_registers_and_replaces_members():
    m = Tiny()
    assert list(m._parameters) == ["w"] and list(m._modules) == ["fc"]
    assert list(m._buffers) == ["count", "tmp"]
    # a module assigned over a parameter is refused (as in torch); over a plain name it moves
    with pytest.raises(TypeError, match="as parameter 'w'"):
        m.w = nn.Identity()
    del m.w
    m.w = nn.Identity()
    assert "w" not in m._parameters and isinstance(m._modules["w"], nn.Identity)
    # a module name reassigned to a parameter moves it back
    m.w = nn.Parameter(dlbasic.ones(2))
    assert "w" in m._parameters and "w" not in m._modules
    # None keeps a registered parameter slot
    m.w = None
    assert "w" in m._parameters and m.w is None
    assert [n for n, _ in m.named_parameters()] == ["fc.weight", "fc.bias"]
    with pytest.raises(TypeError, match="cannot assign 'torch.FloatTensor' as parameter 'w'"):
        m.w = dlbasic.zeros(2)
    # a plain tensor assigned to a buffer name updates the buffer
    m.count = dlbasic.ones(1)
    assert m._buffers["count"].item() == 1.0
    m.tmp = dlbasic.ones(3)
    assert "tmp" in m._non_persistent_buffers_set
    # plain attributes stay plain
    m.note = 3
    assert m.note == 3 and "note" not in m._parameters


def test_delattr_removes_members():
    m = Tiny()
    del m.w
    del m.count
    del m.fc
    assert not m._parameters and "count" not in m._buffers and not m._modules
    with pytest.raises(AttributeError, match="'Tiny' object has no attribute 'w'"):
        m.w


def test_register_methods_and_errors():
    m = nn.Module()
    m.register_parameter("p", nn.Parameter(dlbasic.zeros(1)))
    m.register_parameter("q", None)
    m.add_module("child", nn.Linear(1, 1))
    m.register_module("other", None)
    m.register_buffer("b", None)
    assert [n for n, _ in m.named_parameters()] == ["p", "child.weight", "child.bias"]
    assert list(m.state_dict()) == ["p", "child.weight", "child.bias"]
    with pytest.raises(KeyError):
        m.register_parameter("a.b", None)
    with pytest.raises(KeyError):
        m.add_module("", nn.Identity())
    with pytest.raises(TypeError):
        m.register_parameter("z", dlbasic.zeros(1))
    with pytest.raises(TypeError):
        m.register_buffer("z", 3)
    with pytest.raises(ValueError, match="non-leaf"):
        x = dlbasic.ones(1, requires_grad=True)
        m.register_parameter("z", nn.Parameter(x * 2) if False else _nonleaf_param(x))
    assert m.get_submodule("child") is m.child
    assert m.get_parameter("child.weight") is m.child.weight
    with pytest.raises(AttributeError):
        m.get_submodule("child.nothing")


def _nonleaf_param(x):
    p = nn.Parameter(dlbasic.ones(1))
    p.grad_fn = (x * 2).grad_fn
    return p


def test_assigning_before_init_raises():
    class Bad(nn.Module):
        def __init__(self):
            self.p = nn.Parameter(dlbasic.ones(1))
    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_buffer_class_assignment_registers_buffer():
    m = nn.Module()
    m.stats = nn.Buffer(dlbasic.ones(2), persistent=False)
    assert "stats" in m._buffers and "stats" not in m.state_dict()


def test_dir_lists_members():
    names = dir(Tiny())
    for k in ("fc", "w", "count", "forward", "training"):
        assert k in names


# -- traversal ---------------------------------------------------------------------------------
def test_shared_parameter_yielded_once():
    m = nn.Module()
    m.a = nn.Linear(2, 2)
    m.b = nn.Linear(2, 2)
    m.b.weight = m.a.weight
    m.c = m.a                              # shared module
    names = [n for n, _ in m.named_parameters()]
    assert names == ["a.weight", "a.bias", "b.bias"]
    assert len(list(m.parameters())) == 3
    assert len(list(m.named_parameters(remove_duplicate=False))) == 6
    assert [n for n, _ in m.named_modules()] == ["", "a", "b"]
    assert [n for n, _ in m.named_children()] == ["a", "b"]
    # state_dict still lists every path (as torch does)
    assert list(m.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias", "c.weight",
                                    "c.bias"]


def test_buffers_and_recurse_flag():
    m = nn.Sequential(Tiny(), Tiny())
    assert [n for n, _ in m.named_buffers()] == ["0.count", "0.tmp", "1.count", "1.tmp"]
    assert list(m.parameters(recurse=False)) == []
    assert len(list(m.buffers())) == 4
    sd = m.state_dict()
    assert "0.tmp" not in sd and "0.count" in sd


# -- state dict ------------------------------------------------------------------------------
def test_state_dict_values_are_detached_and_share_memory():
    m = Tiny()
    sd = m.state_dict()
    assert isinstance(sd, OrderedDict)
    assert not sd["w"].requires_grad and type(sd["w"]) is dlbasic.Tensor
    assert sd["w"]._data is m.w._data
    kv = m.state_dict(keep_vars=True)
    assert kv["w"] is m.w
    # own members first, then children (torch's order)
    assert list(m.state_dict(prefix="net.")) == ["net.w", "net.count", "net.fc.weight",
                                                  "net.fc.bias"]


def test_load_state_dict_copies_in_place_from_tensors_and_arrays():
    m = Tiny()
    w_obj, w_arr = m.fc.weight, m.fc.weight._data
    v0 = m.fc.weight._version
    new = {"fc.weight": np.full((2, 3), 2.0), "fc.bias": dlbasic.tensor([1.0, -1.0]),
           "w": np.array([3.0, 4.0], np.float32), "count": dlbasic.tensor([7.0])}
    res = m.load_state_dict(new)
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert m.fc.weight is w_obj and m.fc.weight._data is w_arr
    assert m.fc.weight._version > v0
    assert m.fc.weight.dtype == dlbasic.float32
    np.testing.assert_array_equal(m.fc.weight.detach().numpy(), np.full((2, 3), 2.0))
    assert m.count.item() == 7.0
    assert m.w.requires_grad


def test_load_state_dict_errors():
    m = Tiny()
    sd = m.state_dict()
    del sd["w"]
    sd["fc.extra"] = dlbasic.zeros(1)
    sd["fc.bias"] = dlbasic.zeros(5)
    with pytest.raises(RuntimeError) as exc:
        m.load_state_dict(sd)
    msg = str(exc.value)
    assert msg.startswith("Error(s) in loading state_dict for Tiny:\n\t")
    assert 'Missing key(s) in state_dict: "w".' in msg
    assert 'Unexpected key(s) in state_dict: "fc.extra".' in msg
    assert "size mismatch for fc.bias: copying a param with shape torch.Size([5]) from " \
           "checkpoint, the shape in current model is torch.Size([2])." in msg
    # shape mismatches raise even when not strict
    with pytest.raises(RuntimeError, match="size mismatch"):
        m.load_state_dict(sd, strict=False)
    sd["fc.bias"] = dlbasic.zeros(2)
    res = m.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["w"] and res.unexpected_keys == ["fc.extra"]
    with pytest.raises(TypeError):
        m.load_state_dict([1, 2])


def test_load_state_dict_assign_replaces_tensors():
    m = nn.Linear(2, 2)
    old = m.weight
    m.load_state_dict({"weight": dlbasic.ones(2, 2), "bias": dlbasic.zeros(2)}, assign=True)
    assert m.weight is not old and isinstance(m.weight, nn.Parameter)


# -- modes, apply, grads, dtype -------------------------------------------------------------
def test_train_eval_apply_zero_grad_requires_grad():
    m = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    assert m.training and m[1].training
    assert m.eval() is m and not m[1].training
    m.train()
    assert m[1].training
    with pytest.raises(ValueError):
        m.train("yes")
    visited = []
    m.apply(lambda mod: visited.append(type(mod).__name__))
    assert visited == ["Linear", "Dropout", "Sequential"]
    m(dlbasic.randn(3, 2)).sum().backward()
    assert m[0].weight.grad is not None
    m.zero_grad(set_to_none=False)
    assert not m[0].weight.grad.numpy().any()
    m.zero_grad()
    assert m[0].weight.grad is None
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_to_double_float_half_keep_parameter_identity():
    m = Tiny()
    w = m.fc.weight
    assert m.double() is m
    assert m.fc.weight is w and w.dtype == dlbasic.float64 and m.count.dtype == dlbasic.float64
    out = m(dlbasic.randn(2, 3, dtype=dlbasic.float64))
    assert out.dtype == dlbasic.float64
    m.float()
    assert w.dtype == dlbasic.float32
    m.to(dlbasic.float16)
    assert w.dtype == dlbasic.float16
    m.to("cpu").to(device="cpu", dtype=dlbasic.float32)
    assert w.dtype == dlbasic.float32
    assert m.cpu() is m
    with pytest.raises(TypeError, match="floating point"):
        m.to(dlbasic.int64)
    with pytest.raises(RuntimeError):
        m.cuda()
    with pytest.raises(RuntimeError):
        m.to("cuda")


def test_deepcopy_and_pickle_give_independent_modules():
    m = Tiny()
    m.extra = m.fc            # shared submodule stays shared in the copy
    for c in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert c.fc is c.extra and c.fc is not m.fc
        assert isinstance(c.fc.weight, nn.Parameter) and c.fc.weight.requires_grad
        np.testing.assert_array_equal(c.fc.weight.detach().numpy(), m.fc.weight.detach().numpy())
        c.fc.weight.detach()._data[...] = 0
        assert m.fc.weight.detach().numpy().any()
        x = dlbasic.randn(1, 3)
        c(x).sum().backward()
        assert c.fc.weight.grad is not None and m.fc.weight.grad is None


# -- hooks ---------------------------------------------------------------------------------
def test_hooks_order_replacement_and_removal():
    m = nn.Identity()
    log = []
    h1 = m.register_forward_pre_hook(lambda mod, args: log.append("pre1"))
    h2 = m.register_forward_pre_hook(lambda mod, args: args[0] + 1)        # non-tuple result
    h3 = m.register_forward_hook(lambda mod, args, out: out * 10)
    h4 = m.register_forward_hook(lambda mod, args, out: log.append(("post", out.item())),
                                 prepend=True)
    assert m(dlbasic.tensor(1.0)).item() == 20.0
    assert log == ["pre1", ("post", 2.0)]
    for h in (h1, h2, h3, h4):
        h.remove()
    h1.remove()                                    # removing twice is harmless
    assert m(dlbasic.tensor(1.0)).item() == 1.0
    k = m.register_forward_pre_hook(lambda mod, args, kwargs: ((args[0] * 3,), kwargs),
                                    with_kwargs=True)
    assert m(dlbasic.tensor(1.0)).item() == 3.0
    k.remove()
    with m.register_forward_hook(lambda mod, args, out: out - 1):
        assert m(dlbasic.tensor(1.0)).item() == 0.0
    assert m(dlbasic.tensor(1.0)).item() == 1.0


def test_forward_missing_raises():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)


# -- containers -----------------------------------------------------------------------------
def test_sequential_api():
    a, b, c = nn.Linear(2, 3), nn.Identity(), nn.Linear(3, 1)
    s = nn.Sequential(a, b)
    s.append(c)
    assert len(s) == 3 and s[-1] is c and s[0] is a and list(s) == [a, b, c]
    sl = s[1:]
    assert isinstance(sl, nn.Sequential) and list(sl) == [b, c]
    assert list(sl._modules) == ["1", "2"]          # slices keep the keys, as torch
    s.insert(0, nn.Identity())
    assert list(s._modules) == ["0", "1", "2", "3"] and s[1] is a
    s.extend([nn.Identity()])
    assert len(s) == 5
    del s[0]
    assert s[0] is a and len(s) == 4
    s[1] = nn.Flatten()
    assert isinstance(s[1], nn.Flatten)
    assert len(s + nn.Sequential(nn.Identity())) == 5
    od = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Identity())]))
    assert list(od._modules) == ["fc", "act"] and od.fc is od[0]
    x = dlbasic.randn(4, 2)
    np.testing.assert_allclose(od(x).detach().numpy(), od.fc(x).detach().numpy())
    with pytest.raises(IndexError, match="index 7 is out of range"):
        s[7]


def test_module_list_and_dict():
    ml = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    ml.append(nn.Identity())
    ml.extend([nn.Identity()])
    ml.insert(1, nn.Flatten())
    assert len(ml) == 6 and isinstance(ml[1], nn.Flatten) and isinstance(ml[-1], nn.Identity)
    assert isinstance(ml[1:3], nn.ModuleList)
    assert len(list(ml.parameters())) == 6
    del ml[1]
    assert list(ml._modules) == [str(i) for i in range(5)]
    with pytest.raises(TypeError):
        ml.extend(nn.Linear(1, 1))
    md = nn.ModuleDict({"a": nn.Linear(1, 1)})
    md["b"] = nn.Identity()
    md.update([("c", nn.Flatten())])
    assert list(md.keys()) == ["a", "b", "c"] and "b" in md and len(md) == 3
    assert md.pop("b") is not None and list(md) == ["a", "c"]
    assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]


def test_parameter_list_and_dict():
    pl = nn.ParameterList([dlbasic.zeros(2), nn.Parameter(dlbasic.ones(3))])
    pl.append(dlbasic.ones(1))
    assert len(pl) == 3 and all(isinstance(p, nn.Parameter) for p in pl)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    pd = nn.ParameterDict({"a": dlbasic.zeros(2)})
    pd["b"] = nn.Parameter(dlbasic.ones(1))
    assert list(pd.keys()) == ["a", "b"] and isinstance(pd["a"], nn.Parameter)
    assert list(pd.state_dict()) == ["a", "b"]
    assert "Parameter containing: [torch.FloatTensor of size 2]" in repr(pd)


# -- layers -------------------------------------------------------------------------------
def test_linear_default_init_bounds():
    m = nn.Linear(100, 300)
    bound = 1 / np.sqrt(100)
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    assert w.dtype == np.float32 and np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.95 * bound                    # uniform fills the range
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound
    assert np.abs(b).max() <= bound
    assert m.bias.shape == (300,) and nn.Linear(3, 2, bias=False).bias is None


def test_embedding_and_layernorm_default_init():
    e = nn.Embedding(1000, 50, padding_idx=-1)
    w = e.weight.detach().numpy()
    assert e.padding_idx == 999 and not w[999].any()
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02
    ln = nn.LayerNorm((2, 3))
    assert (ln.weight.detach().numpy() == 1).all() and not ln.bias.detach().numpy().any()
    with pytest.raises(AssertionError):
        nn.Embedding(3, 2, padding_idx=3)


def test_layer_norm_normalises():
    x = dlbasic.randn(4, 10) * 5 + 3
    y = nn.LayerNorm(10)(x).detach().numpy()
    np.testing.assert_allclose(y.mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(1), 1, atol=1e-3)


def test_dropout_p_validation_and_modes():
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="but got -0.5"):
        nn.Dropout2d(-0.5)
    m = nn.Dropout(0.5)
    x = dlbasic.ones(1000)
    frac = (m(x).numpy() == 0).mean()
    assert 0.44 < frac < 0.56
    assert (m.eval()(x).numpy() == 1).all()


# -- float64 gradient checks of the fused kernels -------------------------------------------
def _r(*shape, seed=0, rg=True):
    a = np.random.default_rng(seed).standard_normal(shape)
    return dlbasic.tensor(a, dtype=dlbasic.float64, requires_grad=rg)


def test_gradcheck_linear():
    assert gradcheck(lambda x, w, b: F.linear(x, w, b), (_r(2, 3, 4), _r(5, 4, seed=1),
                                                         _r(5, seed=2)))
    assert gradcheck(lambda x, w: F.linear(x, w), (_r(3, 4), _r(2, 4, seed=1)))


def test_gradcheck_layer_norm():
    assert gradcheck(lambda x, w, b: F.layer_norm(x, (3, 4), w, b),
                     (_r(2, 3, 4), _r(3, 4, seed=1), _r(3, 4, seed=2)))
    assert gradcheck(lambda x: F.layer_norm(x, (5,)), (_r(3, 5),))
    assert gradcheck(lambda x, w: F.layer_norm(x, (5,), w), (_r(3, 5), _r(5, seed=3)))


def test_gradcheck_embedding_with_repeats_and_padding():
    idx = dlbasic.tensor([[0, 2, 2], [3, 1, 2]])
    assert gradcheck(lambda w: F.embedding(idx, w), (_r(4, 3),))
    # scale_grad_by_freq is deliberately not the true gradient: row grad / its count
    w = _r(4, 3)
    F.embedding(idx, w, scale_grad_by_freq=True).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.ones((4, 3)))
    w = _r(4, 3)
    F.embedding(idx, w, padding_idx=2).sum().backward()
    g = w.grad.numpy()
    assert not g[2].any() and (g[0] == 1).all() and (g[1] == 1).all()


def test_gradcheck_bilinear_and_group_norm():
    assert gradcheck(lambda a, b, w, c: F.bilinear(a, b, w, c),
                     (_r(3, 2), _r(3, 4, seed=1), _r(5, 2, 4, seed=2), _r(5, seed=3)))
    assert gradcheck(lambda x, w, b: F.group_norm(x, 2, w, b),
                     (_r(2, 4, 3), _r(4, seed=1), _r(4, seed=2)))


def test_linear_keeps_float32_and_backward_shapes():
    m = nn.Linear(4, 3)
    x = dlbasic.randn(2, 5, 4, requires_grad=True)
    y = m(x)
    assert y.shape == (2, 5, 3) and y.dtype == dlbasic.float32
    y.sum().backward()
    assert x.grad.shape == x.shape and x.grad.dtype == dlbasic.float32
    assert m.weight.grad.dtype == dlbasic.float32 and m.bias.grad.shape == (3,)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied "
                                           r"\(10x3 and 4x3\)"):
        m(dlbasic.randn(2, 5, 3))


def test_linear_inplace_change_after_forward_is_detected():
    m = nn.Linear(2, 2)
    x = dlbasic.randn(3, 2, requires_grad=True)
    y = m(x)
    with dlbasic.no_grad():
        x.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_inplace_dropout_on_non_leaf_keeps_history_and_refuses_leaf():
    x = dlbasic.randn(5, 6, requires_grad=True)
    h = x * 1
    y = nn.Dropout(0.5, inplace=True)(h)
    assert y is h and y.grad_fn.name() == "NativeDropoutBackward0"
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (y.detach().numpy() != 0) * 2.0)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        nn.Dropout(inplace=True)(dlbasic.randn(3, requires_grad=True))


def test_load_from_state_dict_override_with_torch_signature():
    class Legacy(nn.Linear):
        def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                                  missing_keys, unexpected_keys, error_msgs):
            key = prefix + "bias"
            if key not in state_dict:          # old checkpoints had no bias: fill it
                state_dict[key] = dlbasic.full((self.out_features,), 7.0)
            super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                          missing_keys, unexpected_keys, error_msgs)

    net = nn.Sequential(Legacy(2, 3))
    net.load_state_dict({"0.weight": dlbasic.zeros(3, 2)})
    assert (net[0].bias.detach().numpy() == 7).all()
    net.load_state_dict({"0.weight": dlbasic.zeros(3, 2)}, assign=True)
    assert (net[0].bias.detach().numpy() == 7).all()
