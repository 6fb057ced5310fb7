"""The NumPy convolution kernels: im2col + one GEMM, forward and both gradients.

The math is in ``dlbasic/ops/conv.py`` (the ``Convolution`` op); this file is how it is computed.
For one output position the convolution is a dot product between the weights and the input
window under it; stacking every window as a row of a *column matrix* makes the layer one GEMM:

    cols[(n,ho,wo), (i,j,c)] = x_pad[n, c, ho*s_h + i*d_h, wo*s_w + j*d_w]
    y[(n,ho,wo), o]          = sum_{i,j,c} cols[(n,ho,wo), (i,j,c)] * W[o, c, i, j]

Inside the kernel the input is channels-last (NHWC): the window of one position is then a run
of contiguous channel vectors, so building ``cols`` is a single strided copy (a window *view* of
the padded input, copied once).  The GEMM is written channel-major (y^T = W @ cols^T), so the
NCHW result is a copy of whole Ho*Wo planes.  The arrays that enter and leave are NCHW and
contiguous, as in PyTorch.  The column matrix is 9x the activation (for a 3x3 kernel), so it
is built and multiplied a block of samples (~2 MiB of columns) at a time: the GEMM reads it back
from cache instead of memory, which on this kind of machine is what limits narrow layers.
Temporaries (the column block, the GEMM output, padded inputs and gradients) live in
per-thread scratch buffers reused between calls: a fresh large array costs a page fault per
4 KiB page, about as much time as filling it.  Each thread of dlbasic's pool runs the whole
im2col + GEMM for its own samples (``for_ranges``), with OpenBLAS held to one thread meanwhile.

For stride 1 the input gradient is itself a convolution ("full" correlation of dy with the
flipped kernel), so it reuses the same im2col + GEMM instead of scattering ``dcols`` back onto
the input (col2im).  A stride-s convolution splits the input positions into s*s phases; each
phase's gradient is again a stride-1 correlation, with the kernel taps that reach it.

The kernels (the names the backend table exports), on 2-D NCHW arrays:

    conv2d_forward(x, w, bias, stride, padding, dilation, groups, keep_input) -> (y, saved)
    conv2d_backward_weight(saved, g, wshape, stride, dilation, groups)       -> dW
    conv2d_backward_input(g, w, xshape, stride, padding, dilation, groups)   -> dx

``saved`` is the input in the layout the weight gradient reads (here: padded NHWC), or None.
There is no compiled twin: a Numba direct convolution measured 22-55 GFLOP/s against 60-115
for this im2col + OpenBLAS on the resnet20 layers (docs/performance.md), so the compiled table
points here.
"""
import math
import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._parallel import for_ranges

__all__ = ["conv2d_forward", "conv2d_backward_weight", "conv2d_backward_input"]


# -- layout helpers -----------------------------------------------------------------------

