"""Tensor methods and operators: each one forwards to the function of the same name in ops/.

``x.exp()`` is ``dlbasic.exp(x)``; ``a + b`` is ``dlbasic.add(a, b)``; ``x.add_(y)`` runs
``add`` and writes the result into ``x`` (see ``Tensor._inplace``).
"""
import numbers

import numpy as np

from . import _dtype
from ._tensor import Tensor, _TYPE_SHORT
from .ops._util import C_TYPE_NAMES as _C_NAMES
from . import ops
from .ops import elementwise as E, movement as M, comparison as C

# methods whose signature is exactly the function's, with the tensor first
_SAME = [
    "add", "sub", "mul", "div", "true_divide", "floor_divide", "remainder", "fmod", "pow",
    "neg", "negative", "abs", "absolute", "exp", "log", "log1p", "expm1", "log2", "log10",
    "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "sigmoid", "atan", "asin", "acos", "sinh",
    "cosh", "erf", "erfc", "sign", "floor", "ceil", "round", "trunc", "frac", "square", "reciprocal",
    "maximum", "minimum", "clamp", "clip", "lerp", "addcmul", "addcdiv", "multiply", "subtract",
    "divide", "relu",
    "sum", "mean", "prod", "var", "std", "max", "min", "amax", "amin", "aminmax", "logsumexp",
    "norm", "argmax", "argmin", "all", "any", "cumsum", "count_nonzero", "nansum", "median",
    "mode",
    "reshape", "view", "flatten", "unflatten", "squeeze", "unsqueeze", "permute", "transpose",
    "swapaxes", "t", "expand", "expand_as", "repeat", "split", "chunk", "flip", "narrow",
    "unbind", "select", "gather", "scatter", "scatter_add", "index_select", "index_add",
    "masked_fill", "masked_select", "movedim", "moveaxis", "tile", "contiguous", "clone",
    "roll", "tril", "triu", "view_as", "reshape_as", "ravel", "diagonal", "take_along_dim",
    "repeat_interleave",
    "matmul", "mm", "bmm", "mv", "dot", "outer", "inner",
    "eq", "ne", "lt", "le", "gt", "ge", "greater", "less", "greater_equal", "less_equal",
    "not_equal", "equal", "logical_and", "logical_or", "logical_xor", "logical_not",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "isnan", "isfinite", "isinf",
    "isclose", "allclose", "topk", "sort", "argsort", "unique", "nonzero", "argwhere",
    "msort", "bincount",
]
for _name in _SAME:
    setattr(Tensor, _name, getattr(ops, _name))


def _where(self, condition, other):
    return E.where(condition, self, other)


Tensor.where = _where


# -- operators -------------------------------------------------------------------------

def _r(fn):
    def reflected(self, other):
        return fn(other, self)
    return reflected


def _cmp(fn):
    def op(self, other):
        if other is None:
            return NotImplemented
        return fn(self, other)
    return op


Tensor.__add__ = E.add
Tensor.__radd__ = _r(E.add)
Tensor.__sub__ = E.sub
Tensor.__rsub__ = _r(E.sub)
Tensor.__mul__ = E.mul
Tensor.__rmul__ = _r(E.mul)
Tensor.__truediv__ = E.div
Tensor.__rtruediv__ = _r(E.div)
Tensor.__floordiv__ = E.floor_divide
Tensor.__rfloordiv__ = _r(E.floor_divide)
Tensor.__mod__ = E.remainder
Tensor.__rmod__ = _r(E.remainder)
Tensor.__pow__ = E.pow
Tensor.__rpow__ = _r(E.pow)
Tensor.__matmul__ = ops.matmul
Tensor.__rmatmul__ = _r(ops.matmul)
Tensor.__neg__ = E.neg
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = E.abs
Tensor.__eq__ = _cmp(C.eq)
Tensor.__ne__ = _cmp(C.ne)
Tensor.__lt__ = _cmp(C.lt)
Tensor.__le__ = _cmp(C.le)
Tensor.__gt__ = _cmp(C.gt)
Tensor.__ge__ = _cmp(C.ge)
Tensor.__hash__ = lambda self: id(self)


