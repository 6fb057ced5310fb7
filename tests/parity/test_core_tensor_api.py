"""Tensor attributes, conversions, repr and grad_fn names, compared with torch."""
import numpy as np
import pytest
import torch

import dlbasic
from tests.parity.harness import check, rebind


def pair(fn):
    return fn(), rebind(fn)()


def test_shape_size_dim_numel():
    for lib in (torch, dlbasic):
        x = lib.zeros(2, 3, 4)
        assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4)
        assert x.size(1) == 3 and x.size(-1) == 4
        assert x.dim() == 3 and x.ndim == 3 and x.numel() == 24
        assert len(x) == 2
        assert x.shape[1:] == (3, 4)
    assert repr(dlbasic.zeros(2, 3).shape) == "dlbasic.Size([2, 3])"
    assert isinstance(dlbasic.zeros(2).shape, tuple)
    with pytest.raises(IndexError):
        dlbasic.zeros(2, 3).size(2)


def test_dtype_device_and_flags():
    x = dlbasic.ones(2, requires_grad=True)
    assert x.dtype is dlbasic.float32 and str(x.device) == "cpu" and x.device.type == "cpu"
    assert x.device == "cpu" and x.is_leaf and x.requires_grad and x.grad is None
    assert x.grad_fn is None
    y = x * 2
    assert not y.is_leaf and y.grad_fn is not None and y.requires_grad
    assert x.is_floating_point() and not dlbasic.arange(2).is_floating_point()
    with pytest.raises(RuntimeError):
        dlbasic.ones(2, device="cuda")


def test_T_item_tolist():
    t, d = pair(lambda: torch.arange(6.0).reshape(2, 3).T)
    assert d.shape == (3, 2) and d.tolist() == t.tolist()
    t, d = pair(lambda: torch.arange(24).reshape(2, 3, 4).T)
    assert d.shape == t.shape and d.tolist() == t.tolist()
    for lib in (torch, dlbasic):
        assert lib.tensor([2.5]).item() == 2.5 and isinstance(lib.tensor(3).item(), int)
        assert isinstance(lib.tensor(True).item(), bool)
        assert lib.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
        assert lib.tensor(1.5).tolist() == 1.5
        with pytest.raises(RuntimeError):
            lib.tensor([1.0, 2.0]).item()
        assert float(lib.tensor(2.5)) == 2.5 and int(lib.tensor(7)) == 7


def test_numpy_requires_grad_error_is_torch_s():
    with pytest.raises(RuntimeError) as t:
        torch.ones(2, requires_grad=True).numpy()
    with pytest.raises(RuntimeError) as d:
        dlbasic.ones(2, requires_grad=True).numpy()
    assert str(t.value) == str(d.value)
    x = dlbasic.ones(2, requires_grad=True)
    assert isinstance(x.detach().numpy(), np.ndarray)


def test_numpy_shares_memory():
    x = dlbasic.zeros(3)
    x.numpy()[0] = 4
    assert x[0].item() == 4