def to_nhwc(x, pads=((0, 0), (0, 0)), scratch_name=None):
    """(N, C, H, W) in any memory layout -> contiguous (N, H+pt+pb, W+pl+pr, C), zero border.

    A negative pad crops.  ``scratch_name``: write into that reusable scratch buffer (for a
    temporary that dies within the calling kernel) instead of a new array.
    Transposing NCHW -> NHWC reads one element from each channel plane;
    when a plane is a multiple of 4 KiB those reads alias in the cache and TLB and the copy runs
    at a third of its speed, so such inputs are staged through planes padded by 64 bytes.
    """
    (pt, pb), (pl, pr) = pads
    N, C, H, W = x.shape
    if pt < 0 or pb < 0 or pl < 0 or pr < 0:
        x = x[:, :, max(-pt, 0):H - max(-pb, 0), max(-pl, 0):W - max(-pr, 0)]
        pt, pb, pl, pr = max(pt, 0), max(pb, 0), max(pl, 0), max(pr, 0)
        N, C, H, W = x.shape
    Hp, Wp = H + pt + pb, W + pl + pr
    padded = pt or pb or pl or pr
    if scratch_name is None:
        out = (np.zeros if padded else np.empty)((N, Hp, Wp, C), x.dtype)
    else:
        out = scratch(scratch_name, (N, Hp, Wp, C), x.dtype)
    # staging: see above (the aliasing only hurts a transposing read)
    stage = (C > 1 and (H * W * x.itemsize) % 4096 == 0
             and not x.transpose(0, 2, 3, 1).flags.c_contiguous)

    def fill(lo, hi):           # samples lo:hi, so that threads can share the copy
        o = out[lo:hi]
        if scratch_name is not None:
            o[:, :pt] = 0
            o[:, Hp - pb:] = 0
            o[:, :, :pl] = 0
            o[:, :, Wp - pr:] = 0
        src = x[lo:hi]
        if stage:
            buf = scratch("stage", (hi - lo, C, H * W + 16), x.dtype)[:, :, :H * W]
            buf.reshape(hi - lo, C, H, W)[...] = src
            src = buf.reshape(hi - lo, C, H, W)
        o[:, pt:pt + H, pl:pl + W, :] = src.transpose(0, 2, 3, 1)

    for_ranges(fill, N, Hp * Wp * C * x.itemsize, gemm=False)
    return out


_scratch_space = threading.local()
_BLOCK_BYTES = 2 << 20        # one block's column matrix: small enough to stay in cache
# From this many output positions per sample, a GEMM per sample on y's (or g's) NCHW planes
# beats one GEMM over the block plus a transposing copy (measured: the 1->32 stem at 28x28,
# forward 3.8 -> 2.1 ms and weight gradient 5.2 -> 2.2 ms; 16->16 at 28x28 7.7 -> 7.6 and
# 7.0 -> 5.9 ms; at 7x7, 49 positions, the block GEMM wins).
_DIRECT_MIN_POSITIONS = 256


def scratch(name, shape, dtype):
    """A reusable per-thread work array for a temporary that never outlives one kernel call.

    The column matrix is ~9x the activation (150 MB in the benchmark layer); allocating it
    fresh each call costs a page fault per 4 KiB on first touch, about as long as filling it.
    """
    store = _scratch_space.__dict__
    size = 1
    for s in shape:
        size *= s
    key = (name, np.dtype(dtype))
    buf = store.get(key)
    if buf is None or buf.size < size:
        buf = store[key] = np.empty(size, dtype)
    return buf[:size].reshape(shape)


def clear_scratch():
    """Free this thread's scratch buffers (they otherwise keep the largest size seen)."""
    _scratch_space.__dict__.clear()


def im2col(xp, kernel, stride, dilation, out_hw, groups=1):
    """Column matrix (N*Ho*Wo, G, kh*kw*Cg) of a padded NHWC input: one window per row.

    The windows are a strided *view* of ``xp`` (no copy); one copy makes them contiguous.
    The result lives in a scratch buffer: use it before the next im2col call.
    """
    N, Hp, Wp, C = xp.shape
    kh, kw = kernel
    (sh, sw), (dh, dw), (Ho, Wo) = stride, dilation, out_hw
    Cg = C // groups
    sN, sH, sW, sC = xp.strides
    windows = as_strided(xp, (N, Ho, Wo, groups, kh, kw, Cg),
                         (sN, sh * sH, sw * sW, Cg * sC, dh * sH, dw * sW, sC), writeable=False)
    cols = scratch("cols", windows.shape, xp.dtype)
    np.copyto(cols, windows)
    return cols.reshape(N * Ho * Wo, groups, kh * kw * Cg)


