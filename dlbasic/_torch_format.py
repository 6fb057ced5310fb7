"""PyTorch's checkpoint format, read and written without PyTorch.

``torch.save`` writes a zip archive (PyTorch >= 1.6) whose records all sit in one folder:

    <name>/data.pkl          the object tree, pickled (protocol 2); each tensor is a call
                             ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
                             requires_grad, hooks)`` whose storage is a *persistent id*
                             ``('storage', torch.FloatStorage, key, location, numel)``
    <name>/data/<key>        the raw bytes of storage ``key`` (64-byte aligned)
    <name>/byteorder         'little' or 'big': the byte order of those bytes
    <name>/version           the format version ('3')

Offsets and strides count elements of the storage's dtype, so tensors that view one storage
(a tensor and its slices, tied weights) share memory again after loading. Before 1.6,
``torch.save`` wrote the *legacy* format: five pickles back to back (a magic number, a protocol
version, system info, the object tree, the list of storage keys) followed by each storage as an
8-byte element count and its little-endian bytes.

Reading never runs code from the file. The pickle is interpreted here, opcode by opcode, like
the ``weights_only=True`` unpickler of ``torch.load``: a global (``GLOBAL module name``) is only
looked up in an allow-list that maps PyTorch's names to our own functions (tensor rebuilders,
storage types, dtypes, ``torch.Size``, ``torch.device``, ``collections.OrderedDict`` and a few
plain builtins), and anything else raises ``pickle.UnpicklingError`` naming the global. The
allowed functions check their arguments, no object attribute can be set from the file (BUILD is
refused except for an ``OrderedDict``'s ``_metadata``), and nothing is allocated that the file
does not hold: storages are checked against the records' sizes and the file size, views against
their storage, and the containers the pickle builds against its length.

Writing emits the pickle ``torch.save`` would write for the same tree (plus, for any other
object, the standard reduce protocol, which only ``load(..., weights_only=False)`` reads back)
and the same records, so ``torch.load(f, weights_only=True)`` reads our files.
"""
from collections import Counter, OrderedDict
import copyreg
import functools
import importlib
import io
import json
import pickle
import re
import struct
import types
import warnings
import zipfile

import numpy as np

from . import _dtype
from ._tensor import Tensor, Size, device as _device
from ._tensor_base import cpu_device
from ._checkpoint_base import (CheckpointError, TruncatedCheckpointError, _fail, _truncated,
                               _read_member_into, _is_int, _c_strides, _extent, _address,
                               _MAX_DEPTH, _MAX_NDIM)

# PyTorch's storage classes and the dtypes they hold (torch/storage.py)
_STORAGE_DTYPES = {
    "HalfStorage": _dtype.float16, "FloatStorage": _dtype.float32,
    "DoubleStorage": _dtype.float64, "CharStorage": _dtype.int8, "ShortStorage": _dtype.int16,
    "IntStorage": _dtype.int32, "LongStorage": _dtype.int64, "ByteStorage": _dtype.uint8,
    "BoolStorage": _dtype.bool_, "ComplexFloatStorage": _dtype.complex64,
    "ComplexDoubleStorage": _dtype.complex128,
}
_UNSUPPORTED_STORAGES = {
    "BFloat16Storage": "bfloat16", "QInt8Storage": "quantized qint8",
    "QUInt8Storage": "quantized quint8", "QInt32Storage": "quantized qint32",
    "QUInt4x2Storage": "quantized quint4x2", "QUInt2x4Storage": "quantized quint2x4",
}
_STORAGE_OF = {d.name: n for n, d in _STORAGE_DTYPES.items()}
# torch.<name> of each dtype we have (str(torch.float32) == 'torch.float32'; aliases pickle as
# these canonical names)
_TORCH_DTYPES = {d.name: d for d in _STORAGE_DTYPES.values()}
_UNSUPPORTED_DTYPES = (
    "bfloat16", "complex32", "uint16", "uint32", "uint64", "uint1",
    "uint2", "uint3", "uint4", "uint5", "uint6", "uint7", "int1", "int2", "int3", "int4",
    "int5", "int6", "int7", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2",
    "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2", "qint8", "quint8", "qint32",
    "quint4x2", "quint2x4", "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16")
_NOT_SUPPORTED_REBUILDS = {
    "_rebuild_qtensor": "quantized tensors",
    "_rebuild_sparse_tensor": "sparse tensors",
    "_rebuild_nested_tensor": "nested tensors",
    "_rebuild_meta_tensor_no_storage": "tensors on the 'meta' device",
    "_rebuild_wrapper_subclass": "tensor subclasses (DTensor and the like)",
    "_rebuild_device_tensor_from_numpy": "tensors of devices without storage (XLA and the like)",
    "_rebuild_device_tensor_from_cpu_tensor": "tensors of devices without storage (XLA and "
                                              "the like)",
    "_rebuild_xla_tensor": "XLA tensors",
    "_rebuild_mps_tensor": "MPS tensors saved by PyTorch < 1.13",
}
_RENAMED_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}   # Python 2 names

_MAGIC_NUMBER = 0x1950a86a20f9469cfc6c            # the legacy format's first pickle
_LEGACY_PROTOCOL = 1001
_ARCHIVE = "archive"
_MARKER = ".data/dlbasic.json"                    # our records' writer, inside the archive
_FORMAT_VERSION = 3                               # torch.save's zip 'version' record
_ALIGNMENT = 64
_KEY_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
_MAX_TUPLE_DEPTH = 1000          # tuples nested deeper would overflow C code that hashes them
_MAX_MARKER = 1 << 26
_BUDGET_FACTOR = 2               # items allowed calls may copy, per byte of pickle


class _UserCallbackError(Exception):
    """An exception raised by the caller's ``map_location`` function: re-raised as it is."""

    def __init__(self, original):
        super().__init__(original)
        self.original = original


class _StorageType:
    """``torch.FloatStorage`` and friends as they appear in a persistent id."""

    __slots__ = ("name", "dtype", "unsupported")

    def __init__(self, name, dtype, unsupported=None):
        self.name, self.dtype, self.unsupported = name, dtype, unsupported

    def __repr__(self):
        return f"<storage type torch.{self.name}>"


class _Storage:
    """A storage as the pickle refers to it: ``numel`` elements of ``dtype`` (None: untyped
    bytes) from element ``base`` of the record ``key`` (a legacy storage view starts later)."""

    __slots__ = ("key", "dtype", "location", "numel", "base")

    def __init__(self, key, dtype, location, numel, base=0):
        self.key, self.dtype, self.location, self.numel, self.base = (key, dtype, location,
                                                                      numel, base)


class _Buffer:
    """The bytes of one storage record, allocated and read when a tensor first uses them."""

    __slots__ = ("nbytes", "data", "vbox", "native")

    def __init__(self, nbytes):
        self.nbytes, self.data, self.vbox, self.native = nbytes, None, [0], None


class _Global:
    """An allowed global: the name the file uses and the function of ours that stands for it.

    The pickle never sees our real functions or classes, only these stand-ins, which refuse to
    have attributes set (BUILD) and are called with arguments that each function checks.
    """

    __slots__ = ("name", "_call", "_new")

    def __init__(self, name, call, new=None):
        self._call, self._new = call, new
        self.name = name

    def call(self, args):
        return self._call(*args)

    def new(self, args):
        if self._new is None:
            raise pickle.UnpicklingError(f"NEWOBJ of {self.name} is not allowed")
        return self._new(*args)

    def __call__(self, *args):         # for the trusted (weights_only=False) pickle.Unpickler
        return self._call(*args)

    def __setstate__(self, state):
        raise pickle.UnpicklingError(f"BUILD of {self.name} is not allowed")

    def __repr__(self):
        return f"<allowed global {self.name}>"


_TORCH_TENSOR = "torch.Tensor"            # the class argument of _rebuild_from_type_v2
_TORCH_PARAMETER = "torch.nn.parameter.Parameter"


def _short(text, limit=200):
    text = str(text)
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[:limit] + "..."


def unsupported_global_message(full_name):
    return (f"Unsupported global: GLOBAL {_short(full_name)} was not an allowed global by "
            f"default")


def weights_only_message(problem):
    """torch.load's wording for a file the weights-only unpickler refuses."""
    return ("Weights only load failed. This file can still be loaded, do it only if you trust "
            "the source of the checkpoint: re-running `dlbasic.load` with `weights_only` set to "
            "`False` will likely succeed, but it can result in arbitrary code execution. Do it "
            "only if you got the file from a trusted source.\n"
            f"    WeightsUnpickler error: {problem}")


# -- checks of the allowed functions' arguments ------------------------------------------
class _Bad(pickle.UnpicklingError):
    """Arguments an allowed function refuses (reported with the file's name)."""


def _ints(value, what, nonneg=True):
    if not isinstance(value, (tuple, list)) or len(value) > _MAX_NDIM or not all(
            _is_int(v) and (v >= 0 or not nonneg) for v in value):
        raise _Bad(f"malformed {what} {_short(value, 80)}")
    return tuple(value)


