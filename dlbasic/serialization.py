"""Checkpoints: ``dlbasic.save(obj, f)`` and ``dlbasic.load(f)``.

Safe by construction. A checkpoint is a zip archive of our own design that holds

    dlbasic_checkpoint/header.json   the container tree as tagged JSON + a table of tensors
    dlbasic_checkpoint/data/<i>      the raw little-endian bytes of tensor i (C order)

Loading parses JSON and copies bytes into arrays of whitelisted dtypes; nothing in the file is
ever executed or used to look up a Python object (no pickle), so a crafted file can at worst
be refused. Every malformed input -- not a zip, a pickle, a PyTorch ``.pt`` archive, bad JSON,
an unknown type tag, a byte count that disagrees with the declared shape, a failed CRC --
raises :class:`CheckpointError` (a ``RuntimeError`` and a ``pickle.UnpicklingError``) naming
the problem.

Atomic. Saving to a path writes a temporary file in the same directory, flushes and fsyncs
it, renames it over the target with ``os.replace`` and fsyncs the directory: a crash or kill
at any moment leaves either the previous checkpoint or the new one, never a torn file.
"""
from collections import Counter, OrderedDict
import base64
import io
import json
import os
import pickle
import tempfile
import zipfile

import numpy as np

from ._tensor import Tensor, Size, device as _device
from . import _dtype

__all__ = ["save", "load", "CheckpointError"]

_PREFIX = "dlbasic_checkpoint/"
_HEADER = _PREFIX + "header.json"
_FORMAT = "dlbasic.checkpoint"
_VERSION = 1
_MAX_HEADER_BYTES = 1 << 28
_CHUNK = 1 << 24
_MAX_DEPTH = 200           # container nesting; far beyond any state dict, far below recursion

# dtypes a checkpoint may hold, by their little-endian NumPy names
_ALLOWED_DTYPES = {np.dtype(t).newbyteorder("<").str: np.dtype(t) for t in
                   (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
                    np.uint8, np.bool_)}


class CheckpointError(RuntimeError, pickle.UnpicklingError):
    """A file that is not a valid dlbasic checkpoint (corrupt, truncated, foreign or crafted)."""


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()


# -- encoding ------------------------------------------------------------------------------
class _Encoder:
    """Turns a container tree into tagged JSON nodes plus a list of arrays to store."""

    def __init__(self):
        self.entries = []        # header records of the stored arrays
        self.arrays = []         # the arrays themselves, C-contiguous little-endian
        self.memo = {}           # id(tensor) -> index, so a tensor stored twice loads as one
        self._keep = []          # keeps memoized objects alive while ids are in use

    def add_array(self, obj, arr, kind, requires_grad=False):
        key = id(obj)
        if key in self.memo:
            return self.memo[key]
        if arr.dtype.newbyteorder("<").str not in _ALLOWED_DTYPES:
            raise TypeError(f"dlbasic.save: unsupported dtype {arr.dtype}")
        if not arr.flags.c_contiguous:      # (np.ascontiguousarray would make 0-d arrays 1-d)
            arr = arr.copy(order="C")
        if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and
                                          np.little_endian is False):
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        idx = len(self.arrays)
        self.arrays.append(arr)
        self.entries.append({"kind": kind, "dtype": arr.dtype.newbyteorder("<").str,
                             "shape": list(arr.shape), "requires_grad": bool(requires_grad),
                             "nbytes": int(arr.nbytes)})
        self.memo[key] = idx
        self._keep.append(obj)
        return idx

    def encode(self, obj, depth=0):
        if depth > _MAX_DEPTH:
            raise ValueError(f"dlbasic.save: containers nested deeper than {_MAX_DEPTH} levels")
        d = depth + 1
        if obj is None:
            return ["none"]
        if isinstance(obj, (bool, np.bool_)):
            return ["bool", bool(obj)]
        if isinstance(obj, (int, np.integer)):
            return ["int", int(obj)]
        if isinstance(obj, (float, np.floating)):
            return ["float", float(obj)]
        if isinstance(obj, str):
            return ["str", str(obj)]
        if isinstance(obj, (bytes, bytearray)):
            return ["bytes", base64.b64encode(bytes(obj)).decode("ascii")]
        if isinstance(obj, Tensor):
            from .nn.parameter import Parameter
            kind = "parameter" if isinstance(obj, Parameter) else "tensor"
            return ["tensor", self.add_array(obj, obj._data, kind, obj.requires_grad)]
        if isinstance(obj, np.ndarray):
            return ["tensor", self.add_array(obj, obj, "ndarray")]
        if isinstance(obj, _dtype.dtype):
            return ["dtype", str(obj).replace("dlbasic.", "")]
        if isinstance(obj, _device):
            return ["device", str(obj)]
        if isinstance(obj, Counter):
            return ["counter", [[self.encode(k, d), self.encode(v, d)] for k, v in obj.items()]]
        if isinstance(obj, OrderedDict):
            return ["odict", [[self.encode(k, d), self.encode(v, d)] for k, v in obj.items()]]
        if isinstance(obj, dict):
            return ["dict", [[self.encode(k, d), self.encode(v, d)] for k, v in obj.items()]]
        if isinstance(obj, Size):
            return ["size", [int(s) for s in obj]]
        if isinstance(obj, list):
            return ["list", [self.encode(v, d) for v in obj]]
        if isinstance(obj, tuple):
            return ["tuple", [self.encode(v, d) for v in obj]]
        if isinstance(obj, (set, frozenset)):
            tag = "set" if isinstance(obj, set) else "frozenset"
            return [tag, [self.encode(v, d) for v in obj]]
        hint = ""
        if hasattr(obj, "state_dict"):
            hint = "; save its state_dict() instead"
        raise TypeError(f"dlbasic.save can store tensors, arrays, numbers, strings, bytes, None "
                        f"and dict/list/tuple/set containers of them, not "
                        f"{type(obj).__module__}.{type(obj).__qualname__}{hint}")


