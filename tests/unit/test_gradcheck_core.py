"""Float64 finite-difference gradient checks of every differentiable core op.

Inputs are kept away from kinks (|x| > 0.1 where an op has one) and singularities.
"""
import numpy as np
import pytest

import dlbasic
from dlbasic.autograd import gradcheck

RNG = np.random.default_rng(1234)


def _arr(shape, low=-1.0, high=1.0, away=0.0):
    a = RNG.uniform(low, high, shape)
    if away:
        a = np.where(np.abs(a) < away, np.sign(a + 1e-12) * away + a, a)
    return a


def pos(shape):
    return _arr(shape, 0.3, 2.0)


def gen(shape):
    return _arr(shape, -1.0, 1.0, away=0.15)


def distinct(shape):
    n = int(np.prod(shape))
    return (RNG.permutation(n) * 0.37 - n * 0.15).reshape(shape)


IDX = dlbasic.tensor([2, 0, 2, 1])

# name -> (function, list of input arrays)
CASES = {
    # arithmetic (operators on both sides, scalars and tensors)
    "add": (lambda a, b: a + b, [gen((3, 4)), gen((4,))]),
    "radd": (lambda a: 2.5 + a, [gen((3,))]),
    "add_alpha": (lambda a, b: dlbasic.add(a, b, alpha=-1.5), [gen((3, 4)), gen((3, 1))]),
    "sub": (lambda a, b: a - b, [gen((2, 3)), gen((2, 1))]),
    "rsub": (lambda a: 1 - a, [gen((3,))]),
    "mul": (lambda a, b: a * b, [gen((2, 3)), gen((3,))]),
    "rmul": (lambda a: 3 * a, [gen((3,))]),
    "div": (lambda a, b: a / b, [gen((2, 3)), pos((2, 3))]),
    "rdiv": (lambda a: 2 / a, [pos((3,))]),
    "neg": (lambda a: -a, [gen((3,))]),
    "pow_scalar": (lambda a: a ** 3, [gen((4,))]),
    "pow_frac": (lambda a: a ** 0.7, [pos((4,))]),
    "pow_tensor": (lambda a, b: a ** b, [pos((3,)), gen((3,))]),
    "rpow": (lambda a: 1.7 ** a, [gen((3,))]),
    "matmul_op": (lambda a, b: a @ b, [gen((2, 3)), gen((3, 4))]),
    # unary
    "abs": (lambda a: dlbasic.abs(a), [gen((5,))]),
    "exp": (lambda a: dlbasic.exp(a), [gen((5,))]),
    "log": (lambda a: dlbasic.log(a), [pos((5,))]),
    "log1p": (lambda a: dlbasic.log1p(a), [pos((5,))]),
    "expm1": (lambda a: dlbasic.expm1(a), [gen((5,))]),
    "sqrt": (lambda a: dlbasic.sqrt(a), [pos((5,))]),
    "rsqrt": (lambda a: dlbasic.rsqrt(a), [pos((5,))]),
    "sin": (lambda a: dlbasic.sin(a), [gen((5,))]),
    "cos": (lambda a: dlbasic.cos(a), [gen((5,))]),
    "tanh": (lambda a: dlbasic.tanh(a), [gen((5,))]),
    "sigmoid": (lambda a: dlbasic.sigmoid(a), [_arr((5,), -6, 6)]),
    "relu": (lambda a: dlbasic.relu(a), [gen((5,))]),
    "square": (lambda a: dlbasic.square(a), [gen((5,))]),
    "reciprocal": (lambda a: dlbasic.reciprocal(a), [pos((5,))]),
    "atan": (lambda a: dlbasic.atan(a), [gen((5,))]),
    "erf": (lambda a: dlbasic.erf(a), [gen((5,))]),
    "maximum": (lambda a, b: dlbasic.maximum(a, b), [gen((3, 4)), gen((4,))]),
    "minimum": (lambda a, b: dlbasic.minimum(a, b), [gen((3, 4)), gen((3, 1))]),
    "clamp": (lambda a: dlbasic.clamp(a, -0.5, 0.5), [gen((6,))]),
    "clamp_min": (lambda a: a.clamp(min=0.3), [gen((6,))]),
    "clip": (lambda a: dlbasic.clip(a, max=0.2), [gen((6,))]),
    "clamp_tensor": (lambda a, lo, hi: dlbasic.clamp(a, lo, hi),
                     [_arr((6,), -2, 2), np.full(6, -0.5) + _arr((6,), -0.1, 0.1),
                      np.full(6, 0.5) + _arr((6,), -0.1, 0.1)]),
    "where": (lambda a, b: dlbasic.where(a > 0, a, b), [gen((3, 4)), gen((4,))]),
    "lerp": (lambda a, b: dlbasic.lerp(a, b, 0.3), [gen((3,)), gen((3,))]),
    # reductions
    "sum": (lambda a: a.sum(), [gen((3, 4))]),
    "sum_dim": (lambda a: a.sum(1, keepdim=True), [gen((3, 4))]),
    "sum_dims": (lambda a: a.sum((0, 2)), [gen((2, 3, 2))]),
    "mean": (lambda a: a.mean(), [gen((3, 4))]),
    "mean_dim": (lambda a: a.mean(0), [gen((3, 4))]),
    "prod": (lambda a: a.prod(), [gen((2, 3))]),
    "prod_dim": (lambda a: a.prod(1), [gen((3, 4))]),
    "prod_with_zero": (lambda a: a.prod(1), [np.array([[0.0, 0.5, 2.0], [1.0, 0.0, 0.0]])]),
    "var": (lambda a: a.var(), [gen((3, 4))]),
    "var_dim": (lambda a: a.var(1, unbiased=False), [gen((3, 4))]),
    "var_correction": (lambda a: dlbasic.var(a, 0, correction=2, keepdim=True), [gen((4, 3))]),
    "std": (lambda a: a.std(), [gen((3, 4))]),
    "std_dim": (lambda a: a.std(0), [gen((3, 4))]),
    "max": (lambda a: a.max(), [distinct((3, 4))]),
    "min": (lambda a: a.min(), [distinct((3, 4))]),
    "max_dim": (lambda a: a.max(1).values, [distinct((3, 4))]),
    "min_dim": (lambda a: a.min(0, keepdim=True)[0], [distinct((3, 4))]),
    "amax": (lambda a: a.amax(1), [distinct((3, 4))]),
    "amin": (lambda a: a.amin((0, 1)), [distinct((3, 4))]),
    "logsumexp": (lambda a: dlbasic.logsumexp(a, 1), [gen((3, 4))]),
    "norm": (lambda a: a.norm(), [gen((3, 4))]),
    "norm_dim": (lambda a: dlbasic.norm(a, dim=1), [gen((3, 4))]),
    "norm_p1": (lambda a: a.norm(p=1), [gen((3, 4))]),
    "norm_p3": (lambda a: a.norm(p=3, dim=0), [gen((3, 4))]),
    "cumsum": (lambda a: a.cumsum(1), [gen((3, 4))]),
    # matmul
    "matmul_vv": (lambda a, b: dlbasic.matmul(a, b), [gen((3,)), gen((3,))]),
    "matmul_vm": (lambda a, b: dlbasic.matmul(a, b), [gen((3,)), gen((3, 2))]),
    "matmul_mv": (lambda a, b: dlbasic.matmul(a, b), [gen((2, 3)), gen((3,))]),
    "matmul_bcast": (lambda a, b: dlbasic.matmul(a, b), [gen((2, 1, 2, 3)), gen((3, 3, 2))]),
    "matmul_bv": (lambda a, b: dlbasic.matmul(a, b), [gen((2, 2, 3)), gen((3,))]),
    "matmul_vb": (lambda a, b: dlbasic.matmul(a, b), [gen((3,)), gen((2, 3, 2))]),
    "mm": (lambda a, b: dlbasic.mm(a, b), [gen((2, 3)), gen((3, 2))]),
    "bmm": (lambda a, b: dlbasic.bmm(a, b), [gen((2, 2, 3)), gen((2, 3, 2))]),
    # movement
    "reshape": (lambda a: a.reshape(4, 3) * dlbasic.arange(12.0).reshape(4, 3), [gen((3, 4))]),
    "view": (lambda a: a.view(-1), [gen((3, 4))]),
    "flatten": (lambda a: a.flatten(1), [gen((2, 3, 2))]),
    "squeeze": (lambda a: a.squeeze(1), [gen((3, 1, 2))]),
    "unsqueeze": (lambda a: a.unsqueeze(-1), [gen((3, 2))]),
    "permute": (lambda a: a.permute(2, 0, 1), [gen((2, 3, 2))]),
    "transpose": (lambda a: a.transpose(0, 1), [gen((2, 3))]),
    "t": (lambda a: a.t(), [gen((2, 3))]),
    "T": (lambda a: a.T, [gen((2, 3))]),
    "expand": (lambda a: a.expand(3, 2, 4), [gen((2, 1))]),
    "expand_as": (lambda a, b: a.expand_as(b) * b, [gen((1, 3)), gen((2, 3))]),
    "repeat": (lambda a: a.repeat(2, 3), [gen((2, 2))]),
    "cat": (lambda a, b: dlbasic.cat([a, b, a], 1), [gen((2, 2)), gen((2, 3))]),
    "stack": (lambda a, b: dlbasic.stack([a, b], -1), [gen((2, 2)), gen((2, 2))]),
    "split": (lambda a: a.split([1, 3], 1)[1] * 2, [gen((2, 4))]),
    "split_all": (lambda a: a.split(1, 0), [gen((3, 2))]),
    "chunk": (lambda a: a.chunk(2, 0), [gen((3, 2))]),
    "flip": (lambda a: a.flip((0, 1)), [gen((2, 3))]),
    "narrow": (lambda a: a.narrow(1, 1, 2), [gen((2, 4))]),
    "getitem_basic": (lambda a: a[1:, None, ::2], [gen((3, 4))]),
    "getitem_int": (lambda a: a[-1, 2], [gen((3, 4))]),
    "getitem_ellipsis": (lambda a: a[..., 1], [gen((2, 3, 2))]),
    "getitem_index": (lambda a: a[IDX], [gen((3, 2))]),
    "getitem_mask": (lambda a: a[a > 0], [gen((3, 4))]),
    "getitem_pairs": (lambda a: a[IDX, IDX[:1]], [gen((3, 3))]),
    "setitem": (lambda a, v: _setitem(a, v), [gen((3, 4)), gen((4,))]),
    "gather": (lambda a: a.gather(1, dlbasic.tensor([[0, 0], [2, 1]])), [gen((2, 3))]),
    "index_select": (lambda a: a.index_select(0, IDX), [gen((3, 2))]),
    "masked_fill": (lambda a: a.masked_fill(a > 0, 0.0), [gen((3, 4))]),
    "clone": (lambda a: a.clone(), [gen((3,))]),
    # a float32 round trip loses digits: a larger step keeps the difference quotient exact
    "cast": (lambda a: a.to(dlbasic.float32).to(dlbasic.float64) * 2, [np.array([0.5, 0.25])],
             {"eps": 2.0 ** -8}),
    "sort": (lambda a: a.sort(1).values, [distinct((2, 4))]),
    "topk": (lambda a: a.topk(2).values, [distinct((2, 4))]),
    "tril": (lambda a: a.tril(), [gen((3, 3))]),
    "roll": (lambda a: a.roll(1, 1), [gen((2, 3))]),
    "einsum": (lambda a, b: dlbasic.einsum("ij,jk->ik", a, b), [gen((2, 3)), gen((3, 2))]),
}


def _setitem(a, v):
    y = a * 1.0
    y[1] = v * 2
    return y


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name):
    fn, arrays, *kw = CASES[name]
    kw = {"eps": 1e-6, "atol": 1e-5, "rtol": 1e-3, **(kw[0] if kw else {})}
    inputs = [dlbasic.tensor(a, dtype=dlbasic.float64, requires_grad=True) for a in arrays]
    assert gradcheck(fn, inputs, **kw)


def test_gradcheck_detects_a_wrong_gradient():
    class Bad(dlbasic.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g * 3           # should be 2x

    x = dlbasic.tensor([0.5, 1.5], dtype=dlbasic.float64, requires_grad=True)
    with pytest.raises(dlbasic.autograd.GradcheckError):
        gradcheck(Bad.apply, (x,))
    assert gradcheck(Bad.apply, (x,), raise_exception=False) is False