def _plain_sequence(value, what):
    if type(value) not in (list, tuple, set, frozenset):
        raise _Bad(f"{what} expects a list, tuple or set, got {type(value).__name__}")
    return value


class _Budget:
    """Caps the items that allowed calls copy (set(list), OrderedDict(pairs), ...): each
    pickled item costs at least one byte, but a call can copy a list a million times."""

    def __init__(self, pickle_bytes):
        self.left = _BUDGET_FACTOR * pickle_bytes + (1 << 16)

    def charge(self, n):
        self.left -= n
        if self.left < 0:
            raise _Bad("the pickle builds far more data than its size could hold (a "
                       "decompression bomb?)")


# -- the restricted unpickler ---------------------------------------------------------------
class _PickleEOF(Exception):
    pass


_STOP = object()


class _Unpickler:
    """Runs a pickle's opcodes with only the globals of ``table``.

    Supported: the opcodes of protocols 2-5 that build data (numbers, strings, bytes, tuples,
    lists, dicts, sets, memo), GLOBAL / STACK_GLOBAL resolved through ``table``, REDUCE and
    NEWOBJ of allowed globals, BUILD of an OrderedDict's attributes, and BINPERSID for
    storages. Everything else (INST, OBJ, EXT, PERSID, out-of-band buffers, ...) is refused.
    """

    def __init__(self, fh, start, end, table, persistent_load, budget, encoding="utf-8"):
        self.fh, self.pos, self.end = fh, start, end
        self.table, self.persistent_load, self.budget = table, persistent_load, budget
        self.encoding = encoding
        self.stack, self.metastack, self.memo = [], [], {}
        self.depth = {}                 # id(tuple) -> (nesting depth, the tuple)
        self.result = None

    # reading
    def read(self, n):
        if n < 0 or n > self.end - self.pos:
            raise _PickleEOF()
        data = self.fh.read(n)
        if len(data) != n:
            raise _PickleEOF()
        self.pos += n
        return data

    def readline(self):
        limit = min(self.end - self.pos, 4096)
        line = self.fh.readline(limit)
        self.pos += len(line)
        if not line.endswith(b"\n"):
            if len(line) == 4096:
                raise pickle.UnpicklingError("a text opcode's argument is too long")
            raise _PickleEOF()
        return line[:-1]

    def load(self):
        dispatch = self.dispatch
        while True:
            at = self.pos
            op = self.read(1)[0]
            fn = dispatch.get(op)
            if fn is None:
                raise pickle.UnpicklingError(
                    f"unsupported pickle opcode {bytes([op])!r} at byte {at} of the pickle "
                    f"(only the opcodes that build data are allowed)")
            if fn(self) is _STOP:
                return self.result

    # stack helpers
    def push(self, value):
        self.stack.append(value)

    def pop(self):
        if not self.stack:
            raise pickle.UnpicklingError("pickle stack underflow")
        return self.stack.pop()

    def top(self):
        if not self.stack:
            raise pickle.UnpicklingError("pickle stack underflow")
        return self.stack[-1]

    def pop_mark(self):
        if not self.metastack:
            raise pickle.UnpicklingError("pickle has no MARK to pop")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def tuple_of(self, items):
        t = tuple(items)
        self._nest(t)
        return t

    def _nest(self, container):
        depth = 1
        for x in container:
            d = self.depth.get(id(x))
            if d is not None and d[1] is x and d[0] >= depth:
                depth = d[0] + 1
        if depth > 1:
            if depth > _MAX_TUPLE_DEPTH:
                raise pickle.UnpicklingError(f"tuples nested deeper than {_MAX_TUPLE_DEPTH} "
                                             f"levels")
            self.depth[id(container)] = (depth, container)
        elif container:
            self.depth[id(container)] = (1, container)

    # opcodes
    def op_proto(self):
        proto = self.read(1)[0]
        if proto > 5:
            raise pickle.UnpicklingError(f"unsupported pickle protocol {proto}")

    def op_frame(self):
        self.read(8)

    def op_stop(self):
        self.result = self.pop()
        return _STOP

    def op_mark(self):
        self.metastack.append(self.stack)
        self.stack = []

    def op_pop(self):
        if self.stack:
            self.stack.pop()
        else:
            self.pop_mark()

    def op_pop_mark(self):
        self.pop_mark()

    def op_dup(self):
        self.push(self.top())

    def op_none(self):
        self.push(None)

    def op_true(self):
        self.push(True)

    def op_false(self):
        self.push(False)

    def op_binint(self):
        self.push(struct.unpack("<i", self.read(4))[0])

    def op_binint1(self):
        self.push(self.read(1)[0])

    def op_binint2(self):
        self.push(struct.unpack("<H", self.read(2))[0])

    def op_long1(self):
        n = self.read(1)[0]
        self.push(int.from_bytes(self.read(n), "little", signed=True))

    def op_long4(self):
        n = struct.unpack("<i", self.read(4))[0]
        self.push(int.from_bytes(self.read(n), "little", signed=True))

    def op_int(self):
        line = self.readline()
        self.push(line == b"01" if line in (b"00", b"01") else int(line))

    def op_long(self):
        line = self.readline()
        self.push(int(line[:-1] if line.endswith(b"L") else line))

    def op_binfloat(self):
        self.push(struct.unpack(">d", self.read(8))[0])

    def op_float(self):
        self.push(float(self.readline()))

    def _text(self, n):
        return str(self.read(n), "utf-8", "surrogatepass")

    def op_binunicode(self):
        self.push(self._text(struct.unpack("<I", self.read(4))[0]))

    def op_short_binunicode(self):
        self.push(self._text(self.read(1)[0]))

    def op_binunicode8(self):
        self.push(self._text(struct.unpack("<Q", self.read(8))[0]))

    def _py2_str(self, data):
        try:
            return data.decode(self.encoding)
        except UnicodeDecodeError:
            return data.decode("latin1")

    def op_short_binstring(self):
        self.push(self._py2_str(self.read(self.read(1)[0])))

    def op_binstring(self):
        n = struct.unpack("<i", self.read(4))[0]
        self.push(self._py2_str(self.read(n)))

    def op_binbytes(self):
        self.push(self.read(struct.unpack("<I", self.read(4))[0]))

    def op_short_binbytes(self):
        self.push(self.read(self.read(1)[0]))

    def op_binbytes8(self):
        self.push(self.read(struct.unpack("<Q", self.read(8))[0]))

    def op_bytearray8(self):
        self.push(bytearray(self.read(struct.unpack("<Q", self.read(8))[0])))

    def op_empty_tuple(self):
        self.push(())

    def op_tuple(self):
        self.push(self.tuple_of(self.pop_mark()))

    def op_tuple1(self):
        self.push(self.tuple_of([self.pop()]))

    def op_tuple2(self):
        b, a = self.pop(), self.pop()
        self.push(self.tuple_of([a, b]))

    def op_tuple3(self):
        c, b, a = self.pop(), self.pop(), self.pop()
        self.push(self.tuple_of([a, b, c]))

    def op_empty_list(self):
        self.push([])

    def op_list(self):
        self.push(self.pop_mark())

    def _list_target(self):
        target = self.top()
        if type(target) is not list:
            raise pickle.UnpicklingError(f"can only append to lists, not to "
                                         f"{type(target).__name__}")
        return target

    def op_append(self):
        item = self.pop()
        self._list_target().append(item)

    def op_appends(self):
        items = self.pop_mark()
        self._list_target().extend(items)

    def op_empty_dict(self):
        self.push({})

    def op_dict(self):
        items = self.pop_mark()
        if len(items) % 2:
            raise pickle.UnpicklingError("DICT with an odd number of items")
        self.push({items[i]: items[i + 1] for i in range(0, len(items), 2)})

    def _dict_target(self):
        target = self.top()
        if type(target) not in (dict, OrderedDict, Counter):
            raise pickle.UnpicklingError(f"can only set items of dicts, not of "
                                         f"{type(target).__name__}")
        return target

    def op_setitem(self):
        v, k = self.pop(), self.pop()
        self._dict_target()[k] = v

    def op_setitems(self):
        items = self.pop_mark()
        if len(items) % 2:
            raise pickle.UnpicklingError("SETITEMS with an odd number of items")
        target = self._dict_target()
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def op_empty_set(self):
        self.push(set())

    def op_additems(self):
        items = self.pop_mark()
        target = self.top()
        if type(target) is not set:
            raise pickle.UnpicklingError(f"can only add items to sets, not to "
                                         f"{type(target).__name__}")
        target.update(items)

    def op_frozenset(self):
        fs = frozenset(self.pop_mark())
        self._nest(fs)
        self.push(fs)

    def _put(self, index):
        if index < 0:
            raise pickle.UnpicklingError("negative memo index")
        self.memo[index] = self.top()

    def _get(self, index):
        try:
            self.push(self.memo[index])
        except KeyError:
            raise pickle.UnpicklingError(f"memo entry {index} read before it was written") \
                from None

    def op_binput(self):
        self._put(self.read(1)[0])

    def op_long_binput(self):
        self._put(struct.unpack("<I", self.read(4))[0])

    def op_memoize(self):
        self._put(len(self.memo))

    def op_put(self):
        self._put(int(self.readline()))

    def op_binget(self):
        self._get(self.read(1)[0])

    def op_long_binget(self):
        self._get(struct.unpack("<I", self.read(4))[0])

    def op_get(self):
        self._get(int(self.readline()))

    def find_global(self, module, name):
        if not isinstance(module, str) or not isinstance(name, str):
            raise pickle.UnpicklingError("STACK_GLOBAL needs two strings")
        module = _RENAMED_MODULES.get(module, module)
        full = f"{module}.{name}"
        if full not in self.table:
            raise pickle.UnpicklingError(unsupported_global_message(full))
        return self.table[full]

    def op_global(self):
        module = self.readline().decode("utf-8")
        name = self.readline().decode("utf-8")
        self.push(self.find_global(module, name))

    def op_stack_global(self):
        name, module = self.pop(), self.pop()
        self.push(self.find_global(module, name))

    def op_reduce(self):
        args = self.pop()
        func = self.top()
        if not isinstance(func, _Global):
            raise pickle.UnpicklingError(f"REDUCE of a {type(func).__name__}, which is not an "
                                         f"allowed function")
        if type(args) is not tuple:
            raise pickle.UnpicklingError(f"REDUCE of {func.name} with arguments that are not "
                                         f"a tuple")
        self.stack[-1] = self._call(func, func.call, args)

    def op_newobj(self):
        args = self.pop()
        cls = self.pop()
        if not isinstance(cls, _Global) or type(args) is not tuple:
            raise pickle.UnpicklingError("NEWOBJ of something that is not an allowed class")
        self.push(self._call(cls, cls.new, args))

    def _call(self, g, method, args):
        try:
            return method(args)
        except (_Bad, _UserCallbackError, CheckpointError):
            raise
        except TypeError as exc:         # wrong number or kind of arguments
            raise _Bad(f"bad arguments for {g.name}: {_short(exc)}") from None

    def op_build(self):
        state = self.pop()
        inst = self.top()
        if type(inst) not in (OrderedDict, Counter):
            raise pickle.UnpicklingError(f"BUILD (setting attributes) of "
                                         f"{type(inst).__name__} is not allowed")
        if type(state) is tuple and len(state) == 2 and state[1] is None:
            state = state[0]
        if state is None:
            return
        if type(state) is not dict or not all(
                isinstance(k, str) and k.isidentifier() and not k.startswith("__")
                for k in state):
            raise pickle.UnpicklingError("BUILD of an OrderedDict with a state that is not a "
                                         "dict of attribute names")
        inst.__dict__.update(state)

    def op_binpersid(self):
        pid = self.pop()
        self.push(self.persistent_load(pid))


