"""Max, average and adaptive pooling against torch: values, indices, input gradients, errors."""
import numpy as np
import pytest

from tests.parity.harness import check, check_raises, torch

import torch.nn.functional as F  # noqa: E402  (rebound to dlbasic by the harness)

MAX_CASES = [
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 9, 7), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1))),
    ((2, 3, 10, 9), dict(kernel_size=3, stride=1, dilation=2, padding=1)),
    ((2, 3, 9, 7), dict(kernel_size=2, ceil_mode=True)),
    ((2, 3, 10, 10), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((2, 3, 7, 7), dict(kernel_size=3, stride=3, ceil_mode=True)),
    ((3, 8, 8), dict(kernel_size=2)),                                # unbatched
    ((1, 2, 5, 5), dict(kernel_size=5)),
]


@pytest.mark.parametrize("shape,kw", MAX_CASES)
@pytest.mark.parametrize("return_indices", [False, True])
def test_max_pool2d_matches_torch(shape, kw, return_indices):
    check(lambda x: F.max_pool2d(x, return_indices=return_indices, **kw), shapes=[shape])


def test_max_pool2d_ties_and_plateaus_pick_the_first_maximum():
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 1, 1] = x[0, 0, 2, 2] = 1.0                # equal maxima in overlapping windows
    check(lambda t: F.max_pool2d(t, 3, stride=1, return_indices=True), inputs=[x])
    check(lambda t: F.max_pool2d(t, 2, return_indices=True), inputs=[np.zeros((1, 2, 4, 4),
                                                                             np.float32)])


def test_max_pool2d_propagates_nan():
    x = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4)
    x[0, 0, 1, 0] = np.nan
    check(lambda t: F.max_pool2d(t, 2, return_indices=True), inputs=[x])


def test_max_pool2d_grad_fn_name_and_index_dtype():
    _, (out, idx) = check(lambda x: F.max_pool2d(x, 2, return_indices=True),
                          shapes=[(1, 1, 4, 4)])
    assert idx.dtype.name == "int64" and not idx.requires_grad


AVG_CASES = [
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ((2, 3, 9, 7), dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0))),
    ((2, 3, 9, 7), dict(kernel_size=2, ceil_mode=True)),
    ((2, 3, 10, 10), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((2, 3, 10, 10), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                          count_include_pad=False)),
    ((2, 3, 8, 8), dict(kernel_size=3, padding=1, divisor_override=5)),
    ((3, 8, 8), dict(kernel_size=2, stride=1)),                      # unbatched
]


@pytest.mark.parametrize("shape,kw", AVG_CASES)
def test_avg_pool2d_matches_torch(shape, kw):
    check(lambda x: F.avg_pool2d(x, **kw), shapes=[shape])


@pytest.mark.parametrize("fn", [
    lambda x: F.max_pool1d(x, 3, stride=2, padding=1),
    lambda x: F.max_pool1d(x, 2, return_indices=True),
    lambda x: F.max_pool1d(x, 3, dilation=2, ceil_mode=True),
    lambda x: F.avg_pool1d(x, 3, stride=2, padding=1),
    lambda x: F.avg_pool1d(x, 3, stride=2, padding=1, count_include_pad=False, ceil_mode=True),
    lambda x: F.adaptive_avg_pool1d(x, 4),
    lambda x: F.adaptive_max_pool1d(x, 3, return_indices=True),
])
def test_pool1d_matches_torch(fn):
    check(fn, shapes=[(2, 3, 11)])


@pytest.mark.parametrize("shape,size", [
    ((2, 3, 8, 8), 1), ((2, 3, 8, 8), (1, 1)), ((2, 3, 8, 8), 2), ((2, 3, 7, 9), (3, 4)),
    ((2, 3, 5, 5), 7), ((2, 3, 6, 5), (None, 2)), ((3, 7, 7), 3),
])
def test_adaptive_avg_pool2d_matches_torch(shape, size):
    check(lambda x: F.adaptive_avg_pool2d(x, size), shapes=[shape])


@pytest.mark.parametrize("shape,size", [
    ((2, 3, 8, 8), 1), ((2, 3, 8, 8), 2), ((2, 3, 7, 9), (3, 4)), ((2, 3, 5, 5), 7),
    ((2, 3, 6, 5), (None, 2)), ((3, 7, 7), 3),
])
@pytest.mark.parametrize("return_indices", [False, True])
def test_adaptive_max_pool2d_matches_torch(shape, size, return_indices):
    check(lambda x: F.adaptive_max_pool2d(x, size, return_indices=return_indices),
          shapes=[shape])


