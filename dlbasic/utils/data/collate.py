"""Collation: a list of samples -> one batch, recursively by element type (torch's rules).

Tensors and NumPy arrays are stacked along a new first dim; Python ints become an int64
tensor, floats a float64 tensor, bools a bool tensor; strings stay a list; dicts, namedtuples
and sequences are collated field by field (a batch of tuples becomes a list of batches).
"""
import collections.abc
import numbers

import numpy as np

from ... import _dtype
from ..._creation import as_tensor, tensor
from ..._tensor import Tensor
from ...ops.movement import stack

__all__ = ["default_collate", "default_convert"]

_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        "found {}")


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _bad_numpy(arr):
    # strings and Python objects cannot become tensors
    return arr.dtype.kind in "USO"


def _stack_tensors(batch):
    for i, t in enumerate(batch):
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got "
                            f"{type(t).__name__}")
    shape = batch[0].shape
    if any(t.requires_grad or t.shape != shape for t in batch):
        # the op gives gradients and torch's "stack expects each tensor to be equal size"
        return stack(batch, 0)
    return Tensor._make(np.stack([t._data for t in batch]))


def default_collate(batch):
    elem = batch[0]
    elem_type = type(elem)
    if isinstance(elem, Tensor):
        return _stack_tensors(batch)
    if isinstance(elem, np.ndarray) and not isinstance(elem, np.generic):
        if _bad_numpy(elem):
            raise TypeError(_ERR.format(elem.dtype))
        return default_collate([as_tensor(np.asarray(b)) for b in batch])
    if isinstance(elem, np.generic) and not isinstance(elem, (np.str_, np.bytes_)):
        if _bad_numpy(np.asarray(elem)):
            raise TypeError(_ERR.format(elem.dtype))
        return as_tensor(batch)          # torch's rules for the list (a stray Tensor...)
    if isinstance(elem, numbers.Integral):
        # torch.tensor(batch): the dtype follows every sample ([1, 2.5] is float), and a
        # sample that is not a number is refused in torch's words
        return tensor(batch)
    if isinstance(elem, float):
        return tensor(batch, dtype=_dtype.float64)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return elem_type(collated)
        except TypeError:
            return collated
    if _is_namedtuple(elem):
        return elem_type(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if not all(len(e) == size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = [list(s) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return [default_collate(s) for s in transposed]
        try:
            return elem_type([default_collate(s) for s in transposed])
        except TypeError:
            return [default_collate(s) for s in transposed]
    raise TypeError(_ERR.format(elem_type))


def default_convert(data):
    """Without auto-batching: NumPy arrays and scalars become tensors, containers are walked,
    everything else is returned unchanged."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if _bad_numpy(data) else as_tensor(data)
    if isinstance(data, np.generic) and not isinstance(data, (np.str_, np.bytes_)):
        return as_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        converted = {k: default_convert(v) for k, v in data.items()}
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
