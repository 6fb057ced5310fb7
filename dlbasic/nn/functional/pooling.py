"""Pooling functions with torch.nn.functional's names, signatures and argument checks.

The kernels are in ``dlbasic/ops/pooling.py`` (shifted windows, a loop over kernel offsets).
Unbatched input is handled as torch does: unsqueeze a batch dim, pool, squeeze it again.
"""
from ..._tensor import Tensor
from ...ops.pooling import (MaxPool, AvgPool, AdaptiveAvgPool, AdaptiveMaxPool,
                            pool_output_size)

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d"]


def _shape(s):
    return "[" + ", ".join(str(int(d)) for d in s) + "]"


def _ints(value, n, fname, what, default=None):
    """torch's pool argument rule: a single int or a tuple of n ints (None/() -> default)."""
    if value is None or (isinstance(value, (tuple, list)) and len(value) == 0):
        if default is not None:
            return default
    if isinstance(value, (tuple, list)):
        if len(value) == 1:
            return (int(value[0]),) * n
        if len(value) != n:
            pair = "two" if n == 2 else str(n)
            must = {"kernel_size": "must either be a single int, or a tuple of",
                    "stride": "must either be omitted, a single int, or a tuple of",
                    "padding": "must either be a single int, or a tuple of",
                    "dilation": "must be either a single int, or a tuple of"}[what]
            raise RuntimeError(f"{fname}: {what} {must} {pair} ints")
        return tuple(int(v) for v in value)
    return (int(value),) * n


def _check_input(input, nd, fname):
    if not isinstance(input, Tensor):
        raise TypeError(f"{fname}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(input).__name__}")
    if input.ndim not in (nd + 1, nd + 2) or any(s == 0 for s in input.shape[-(nd + 1):]):
        if nd == 2:
            raise RuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
        raise RuntimeError(f"{fname}() Expected 2D or 3D input tensor, but got "
                           f"{_shape(input.shape)}")


def _pool_args(input, kernel_size, stride, padding, dilation, ceil_mode, nd, fname):
    k = _ints(kernel_size, nd, fname, "kernel_size")
    s = _ints(stride, nd, fname, "stride", default=k)
    p = _ints(padding, nd, fname, "padding")
    d = _ints(dilation, nd, fname, "dilation")
    if any(v <= 0 for v in k):
        if any(v == 0 for v in s):
            raise RuntimeError("stride should not be zero")
        raise RuntimeError(f"kernel size should be greater than zero, but got kH: {k[0]} "
                           f"kW: {k[-1]}")
    if any(v == 0 for v in s):
        raise RuntimeError("stride should not be zero")
    if any(v < 0 for v in s):
        raise RuntimeError(f"stride should be greater than zero, but got dH: {s[0]} dW: {s[-1]}")
    if any(v <= 0 for v in d):
        raise RuntimeError(f"dilation should be greater than zero, but got dilationH: {d[0]} "
                           f"dilationW: {d[-1]}")
    for a in range(nd):
        if p[a] < 0:
            raise RuntimeError("pad must be non-negative, but got pad: " + str(p[a]))
        if p[a] > (d[a] * (k[a] - 1) + 1) // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got "
                               f"pad={p[a]}, kernel_size={k[a]} and dilation={d[a]}")
    if any(p[a] > k[a] // 2 for a in range(nd)):
        raise RuntimeError(f"pad should be smaller than or equal to half of kernel size, but got "
                           f"padW = {p[-1]}, padH = {p[0]}, kW = {k[-1]}, kH = {k[0]}")
    spatial = input.shape[-nd:]
    out = tuple(pool_output_size(spatial[a], k[a], s[a], p[a], d[a], ceil_mode)
                for a in range(nd))
    if any(o < 1 for o in out):
        C = input.shape[-nd - 1]
        raise RuntimeError(f"Given input size: ({'x'.join(map(str, (C,) + tuple(spatial)))}). "
                           f"Calculated output size: ({'x'.join(map(str, (C,) + out))}). "
                           f"Output size is too small")
    return k, s, p, d


def _batched(input, nd):
    return (input, False) if input.ndim == nd + 2 else (input.unsqueeze(0), True)


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd,
              fname):
    _check_input(input, nd, fname)
    k, s, p, d = _pool_args(input, kernel_size, stride, padding, dilation, ceil_mode, nd, fname)
    x, unbatched = _batched(input, nd)
    box = [] if return_indices else None
    out = MaxPool.apply(x, kernel_size=k, stride=s, padding=p, dilation=d,
                        ceil_mode=bool(ceil_mode), indices_box=box)
    if unbatched:
        out = out.squeeze(0)
    if not return_indices:
        return out
    idx = Tensor._make(box[0][0] if unbatched else box[0])
    return out, idx


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling; ``stride`` defaults to ``kernel_size``.  Indices: flat h*W + w."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     2, "max_pool2d")


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """1-D max pooling over (N, C, L) or (C, L)."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     1, "max_pool1d")


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, nd, fname):
    _check_input(input, nd, fname)
    k, s, p, _ = _pool_args(input, kernel_size, stride, padding, 1, ceil_mode, nd, fname)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    x, unbatched = _batched(input, nd)
    out = AvgPool.apply(x, kernel_size=k, stride=s, padding=p, ceil_mode=bool(ceil_mode),
                        count_include_pad=bool(count_include_pad),
                        divisor_override=divisor_override)
    return out.squeeze(0) if unbatched else out


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling; ``count_include_pad`` counts zero padding in the divisor."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 2, "avg_pool2d")


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """1-D average pooling over (N, C, L) or (C, L)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None,
                     1, "avg_pool1d")


