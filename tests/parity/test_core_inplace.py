"""In-place ops with torch's autograd rules: leaves that require grad refuse, version
counters catch a saved tensor modified after its use, and in-place on non-leaves gives
torch's gradients."""
import numpy as np
import pytest
import torch

import dlbasic
from tests.parity.harness import check, rebind

INPLACE = {
    "add_": lambda y, v: y.add_(v),
    "add_alpha": lambda y, v: y.add_(v, alpha=2),
    "sub_": lambda y, v: y.sub_(v),
    "mul_": lambda y, v: y.mul_(v),
    "div_": lambda y, v: y.div_(v.abs() + 1),
    "iadd": lambda y, v: y.__iadd__(v),
    "imul_scalar": lambda y, v: y.__imul__(3.0),
    "zero_": lambda y, v: y.zero_(),
    "fill_": lambda y, v: y.fill_(2.5),
    "fill_tensor": lambda y, v: y.fill_(v.sum()),
    "clamp_": lambda y, v: y.clamp_(-0.5, 0.5),
    "clamp_min_": lambda y, v: y.clamp_(min=0.0),
    "copy_": lambda y, v: y.copy_(v),
    "copy_broadcast": lambda y, v: y.copy_(v[0]),
    "setitem": lambda y, v: (y.__setitem__((slice(None), 0), v[:, 1]), y)[1],
    "setitem_scalar": lambda y, v: (y.__setitem__((0, slice(1, 3)), 4.0), y)[1],
    "setitem_mask": lambda y, v: (y.__setitem__(y > 0, 0.0), y)[1],
    "exp_": lambda y, v: y.exp_(),
    "relu_": lambda y, v: y.relu_(),
    "sigmoid_": lambda y, v: y.sigmoid_(),
    "pow_": lambda y, v: y.pow_(2),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_on_nonleaf_gives_torch_gradients(name):
    op = INPLACE[name]

    def fn(x, v):
        y = x * 2          # a non-leaf (Mul saves x and the scalar, not y)
        r = op(y, v)
        assert r is y
        return y * v + y
    check(fn, shapes=[(3, 4), (3, 4)])


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_on_leaf_requiring_grad_raises(name):
    for lib in (torch, dlbasic):
        x = lib.ones(3, 4, requires_grad=True)
        v = lib.ones(3, 4)
        fn = INPLACE[name] if lib is torch else rebind(INPLACE[name])
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            fn(x, v)


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_on_leaf_under_no_grad_is_allowed(name):
    def fn(x, v):
        with torch.no_grad():
            INPLACE[name](x, v)
        return x * 1
    check(fn, shapes=[(3, 4), (3, 4)], requires_grad=[True, False])


def test_inplace_values_without_autograd():
    for name, op in INPLACE.items():
        check(lambda y, v: op(y, v) * 1, shapes=[(3, 4), (3, 4)], requires_grad=False)


def test_inplace_with_grad_operand_into_plain_tensor():
    def fn(v):
        y = torch.ones(3, 4)
        y.add_(v)
        y.mul_(v)
        return y
    check(fn, shapes=[(3, 4)])


@pytest.mark.parametrize("setup", [
    lambda x: (lambda y: (y.exp(), y))(x * 1),            # exp saves its output, not y
    lambda x: (lambda y: (y.sin(), y))(x * 1),            # sin saves its input
    lambda x: (lambda y: (y * y, y))(x * 1),
    lambda x: (lambda y: (y.sigmoid(), y))(x * 1),
    lambda x: (lambda y: (y.pow(3), y))(x * 1),
    lambda x: (lambda y: (y @ y.t(), y))(x * 1),
    lambda x: (lambda y: (y + 2, y))(x * 1),
    lambda x: (lambda y: (y * 2, y))(x * 1),
    lambda x: (lambda y: (y / 2, y))(x * 1),
    lambda x: (lambda y: (2 / y, y))(x * 1),
    lambda x: (lambda y: (y.tanh(), y))(x * 1),
    lambda x: (lambda y: (y.log(), y))(x * 1),
    lambda x: (lambda y: (y.relu(), y))(x * 1),
    lambda x: (lambda y: (y.sum(), y))(x * 1),
    lambda x: (lambda y: (y.prod(), y))(x * 1),
    lambda x: (lambda y: (y.max(), y))(x * 1),
    lambda x: (lambda y: (y.reshape(-1), y))(x * 1),
    lambda x: (lambda y: (y.abs(), y))(x * 1),
    lambda x: (lambda y: (torch.maximum(y, x), y))(x * 1),
    lambda x: (lambda y: (y.clamp(0, 1), y))(x * 1),
    lambda x: (lambda y: (y.var(), y))(x * 1),
])
def test_modifying_a_tensor_after_use_raises_exactly_when_torch_does(setup):
    raised = []
    for lib in (torch, dlbasic):
        x = lib.ones(3, 3, requires_grad=True)
        fn = setup if lib is torch else rebind(setup)
        out, saved = fn(x)
        saved.add_(1)
        try:
            out.sum().backward()
            raised.append(False)
        except RuntimeError as e:
            assert "modified by an inplace operation" in str(e)
            raised.append(True)
    assert raised[0] == raised[1], f"torch raised: {raised[0]}, dlbasic raised: {raised[1]}"


def test_modifying_the_saved_output_raises():
    for lib in (torch, dlbasic):
        x = lib.ones(3, requires_grad=True)
        y = x.exp()
        y.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()
        x = lib.ones(3, requires_grad=True)
        y = x.tanh()
        y[0] = 0.0
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_modifying_a_tensor_not_saved_is_fine():
    def fn(x, w):
        y = x * 2
        z = y + w          # Add saves nothing
        y.add_(1)
        a = x * 1
        b = a * 3.0        # a * scalar: only the scalar is needed for the gradient
        a.mul_(5)
        return z + y + b
    check(fn, shapes=[(3,), (3,)])


def test_version_counter_increments():
    for lib in (torch, dlbasic):
        x = lib.ones(3)
        v0 = x._version
        x.add_(1)
        x[0] = 5
        x.zero_()
        assert x._version == v0 + 3


def test_inplace_through_detached_alias_is_detected():
    for lib in (torch, dlbasic):
        x = lib.ones(3, requires_grad=True)
        y = x.sin()
        x.detach().add_(1)         # same storage as x: the saved x changed
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_copy_converts_dtype_and_broadcasts():
    def fn(x):
        y = torch.zeros(2, 3, dtype=torch.int64)
        y.copy_(x)
        return y
    check(fn, inputs=[np.array([1.7, -2.2, 3.9], dtype=np.float32)], requires_grad=False)


def test_inplace_result_dtype_cannot_be_cast_raises():
    for lib in (torch, dlbasic):
        x = lib.ones(3, dtype=lib.int64)
        with pytest.raises(RuntimeError):
            x.add_(1.5)
        with pytest.raises(RuntimeError):
            x.div_(2)


def test_inplace_shape_that_would_grow_raises():
    for lib in (torch, dlbasic):
        x = lib.ones(3)
        with pytest.raises(RuntimeError):
            x.add_(lib.ones(2, 3))


def test_setitem_after_saved_exp_raises_like_torch():
    for lib in (torch, dlbasic):
        x = lib.ones(4, 5, requires_grad=True)
        y = x.exp()
        y[1:3, 2] = 0.5
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


@pytest.mark.parametrize("name", ["floor_", "ceil_", "round_", "trunc_", "sign_"])
def test_inplace_step_function_on_nonleaf_gives_zero_gradient(name):
    def fn(x):
        y = x * 2
        getattr(y, name)()
        return y * 3 + x
    check(fn, inputs=[np.array([1.3, -2.6, 0.2], dtype=np.float32)])


def test_inplace_on_a_view_of_a_tensor_without_grad_writes_through():
    for lib in (torch, dlbasic):
        y = lib.zeros(3, 4)
        row = y[1]
        row.add_(2)
        y[:, 0].mul_(0)
        col = y.t()[2]
        col.fill_(7)
        assert y.tolist() == [[0, 0, 7, 0], [0, 2, 7, 2], [0, 0, 7, 0]]
        assert y._version == row._version == 3


@pytest.mark.parametrize("fill", [lambda y: y.uniform_(), lambda y: y.normal_(),
                                  lambda y: y.zero_(), lambda y: y.fill_(1.0),
                                  lambda y: y.copy_(torch.ones(3))])
def test_overwriting_a_nonleaf_cuts_the_gradient_to_its_old_history(fill):
    for lib in (torch, dlbasic):
        x = lib.ones(3, requires_grad=True)
        y = x * 2
        (fill if lib is torch else rebind(fill))(y)
        assert y.requires_grad
        (y * 3 + x).sum().backward()
        assert x.grad.tolist() == [1.0, 1.0, 1.0]


def test_inplace_on_expanded_view_raises_like_torch():
    """Writing into an expanded (stride-0) view must raise as torch does, never silently copy
    the buffer (the write would neither raise nor reach the base)."""
    for lib in (torch, dlbasic):
        x = lib.zeros(1, 3)
        y = x.expand(2, 3)
        with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
            y.add_(1)