_OPS = {
    pickle.PROTO: "proto", pickle.FRAME: "frame", pickle.STOP: "stop", pickle.MARK: "mark",
    pickle.POP: "pop", pickle.POP_MARK: "pop_mark", pickle.DUP: "dup", pickle.NONE: "none",
    pickle.NEWTRUE: "true", pickle.NEWFALSE: "false", pickle.BININT: "binint",
    pickle.BININT1: "binint1", pickle.BININT2: "binint2", pickle.LONG1: "long1",
    pickle.LONG4: "long4", pickle.INT: "int", pickle.LONG: "long",
    pickle.BINFLOAT: "binfloat", pickle.FLOAT: "float", pickle.BINUNICODE: "binunicode",
    pickle.SHORT_BINUNICODE: "short_binunicode", pickle.BINUNICODE8: "binunicode8",
    pickle.SHORT_BINSTRING: "short_binstring", pickle.BINSTRING: "binstring",
    pickle.BINBYTES: "binbytes", pickle.SHORT_BINBYTES: "short_binbytes",
    pickle.BINBYTES8: "binbytes8", pickle.BYTEARRAY8: "bytearray8",
    pickle.EMPTY_TUPLE: "empty_tuple", pickle.TUPLE: "tuple", pickle.TUPLE1: "tuple1",
    pickle.TUPLE2: "tuple2", pickle.TUPLE3: "tuple3", pickle.EMPTY_LIST: "empty_list",
    pickle.LIST: "list", pickle.APPEND: "append", pickle.APPENDS: "appends",
    pickle.EMPTY_DICT: "empty_dict", pickle.DICT: "dict", pickle.SETITEM: "setitem",
    pickle.SETITEMS: "setitems", pickle.EMPTY_SET: "empty_set", pickle.ADDITEMS: "additems",
    pickle.FROZENSET: "frozenset", pickle.BINPUT: "binput", pickle.LONG_BINPUT: "long_binput",
    pickle.MEMOIZE: "memoize", pickle.PUT: "put", pickle.BINGET: "binget",
    pickle.LONG_BINGET: "long_binget", pickle.GET: "get", pickle.GLOBAL: "global",
    pickle.STACK_GLOBAL: "stack_global", pickle.REDUCE: "reduce", pickle.NEWOBJ: "newobj",
    pickle.BUILD: "build", pickle.BINPERSID: "binpersid",
}
_Unpickler.dispatch = {code[0]: getattr(_Unpickler, "op_" + name) for code, name in _OPS.items()}


class _TrustedUnpickler(pickle.Unpickler):
    """``weights_only=False``: the standard unpickler (which runs code from the file), with
    PyTorch's names mapped to ours and PyTorch's own classes refused (we cannot import torch)."""

    def __init__(self, fh, table, persistent_load):
        super().__init__(fh, encoding="utf-8")
        self._table, self._persistent = table, persistent_load

    def find_class(self, module, name):
        module = _RENAMED_MODULES.get(module, module)
        full = f"{module}.{name}"
        if full in self._table:
            value = self._table[full]
            return _TRUSTED_CLASSES.get(full, value)
        if module == "torch" or module.startswith("torch."):
            raise pickle.UnpicklingError(
                f"this file holds a PyTorch object ({_short(full)}), which dlbasic cannot "
                f"rebuild; in PyTorch, save the model's state_dict() instead of the module and "
                f"load that")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        return self._persistent(pid)


_TRUSTED_CLASSES = {"collections.OrderedDict": OrderedDict, "collections.Counter": Counter,
                    "builtins.set": set, "builtins.frozenset": frozenset}


# -- the allowed globals ------------------------------------------------------------------
def _safe_bytes(kind):
    def build(*args):          # never bytes(n) / bytearray(n): n zero bytes from one number
        if not args:
            return kind()
        if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
            return kind(args[0])
        if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
            return kind(args[0], "latin1")
        raise _Bad(f"builtins.{kind.__name__} accepts bytes only")
    return build


def _safe_encode(text, encoding="utf-8", errors="strict"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8",
                                                      "ascii"):
        raise _Bad("_codecs.encode accepts a str and latin1, utf-8 or ascii only")
    return text.encode(encoding, "strict")


def _safe_complex(real=0.0, imag=0.0):
    if not all(isinstance(v, (int, float)) for v in (real, imag)):
        raise _Bad("builtins.complex accepts numbers only")
    return complex(real, imag)


def _safe_slice(*args):
    if not 1 <= len(args) <= 3 or not all(a is None or _is_int(a) for a in args):
        raise _Bad("builtins.slice accepts integers or None only")
    return slice(*args)


def _safe_size(dims=()):
    return Size(_ints(dims, "torch.Size", nonneg=False))


def _safe_device(kind, index=None):
    if not isinstance(kind, (str, int)) or not (index is None or _is_int(index)):
        raise _Bad("torch.device accepts a name and an index only")
    text = str(kind) if index is None else f"{kind}:{index}"
    try:
        return _device(text)
    except (RuntimeError, ValueError):   # a GPU: kept as its name, e.g. 'cuda:0'
        return _short(text, 64)


def _safe_get_layout(name):
    if name != "torch.strided":
        raise _Bad(f"layout {_short(name, 40)} is not supported (dense tensors only)")
    return name


def _unsupported_rebuild(name, what):
    def refuse(*args):
        raise _Bad(f"{what} are not supported by dlbasic (the file calls torch._utils.{name})")
    return refuse


