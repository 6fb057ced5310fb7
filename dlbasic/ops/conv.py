"""Convolution (1-D and 2-D, any stride, padding, dilation and groups).

For one output position the convolution is a dot product between the weights and the input
window under it (cross-correlation, as in PyTorch):

    y[n, o, ho, wo] = sum_{c,i,j} x_pad[n, c, ho*s_h + i*d_h, wo*s_w + j*d_w] * W[o, c, i, j] + b[o]

Stacking every window as a row of a *column matrix* turns the whole layer into one matrix
product (the notes' "convolution is a matrix multiplication"), and backward is the same product
read the other two ways (local gradient x upstream gradient):

    y = cols @ W        dW = cols^T @ dy        dcols = dy @ W^T -> back onto x        db = sum dy

The arithmetic is done by the backend's kernels ``conv2d_forward``, ``conv2d_backward_weight``
and ``conv2d_backward_input`` (im2col + GEMM, in ``dlbasic/backend/conv.py``); this op states
the math, handles 1-D and unbatched inputs, and decides what backward needs.
"""
import numpy as np

from ..autograd.function import Op
from ..backend import kernels
from . import _flops
from ._flops import SHAPE_ONLY, shape_only_here, zeros_like_product

__all__ = []


def _as_nchw(g, unbatched, nd):
    """An upstream gradient as the 4-D (N, C, H, W) array the kernels take: a batch of one
    for an unbatched input, height 1 for a 1-D convolution."""
    if unbatched:
        g = g[None]
    return g[:, :, None, :] if nd == 1 else g


class Convolution(Op):
    """y = conv(x, W) + b for 1 or 2 spatial dims (see module doc).

    Local gradients: dL/dW = cols^T @ g;  dL/db = sum of g over batch and positions;
    dL/dx = col2im(g @ W^T), i.e. the full correlation of g with the flipped kernel.
    Params: ``stride``, ``dilation`` (tuples, one entry per spatial dim), ``padding`` (one
    (before, after) pair per spatial dim), ``groups``.
    """
    _torch_name = "ConvolutionBackward0"
    _saved_attrs = ("saved", "w")

    @staticmethod
    def flops(call):
        """Every output is a dot product over cin/groups * kh * kw inputs (+ the bias)."""
        w = call.in_shapes[1]
        has_bias = len(call.in_shapes) > 2 and _flops.numel(call.in_shapes[2]) > 0
        return _flops.matmul_like(call, _flops.conv_macs(call.out_shapes[0], w),
                                  _flops.numel(w[1:]), has_bias)

    @staticmethod
    def output_shape(x, w, stride, padding, dilation):
        nd = len(stride)
        spatial = tuple((x.shape[x.ndim - nd + i] + sum(padding[i])
                         - dilation[i] * (w.shape[w.ndim - nd + i] - 1) - 1) // stride[i] + 1
                        for i in range(nd))
        return x.shape[:x.ndim - nd - 1] + (w.shape[0],) + spatial

    def forward(self, x, w, b=None, *, stride, padding, dilation, groups):
        if SHAPE_ONLY and shape_only_here():        # the profiler counting without computing
            return zeros_like_product(self.output_shape(x, w, stride, padding, dilation),
                                      x, w, b)
        nd = len(stride)
        self.unbatched = x.ndim == nd + 1
        if self.unbatched:
            x = x[None]
        if nd == 1:   # a 1-D convolution is a 2-D one over a height-1 image
            x, w = x[:, :, None, :], w[:, :, None, :]
            stride, dilation, padding = (1,) + stride, (1,) + dilation, ((0, 0),) + padding
        nx, nw = self.needs_input_grad[:2]
        # the weight gradient reads the input again: the kernel keeps it in its own layout
        out, self.saved = kernels.conv2d_forward(x, w, b, stride, padding, dilation, groups,
                                                 keep_input=nw)
        self.geom = (nd, x.shape, w.shape, stride, padding, dilation, groups)
        self.w = w if nx else None
        if nd == 1:
            out = out[:, :, 0, :]
        return out[0] if self.unbatched else out

    def backward(self, g):
        nd, xshape, wshape, stride, padding, dilation, groups = self.geom
        g = _as_nchw(g, self.unbatched, nd)
        need = self.needs_input_grad
        dx = dw = db = None
        if need[1]:
            dw = kernels.conv2d_backward_weight(self.saved, g, wshape, stride, dilation, groups)
            if nd == 1:
                dw = dw[:, :, 0, :]
        if len(need) > 2 and need[2]:
            db = g.reshape(g.shape[0], g.shape[1], -1).sum(2).sum(0)
        if need[0]:
            dx = kernels.conv2d_backward_input(g, self.w, xshape, stride, padding, dilation,
                                               groups)
            if nd == 1:
                dx = dx[:, :, 0, :]
            if self.unbatched:
                dx = dx[0]
        if len(need) > 2:
            return dx, dw, db
        return dx, dw


