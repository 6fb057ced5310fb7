"""The compiled kernels: the formulas of reference.py as plain loops, compiled by Numba.

Each ``_name`` below is a loop over samples ``lo..hi`` of an (N, C, L) array, written to be read
next to its NumPy twin.  They are compiled with ``nogil=True`` (so dlbasic's pool runs them on
every core at once: ``for_ranges`` splits the samples) and ``cache=True`` (compiled once per
machine, then loaded from ``__pycache__``).  Sums run in float64 whatever the input, one pass
over the data where the NumPy kernel needs two.
"""
import numpy as np
from numba import njit

from .._parallel import for_ranges
from . import updates as _reference_updates

__all__ = ["batch_norm_stats", "batch_norm_apply", "batch_norm_grad_sums",
           "batch_norm_grad_input", "batch_norm_apply_relu", "batch_norm_relu_grad_sums",
           "batch_norm_relu_grad_input", "sgd_update", "ctc_forward", "ctc_backward"]

_jit = njit(cache=True, nogil=True)
# for the loops that sum: letting LLVM reorder the float64 additions ("reassoc", no other
# fast-math flag, so NaN and inf still propagate) vectorises them -- the masked gradient sums of
# 64x16x784 floats took 4.4 ms in strict order, 0.16 ms reordered; the accumulators stay
# float64, so the reordering moves a sum by an ulp or so of float64
_jit_sum = njit(cache=True, nogil=True, fastmath={"reassoc"})


def _split(kernel, n, row_bytes, *args):
    """Run ``kernel(*args, lo, hi)`` over ranges of the n samples, one range per thread."""
    for_ranges(lambda lo, hi: kernel(*args, lo, hi), n, row_bytes, gemm=False)


# -- BatchNorm ---------------------------------------------------------------------------------

@_jit_sum
def _bn_shifted_sums(x3, shift, s1, s2, lo, hi):
    """Per sample n and channel c: s1 = sum (x - K_c), s2 = sum (x - K_c)^2, K_c = shift[c].
    The shift (a value of the channel) keeps the one-pass variance free of cancellation."""
    C, L = x3.shape[1], x3.shape[2]
    for n in range(lo, hi):
        for c in range(C):
            k = np.float64(shift[c])
            a = 0.0
            b = 0.0
            for i in range(L):
                d = x3[n, c, i] - k
                a += d
                b += d * d
            s1[n, c] = a
            s2[n, c] = b


def batch_norm_stats(x3):
    N, C, L = x3.shape
    shift = x3[0, :, 0].astype(np.float64)
    s1 = np.empty((N, C))
    s2 = np.empty((N, C))
    _split(_bn_shifted_sums, N, C * L * x3.itemsize, x3, shift, s1, s2)
    m = N * L
    d = s1.sum(0) / m                                   # mean - K
    var = np.maximum(s2.sum(0) / m - d * d, 0.0)
    return (shift + d).astype(x3.dtype), var.astype(x3.dtype)


@_jit
def _bn_apply(x3, a, b, y, lo, hi):
    C, L = x3.shape[1], x3.shape[2]
    for n in range(lo, hi):
        for c in range(C):
            ac = a[c]
            bc = b[c]
            for i in range(L):
                y[n, c, i] = x3[n, c, i] * ac + bc


def batch_norm_apply(x3, a, b):
    N, C, L = x3.shape
    y = np.empty_like(x3)
    _split(_bn_apply, N, C * L * x3.itemsize, x3, a, b, y)
    return y


@_jit_sum
def _bn_grad_sums(g3, x3, mean, sg, sgx, lo, hi):
    C, L = g3.shape[1], g3.shape[2]
    for n in range(lo, hi):
        for c in range(C):
            m = np.float64(mean[c])
            a = 0.0
            b = 0.0
            for i in range(L):
                gv = np.float64(g3[n, c, i])
                a += gv
                b += gv * (x3[n, c, i] - m)
            sg[n, c] = a
            sgx[n, c] = b


@_jit_sum
def _row_sums(g3, sg, lo, hi):
    C, L = g3.shape[1], g3.shape[2]
    for n in range(lo, hi):
        for c in range(C):
            a = 0.0
            for i in range(L):
                a += g3[n, c, i]
            sg[n, c] = a


