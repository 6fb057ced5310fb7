"""Resampling on a grid (``F.interpolate``): every mode is one separable op.

Each mode reads, for output position o along a spatial axis, a few input positions with
weights, and the d-dimensional resampling is that 1-D gather applied to one axis after the
other (bilinear = linear along H, then along W):

    y[o] = sum_t w_t[o] * x[i_t[o]]            nearest: 1 tap (w = 1); linear: 2; cubic: 4;
                                               area: the window [floor(o n/m), ceil((o+1) n/m));
                                               antialias: a filter stretched by max(n/m, 1)
    dy/dx: dx[i] = sum over (o, t) with i_t[o] = i of w_t[o] * g[o]   (the same weights, scattered)

The taps (index and weight arrays, one per axis) are computed once per call from the sizes, in
the arithmetic PyTorch uses (UpSample.h): scale s = (n-1)/(m-1) with align_corners, else
1/scale_factor when a scale factor was given (and not recomputed), else n/m; source coordinate
s*o (align_corners) or s*(o + 1/2) - 1/2 (half-pixel centres, clamped at 0 except for cubic);
linear and cubic in the input's precision (float32 for float32), nearest always in float32.
The backward gathers too: the taps are transposed (for each input position, the outputs
that read it and their weights), so dx is a few passes like the forward's rather than a
scatter-add; for large enlargements, where an input is read by many outputs, it scatters
instead (one segment sum per tap).  Backward needs only the sizes, so the op saves no array.
"""
import numpy as np

from ..autograd.function import Op
from . import _flops

__all__ = []

CUBIC_A = -0.75          # torch's (and Keys') bicubic parameter


def _work_dtype(dtype):
    """PyTorch's opmath type: float64 stays float64, everything else computes in float32."""
    return np.float64 if dtype == np.float64 else np.float32


def _scale(n_in, n_out, align_corners, scale, T):
    if align_corners:
        return T(n_in - 1) / T(n_out - 1) if n_out > 1 else T(0)
    if scale is not None and scale > 0:
        return T(1.0 / scale)
    return T(n_in) / T(n_out)


def _source(n_in, n_out, align_corners, scale, T, cubic):
    """Real-valued source coordinate of every output position."""
    s = _scale(n_in, n_out, align_corners, scale, T)
    o = np.arange(n_out).astype(T)
    if align_corners:
        return s * o
    src = s * (o + T(0.5)) - T(0.5)
    return src if cubic else np.maximum(src, T(0))


def _floor_and_fraction(src, n_in, T):
    """(index, lambda): i = min(floor(src), n-1), lambda = clamp(src - i, 0, 1)."""
    idx = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam = np.clip(src - idx.astype(T), T(0), T(1))
    return idx, lam


def _cubic_weights(t, T):
    """Keys' cubic convolution weights of the taps at offsets -1, 0, 1, 2 from floor(src):
    W(x) = ((A+2)x - (A+3)) x^2 + 1 for |x| <= 1, ((A x - 5A) x + 8A) x - 4A for 1 < |x| < 2."""
    A = T(CUBIC_A)

    def near(x):
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def far(x):
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A

    return far(t + 1), near(t), near(1 - t), far(2 - t)


def _aa_filter(kind, x, T):
    """The antialiasing kernels (PIL's): triangle, Keys' cubic with a = -0.5, Lanczos-3."""
    ax = np.abs(x)
    if kind == "linear":
        return np.maximum(T(0), T(1) - ax)
    if kind == "cubic":
        a = T(-0.5)
        near = ((a + 2) * ax - (a + 3)) * ax * ax + 1
        far = ((a * ax - 5 * a) * ax + 8 * a) * ax - 4 * a
        return np.where(ax < 1, near, np.where(ax < 2, far, T(0)))
    xd = x.astype(np.float64)
    return np.where(ax < 3, np.sinc(xd) * np.sinc(xd / 3), 0.0).astype(T)


_AA_RADIUS = {"linear": 1, "cubic": 2, "lanczos": 3}


def _antialias_taps(kind, n_in, n_out, align_corners, scale, T):
    """Resampling with a low-pass filter (``antialias=True``): output o averages the inputs
    within ``radius * max(s, 1)`` of its centre s (o + 1/2), weighted by the kernel stretched
    by max(s, 1) and normalised to sum 1 -- so shrinking an image averages, not skips."""
    s = _scale(n_in, n_out, align_corners, scale, T)
    stretch = s if s >= 1 else T(1)
    support = T(_AA_RADIUS[kind]) * stretch
    width = int(np.ceil(support)) * 2 + 1
    centre = s * (np.arange(n_out).astype(T) + T(0.5))
    first = np.maximum((centre - support + T(0.5)).astype(np.int64), 0)
    count = np.clip(np.minimum((centre + support + T(0.5)).astype(np.int64), n_in) - first,
                    0, width)
    j = np.arange(width)[:, None]
    w = _aa_filter(kind, (j + first - centre + T(0.5)) * (T(1) / stretch), T)
    w = np.where(j < count, w, T(0)).astype(T)
    total = w.sum(0)
    w = (w / np.where(total != 0, total, T(1))).astype(T)
    last = np.maximum(first + count - 1, 0)
    idx = np.clip(np.minimum(first + j, last), 0, n_in - 1)
    return list(zip(idx, w))