def _write_archive(fh, encoder, root):
    header = {"format": _FORMAT, "version": _VERSION, "tensors": encoder.entries, "root": root}
    text = json.dumps(header, allow_nan=True, separators=(",", ":")).encode("utf-8")
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(_HEADER, text)
        for i, arr in enumerate(encoder.arrays):
            raw = arr.reshape(-1).view(np.uint8)
            with zf.open(f"{_PREFIX}data/{i}", "w", force_zip64=raw.size > (1 << 31) - 1) as out:
                for start in range(0, raw.size, _CHUNK):
                    out.write(memoryview(raw[start:start + _CHUNK]))


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Save ``obj`` (tensors in nested dicts/lists/tuples of plain values) to ``f``.

    ``f`` is a path (written atomically: temporary file, fsync, rename) or a writable binary
    file object (written directly at its current position). The pickle arguments are accepted
    for compatibility with ``torch.save`` and ignored: dlbasic never pickles.
    """
    encoder = _Encoder()
    root = encoder.encode(obj)
    if isinstance(f, (str, bytes, os.PathLike)):
        path = os.fsdecode(f)
        if os.path.islink(path):            # replace the file the link points to, not the link
            path = os.path.realpath(path)
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise RuntimeError(f"Parent directory {directory} does not exist.")
        try:
            mode = os.stat(path).st_mode & 0o777
        except OSError:
            mode = 0o666 & ~_UMASK
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                                   dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                _write_archive(fh, encoder, root)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        _fsync_dir(directory)
    else:
        if not hasattr(f, "write"):
            raise TypeError(f"dlbasic.save expects a path or a writable binary file object, "
                            f"got {type(f).__name__}")
        _write_archive(f, encoder, root)
        if hasattr(f, "flush"):
            f.flush()


# -- decoding ------------------------------------------------------------------------------
def _fail(name, problem):
    return CheckpointError(f"{name}: {problem}")


def _sniff(head, name):
    """Explain what a non-zip file is instead of a checkpoint."""
    if len(head) == 0:
        return _fail(name, "the file is empty (a truncated or never-written checkpoint)")
    if head[:1] == b"\x80" or head[:1] in (b"(", b"}", b"]", b"c"):
        return _fail(name, "this is a pickle file, not a dlbasic checkpoint; dlbasic.load never "
                           "unpickles, because loading a pickle can execute arbitrary code")
    return _fail(name, "not a dlbasic checkpoint (the file is not a zip archive)")


class _Decoder:
    def __init__(self, name, tensors, map_fn):
        self.name = name
        self.tensors = tensors
        self.map_fn = map_fn

    def _pairs(self, items, depth):
        if not isinstance(items, list):
            raise _fail(self.name, "malformed mapping node in header")
        out = []
        for item in items:
            if not isinstance(item, list) or len(item) != 2:
                raise _fail(self.name, "malformed mapping item in header")
            k = self.decode(item[0], depth)
            try:
                hash(k)
            except TypeError:
                raise _fail(self.name, "unhashable mapping key in header") from None
            out.append((k, self.decode(item[1], depth)))
        return out

    def _items(self, items, depth):
        if not isinstance(items, list):
            raise _fail(self.name, "malformed sequence node in header")
        return [self.decode(v, depth) for v in items]

    def decode(self, node, depth=0):
        if depth > _MAX_DEPTH:
            raise _fail(self.name, "container nesting too deep")
        if not isinstance(node, list) or not node or not isinstance(node[0], str):
            raise _fail(self.name, f"malformed node in header: {str(node)[:80]!r}")
        tag = node[0]
        if tag == "none" and len(node) == 1:
            return None
        if len(node) != 2:
            raise _fail(self.name, f"malformed '{tag[:40]}' node in header")
        value = node[1]
        d = depth + 1
        if tag == "bool" and isinstance(value, bool):
            return value
        if tag == "int" and isinstance(value, int) and not isinstance(value, bool):
            return value
        if tag == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if tag == "str" and isinstance(value, str):
            return value
        if tag == "bytes" and isinstance(value, str):
            try:
                return base64.b64decode(value.encode("ascii"), validate=True)
            except (ValueError, UnicodeEncodeError):
                raise _fail(self.name, "bad base64 in a bytes node") from None
        if tag == "tensor" and isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value < len(self.tensors):
                raise _fail(self.name, f"reference to tensor {value}, but the archive holds "
                                       f"{len(self.tensors)}")
            return self.tensors[value]
        if tag == "list":
            return self._items(value, d)
        if tag == "tuple":
            return tuple(self._items(value, d))
        if tag == "set":
            return set(self._items(value, d))
        if tag == "frozenset":
            return frozenset(self._items(value, d))
        if tag == "dict":
            return dict(self._pairs(value, d))
        if tag == "odict":
            return OrderedDict(self._pairs(value, d))
        if tag == "counter":
            return Counter(dict(self._pairs(value, d)))
        if tag == "size" and isinstance(value, list) and all(
                isinstance(s, int) and not isinstance(s, bool) for s in value):
            return Size(value)
        if tag == "dtype" and isinstance(value, str):
            try:
                return _dtype.to_dtype(value)
            except Exception:
                raise _fail(self.name, f"unknown dtype {value[:40]!r}") from None
        if tag == "device" and isinstance(value, str):
            return _device("cpu")
        raise _fail(self.name, f"unknown or malformed type tag {tag[:40]!r} in header")


def _read_member_into(zf, info, arr, name):
    raw = arr.reshape(-1).view(np.uint8)
    mv = memoryview(raw)
    with zf.open(info) as src:
        pos = 0
        while pos < raw.size:
            chunk = src.read(min(_CHUNK, raw.size - pos))
            if not chunk:
                raise _fail(name, f"member {info.filename} is truncated")
            mv[pos:pos + len(chunk)] = chunk
            pos += len(chunk)
        if src.read(1):
            raise _fail(name, f"member {info.filename} is longer than declared")


def _make_tensor(entry, arr, name):
    kind = entry["kind"]
    if kind == "ndarray":
        return arr
    rg = entry["requires_grad"]
    if rg and not np.issubdtype(arr.dtype, np.floating):
        raise _fail(name, "an integer tensor cannot require grad")
    if kind == "parameter":
        from .nn.parameter import Parameter
        t = Parameter(Tensor._make(arr), requires_grad=rg)
    else:
        t = Tensor._make(arr, requires_grad=rg)
    return t


def _read_tensors(zf, header, name, file_size):
    entries = header.get("tensors")
    if not isinstance(entries, list):
        raise _fail(name, "header has no tensor table")
    tensors = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise _fail(name, f"tensor {i}: malformed record")
        dt, shape, kind = e.get("dtype"), e.get("shape"), e.get("kind")
        if dt not in _ALLOWED_DTYPES:
            raise _fail(name, f"tensor {i}: unsupported dtype {str(dt)[:40]!r}")
        if kind not in ("tensor", "parameter", "ndarray"):
            raise _fail(name, f"tensor {i}: unknown kind {str(kind)[:40]!r}")
        if not isinstance(e.get("requires_grad"), bool):
            raise _fail(name, f"tensor {i}: malformed requires_grad")
        if not isinstance(shape, list) or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise _fail(name, f"tensor {i}: malformed shape {str(shape)[:80]}")
        dtype = np.dtype(dt)
        count = 1
        for s in shape:
            count *= s
        nbytes = count * dtype.itemsize
        member = f"{_PREFIX}data/{i}"
        try:
            info = zf.getinfo(member)
        except KeyError:
            raise _fail(name, f"tensor {i}: archive member {member} is missing") from None
        if info.file_size != nbytes or e.get("nbytes", nbytes) != nbytes:
            raise _fail(name, f"tensor {i}: shape {tuple(shape)} of {dtype} needs {nbytes} "
                              f"bytes but the archive holds {info.file_size}")
        # raw bytes only, and really present in the file: no allocation on a mere claim
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != nbytes:
            raise _fail(name, f"tensor {i}: data member is compressed; dlbasic checkpoints "
                              "store raw bytes")
        if info.header_offset + nbytes > file_size:
            raise _fail(name, f"tensor {i}: data extends past the end of the file (truncated)")
        arr = np.empty(count, dtype=dtype)
        _read_member_into(zf, info, arr, name)
        arr = arr.reshape(tuple(shape))
        if dtype.byteorder not in ("=", "|") and not np.little_endian:
            arr = arr.astype(dtype.newbyteorder("="))
        tensors.append(_make_tensor(e, arr, name))
    return tensors


def _load_archive(fh, name, map_fn):
    start = fh.tell()
    head = fh.read(4)
    file_size = fh.seek(0, os.SEEK_END)
    fh.seek(start)
    if head[:2] != b"PK":
        raise _sniff(head, name)
    try:
        zf = zipfile.ZipFile(fh, "r")
    except Exception as exc:                 # BadZipFile, EOFError, ValueError, ...
        raise _fail(name, f"corrupt or truncated checkpoint (bad zip archive: {exc})") from None
    with zf:
        names = zf.namelist()
        if _HEADER not in names:
            if any(n.endswith("data.pkl") for n in names):
                raise _fail(name, "this is a PyTorch checkpoint (a zip holding a pickle, "
                                  "data.pkl); dlbasic.load never unpickles, because loading a "
                                  "pickle can execute arbitrary code. Load it with torch and "
                                  "convert its tensors to NumPy arrays first")
            raise _fail(name, f"not a dlbasic checkpoint: the zip archive has no {_HEADER}")
        try:
            info = zf.getinfo(_HEADER)
            if info.file_size > _MAX_HEADER_BYTES:
                raise _fail(name, f"header is implausibly large ({info.file_size} bytes)")
            header = json.loads(zf.read(info).decode("utf-8"))
            if not isinstance(header, dict) or header.get("format") != _FORMAT:
                raise _fail(name, "header does not describe a dlbasic checkpoint")
            version = header.get("version")
            if not isinstance(version, int) or version < 1 or version > _VERSION:
                raise _fail(name, f"unsupported checkpoint version {str(version)[:20]} "
                                  f"(this dlbasic reads up to {_VERSION})")
            if "root" not in header:
                raise _fail(name, "header has no root object")
            tensors = _read_tensors(zf, header, name, file_size)
            decoder = _Decoder(name, tensors, map_fn)
            if map_fn is None:
                return decoder.decode(header["root"])
        except CheckpointError:
            raise
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _fail(name, f"corrupt header: bad JSON ({exc})") from None
        except RecursionError:
            raise _fail(name, "container nesting too deep") from None
        except Exception as exc:       # zip/CRC/EOF/zlib errors, allocation failures, ...
            raise _fail(name, f"corrupt or truncated checkpoint ({type(exc).__name__}: "
                              f"{exc})") from None
    # the user's map_location callable runs outside the error translation above
    decoder.tensors = [_apply_map(map_fn, t) for t in tensors]
    try:
        return decoder.decode(header["root"])
    except RecursionError:
        raise _fail(name, "container nesting too deep") from None


def _apply_map(fn, t):
    if isinstance(t, np.ndarray):
        return t
    out = fn(t, "cpu")
    return out if isinstance(out, Tensor) else t


def _check_map_location(map_location):
    """Everything lives on the CPU: accept what torch accepts, refuse devices we lack."""
    if map_location is None or isinstance(map_location, dict):
        return None
    if isinstance(map_location, (str, _device)):
        _device(map_location)          # 'cuda' raises a clear RuntimeError
        return None
    if callable(map_location):
        return map_location
    raise TypeError(f"map_location should be a str, device, dict or callable, got "
                    f"{type(map_location).__name__}")


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None,
         **pickle_load_args):
    """Load an object saved by :func:`save` from a path or a readable binary file object.

    Loading never executes code from the file, whatever ``weights_only`` says (the argument is
    accepted for compatibility; dlbasic checkpoints hold data only). ``map_location`` may be
    ``'cpu'``, a device, a dict (ignored: there is one device) or torch's
    ``fn(tensor, location)``, whose tensor result replaces the loaded one.
    """
    map_fn = _check_map_location(map_location)
    if isinstance(f, (str, bytes, os.PathLike)):
        name = os.fsdecode(f)
        with open(name, "rb") as fh:
            return _load_archive(fh, name, map_fn)
    if not hasattr(f, "read"):
        raise TypeError(f"dlbasic.load expects a path or a readable binary file object, got "
                        f"{type(f).__name__}")
    name = getattr(f, "name", None) or "<file object>"
    if not (hasattr(f, "seekable") and f.seekable()):
        f = io.BytesIO(f.read())
    return _load_archive(f, str(name), map_fn)