def test_detach_shares_storage_and_leaves_graph():
    x = dlbasic.ones(3, requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    d[0] = 10
    assert y[0].item() == 10          # same storage, as torch


def test_clone_copies_and_keeps_graph():
    check(lambda x: x.clone() * 3, shapes=[(2, 3)])
    x = dlbasic.ones(3)
    c = x.clone()
    c[0] = 5
    assert x[0].item() == 1


def test_contiguous():
    for lib in (torch, dlbasic):
        x = lib.arange(6.0).reshape(2, 3)
        assert x.is_contiguous() and not x.t().is_contiguous()
        assert x.t().contiguous().is_contiguous()
        assert x.contiguous() is x
    check(lambda x: x.t().contiguous().view(-1), shapes=[(2, 3)])


@pytest.mark.parametrize("conv", [
    lambda x: x.float(), lambda x: x.double(), lambda x: x.long(), lambda x: x.int(),
    lambda x: x.bool(), lambda x: x.to(torch.float64), lambda x: x.to(dtype=torch.int32),
    lambda x: x.to("cpu"), lambda x: x.to("cpu", torch.float64), lambda x: x.type(torch.int64),
    lambda x: x.type_as(torch.zeros(1, dtype=torch.float64)), lambda x: x.half().float(),
    lambda x: x.to(torch.zeros(1, dtype=torch.int64)), lambda x: x.byte(),
])
def test_dtype_conversions(conv):
    check(conv, inputs=[np.array([-1.7, 0.0, 2.5, 3.2], dtype=np.float32)], grad=False)


def test_conversion_gradients_flow_back_in_the_input_dtype():
    check(lambda x: x.double() * 2, shapes=[(3,)])
    check(lambda x: x.to(torch.float64).exp().float(), shapes=[(3,)])
    check(lambda x: x.double() ** 2, shapes=[(3,)], dtype="float64")


def test_type_strings():
    for dt in ("float32", "float64", "int64", "int32", "bool", "uint8"):
        t = torch.zeros(1, dtype=getattr(torch, dt))
        d = dlbasic.zeros(1, dtype=getattr(dlbasic, dt))
        assert t.type() == d.type()
    assert dlbasic.zeros(2).type("torch.DoubleTensor").dtype is dlbasic.float64


def test_to_same_dtype_returns_self():
    for lib in (torch, dlbasic):
        x = lib.ones(2)
        assert x.to(lib.float32) is x and x.float() is x


# -- repr ----------------------------------------------------------------------------------

REPRS = [
    lambda: torch.tensor([1.0, 2.5, -3.0]),
    lambda: torch.tensor([1.0, 2.0, 3.0]),
    lambda: torch.tensor([1, 2, 3]),
    lambda: torch.tensor([True, False]),
    lambda: torch.tensor(3.5),
    lambda: torch.tensor(7),
    lambda: torch.tensor([0.1, 0.25]),
    lambda: torch.tensor([1.0, 2.0], requires_grad=True),
    lambda: torch.tensor([1.0, 2.0], requires_grad=True) * 2,
    lambda: torch.tensor([1.0, 2.0], requires_grad=True) + 1,
    lambda: torch.tensor([1.5, 2.0], dtype=torch.float64),
    lambda: torch.tensor([[1.0, 2.0], [3.5, 4.0]]),
    lambda: torch.tensor([[1, 2], [3, 4]], dtype=torch.int32),
    lambda: torch.tensor([[0.5, -1.0, 2.0], [3.0, 4.25, 5.0]], requires_grad=True),
    lambda: torch.zeros(2, 3),
    lambda: torch.tensor([1e-5, 1.0]),
    lambda: torch.tensor([123456.0, 1.0]),
    lambda: torch.tensor([1e10, 1.0]),
    lambda: torch.tensor([float("nan"), 1.0, float("inf")]),
    lambda: torch.tensor([]),
    lambda: torch.zeros(0, 3),
    lambda: torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True),
    lambda: torch.tensor([-0.5]),
    lambda: torch.tensor([[[1.0, 2.0]], [[3.0, 4.0]]]),
    lambda: torch.arange(12.0).reshape(3, 4),
    lambda: torch.tensor([1, 2], dtype=torch.uint8),
    lambda: torch.tensor([[True, False, True], [False, False, True]]),
    lambda: torch.tensor(2.5, requires_grad=True),
    lambda: torch.tensor(2.5, dtype=torch.float64),
    lambda: torch.tensor(2.5, requires_grad=True) * 3,
    lambda: torch.arange(40.0) / 7,
    lambda: torch.arange(30).reshape(2, 15) * 1000,
    lambda: torch.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True).sum(0),
    lambda: torch.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True).mean(),
    lambda: torch.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True).view(4),
    lambda: torch.arange(3000.0).reshape(30, 100) / 3,
    lambda: torch.tensor([0.0, 0.0]),
    lambda: torch.tensor([1e-10, 0.0]),
    lambda: torch.zeros(0, dtype=torch.int64),
    lambda: torch.tensor([-1, 20, 300]),
]