class _UnsupportedDtype:
    """A PyTorch dtype we do not have (torch.bfloat16, ...): loads as a name; a tensor of it
    is refused."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"torch.{self.name}"


class _Reader:
    """What loading one PyTorch file needs: its storages, the allow-list bound to them, and
    the checks that go with each rebuilt tensor."""

    def __init__(self, name, file_size, location, ndarrays=(), budget=None):
        self.name, self.file_size, self.location = name, file_size, location
        self.ndarrays = set(ndarrays)
        self.n_rebuilt = 0
        self.buffers = {}                # key -> _Buffer
        self.typed = {}                  # (key, dtype name) -> 1-d array
        self.allocated = 0
        self.big_endian = False
        self.budget = budget

    # storages
    def allocate(self, nbytes, what):
        self.allocated += nbytes
        if self.allocated > self.file_size:
            raise _truncated(self.name, f"{what}: the storages claim {self.allocated} bytes, "
                                        f"more than the whole file holds ({self.file_size}): "
                                        f"the file is truncated or its sizes are forged; "
                                        f"refusing to allocate them")

    def check_record(self, key, nbytes):
        """Check that storage ``key`` of ``nbytes`` bytes is really in the file."""

    def fill(self, key, buf):
        """Read the bytes of storage ``key`` into ``buf.data``."""

    def register(self, key, nbytes):
        buf = self.buffers.get(key)
        if buf is not None:
            if buf.nbytes != nbytes:
                raise _Bad(f"storage {key} is used with {buf.nbytes} and with {nbytes} bytes")
            return buf
        self.check_record(key, nbytes)
        self.allocate(nbytes, f"storage {key}")
        buf = self.buffers[key] = _Buffer(nbytes)
        return buf

    def persistent_load(self, pid):
        if type(pid) is not tuple or not pid:
            raise _Bad(f"persistent id {_short(pid, 80)} is not a storage record")
        kind = pid[0].decode("ascii", "replace") if isinstance(pid[0], bytes) else pid[0]
        if kind == "module":
            raise _Bad("this file holds a pickled nn.Module class (legacy 'module' record); "
                       "save its state_dict() instead")
        if kind != "storage" or len(pid) not in (5, 6):
            raise _Bad(f"persistent id {_short(pid, 80)} is not a storage record")
        stype, key, location, numel = pid[1:5]
        if not isinstance(stype, _StorageType):
            raise _Bad(f"storage record names {_short(stype, 80)}, not a storage type")
        if stype.unsupported:
            raise _Bad(f"torch.{stype.name} ({stype.unsupported} tensors) is not supported by "
                       f"dlbasic; in PyTorch, convert it with .float() (or .to(...)) before "
                       f"saving")
        if isinstance(key, bytes):
            key = key.decode("ascii", "replace")
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise _Bad(f"storage key {_short(key, 80)!r} is not a plain name: it would point "
                       f"outside the archive's data/ folder")
        if isinstance(location, bytes):
            location = location.decode("ascii", "replace")
        if not isinstance(location, str) or len(location) > 64:
            raise _Bad(f"malformed storage location {_short(location, 80)}")
        if not _is_int(numel) or numel < 0:
            raise _Bad(f"malformed storage size {_short(numel, 40)}")
        self.location.check(location, self.name)
        dtype = stype.dtype
        self.register(key, numel * (1 if dtype is None else dtype.itemsize))
        storage = _Storage(key, dtype, location, numel)
        if len(pid) == 6 and pid[5] is not None:
            storage = self.view_of(storage, pid[5])
        return storage

    def view_of(self, storage, meta):
        raise _Bad("storage views are only known in the legacy format")

    def typed_array(self, key, dtype, shape=None, strides=None, whole=False):
        """The elements of storage ``key`` as a 1-d array of ``dtype``; on first use, when
        ``whole`` (a tensor views the whole storage compactly), that tensor's own array of
        ``shape``, which then holds the storage."""
        buf = self.buffers[key]
        own = None
        if buf.data is None:
            if whole:
                own = np.empty(shape, dtype=dtype.np)
                buf.data = own.reshape(-1).view(np.uint8)
            else:
                buf.data = np.empty(buf.nbytes, dtype=np.uint8)
            self.fill(key, buf)
        if self.big_endian and dtype.itemsize > 1:
            if buf.native is None:              # the bytes are big-endian: swap them once
                buf.data.view(dtype.np).byteswap(inplace=True)
                buf.native = dtype
            elif buf.native.itemsize != dtype.itemsize:
                raise _Bad(f"big-endian storage {key} is viewed as {buf.native.name} and as "
                           f"{dtype.name}; dlbasic can convert it to one of them only")
        if own is not None:
            return own
        k = (key, dtype.name)
        if k not in self.typed:
            if buf.nbytes % dtype.itemsize:
                raise _Bad(f"storage {key} holds {buf.nbytes} bytes, not a whole number of "
                           f"{dtype.name} elements")
            self.typed[k] = buf.data.view(dtype.np)
        return self.typed[k]

    # tensors
    def rebuild_v2(self, storage, storage_offset, size, stride, requires_grad=False,
                   backward_hooks=None, metadata=None):
        if not isinstance(storage, _Storage) or storage.dtype is None:
            raise _Bad("_rebuild_tensor_v2 needs a typed storage")
        return self._tensor(storage, storage.dtype, storage_offset, size, stride,
                            requires_grad, backward_hooks, metadata)

    def rebuild_v1(self, storage, storage_offset, size, stride):
        return self.rebuild_v2(storage, storage_offset, size, stride)

    def rebuild_v3(self, storage, storage_offset, size, stride, requires_grad, backward_hooks,
                   dtype, metadata=None):
        if isinstance(dtype, _UnsupportedDtype):
            raise _Bad(f"torch.{dtype.name} tensors are not supported by dlbasic; in PyTorch, "
                       f"convert them with .float() (or .to(...)) before saving")
        if not isinstance(storage, _Storage) or not isinstance(dtype, _dtype.dtype):
            raise _Bad("_rebuild_tensor_v3 needs a storage and a dtype")
        if storage.dtype is not None and storage.dtype is not dtype:
            raise _Bad("_rebuild_tensor_v3: the storage's dtype differs from the tensor's")
        return self._tensor(storage, dtype, storage_offset, size, stride, requires_grad,
                            backward_hooks, metadata)

    def _tensor(self, storage, dtype, offset, size, stride, requires_grad, hooks, metadata):
        index = self.n_rebuilt
        self.n_rebuilt += 1
        shape = _ints(size, "tensor size")
        strides = _ints(stride, "tensor stride")
        if len(strides) != len(shape):
            raise _Bad(f"tensor of size {shape} has {len(strides)} strides")
        if not _is_int(offset) or offset < 0:
            raise _Bad(f"malformed storage offset {_short(offset, 40)}")
        if not isinstance(requires_grad, bool):
            raise _Bad("malformed requires_grad")
        if hooks:
            raise _Bad("tensors with backward hooks are not supported")
        if metadata:
            raise _Bad(f"tensor metadata {_short(metadata, 80)} is not supported")
        nbytes = self.buffers[storage.key].nbytes
        if storage.dtype is None:               # untyped: its size counts bytes
            if nbytes % dtype.itemsize:
                raise _Bad(f"storage {storage.key} holds {nbytes} bytes, not a whole number "
                           f"of {dtype.name} elements")
            count = nbytes // dtype.itemsize
        else:
            count = storage.numel
        numel = 1
        for n in shape:
            numel *= n
        if numel * dtype.itemsize >= 1 << 62:
            raise _Bad(f"a tensor of size {shape} is too big to exist")
        ext = _extent(shape, strides, offset, 1)
        if ext is None:
            if offset > count:
                raise _Bad(f"tensor offset {offset} is past the end of its storage "
                           f"({count} elements)")
        elif ext[1] > count:
            raise _Bad(f"a tensor of size {shape} with strides {strides} at offset {offset} "
                       f"needs {ext[1]} elements of storage {storage.key}, which holds {count}")
        whole = (storage.base == 0 and offset == 0 and numel == count
                 and count * dtype.itemsize == nbytes and count > 0
                 and list(strides) == _c_strides(shape, 1))
        array = self.typed_array(storage.key, dtype, shape, strides, whole)
        if array.shape == shape and whole:
            arr = array
        else:
            isz = dtype.itemsize
            arr = np.ndarray(shape, dtype=array.dtype, buffer=array,
                             offset=(storage.base + offset) * isz,
                             strides=tuple(s * isz for s in strides))
        if index in self.ndarrays:
            return arr
        if requires_grad and not dtype.is_floating_point:
            raise _Bad("an integer tensor cannot require grad")
        t = Tensor._make(arr, requires_grad=requires_grad)
        t._vbox = self.buffers[storage.key].vbox
        return self.location.apply(t, storage.location)

    def rebuild_parameter(self, data, requires_grad, backward_hooks=None):
        from .nn.parameter import Parameter
        if not isinstance(data, Tensor) or not isinstance(requires_grad, bool):
            raise _Bad("_rebuild_parameter needs a tensor and a bool")
        if backward_hooks:
            raise _Bad("parameters with backward hooks are not supported")
        if requires_grad and not data.dtype.is_floating_point:
            raise _Bad("an integer parameter cannot require grad")
        return Parameter(data, requires_grad=requires_grad)

    def rebuild_parameter_with_state(self, data, requires_grad, backward_hooks, state):
        p = self.rebuild_parameter(data, requires_grad, backward_hooks)
        _set_state(p, state)
        return p

    def new_parameter(self, data=None, requires_grad=True):
        return self.rebuild_parameter(data, requires_grad)

    def rebuild_from_type(self, func, new_type, args, state):
        if not isinstance(func, _Global) or func.name not in (
                "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
                "torch._utils._rebuild_tensor_v3", "torch._utils._rebuild_parameter"):
            raise _Bad("_rebuild_from_type_v2 of something that is not a tensor")
        if new_type not in (self._table[_TORCH_TENSOR], self._table[_TORCH_PARAMETER]):
            raise _Bad("tensor subclasses other than Parameter are not supported")
        if type(args) is not tuple:
            raise _Bad("_rebuild_from_type_v2 needs an argument tuple")
        t = func.call(args)
        if new_type is self._table[_TORCH_PARAMETER] and type(t) is Tensor:
            t = self.rebuild_parameter(t, t.requires_grad)
        _set_state(t, state)
        return t

    def build_table(self):
        bad = _unsupported_rebuild
        g = {}

        def add(name, call, new=None):
            g[name] = _Global(name, call, new)

        budget = self.budget

        def counted(fn):
            def run(*args):
                for a in args:
                    if isinstance(a, (list, tuple, set, frozenset, dict, str, bytes)):
                        budget.charge(len(a))
                return fn(*args)
            return run

        add("collections.OrderedDict",
            counted(lambda items=(): OrderedDict(_plain_sequence(items, "OrderedDict"))
                    if items != () else OrderedDict()), lambda *a: OrderedDict())
        add("collections.Counter", counted(_counter), lambda *a: Counter())
        add("builtins.set", counted(lambda items=(): set(_plain_sequence(items, "set"))),
            lambda *a: set())
        add("builtins.frozenset",
            counted(lambda items=(): frozenset(_plain_sequence(items, "frozenset"))))
        add("builtins.bytearray", counted(_safe_bytes(bytearray)))
        add("builtins.bytes", counted(_safe_bytes(bytes)))   # pickle's b'' (torch refuses it)
        add("builtins.complex", _safe_complex)
        add("builtins.slice", _safe_slice)
        add("_codecs.encode", counted(_safe_encode))
        add("torch.Size", counted(_safe_size))
        add("torch.device", _safe_device)
        add("torch.serialization._get_layout", _safe_get_layout)
        add("torch._utils._rebuild_tensor_v2", self.rebuild_v2)
        add("torch._utils._rebuild_tensor", self.rebuild_v1)
        add("torch._utils._rebuild_tensor_v3", self.rebuild_v3)
        add("torch._utils._rebuild_parameter", self.rebuild_parameter)
        add("torch._utils._rebuild_parameter_with_state", self.rebuild_parameter_with_state)
        add("torch._tensor._rebuild_from_type_v2", self.rebuild_from_type)
        add(_TORCH_PARAMETER, self.new_parameter, self.new_parameter)
        add(_TORCH_TENSOR, bad("Tensor", "torch.Tensor(...) objects"))
        for fn, what in _NOT_SUPPORTED_REBUILDS.items():
            add(f"torch._utils.{fn}", bad(fn, what))
        for name, dt in _TORCH_DTYPES.items():
            g[f"torch.{name}"] = dt
        for name in _UNSUPPORTED_DTYPES:
            g[f"torch.{name}"] = _UnsupportedDtype(name)
        for module in ("torch", "torch.cuda"):
            for name, dt in _STORAGE_DTYPES.items():
                g[f"{module}.{name}"] = _StorageType(name, dt)
            for name, what in _UNSUPPORTED_STORAGES.items():
                g[f"{module}.{name}"] = _StorageType(name, None, what)
        g["torch.storage.UntypedStorage"] = _StorageType("UntypedStorage", None)
        g["torch.UntypedStorage"] = g["torch.storage.UntypedStorage"]
        self._table = g
        return g


def _counter(items=None):
    if items is None:
        return Counter()
    if type(items) not in (dict, OrderedDict, Counter):
        raise _Bad("collections.Counter accepts a dict only")
    return Counter(items)


def _set_state(obj, state):
    """Attributes a PyTorch file restores on a tensor (``_rebuild_parameter_with_state``):
    only new names, never one of the Tensor class's own."""
    if state is None:
        return
    slots = None
    if type(state) is tuple and len(state) == 2:
        state, slots = state
    for part in (state, slots):
        if part is None:
            continue
        if type(part) is not dict:
            raise _Bad("tensor state is not a dict")
        for k, v in part.items():
            if not isinstance(k, str) or not k.isidentifier() or k.startswith("_") or hasattr(
                    Tensor, k) or hasattr(obj, k):
                raise _Bad(f"tensor state may not set attribute {_short(k, 40)!r}")
            setattr(obj, k, v)


