"""What every tensor is, below autograd and the ops: an ndarray plus autograd's fields.

``TensorBase`` holds the data (``_data``), ``requires_grad``, ``grad``, ``grad_fn``, the version
counter, hooks, and whatever needs nothing above this layer: shape and dtype queries,
conversions to Python and NumPy, ``detach``, ``requires_grad_``, ``register_hook``, printing.
Autograd and the ops see tensors through this class.  ``dlbasic.Tensor`` (``_tensor.py``) is
``TensorBase`` plus the methods that run ops (``x.exp()``, ``a + b``, ``x.add_(y)``,
``loss.backward()``); it sits above the ops and is the class of every tensor.
"""
import builtins
import threading
import weakref

import numpy as np

from ._dtype import from_numpy_dtype, TYPE_SHORT
from ._format import format_tensor

__all__ = ["TensorBase", "Size", "device", "shape_str", "size_str", "cpu_device",
           "set_default_device", "get_default_device", "CudaNotAvailableError"]


def shape_str(shape):
    """``[2, 3]``: a shape as torch's messages print it."""
    return "[" + ", ".join(str(s) for s in shape) + "]"


def size_str(shape):
    """``torch.Size([2, 3])``: a shape as torch's messages print a ``torch.Size``."""
    return "torch.Size(" + shape_str(shape) + ")"


class Size(tuple):
    """Tensor shape, a tuple that prints like torch.Size."""

    def __repr__(self):
        return "dlbasic.Size(" + shape_str(self) + ")"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


# torch's device types, in the order its error message lists them
DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve",
                "fpga", "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia",
                "privateuseone")


class CudaNotAvailableError(RuntimeError, AssertionError):
    """Placing a tensor on a CUDA device.  torch built without CUDA raises AssertionError ("Torch
    not compiled with CUDA enabled") for this; we raise our own class so that both
    ``except AssertionError`` (torch's scripts) and ``except RuntimeError`` catch it, and
    ``python -O`` cannot drop it as it drops an ``assert``."""


def _index_of(text):
    """``'1'`` -> 1 for the part after ``:`` of ``'cuda:1'``: digits without a leading zero."""
    if not text.isdigit() or not text.isascii() or (len(text) > 1 and text[0] == "0"):
        return None
    return int(text)


class device:
    """Where a tensor lives, as ``torch.device``: ``device('cuda:1')``, ``device('cuda', 0)``,
    ``device('mps')``; ``type``, ``index`` (None when not given), ``str`` gives ``'cuda:1'``.

    Any of torch's device types can be *named* (scripts build ``device('cuda')`` before they
    ask whether CUDA exists), but dlbasic computes on the CPU only: placing a tensor elsewhere
    (``cpu_device``) raises.  Used as a context manager it sets the default device for the
    creation functions, as torch's does.  Unlike torch, a device also equals its string
    (``x.device == 'cpu'``).
    """

    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            if index is not None:
                raise TypeError("device(): a device argument takes no index")
            type, index = type.type, type.index
        elif isinstance(type, int) and not isinstance(type, bool):
            # torch reads a bare ordinal as an index of the current accelerator
            raise RuntimeError("Cannot access accelerator device when none is available.")
        elif not isinstance(type, str):
            raise TypeError(f"device() received an invalid combination of arguments - got "
                            f"({builtins.type(type).__name__}), but expected one of:\n"
                            " * (torch.device device)\n * (str type, int index = -1)")
        text = type
        name, colon, idx = text.partition(":")
        if name not in DEVICE_TYPES:
            raise RuntimeError(f"Expected one of {', '.join(DEVICE_TYPES)} device type at "
                               f"start of device string: {text}")
        if colon:
            if index is not None:
                raise RuntimeError("type (string) must not include an index because index "
                                   f"was passed explicitly: {text}")
            index = _index_of(idx)
            if index is None:
                raise RuntimeError(f"Invalid device string: '{text}'")
        elif index is not None:
            if isinstance(index, bool) or not isinstance(index, int):
                raise TypeError(f"device(): argument 'index' (position 2) must be int, not "
                                f"{builtins.type(index).__name__}")
            if index < 0:
                raise RuntimeError("Device index must not be negative")
            index = int(index)
        self.type = name
        self.index = index

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except RuntimeError:
                return False
        if not isinstance(other, device):
            return False
        return other.type == self.type and other.index == self.index

    def __hash__(self):
        return hash(str(self))           # equal to its string, so hashed like it

    # ``with device('cpu'): ...`` -- the creation functions' default inside the block
    def __enter__(self):
        stack = _default_stack()
        stack.append(get_default_device())
        set_default_device(self)
        return self

    def __exit__(self, *exc):
        set_default_device(_default_stack().pop())
        return False


