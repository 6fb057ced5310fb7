"""The NumPy kernels: the reference every compiled kernel is tested against.

Each works on whole arrays and spreads its passes over blocks of samples (``for_blocks``: the
blocks run on every thread, each small enough that its temporaries stay in cache), combining
per-sample partial results afterwards.

BatchNorm, on the (N, C, L) view of its input (L the flattened spatial size; every sum is per
channel c over the m = N*L values of the batch):

    batch_norm_stats:      mean_c = (1/m) sum x,  var_c = (1/m) sum (x - mean_c)^2
    batch_norm_apply:      y = x * a_c + b_c
    batch_norm_grad_sums:  sum g,  sum g * (x - mean_c)
    batch_norm_grad_input: dx = g * s_c - (x - mean_c) * k_c - k0_c     (x = None: dx = g * s_c)

BatchNorm followed by ReLU, y = max(0, x * a_c + b_c), as one op: its backward is BatchNorm's on
the masked gradient g' = g where y > 0 (or y is NaN), else 0 -- the same sums and dx with g'
in place of g, so the ReLU needs no pass of its own:

    batch_norm_apply_relu:      y = max(0, x * a_c + b_c)
    batch_norm_relu_grad_sums:  sum g',  sum g' * (x - mean_c)
    batch_norm_relu_grad_input: dx = g' * s_c - (x - mean_c) * k_c - k0_c

ReLU, on flat contiguous arrays:

    relu_forward:   y = max(x, 0)                  (NaN stays NaN)
    relu_backward:  dx = g where y > 0 or y is NaN, else 0

Convolution (im2col + GEMM; the kernels live in ``conv.py``, they are this table's too):

    conv2d_forward:         y = cols @ W (+ b)
    conv2d_backward_weight: dW = cols^T @ g
    conv2d_backward_input:  dx = full correlation of g with the flipped kernel

Max pooling (``pooling.py``), on padded (N, C, Hp, Wp) arrays:

    max_pool2d_forward:  y = max over each window, arg = the window offset of the maximum
    max_pool2d_backward: dx_pad[argmax] += g

Optimizer updates (``updates.py``), one parameter in place: ``sgd_update``, ``adam_update``.

CTC (``ctc.py``), in log space over the blank-extended targets:

    ctc_forward:  alpha_t(s) = lse(alpha_{t-1}(s), alpha_{t-1}(s-1), [alpha_{t-1}(s-2)]) + y_t(l'_s)
    ctc_backward: beta likewise from the end; dnll/dy_t(c) from the occupancies alpha + beta
"""
import numpy as np

from .._parallel import for_blocks
from .conv import conv2d_forward, conv2d_backward_weight, conv2d_backward_input
from .pooling import max_pool2d_forward, max_pool2d_backward
from .updates import sgd_update, adam_update
from .ctc import ctc_forward, ctc_backward

__all__ = ["batch_norm_stats", "batch_norm_apply", "batch_norm_grad_sums",
           "batch_norm_grad_input", "batch_norm_apply_relu", "batch_norm_relu_grad_sums",
           "batch_norm_relu_grad_input", "relu_forward", "relu_backward",
           "conv2d_forward", "conv2d_backward_weight", "conv2d_backward_input",
           "max_pool2d_forward", "max_pool2d_backward", "sgd_update", "adam_update",
           "ctc_forward", "ctc_backward"]


def _rows_dot(a, b):
    """Per-(sample, channel) sum of a * b over (n, C, L) blocks, without the product temporary."""
    return np.einsum("ncl,ncl->nc", a, b)


def batch_norm_stats(x3):
    """(mean, biased var) per channel of x3 (N, C, L), in x3's dtype."""
    N, C, L = x3.shape
    row_bytes = C * L * x3.itemsize
    one = x3.dtype.type
    m = N * L
    part = np.empty((3, N, C), x3.dtype)
    for_blocks(lambda s: x3[s].sum(2, out=part[0, s]), N, row_bytes)
    mean = part[0].sum(0) / one(m)

    def centred_sums(s):
        xc = x3[s] - mean[:, None]
        xc.sum(2, out=part[1, s])
        part[2, s] = _rows_dot(xc, xc)
    for_blocks(centred_sums, N, row_bytes)
    # corrected two-pass: a float32 mean of values far from 0 is off by an ulp of the values;
    # the mean of the (exact) differences x - mean recovers it to an ulp of those
    delta = part[1].sum(0) / one(m)
    var = part[2].sum(0) / one(m) - delta * delta
    return mean + delta, var


