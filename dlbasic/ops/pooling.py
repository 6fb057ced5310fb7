"""Pooling: max, average and their adaptive forms, vectorised over shifted windows.

A k x k pool reads, for kernel offset (i, j), the strided slice
``x_pad[:, :, i*d :: s, j*d :: s]`` -- one value of every window at once.  A loop over the
kh*kw offsets (never over windows or over the batch) then builds the result:

    max pool:  y = max_{i,j} x_pad[.., ho*s + i*d, wo*s + j*d]      dy/dx = 1 at the argmax, 0 else
    avg pool:  y = (1/|window|) sum_{i,j} x_pad[.., ...]            dy/dx = 1/|window| in the window

Adaptive pools choose window ``[floor(o*H/Ho), ceil((o+1)*H/Ho))`` for output ``o``; average is
then separable, y = P_h x P_w^T with small averaging matrices, and max gathers a few offsets.
Inputs are (N, C, H, W) or (N, C, L) (one spatial dim: treated as H = 1), batched.
"""
import numpy as np

from ..autograd.function import Op
from ..backend import kernels
from ..backend.pooling import window_slices
from . import _flops

__all__ = []


def pool_output_size(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling_output_shape: windows must start inside the input or its left pad."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _as_4d(x, nd):
    return x[:, :, None, :] if nd == 1 else x


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _padded(x, pads, out_hw, kernel, stride, dilation, fill):
    """x padded by p on each side and, when ceil_mode windows overhang, further at the end."""
    N, C, H, W = x.shape
    (ph, pw), (Ho, Wo) = pads, out_hw
    Hp = max(H + 2 * ph, (Ho - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1)
    Wp = max(W + 2 * pw, (Wo - 1) * stride[1] + dilation[1] * (kernel[1] - 1) + 1)
    if (Hp, Wp) == (H, W):
        return x
    xp = np.full((N, C, Hp, Wp), fill, x.dtype)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    return xp


def _geometry(x, kernel_size, stride, padding, dilation, ceil_mode):
    nd = len(kernel_size)
    if nd == 1:
        kernel_size, stride, padding, dilation = ((1,) + kernel_size, (1,) + stride,
                                                  (0,) + padding, (1,) + dilation)
    out_hw = tuple(pool_output_size(x.shape[2 + a], kernel_size[a], stride[a], padding[a],
                                    dilation[a], ceil_mode) for a in range(2))
    return nd, kernel_size, stride, padding, dilation, out_hw


def _pool_flops(call):
    """k*k comparisons (max) or additions (average) per output; adaptive pooling: about one
    op per input element."""
    k = call.params.get("kernel_size")
    if k is None:
        n = call.in_numel
    else:
        n = call.out_numel * (k * k if isinstance(k, int) else _flops.numel(k))
    return _flops.cost(elementwise=n, backward_elementwise=n * _flops.n_grads(call, (0,)))


class MaxPool(Op):
    """y = max over each window; dy/dx = 1 at the window's (first) maximum, 0 elsewhere.

    The argmax is kept as the kernel offset t = i*kw + j (a small int per output), computed by
    the backend kernel ``max_pool2d_forward``; ``max_pool2d_backward`` sends each g to its
    window's argmax.  Ties keep the first maximum; NaN wins, as in torch.
    ``indices_box``, when given, receives PyTorch's indices (flat position h*W + w in the input
    plane, int64).
    """
    _saves = ()
    _saved_attrs = ("arg",)
    flops = _pool_flops

    def forward(self, x, kernel_size, stride, padding, dilation, ceil_mode, indices_box=None):
        nd, k, s, p, d, out_hw = _geometry(_as_4d(x, len(kernel_size)), kernel_size, stride,
                                           padding, dilation, ceil_mode)
        x = _as_4d(x, nd)
        xp = _padded(x, p, out_hw, k, s, d, _lowest(x.dtype))
        out, arg = kernels.max_pool2d_forward(xp, k, s, d, out_hw)
        self.arg, self.geom = arg, (nd, x.shape, xp.shape, k, s, p, d, out_hw)
        if indices_box is not None:
            ho = np.arange(out_hw[0])[:, None] * s[0] - p[0]
            wo = np.arange(out_hw[1])[None, :] * s[1] - p[1]
            h = ho + (arg // k[1]) * d[0]
            w = wo + (arg % k[1]) * d[1]
            idx = (h * x.shape[3] + w).astype(np.int64)
            indices_box.append(idx[:, :, 0, :] if nd == 1 else idx)
        return out[:, :, 0, :] if nd == 1 else out

    def backward(self, g):
        nd, xshape, xpshape, k, s, p, d, out_hw = self.geom
        g = _as_4d(g, nd)
        H, W = xshape[2:]
        dxp = kernels.max_pool2d_backward(g, self.arg, xpshape, k, s, d)
        dx = dxp[:, :, p[0]:p[0] + H, p[1]:p[1] + W]
        return dx[:, :, 0, :] if nd == 1 else dx


def avg_divisor(n, k, s, p, out, count_include_pad):
    """Per output position along one axis: the window length torch divides by."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    size = end - start                                   # includes padding, not the overhang
    if count_include_pad:
        return size
    return np.minimum(end, n) - np.maximum(start, 0)


class AvgPool(Op):
    """y = sum over each window / divisor; dy/dx = 1/divisor for every input in the window."""
    _saves = ()
    _saved_attrs = ("div",)
    flops = _pool_flops

    def forward(self, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
        nd = len(kernel_size)
        x = _as_4d(x, nd)
        nd, k, s, p, d, out_hw = _geometry(x, kernel_size, stride, padding, (1,) * nd, ceil_mode)
        xp = _padded(x, p, out_hw, k, s, d, 0)
        out = None
        for i in range(k[0]):
            for j in range(k[1]):
                v = xp[window_slices(i, j, out_hw, s, d)]
                out = v.astype(x.dtype, copy=True) if out is None else np.add(out, v, out=out)
        if divisor_override:
            div = np.asarray(divisor_override, x.dtype)
        else:
            dh = avg_divisor(x.shape[2], k[0], s[0], p[0], out_hw[0], count_include_pad)
            dw = avg_divisor(x.shape[3], k[1], s[1], p[1], out_hw[1], count_include_pad)
            div = (dh[:, None] * dw[None, :]).astype(x.dtype)
        if x.dtype.kind == "f":
            out /= div
        else:
            out //= div.astype(out.dtype)
        self.div, self.geom = div, (nd, x.shape, xp.shape, k, s, p, d, out_hw)
        return out[:, :, 0, :] if nd == 1 else out

    def backward(self, g):
        nd, xshape, xpshape, k, s, p, d, out_hw = self.geom
        gd = _as_4d(g, nd) / self.div
        dxp = np.zeros(xpshape, g.dtype)
        for i in range(k[0]):
            for j in range(k[1]):
                dxp[window_slices(i, j, out_hw, s, d)] += gd
        H, W = xshape[2:]
        dx = dxp[:, :, p[0]:p[0] + H, p[1]:p[1] + W]
        return dx[:, :, 0, :] if nd == 1 else dx


def adaptive_windows(n, out):
    """Start and end (exclusive) of each adaptive window along an axis of length n."""
    o = np.arange(out)
    return (o * n) // out, -((-(o + 1) * n) // out)


def _averaging_matrix(n, out, dtype):
    """P (out, n): row o averages input positions [start_o, end_o)."""
    start, end = adaptive_windows(n, out)
    pos = np.arange(n)
    inside = (pos[None, :] >= start[:, None]) & (pos[None, :] < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


class AdaptiveAvgPool(Op):
    """y = P_h x P_w^T (P: adaptive averaging matrices); dx = P_h^T g P_w."""
    _saves = ()
    _torch_name = "AdaptiveAvgPool2DBackward0"
    _saved_attrs = ("ph", "pw")
    flops = _pool_flops

    def forward(self, x, output_size):
        nd = len(output_size)
        x = _as_4d(x, nd)
        out_hw = ((1,) + tuple(output_size)) if nd == 1 else tuple(output_size)
        H, W = x.shape[2:]
        ph = _averaging_matrix(H, out_hw[0], x.dtype)
        pw = _averaging_matrix(W, out_hw[1], x.dtype)
        self.ph, self.pw, self.nd = ph, pw, nd
        out = np.matmul(ph, np.matmul(x, pw.T))
        return out[:, :, 0, :] if nd == 1 else out

    def backward(self, g):
        g = _as_4d(g, self.nd)
        dx = np.matmul(self.ph.T, np.matmul(g, self.pw))
        return dx[:, :, 0, :] if self.nd == 1 else dx


class AdaptiveMaxPool(Op):
    """y = max over each adaptive window; dy/dx = 1 at the window's first maximum.

    Windows differ in length, so offset ``a`` of window ``o`` reads position
    ``min(start_o + a, end_o - 1)``: overhanging offsets re-read the last element, which
    cannot change a maximum.  The argmax is kept as the flat input position h*W + w.
    """
    _saves = ()
    _torch_name = "AdaptiveMaxPool2DBackward0"
    _saved_attrs = ("idx",)
    flops = _pool_flops

    def forward(self, x, output_size, indices_box=None):
        nd = len(output_size)
        x = _as_4d(x, nd)
        out_hw = ((1,) + tuple(output_size)) if nd == 1 else tuple(output_size)
        N, C, H, W = x.shape
        sh, eh = adaptive_windows(H, out_hw[0])
        sw, ew = adaptive_windows(W, out_hw[1])
        has_nan = x.dtype.kind == "f" and np.isnan(x).any()
        out = idx = mask = None
        for a in range(int((eh - sh).max())):
            rows = np.minimum(sh + a, eh - 1)[:, None]
            for b in range(int((ew - sw).max())):
                cols = np.minimum(sw + b, ew - 1)[None, :]
                v = x[:, :, rows, cols]
                flat = rows * W + cols
                if out is None:
                    out, idx = v, np.broadcast_to(flat, v.shape).astype(np.int64)
                    mask = np.empty(v.shape, bool)
                    continue
                np.greater(v, out, out=mask)
                if has_nan:
                    mask |= np.isnan(v)
                np.copyto(out, v, where=mask)
                np.copyto(idx, np.broadcast_to(flat, v.shape), where=mask)
        self.idx, self.xshape, self.nd = idx, x.shape, nd
        if indices_box is not None:
            indices_box.append(idx[:, :, 0, :] if nd == 1 else idx)
        return out[:, :, 0, :] if nd == 1 else out

    def backward(self, g):
        g = _as_4d(g, self.nd)
        N, C, H, W = self.xshape
        # scatter-add g onto the argmax positions (several windows may share one position)
        base = (np.arange(N * C) * (H * W)).reshape(N, C, 1, 1)
        dx = np.bincount((self.idx + base).ravel(), weights=g.ravel(), minlength=N * C * H * W)
        dx = dx.astype(g.dtype).reshape(N, C, H, W)
        return dx[:, :, 0, :] if self.nd == 1 else dx