def columns(xp, kernel, stride, dilation, out_hw, groups=1):
    """im2col, with the 1x1 shortcut: a 1x1 window is the position itself (stride = a slice)."""
    if kernel != (1, 1):
        return im2col(xp, kernel, stride, dilation, out_hw, groups)
    (Ho, Wo), (sh, sw) = out_hw, stride
    a = xp[:, :sh * (Ho - 1) + 1:sh, :sw * (Wo - 1) + 1:sw]
    return np.ascontiguousarray(a).reshape(-1, groups, xp.shape[3] // groups)


def _block(N, sample_bytes, weight_bytes):
    """Samples per block, so that one block's column matrix (~2 MiB) stays in cache.

    Every block re-reads the weights, so a block's columns are also kept at >= 4x the weight
    matrix: deep layers (few positions, large weights) then run as one whole-batch GEMM.
    """
    target = max(_BLOCK_BYTES, 4 * weight_bytes)
    return max(1, min(N, target // max(sample_bytes, 1)))


def correlate(xp, wmat, kernel, stride, dilation, out_hw, bias=None, out=None):
    """y (N, O, Ho, Wo) = im2col(xp) @ wmat (+ bias); xp padded NHWC, wmat (G, K, O/G).

    ``out``: write y into this (N, O, Ho, Wo) array, which may be a strided view.

    Done a block of samples at a time: the block's column matrix is written and at once read
    back by the GEMM while it is still in cache, instead of a 9x-the-activation array making a
    round trip through memory.  The GEMM is written channel-major, y^T = wmat^T @ cols^T of
    shape (O, n*Ho*Wo), so each sample's NCHW result is a run of contiguous Ho*Wo planes.
    """
    N = xp.shape[0]
    G, K, Og = wmat.shape
    Ho, Wo = out_hw
    P = Ho * Wo
    dtype = np.result_type(xp.dtype, wmat.dtype)
    y = np.empty((N, G * Og, Ho, Wo), dtype) if out is None else out
    direct = y.flags.c_contiguous          # a sample's planes can take the GEMM's output
    wt = wmat.transpose(0, 2, 1)                                   # (G, Og, K)
    sample_bytes = P * G * K * xp.itemsize
    step = _block(N, sample_bytes, wmat.nbytes)

    def samples(lo, hi):
        for n0 in range(lo, hi, step):
            n1 = min(hi, n0 + step)
            cols = columns(xp[n0:n1], kernel, stride, dilation, out_hw, G)   # (n*P, G, K)
            nb = n1 - n0
            m = nb * P
            if G == 1 and direct and (nb == 1 or P >= _DIRECT_MIN_POSITIONS):
                # one GEMM per sample, straight into y's planes: no (O, n*P) result to copy
                np.matmul(wt[0], cols.reshape(nb, P, K).transpose(0, 2, 1),
                          out=y[n0:n1].reshape(nb, Og, P))
            else:
                yt = scratch("gemm_out", (G, Og, m), dtype)
                if G == 1:
                    np.matmul(wt[0], cols.reshape(m, K).T, out=yt[0])
                else:
                    np.matmul(wt, cols.transpose(1, 2, 0), out=yt)
                np.copyto(y[n0:n1], yt.reshape(G * Og, n1 - n0, Ho, Wo).transpose(1, 0, 2, 3))
            if bias is not None:
                y[n0:n1] += bias[:, None, None]

    for_ranges(samples, N, sample_bytes)
    return y


def weight_grad(xp, g, kernel, stride, dilation, groups):
    """dW as (G, K, O/G) = sum over blocks of samples of cols^T @ g (cols rebuilt from xp).

    Written (K, m) @ (m, O/G): OpenBLAS runs this orientation of a long-inner-dimension product
    about 3x faster than (O, m) @ (m, K).
    """
    N, O, Ho, Wo = g.shape
    P, Og = Ho * Wo, O // groups
    g3 = g.reshape(N, O, P)
    K = xp.shape[3] // groups * kernel[0] * kernel[1]
    dtype = np.result_type(xp.dtype, g.dtype)
    sample_bytes = P * groups * K * xp.itemsize
    step = _block(N, sample_bytes, groups * K * Og * np.dtype(dtype).itemsize)

    def samples(lo, hi):
        dwm = np.zeros((groups, K, Og), dtype)
        for n0 in range(lo, hi, step):
            n1 = min(hi, n0 + step)
            m = (n1 - n0) * P
            cols = columns(xp[n0:n1], kernel, stride, dilation, (Ho, Wo), groups)   # (m, G, K)
            if groups == 1 and P >= _DIRECT_MIN_POSITIONS:
                # per sample, (K, P) @ (P, O) straight from g's planes: no transposed copy of g
                nb = n1 - n0
                dwm[0] += np.matmul(cols.reshape(nb, P, K).transpose(0, 2, 1),
                                    g3[n0:n1].transpose(0, 2, 1)).sum(0)
                continue
            gt = scratch("grad_block", (O, n1 - n0, P), g.dtype)     # channel-major block of g
            np.copyto(gt, g3[n0:n1].transpose(1, 0, 2))
            if groups == 1:
                dwm[0] += cols.reshape(m, K).T @ gt.reshape(O, m).T
            else:
                dwm += np.matmul(cols.transpose(1, 2, 0),
                                 gt.reshape(groups, Og, m).transpose(0, 2, 1))
        return dwm

    parts = for_ranges(samples, N, sample_bytes)     # one partial sum per thread, in order
    dwm = parts[0]
    for part in parts[1:]:
        dwm += part
    return dwm


def _weight_matrix(w, groups):
    """(O, Cg, kh, kw) -> (G, kh*kw*Cg, O/G), rows ordered like im2col's (i, j, c)."""
    O, Cg, kh, kw = w.shape
    Og = O // groups
    wt = w.reshape(groups, Og, Cg, kh, kw).transpose(0, 3, 4, 2, 1)
    return np.ascontiguousarray(wt).reshape(groups, kh * kw * Cg, Og)


def _flipped_weight_matrix(w, groups):
    """The kernel of the stride-1 input gradient: W flipped in space, in/out channels swapped.

    Shape (G, kh*kw*Og, Cg), so that dx = im2col(dy padded) @ it.
    """
    O, Cg, kh, kw = w.shape
    Og = O // groups
    wf = w.reshape(groups, Og, Cg, kh, kw)[:, :, :, ::-1, ::-1]
    return np.ascontiguousarray(wf.transpose(0, 3, 4, 1, 2)).reshape(groups, kh * kw * Og, Cg)


def _phase_taps(r, k, s, d):
    """The kernel taps that reach padded-input positions p = q*s + r (one "phase" of stride s).

    Tap i reaches p from output o = q - e with i*d = e*s + r, so the taps are i0, i0 + step, ...
    and e grows by ``dil`` from ``e0``: (i0, step, count, e0, dil), or None if no tap does.
    """
    taps = [i for i in range(k) if (i * d - r) % s == 0]
    if not taps:
        return None
    step = s // math.gcd(s, d)
    return taps[0], step, len(taps), (taps[0] * d - r) // s, step * d // s


def _strided_input_grad(g, w, stride, dilation, padding, xshape, groups):
    """dL/dx of a strided convolution, one stride-1 correlation per phase (no scatter-add).

    Padded-input rows p = q*s + r (one phase r) receive g only through the taps i with
    i*d = r (mod s), each from output row q - e_i: a stride-1 "full" correlation of g with
    that sub-kernel, flipped.  So every phase is the im2col + GEMM of the stride-1 case, written
    to dx[.., r::s] -- the same arithmetic as col2im, without its k*k strided additions.
    """
    N, C, H, W = xshape
    O, Cg, kh, kw = w.shape
    (pt, pb), (pl, pr) = padding
    Hp, Wp = H + pt + pb, W + pl + pr
    Ho, Wo = g.shape[2:]
    phases = []
    for rh in range(stride[0]):
        th = _phase_taps(rh, kh, stride[0], dilation[0])
        for rw in range(stride[1]):
            tw = _phase_taps(rw, kw, stride[1], dilation[1])
            if th is not None and tw is not None:     # else no tap reaches it: gradient 0
                (_, _, nh, eh, dh), (_, _, nw, ew, dw) = th, tw
                Hq = (Hp - rh + stride[0] - 1) // stride[0]
                Wq = (Wp - rw + stride[1] - 1) // stride[1]
                # g padded by `left` zeros before, read for Hq + (n - 1) * d rows
                phases.append((rh, rw, th, tw, Hq, Wq, eh + (nh - 1) * dh, ew + (nw - 1) * dw,
                               Hq + (nh - 1) * dh, Wq + (nw - 1) * dw))
    # one padded NHWC copy of g serves every phase (each reads a window of it)
    top = max(ph[6] for ph in phases)
    left = max(ph[7] for ph in phases)
    bottom = max(ph[8] - ph[6] for ph in phases) - Ho
    right = max(ph[9] - ph[7] for ph in phases) - Wo
    gp = to_nhwc(g, ((top, max(bottom, 0)), (left, max(right, 0))), "grad_nhwc")
    dxp = (np.zeros if len(phases) < stride[0] * stride[1] else np.empty)((N, C, Hp, Wp), g.dtype)
    for rh, rw, (ih, sih, nh, _, dh), (iw, siw, nw, _, dw), Hq, Wq, lh, lw, rows, cols in phases:
        w_sub = w[:, :, ih::sih, iw::siw][:, :, :nh, :nw]
        view = gp[:, top - lh:top - lh + rows, left - lw:left - lw + cols]
        correlate(view, _flipped_weight_matrix(w_sub, groups), (nh, nw), (1, 1), (dh, dw),
                  (Hq, Wq), out=dxp[:, :, rh::stride[0], rw::stride[1]])
    if not (pt or pb or pl or pr):
        return dxp
    return np.ascontiguousarray(dxp[:, :, pt:pt + H, pl:pl + W])


# -- the kernels the backend table exports ---------------------------------------------------

def conv2d_forward(x, w, bias, stride, padding, dilation, groups, keep_input):
    """y = conv(x, W) + b for x (N, C, H, W), w (O, C/groups, kh, kw); padding ((t, b), (l, r)).

    Returns (y, saved): ``saved`` is the padded NHWC input the weight gradient rebuilds its
    columns from when ``keep_input`` (9x less memory than keeping the columns), else None.
    """
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    (pt, pb), (pl, pr) = padding
    Ho = (H + pt + pb - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    Wo = (W + pl + pr - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    xp = to_nhwc(x, padding, None if keep_input else "input_nhwc")
    y = correlate(xp, _weight_matrix(w, groups), (kh, kw), stride, dilation, (Ho, Wo), bias)
    return y, (xp if keep_input else None)


def conv2d_backward_weight(saved, g, wshape, stride, dilation, groups):
    """dW (O, C/groups, kh, kw) = cols^T @ g, the columns rebuilt from the saved input."""
    O, Cg, kh, kw = wshape
    dwm = weight_grad(saved, g, (kh, kw), stride, dilation, groups)
    # (G, kh*kw*Cg, Og) -> (O, Cg, kh, kw)
    dw = np.ascontiguousarray(dwm.reshape(groups, kh, kw, Cg, O // groups).transpose(0, 4, 3, 1, 2))
    return dw.reshape(O, Cg, kh, kw)


def conv2d_backward_input(g, w, xshape, stride, padding, dilation, groups):
    """dx (N, C, H, W): the full correlation of g with the flipped kernel (per phase if strided)."""
    N, C, H, W = xshape
    O, Cg, kh, kw = w.shape
    (pt, pb), (pl, pr) = padding
    if stride != (1, 1):
        return _strided_input_grad(g, w, stride, dilation, padding, xshape, groups)
    # pad g by d*(k-1) - p on each side (a negative pad crops)
    eh, ew = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
    gp = to_nhwc(g, ((eh - pt, eh - pb), (ew - pl, ew - pr)), "grad_nhwc")
    return correlate(gp, _flipped_weight_matrix(w, groups), (kh, kw), (1, 1), dilation, (H, W))