_device_cls = device        # TensorBase.cuda's argument named 'device' shadows the class
_CPU = device("cpu")


def device_error(d):
    """The error for placing a tensor on ``d``, a device other than the CPU."""
    if d.type == "cuda":
        return CudaNotAvailableError(
            f"dlbasic runs on the CPU only (it is not compiled with CUDA enabled): cannot "
            f"place a tensor on device '{d}'; use device='cpu'")
    return RuntimeError(f"dlbasic runs on the CPU only (it is not linked with support for "
                        f"{d.type} devices): cannot place a tensor on device '{d}'; use "
                        f"device='cpu'")


def cpu_device(d):
    """The device ``d`` names (a str, a ``device``), which must be the CPU: where a tensor is
    to be placed, any other device raises ``device_error``."""
    if d is _CPU or d == "cpu":
        return _CPU
    d = d if isinstance(d, device) else device(d)
    if d.type != "cpu":
        raise device_error(d)
    return d


# torch's default device is per thread (set_default_device, ``with device(...)``)
_local = threading.local()


def _default_stack():
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def set_default_device(device_):
    """torch.set_default_device: where the creation functions put a tensor when not told (in
    this thread).  None or 'cpu' is the CPU; another device is accepted here, and refused when
    a tensor would be created on it."""
    if device_ is None:
        _local.device = None
        return
    d = device_ if isinstance(device_, device) else device(device_)
    _local.device = None if d == _CPU else d


def get_default_device():
    """torch.get_default_device: the device ``set_default_device`` chose (the CPU unless told)."""
    d = getattr(_local, "device", None)
    return _CPU if d is None else d


def default_device_elsewhere():
    """The default device when it is not the CPU, else None (the creation functions' check)."""
    return getattr(_local, "device", None)


