"""Reductions: sum, mean, prod, var/std, max/min, amax/amin, logsumexp, norm.

The backward of a reduction broadcasts the upstream gradient back over the reduced axes.
"""
import builtins
import collections

import numpy as np

from .. import _dtype
from .._tensor_base import TensorBase
from ..autograd.function import Op
from ._util import normalize_dims as _normalize_dims, wrap_dim, quiet
from . import _flops
from .elementwise import where, maximum, minimum, abs as _abs, pow as _pow, Sign, _conj, \
    complex_unsupported
from .comparison import isnan
from .movement import reshape, gather


def normalize_dims(dim, ndim):
    """Sorted axes for ``dim``; a 0-dim tensor accepts dim 0/-1 and has no axis to reduce."""
    axes = _normalize_dims(dim, ndim)
    return axes if ndim else ()


def _axis(dim, ndim):
    """One wrapped axis, or None for a 0-dim tensor (torch accepts dim 0/-1 there)."""
    axis = wrap_dim(dim, ndim)
    return axis if ndim else None

__all__ = ["sum", "mean", "prod", "var", "std", "var_mean", "std_mean", "max", "min", "amax",
           "amin", "logsumexp", "norm", "argmax", "argmin", "all", "any", "cumsum",
           "count_nonzero", "aminmax", "nansum", "median", "mode"]

# torch.return_types.max / min / ...: named (values, indices) pairs
max_result = collections.namedtuple("max", ["values", "indices"])
min_result = collections.namedtuple("min", ["values", "indices"])
median_result = collections.namedtuple("median", ["values", "indices"])
mode_result = collections.namedtuple("mode", ["values", "indices"])
aminmax_result = collections.namedtuple("aminmax", ["min", "max"])


def _expand_back(g, shape, axes, keepdim):
    """Broadcast a reduced gradient back to ``shape``."""
    if not keepdim and axes:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


class Sum(Op):
    """y = sum_i x_i over axes; dy/dx_i = 1."""
    _saves = ()
    flops = _flops.reduction

    def name(self):
        return "SumBackward1" if self.dim_given else "SumBackward0"

    def forward(self, x, axes, keepdim, dtype, dim_given=False):
        self.shape, self.axes, self.keepdim, self.ndim = x.shape, axes, keepdim, x.ndim
        self.dim_given = dim_given
        return np.asarray(x.sum(axis=axes, keepdims=keepdim, dtype=dtype))

    def backward(self, g):
        return _expand_back(g, self.shape, self.axes, self.keepdim)


class Mean(Op):
    """y = (1/n) sum_i x_i; dy/dx_i = 1/n."""
    _saves = ()
    flops = _flops.reduction

    def name(self):
        return "MeanBackward1" if self.dim_given else "MeanBackward0"

    def forward(self, x, axes, keepdim, dim_given=False):
        self.shape, self.axes, self.keepdim, self.ndim = x.shape, axes, keepdim, x.ndim
        self.dim_given = dim_given
        n = 1
        for a in axes:
            n *= x.shape[a]
        self.n = n
        if n == 0:              # torch: nan, silently (NumPy warns "Mean of empty slice")
            return np.full(_reduced_shape(x.shape, axes, keepdim), np.nan, dtype=x.dtype)
        return np.asarray(x.mean(axis=axes, keepdims=keepdim))

    def backward(self, g):
        return _expand_back(g / self.n if self.n else g, self.shape, self.axes, self.keepdim)


def _reduced_shape(shape, axes, keepdim):
    if axes is None:
        axes = range(len(shape))
    if keepdim:
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _empty_dim_error(name, axes, shape, dim=None):
    """torch's IndexError for reducing over a zero-length dim (``dim`` as torch prints it)."""
    bad = next(a for a in axes if shape[a] == 0)
    return IndexError(f"{name}(): Expected reduction dim {bad if dim is None else dim} to have "
                      "non-zero size.")


def _no_dim_error(name):
    return RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == "
                        "0. Specify the reduction dim with the 'dim' argument.")


