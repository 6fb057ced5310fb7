"""``Parameter``: a Tensor that a Module registers as learnable; ``Buffer``: one it registers as state.

Both share the memory (and the version counter) of the tensor they are built from, as in torch.
"""
import numpy as np

from .. import _creation
from .._tensor import Tensor

__all__ = ["Parameter", "Buffer"]


def _array_of(data):
    if data is None:
        return np.empty((0,), dtype=np.float32), [0]
    if isinstance(data, Tensor):
        return data._data, data._vbox
    t = _creation.tensor(data)
    return t._data, t._vbox


class Parameter(Tensor):
    """A leaf tensor that requires grad by default and is registered when set on a Module."""

    def __init__(self, data=None, requires_grad=True):
        arr, vbox = _array_of(data)
        if requires_grad and arr.dtype.kind != "f":
            raise RuntimeError("Only Tensors of floating point and complex dtype can require "
                               "gradients")
        self._data = arr
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._vbox = vbox
        self._hooks = None
        self._base = None

    def __repr__(self):
        return "Parameter containing:\n" + Tensor.__repr__(self)

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self._data, self.requires_grad))


class Buffer(Tensor):
    """A tensor that becomes a buffer when assigned to a Module attribute (torch.nn.Buffer)."""

    def __init__(self, data=None, *, persistent=True):
        arr, vbox = _array_of(data)
        self._data = arr
        self.requires_grad = bool(data.requires_grad) if isinstance(data, Tensor) else False
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._vbox = vbox
        self._hooks = None
        self._base = None
        self.persistent = persistent

    def __reduce_ex__(self, protocol):
        return (_rebuild_buffer, (self._data, self.requires_grad, self.persistent))


def _rebuild_parameter(data, requires_grad):
    return Parameter(Tensor._make(data), requires_grad)


def _rebuild_buffer(data, requires_grad, persistent):
    b = Buffer(Tensor._make(data), persistent=persistent)
    b.requires_grad = requires_grad
    return b
