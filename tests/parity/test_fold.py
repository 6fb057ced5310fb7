"""F.unfold / F.fold (im2col / col2im) and nn.Unfold / nn.Fold against torch: values and
gradients for kernel, dilation, padding and stride (ints and pairs), batched and unbatched,
float32 and float64; the adjoint identity; float64 gradcheck; torch's errors and messages."""
import numpy as np
import pytest

from tests.parity.harness import assert_same_error, check, torch

import dlbasic
import dlbasic.nn as dnn
from dlbasic.autograd import gradcheck

F = torch.nn.functional
nn = torch.nn

F64 = dict(atol=1e-12, rtol=1e-10, grad_atol=1e-11, grad_rtol=1e-10)

# (input shape, kernel_size, dilation, padding, stride)
CASES = [
    ((2, 3, 5, 6), 2, 1, 0, 1),
    ((2, 3, 5, 6), 3, 1, 1, 2),
    ((2, 3, 7, 6), (2, 3), (2, 1), (1, 2), (2, 1)),
    ((1, 2, 4, 4), 1, 1, 0, 1),
    ((1, 2, 4, 4), 4, 1, 0, 1),                        # one block
    ((3, 6, 5), (3, 2), 1, (0, 1), (1, 3)),            # unbatched
    ((0, 2, 5, 5), 2, 1, 0, 1),                        # empty batch
    ((2, 1, 9, 8), 3, 3, 2, 2),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, k, d, p, s", CASES)
def test_unfold_matches_torch(shape, k, d, p, s, dtype):
    tol = {} if dtype == "float32" else F64
    check(lambda x: F.unfold(x, k, d, p, s), shapes=[shape], dtype=dtype, **tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, k, d, p, s", CASES)
def test_fold_matches_torch(shape, k, d, p, s, dtype):
    tol = {} if dtype == "float32" else F64
    cols = tuple(F.unfold(torch.zeros(shape), k, d, p, s).shape)
    check(lambda c: F.fold(c, shape[-2:], k, d, p, s), shapes=[cols], dtype=dtype, **tol)


@pytest.mark.parametrize("shape, k, d, p, s", [c for c in CASES if c[0][0] != 0][:5])
def test_fold_and_unfold_are_each_others_adjoint(shape, k, d, p, s):
    # <unfold(x), c> = <x, fold(c)>
    rng = np.random.default_rng(0)
    x = dlbasic.tensor(rng.standard_normal(shape))
    u = dnn.functional.unfold(x, k, d, p, s)
    c = dlbasic.tensor(rng.standard_normal(tuple(u.shape)))
    f = dnn.functional.fold(c, shape[-2:], k, d, p, s)
    np.testing.assert_allclose((u * c).sum().item(), (x * f).sum().item(), rtol=1e-12)


def test_fold_of_unfold_counts_each_pixels_windows():
    # fold(unfold(1)) = how many blocks cover each pixel (torch's documented identity)
    x = np.ones((1, 1, 4, 5))
    check(lambda x: F.fold(F.unfold(x, 2, padding=1), (4, 5), 2, padding=1), inputs=[x], **F64)
    out = dnn.functional.fold(dnn.functional.unfold(dlbasic.tensor(x), 3), (4, 5), 3).numpy()
    assert out[0, 0, 1, 2] == 6.0 and out[0, 0, 0, 0] == 1.0


@pytest.mark.parametrize("shape, k, d, p, s", CASES[1:3] + CASES[5:6])
def test_gradcheck_float64(shape, k, d, p, s):
    rng = np.random.default_rng(1)
    x = dlbasic.tensor(rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda x: dnn.functional.unfold(x, k, d, p, s), (x,))
    cols = tuple(F.unfold(torch.zeros(shape), k, d, p, s).shape)
    c = dlbasic.tensor(rng.standard_normal(cols), requires_grad=True)
    assert gradcheck(lambda c: dnn.functional.fold(c, shape[-2:], k, d, p, s), (c,))


def test_grad_fn_names_match_torch():
    t = F.unfold(torch.zeros(1, 2, 4, 4, requires_grad=True), 2)
    d = dnn.functional.unfold(dlbasic.zeros(1, 2, 4, 4, requires_grad=True), 2)
    assert d.grad_fn.name() == t.grad_fn.name() == "Im2ColBackward0"
    t = F.fold(torch.zeros(1, 8, 9, requires_grad=True), (4, 4), 2)
    d = dnn.functional.fold(dlbasic.zeros(1, 8, 9, requires_grad=True), (4, 4), 2)
    assert d.grad_fn.name() == t.grad_fn.name() == "Col2ImBackward0"


@pytest.mark.parametrize("cls, args, kw, shape", [
    ("Unfold", (3,), dict(padding=1, stride=2), (2, 3, 6, 5)),
    ("Unfold", ((2, 3),), dict(dilation=(1, 2)), (3, 7, 8)),
    ("Fold", ((4, 5), 2), dict(), (2, 12, 12)),
    ("Fold", ((6, 6), 3), dict(stride=3, padding=0), (18, 4)),
])
def test_modules_match_torch(cls, args, kw, shape):
    t, d = getattr(nn, cls)(*args, **kw), getattr(dnn, cls)(*args, **kw)
    assert repr(d) == repr(t)
    assert list(d.state_dict()) == list(t.state_dict()) == []
    d.load_state_dict({k: dlbasic.tensor(v.numpy()) for k, v in t.state_dict().items()},
                      strict=True)
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(d(dlbasic.tensor(x)).numpy(), t(torch.tensor(x)).numpy(),
                               atol=1e-6)


X = (2, 3, 5, 6)


@pytest.mark.parametrize("shape, args, kw", [
    (X, (7,), {}), (X, (0,), {}), (X, (2,), dict(stride=0)), (X, (2,), dict(dilation=0)),
    (X, (2,), dict(padding=-1)), (X, ((2, 2, 2),), {}), (X, (2,), dict(padding=(1, 1, 1))),
    (X, (2,), dict(stride=0, dilation=0, padding=-1)), (X, (2,), dict(stride=0, padding=-1)),
    ((2, 0, 5, 6), (2,), {}), ((2, 3, 5, 6, 1), (2,), {}), ((5, 6), (2,), {}),
    ((5, 6), (2,), dict(stride=0)), (X, (2.5,), {}),
])
def test_unfold_errors_match_torch(shape, args, kw):
    x = np.zeros(shape, np.float32)
    assert_same_error(lambda: F.unfold(torch.tensor(x), *args, **kw),
                      lambda: dnn.functional.unfold(dlbasic.tensor(x), *args, **kw))


C = (2, 12, 20)


@pytest.mark.parametrize("shape, args, kw", [
    (C, ((5, 7), 2), {}), ((2, 13, 20), ((5, 6), 2), {}), (C, ((5, 6), 0), {}),
    (C, ((5, 6), 2), dict(stride=0)), (C, ((5, 6), 2), dict(dilation=0)),
    (C, ((5, 6), 2), dict(padding=-1)), (C, ((1, 1), 2), {}), (C, ((0, 1), 2), {}),
    (C, ((5, 6, 1), 2), {}), ((20,), ((5, 6), 2), {}), ((2, 0, 20), ((5, 6), 2), {}),
    ((2, 12, 0), ((5, 6), 2), {}), (C, ((5, 6), 2), dict(stride=0, dilation=0, padding=-1)),
    (C, ((5, 6), 2), dict(dilation=0, padding=-1)), ((2, 13, 20), ((0, 6), 2), {}),
    ((12, 20), ((5, 7), 2), {}), ((13, 20), ((5, 6), 2), {}), ((2, 4, 1), ((0, 0), 2), {}),
])
def test_fold_errors_match_torch(shape, args, kw):
    x = np.zeros(shape, np.float32)
    assert_same_error(lambda: F.fold(torch.tensor(x), *args, **kw),
                      lambda: dnn.functional.fold(dlbasic.tensor(x), *args, **kw))


def test_integer_inputs_raise_torchs_error():
    assert_same_error(lambda: F.unfold(torch.zeros(1, 2, 4, 4).long(), 2),
                      lambda: dnn.functional.unfold(dlbasic.zeros(1, 2, 4, 4).long(), 2))
    assert_same_error(lambda: F.fold(torch.zeros(1, 8, 9).long(), (4, 4), 2),
                      lambda: dnn.functional.fold(dlbasic.zeros(1, 8, 9).long(), (4, 4), 2))