def _sum_dtype(x, dtype):
    if dtype is not None:
        return _dtype.to_dtype(dtype).np
    if x._data.dtype.kind in "biu":
        return np.int64
    return None


def sum(input, dim=None, keepdim=False, *, dtype=None):
    axes = normalize_dims(dim, input.ndim) if dim is not None else None
    dt = _sum_dtype(input, dtype)
    if dt is not None and not input.dtype.is_floating_point:
        return TensorBase._make(np.asarray(input._data.sum(axis=axes, keepdims=keepdim, dtype=dt)))
    x = input if dt is None else input.to(_dtype.from_numpy_dtype(np.dtype(dt)))
    if axes is not None and len(axes) == 0:
        axes = None
    return Sum.apply(x, axes=axes, keepdim=keepdim, dtype=None, dim_given=dim is not None)


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    return sum(where(isnan(input), 0.0, input), dim, keepdim, dtype=dtype)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        input = input.to(_dtype.to_dtype(dtype))
    if not input.dtype.is_floating_point and not input.dtype.is_complex:
        raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a "
                           "floating point or complex dtype. Got: "
                           f"{_SHORT.get(input.dtype.name, input.dtype.name)}")
    axes = normalize_dims(dim, input.ndim)
    return Mean.apply(input, axes=axes, keepdim=keepdim, dim_given=dim is not None)


_SHORT = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
          "bool": "Bool"}


class Prod(Op):
    """y = prod_i x_i; dy/dx_i = prod_{j != i} x_j (computed without dividing by zero)."""
    _saved_attrs = ("x",)
    flops = _flops.reduction

    def name(self):
        return "ProdBackward1" if self.axis is not None else "ProdBackward0"

    @quiet
    def forward(self, x, axis, keepdim):
        self.x, self.axis, self.keepdim = x, axis, keepdim
        return np.asarray(x.prod(axis=axis, keepdims=keepdim))

    def backward(self, g):
        x, axis = self.x, self.axis
        if axis is None:
            flat = x.reshape(-1)
            g = np.broadcast_to(g.reshape(()), ())
            return (g * _conj(_prod_others(flat, 0))).reshape(x.shape)
        if not self.keepdim:
            g = np.expand_dims(g, axis)
        return g * _conj(_prod_others(x, axis))


def _prod_others(x, axis):
    """prod over ``axis`` of every element except the one at each position (exclusive)."""
    n = x.shape[axis]
    ones = np.ones_like(np.take(x, [0], axis=axis))
    left = np.cumprod(np.concatenate([ones, np.take(x, range(n - 1), axis=axis)], axis=axis),
                      axis=axis) if n > 1 else ones
    right = np.flip(np.cumprod(np.concatenate(
        [ones, np.flip(np.take(x, range(1, n), axis=axis), axis=axis)], axis=axis), axis=axis),
        axis=axis) if n > 1 else ones
    return left * right