class MapLocation:
    """``map_location`` of ``load``: where storages saved on another device go (the CPU, the
    only device), and the caller's ``fn(tensor, location)`` if one is given."""

    def __init__(self, map_location):
        self.raw = map_location
        self.fn = None
        if map_location is None or isinstance(map_location, dict):
            pass
        elif isinstance(map_location, (str, _device)):
            cpu_device(map_location)           # 'cuda' raises a clear error
        elif callable(map_location):
            self.fn = map_location
        else:
            raise TypeError(f"map_location should be a str, device, dict or callable, got "
                            f"{type(map_location).__name__}")

    def check(self, location, name):
        if location == "cpu" or location.startswith("cpu:"):
            return
        m = self.raw
        if m is None:
            raise _fail(name, f"Attempting to deserialize object on a {_short(location, 40)} "
                              f"device but dlbasic runs on the CPU only. Please use "
                              f"dlbasic.load with map_location='cpu' to map your storages to "
                              f"the CPU.")
        if isinstance(m, dict):
            target = m.get(location, location)
            try:
                ok = _device(target).type == "cpu"
            except (RuntimeError, TypeError, ValueError):
                ok = False
            if not ok:
                raise _fail(name, f"map_location maps storage location {_short(location, 40)}"
                                  f" to {_short(target, 40)}, but dlbasic runs on the CPU "
                                  f"only; map it to 'cpu'")

    def apply(self, t, location):
        if self.fn is None:
            return t
        try:
            out = self.fn(t, location)
        except Exception as exc:          # noqa: BLE001 - the caller's own error, as it is
            raise _UserCallbackError(exc) from None
        return out if isinstance(out, Tensor) else t


# -- the zip format ---------------------------------------------------------------------------
class _ZipReader(_Reader):
    def __init__(self, zf, prefix, name, file_size, location, ndarrays, budget):
        super().__init__(name, file_size, location, ndarrays, budget)
        self.zf, self.prefix = zf, prefix
        self.infos = {}

    def check_record(self, key, nbytes):
        member = f"{self.prefix}/data/{key}"
        info = _record(self.zf, member, self.name, self.file_size, f"storage {key}")
        if info.file_size != nbytes:
            raise _fail(self.name, f"storage {key} needs {nbytes} bytes but record {member} "
                                   f"holds {info.file_size}")
        self.infos[key] = info

    def fill(self, key, buf):
        _read_member_into(self.zf, self.infos[key], buf.data, self.name)


def _record(zf, member, name, file_size, what):
    """The zip entry of a record, checked to hold raw bytes that really are in the file."""
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise _fail(name, f"{what}: archive record {_short(member)} is missing") from None
    if info.compress_type != zipfile.ZIP_STORED:
        raise _fail(name, f"{what}: record {_short(member)} is compressed; PyTorch and dlbasic "
                          f"store records uncompressed, and a compressed record can hide a "
                          f"zip bomb, so it is refused")
    if info.compress_size != info.file_size:
        raise _fail(name, f"{what}: record {_short(member)} declares {info.file_size} bytes "
                          f"but stores {info.compress_size}")
    if info.header_offset + info.file_size > file_size:
        raise _truncated(name, f"{what}: record {_short(member)} extends past the end of the "
                               f"file (truncated, or sizes larger than the file)")
    return info


def _read_small(zf, member, name, file_size, limit, what):
    info = _record(zf, member, name, file_size, what)
    if info.file_size > limit:
        raise _fail(name, f"{what}: record {_short(member)} is implausibly large "
                          f"({info.file_size} bytes)")
    buf = np.empty(info.file_size, dtype=np.uint8)
    _read_member_into(zf, info, buf, name)
    return buf.tobytes()


def load_zip(zf, name, file_size, location, weights_only):
    """The object a torch.save (or dlbasic.save) zip archive holds."""
    names = zf.namelist()
    first = names[0] if names else ""
    if "/" not in first:
        raise _fail(name, "not a PyTorch checkpoint: its first record is not in a folder")
    prefix = first.split("/", 1)[0]
    present = set(names)
    if f"{prefix}/constants.pkl" in present or any(n.startswith(f"{prefix}/code/")
                                                   for n in names):
        raise _fail(name, "this is a TorchScript archive (torch.jit.save); dlbasic.load reads "
                          "files written by torch.save and dlbasic.save only")
    if f"{prefix}/data.pkl" not in present:
        raise _fail(name, f"not a PyTorch checkpoint: the archive has no {_short(prefix)}/"
                          f"data.pkl")
    big = False
    if f"{prefix}/byteorder" in present:
        order = _read_small(zf, f"{prefix}/byteorder", name, file_size, 16, "byteorder")
        order = order.strip()
        if order not in (b"little", b"big"):
            raise _fail(name, f"Unknown endianness type: {_short(order, 20)}")
        big = order == b"big"
    ndarrays = ()
    if f"{prefix}/{_MARKER}" in present:
        ndarrays = _read_marker(zf, f"{prefix}/{_MARKER}", name, file_size)
    info = _record(zf, f"{prefix}/data.pkl", name, file_size, "data.pkl")
    pkl = np.empty(info.file_size, dtype=np.uint8)
    _read_member_into(zf, info, pkl, name)
    pkl = pkl.tobytes()
    reader = _ZipReader(zf, prefix, name, file_size, location, ndarrays, _Budget(len(pkl)))
    reader.big_endian = big
    table = reader.build_table()
    return _unpickle(io.BytesIO(pkl), 0, len(pkl), table, reader.persistent_load, name,
                     weights_only, budget=reader.budget)


