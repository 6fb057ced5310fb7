"""Flatten parameters into one vector and back (for second-order methods, model averaging)."""
import numpy as np

from ..._tensor import Tensor
from ...ops.movement import cat

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters):
    """Concatenate the flattened ``parameters`` into one 1-D tensor (differentiable)."""
    if isinstance(parameters, Tensor):
        raise TypeError(f"expected an iterable of Tensors, but got {type(parameters).__name__}")
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D tensor ``vec`` into ``parameters`` (their data)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    flat = vec._data.reshape(-1)
    offset = 0
    for p in parameters:
        n = p._data.size
        if offset + n > flat.size:
            raise RuntimeError(f"vector has {flat.size} elements, fewer than the parameters "
                               f"need ({offset + n} so far)")
        p._data = np.array(flat[offset:offset + n].reshape(p._data.shape), dtype=p._data.dtype)
        p._vbox[0] += 1
        offset += n
