"""The Tensor: a NumPy array plus what autograd needs (requires_grad, grad, grad_fn)."""
import numbers
import weakref

import numpy as np

from . import _dtype
from ._dtype import dtype as _dtype_cls, from_numpy_dtype, to_dtype
from .autograd import function as _function
from .autograd.grad_mode import _state

__all__ = ["Tensor", "Size", "device"]


class Size(tuple):
    """Tensor shape, a tuple that prints like torch.Size."""

    def __repr__(self):
        return "dlbasic.Size([" + ", ".join(str(s) for s in self) + "])"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


class device:
    """Only the CPU exists today; 'cuda' is refused with a clear error."""

    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        type = str(type)
        if ":" in type:
            type, idx = type.split(":", 1)
            index = int(idx)
        if type != "cpu":
            raise RuntimeError(f"dlbasic runs on the CPU only; device '{type}' is not available")
        self.type = type
        self.index = index

    def __repr__(self):
        return f"device(type='{self.type}')"

    def __str__(self):
        return self.type

    def __eq__(self, other):
        try:
            return device(other).type == self.type
        except (RuntimeError, TypeError, ValueError):
            return False

    def __hash__(self):
        return hash(self.type)


_CPU = device("cpu")


class _RemovableHandle:
    def __init__(self, container, item):
        self._container = weakref.ref(container) if not isinstance(container, list) else None
        self._list = container if isinstance(container, list) else None
        self._item = item

    def remove(self):
        lst = self._list
        if lst is not None and self._item in lst:
            lst.remove(self._item)


def _check_not_leaf_inplace(t):
    if t.requires_grad and _state.enabled:
        if t.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation.")


