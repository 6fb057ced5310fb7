"""Helpers shared by the distributions: broadcasting parameters, probabilities <-> logits,
lazily computed attributes."""
import numbers

import numpy as np

from .. import _dtype
from .._creation import tensor as _tensor
from .._tensor_base import TensorBase, Size
from ..ops import elementwise as E
from ..ops import movement as M
from ..ops import activation as A

__all__ = ["broadcast_all", "broadcast_shapes", "logits_to_probs", "probs_to_logits",
           "clamp_probs", "lazy_property", "xlogy", "sum_rightmost"]


def broadcast_shapes(*shapes):
    """torch.broadcast_shapes, as a Size."""
    try:
        return Size(np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        raise RuntimeError(f"Shape mismatch: objects cannot be broadcast to a single shape.  "
                           f"Mismatch is between {' and '.join(map(str, shapes))}") from None


def broadcast_all(*values):
    """The values as tensors of one broadcast shape; numbers take the dtype of the tensor
    arguments (the default dtype when there are none)."""
    for v in values:
        if not isinstance(v, (TensorBase, numbers.Number)):
            raise ValueError("Input arguments must all be instances of numbers.Number, "
                             "torch.Tensor or objects implementing __torch_function__.")
    tensors = [v for v in values if isinstance(v, TensorBase)]
    dt = tensors[0].dtype if tensors else _dtype.get_default_dtype()
    values = [v if isinstance(v, TensorBase) else _tensor(float(v), dtype=dt) for v in values]
    return M.broadcast_tensors(*values)


def clamp_probs(probs):
    """Probabilities kept inside [eps, 1 - eps], so their logs stay finite."""
    eps = float(np.finfo(probs._data.dtype).eps)
    return E.clamp(probs, eps, 1 - eps)


def logits_to_probs(logits, is_binary=False):
    """sigmoid(logits) for a binary variable, softmax along the last dim otherwise."""
    return E.sigmoid(logits) if is_binary else A.softmax(logits, -1)


def probs_to_logits(probs, is_binary=False):
    """log p - log(1 - p) for a binary variable, log p otherwise (p clamped away from 0, 1)."""
    p = clamp_probs(probs)
    return E.log(p) - E.log1p(-p) if is_binary else E.log(p)


def xlogy(x, y):
    """x log y, and 0 where x = 0 (torch.xlogy); gradients log y and x / y, as torch's (so
    d/dx is log y also where x = 0)."""
    if isinstance(x, numbers.Number):
        return x * E.log(y) if x != 0 else E.mul(y, 0.0)
    # only 0 * log 0 = 0 * -inf needs the fix: elsewhere x = 0 already gives 0
    return E.where((x == 0) & (y == 0), 0.0, x * E.log(y))


def sum_rightmost(value, dim):
    """Sum over the rightmost ``dim`` dims."""
    return value.reshape(tuple(value.shape[:value.dim() - dim]) + (-1,)).sum(-1) if dim else value


class lazy_property:
    """A property computed on first access and then stored on the instance (so it shows in
    ``__dict__``, and argument validation skips it until it exists)."""

    def __init__(self, fn):
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = self.fn(instance)
        setattr(instance, self.fn.__name__, value)
        return value
