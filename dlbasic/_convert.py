"""Python data to arrays, with torch's rules and words: what ``torch.tensor(data)`` reads.

Nested lists, tuples and ranges of Python numbers, NumPy values and one-element tensors become
one new array of the dtype torch would infer (float32 for Python floats, int64 for ints, the
promoted type of a mix); a ragged list, a string or an out-of-range integer raises the error
torch raises.  Used by ``dlbasic.tensor``, ``Tensor(...)`` and the ops that accept Python data.
"""
import numbers

import numpy as np

from . import _dtype
from ._dtype import from_numpy_dtype
from ._tensor_base import TensorBase

__all__ = ["array_from"]


def array_from(data, dt=None):
    """A new array holding a copy of ``data`` (``dt``: the dtype asked for, or None to infer)."""
    if isinstance(data, (list, tuple, range)):
        return _from_sequence(data, dt)          # already a new array of the final dtype
    arr = _infer_np(data, dt)
    return np.array(arr, dtype=dt.np if dt is not None else None, copy=True)


def _infer_np(data, dt=None):
    """NumPy array for ``data`` with torch's default dtypes (float32 for Python floats); for
    lists, also torch's errors (see ``_from_sequence``).  ``dt``: the dtype asked for."""
    if isinstance(data, TensorBase):
        return data._data
    if isinstance(data, np.ndarray):
        if data.dtype not in _dtype._BY_NP:
            from_numpy_dtype(data.dtype)      # raises the clear TypeError
        return data
    if isinstance(data, (np.generic,)):
        arr = np.asarray(data)
        return arr
    if isinstance(data, (str, bytes)):
        raise TypeError(f"new(): invalid data type '{type(data).__name__}'")
    return _from_sequence(data, dt)


# -- Python data -> array, with torch's rules and words ----------------------------------------
# torch reads nested sequences in two steps (torch/csrc/utils/tensor_new.cpp): the shape comes
# from the first element at each depth, the dtype from every leaf (float > int > bool); then
# every sequence must have the length of its depth and every leaf must convert to the dtype.
# NumPy would say "inhomogeneous shape" or build an object array; we say what torch says.

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_PLAIN = {float, int, bool}
_PLAIN_COMPLEX = {float, int, bool, complex}


def _is_seq(x):
    return isinstance(x, (list, tuple, range, np.ndarray))


def _sequence_sizes(data):
    sizes = []
    x = data
    while _is_seq(x):
        if isinstance(x, np.ndarray):
            sizes.extend(x.shape)
            break
        sizes.append(len(x))
        if not len(x):
            break
        x = x[0]
        if isinstance(x, str):              # a str is a sequence of strs, without end
            raise ValueError("too many dimensions 'str'")
    return sizes


def _leaf_dtype(x):
    """torch's infer_scalar_type for one non-sequence element."""
    t = type(x)
    if t is float:
        return _dtype.get_default_dtype()
    if t is bool:
        return _dtype.bool_
    if t is int:
        return _dtype.int64
    if t is complex:
        return _dtype.get_default_dtype().to_complex()
    if isinstance(x, TensorBase):
        return x.dtype
    if isinstance(x, np.generic) and x.dtype in _dtype._BY_NP:
        return _dtype._BY_NP[x.dtype]
    if isinstance(x, bool):
        return _dtype.bool_
    if isinstance(x, numbers.Integral):
        return _dtype.int64
    if isinstance(x, numbers.Real):
        return _dtype.get_default_dtype()
    if isinstance(x, numbers.Complex):
        return _dtype.get_default_dtype().to_complex()
    if isinstance(x, (str, bytes)):
        raise TypeError(f"new(): invalid data type '{type(x).__name__}'")
    raise RuntimeError(f"Could not infer dtype of {type(x).__name__}")