class Tensor:
    """A multi-dimensional array with reverse-mode automatic differentiation."""

    __slots__ = ("_data", "requires_grad", "grad", "grad_fn", "_output_nr", "_vbox", "_hooks",
                 "_base", "__dict__", "__weakref__")
    __array_priority__ = 1000     # so ndarray (op) Tensor defers to Tensor's reflected ops

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def _make(cls, data, requires_grad=False, grad_fn=None, output_nr=0):
        """Fast internal constructor around an ndarray that already has a supported dtype."""
        t = object.__new__(cls)
        # NumPy returns scalars, not 0-d arrays, from many 0-d computations; keep an array so
        # in-place ops and .numpy() behave as for any other tensor
        t._data = data if isinstance(data, np.ndarray) else np.asarray(data)
        t.requires_grad = requires_grad
        t.grad = None
        t.grad_fn = grad_fn
        t._output_nr = output_nr
        t._vbox = [0]
        t._hooks = None
        t._base = None
        return t

    def __init__(self, *args, dtype=None, device=None, requires_grad=False):
        # torch.Tensor(2, 3) -> uninitialised float tensor; torch.Tensor([1, 2]) -> float data
        dt = to_dtype(dtype) if dtype is not None else _dtype.get_default_dtype()
        if len(args) == 1 and isinstance(args[0], (list, tuple)):
            from ._creation import _from_sequence          # torch's rules and messages
            data = _from_sequence(args[0], dt)
        elif len(args) == 1 and not isinstance(args[0], numbers.Integral):
            data = np.array(args[0].numpy() if isinstance(args[0], Tensor) else args[0],
                            dtype=dt.np)
        elif all(isinstance(a, numbers.Integral) for a in args):
            data = np.empty(args, dtype=dt.np)
        else:
            shape = tuple(args[0]) if len(args) == 1 else args
            data = np.empty(shape, dtype=dt.np)
        self._data = data
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._vbox = [0]
        self._hooks = None
        self._base = None

    # -- attributes -----------------------------------------------------------------------
    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim)]

    @property
    def dtype(self):
        return from_numpy_dtype(self._data.dtype)

    @property
    def device(self):
        return _CPU

    @property
    def is_cuda(self):
        return False

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    ndimension = dim

    def numel(self):
        return self._data.size

    nelement = numel

    def element_size(self):
        return self._data.itemsize

    @property
    def itemsize(self):
        return self._data.itemsize

    @property
    def nbytes(self):
        return self._data.nbytes

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def _version(self):
        return self._vbox[0]

    @property
    def data(self):
        """A tensor sharing this one's memory, outside the graph (torch's ``.data``)."""
        return Tensor._make(self._data)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(value).__name__}")
        self._data = value._data

    @property
    def T(self):
        from .ops import movement
        return movement.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self):
        return self.transpose(-2, -1)

    def is_floating_point(self):
        return self._data.dtype.kind == "f"

    def is_contiguous(self, memory_format=None):
        return bool(self._data.flags.c_contiguous)

    def stride(self, dim=None):
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[_wrap_dim(dim, self.ndim)]

    def data_ptr(self):
        return self._data.__array_interface__["data"][0]

    def get_device(self):
        return -1

    # -- conversions ----------------------------------------------------------------------
    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted "
                               "to Scalar")
        return self._data.reshape(()).item()

    def tolist(self):
        return self._data.tolist()

    def numpy(self, *, force=False):
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        return self._data if dtype is None else self._data.astype(dtype)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data.reshape(()))

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __hash__(self):
        return id(self)

    def __reduce_ex__(self, protocol):
        # pickling (DataLoader workers, copy.deepcopy) keeps data and requires_grad only
        return (_rebuild_tensor, (self._data, self.requires_grad))

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol at the moment.")
        new = type(self)._make(self._data.copy(), self.requires_grad)
        if type(self) is not Tensor:
            new.__dict__.update(self.__dict__)
        if self.grad is not None:
            new.grad = Tensor._make(self.grad._data.copy())
        memo[id(self)] = new
        return new

    def detach(self):
        t = Tensor._make(self._data)
        t._vbox = self._vbox
        return t

    def detach_(self):
        self.grad_fn = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If "
                               "you want to use a computed variable in a subgraph that doesn't "
                               "require differentiation use var_no_grad = var.detach().")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self):
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None:
            return
        node = self.grad_fn
        if node._retain is None:
            node._retain = {}
        node._retain[self._output_nr] = weakref.ref(self)

    @property
    def retains_grad(self):
        node = self.grad_fn
        return bool(node is not None and node._retain and self._output_nr in node._retain)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a new one."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            node = self.grad_fn
            if node._hooks is None:
                node._hooks = {}
            hooks = node._hooks.setdefault(self._output_nr, [])
        hooks.append(hook)
        return _RemovableHandle(hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        from .autograd import engine
        engine.backward(self, gradient, retain_graph, create_graph, inputs)

    def to(self, *args, **kwargs):
        """to(dtype) / to(device) / to(device, dtype) / to(other) — dtype changes are recorded."""
        dt = kwargs.pop("dtype", None)
        copy = kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if "device" in kwargs:
            device(kwargs.pop("device"))
        for a in args:
            if isinstance(a, Tensor):
                dt = a.dtype
            elif isinstance(a, _dtype_cls) or a in (float, int, bool):
                dt = to_dtype(a)
            elif isinstance(a, (str, device)):
                device(a)
            elif a is not None:
                raise TypeError(f"to() received an invalid combination of arguments: {a!r}")
        if dt is None or to_dtype(dt).np == self._data.dtype:
            return self.clone() if copy else self
        from .ops import elementwise
        return elementwise.cast(self, to_dtype(dt))

    def cpu(self):
        return self

    def cuda(self, *args, **kwargs):
        raise RuntimeError("dlbasic runs on the CPU only; CUDA is not available")

    def float(self):
        return self.to(_dtype.float32)

    def double(self):
        return self.to(_dtype.float64)

    def half(self):
        return self.to(_dtype.float16)

    def long(self):
        return self.to(_dtype.int64)

    def int(self):
        return self.to(_dtype.int32)

    def short(self):
        return self.to(_dtype.int16)

    def byte(self):
        return self.to(_dtype.uint8)

    def bool(self):
        return self.to(_dtype.bool_)

    def type(self, dtype=None, **kwargs):
        if dtype is None:
            return _TYPE_NAMES.get(self.dtype.name, "torch.Tensor")
        if isinstance(dtype, str) and dtype.startswith("torch."):
            if dtype not in _TYPE_BY_NAME:
                raise ValueError(f"invalid type: '{dtype}'")
            dtype = _TYPE_BY_NAME[dtype]
        return self.to(to_dtype(dtype))

    def type_as(self, other):
        return self.to(other.dtype)

    def new_tensor(self, data, dtype=None, requires_grad=False):
        from . import _creation
        return _creation.tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, requires_grad=False):
        from . import _creation
        return _creation.zeros(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, requires_grad=False):
        from . import _creation
        return _creation.ones(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, requires_grad=False):
        from . import _creation
        _creation._check_fill(fill_value, "new_full")
        return _creation.full(size, fill_value, dtype=dtype or self.dtype,
                              requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, requires_grad=False):
        from . import _creation
        return _creation.empty(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def __repr__(self):
        from ._format import format_tensor
        return format_tensor(self)

    def __format__(self, spec):
        if self._data.ndim == 0 and spec:
            return format(self.item(), spec)
        return repr(self)

    # -- in-place machinery ---------------------------------------------------------------
    def _inplace(self, fn, *args, **kwargs):
        """Apply ``fn(self, *args)`` and write the result into this tensor's memory.

        When autograd is recording, the result's history becomes this tensor's history (the
        computation ran on a copy, so whatever an earlier node saved of this buffer is still
        detectable as modified through the version counter).
        """
        from .ops._util import _any_requires_grad
        if _state.enabled and (self.requires_grad or _any_requires_grad(args)):
            _check_not_leaf_inplace(self)
            base = self._base
            if base is not None and (base.requires_grad or self.requires_grad):
                raise RuntimeError("dlbasic does not support in-place operations on a view of a "
                                   "tensor that requires grad; use an out-of-place operation "
                                   "or index assignment on the base tensor instead")
            alias = Tensor._make(self._data.copy(), self.requires_grad, self.grad_fn,
                                 self._output_nr)
            out = fn(alias, *args, **kwargs)
            if self.requires_grad and not out.requires_grad:
                # the new values do not depend on the old ones: the old history must receive a
                # zero gradient, not the gradient of the overwritten values
                from .ops.elementwise import where
                keep_new = Tensor._make(np.ones(self._data.shape, dtype=bool))
                out = where(keep_new, out.to(self.dtype), alias)
            self._write(out._data)
            if out.requires_grad:
                self.requires_grad = True
                self.grad_fn = out.grad_fn
                self._output_nr = out._output_nr
        else:
            if self.requires_grad and self.grad_fn is None and _state.enabled:
                _check_not_leaf_inplace(self)
            from .autograd.grad_mode import no_grad
            with no_grad():
                out = fn(self, *args, **kwargs)
            self._write(out._data)
        return self

    def _write(self, arr):
        """Copy ``arr`` into this tensor's buffer (shape and dtype checked) and bump the version."""
        dst = self._data
        if arr.shape != dst.shape:
            if np.broadcast_shapes(arr.shape, dst.shape) != dst.shape:
                raise RuntimeError(f"output with shape {list(dst.shape)} doesn't match the "
                                   f"broadcast shape {list(np.broadcast_shapes(arr.shape, dst.shape))}")
        if arr.dtype != dst.dtype and not np.can_cast(arr.dtype, dst.dtype, "same_kind"):
            raise RuntimeError(f"result type {_TYPE_SHORT.get(arr.dtype.name, arr.dtype.name)} "
                               f"can't be cast to the desired output type "
                               f"{_TYPE_SHORT.get(dst.dtype.name, dst.dtype.name)}")
        if any(st == 0 and n > 1 for st, n in zip(dst.strides, dst.shape)):
            raise RuntimeError("unsupported operation: more than one element of the written-to "
                               "tensor refers to a single memory location. Please clone() the "
                               "tensor before performing the operation.")
        if not dst.flags.writeable:
            self._data = dst = dst.copy()
        np.copyto(dst, arr, casting="unsafe")
        self._vbox[0] += 1

    def _bump(self):
        self._vbox[0] += 1


def _rebuild_tensor(data, requires_grad):
    return Tensor._make(data, requires_grad)


def _wrap_dim(dim, ndim):
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return dim % n


_TYPE_NAMES = {"float32": "torch.FloatTensor", "float64": "torch.DoubleTensor",
               "float16": "torch.HalfTensor", "int64": "torch.LongTensor",
               "int32": "torch.IntTensor", "int16": "torch.ShortTensor",
               "int8": "torch.CharTensor", "uint8": "torch.ByteTensor",
               "bool": "torch.BoolTensor"}
_TYPE_BY_NAME = {v: k for k, v in _TYPE_NAMES.items()}
_TYPE_SHORT = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
               "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
               "bool": "Bool"}

_function._bind_tensor(Tensor)
