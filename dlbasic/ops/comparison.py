"""Non-differentiable ops: comparisons, logical ops, predicates, sorting and top-k."""
import collections
import numbers

import numpy as np

from .. import _dtype
from .._dtype import TYPE_SHORT as _TYPE_SHORT
from .._tensor_base import TensorBase
from ._util import promote, broadcast_error, wrap_dim, shape_str
from .elementwise import _into, complex_unsupported
from .movement import gather

__all__ = ["eq", "ne", "lt", "le", "gt", "ge", "greater", "less", "greater_equal",
           "less_equal", "not_equal", "equal", "logical_and", "logical_or", "logical_xor",
           "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "isnan",
           "isfinite", "isinf", "isclose", "allclose", "topk", "sort", "argsort", "unique",
           "nonzero", "argwhere", "searchsorted", "bincount", "msort"]

sort_result = collections.namedtuple("sort", ["values", "indices"])
topk_result = collections.namedtuple("topk", ["values", "indices"])


def _compare(npfn, name):
    ordered = name not in ("eq", "ne")       # complex numbers have no order
    def fn(input, other, *, out=None):
        a, b = promote(input, other, name)
        if ordered and a._data.dtype.kind == "c":
            complex_unsupported(name + "_cpu", a)
        try:
            r = TensorBase._make(np.asarray(npfn(a._data, b._data)))
        except ValueError:
            raise broadcast_error(a._data.shape, b._data.shape) from None
        if out is not None:
            return _into(out, r)
        return r
    fn.__name__ = name
    return fn


eq = _compare(np.equal, "eq")
ne = _compare(np.not_equal, "ne")
lt = _compare(np.less, "lt")
le = _compare(np.less_equal, "le")
gt = _compare(np.greater, "gt")
ge = _compare(np.greater_equal, "ge")
greater, less, greater_equal, less_equal, not_equal = gt, lt, ge, le, ne


def _logical(npfn, name):
    def fn(input, other):
        # numbers are allowed: the ``&`` / ``|`` / ``^`` operators come here with them
        for arg, pos, x in (("input", 1, input), ("other", 2, other)):
            if not isinstance(x, (TensorBase, numbers.Number, np.generic)):
                raise TypeError(f"{name}(): argument '{arg}' (position {pos}) must be Tensor, "
                                f"not {type(x).__name__}")
        a = input._data if isinstance(input, TensorBase) else np.asarray(input)
        b = other._data if isinstance(other, TensorBase) else np.asarray(other)
        try:
            return TensorBase._make(np.asarray(npfn(a, b)))
        except ValueError:
            raise broadcast_error(a.shape, b.shape) from None
    fn.__name__ = name
    return fn


logical_and = _logical(np.logical_and, "logical_and")
logical_or = _logical(np.logical_or, "logical_or")
logical_xor = _logical(np.logical_xor, "logical_xor")


def logical_not(input):
    return TensorBase._make(np.logical_not(input._data))


def _bitwise(npfn, name):
    def fn(input, other):
        a, b = promote(input, other, name)
        if a._data.dtype.kind in "fc":
            raise NotImplementedError(f"\"{name}_cpu\" not implemented for "
                                      f"'{_TYPE_SHORT[a.dtype.name]}'")
        try:
            return TensorBase._make(np.asarray(npfn(a._data, b._data)))
        except ValueError:
            raise broadcast_error(a._data.shape, b._data.shape) from None
    fn.__name__ = name
    return fn


bitwise_and = _bitwise(np.bitwise_and, "bitwise_and")
bitwise_or = _bitwise(np.bitwise_or, "bitwise_or")
bitwise_xor = _bitwise(np.bitwise_xor, "bitwise_xor")


def bitwise_not(input):
    if input.dtype.is_floating_point:
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type "
                        "tensors")
    return TensorBase._make(np.invert(input._data))


def isnan(input):
    return TensorBase._make(np.isnan(input._data))


def isfinite(input):
    return TensorBase._make(np.isfinite(input._data))


def isinf(input):
    return TensorBase._make(np.isinf(input._data))