@pytest.mark.parametrize("fn,shape", [
    (lambda x: F.max_pool2d(x, 2, padding=2), (2, 3, 8, 8)),
    (lambda x: F.max_pool2d(x, 2), (2, 3)),
    (lambda x: F.max_pool2d(x, 2), (2, 3, 1, 1)),
    (lambda x: F.max_pool2d(x, 2, stride=0), (2, 3, 8, 8)),
    (lambda x: F.max_pool2d(x, 0), (2, 3, 8, 8)),
    (lambda x: F.max_pool2d(x, 2, dilation=0), (2, 3, 8, 8)),
    (lambda x: F.max_pool2d(x, 3, dilation=2, padding=2), (2, 3, 8, 8)),
    (lambda x: F.max_pool2d(x, (2, 2, 2)), (2, 3, 8, 8)),
    (lambda x: F.avg_pool2d(x, 2, padding=2), (2, 3, 8, 8)),
    (lambda x: F.avg_pool2d(x, 2), (2, 3, 1, 1)),
    (lambda x: F.avg_pool2d(x, (2, 2, 2)), (2, 3, 8, 8)),
    (lambda x: F.adaptive_avg_pool2d(x, 2), (3,)),
    (lambda x: F.adaptive_avg_pool2d(x, 2), (2, 3, 0, 4)),
    (lambda x: F.adaptive_max_pool2d(x, 2), (2, 3, 0, 4)),
])
def test_pool_bad_input_raises_like_torch(fn, shape):
    check_raises(fn, shapes=[shape])


def test_pool_padding_error_message():
    _, e = check_raises(lambda x: F.max_pool2d(x, 2, padding=2), shapes=[(2, 3, 8, 8)])
    assert str(e).startswith("pad should be at most half of effective kernel size")


# -- modules -------------------------------------------------------------------------------

nn = torch.nn   # rebound to dlbasic.nn inside harness lambdas


@pytest.mark.parametrize("make", [
    lambda: nn.MaxPool2d(2),
    lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
    lambda: nn.MaxPool2d((3, 2), stride=(2, 1), dilation=(1, 2)),
    lambda: nn.AvgPool2d(2),
    lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False, ceil_mode=True),
    lambda: nn.AdaptiveAvgPool2d((1, 1)),
    lambda: nn.AdaptiveAvgPool2d(3),
    lambda: nn.AdaptiveAvgPool2d((None, 2)),
    lambda: nn.AdaptiveMaxPool2d((2, 3)),
    lambda: nn.MaxPool1d(3, stride=2),
    lambda: nn.AvgPool1d(3, stride=2, padding=1),
    lambda: nn.AdaptiveAvgPool1d(3),
    lambda: nn.AdaptiveMaxPool1d(3),
])
def test_pool_module_repr_and_output_match_torch(make):
    from tests.parity.harness import rebind
    t, d = make(), rebind(make)()
    assert repr(d) == repr(t)
    import dlbasic
    from tests.parity.harness import assert_close
    nd = 1 if "1d" in type(t).__name__ else 2
    shape = (2, 3, 9, 8) if nd == 2 else (2, 3, 11)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    tx, dx = torch.tensor(x, requires_grad=True), dlbasic.tensor(x, requires_grad=True)
    ty, dy = t(tx), d(dx)
    assert_close(dy, ty, 1e-6, 1e-4, "output")
    (ty * ty).sum().backward()
    (dy * dy).sum().backward()
    assert_close(dx.grad, tx.grad, 1e-5, 1e-4, "input grad")


def test_max_pool_module_return_indices():
    check(lambda x: nn.MaxPool2d(2, return_indices=True)(x), shapes=[(2, 3, 6, 6)])
    check(lambda x: nn.AdaptiveMaxPool2d(2, return_indices=True)(x), shapes=[(2, 3, 5, 5)])


def test_pool_repr_examples():
    import dlbasic.nn as dnn
    assert repr(dnn.MaxPool2d(kernel_size=2, stride=2)) == \
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    assert repr(dnn.AdaptiveAvgPool2d((1, 1))) == "AdaptiveAvgPool2d(output_size=(1, 1))"