@pytest.mark.parametrize("i", range(len(REPRS)))
def test_repr_matches_torch(i):
    t, d = pair(REPRS[i])
    assert repr(d) == repr(t).replace("torch.", "dlbasic."), f"\n{d!r}\n{t!r}"


def test_repr_of_large_tensor_is_summarised_like_torch():
    t, d = pair(lambda: torch.arange(2000.0))
    assert repr(d) == repr(t).replace("torch.", "dlbasic.")


# -- grad_fn names -------------------------------------------------------------------------

GRAD_FN = {
    "add": lambda x, y: x + y, "add_scalar": lambda x, y: x + 1,
    "add_alpha": lambda x, y: torch.add(x, y, alpha=2), "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y, "mul_scalar": lambda x, y: x * 2, "div": lambda x, y: x / y,
    "neg": lambda x, y: -x, "pow": lambda x, y: x ** 2, "pow_t": lambda x, y: x ** y,
    "exp": lambda x, y: x.exp(), "log": lambda x, y: x.log(), "sqrt": lambda x, y: x.sqrt(),
    "rsqrt": lambda x, y: x.rsqrt(), "sin": lambda x, y: x.sin(), "cos": lambda x, y: x.cos(),
    "tanh": lambda x, y: x.tanh(), "sigmoid": lambda x, y: x.sigmoid(),
    "abs": lambda x, y: x.abs(), "log1p": lambda x, y: x.log1p(),
    "expm1": lambda x, y: x.expm1(), "relu": lambda x, y: x.relu(),
    "maximum": lambda x, y: torch.maximum(x, y), "minimum": lambda x, y: torch.minimum(x, y),
    "clamp": lambda x, y: x.clamp(0, 1), "clamp_t": lambda x, y: x.clamp(min=y),
    "where": lambda x, y: torch.where(x > 0, x, y),
    "sum": lambda x, y: x.sum(), "sum_dim": lambda x, y: x.sum(0),
    "mean": lambda x, y: x.mean(), "mean_dim": lambda x, y: x.mean(1),
    "prod": lambda x, y: x.prod(), "prod_dim": lambda x, y: x.prod(1),
    "var": lambda x, y: x.var(), "var_dim": lambda x, y: x.var(1), "std": lambda x, y: x.std(),
    "max": lambda x, y: x.max(), "max_dim": lambda x, y: x.max(1)[0],
    "min": lambda x, y: x.min(), "amax": lambda x, y: x.amax(1),
    "amin": lambda x, y: x.amin(1), "logsumexp": lambda x, y: x.logsumexp(1),
    "norm": lambda x, y: x.norm(),
    "matmul": lambda x, y: x @ y.t(), "mm": lambda x, y: torch.mm(x, y.t()),
    "mv": lambda x, y: x @ y[0], "dot": lambda x, y: x[0] @ y[0],
    "bmm": lambda x, y: torch.bmm(x[None], y.t()[None]),
    "reshape": lambda x, y: x.reshape(-1), "view": lambda x, y: x.view(3, 2),
    "flatten": lambda x, y: x.flatten(),
    "unsqueeze": lambda x, y: x.unsqueeze(0), "squeeze": lambda x, y: x[None].squeeze(0),
    "permute": lambda x, y: x.permute(1, 0), "transpose": lambda x, y: x.transpose(0, 1),
    "t": lambda x, y: x.t(), "expand": lambda x, y: x[None].expand(3, 2, 3),
    "repeat": lambda x, y: x.repeat(2, 1), "cat": lambda x, y: torch.cat([x, y]),
    "stack": lambda x, y: torch.stack([x, y]), "flip": lambda x, y: x.flip(0),
    "slice": lambda x, y: x[1:], "select": lambda x, y: x[1], "index": lambda x, y: x[[0, 1]],
    "mask": lambda x, y: x[x > 0], "narrow": lambda x, y: x.narrow(1, 0, 2),
    "clone": lambda x, y: x.clone(), "to": lambda x, y: x.double(),
    "split": lambda x, y: x.split(1)[0], "chunk": lambda x, y: x.chunk(2, 1)[0],
    "gather": lambda x, y: x.gather(1, torch.tensor([[0], [1]])),
    "cumsum": lambda x, y: x.cumsum(1),
    "split_sizes": lambda x, y: x.split([1, 1])[1], "sum_all_dims": lambda x, y: x.sum((0, 1)),
    "mean_all_dims": lambda x, y: x.mean((0, 1)), "sum_empty_dims": lambda x, y: x.sum(dim=()),
    "std_dim": lambda x, y: x.std(1, correction=0), "squeeze_all": lambda x, y: x[None].squeeze(),
    "squeeze_dims": lambda x, y: x[None].squeeze((0,)), "select_col": lambda x, y: x[:, 1],
    "int_then_none": lambda x, y: x[0, None], "slice_then_int": lambda x, y: x[1:, 0],
    "int_then_slice": lambda x, y: x[0, 1:], "full_slice": lambda x, y: x[:],
    "ellipsis_int": lambda x, y: x[..., 1], "vec_mat": lambda x, y: x[0] @ y.t(),
    "batched_matmul": lambda x, y: x[None] @ y.t(), "mT": lambda x, y: x.mT,
    "T": lambda x, y: x.T, "expand_as": lambda x, y: x[0].expand_as(y),
    "swapaxes": lambda x, y: x.swapaxes(0, 1), "movedim": lambda x, y: x.movedim(0, 1),
    "max_all": lambda x, y: x.max(), "min_dim": lambda x, y: x.min(1).values,
    "norm_dim": lambda x, y: x.norm(dim=1),
    "square": lambda x, y: x.square(), "erf": lambda x, y: x.erf(),
    "atan": lambda x, y: x.atan(), "rsub": lambda x, y: 1 - x, "rdiv": lambda x, y: 2 / x,
    "rpow": lambda x, y: 2 ** x, "rmul": lambda x, y: 2 * x, "radd": lambda x, y: 2 + x,
    "reciprocal": lambda x, y: x.reciprocal(), "fmod": lambda x, y: x.fmod(y),
    "remainder": lambda x, y: x % 0.3, "floor": lambda x, y: x.floor(),
    "fmod_scalar": lambda x, y: x.fmod(0.3), "remainder_t": lambda x, y: x % y,
}