def _close_args(input, other):
    if input.dtype is not other.dtype:
        raise RuntimeError(f"{_TYPE_SHORT[input.dtype.name]} did not match "
                           f"{_TYPE_SHORT[other.dtype.name]}")
    a, b = input._data, other._data
    if a.shape != b.shape:
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise broadcast_error(a.shape, b.shape) from None
    return a, b


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    a, b = _close_args(input, other)
    with np.errstate(all="ignore"):          # inf - inf inside NumPy's formula
        return TensorBase._make(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    a, b = _close_args(input, other)
    with np.errstate(all="ignore"):
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input, other):
    return input.shape == other.shape and bool(np.array_equal(input._data, other._data))


def sort(input, dim=-1, descending=False, stable=False):
    if input._data.dtype.kind == "c":
        raise RuntimeError(" Sort does not support complex dtypes on CPU")
    axis = wrap_dim(dim, input.ndim)
    if input.ndim == 0:
        return sort_result(input, TensorBase._make(np.asarray(0)))
    if descending:
        # stable descending order: sort the reversed array ascending, then map back
        idx = np.flip(np.argsort(np.flip(input._data, axis), axis=axis, kind="stable"), axis)
        idx = input.shape[axis] - 1 - idx
    else:
        idx = np.argsort(input._data, axis=axis, kind="stable")
    idx = idx.astype(np.int64)
    return sort_result(gather(input, axis, TensorBase._make(idx)), TensorBase._make(idx))


def msort(input):
    return sort(input, 0).values


def argsort(input, dim=-1, descending=False, stable=False):
    return sort(input, dim, descending, stable).indices


def topk(input, k, dim=-1, largest=True, sorted=True):
    if input._data.dtype.kind == "c":
        raise RuntimeError(" topk does not support complex dtypes on CPU")
    axis = wrap_dim(dim, input.ndim)
    n = input.shape[axis] if input.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError("selected index k out of range")
    s = sort(input, axis, descending=largest)
    idx = np.take(s.indices._data, np.arange(k), axis=axis)
    idx_t = TensorBase._make(np.ascontiguousarray(idx))
    return topk_result(gather(input, axis, idx_t), idx_t)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    if dim is not None:
        dim = wrap_dim(dim, input.ndim)
    res = np.unique(input._data if dim is None else input._data, return_inverse=return_inverse,
                    return_counts=return_counts, axis=dim)
    if not isinstance(res, tuple):
        return TensorBase._make(res)
    out = [TensorBase._make(res[0])]
    for r in res[1:]:
        out.append(TensorBase._make(r.astype(np.int64).reshape(input.shape) if r is res[1]
                                and return_inverse else r.astype(np.int64)))
    return tuple(out)


def nonzero(input, *, as_tuple=False):
    nz = np.nonzero(input._data)
    if as_tuple:
        return tuple(TensorBase._make(i.astype(np.int64)) for i in nz)
    return TensorBase._make(np.stack(nz, axis=1).astype(np.int64) if nz else
                        np.zeros((0, 0), np.int64))


def argwhere(input):
    return nonzero(input)


def searchsorted(sorted_sequence, values, *, right=False, side=None):
    side = side or ("right" if right else "left")
    v = values._data if isinstance(values, TensorBase) else np.asarray(values)
    if sorted_sequence.ndim != 1:
        if tuple(sorted_sequence.shape[:-1]) == tuple(v.shape[:-1]):
            raise NotImplementedError("dlbasic's searchsorted takes a 1-D boundaries tensor")
        raise RuntimeError(
            "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
            "dimensions of boundaries tensor and input value tensor must match, but we got "
            f"boundaries tensor {shape_str(sorted_sequence.shape)} and input value tensor "
            f"{shape_str(v.shape)}")
    return TensorBase._make(np.asarray(np.searchsorted(sorted_sequence._data, v, side=side),
                                   dtype=np.int64))


def bincount(input, weights=None, minlength=0):
    x = input._data
    if x.dtype.kind not in "iu":
        raise NotImplementedError(f"\"bincount_cpu\" not implemented for "
                                  f"'{_TYPE_SHORT[input.dtype.name]}'")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    if x.ndim != 1 or (x.size and x.min() < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if weights is not None and weights.shape != input.shape:
        raise RuntimeError("weights should be 1-d and have the same length as input")
    w = None if weights is None else weights._data
    r = np.bincount(input._data, weights=w, minlength=minlength)
    return TensorBase._make(r if w is not None else r.astype(np.int64))