def _output_size(input, output_size, nd, fname):
    if not isinstance(input, Tensor):
        raise TypeError(f"{fname}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(input).__name__}")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{fname}(): Expected {nd + 1}D or {nd + 2}D tensor, but got "
                           f"{_shape(input.shape)}")
    for a in range(1, input.ndim):
        if input.shape[a] == 0:
            raise RuntimeError(f"{fname}(): Expected input to have non-zero size for non-batch "
                               f"dimensions, but input has sizes {_shape(input.shape)} with "
                               f"dimension {a} being empty")
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != nd:
            raise RuntimeError(f"{fname}: output_size must be {nd}")
        size = tuple(input.shape[input.ndim - nd + a] if o is None else int(o)
                     for a, o in enumerate(output_size))
    else:
        size = (int(output_size),) * nd
    if any(o < 0 for o in size):
        raise RuntimeError(f"{fname}(): Expected output_size to be non-negative, got "
                           f"{list(size)}")
    return size


def _adaptive_avg(input, output_size, nd, fname):
    size = _output_size(input, output_size, nd, fname)
    if all(o == 1 for o in size):
        # global average: torch computes it as a mean, and so do we
        return input.mean(tuple(range(-nd, 0)), keepdim=True)
    x, unbatched = _batched(input, nd)
    out = AdaptiveAvgPool.apply(x, output_size=size)
    return out.squeeze(0) if unbatched else out


def adaptive_avg_pool2d(input, output_size):
    """Average over adaptive windows [floor(o*H/Ho), ceil((o+1)*H/Ho)); None keeps a size."""
    return _adaptive_avg(input, output_size, 2, "adaptive_avg_pool2d")


def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg(input, output_size, 1, "adaptive_avg_pool1d")


def _adaptive_max(input, output_size, return_indices, nd, fname):
    size = _output_size(input, output_size, nd, fname)
    x, unbatched = _batched(input, nd)
    box = [] if return_indices else None
    out = AdaptiveMaxPool.apply(x, output_size=size, indices_box=box)
    if unbatched:
        out = out.squeeze(0)
    if not return_indices:
        return out
    return out, Tensor._make(box[0][0] if unbatched else box[0])


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max over adaptive windows; indices are flat positions h*W + w."""
    return _adaptive_max(input, output_size, return_indices, 2, "adaptive_max_pool2d")


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max(input, output_size, return_indices, 1, "adaptive_max_pool1d")