class ConvTranspose(Op):
    """y = conv_transpose(x, W) + b: the gradient of a convolution with respect to its input,
    used as a layer (1 or 2 spatial dims).  W is (C_in, C_out / groups, kh, kw).

    Each input pixel scatters a copy of the kernel, scaled by its value, onto the output at
    stride s: y[h] = sum_{i, j} x[i] W[j] over h = i s - p + j d.  Without padding that is
    exactly ``conv2d_backward_input`` of the unpadded convolution whose input is the full
    output (size (H - 1) s + d (k - 1) + 1); ``padding`` p crops p rows from its start, and
    the output size (with ``output_padding``) decides where it ends -- rows past the full
    output are zeros.  The backward is that convolution read forwards (local gradient x
    upstream gradient), on the upstream gradient placed back into the full output's frame:

        dL/dx = conv(g_full, W)   (same stride, dilation, groups; no padding)
        dL/dW = the convolution's weight gradient with g_full as its input and x as upstream
        dL/db = sum of g over batch and positions
    """
    _torch_name = "ConvolutionBackward0"
    _saved_attrs = ("x", "w")

    @staticmethod
    def flops(call):
        """Every input element meets every weight of its group once: the MACs of the
        convolution it transposes (+ the bias on each output)."""
        w = call.in_shapes[1]
        has_bias = len(call.in_shapes) > 2 and _flops.numel(call.in_shapes[2]) > 0
        macs = _flops.numel(call.in_shapes[0]) * _flops.numel(w[1:])
        return _flops.matmul_like(call, macs, _flops.numel(w[1:]), has_bias)

    def forward(self, x, w, b=None, *, stride, padding, dilation, groups, out_spatial):
        nd = len(stride)
        self.unbatched = x.ndim == nd + 1
        if self.unbatched:
            x = x[None]
        if nd == 1:
            x, w = x[:, :, None, :], w[:, :, None, :]
            stride, dilation, padding = (1,) + stride, (1,) + dilation, (0,) + padding
            out_spatial = (1,) + out_spatial
        full = tuple((x.shape[2 + i] - 1) * stride[i] + dilation[i] * (w.shape[2 + i] - 1) + 1
                     for i in range(2))
        yfull = kernels.conv2d_backward_input(x, w, (x.shape[0], w.shape[1] * groups) + full,
                                              stride, ((0, 0), (0, 0)), dilation, groups)
        y = np.zeros((x.shape[0], yfull.shape[1]) + tuple(out_spatial), yfull.dtype)
        y_win, f_win = self._windows(padding, out_spatial, full)
        y[y_win] = yfull[f_win]
        if b is not None:
            y += b.reshape(1, -1, 1, 1)
        self.geom = (nd, stride, padding, dilation, groups, w.shape, full, out_spatial)
        nx, nw = self.needs_input_grad[:2]
        self.x = x if nw else None
        self.w = w if nx or nw else None
        if nd == 1:
            y = y[:, :, 0, :]
        return y[0] if self.unbatched else y

    @staticmethod
    def _windows(padding, out_spatial, full):
        """The matching index windows of the output and of the full (unpadded) output: the
        output starts ``padding`` rows into the full one and may run past its end."""
        y_win, f_win = [slice(None), slice(None)], [slice(None), slice(None)]
        for p, o, f in zip(padding, out_spatial, full):
            n = max(0, min(o, f - p))
            y_win.append(slice(0, n))
            f_win.append(slice(p, p + n))
        return tuple(y_win), tuple(f_win)

    def backward(self, g):
        nd, stride, padding, dilation, groups, wshape, full, out_spatial = self.geom
        g = _as_nchw(g, self.unbatched, nd)
        need = self.needs_input_grad
        dx = dw = db = None
        if need[0] or need[1]:
            gfull = np.zeros(g.shape[:2] + full, g.dtype)
            y_win, f_win = self._windows(padding, out_spatial, full)
            gfull[f_win] = g[y_win]
            dx_full, saved = kernels.conv2d_forward(gfull, self.w, None, stride,
                                                    ((0, 0), (0, 0)), dilation, groups,
                                                    keep_input=need[1])
            if need[0]:
                dx = dx_full[:, :, 0, :] if nd == 1 else dx_full
                if self.unbatched:
                    dx = dx[0]
            if need[1]:
                dw = kernels.conv2d_backward_weight(saved, self.x, wshape, stride, dilation,
                                                    groups)
                if nd == 1:
                    dw = dw[:, :, 0, :]
        if len(need) > 2 and need[2]:
            db = g.reshape(g.shape[0], g.shape[1], -1).sum(2).sum(0)
        if len(need) > 2:
            return dx, dw, db
        return dx, dw