def batch_norm_grad_sums(g3, x3, mean):
    N, C, L = g3.shape
    sg = np.empty((N, C))
    if x3 is None:
        _split(_row_sums, N, C * L * g3.itemsize, g3, sg)
        return sg.sum(0).astype(g3.dtype), None
    sgx = np.empty((N, C))
    _split(_bn_grad_sums, N, 2 * C * L * g3.itemsize, g3, x3, mean, sg, sgx)
    return sg.sum(0).astype(g3.dtype), sgx.sum(0).astype(g3.dtype)


@_jit
def _bn_grad_input(g3, x3, mean, s, k, k0, dx, lo, hi):
    C, L = g3.shape[1], g3.shape[2]
    for n in range(lo, hi):
        for c in range(C):
            sc, kc, k0c, mc = s[c], k[c], k0[c], mean[c]
            for i in range(L):
                dx[n, c, i] = g3[n, c, i] * sc - (x3[n, c, i] - mc) * kc - k0c


@_jit
def _scale_rows(g3, s, dx, lo, hi):
    C, L = g3.shape[1], g3.shape[2]
    for n in range(lo, hi):
        for c in range(C):
            sc = s[c]
            for i in range(L):
                dx[n, c, i] = g3[n, c, i] * sc


def batch_norm_grad_input(g3, x3, mean, s, k, k0):
    N, C, L = g3.shape
    dx = np.empty_like(g3)
    if x3 is None:
        _split(_scale_rows, N, 2 * C * L * g3.itemsize, g3, s, dx)
    else:
        _split(_bn_grad_input, N, 2 * C * L * g3.itemsize, g3, x3, mean, s, k, k0, dx)
    return dx


# -- BatchNorm + ReLU: the ReLU inside BatchNorm's passes ----------------------------------------
# y = max(0, x a + b) is written where BatchNorm's y is; the backward masks g as it reads it
# (keep where not y <= 0: NaN keeps its gradient, as torch's threshold_backward).  Each loop is
# a select, not a branch, so LLVM vectorises it.

@_jit
def _bn_apply_relu(x3, a, b, y, lo, hi):
    C, L = x3.shape[1], x3.shape[2]
    zero = x3.dtype.type(0)
    for n in range(lo, hi):
        for c in range(C):
            ac = a[c]
            bc = b[c]
            for i in range(L):
                v = x3[n, c, i] * ac + bc
                y[n, c, i] = zero if v <= zero else v


def batch_norm_apply_relu(x3, a, b):
    N, C, L = x3.shape
    y = np.empty_like(x3)
    _split(_bn_apply_relu, N, C * L * x3.itemsize, x3, a, b, y)
    return y


@_jit_sum
def _bn_relu_grad_sums(g3, y3, x3, mean, sg, sgx, lo, hi):
    C, L = g3.shape[1], g3.shape[2]
    for n in range(lo, hi):
        for c in range(C):
            m = np.float64(mean[c])
            a = 0.0
            b = 0.0
            for i in range(L):
                gv = 0.0 if y3[n, c, i] <= 0 else np.float64(g3[n, c, i])
                a += gv
                b += gv * (x3[n, c, i] - m)
            sg[n, c] = a
            sgx[n, c] = b


@_jit_sum
def _masked_row_sums(g3, y3, sg, lo, hi):
    C, L = g3.shape[1], g3.shape[2]
    for n in range(lo, hi):
        for c in range(C):
            a = 0.0
            for i in range(L):
                a += 0.0 if y3[n, c, i] <= 0 else np.float64(g3[n, c, i])
            sg[n, c] = a


def batch_norm_relu_grad_sums(g3, y3, x3, mean):
    N, C, L = g3.shape
    sg = np.empty((N, C))
    if x3 is None:
        _split(_masked_row_sums, N, 2 * C * L * g3.itemsize, g3, y3, sg)
        return sg.sum(0).astype(g3.dtype), None
    sgx = np.empty((N, C))
    _split(_bn_relu_grad_sums, N, 3 * C * L * g3.itemsize, g3, y3, x3, mean, sg, sgx)
    return sg.sum(0).astype(g3.dtype), sgx.sum(0).astype(g3.dtype)


