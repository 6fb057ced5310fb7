"""nn.ZeroPad / ConstantPad / ReflectionPad / ReplicationPad / CircularPad 1d/2d/3d against
torch: the padding argument (int or tuple), values and gradients on batched and unbatched
inputs in float32 and float64, repr, state_dict, float64 gradcheck, and torch's errors."""
import numpy as np
import pytest

from tests.parity.harness import assert_same_error, check, torch

import dlbasic
import dlbasic.nn as dnn
from dlbasic.autograd import gradcheck

nn = torch.nn

F64 = dict(atol=1e-12, rtol=1e-10, grad_atol=1e-11, grad_rtol=1e-10)

KINDS = ["Zero", "Constant", "Reflection", "Replication", "Circular"]
# (nd, padding, batched shape)
PADS = [
    (1, 2, (2, 3, 6)), (1, (1, 3), (2, 3, 6)),
    (2, 1, (2, 3, 5, 6)), (2, (2, 0, 1, 3), (2, 3, 5, 6)),
    (3, 1, (1, 2, 4, 5, 6)), (3, (1, 2, 0, 1, 2, 0), (1, 2, 4, 5, 6)),
]


def _make(lib_nn, kind, nd, padding):
    cls = getattr(lib_nn, f"{kind}Pad{nd}d")
    return cls(padding, 1.5) if kind == "Constant" else cls(padding)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("nd, padding, shape", PADS)
@pytest.mark.parametrize("kind", KINDS)
def test_padding_modules_match_torch(kind, nd, padding, shape, dtype):
    tol = {} if dtype == "float32" else F64
    for s in (shape, shape[1:]):                    # batched and unbatched
        check(lambda x: _make(nn, kind, nd, padding)(x), shapes=[s], dtype=dtype, **tol)


@pytest.mark.parametrize("kind", KINDS)
def test_repr_and_state_dict_match_torch(kind):
    for nd, padding, shape in PADS:
        t, d = _make(nn, kind, nd, padding), _make(dnn, kind, nd, padding)
        assert repr(d) == repr(t)
        assert d.padding == t.padding
        assert list(d.state_dict()) == list(t.state_dict()) == []
        d.load_state_dict({k: dlbasic.tensor(v.numpy()) for k, v in t.state_dict().items()},
                          strict=True)
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        np.testing.assert_array_equal(d(dlbasic.tensor(x)).numpy(), t(torch.tensor(x)).numpy())


def test_constant_pad_crops_with_negative_widths_and_keeps_a_short_tuple():
    check(lambda x: nn.ConstantPad2d((-1, 2, 0, -2), 3.0)(x), shapes=[(2, 3, 5, 6)])
    check(lambda x: nn.ZeroPad2d((1, 2))(x), shapes=[(2, 3, 5, 6)])   # pads the last dim only
    assert repr(dnn.ZeroPad2d((1, 2))) == repr(nn.ZeroPad2d((1, 2))) == "ZeroPad2d((1, 2))"


@pytest.mark.parametrize("kind", ["Reflection", "Replication", "Circular", "Constant"])
def test_gradcheck_float64(kind):
    x = dlbasic.tensor(np.random.default_rng(1).standard_normal((1, 2, 3, 4, 5)),
                       requires_grad=True)
    m = _make(dnn, kind, 3, (1, 2, 2, 0, 1, 2))
    assert gradcheck(lambda x: m(x), (x,))


@pytest.mark.parametrize("make, shape", [
    (lambda nn: nn.CircularPad1d(1), (2, 3, 4, 5)),
    (lambda nn: nn.CircularPad2d(1), (3, 4)),
    (lambda nn: nn.CircularPad3d(1), (2, 3, 4, 5, 6, 7)),
    (lambda nn: nn.ReflectionPad1d(3), (2, 3, 3)),                # as wide as the input
    (lambda nn: nn.ReflectionPad2d(1), (3, 4)),
    (lambda nn: nn.ReplicationPad3d(1), (2, 3)),
    (lambda nn: nn.CircularPad1d(5), (2, 3, 4)),                  # wraps more than once
    (lambda nn: nn.ConstantPad1d(-3, 0.0), (2, 3, 4)),            # crops past nothing
    (lambda nn: nn.ZeroPad2d((1, 2, 3)), (2, 3, 4, 5)),           # odd length
])
def test_errors_match_torch(make, shape):
    x = np.zeros(shape, np.float32)
    assert_same_error(lambda: make(nn)(torch.tensor(x)), lambda: make(dnn)(dlbasic.tensor(x)))