def _read_marker(zf, member, name, file_size):
    raw = _read_small(zf, member, name, file_size, _MAX_MARKER, "dlbasic record")
    try:
        info = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _fail(name, f"corrupt record {_short(member)}: bad JSON") from None
    if not isinstance(info, dict) or info.get("writer") != "dlbasic" or not isinstance(
            info.get("ndarrays"), list) or not all(_is_int(i) for i in info["ndarrays"]):
        raise _fail(name, f"corrupt record {_short(member)}")
    return info["ndarrays"]


def _unpickle(fh, start, end, table, persistent_load, name, weights_only, budget=None):
    """The object the pickle at ``fh[start:end]`` holds, errors naming the file."""
    if weights_only:
        up = _Unpickler(fh, start, end, table, persistent_load,
                        budget if budget is not None else _Budget(end - start))
    else:
        up = _TrustedUnpickler(fh, table, persistent_load)
    try:
        return up.load()
    except (_UserCallbackError, CheckpointError):
        raise
    except (_PickleEOF, EOFError):
        raise _truncated(name, "truncated: the pickle ends before its STOP opcode") from None
    except _Bad as exc:
        raise _fail(name, str(exc)) from None
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if text.startswith("Unsupported global"):
            text = weights_only_message(text)
        raise _fail(name, text) from None
    except RecursionError:
        raise _fail(name, "corrupt pickle: nesting too deep") from None
    except Exception as exc:              # hashing a bad key, int() of bad text, ...
        if not weights_only:              # the file's own code failed: its error, as it is
            raise
        raise _fail(name, f"corrupt pickle ({type(exc).__name__}: {_short(exc)})") from None


# -- the legacy format (torch.save before 1.6, or _use_new_zipfile_serialization=False) -----
class _LegacyReader(_Reader):
    """Storages come after the object pickle: tensors view buffers that are filled later."""

    def __init__(self, name, file_size, location, budget):
        super().__init__(name, file_size, location, (), budget)
        self.expected = {}               # key -> element count the object pickle declared
        self.views = {}

    def persistent_load(self, pid):
        storage = super().persistent_load(pid)
        self.expected.setdefault(storage.key, pid[4])
        return storage

    def view_of(self, storage, meta):
        if type(meta) is not tuple or len(meta) != 3:
            raise _Bad("malformed storage view record")
        key, offset, size = meta
        if not isinstance(key, str) or not _is_int(offset) or not _is_int(size) or offset < 0 \
                or size < 0 or offset + size > storage.numel:
            raise _Bad(f"storage view {_short(meta, 80)} lies outside storage {storage.key}")
        if key not in self.views:
            self.views[key] = _Storage(storage.key, storage.dtype, storage.location, size,
                                       offset)
        return self.views[key]


def load_legacy(fh, name, file_size, location, weights_only):
    start = fh.tell()
    plain = {}                          # the header pickles hold plain data only

    def no_storage(pid):
        raise _Bad("unexpected persistent id in a header pickle")

    def header(what):
        try:
            return _unpickle(fh, fh.tell(), file_size, plain, no_storage, name, True)
        except CheckpointError as exc:
            if isinstance(exc, TruncatedCheckpointError):
                raise
            text = str(exc)
            inner = (text.split("WeightsUnpickler error: ")[-1] if "WeightsUnpickler" in text
                     else text[len(name) + 2:])
            raise _fail(name, f"{what} ({inner})") from None
    plain_pickle = ("this is a plain pickle file, not a checkpoint written by torch.save or "
                    "dlbasic.save; dlbasic.load never unpickles arbitrary pickle files, "
                    "because loading a pickle can execute arbitrary code")
    magic = header(plain_pickle)
    if magic != _MAGIC_NUMBER or type(magic) is not int:
        raise _fail(name, f"Invalid magic number; corrupt file? ({plain_pickle})")
    protocol = header("corrupt legacy checkpoint: bad protocol version record")
    if protocol != _LEGACY_PROTOCOL:
        raise _fail(name, f"Invalid protocol version: {_short(protocol, 20)}")
    sys_info = header("corrupt legacy checkpoint: bad system info record")
    if not isinstance(sys_info, dict):
        raise _fail(name, "corrupt legacy checkpoint: bad system info record")
    if not weights_only:
        _warn_unsafe()
    reader = _LegacyReader(name, file_size - start, location, _Budget(file_size - fh.tell()))
    table = reader.build_table()
    pos = fh.tell()
    obj = _unpickle(fh, pos, file_size, table, reader.persistent_load, name, weights_only,
                    budget=reader.budget)
    keys = _unpickle(fh, fh.tell(), file_size, plain, no_storage, name, True)
    if type(keys) is not list or not all(isinstance(k, str) for k in keys):
        raise _fail(name, "corrupt legacy checkpoint: bad storage key list")
    filled = set()
    for key in keys:
        if key not in reader.buffers or key in filled:
            raise _fail(name, f"corrupt legacy checkpoint: storage key {_short(key, 40)!r} is "
                              f"not used by the object or listed twice")
        buf = reader.buffers[key]
        numel = reader.expected[key]
        head = fh.read(8)
        if len(head) < 8:
            raise _truncated(name, f"truncated: the file ends before storage {key}")
        stored = int.from_bytes(head, "little", signed=True)
        if stored != numel:
            raise _fail(name, f"storage {key} has wrong size: expected {numel} got {stored}")
        if fh.tell() + buf.nbytes > file_size:
            raise _truncated(name, f"truncated: storage {key} ({buf.nbytes} bytes) extends "
                                   f"past the end of the file")
        if buf.data is None:
            buf.data = np.empty(buf.nbytes, dtype=np.uint8)
        view = memoryview(buf.data)
        pos = 0
        while pos < buf.nbytes:
            n = fh.readinto(view[pos:pos + (1 << 24)])
            if not n:
                raise _truncated(name, f"truncated: the file ends inside storage {key}")
            pos += n
        filled.add(key)
    missing = set(reader.buffers) - filled
    if missing:
        raise _fail(name, f"corrupt legacy checkpoint: storage {_short(sorted(missing)[0])} "
                          f"has no data")
    return obj


def _warn_unsafe():
    warnings.warn("dlbasic.load(..., weights_only=False) unpickles with the pickle module, "
                  "which can execute arbitrary code from the file: it is possible to construct "
                  "malicious pickle data which will execute arbitrary code during unpickling. "
                  "Only load files you got from a source you trust; weights_only=True (the "
                  "default) loads tensors and plain containers without that risk.",
                  UserWarning, stacklevel=5)


# -- writing ----------------------------------------------------------------------------------
class UnpicklableError(pickle.PicklingError, TypeError):
    """An object ``save`` cannot pickle (a lambda, a local class, an open file, ...)."""