def axis_taps(mode, n_in, n_out, align_corners=False, scale=None, dtype=np.float32,
              spatial_dims=1):
    """[(index (n_out,), weight (n_out,) or None)] of one spatial axis, for ``mode`` in
    nearest | nearest-exact | linear | cubic | area | linear-aa | cubic-aa | lanczos-aa.

    PyTorch's CPU kernels take shortcuts that ignore a given scale factor, kept here so the
    outputs agree: linear and antialiased modes copy an axis whose size is unchanged, and
    2-D nearest copies such an axis and reads o // 2 when the size exactly doubles.
    """
    o = np.arange(n_out)
    if mode in ("linear", "linear-aa", "cubic-aa", "lanczos-aa") and n_out == n_in or \
            mode == "nearest" and spatial_dims == 2 and n_out == n_in:
        return [(o, None)]
    if mode == "nearest" and spatial_dims == 2 and n_out == 2 * n_in:
        return [(o // 2, None)]
    if mode in ("nearest", "nearest-exact"):
        s = _scale(n_in, n_out, False, scale, np.float32)
        if mode == "nearest":
            src = np.floor(o.astype(np.float32) * s)
        else:       # (o + 0.5) * s is formed in double and rounded to float, as in torch
            src = np.floor(((o + 0.5) * np.float64(s)).astype(np.float32))
        return [(np.minimum(src.astype(np.int64), n_in - 1), None)]
    T = _work_dtype(np.dtype(dtype))
    if mode.endswith("-aa"):
        return _antialias_taps(mode[:-3], n_in, n_out, align_corners, scale, T)
    if mode == "area":
        start = o * n_in // n_out
        end = -(-(o + 1) * n_in // n_out)
        inv = (T(1) / (end - start).astype(T))
        taps = []
        for t in range(int((end - start).max())):
            inside = start + t < end
            taps.append((np.minimum(start + t, end - 1), np.where(inside, inv, T(0))))
        return taps
    cubic = mode == "cubic"
    idx, lam = _floor_and_fraction(_source(n_in, n_out, align_corners, scale, T, cubic),
                                   n_in, T)
    if not cubic:
        nxt = np.minimum(idx + 1, n_in - 1)
        return [(idx, T(1) - lam), (nxt, lam)]
    return [(np.clip(idx + k - 1, 0, n_in - 1), w)
            for k, w in enumerate(_cubic_weights(lam, T))]


def _gather(x, axis, taps):
    """y = sum_t w_t * x[i_t] along ``axis``."""
    shape = (-1,) + (1,) * (x.ndim - axis - 1)
    out = None
    for idx, w in taps:
        part = np.take(x, idx, axis=axis)          # a fresh array: safe to scale in place
        if w is not None:
            part *= w.reshape(shape)
        if out is None:
            out = part
        else:
            out += part
    return out


def transpose_taps(taps, n_out, n_in):
    """The adjoint's taps: for input position i, the outputs o (and weights) that read it,
    as [(index (n_in,), weight (n_in,))]; inputs read fewer times get zero-weight padding.
    Then dx = sum_t w^T_t * g[o^T_t] is the same gather as the forward, over input positions
    -- a handful of contiguous passes instead of a scatter-add."""
    o = np.concatenate([np.arange(n_out)] * len(taps))
    i = np.concatenate([idx for idx, _ in taps])
    w = np.concatenate([np.ones(n_out, np.float32) if w is None else w for _, w in taps])
    order = np.argsort(i, kind="stable")
    i, o, w = i[order], o[order], w[order]
    first = np.searchsorted(i, np.arange(n_in))
    rank = np.arange(len(i)) - first[i]               # position of each entry in its group
    depth = int(rank.max()) + 1
    index = np.zeros((depth, n_in), np.int64)
    weight = np.zeros((depth, n_in), w.dtype)
    index[rank, i] = o
    weight[rank, i] = w
    return list(zip(index, weight))


def _scatter(g, axis, taps, n_in):
    """The adjoint of ``_gather`` as a scatter: dx[i] = sum_{t, o: i_t[o] = i} w_t[o] g[o].
    Every tap's index is non-decreasing in o, so each tap is one segment sum
    (``np.add.reduceat``) over runs of equal indices."""
    g = np.moveaxis(g, axis, 0)
    shape = (-1,) + (1,) * (g.ndim - 1)
    acc = np.zeros((n_in,) + g.shape[1:], g.dtype)
    for idx, w in taps:
        part = g if w is None else g * w.reshape(shape)
        starts = np.flatnonzero(np.concatenate(([True], idx[1:] != idx[:-1])))
        sums = np.add.reduceat(part, starts, axis=0)
        where = idx[starts]
        if np.all(where[1:] > where[:-1]):
            acc[where] += sums
        else:                                       # not reached by torch's modes
            np.add.at(acc, where, sums)
    return np.moveaxis(acc, 0, axis)


# the transposed gather makes ``depth`` passes, each reading a strided slice of the whole
# gradient; past a few passes (a large enlargement) the scatter's one pass per tap is cheaper
_MAX_GATHER_DEPTH = 8


def _adjoint(g, axis, taps, n_out, n_in):
    """dx along ``axis``: the transposed gather, or the scatter for large enlargements.
    The transposed taps' last layers hold only the few inputs read once more than the rest
    (the clamped borders); those are added on their own instead of costing a whole pass."""
    t_taps = transpose_taps(taps, n_out, n_in)
    dense = [(i, w) for i, w in t_taps if 4 * np.count_nonzero(w) > n_in]
    if len(dense) > _MAX_GATHER_DEPTH:
        return _scatter(g, axis, taps, n_in)
    out = _gather(g, axis, dense)
    if out is None:                                 # a strong reduction: every layer sparse
        out = np.zeros(g.shape[:axis] + (n_in,) + g.shape[axis + 1:], g.dtype)
    shape = (-1,) + (1,) * (g.ndim - axis - 1)
    where = [slice(None)] * g.ndim
    for i, w in t_taps:
        if 4 * np.count_nonzero(w) > n_in:
            continue
        nz = np.flatnonzero(w)                     # distinct inputs within one layer
        where[axis] = nz
        out[tuple(where)] += np.take(g, i[nz], axis=axis) * w[nz].reshape(shape)
    return out


_TAPS_PER_AXIS = {"nearest": 0, "nearest-exact": 0, "linear": 2, "cubic": 4}


def _interpolate_flops(call):
    """A multiply and an add per tap, per output element, per axis (the separable passes);
    nearest only copies; area adds about each input element once."""
    mode = call.params["mode"]
    if mode == "area" or mode.endswith("-aa"):
        n = call.in_numel
    else:
        n = 2 * _TAPS_PER_AXIS[mode] * len(call.params["size"]) * call.out_numel
    return _flops.cost(elementwise=n, backward_elementwise=n * _flops.n_grads(call, (0,)))


_TORCH_NAMES = {("nearest", 1): "UpsampleNearest1D", ("nearest", 2): "UpsampleNearest2D",
                ("nearest", 3): "UpsampleNearest3D",
                ("nearest-exact", 1): "UpsampleNearestExact1D",
                ("nearest-exact", 2): "UpsampleNearestExact2D",
                ("nearest-exact", 3): "UpsampleNearestExact3D",
                ("linear", 1): "UpsampleLinear1D", ("linear", 2): "UpsampleBilinear2D",
                ("linear", 3): "UpsampleTrilinear3D", ("cubic", 2): "UpsampleBicubic2D",
                ("linear-aa", 2): "UpsampleBilinear2DAa", ("cubic-aa", 2): "UpsampleBicubic2DAa",
                ("lanczos-aa", 2): "UpsampleLanczos2DAa",
                ("area", 1): "AdaptiveAvgPool1D", ("area", 2): "AdaptiveAvgPool2D",
                ("area", 3): "AdaptiveAvgPool3D"}


class Interpolate(Op):
    """Resample the spatial axes 2.. of (N, C, *spatial) to ``size``:
    y = sum_t w_t x[i_t] along each axis in turn; dx = the same weights scattered back.

    ``mode``: nearest | nearest-exact | linear (any number of axes) | cubic | area |
    linear-aa | cubic-aa | lanczos-aa (antialiased);
    ``scales``: the scale factor per axis that sets the source step (None: in/out).
    """
    _saves = ()
    flops = _interpolate_flops

    def forward(self, x, mode, size, scales, align_corners):
        self.mode, self.size, self.scales = mode, tuple(size), tuple(scales)
        self.align_corners = align_corners
        self.in_spatial = tuple(x.shape[2:])
        return self.resample(x)

    def resample(self, x):
        """The resampling this op was made with, applied to ``x`` (of the input's shape): the
        forward, and, as the op is linear, its Jacobian applied to a change of the input."""
        out_dtype = x.dtype
        if 0 in self.size:                        # area mode allows an empty output
            return np.zeros(x.shape[:2] + self.size, x.dtype)
        if self.mode not in ("nearest", "nearest-exact"):
            x = x.astype(_work_dtype(x.dtype), copy=False)
        for a, taps in enumerate(self._taps(x.dtype)):
            x = _gather(x, 2 + a, taps)
        return x.astype(out_dtype, copy=False)

    def _taps(self, dtype):
        return [axis_taps(self.mode, n, m, self.align_corners, s, dtype, len(self.size))
                for n, m, s in zip(self.in_spatial, self.size, self.scales)]

    def backward(self, g):
        out_dtype = g.dtype
        if 0 in self.size:
            return np.zeros(g.shape[:2] + self.in_spatial, g.dtype)
        g = g.astype(_work_dtype(g.dtype), copy=False)
        taps = self._taps(g.dtype)
        for a in reversed(range(len(taps))):
            g = _adjoint(g, 2 + a, taps[a], self.size[a], self.in_spatial[a])
        return np.ascontiguousarray(g, dtype=out_dtype)

    def name(self):
        return _TORCH_NAMES[self.mode, len(self.size)] + "Backward0"