def wrap_dim(dim, ndim):
    """``dim`` as a non-negative axis of an ``ndim``-dimensional tensor (torch's IndexError)."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return dim % n


class _RemovableHandle:
    def __init__(self, container, item):
        self._container = weakref.ref(container) if not isinstance(container, list) else None
        self._list = container if isinstance(container, list) else None
        self._item = item

    def remove(self):
        lst = self._list
        if lst is not None and self._item in lst:
            lst.remove(self._item)


# The class of the tensors ``TensorBase._make`` builds: ``dlbasic.Tensor``, which _tensor.py
# defines on top of this base and names here once (``set_tensor_class``).  This is the one
# place where a layer refers to one above it, at run time and without an import -- PyTorch's
# C++ core does the same with the Python class ``torch.Tensor``.
_tensor_class = None


def set_tensor_class(cls):
    """Make ``TensorBase._make`` build instances of ``cls`` (called once, by _tensor.py)."""
    global _tensor_class
    _tensor_class = cls


class TensorBase:
    """The data and autograd state of a tensor; see ``dlbasic.Tensor`` for its methods."""

    __slots__ = ("_data", "requires_grad", "grad", "grad_fn", "_output_nr", "_vbox", "_hooks",
                 "_base", "__dict__", "__weakref__")
    __array_priority__ = 1000     # so ndarray (op) Tensor defers to Tensor's reflected ops
    _post_acc_hooks = None        # a leaf's post-accumulate-grad hooks (a list once one is set)

    # -- construction ---------------------------------------------------------------------
    @staticmethod
    def _make(data, requires_grad=False, grad_fn=None, output_nr=0):
        """Fast internal constructor of a ``dlbasic.Tensor`` around an ndarray that already has
        a supported dtype (what autograd and the ops call)."""
        t = object.__new__(_tensor_class)
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

    # -- attributes -----------------------------------------------------------------------
    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[wrap_dim(dim, self._data.ndim)]

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
        return TensorBase._make(self._data)

    @data.setter
    def data(self, value):
        if not isinstance(value, TensorBase):
            raise TypeError(f"data must be a Tensor, got {type(value).__name__}")
        self._data = value._data

    def is_floating_point(self):
        return self._data.dtype.kind == "f"

    def is_complex(self):
        return self._data.dtype.kind == "c"

    def is_conj(self):
        """False: dlbasic's ``conj()`` computes the conjugate at once (torch's is a lazy bit)."""
        return False

    def resolve_conj(self):
        return self

    def is_contiguous(self, memory_format=None):
        return bool(self._data.flags.c_contiguous)

    def stride(self, dim=None):
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[wrap_dim(dim, self.ndim)]

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
        if self._data.dtype.kind == "c":
            raise RuntimeError("value cannot be converted to type double without overflow")
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

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol at the moment.")
        new = TensorBase._make(self._data.copy(), self.requires_grad)
        if type(self) is not _tensor_class:       # nn.Parameter & co. keep their class
            new.__class__ = type(self)
            new.__dict__.update(self.__dict__)
        if self.grad is not None:
            new.grad = TensorBase._make(self.grad._data.copy())
        memo[id(self)] = new
        return new

    def __repr__(self):
        return format_tensor(self)

    def __format__(self, spec):
        if self._data.ndim == 0 and spec:
            return format(self.item(), spec)
        return repr(self)

    def cpu(self):
        return self

    def cuda(self, device=None, non_blocking=False, memory_format=None):
        """Refused: dlbasic has no CUDA (``CudaNotAvailableError``, an AssertionError as torch's
        without CUDA and a RuntimeError)."""
        if device is None:
            device = "cuda"
        elif isinstance(device, int) and not isinstance(device, bool):
            device = f"cuda:{device}"
        d = device if isinstance(device, _device_cls) else _device_cls(device)
        if d.type != "cuda":
            raise RuntimeError(f"Invalid device, must be cuda device (got '{d}')")
        raise device_error(d)

    # -- autograd state -------------------------------------------------------------------
    def detach(self):
        t = TensorBase._make(self._data)
        t._vbox = self._vbox
        return t

    def detach_(self):
        self.grad_fn = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self._data.dtype.kind not in "fc":
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

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` after this leaf's ``.grad`` has been accumulated in a backward
        pass (the whole gradient of the pass, once); the hook returns nothing."""
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                               "tensors")
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._post_acc_hooks is None:
            self._post_acc_hooks = []
        self._post_acc_hooks.append(hook)
        return _RemovableHandle(self._post_acc_hooks, hook)

    # -- writing into the buffer ----------------------------------------------------------
    def _write(self, arr):
        """Copy ``arr`` into this tensor's buffer (shape and dtype checked) and bump the version."""
        dst = self._data
        if arr.shape != dst.shape:
            if np.broadcast_shapes(arr.shape, dst.shape) != dst.shape:
                raise RuntimeError(f"output with shape {list(dst.shape)} doesn't match the "
                                   f"broadcast shape {list(np.broadcast_shapes(arr.shape, dst.shape))}")
        if arr.dtype != dst.dtype and not np.can_cast(arr.dtype, dst.dtype, "same_kind"):
            raise RuntimeError(f"result type {TYPE_SHORT.get(arr.dtype.name, arr.dtype.name)} "
                               f"can't be cast to the desired output type "
                               f"{TYPE_SHORT.get(dst.dtype.name, dst.dtype.name)}")
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