def batch_norm_apply(x3, a, b):
    """y = x * a_c + b_c over x3 (N, C, L); a, b of shape (C,)."""
    N, C, L = x3.shape
    y = np.empty_like(x3)
    a, b = a[:, None], b[:, None]

    def affine(s):
        ys = np.multiply(x3[s], a, out=y[s])
        ys += b
    for_blocks(affine, N, C * L * x3.itemsize)
    return y


def batch_norm_grad_sums(g3, x3, mean):
    """(sum g, sum g * (x - mean)) per channel; the second is None when x3 is None."""
    N, C, L = g3.shape
    part = np.empty((2, N, C), g3.dtype)
    m = mean[:, None]

    def sums(s):
        g3[s].sum(2, out=part[0, s])
        if x3 is not None:
            part[1, s] = _rows_dot(g3[s], x3[s] - m)
    for_blocks(sums, N, 2 * C * L * g3.itemsize)
    return part[0].sum(0), (part[1].sum(0) if x3 is not None else None)


def batch_norm_grad_input(g3, x3, mean, s, k, k0):
    """dx = g * s_c - (x - mean_c) * k_c - k0_c, or g * s_c when x3 is None."""
    N, C, L = g3.shape
    dx = np.empty_like(g3)
    sc = s[:, None]
    if x3 is not None:
        m, k, k0 = mean[:, None], k[:, None], k0[:, None]

        def block(r):
            xc = x3[r] - m
            xc *= k
            d = np.multiply(g3[r], sc, out=dx[r])
            d -= xc
            d -= k0
    else:
        def block(r):
            np.multiply(g3[r], sc, out=dx[r])
    for_blocks(block, N, 2 * C * L * g3.itemsize)
    return dx


def relu_forward(flat):
    y = np.empty_like(flat)
    for_blocks(lambda s: np.maximum(flat[s], 0, out=y[s]), flat.size, flat.itemsize)
    return y


def relu_backward(yf, gf):
    dx = np.empty_like(gf)

    # g * keep (a multiply by a 0/1 mask) runs ~5x faster than np.where on a random mask; it
    # differs only where g is inf/NaN at a zeroed place, so such blocks are redone
    def block(s):
        keep = np.less_equal(yf[s], 0)
        np.logical_not(keep, out=keep)                 # not (y <= 0): NaN keeps its gradient
        with np.errstate(invalid="ignore"):
            d = np.multiply(gf[s], keep, out=dx[s])
        if not np.isfinite(d.sum()):
            d[...] = np.where(keep, gf[s], 0)
    for_blocks(block, gf.size, gf.itemsize)
    return dx


# -- BatchNorm + ReLU: the compiled table fuses these; here they are the two steps in turn ----

def batch_norm_apply_relu(x3, a, b):
    """y = max(0, x * a_c + b_c) over x3 (N, C, L)."""
    y = batch_norm_apply(x3, a, b)
    for_blocks(lambda s: np.maximum(y[s], 0, out=y[s]), y.shape[0], y[0].nbytes)
    return y


def _masked(g3, y3):
    """g where y > 0 or y is NaN, else 0 (ReLU's backward)."""
    return relu_backward(y3.reshape(-1), g3.reshape(-1)).reshape(g3.shape)


def batch_norm_relu_grad_sums(g3, y3, x3, mean):
    """batch_norm_grad_sums of the ReLU-masked gradient (y3: the op's output)."""
    return batch_norm_grad_sums(_masked(g3, y3), x3, mean)


def batch_norm_relu_grad_input(g3, y3, x3, mean, s, k, k0):
    """batch_norm_grad_input of the ReLU-masked gradient (the mask is made again here: this
    table keeps each kernel one readable step; the compiled one applies it on the fly)."""
    return batch_norm_grad_input(_masked(g3, y3), x3, mean, s, k, k0)