class _Slot:
    """A place in the pickle for a tensor's storage and view, filled once the layout is known."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


def _dtype_of(arr):
    return _dtype._BY_NP.get(arr.dtype.newbyteorder("="))


class _Pickler:
    """Emits a protocol-2 pickle of an object tree the way ``torch.save`` pickles it.

    Tensors become ``_rebuild_tensor_v2`` / ``_rebuild_parameter`` calls over persistent
    storage ids; containers, numbers, strings, dtypes, ``Size`` and ``device`` use the opcodes
    and globals PyTorch's weights-only unpickler accepts. Any other object goes through the
    standard reduce protocol (``__reduce_ex__(2)``), like ``pickle`` would write it.
    """

    def __init__(self):
        self.out = []                # bytes pieces and _Slot markers
        self.memo = {}               # id(obj) -> (index, obj)
        self.globals = {}            # "module\nname" -> memo index
        self.arrays = []             # arrays of the tensors, in slot order
        self.n_memo = 0
        self.n_rebuilds = 0
        self.ndarray_rebuilds = []

    def write(self, data):
        self.out.append(data)

    def dump(self, obj):
        self.write(pickle.PROTO + b"\x02")
        self.save(obj, 0)
        self.write(pickle.STOP)

    # memo
    def _next_memo(self):
        idx = self.n_memo
        self.n_memo += 1
        self.write(pickle.BINPUT + bytes([idx]) if idx < 256
                   else pickle.LONG_BINPUT + struct.pack("<I", idx))
        return idx

    def _put(self, obj):
        self.memo[id(obj)] = (self._next_memo(), obj)

    def _get(self, idx):
        self.write(pickle.BINGET + bytes([idx]) if idx < 256
                   else pickle.LONG_BINGET + struct.pack("<I", idx))

    def _memoized(self, obj):
        hit = self.memo.get(id(obj))
        if hit is not None and hit[1] is obj:
            self._get(hit[0])
            return True
        return False

    # scalars
    def save_int(self, n):
        if 0 <= n < 256:
            self.write(pickle.BININT1 + bytes([n]))
        elif 0 <= n < 65536:
            self.write(pickle.BININT2 + struct.pack("<H", n))
        elif -(1 << 31) <= n < (1 << 31):
            self.write(pickle.BININT + struct.pack("<i", n))
        else:
            raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
            if len(raw) < 256:
                self.write(pickle.LONG1 + bytes([len(raw)]) + raw)
            else:
                self.write(pickle.LONG4 + struct.pack("<i", len(raw)) + raw)

    def save_str(self, s):
        raw = s.encode("utf-8", "surrogatepass")
        self.write(pickle.BINUNICODE + struct.pack("<I", len(raw)) + raw)

    def save_float(self, x):
        self.write(pickle.BINFLOAT + struct.pack(">d", x))

    def save_global_name(self, module, name):
        key = f"{module}\n{name}\n"
        if key in self.globals:
            self._get(self.globals[key])
            return
        self.write(pickle.GLOBAL + key.encode("utf-8"))
        self.globals[key] = self._next_memo()

    def _call(self, module, name, args, depth):
        """GLOBAL module.name, then REDUCE with ``args`` (a tuple of values to save)."""
        self.save_global_name(module, name)
        self.save_tuple_items(args, depth)
        self.write(pickle.REDUCE)

    def save_tuple_items(self, items, depth):
        n = len(items)
        if n == 0:
            self.write(pickle.EMPTY_TUPLE)
            return
        if n > 3:
            self.write(pickle.MARK)
        for v in items:
            self.save(v, depth + 1)
        self.write(pickle.TUPLE if n > 3 else (pickle.TUPLE1, pickle.TUPLE2, pickle.TUPLE3)[n - 1])

    # the tree
    def save(self, obj, depth):
        if depth > _MAX_DEPTH:
            raise ValueError(f"dlbasic.save: containers nested deeper than {_MAX_DEPTH} levels")
        t = type(obj)
        if obj is None:
            self.write(pickle.NONE)
        elif t is bool or t is np.bool_:
            self.write(pickle.NEWTRUE if obj else pickle.NEWFALSE)
        elif t is int or isinstance(obj, np.integer):
            self.save_int(int(obj))
        elif t is float or isinstance(obj, np.floating):
            self.save_float(float(obj))
        elif t is str:
            self.save_str(obj)
        elif t is complex or isinstance(obj, np.complexfloating):
            self._call("builtins", "complex", (float(obj.real), float(obj.imag)), depth)
        elif self._memoized(obj):
            pass
        elif t is bytes:
            self._call("_codecs", "encode", (obj.decode("latin1"), "latin1"), depth)
            self._put(obj)
        elif t is bytearray:
            self._call("builtins", "bytearray", (bytes(obj),), depth)
            self._put(obj)
        elif isinstance(obj, Tensor):
            self.save_tensor(obj, depth)
        elif isinstance(obj, np.ndarray):
            self.save_array(obj, obj, requires_grad=False, ndarray=True)
            self._put(obj)
        elif t is _dtype.dtype:
            self.save_global_name("torch", obj.name)
        elif t is _device:
            self._call("torch", "device", (str(obj),), depth)
        elif t is Size:
            self._call("torch", "Size", (tuple(int(s) for s in obj),), depth)
            self._put(obj)
        elif t is tuple:
            self.save_tuple(obj, depth)
        elif t is list:
            self.write(pickle.EMPTY_LIST)
            self._put(obj)
            self._items(obj, depth, pickle.APPENDS, pickle.APPEND)
        elif t is dict:
            self.write(pickle.EMPTY_DICT)
            self._put(obj)
            self._pairs(obj.items(), depth)
        elif t is OrderedDict:
            self.save_global_name("collections", "OrderedDict")
            self.write(pickle.EMPTY_TUPLE + pickle.REDUCE)
            self._put(obj)
            self._pairs(obj.items(), depth)
            state = getattr(obj, "__dict__", None)
            if state:
                self.save(dict(state), depth + 1)
                self.write(pickle.BUILD)
        elif t is Counter:
            self._call("collections", "Counter", (dict(obj),), depth)
            self._put(obj)
        elif t is set or t is frozenset:
            self._call("builtins", t.__name__, (list(obj),), depth)
            self._put(obj)
        else:
            self.save_object(obj, depth)

    def save_tuple(self, obj, depth):
        n = len(obj)
        if n == 0:
            self.write(pickle.EMPTY_TUPLE)
            return
        if n > 3:
            self.write(pickle.MARK)
        for v in obj:
            self.save(v, depth + 1)
        hit = self.memo.get(id(obj))
        if hit is not None and hit[1] is obj:   # an item refers back to this tuple
            self.write(pickle.POP_MARK if n > 3 else pickle.POP * n)
            self._get(hit[0])
            return
        self.write(pickle.TUPLE if n > 3 else (pickle.TUPLE1, pickle.TUPLE2, pickle.TUPLE3)[n - 1])
        self._put(obj)

    def _items(self, items, depth, many, one):
        items = list(items)
        for start in range(0, len(items), 1000):
            batch = items[start:start + 1000]
            if len(batch) == 1:
                self.save(batch[0], depth + 1)
                self.write(one)
                continue
            self.write(pickle.MARK)
            for v in batch:
                self.save(v, depth + 1)
            self.write(many)

    def _pairs(self, pairs, depth):
        pairs = list(pairs)
        for start in range(0, len(pairs), 1000):
            batch = pairs[start:start + 1000]
            if len(batch) == 1:
                self.save(batch[0][0], depth + 1)
                self.save(batch[0][1], depth + 1)
                self.write(pickle.SETITEM)
                continue
            self.write(pickle.MARK)
            for k, v in batch:
                self.save(k, depth + 1)
                self.save(v, depth + 1)
            self.write(pickle.SETITEMS)

    # tensors
    def save_tensor(self, obj, depth):
        from .nn.parameter import Parameter
        if isinstance(obj, Parameter):
            self.save_global_name("torch._utils", "_rebuild_parameter")
            self.write(pickle.MARK)
            self.save_array(obj, obj._data, requires_grad=False, ndarray=False)
            self.write(pickle.NEWTRUE if obj.requires_grad else pickle.NEWFALSE)
            self._hooks()
            self.write(pickle.TUPLE + pickle.REDUCE)
        else:
            self.save_array(obj, obj._data, requires_grad=obj.requires_grad, ndarray=False)
        self._put(obj)

    def _hooks(self):
        self.save_global_name("collections", "OrderedDict")
        self.write(pickle.EMPTY_TUPLE + pickle.REDUCE)

    def save_array(self, owner, arr, requires_grad, ndarray):
        if _dtype_of(arr) is None:
            raise UnpicklableError(f"dlbasic.save: unsupported dtype {arr.dtype} (dlbasic "
                                   f"stores the dtypes of dlbasic tensors only)")
        self.save_global_name("torch._utils", "_rebuild_tensor_v2")
        self.write(pickle.MARK)
        self.out.append(_Slot(len(self.arrays)))
        self.arrays.append(arr)
        self.write(pickle.NEWTRUE if requires_grad else pickle.NEWFALSE)
        self._hooks()
        self.write(pickle.TUPLE + pickle.REDUCE)
        if ndarray:
            self.ndarray_rebuilds.append(self.n_rebuilds)
        self.n_rebuilds += 1

    # any other object: the reduce protocol, as pickle does it
    def save_object(self, obj, depth):
        if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)):
            if obj in (type(None), type(Ellipsis), type(NotImplemented)):
                self._reduce(obj, (type, (obj if obj is not type(None) else None,)), depth)
                return
            self.save_global(obj)
            return
        reducer = copyreg.dispatch_table.get(type(obj))
        if reducer is not None:
            rv = reducer(obj)
        else:
            try:
                rv = obj.__reduce_ex__(2)
            except TypeError as exc:
                raise UnpicklableError(f"dlbasic.save cannot pickle {_typename(obj)}: "
                                       f"{exc}") from None
        if isinstance(rv, str):
            self.save_global(obj, rv)
            return
        if not isinstance(rv, tuple) or not 2 <= len(rv) <= 6:
            raise UnpicklableError(f"{_typename(obj)}.__reduce_ex__ returned {rv!r:.80}")
        self._reduce(obj, rv, depth)

    def _reduce(self, obj, rv, depth):
        func, args = rv[0], rv[1]
        state, listitems, dictitems, setter = (tuple(rv[2:]) + (None,) * 4)[:4]
        if getattr(func, "__name__", "") == "__newobj__":
            cls = args[0]
            self.save(cls, depth + 1)
            self.save_tuple_items(tuple(args[1:]), depth)
            self.write(pickle.NEWOBJ)
        elif getattr(func, "__name__", "") == "__newobj_ex__":
            cls, a, kw = args
            self.save(functools.partial(cls.__new__, cls, *a, **kw), depth + 1)
            self.write(pickle.EMPTY_TUPLE + pickle.REDUCE)
        else:
            self.save(func, depth + 1)
            self.save_tuple_items(tuple(args), depth)
            self.write(pickle.REDUCE)
        hit = self.memo.get(id(obj))
        if hit is not None and hit[1] is obj:
            self.write(pickle.POP)
            self._get(hit[0])
        else:
            self._put(obj)
        if listitems is not None:
            self._items(listitems, depth, pickle.APPENDS, pickle.APPEND)
        if dictitems is not None:
            self._pairs(dictitems, depth)
        if state is not None:
            if setter is not None:
                self.save(setter, depth + 1)
                self._get(self.memo[id(obj)][0])
                self.save(state, depth + 1)
                self.write(pickle.TUPLE2 + pickle.REDUCE + pickle.POP)
            else:
                self.save(state, depth + 1)
                self.write(pickle.BUILD)

    def save_global(self, obj, name=None):
        module = getattr(obj, "__module__", None)
        qualname = name or getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        if not module or not qualname or "<lambda>" in qualname or "<locals>" in qualname:
            raise UnpicklableError(f"Can't pickle {obj!r}: it is a lambda or a local object; "
                                   f"dlbasic.save stores module-level functions and classes "
                                   f"only, by name")
        try:
            found = importlib.import_module(module)
            for part in qualname.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError):
            found = None
        if found is not obj:
            raise UnpicklableError(f"Can't pickle {obj!r}: it's not found as "
                                   f"{module}.{qualname}")
        self._global_path(module, qualname.split("."))
        self._put(obj)

    def _global_path(self, module, parts):
        """GLOBAL module.name; a nested name (protocol 2 has no dotted GLOBAL) as
        getattr(parent, name)."""
        if len(parts) == 1:
            self.save_global_name(module, parts[0])
            return
        self.save_global_name("builtins", "getattr")
        self._global_path(module, parts[:-1])
        self.save_str(parts[-1])
        self.write(pickle.TUPLE2 + pickle.REDUCE)


def _typename(obj):
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


# -- layout: which storage each tensor views ---------------------------------------------------
class Payload:
    """What ``save`` writes: the pickle and the storages, ready to stream into a zip archive."""

    def __init__(self, pickle_bytes, storages, ndarrays):
        self.pickle_bytes = pickle_bytes
        self.storages = storages                    # [uint8 arrays], data/<i>
        self.marker = json.dumps({"writer": "dlbasic", "format": _FORMAT_VERSION,
                                  "ndarrays": ndarrays}).encode("ascii")

    def records(self):
        """(name, bytes-like, aligned) of every record, in torch.save's order."""
        yield f"{_ARCHIVE}/data.pkl", self.pickle_bytes, False
        yield f"{_ARCHIVE}/.format_version", b"1", False
        yield f"{_ARCHIVE}/.storage_alignment", str(_ALIGNMENT).encode(), False
        yield f"{_ARCHIVE}/byteorder", b"little", False
        for i, blob in enumerate(self.storages):
            yield f"{_ARCHIVE}/data/{i}", blob, True
        yield f"{_ARCHIVE}/version", f"{_FORMAT_VERSION}\n".encode(), False
        yield f"{_ARCHIVE}/{_MARKER}", self.marker, False