@_jit
def _bn_relu_grad_input(g3, y3, x3, mean, s, k, k0, dx, lo, hi):
    C, L = g3.shape[1], g3.shape[2]
    zero = g3.dtype.type(0)
    for n in range(lo, hi):
        for c in range(C):
            sc, kc, k0c, mc = s[c], k[c], k0[c], mean[c]
            for i in range(L):
                gv = zero if y3[n, c, i] <= zero else g3[n, c, i]
                dx[n, c, i] = gv * sc - (x3[n, c, i] - mc) * kc - k0c


@_jit
def _masked_scale_rows(g3, y3, s, dx, lo, hi):
    C, L = g3.shape[1], g3.shape[2]
    zero = g3.dtype.type(0)
    for n in range(lo, hi):
        for c in range(C):
            sc = s[c]
            for i in range(L):
                dx[n, c, i] = (zero if y3[n, c, i] <= zero else g3[n, c, i]) * sc


def batch_norm_relu_grad_input(g3, y3, x3, mean, s, k, k0):
    N, C, L = g3.shape
    dx = np.empty_like(g3)
    if x3 is None:
        _split(_masked_scale_rows, N, 3 * C * L * g3.itemsize, g3, y3, s, dx)
    else:
        _split(_bn_relu_grad_input, N, 3 * C * L * g3.itemsize, g3, y3, x3, mean, s, k, k0,
               dx)
    return dx


# -- ReLU --------------------------------------------------------------------------------------
# relu_forward / relu_backward stay NumPy's: its SIMD maximum ran a 3.2M-float ReLU in 1.2 ms
# on one core where a plain Numba loop took 4.5 ms (and 20 ms for the masked gradient).  After
# a BatchNorm the ReLU costs nothing: it runs inside the kernels above.


# -- max pooling -------------------------------------------------------------------------------
# max_pool2d_forward / backward stay NumPy's: a one-pass Numba loop over windows took 9.5 ms on
# 128x32x28x28 (2x2, stride 2) where the NumPy kernel's vectorised passes took 5-7.5 ms.


# -- optimizer updates -------------------------------------------------------------------------
# One pass over a parameter instead of NumPy's five: SGD with Nesterov momentum and weight decay
# over 17M float32 parameters took 7.5-7.8 ms against 24-25 ms.  The scalars are cast to the
# parameter's dtype first, so float32 arithmetic stays float32 in the order of the NumPy kernel
# (the results are equal bit for bit).

@_jit
def _sgd(d, grad, buf, has_buf, first, lr, wd, momentum, damp1, nesterov, maximize):
    for i in range(d.size):
        g = -grad[i] if maximize else grad[i]
        if wd != 0:
            g = g + wd * d[i]
        if has_buf:
            if first:
                b = g
            elif damp1 == 1:
                b = buf[i] * momentum + g
            else:
                b = buf[i] * momentum + g * damp1
            buf[i] = b
            g = g + momentum * b if nesterov else b
        d[i] -= g * lr


def _flat(a):
    return a.reshape(-1)


def sgd_update(d, grad, buf, first, lr, weight_decay, momentum, dampening, nesterov, maximize):
    t = d.dtype.type
    arrays = (d, grad) if buf is None else (d, grad, buf)
    if not all(a.flags.c_contiguous and a.dtype == d.dtype for a in arrays):
        # a strided array's reshape(-1) would be a copy: the update would be lost
        return _reference_updates.sgd_update(d, grad, buf, first, lr, weight_decay, momentum,
                                             dampening, nesterov, maximize)
    b = _flat(buf) if buf is not None else _flat(d)[:0]
    _sgd(_flat(d), _flat(grad), b, buf is not None, bool(first), t(lr), t(weight_decay),
         t(momentum), t(1.0 - dampening), bool(nesterov), bool(maximize))


# adam_update stays NumPy's: the Numba loop (sqrt and division per element) was not vectorised
# and took 63-67 ms for 17M parameters where NumPy's ten vectorised passes took 45-48 ms.


# -- CTC ---------------------------------------------------------------------------------------
# One sample at a time, one state at a time: the recursions of ctc.py as loops over t and s.
# The backward pass walks beta down from the last frame and turns each frame's alpha + beta
# into that frame's gradient at once, so no (T, N, S) beta array is kept.