class _Scan:
    """One walk over nested data: the inferred dtype, whether Tensors hide inside, and the
    first shape/conversion problem (raised after the walk, when the dtype is known)."""

    def __init__(self, sizes, dt):
        self.sizes, self.ndim, self.infer = sizes, len(sizes), dt is None
        # torch converts leaves to an integer (or bool) dtype through __index__, except
        # Python floats: NumPy floats and float tensors are refused
        self.to_int = dt is not None and not dt.is_floating_point and not dt.is_complex
        self.to_complex = dt is not None and dt.is_complex
        self.dtype = None
        self.problem = None            # (kind, *details), the first one in walk order
        self.has_tensor = False
        self.has_float = False         # a Python float among the leaves (int targets check it)

    def walk(self, x, dim):
        if _is_seq(x):
            if isinstance(x, np.ndarray):
                self._array(x, dim)
                return
            if self.problem is None:
                if dim >= self.ndim:
                    self.problem = ("leaf", x)
                elif len(x) != self.sizes[dim]:
                    self.problem = ("length", self.sizes[dim], dim, len(x))
            if dim == self.ndim - 1 and self._plain_numbers(x):
                return
            for item in x:
                self.walk(item, dim + 1)
            if self.infer and not len(x):       # an empty sequence counts as a float
                d = _dtype.get_default_dtype()
                self.dtype = d if self.dtype is None else _dtype.promote_types(self.dtype, d)
            return
        if isinstance(x, str) and dim < self.ndim and self.problem is None:
            # where torch expects a sequence, a str is one (of 1-char strs)
            self.problem = ("length", self.sizes[dim], dim, len(x)) \
                if len(x) != self.sizes[dim] else ("leaf", x)
        if self.problem is None and dim < self.ndim:
            self.problem = ("notseq",)
        t = type(x)
        if not self.infer and self.problem is None and not (
                t is float or t is int or t is bool or _is_real(x, self.to_int) or
                self.to_complex and _is_complex_number(x)):
            self.problem = ("leaf", x)      # with a dtype given, torch converts without asking
        if t is float:
            self.has_float = True
        elif isinstance(x, TensorBase):
            self.has_tensor = True
            if self.problem is None and (x._data.size != 1 or self.to_int and
                                         x.dtype._category >= 2):
                self.problem = ("tensor", x)
        if self.infer:
            d = _leaf_dtype(x)
            self.dtype = d if self.dtype is None else _dtype.promote_types(self.dtype, d)

    def _plain_numbers(self, seq):
        """The common case in one C-speed pass: a last-level sequence of Python numbers."""
        kinds = set(map(type, seq))
        if not kinds:
            return False
        if kinds <= _PLAIN:
            if float in kinds:
                self.has_float = True
            if not self.infer:
                return True
            d = _dtype.get_default_dtype() if float in kinds else (
                _dtype.int64 if int in kinds else _dtype.bool_)
        elif kinds <= _PLAIN_COMPLEX and (self.infer or self.to_complex):
            if not self.infer:                  # Python complex numbers into a complex dtype
                return True
            d = _dtype.get_default_dtype().to_complex()
        elif all(issubclass(k, (np.number, np.bool_)) and np.dtype(k) in _dtype._BY_NP and
                 not (self.to_int and issubclass(k, (np.floating, np.complexfloating)))
                 for k in kinds):
            if not self.infer:                  # NumPy scalars (a batch of labels, ...)
                return True
            d = None
            for k in kinds:
                dk = _dtype._BY_NP[np.dtype(k)]
                d = dk if d is None else _dtype.promote_types(d, dk)
        else:
            return False
        self.dtype = d if self.dtype is None else _dtype.promote_types(self.dtype, d)
        return True

    def _array(self, a, dim):
        if self.problem is None and tuple(a.shape) != tuple(self.sizes[dim:]):
            # report it where torch's element-by-element walk would meet it
            for i, (want, got) in enumerate(zip(self.sizes[dim:], a.shape)):
                if want != got:
                    self.problem = ("length", want, dim + i, got)
                    break
            else:
                self.problem = ("leaf", a) if a.ndim > self.ndim - dim else ("notseq",)
        if self.infer:
            d = from_numpy_dtype(a.dtype)
            self.dtype = d if self.dtype is None else _dtype.promote_types(self.dtype, d)