def _bool_or_bitwise(logical, bitwise):
    def op(self, other):
        other_t = other if isinstance(other, Tensor) else None
        if self.dtype is _dtype.bool_ and (other_t is None and isinstance(other, bool) or
                                            other_t is not None and other_t.dtype is _dtype.bool_):
            return logical(self, other)
        return bitwise(self, other)
    return op


Tensor.__and__ = _bool_or_bitwise(C.logical_and, C.bitwise_and)
Tensor.__or__ = _bool_or_bitwise(C.logical_or, C.bitwise_or)
Tensor.__xor__ = _bool_or_bitwise(C.logical_xor, C.bitwise_xor)
Tensor.__rand__ = _r(Tensor.__and__)
Tensor.__ror__ = _r(Tensor.__or__)
Tensor.__rxor__ = _r(Tensor.__xor__)


def _invert(self):
    if self.dtype is _dtype.bool_:
        return C.logical_not(self)
    return C.bitwise_not(self)


Tensor.__invert__ = _invert
Tensor.__getitem__ = M.getitem
Tensor.__setitem__ = M.setitem


# -- in-place variants: compute out of place, write into self --------------------------

def _inplace_method(fn, name):
    def method(self, *args, **kwargs):
        return self._inplace(fn, *args, **kwargs)
    method.__name__ = name
    method.__doc__ = f"In-place version of :func:`{fn.__name__}`."
    return method


for _name in ["add", "sub", "mul", "div", "pow", "clamp", "clip", "neg", "abs", "exp", "log",
              "sqrt", "rsqrt", "sigmoid", "tanh", "relu", "sin", "cos", "floor", "ceil",
              "round", "trunc", "sign", "reciprocal", "square", "fmod", "remainder", "lerp",
              "addcmul", "addcdiv", "log1p", "expm1", "masked_fill", "maximum", "minimum",
              "scatter", "scatter_add", "index_add", "tril", "triu", "logical_not",
              "floor_divide"]:
    setattr(Tensor, _name + "_", _inplace_method(getattr(ops, _name), _name + "_"))

Tensor.__iadd__ = Tensor.add_
Tensor.__isub__ = Tensor.sub_
Tensor.__imul__ = Tensor.mul_
Tensor.__itruediv__ = Tensor.div_
Tensor.__ipow__ = Tensor.pow_


def _fill_value(self, value):
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor "
                               f"with {value.ndim} dimensions.")
        return value.expand(self.shape)
    if not isinstance(value, (numbers.Number, np.generic)):
        raise TypeError(f"fill_(): argument 'value' must be Number or Tensor, not "
                        f"{type(value).__name__}")
    return Tensor._make(np.full(self._data.shape, value, dtype=self._data.dtype))


def _overwrite(x, new):
    """``new`` in place of ``x``: x's history (if any) continues with a zero gradient."""
    if x.requires_grad or new.requires_grad:
        return E.where(Tensor._make(np.ones((), dtype=bool)), new, x)
    return new


def fill_(self, value):
    """Fill with ``value`` in place."""
    return self._inplace(lambda x, v: _overwrite(x, _fill_value(x, v) if not (
        isinstance(v, Tensor) and v.requires_grad) else v), value)


def zero_(self):
    """Fill with zeros in place."""
    return fill_(self, 0)


def copy_(self, src, non_blocking=False):
    """Copy ``src`` (broadcast, converted to this dtype) into this tensor."""
    if isinstance(src, (int, float, bool, np.number)):
        return fill_(self, src)
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
    try:
        np.broadcast_shapes(src.shape, self.shape)
    except ValueError:
        raise RuntimeError(f"The size of tensor a ({self.shape[-1] if self.ndim else 1}) must "
                           f"match the size of tensor b ({src.shape[-1] if src.ndim else 1}) at "
                           f"non-singleton dimension {max(self.ndim - 1, 0)}") from None

    def _copy(x, s):
        s = s if s.dtype is x.dtype else s.to(x.dtype)
        return _overwrite(x, s) if s.requires_grad or x.requires_grad else s.expand(x.shape)
    return self._inplace(_copy, src)


