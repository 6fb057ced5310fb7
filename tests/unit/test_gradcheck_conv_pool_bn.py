"""float64 finite-difference checks of the fused conv, pooling and batch-norm kernels.

No torch here: the analytical backward of each kernel must agree with central differences, and
the im2col convolution must agree with a direct sum over the kernel written in NumPy.
"""
import numpy as np
import pytest

import dlbasic
import dlbasic.nn.functional as F
from dlbasic.autograd import gradcheck


def _t(shape, seed=0, requires_grad=True, distinct=False):
    rng = np.random.default_rng(seed)
    if distinct:     # max pooling: no ties, and gaps larger than the finite-difference step
        a = rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01
    else:
        a = rng.standard_normal(shape)
    return dlbasic.tensor(a.astype(np.float64), requires_grad=requires_grad)


@pytest.mark.parametrize("xs,ws,kw", [
    ((2, 2, 5, 5), (3, 2, 3, 3), dict(padding=1)),
    ((1, 2, 6, 5), (2, 2, 2, 3), dict(stride=2, padding=(1, 0), dilation=(1, 2))),
    ((1, 4, 5, 5), (4, 2, 3, 3), dict(groups=2, stride=(1, 2))),
    ((1, 2, 5, 6), (3, 2, 2, 2), dict(padding="same", dilation=2)),
    ((2, 3, 4, 4), (2, 3, 1, 1), dict(stride=2)),
])
def test_conv2d_gradcheck(xs, ws, kw):
    x, w, b = _t(xs), _t(ws, 1), _t((ws[0],), 2)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), (x, w, b))


def test_conv1d_gradcheck():
    x, w, b = _t((2, 2, 7)), _t((3, 2, 3), 1), _t((3,), 2)
    assert gradcheck(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1), (x, w, b))


def _direct_conv2d(x, w, stride, padding, dilation):
    """Reference: y[n,o,p,q] = sum_{c,i,j} xpad[n,c,p*s+i*d, q*s+j*d] w[o,c,i,j] (groups=1)."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    N, C, H, W = xp.shape
    O, _, kh, kw = w.shape
    Ho = (H - dilation * (kh - 1) - 1) // stride + 1
    Wo = (W - dilation * (kw - 1) - 1) // stride + 1
    y = np.zeros((N, O, Ho, Wo))
    for p in range(Ho):
        for q in range(Wo):
            win = xp[:, :, p * stride:p * stride + dilation * (kh - 1) + 1:dilation,
                     q * stride:q * stride + dilation * (kw - 1) + 1:dilation]
            y[:, :, p, q] = np.einsum("ncij,ocij->no", win, w)
    return y


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2), (3, 1, 2)])
def test_conv2d_equals_direct_sum(stride, padding, dilation):
    x, w = _t((2, 3, 9, 8), requires_grad=False), _t((4, 3, 3, 3), 1, requires_grad=False)
    y = F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)
    ref = _direct_conv2d(x.numpy(), w.numpy(), stride, padding, dilation)
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-12)


def test_pad_gradcheck():
    x = _t((2, 3, 4))
    assert gradcheck(lambda x: F.pad(x, (1, 2), value=0.5), (x,))
    assert gradcheck(lambda x: F.pad(x, (2, 1), mode="reflect"), (x,))
    assert gradcheck(lambda x: F.pad(x, (3, 1), mode="replicate"), (x,))
    assert gradcheck(lambda x: F.pad(x, (-1, 2)), (x,))


@pytest.mark.parametrize("kw", [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=1, dilation=2, padding=1, ceil_mode=True),
    dict(kernel_size=(2, 3), stride=(2, 1), ceil_mode=True),
])
def test_max_pool2d_gradcheck(kw):
    x = _t((2, 2, 6, 7), distinct=True)
    assert gradcheck(lambda x: F.max_pool2d(x, **kw), (x,))


@pytest.mark.parametrize("kw", [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False, ceil_mode=True),
    dict(kernel_size=(2, 3), stride=1, divisor_override=4),
])
def test_avg_pool2d_gradcheck(kw):
    x = _t((2, 2, 6, 7))
    assert gradcheck(lambda x: F.avg_pool2d(x, **kw), (x,))


@pytest.mark.parametrize("size", [1, 2, (3, 4), 7])
def test_adaptive_pools_gradcheck(size):
    x = _t((2, 2, 5, 6), distinct=True)
    assert gradcheck(lambda x: F.adaptive_avg_pool2d(x, size), (x,))
    assert gradcheck(lambda x: F.adaptive_max_pool2d(x, size), (x,))


def test_pool1d_gradcheck():
    x = _t((2, 2, 9), distinct=True)
    assert gradcheck(lambda x: F.max_pool1d(x, 3, stride=2, padding=1), (x,))
    assert gradcheck(lambda x: F.avg_pool1d(x, 3, stride=2, padding=1), (x,))


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 4), (2, 3, 3, 2)])
def test_batch_norm_training_gradcheck(shape):
    C = shape[1]
    x, w, b = _t(shape), _t((C,), 1), _t((C,), 2)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (x, w, b))


def test_batch_norm_eval_gradcheck():
    x, w, b = _t((3, 2, 2, 2)), _t((2,), 1), _t((2,), 2)
    rm = dlbasic.tensor(np.array([0.3, -0.2]))
    rv = dlbasic.tensor(np.array([1.5, 0.7]))
    assert gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-3),
                     (x, w, b))


def test_batch_norm_running_stats_formula():
    # running_var takes the unbiased variance, the output the biased one
    x = _t((4, 2, 3), requires_grad=False)
    rm, rv = dlbasic.zeros(2, dtype=dlbasic.float64), dlbasic.ones(2, dtype=dlbasic.float64)
    y = F.batch_norm(x, rm, rv, training=True, momentum=0.25, eps=0.0)
    a = x.numpy().transpose(1, 0, 2).reshape(2, -1)
    np.testing.assert_allclose(rm.numpy(), 0.25 * a.mean(1), atol=1e-12)
    np.testing.assert_allclose(rv.numpy(), 0.75 + 0.25 * a.var(1, ddof=1), atol=1e-12)
    yy = y.numpy().transpose(1, 0, 2).reshape(2, -1)
    np.testing.assert_allclose(yy.var(1), 1.0, atol=1e-9)      # normalised by the biased var


def test_conv_backward_is_not_recorded_when_no_grad_needed():
    x, w = _t((1, 2, 4, 4), requires_grad=False), _t((2, 2, 3, 3), requires_grad=False)
    assert F.conv2d(x, w).grad_fn is None
    with dlbasic.no_grad():
        assert F.conv2d(x, _t((2, 2, 3, 3))).grad_fn is None


def test_chained_convs_gradcheck_scratch_buffers_are_not_shared_state():
    # the kernels reuse scratch buffers for the column matrix and GEMM output: two different
    # convolutions in one graph (forward then backward interleaved) must still be exact
    x, w1, w2 = _t((2, 2, 6, 6)), _t((3, 2, 3, 3), 1), _t((2, 3, 2, 2), 2)
    assert gradcheck(lambda x, w1, w2: F.conv2d(F.conv2d(x, w1, padding=1).tanh(), w2,
                                                stride=2), (x, w1, w2))


def test_conv_output_does_not_alias_scratch():
    x, w = _t((1, 2, 5, 5), requires_grad=False), _t((3, 2, 3, 3), 1, requires_grad=False)
    y1 = F.conv2d(x, w)
    before = y1.numpy().copy()
    F.conv2d(x * 2, w)                 # a second call reuses the scratch buffers
    np.testing.assert_array_equal(y1.numpy(), before)