def _is_complex_number(x):
    return isinstance(x, (numbers.Complex, np.complexfloating)) and not isinstance(x, (str, bytes))


def _is_real(x, to_int=False):
    if isinstance(x, (str, bytes)):
        return False
    if isinstance(x, np.generic):
        return x.dtype.kind in ("biu" if to_int else "biuf")
    return isinstance(x, (TensorBase, numbers.Real))


def _leaf_error(x, dt):
    """torch's complaint about a leaf that does not convert to ``dt``."""
    name = type(x).__name__
    if isinstance(x, np.generic):
        name = "numpy." + name
    if isinstance(x, TensorBase):
        if dt.is_floating_point:
            return ValueError("only one element tensors can be converted to Python scalars")
        return TypeError("only integer tensors of a single element can be converted to an "
                         "index")
    if dt.is_floating_point:
        return TypeError(f"must be real number, not {name}")
    return TypeError(f"'{name}' object cannot be interpreted as an integer")


def _from_sequence(data, dt=None):
    """A new array for nested Python data, as ``torch.tensor`` reads it (``dt``: asked for)."""
    sizes = _sequence_sizes(data)
    scan = _Scan(sizes, dt)
    scan.walk(data, 0)
    if dt is None:
        dt = scan.dtype if scan.dtype is not None else _dtype.get_default_dtype()
    numel = 1
    for s in sizes:
        numel *= s
    if numel == 0:                            # torch stores nothing, so checks nothing
        return np.zeros(sizes, dtype=dt.np)
    p = scan.problem
    if p is not None:
        if p[0] == "length":
            raise ValueError(f"expected sequence of length {p[1]} at dim {p[2]} (got {p[3]})")
        if p[0] == "notseq":
            raise TypeError("not a sequence")
        raise _leaf_error(p[1], dt)
    if scan.has_tensor:
        data = _tensors_to_items(data)
    if not dt.is_floating_point and not dt.is_complex and dt is not _dtype.bool_:
        return _to_integers(data, dt, scan)
    try:
        return np.array(data, dtype=dt.np)
    except OverflowError as e:                # an int beyond the float range: Python's words
        raise OverflowError(str(e).replace("Python int", "int")) from None


def _to_integers(data, dt, scan):
    """Integer array; out-of-range values and non-finite floats are errors, as in torch."""
    overflow = RuntimeError(f"value cannot be converted to type {dt.name} without overflow")
    if scan.has_float:                       # Python floats are truncated toward 0
        wide = np.array(data, dtype=np.float64)
        if not np.isfinite(wide).all():
            raise overflow
        if wide.size and (wide.min() < -2.0 ** 63 or wide.max() >= 2.0 ** 63):
            if any(type(v) is int and not _INT64_MIN <= v <= _INT64_MAX for v in _leaves(data)):
                raise ValueError("Overflow when unpacking long long")
            raise overflow
        arr = np.trunc(wide).astype(np.int64)
    else:
        try:
            arr = np.array(data, dtype=np.int64)
        except OverflowError:                # a Python int beyond int64
            raise ValueError("Overflow when unpacking long long") from None
    if dt is not _dtype.int64 and arr.size:
        info = np.iinfo(dt.np)
        # torch wraps negative values into uint8 (two's complement) but refuses the rest
        lo = -(1 << 63) if dt is _dtype.uint8 else info.min
        if arr.min() < lo or arr.max() > info.max:
            raise overflow
    return arr.astype(dt.np)


def _leaves(data):
    if _is_seq(data) and not isinstance(data, np.ndarray):
        for x in data:
            yield from _leaves(x)
    else:
        yield data


def _tensors_to_items(data):
    if isinstance(data, TensorBase):
        return data._data.reshape(()).item()
    if isinstance(data, (list, tuple)):
        return [_tensors_to_items(x) for x in data]
    return data
