"""Small helpers shared by the op modules: operand conversion, dims, promotion."""
import numbers

import numpy as np

from .. import _dtype
from .._tensor import Tensor, _wrap_dim

__all__ = ["as_tensor_operand", "promote", "normalize_dims", "wrap_dim", "_any_requires_grad",
           "shape_str"]

wrap_dim = _wrap_dim


def _any_requires_grad(args):
    for a in args:
        if isinstance(a, Tensor) and a.requires_grad:
            return True
    return False


def shape_str(shape):
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _scalar_tensor(x, dt):
    return Tensor._make(np.asarray(x, dtype=dt.np))


def promote(a, b, op_name="op"):
    """Two Tensors of the common dtype torch would compute for ``a op b``."""
    ta = isinstance(a, Tensor)
    tb = isinstance(b, Tensor)
    # fast path: a float tensor and a Python number keep the tensor's dtype
    if ta and (type(b) is float or type(b) is int) and a._data.dtype.kind == "f":
        return a, Tensor._make(np.array(b, dtype=a._data.dtype))
    if tb and (type(a) is float or type(a) is int) and b._data.dtype.kind == "f":
        return Tensor._make(np.array(a, dtype=b._data.dtype)), b
    if ta and tb:
        if a._data.dtype is b._data.dtype or a._data.dtype == b._data.dtype:
            return a, b
        dt = _dtype.result_type(a, b)
        return (a if a.dtype is dt else a.to(dt)), (b if b.dtype is dt else b.to(dt))
    if ta:
        dt = _dtype.result_type(a, b)
        return (a if a._data.dtype == dt.np else a.to(dt)), _scalar_tensor(_check_number(b, op_name), dt)
    if tb:
        dt = _dtype.result_type(a, b)
        return _scalar_tensor(_check_number(a, op_name), dt), (b if b._data.dtype == dt.np else b.to(dt))
    raise TypeError(f"{op_name}(): expected at least one Tensor argument")


def _check_number(x, op_name):
    if isinstance(x, (numbers.Number, np.number, np.bool_)):
        return x
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{op_name}(): argument 'other' must be a Tensor or a number, got "
                    f"{type(x).__name__}")


def as_tensor_operand(x, like=None):
    """A Tensor for ``x``: Tensors pass through, numbers and arrays are wrapped."""
    if isinstance(x, Tensor):
        return x
    if like is not None:
        dt = _dtype.result_type(like, x)
        return Tensor._make(np.asarray(x, dtype=dt.np))
    from .._creation import tensor
    return tensor(x)


def normalize_dims(dim, ndim):
    """A sorted tuple of non-negative axes for ``dim`` (None means every axis)."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (list, tuple)):
        if len(dim) == 0:
            return tuple(range(ndim))
        axes = tuple(sorted(_wrap_dim(d, ndim) for d in dim))
        if len(set(axes)) != len(axes):
            raise RuntimeError(f"dim {axes} appears multiple times in the list of dims")
        return axes
    return (_wrap_dim(dim, ndim),)


def broadcast_error(a_shape, b_shape):
    """torch's message for shapes that do not broadcast."""
    a, b = list(a_shape), list(b_shape)
    n = max(len(a), len(b))
    a = [1] * (n - len(a)) + a
    b = [1] * (n - len(b)) + b
    for i in range(n - 1, -1, -1):
        if a[i] != b[i] and a[i] != 1 and b[i] != 1:
            return RuntimeError(f"The size of tensor a ({a[i]}) must match the size of tensor b "
                                f"({b[i]}) at non-singleton dimension {i}")
    return RuntimeError(f"shapes {shape_str(a_shape)} and {shape_str(b_shape)} cannot be "
                        "broadcast together")