@_jit
def _lse3(a, b, c):
    """log(e^a + e^b + e^c) = m + log(1 + e^(b'-m) + e^(c'-m)) with m the largest; -inf
    when all three are (an -inf term costs no exp: most states have no skip path)."""
    if a < b:
        a, b = b, a
    if a < c:
        a, c = c, a
    if a == -np.inf:
        return a
    s = 1.0
    if b != -np.inf:                    # (a NaN passes, and makes the result NaN)
        s += np.exp(b - a)
    if c != -np.inf:
        s += np.exp(c - a)
    return np.log(s) + a


@_jit
def _ctc_alpha(lp, ext, skip, il, tl, alpha, nll, lo, hi):
    T, S = lp.shape[0], ext.shape[1]
    ninf = -np.inf
    for n in range(lo, hi):
        L = tl[n]
        Tn = min(il[n], T)
        for t in range(T):
            for s in range(S):
                alpha[t, n, s] = ninf
        if Tn > 0:
            alpha[0, n, 0] = lp[0, n, ext[n, 0]]
            if L > 0:
                alpha[0, n, 1] = lp[0, n, ext[n, 1]]
        for t in range(1, Tn):
            for s in range(2 * L + 1):
                b = alpha[t - 1, n, s - 1] if s >= 1 else ninf
                c = alpha[t - 1, n, s - 2] if s >= 2 and skip[n, s] else ninf
                alpha[t, n, s] = _lse3(alpha[t - 1, n, s], b, c) + lp[t, n, ext[n, s]]
        if il[n] == 0:
            nll[n] = -0.0 if L == 0 else np.inf
        else:
            pre = alpha[Tn - 1, n, 2 * L - 1] if L > 0 else ninf
            nll[n] = -_lse3(alpha[Tn - 1, n, 2 * L], pre, ninf)


def ctc_forward(lp, ext, skip, input_lengths, target_lengths):
    T, N, C = lp.shape
    alpha = np.empty((T, N, ext.shape[1]))
    nll = np.empty(N)
    _split(_ctc_alpha, N, T * C * 8, lp, ext, skip, input_lengths, target_lengths, alpha, nll)
    return alpha, nll


@_jit
def _ctc_grad(lp, alpha, ext, skip, nll, il, tl, zero_infinity, g, grad, lo, hi):
    T, C, S = lp.shape[0], lp.shape[2], ext.shape[1]
    ninf = -np.inf
    nxt = np.empty(S + 2)               # beta_{t+1}, with two -inf states past the end
    cur = np.empty(S + 2)
    occ = np.empty(C)
    for n in range(lo, hi):
        L = tl[n]
        Tn = min(il[n], T)
        gn = g[n]
        dead = zero_infinity and nll[n] == np.inf
        for t in range(Tn, T):
            for c in range(C):
                grad[t, n, c] = 0.0 * gn
        for s in range(S + 2):
            nxt[s] = ninf
            cur[s] = ninf
        for t in range(Tn - 1, -1, -1):
            for s in range(2 * L + 1):
                y = lp[t, n, ext[n, s]]
                if t == Tn - 1:
                    cur[s] = y if s >= 2 * L - 1 else ninf
                else:
                    c3 = nxt[s + 2] if s + 2 < S and skip[n, s + 2] else ninf
                    cur[s] = _lse3(nxt[s], nxt[s + 1], c3) + y
            # occupancies of frame t: sum over the states of each label of e^(alpha + beta - m)
            m = ninf
            for s in range(2 * L + 1):
                m = max(m, alpha[t, n, s] + cur[s])
            if not np.isfinite(m):
                m = 0.0
            for c in range(C):
                occ[c] = 0.0
            for s in range(2 * L + 1):
                occ[ext[n, s]] += np.exp(alpha[t, n, s] + cur[s] - m)
            for c in range(C):
                if dead:
                    grad[t, n, c] = 0.0 * gn
                else:
                    y = lp[t, n, c]
                    grad[t, n, c] = (np.exp(y) - occ[c] * np.exp(m + nll[n] - y)) * gn
            for s in range(2 * L + 1):
                nxt[s] = cur[s]


def ctc_backward(lp, alpha, ext, skip, nll, input_lengths, target_lengths, zero_infinity, g):
    T, N, C = lp.shape
    grad = np.empty((T, N, C))
    _split(_ctc_grad, N, T * C * 8, lp, alpha, ext, skip, nll, input_lengths, target_lengths,
           bool(zero_infinity), g, grad)
    return grad