def _floating_only(self, kernel):
    if not self.dtype.is_floating_point:
        raise NotImplementedError(f"\"{kernel}\" not implemented for "
                                  f"'{_TYPE_SHORT[self.dtype.name]}'")


def _uniform(self, r, s, a=0.0, b=1.0):
    _floating_only(self, "check_uniform_bounds")
    if not (np.isfinite(a) and np.isfinite(b)):
        raise RuntimeError(f"{'from' if not np.isfinite(a) else 'to'} is out of bounds for "
                           f"{_C_NAMES[self.dtype.name]}")
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a:g}"
                           f" > to={b:g}")
    return r.uniform(a, b, s)


def _normal(self, r, s, mean=0.0, std=1.0):
    _floating_only(self, "normal_kernel_cpu")
    if not std >= 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")
    return r.normal(mean, std, s)


def _exponential(self, r, s, lambd=1.0):
    if not self.dtype.is_floating_point:
        raise RuntimeError(f"Exponential distribution is a continuous probability distribution. "
                           f"dtype must be a floating point but you specified "
                           f"{_TYPE_SHORT[self.dtype.name]}")
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd:g}")
    return r.exponential(1.0 / lambd, s)


def _bernoulli(self, r, s, p=0.5):
    from ._creation import _check_probabilities
    probs = p._data if isinstance(p, Tensor) else p
    _check_probabilities(probs)
    return r.random(s) < probs


# random_() with no bounds: [0, 2^mantissa] for floats (every integer exact), the whole
# non-negative range for integers, as torch
_RANDOM_TOP = {"float16": 1 << 11, "float32": 1 << 24, "float64": 1 << 53, "int8": 1 << 7,
               "int16": 1 << 15, "int32": 1 << 31, "int64": 1 << 63, "uint8": 1 << 8,
               "bool": 2}


def _random(self, r, s, a=None, b=None):
    if a is None:
        low, high = 0, _RANDOM_TOP[self.dtype.name] + (self.dtype.is_floating_point)
    elif b is None:
        low, high = 0, a
    else:
        low, high = a, b
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} "
                           f">= to={high}")
    return r.integers(low, high, s)


def _random_method(sample):
    def method(self, *args, generator=None, **kwargs):
        from ._random import _rng
        arr = sample(self, _rng(generator), self._data.shape, *args, **kwargs)
        self._inplace(lambda x: _overwrite(
            x, Tensor._make(np.asarray(arr, dtype=x._data.dtype))))
        return self
    return method


Tensor.fill_ = fill_
Tensor.zero_ = zero_
Tensor.copy_ = copy_
Tensor.uniform_ = _random_method(_uniform)
Tensor.normal_ = _random_method(_normal)
Tensor.exponential_ = _random_method(_exponential)
Tensor.bernoulli_ = _random_method(_bernoulli)
Tensor.random_ = _random_method(_random)


def _set_(self, source):
    self._data = source._data
    self._vbox[0] += 1
    return self


Tensor.set_ = _set_


def _softmax(self, dim, dtype=None):
    from .nn import functional as F
    return F.softmax(self, dim, dtype=dtype)


def _log_softmax(self, dim, dtype=None):
    from .nn import functional as F
    return F.log_softmax(self, dim, dtype=dtype)


Tensor.softmax = _softmax
Tensor.log_softmax = _log_softmax


def _squeeze_(self, dim=None):
    self._data = M.squeeze(self.detach(), dim)._data
    return self


def _unsqueeze_(self, dim):
    self._data = M.unsqueeze(self.detach(), dim)._data
    return self


Tensor.squeeze_ = _squeeze_
Tensor.unsqueeze_ = _unsqueeze_