def encode(obj):
    """Pickle ``obj`` and lay its tensors out in storages (nothing is written yet)."""
    p = _Pickler()
    try:
        p.dump(obj)
    except UnpicklableError as exc:
        if hasattr(obj, "state_dict"):
            raise UnpicklableError(f"{exc}; to save a model's weights, save its state_dict() "
                                   f"instead") from None
        raise
    storages, views = _layout(p.arrays)
    pieces = []
    for piece in p.out:
        if isinstance(piece, _Slot):
            pieces.append(_view_bytes(*views[piece.index]))
        else:
            pieces.append(piece)
    return Payload(b"".join(pieces), storages, p.ndarray_rebuilds)


def _view_bytes(storage_index, dtype, numel, offset, shape, strides):
    """``('storage', torch.<T>Storage, key, 'cpu', numel)`` as BINPERSID, then offset, size
    and stride: the first four arguments of _rebuild_tensor_v2 (no memo inside a slot)."""
    w = _Pickler()
    w.write(pickle.MARK)
    w.save_str("storage")
    w.write(pickle.GLOBAL + f"torch\n{_STORAGE_OF[dtype.name]}\n".encode())
    w.save_str(str(storage_index))
    w.save_str("cpu")
    w.save_int(numel)
    w.write(pickle.TUPLE + pickle.BINPERSID)
    w.save_int(offset)
    for seq in (shape, strides):
        w.save_tuple_items(tuple(int(s) for s in seq), 0)
    return b"".join(w.out)


def _layout(arrays):
    """Storages (uint8 arrays) and, per array, (storage, dtype, numel, offset, shape, strides)
    with offset and strides in elements, as PyTorch records them.

    Arrays that share elements form a group whose storage spans the bytes from its lowest to
    its highest address, each member a view into it -- when the group has one dtype, element-
    aligned offsets and non-negative strides (PyTorch's storages are typed and its strides are
    not negative). Every other array gets a compact storage of just its values.
    """
    spans = []
    if np.little_endian:
        for i, arr in enumerate(arrays):
            ext = _extent(arr.shape, arr.strides, _address(arr), arr.itemsize)
            if ext is not None and arr.dtype.byteorder != ">":
                spans.append((ext[0], ext[1], i))
    storages, views = [], [None] * len(arrays)
    for members in _sharing_groups(arrays, spans):
        group = [arrays[i] for i in members]
        dts = {_dtype_of(a) for a in group}
        if len(dts) != 1:
            continue
        dt = dts.pop()
        isz = dt.itemsize
        mine = set(members)
        lo = min(s[0] for s in spans if s[2] in mine)
        hi = max(s[1] for s in spans if s[2] in mine)
        if any((_address(a) - lo) % isz or any(s < 0 or s % isz for s in a.strides)
               for a in group) or (hi - lo) % isz:
            continue
        blob = _bytes_spanning(group, lo, hi)
        if blob is None:
            continue
        for i in members:
            a = arrays[i]
            views[i] = (len(storages), dt, (hi - lo) // isz, (_address(a) - lo) // isz,
                        a.shape, [s // isz for s in a.strides])
        storages.append(blob)
    for i, arr in enumerate(arrays):
        if views[i] is None:
            arr = _compact_little_endian(arr)
            dt = _dtype_of(arr)
            views[i] = (len(storages), dt, arr.size, 0, arr.shape,
                        [s // arr.itemsize for s in _c_strides(arr.shape, arr.itemsize)])
            storages.append(arr.reshape(-1).view(np.uint8))
    return storages, views


def _compact_little_endian(arr):
    """``arr``'s values in a C-ordered little-endian array (a copy only where needed)."""
    if not arr.flags.c_contiguous:      # (np.ascontiguousarray would make 0-d arrays 1-d)
        arr = arr.copy(order="C")
    if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and not np.little_endian):
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr


_TooHardError = getattr(np, "exceptions", np).TooHardError


def _shares_elements(a, b):
    try:
        return np.shares_memory(a, b, max_work=1 << 16)
    except _TooHardError:               # undecided in reasonable time: keep them together
        return True


def _bytes_spanning(arrays, lo, hi):
    """A uint8 view of the memory at addresses [lo, hi), from the buffer one of ``arrays``
    lives in, or None if no such buffer can be viewed as plain bytes."""
    for arr in arrays:
        owner = arr
        while isinstance(owner.base, np.ndarray):      # NumPy keeps this chain one step long
            owner = owner.base
        if owner.flags.f_contiguous and not owner.flags.c_contiguous:
            owner = owner.T                            # same memory, C order
        if not owner.flags.c_contiguous:
            continue
        start = _address(owner)
        if start <= lo and hi <= start + owner.nbytes:
            flat = owner.reshape(-1).view(np.uint8)
            return flat[lo - start:hi - start]
    return None


def _sharing_groups(arrays, spans):
    """Indices of arrays that share elements, in groups of two or more (overlapping byte
    ranges are candidates; np.shares_memory decides)."""
    spans = sorted(spans)
    groups, clusters = [], []
    for lo, hi, i in spans:
        if clusters and lo < clusters[-1][0]:
            clusters[-1][0] = max(clusters[-1][0], hi)
            clusters[-1][1].append(i)
        else:
            clusters.append([hi, [i]])
    for _, members in clusters:
        if len(members) < 2:
            continue
        parent = {i: i for i in members}

        def root(i):
            while parent[i] != i:
                i = parent[i]
            return i
        for x, i in enumerate(members):
            for j in members[x + 1:]:
                if root(i) != root(j) and _shares_elements(arrays[i], arrays[j]):
                    parent[root(j)] = root(i)
        by_root = {}
        for i in members:
            by_root.setdefault(root(i), []).append(i)
        groups.extend(g for g in by_root.values() if len(g) > 1)
    return groups