def prod(input, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        input = input.to(_dtype.to_dtype(dtype))
    if not input.dtype.is_floating_point and not input.dtype.is_complex:
        return TensorBase._make(np.asarray(input._data.prod(
            axis=None if dim is None else _axis(dim, input.ndim), keepdims=keepdim,
            dtype=np.int64)))
    axis = None if dim is None else _axis(dim, input.ndim)
    return Prod.apply(input, axis=axis, keepdim=keepdim)


class Var(Op):
    """y = sum (x - mean)^2 / (n - correction); dy/dx = 2 (x - mean) / (n - correction)."""
    _saved_attrs = ("x", "centered")
    # mean, subtract, square, sum
    flops = _flops.elementwise(4, on="in")

    @quiet
    def forward(self, x, axes, correction, keepdim):
        self.x, self.axes, self.keepdim = x, axes, keepdim
        n = 1
        for a in axes:
            n *= x.shape[a]
        self.denom = builtins.max(n - correction, 0)
        if n:
            mu = x.mean(axis=axes, keepdims=True)
        else:                   # NumPy warns "Mean of empty slice"; torch gives nan silently
            mu = np.full(_reduced_shape(x.shape, axes, True), np.nan, dtype=x.dtype)
        self.centered = x - mu
        return np.asarray((self.centered * self.centered).sum(axis=axes, keepdims=keepdim)
                          / x.dtype.type(self.denom))

    @quiet
    def backward(self, g):
        if not self.keepdim:
            g = np.expand_dims(g, self.axes)
        return g * self.centered * (2 / self.x.dtype.type(self.denom))


class Std(Var):
    """y = sqrt(var(x)); dy/dx = (x - mean) / ((n - correction) y)."""
    _saves_output = True
    _saved_attrs = ("x", "centered", "y")

    @quiet
    def forward(self, x, axes, correction, keepdim):
        self.y = np.sqrt(Var.forward(self, x, axes, correction, keepdim))
        return self.y

    @quiet
    def backward(self, g):
        gv = np.where(self.y == 0, 0, g / (2 * self.y))     # 0 where std is 0, as torch
        return Var.backward(self, gv)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    if unbiased is None:
        return 1
    return 1 if unbiased else 0


def _var_args(dim, unbiased, keepdim, correction):
    # torch.var(input, unbiased) / var(input, dim, unbiased, keepdim) / var(..., correction=)
    if isinstance(dim, bool):
        unbiased, dim = dim, None
    return dim, _correction(unbiased, correction), keepdim


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dim, corr, keepdim = _var_args(dim, unbiased, keepdim, correction)
    if not input.dtype.is_floating_point:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    return Var.apply(input, axes=normalize_dims(dim, input.ndim), correction=corr,
                     keepdim=keepdim)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dim, corr, keepdim = _var_args(dim, unbiased, keepdim, correction)
    if not input.dtype.is_floating_point:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    return Std.apply(input, axes=normalize_dims(dim, input.ndim), correction=corr,
                     keepdim=keepdim)


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    d, corr, keepdim = _var_args(dim, unbiased, keepdim, correction)
    return var(input, d, keepdim=keepdim, correction=corr), mean(input, d, keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    d, corr, keepdim = _var_args(dim, unbiased, keepdim, correction)
    return std(input, d, keepdim=keepdim, correction=corr), mean(input, d, keepdim)


class MaxAll(Op):
    """y = max(x) over everything; the gradient is spread evenly over the tied maxima (torch)."""
    _saved_attrs = ("x",)
    flops = _flops.reduction

    def name(self):
        return "MaxBackward1" if self.is_max else "MinBackward1"

    def forward(self, x, is_max):
        self.x, self.is_max = x, is_max
        self.y = x.max() if is_max else x.min()
        return np.asarray(self.y)

    def backward(self, g):
        # a NaN maximum is where torch sends the gradient
        mask = np.isnan(self.x) if np.isnan(self.y) else self.x == self.y
        return mask * (g / mask.sum())


class AmaxAmin(Op):
    """y = amax(x, dims); the gradient is spread evenly over ties, as torch's amax/amin."""
    _saved_attrs = ("x", "y")
    flops = _flops.reduction

    def name(self):
        return "AmaxBackward0" if self.is_max else "AminBackward0"

    def forward(self, x, axes, keepdim, is_max):
        self.x, self.axes, self.keepdim, self.is_max = x, axes, keepdim, is_max
        y = x.max(axis=axes, keepdims=True) if is_max else x.min(axis=axes, keepdims=True)
        self.y = y
        return np.asarray(y if keepdim else y.squeeze(axis=axes))

    def backward(self, g):
        if not self.keepdim:
            g = np.expand_dims(g, self.axes)
        mask = self.x == self.y
        return mask * (g / mask.sum(axis=self.axes, keepdims=True))


class MaxDim(Op):
    """values = max(x, dim); the gradient goes only to the returned index."""
    _saved_attrs = ("idx",)
    flops = _flops.reduction

    def name(self):
        return "MaxBackward0" if self.is_max else "MinBackward0"

    def forward(self, x, axis, keepdim, is_max):
        idx = np.argmax(x, axis=axis) if is_max else np.argmin(x, axis=axis)
        # NaN propagates as torch: argmax of a slice with NaN points at the NaN
        idx = np.expand_dims(idx, axis)
        self.shape, self.axis, self.keepdim, self.is_max = x.shape, axis, keepdim, is_max
        self.idx = idx
        vals = np.take_along_axis(x, idx, axis=axis)
        if not keepdim:
            vals = vals.squeeze(axis)
        return vals

    def backward(self, g):
        if not self.keepdim:
            g = np.expand_dims(g, self.axis)
        out = np.zeros(self.shape, dtype=g.dtype)
        np.put_along_axis(out, self.idx, g, axis=self.axis)
        return out


def _max_min(input, dim, keepdim, other, is_max, name):
    if input._data.dtype.kind == "c" and not (isinstance(dim, TensorBase) or other is not None):
        if dim is None:
            complex_unsupported(name + "_all", input)
        raise RuntimeError(f"{name}(): does not support complex input")
    if isinstance(dim, TensorBase) or other is not None:
        o = other if other is not None else dim
        return maximum(input, o) if is_max else minimum(input, o)
    if dim is None:
        if input.numel() == 0:
            raise RuntimeError(f"{name}(): Expected reduction dim to be specified for "
                               "input.numel() == 0. Specify the reduction dim with the 'dim' "
                               "argument.")
        return MaxAll.apply(input, is_max=is_max)
    axis = wrap_dim(dim, input.ndim)
    if input.ndim == 0:
        vals = input.clone()
        return (max_result if is_max else min_result)(vals, TensorBase._make(np.asarray(0)))
    if input.shape[axis] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {axis} to have non-zero size.")
    vals = MaxDim.apply(input, axis=axis, keepdim=keepdim, is_max=is_max)
    raw = input._data
    idx = np.argmax(raw, axis=axis) if is_max else np.argmin(raw, axis=axis)
    if keepdim:
        idx = np.expand_dims(idx, axis)
    return (max_result if is_max else min_result)(vals, TensorBase._make(idx.astype(np.int64)))


def max(input, dim=None, keepdim=False, *, other=None):
    return _max_min(input, dim, keepdim, other, True, "max")


def min(input, dim=None, keepdim=False, *, other=None):
    return _max_min(input, dim, keepdim, other, False, "min")


def _amax_amin(input, dim, keepdim, is_max, name):
    if input._data.dtype.kind == "c":
        complex_unsupported(name[1:] + "_values_cpu", input)
    axes = normalize_dims(dim, input.ndim)
    try:
        return AmaxAmin.apply(input, axes=axes, keepdim=keepdim, is_max=is_max)
    except ValueError:
        if input._data.size != 0:
            raise
        if dim == () or dim == [] or dim is None:
            raise _no_dim_error(name) from None
        # torch prints the dim as it was given here
        given = dim if not isinstance(dim, (tuple, list)) else next(
            d for d in dim if input.shape[wrap_dim(d, input.ndim)] == 0)
        raise _empty_dim_error(name, axes, input.shape, given) from None


def amax(input, dim=(), keepdim=False):
    return _amax_amin(input, dim, keepdim, True, "amax")


def amin(input, dim=(), keepdim=False):
    return _amax_amin(input, dim, keepdim, False, "amin")


def aminmax(input, *, dim=None, keepdim=False):
    if input._data.size == 0:
        if dim is None:
            raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the "
                               "operation has no identity.")
        axis = wrap_dim(dim, input.ndim)
        if input.shape[axis] == 0:
            raise IndexError(f"aminmax: Expected reduction dim {axis} to have non-zero size.")
    d = () if dim is None else dim
    return aminmax_result(amin(input, d, keepdim), amax(input, d, keepdim))


class Logsumexp(Op):
    """y = log sum_i e^{x_i} (shifted by the max for stability); dy/dx_i = softmax(x)_i."""
    _saved_attrs = ("x", "y")
    flops = _flops.softmax_like

    @quiet
    def forward(self, x, axes, keepdim):
        if x.size == 0:         # log(sum of nothing) = log 0 = -inf, as torch
            m = np.zeros(_reduced_shape(x.shape, axes, True), dtype=x.dtype)
        else:
            m = x.max(axis=axes, keepdims=True)
            m = np.where(np.isfinite(m), m, 0)
        e = np.exp(x - m)
        s = e.sum(axis=axes, keepdims=True)
        y = np.log(s) + m
        self.x, self.y, self.axes, self.keepdim = x, y, axes, keepdim
        return np.asarray(y if keepdim else y.squeeze(axis=axes))

    @quiet
    def backward(self, g):
        if not self.keepdim:
            g = np.expand_dims(g, self.axes)
        return g * np.exp(self.x - self.y)


def logsumexp(input, dim, keepdim=False):
    if input._data.dtype.kind == "c":        # not in dlbasic: say so rather than drop imag
        complex_unsupported("logsumexp", input)
    if not input.dtype.is_floating_point:
        input = input.float()
    return Logsumexp.apply(input, axes=normalize_dims(dim, input.ndim), keepdim=keepdim)


class Norm2(Op):
    """y = sqrt(sum x^2); dy/dx = x / y (0 where y == 0)."""
    _torch_name = "LinalgVectorNormBackward0"
    _saved_attrs = ("x", "y")
    flops = _flops.elementwise(2, on="in")

    @quiet
    def forward(self, x, axes, keepdim):
        y = np.sqrt((x * x).sum(axis=axes, keepdims=True))
        self.x, self.y, self.axes, self.keepdim = x, y, axes, keepdim
        return np.asarray(y if keepdim else y.squeeze(axis=axes))

    @quiet
    def backward(self, g):
        if not self.keepdim:
            g = np.expand_dims(g, self.axes)
        return np.where(self.y == 0, 0, g * self.x / self.y)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """Vector p-norm over ``dim`` (all elements by default); 'fro' is the 2-norm."""
    if dtype is not None:
        input = input.to(dtype)
    if input._data.dtype.kind == "c":     # ||z||_p = || |z| ||_p, the norm of the moduli
        input = _abs(input)
    if not input.dtype.is_floating_point:
        raise RuntimeError("linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {_SHORT.get(input.dtype.name, input.dtype.name)}")
    axes = normalize_dims(dim, input.ndim)
    if p in ("fro", 2, 2.0, None):
        return Norm2.apply(input, axes=axes, keepdim=keepdim)
    if p in (float("inf"), "inf"):
        return amax(_abs(input), axes, keepdim)
    if p in (float("-inf"), "-inf"):
        return amin(_abs(input), axes, keepdim)
    if p == 0:
        nonzero = Sign.apply(input, npfn=lambda a: (a != 0).astype(a.dtype), kwargs={})
        return sum(nonzero, axes, keepdim)
    if p == 1:
        return sum(_abs(input), axes, keepdim)
    if isinstance(p, str):
        raise RuntimeError(f"norm: unsupported norm type {p!r}")
    return _pow(sum(_pow(_abs(input), p), axes, keepdim), 1.0 / p)


# -- non-differentiable reductions --------------------------------------------------------

def _arg_extreme(input, dim, keepdim, npfn, name):
    x = input._data
    if x.dtype.kind == "c":
        raise RuntimeError(f"{name}(): does not support complex input")
    if x.size == 0:             # NumPy: "attempt to get argmax of an empty sequence"
        if dim is None:
            raise IndexError(f"{name}(): Expected reduction dim to be specified for "
                             "input.numel() == 0.")
        axis = wrap_dim(dim, input.ndim)
        if input.ndim and x.shape[axis] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {axis} to have non-zero size.")
    if dim is None:
        return TensorBase._make(np.asarray(npfn(x), dtype=np.int64))
    axis = wrap_dim(dim, input.ndim)
    if input.ndim == 0:
        return TensorBase._make(np.zeros((), dtype=np.int64))
    r = npfn(x, axis=axis)
    return TensorBase._make(np.asarray(np.expand_dims(r, axis) if keepdim else r, dtype=np.int64))


def argmax(input, dim=None, keepdim=False):
    return _arg_extreme(input, dim, keepdim, np.argmax, "argmax")


def argmin(input, dim=None, keepdim=False):
    return _arg_extreme(input, dim, keepdim, np.argmin, "argmin")


def all(input, dim=None, keepdim=False):
    axes = None if dim is None else normalize_dims(dim, input.ndim)
    return TensorBase._make(np.asarray(np.all(input._data, axis=axes, keepdims=keepdim)))


def any(input, dim=None, keepdim=False):
    axes = None if dim is None else normalize_dims(dim, input.ndim)
    return TensorBase._make(np.asarray(np.any(input._data, axis=axes, keepdims=keepdim)))


def count_nonzero(input, dim=None):
    axes = None if dim is None else normalize_dims(dim, input.ndim)
    return TensorBase._make(np.asarray(np.count_nonzero(input._data, axis=axes), dtype=np.int64))


class Cumsum(Op):
    """y_i = sum_{j<=i} x_j; dx_j = sum_{i>=j} g_i (a reversed cumsum)."""
    _saves = ()
    flops = _flops.reduction

    @quiet
    def forward(self, x, axis):
        self.axis = axis
        return np.cumsum(x, axis=axis).reshape(x.shape)     # axis None: a 0-dim input

    def backward(self, g):
        a = self.axis
        if a is None:
            return g
        return np.flip(np.cumsum(np.flip(g, a), axis=a), a)


def cumsum(input, dim, *, dtype=None):
    if dtype is not None:
        input = input.to(_dtype.to_dtype(dtype))
    if not input.dtype.is_floating_point and not input.dtype.is_complex:
        return TensorBase._make(np.cumsum(input._data, axis=_axis(dim, input.ndim),
                                      dtype=np.int64).reshape(input.shape))
    return Cumsum.apply(input, axis=_axis(dim, input.ndim))


def median(input, dim=None, keepdim=False):
    if input._data.dtype.kind == "c":
        complex_unsupported("median_cpu" if dim is None else "median_out", input)
    if dim is None:
        if input._data.size == 0:          # torch: nan
            return TensorBase._make(np.full((), np.nan, dtype=input._data.dtype))
        order = np.argsort(input._data.reshape(-1), kind="stable")
        return reshape(input, -1)[int(order[(order.size - 1) // 2])]
    axis = wrap_dim(dim, input.ndim)
    if input.ndim and input.shape[axis] == 0:
        raise IndexError(f"median(): Expected reduction dim {axis} to have non-zero size.")
    order = np.argsort(input._data, axis=axis, kind="stable")
    k = (input.shape[axis] - 1) // 2
    idx = np.take(order, [k], axis=axis)
    vals = gather(input, axis, TensorBase._make(idx.astype(np.int64)))
    if not keepdim:
        vals = vals.squeeze(axis)
        idx = idx.squeeze(axis)
    return median_result(vals, TensorBase._make(idx.astype(np.int64)))


def mode(input, dim=-1, keepdim=False):
    if input._data.dtype.kind == "c":
        complex_unsupported("mode_cpu", input)
    axis = wrap_dim(dim, input.ndim)
    if input.ndim and input.shape[axis] == 0:
        raise IndexError(f"mode(): Expected reduction dim {axis} to have non-zero size.")
    moved = np.moveaxis(input._data, axis, -1)
    flat = moved.reshape(-1, moved.shape[-1])
    vals = np.empty(flat.shape[0], dtype=flat.dtype)
    idxs = np.empty(flat.shape[0], dtype=np.int64)
    for i, row in enumerate(flat):
        u, c = np.unique(row, return_counts=True)
        v = u[np.argmax(c)]
        vals[i] = v
        idxs[i] = np.nonzero(row == v)[0][-1]
    vals = vals.reshape(moved.shape[:-1])
    idxs = idxs.reshape(moved.shape[:-1])
    if keepdim:
        vals, idxs = np.expand_dims(vals, axis), np.expand_dims(idxs, axis)
    return mode_result(TensorBase._make(vals), TensorBase._make(idxs))
