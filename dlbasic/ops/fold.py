"""Sliding blocks as columns and back: ``F.unfold`` (im2col) and ``F.fold`` (col2im).

    unfold: cols[n, (c, i, j), (bh, bw)] = x_pad[n, c, bh*sh + i*dh, bw*sw + j*dw]
    fold:   y_pad[n, c, bh*sh + i*dh, bw*sw + j*dw] += cols[n, (c, i, j), (bh, bw)]

Each is the other's adjoint (<unfold(x), c> = <x, fold(c)>), so the backward of one is the
other.  unfold is one strided view of the padded input and one copy; fold loops over the
kh*kw kernel offsets, adding one strided slice of every block at a time (never a loop over
blocks).  The convolution's im2col in ``backend/conv.py`` packs channels last (NHWC, rows
(i, j, c)) into a scratch buffer for its GEMM; torch's unfold wants rows ordered (c, i, j) in
a tensor of its own, so this file forms the view directly.
Inputs are (N, C, H, W) / (N, C*kh*kw, L), or the same without the batch axis.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..autograd.function import Op
from . import _flops

__all__ = []


def _im2col(x, kernel, dilation, padding, stride, blocks):
    (kh, kw), (dh, dw), (ph, pw), (sh, sw), (bh, bw) = kernel, dilation, padding, stride, blocks
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    N, C = x.shape[:2]
    sN, sC, sH, sW = x.strides
    windows = as_strided(x, (N, C, kh, kw, bh, bw),
                         (sN, sC, dh * sH, dw * sW, sh * sH, sw * sW), writeable=False)
    return windows.reshape(N, C * kh * kw, bh * bw)           # the one copy


def _col2im(cols, out_hw, kernel, dilation, padding, stride, blocks):
    (kh, kw), (dh, dw), (ph, pw), (sh, sw), (bh, bw) = kernel, dilation, padding, stride, blocks
    (H, W), N = out_hw, cols.shape[0]
    C = cols.shape[1] // (kh * kw)
    cols = cols.reshape(N, C, kh, kw, bh, bw)
    y = np.zeros((N, C, H + 2 * ph, W + 2 * pw), cols.dtype)
    for i in range(kh):
        for j in range(kw):
            y[:, :, i * dh:i * dh + sh * (bh - 1) + 1:sh,
              j * dw:j * dw + sw * (bw - 1) + 1:sw] += cols[:, :, i, j]
    return np.ascontiguousarray(y[:, :, ph:ph + H, pw:pw + W])


def _batched(fn, a, *args):
    """Run ``fn`` on a batched array: an unbatched one gets a batch axis for the call."""
    if a.ndim == (3 if fn is _im2col else 2):
        return fn(a[None], *args)[0]
    return fn(a, *args)


class Im2Col(Op):
    """cols = unfold(x): every k x k block of the padded input as a column.
    Local gradient: dx = fold(g), each column entry added back where it was read."""
    _saves = ()
    flops = _flops.no_cost

    def forward(self, x, kernel_size, dilation, padding, stride, blocks):
        self.hw = tuple(x.shape[-2:])
        self.geometry = (kernel_size, dilation, padding, stride, blocks)
        return _batched(_im2col, x, *self.geometry)

    def backward(self, g):
        return _batched(_col2im, g, self.hw, *self.geometry)


class Col2Im(Op):
    """y = fold(cols): the columns summed back into an image (overlaps add).
    Local gradient: dcols = unfold(g), the value of g at each position a column entry went."""
    _saves = ()
    flops = _flops.elementwise(1, on="in")            # one addition per column entry

    def forward(self, cols, output_size, kernel_size, dilation, padding, stride, blocks):
        self.geometry = (kernel_size, dilation, padding, stride, blocks)
        return _batched(_col2im, cols, tuple(output_size), *self.geometry)

    def backward(self, g):
        return _batched(_im2col, g, *self.geometry)
