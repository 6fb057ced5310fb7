"""cumprod, diff, kron, nan_to_num, cdist, pairwise_distance, bucketize, histc against torch:
values, dtypes, gradients (float64 gradcheck for the differentiable ones) and errors."""
import numpy as np
import pytest

from tests.parity.harness import assert_same_error, check, torch

import dlbasic
from dlbasic.autograd import gradcheck


def randn(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fn, shapes", [
    (lambda x: torch.cumprod(x, 1), [(3, 5)]),
    (lambda x: torch.cumprod(x, 0), [(4,)]),
    (lambda x: x.cumprod(-1), [(2, 3, 4)]),
    (lambda x: torch.diff(x), [(3, 5)]),
    (lambda x: torch.diff(x, n=2, dim=0), [(5, 3)]),
    (lambda x, p, a: torch.diff(x, dim=1, prepend=p, append=a), [(3, 4), (3, 2), (3, 1)]),
    (lambda a, b: torch.kron(a, b), [(2, 3), (3, 2)]),
    (lambda a, b: torch.kron(a, b), [(3,), (2, 2)]),
    (lambda a, b: a.kron(b), [(2, 1, 2), (2, 3)]),
    (lambda a, b: torch.cdist(a, b), [(4, 3), (5, 3)]),
    (lambda a, b: torch.cdist(a, b, p=1.0), [(2, 4, 3), (2, 5, 3)]),
    (lambda a, b: torch.cdist(a, b, p=3.0), [(4, 3), (2, 3)]),
    (lambda a, b: torch.pairwise_distance(a, b), [(4, 3), (4, 3)]),
])
def test_matches_torch(fn, shapes, dtype):
    tol = {} if dtype == "float32" else dict(atol=1e-12, rtol=1e-10, grad_atol=1e-10,
                                             grad_rtol=1e-9)
    check(fn, shapes=shapes, dtype=dtype, **tol)


def test_cumprod_gradient_is_exact_through_zeros():
    for zeros in ([2], [0, 3], [1, 2], [4]):
        x = randn(6, seed=3)
        x[zeros] = 0.0
        check(lambda x: torch.cumprod(x, 0), inputs=[x], atol=1e-12, grad_atol=1e-12)
        assert gradcheck(lambda t: dlbasic.cumprod(t, 0),
                         [dlbasic.tensor(x, requires_grad=True)])


def test_cumprod_of_integers_and_with_a_dtype():
    x = np.array([[1, 2, 3], [4, 0, 6]])
    for dtype in (None, torch.float64):
        t = torch.cumprod(torch.tensor(x), 1, dtype=dtype)
        d = dlbasic.cumprod(dlbasic.tensor(x), 1,
                            dtype=None if dtype is None else dlbasic.float64)
        assert str(d.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
        np.testing.assert_array_equal(d.numpy(), t.numpy())


@pytest.mark.parametrize("fn", [
    lambda x: dlbasic.cumprod(x, 1), lambda x: dlbasic.diff(x, n=2, dim=1),
    lambda x: dlbasic.kron(x, x[:2]), lambda x: dlbasic.cdist(x, x[1:] * 2),
    lambda x: dlbasic.cdist(x, x, p=1.5), lambda x: dlbasic.nan_to_num(x.log()),
])
def test_gradcheck_float64(fn):
    assert gradcheck(fn, [dlbasic.tensor(randn(3, 4, seed=4), requires_grad=True)])


def test_cdist_gradient_is_zero_at_a_zero_distance_as_torch():
    x = randn(3, 2)
    tx, dx = torch.tensor(x, requires_grad=True), dlbasic.tensor(x, requires_grad=True)
    torch.cdist(tx, tx).sum().backward()
    dlbasic.cdist(dx, dx).sum().backward()
    assert np.isfinite(dx.grad.numpy()).all()
    np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), atol=1e-10)


def test_diff_of_bools_is_not_equal():
    x = np.array([True, True, False, True])
    np.testing.assert_array_equal(dlbasic.diff(dlbasic.tensor(x)).numpy(),
                                  torch.diff(torch.tensor(x)).numpy())


@pytest.mark.parametrize("kwargs", [dict(), dict(nan=1.5), dict(posinf=9.0, neginf=-9.0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_to_num_matches_torch(kwargs, dtype):
    x = np.array([1.0, np.nan, np.inf, -np.inf, -2.0], dtype=dtype)
    t = torch.tensor(x, requires_grad=True)
    d = dlbasic.tensor(x, requires_grad=True)
    to, do = torch.nan_to_num(t, **kwargs), dlbasic.nan_to_num(d, **kwargs)
    np.testing.assert_array_equal(do.detach().numpy(), to.detach().numpy())
    to.sum().backward()
    do.sum().backward()
    np.testing.assert_array_equal(d.grad.numpy(), t.grad.numpy())
    y = dlbasic.tensor(x)
    y.nan_to_num_(**kwargs)
    np.testing.assert_array_equal(y.numpy(), to.detach().numpy())


@pytest.mark.parametrize("right", [False, True])
@pytest.mark.parametrize("out_int32", [False, True])
def test_bucketize_matches_torch(right, out_int32):
    b = np.array([1.0, 3.0, 5.0, 7.0])
    v = np.array([[0.0, 1.0, 2.0], [5.0, 7.0, 9.0]])
    t = torch.bucketize(torch.tensor(v), torch.tensor(b), right=right, out_int32=out_int32)
    d = dlbasic.bucketize(dlbasic.tensor(v), dlbasic.tensor(b), right=right,
                          out_int32=out_int32)
    assert str(d.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_array_equal(d.numpy(), t.numpy())


@pytest.mark.parametrize("args", [dict(), dict(bins=4), dict(bins=5, min=-1, max=1),
                                  dict(bins=3, min=0.5, max=0.5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_histc_matches_torch(args, dtype):
    x = np.concatenate([randn(50, seed=9), [1.0, -1.0, 0.0]]).astype(dtype)
    t = torch.histc(torch.tensor(x), **args)
    d = dlbasic.histc(dlbasic.tensor(x), **args)
    assert d.dtype.name == str(t.dtype).split(".")[-1]
    np.testing.assert_array_equal(d.numpy(), t.numpy())
    np.testing.assert_array_equal(dlbasic.tensor(x).histc(**args).numpy(), t.numpy())


def test_histc_of_a_constant_input_uses_min_minus_one_to_max_plus_one():
    x = np.full(4, 2.0, np.float32)
    np.testing.assert_array_equal(dlbasic.histc(dlbasic.tensor(x), bins=4).numpy(),
                                  torch.histc(torch.tensor(x), bins=4).numpy())


@pytest.mark.parametrize("call", [
    lambda L, T: L.diff(T(np.array(1.0))),
    lambda L, T: L.cdist(T(np.ones(3)), T(np.ones((2, 3)))),
    lambda L, T: L.cdist(T(np.ones((2, 3))), T(np.ones((2, 4)))),
    lambda L, T: L.cdist(T(np.ones((2, 3))), T(np.ones((2, 3))), p=-1.0),
    lambda L, T: L.bucketize(T(np.ones(2)), T(np.ones((2, 2)))),
    lambda L, T: L.histc(T(np.ones(3)), bins=0),
    lambda L, T: L.histc(T(np.ones(3)), min=2, max=1),
])
def test_errors_match_torch(call):
    assert_same_error(lambda: call(torch, torch.tensor), lambda: call(dlbasic, dlbasic.tensor),
                      same_message=False)
