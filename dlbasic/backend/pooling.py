"""The NumPy max-pooling kernels, vectorised over shifted windows (the op: ops/pooling.py).

A k x k pool reads, for kernel offset (i, j), the strided slice
``x_pad[:, :, i*d :: s, j*d :: s]`` -- one value of every window at once.  A loop over the
kh*kw offsets (never over windows or over the batch) then builds the result:

    max_pool2d_forward:  y = max_{i,j} x_pad[.., ho*s + i*d, wo*s + j*d],  arg = the offset i*kw + j
    max_pool2d_backward: dx_pad[window's argmax] += g

The argmax is the kernel offset t = i*kw + j (a small int per output).  Offsets are visited in
increasing order and a later one wins only where it is strictly greater (or NaN, as torch), so
``arg = max(arg, t * won)`` updates it without a masked copy.  The work is split over blocks of
samples (``for_blocks``).
"""
import numpy as np

from .._parallel import for_blocks

__all__ = ["max_pool2d_forward", "max_pool2d_backward"]


def window_slices(i, j, out_hw, stride, dilation):
    """Offset (i, j) of every window: a strided slice of the padded input."""
    (Ho, Wo), (sh, sw), (dh, dw) = out_hw, stride, dilation
    return (slice(None), slice(None), slice(i * dh, i * dh + sh * (Ho - 1) + 1, sh),
            slice(j * dw, j * dw + sw * (Wo - 1) + 1, sw))


def arg_dtype(kernel):
    """The smallest int type that holds a kernel offset."""
    nk = kernel[0] * kernel[1]
    return np.int8 if nk < 128 else np.int16 if nk < 32768 else np.int32


def max_pool2d_forward(xp, kernel, stride, dilation, out_hw):
    """(y, arg) for the padded (N, C, Hp, Wp) input (padding holds the dtype's lowest value)."""
    N, C = xp.shape[:2]
    k = kernel
    arg = np.empty((N, C) + out_hw, arg_dtype(k))
    out = np.empty((N, C) + out_hw, xp.dtype)
    views = [(i * k[1] + j, xp[window_slices(i, j, out_hw, stride, dilation)])
             for i in range(k[0]) for j in range(k[1])]
    floating = xp.dtype.kind == "f"

    def block(b, nan_aware=False):
        o, a = out[b], arg[b]
        np.copyto(o, views[0][1][b])
        a.fill(0)
        won = np.empty(o.shape, bool)
        step = np.empty(o.shape, arg.dtype)
        for t, v in views[1:]:
            vb = v[b]
            np.greater(vb, o, out=won)           # strict: the first maximum keeps its offset
            if nan_aware:
                won |= np.isnan(vb)              # NaN wins (the last NaN), as in torch
            np.maximum(o, vb, out=o)             # propagates NaN
            np.multiply(won, t, out=step)
            np.maximum(a, step, out=a)
        if floating and not nan_aware and np.isnan(o).any():
            block(b, True)
    for_blocks(block, N, C * xp.shape[2] * xp.shape[3] * xp.itemsize)
    return out, arg


def max_pool2d_backward(g, arg, xpshape, kernel, stride, dilation):
    """dx_pad (xpshape): each g added at its window's argmax (offset ``arg``)."""
    k, s, d = kernel, stride, dilation
    out_hw = g.shape[2:]
    N = xpshape[0]
    # windows that never overlap touch each input once: a product instead of accumulation
    disjoint = all(s[a] >= d[a] * (k[a] - 1) + 1 for a in range(2)) and d == (1, 1)
    # ... and when they also tile the padded input exactly, every element is written once
    tiled = disjoint and s == k and tuple(xpshape[2:]) == (out_hw[0] * k[0], out_hw[1] * k[1])
    dxp = (np.empty if tiled else np.zeros)(xpshape, g.dtype)
    views = [(i * k[1] + j, dxp[window_slices(i, j, out_hw, s, d)])
             for i in range(k[0]) for j in range(k[1])]

    def block(b):
        a, gb = arg[b], g[b]
        # g * hit is g * 0 = NaN at the other positions of a window whose g is inf/NaN
        exact = gb.dtype.kind == "f" and not np.isfinite(gb.sum())
        hit = np.empty(a.shape, bool)
        for t, v in views:
            np.equal(a, t, out=hit)
            if disjoint and not exact:
                np.multiply(gb, hit, out=v[b])
                continue
            part = np.where(hit, gb, 0) if exact else gb * hit
            if disjoint:
                v[b] = part
            else:
                v[b] += part
    for_blocks(block, N, xpshape[1] * xpshape[2] * xpshape[3] * g.itemsize)
    return dxp