@pytest.mark.parametrize("name", sorted(GRAD_FN))
def test_grad_fn_name_matches_torch(name):
    a = np.array([[0.5, 1.5, 2.0], [1.0, 0.7, 3.0]], dtype=np.float32)
    b = np.array([[1.0, 2.0, 0.5], [0.3, 1.2, 2.0]], dtype=np.float32)
    fn = GRAD_FN[name]
    t = fn(torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True))
    d = rebind(fn)(dlbasic.tensor(a, requires_grad=True), dlbasic.tensor(b, requires_grad=True))
    assert d.grad_fn.name() == t.grad_fn.name()
    assert type(t.grad_fn).__name__ in repr(d.grad_fn) or d.grad_fn.name() in repr(d)


def test_next_functions_point_at_leaves():
    x = dlbasic.ones(2, requires_grad=True)
    y = x * 2
    fns = y.grad_fn.next_functions
    assert fns[0][0].name() == "torch::autograd::AccumulateGrad"
    assert fns[0][0].variable is x
    assert fns[1][0] is None


def test_set_printoptions_like_torch():
    cases = [({"precision": 2}, lambda: torch.tensor([1.23456, 100.5])),
             ({"sci_mode": True}, lambda: torch.tensor([1.23456, 100.5])),
             ({"linewidth": 40}, lambda: torch.arange(20.0) / 3),
             ({"threshold": 5, "edgeitems": 2}, lambda: torch.arange(10.0).reshape(5, 2))]
    try:
        for opts, make in cases:
            torch.set_printoptions(**opts)
            dlbasic.set_printoptions(**opts)
            t, d = pair(make)
            assert repr(d) == repr(t).replace("torch.", "dlbasic."), f"\n{d!r}\n{t!r}"
            torch.set_printoptions(profile="default")
            dlbasic.set_printoptions(profile="default")
    finally:
        torch.set_printoptions(profile="default")
        dlbasic.set_printoptions(profile="default")
