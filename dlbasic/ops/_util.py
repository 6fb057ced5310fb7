"""Small helpers shared by the op modules: operand conversion, dims, promotion."""
import numbers

import numpy as np

from .. import _dtype
from .._convert import array_from
from .._tensor_base import TensorBase, wrap_dim, shape_str

__all__ = ["as_tensor_operand", "promote", "normalize_dims", "wrap_dim", "_any_requires_grad",
           "shape_str", "broadcast_error", "check_broadcast", "quiet"]


def _any_requires_grad(args):
    for a in args:
        if isinstance(a, TensorBase) and a.requires_grad:
            return True
    return False


def _scalar_tensor(x, dt):
    return TensorBase._make(np.asarray(x, dtype=dt.np))


def promote(a, b, op_name="op"):
    """Two Tensors of the common dtype torch would compute for ``a op b``."""
    ta = isinstance(a, TensorBase)
    tb = isinstance(b, TensorBase)
    # fast path: a float tensor and a Python number keep the tensor's dtype
    if ta and (type(b) is float or type(b) is int) and a._data.dtype.kind in "fc":
        return a, TensorBase._make(np.array(b, dtype=a._data.dtype))
    if tb and (type(a) is float or type(a) is int) and b._data.dtype.kind in "fc":
        return TensorBase._make(np.array(a, dtype=b._data.dtype)), b
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
    if isinstance(x, TensorBase):
        return x
    if like is not None:
        dt = _dtype.result_type(like, x)
        return TensorBase._make(np.asarray(x, dtype=dt.np))
    return TensorBase._make(array_from(x))          # as dlbasic.tensor(x)


def normalize_dims(dim, ndim):
    """A sorted tuple of non-negative axes for ``dim`` (None means every axis)."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (list, tuple)):
        if len(dim) == 0:
            return tuple(range(ndim))
        axes = tuple(sorted(wrap_dim(d, ndim) for d in dim))
        if len(set(axes)) != len(axes):
            dup = next(a for a in axes if axes.count(a) > 1)
            raise RuntimeError(f"dim {dup} appears multiple times in the list of dims")
        return axes
    return (wrap_dim(dim, ndim),)


def broadcast_error(*shapes):
    """torch's message for shapes that do not broadcast.

    torch folds the shapes left to right (``infer_size(result so far, next)``); "tensor a" is
    the shape broadcast so far and "tensor b" the operand that does not fit."""
    acc = list(shapes[0])
    for nxt in shapes[1:]:
        b = list(nxt)
        n = max(len(acc), len(b))
        a = [1] * (n - len(acc)) + acc
        b = [1] * (n - len(b)) + b
        for i in range(n - 1, -1, -1):
            if a[i] != b[i] and a[i] != 1 and b[i] != 1:
                return RuntimeError(f"The size of tensor a ({a[i]}) must match the size of "
                                    f"tensor b ({b[i]}) at non-singleton dimension {i}")
        acc = [x if y == 1 else y for x, y in zip(a, b)]
    return RuntimeError("shapes " + " and ".join(shape_str(s) for s in shapes) +
                        " cannot be broadcast together")


def check_broadcast(*shapes):
    """Raise torch's error when ``shapes`` do not broadcast (a no-op for equal shapes)."""
    first = shapes[0]
    for s in shapes[1:]:
        if s != first:
            try:
                np.broadcast_shapes(*shapes)
            except ValueError:
                raise broadcast_error(*shapes) from None
            return


# -- silent floating-point exceptions ------------------------------------------------------
# PyTorch computes log(0) = -inf, sqrt(-1) = nan, exp(1000) = inf without a word; NumPy prints
# a RuntimeWarning for each.  The ops that can produce inf/nan from ordinary inputs run their
# NumPy calls under "ignore".  ``np.errstate`` costs ~1 us a call (it builds a new error state
# each time); NumPy >= 2 keeps that state in a context variable, so setting a state built once
# costs a third of that.  The context variable is NumPy's private name: without it we fall
# back to ``np.errstate``.  Measured: +0.27 us a call (np.errstate: +1.1 us), ~12% of a small
# add; so add, sub, mul, x**2, sum and mean stay plain: they warn only when finite values
# overflow (or for inf - inf), and they are the hottest ops.
try:
    from numpy._core._ufunc_config import _extobj_contextvar, _make_extobj
    _QUIET_STATE = _make_extobj(all="ignore")
except (ImportError, AttributeError, TypeError):            # pragma: no cover - old NumPy
    _extobj_contextvar = None


if _extobj_contextvar is not None:
    def quiet(fn):
        """Decorator: run ``fn`` with NumPy's floating-point warnings off (torch is silent)."""
        set_state, reset_state = _extobj_contextvar.set, _extobj_contextvar.reset

        def run(*args, **kwargs):
            token = set_state(_QUIET_STATE)
            try:
                return fn(*args, **kwargs)
            finally:
                reset_state(token)
        run.__name__, run.__qualname__, run.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        run.__wrapped__ = fn
        return run
else:                                                         # pragma: no cover
    def quiet(fn):
        return np.errstate(all="ignore")(fn)
