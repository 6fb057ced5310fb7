"""Checkpoints: ``dlbasic.save(obj, f)`` and ``dlbasic.load(f)``, in PyTorch's format.

``save`` writes what ``torch.save`` writes -- a zip archive holding the object tree as a pickle
(``archive/data.pkl``) and each storage's raw little-endian bytes (``archive/data/<key>``,
64-byte aligned) -- so ``torch.load(f, weights_only=True)`` reads it; ``load`` reads files of
``torch.save`` (that zip format and the legacy pre-1.6 one, either byte order) and every file
earlier dlbasic versions wrote. The format itself lives in :mod:`dlbasic._torch_format`.

Safe by default. ``load(f)`` (``weights_only=True``) interprets the pickle with an allow-list
of globals mapped to our own functions, as ``torch.load(weights_only=True)`` does: a file that
asks for anything else (``os.system``, a class of a pickled model) is refused with
``pickle.UnpicklingError`` naming the global, and nothing in it runs. ``load(f,
weights_only=False)`` uses the full ``pickle`` module (for whole pickled objects such as a
module saved with ``save(model, f)``) and warns that this can run code from the file.
Version-1 and version-2 dlbasic files (``dlbasic_checkpoint/header.json`` + raw members) hold
JSON and bytes only.

Shared memory survives. Tensors that share memory (a tensor and its views, tied weights) are
stored as views -- offset and strides in elements -- of one storage spanning them all, so after
loading (in dlbasic or in PyTorch) they share memory again; any other tensor gets a compact
storage of just its values.

Every byte is checked. The zip comment, the last bytes of a file ``save`` writes, reads
``dlbasic-crc32-len:`` followed by the CRC-32 of every byte of the archive before those 24 hex
digits and the archive's length in bytes (``torch.load`` ignores zip comments). Zip's own CRCs
cover only the records' contents; this one also covers the zip structure, so a flipped bit
anywhere or a cut-off file is refused. Files from PyTorch have no such trailer; their records
are checked against zip's CRCs.

Errors are PyTorch's types. Every malformed input raises :class:`CheckpointError` (a
``RuntimeError`` and a ``pickle.UnpicklingError``, like the errors of ``torch.load``) naming the
file and the problem; an empty or cut-off file raises :class:`TruncatedCheckpointError`, also an
``EOFError`` and an ``OSError``, as ``torch.load`` raises for those. A path that cannot be
written raises an ``OSError`` subclass naming the target that is also a ``RuntimeError``
(torch's type for it): :class:`CheckpointPermissionError` for a read-only directory or a
write-protected checkpoint (refused even for root, whose ``open`` would ignore the mode),
:class:`CheckpointIsADirectoryError` for a directory.

Atomic. Saving to a path writes a temporary file ``.<name>.<host>-<pid>-<random>.tmp`` in the
same directory, locked with ``flock`` while it is written, flushes and fsyncs it, renames it
over the target with ``os.replace`` and fsyncs the directory: a crash or kill at any moment
leaves either the previous checkpoint or the new one, never a torn file. The object is pickled
before the temporary is created, so an object that cannot be saved leaves no file at all. A
save that fails removes its temporary; a save removes the temporaries that earlier saves to the
same target left behind when killed (their process is gone and their lock is free), never one
that a live process is still writing.
"""
from collections import Counter, OrderedDict
import base64
import errno
import io
import json
import os
import pickle
import re
import secrets
import socket
import stat
import struct
import zipfile
import zlib

try:
    import fcntl
except ImportError:                      # not on Windows: the process check alone decides
    fcntl = None

import numpy as np

from ._checkpoint_base import (CheckpointError, TruncatedCheckpointError, _fail, _truncated,
                               _read_member_into, _is_int, _c_strides, _extent, _address,
                               _MAX_DEPTH, _MAX_NDIM, _CHUNK)
from ._tensor import Tensor, Size, device as _device
from . import _torch_format
from . import _dtype

__all__ = ["save", "load", "CheckpointError", "TruncatedCheckpointError",
           "CheckpointWriteError", "CheckpointPermissionError", "CheckpointIsADirectoryError"]

_PREFIX = "dlbasic_checkpoint/"
_HEADER = _PREFIX + "header.json"
_FORMAT = "dlbasic.checkpoint"
_VERSION = 2              # 1: one compact member per tensor, no trailer; 2: storages + trailer
_MAX_HEADER_BYTES = 1 << 28

_TRAILER_MAGIC = b"dlbasic-crc32-len:"
_TRAILER_DIGITS = 24       # 8 hex digits of CRC-32, 16 of archive length
_TRAILER_PLACEHOLDER = b"0" * _TRAILER_DIGITS
_TRAILER_RE = re.compile(rb"[0-9a-f]{24}")

# dtypes a checkpoint may hold, by their little-endian NumPy names
_ALLOWED_DTYPES = {np.dtype(t).newbyteorder("<").str: np.dtype(t) for t in
                   (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
                    np.uint8, np.bool_)}




class CheckpointWriteError(OSError, RuntimeError):
    """The checkpoint path could not be written; ``filename`` is the target, never the temp."""


class CheckpointPermissionError(CheckpointWriteError, PermissionError):
    """The target is write-protected or its directory is not writable."""


class CheckpointIsADirectoryError(CheckpointWriteError, IsADirectoryError):
    """The target path is a directory."""


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()




class _TrailerWriter:
    """Passes the archive through to ``fh`` in order, holding back its last 24 bytes.

    It offers ``tell`` but no ``seek``, so zipfile streams every member (data descriptors)
    instead of seeking back to patch headers, and the bytes reach ``fh`` exactly once, in file
    order: their running CRC-32 is the CRC of the file. zipfile writes the comment last; the
    held-back bytes are its placeholder digits, which ``finish`` replaces with the CRC-32 of
    everything before them and the archive's length.
    """

    def __init__(self, fh):
        self._fh = fh
        self._tail = b""
        self._crc = 0
        self._pos = 0

    def write(self, data):
        mv = memoryview(data).cast("B")
        n, keep = len(mv), _TRAILER_DIGITS
        if n >= keep:
            self._emit(self._tail)
            self._emit(mv[:n - keep])
            self._tail = bytes(mv[n - keep:])
        else:
            joined = self._tail + bytes(mv)
            self._emit(joined[:-keep] if len(joined) > keep else b"")
            self._tail = joined[-keep:]
        self._pos += n
        return n

    def _emit(self, chunk):
        if len(chunk):
            self._crc = zlib.crc32(chunk, self._crc)
            self._fh.write(chunk)

    def tell(self):
        return self._pos

    def seekable(self):
        return False

    def seek(self, *args):
        raise io.UnsupportedOperation("seek")

    def flush(self):
        if hasattr(self._fh, "flush"):
            self._fh.flush()

    def finish(self):
        if self._tail != _TRAILER_PLACEHOLDER:   # zipfile no longer ends with the comment
            raise RuntimeError("dlbasic.save: internal error: the zip archive does not end "
                               "with its comment")
        self._fh.write(b"%08x%016x" % (self._crc, self._pos))


def _aligned_info(name, offset, zip64):
    """A ZipInfo whose data will start at a multiple of 64 bytes (as torch.save aligns
    storages, so torch.load(mmap=True) can map them): the local header's extra field pads."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_STORED
    header = 30 + len(name.encode("utf-8")) + 4 + (20 if zip64 else 0)
    pad = (-(offset + header)) % 64
    info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
    return info


def _write_archive(fh, payload, root=None):
    """Stream ``payload`` (a :class:`dlbasic._torch_format.Payload`) into ``fh`` as a zip
    archive sealed with the CRC-32 trailer."""
    out = _TrailerWriter(fh)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.comment = _TRAILER_MAGIC + _TRAILER_PLACEHOLDER
        for name, data, aligned in payload.records():
            raw = memoryview(data).cast("B") if not isinstance(data, np.ndarray) else data
            size = raw.nbytes if isinstance(raw, memoryview) else raw.size
            zip64 = size > (1 << 31) - 1
            if aligned:
                info = _aligned_info(name, out.tell(), zip64)
            else:
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_STORED
            with zf.open(info, "w", force_zip64=zip64) as dst:
                for start in range(0, size, _CHUNK):
                    dst.write(memoryview(raw[start:start + _CHUNK]))
    out.finish()


# -- saving to a path ----------------------------------------------------------------------
def _host_tag():
    host = re.sub(r"[^A-Za-z0-9._]", "_", socket.gethostname()) or "host"
    return host[:64]


_HOST = _host_tag()


def _temp_name(base):
    return f".{base}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.tmp"


def _temp_owner(name, base):
    """(host, pid) of a temporary named by :func:`_temp_name` for ``base``, else None."""
    prefix = f".{base}."
    if not (name.startswith(prefix) and name.endswith(".tmp")):
        return None
    parts = name[len(prefix):-len(".tmp")].rsplit("-", 2)
    if len(parts) != 3 or not re.fullmatch(r"[0-9]{1,9}", parts[1]) or not re.fullmatch(
            r"[0-9a-f]{8}", parts[2]):
        return None
    return parts[0], int(parts[1])


def _process_exists(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:                  # EPERM: it exists, under another user
        return True
    try:                             # killed but not yet reaped: gone for our purposes
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _remove_stale_temps(directory, base):
    """Delete the temporaries earlier saves to ``base`` left when they were killed.

    One is stale when it was made on this host by a process that no longer exists and no one
    holds its lock. A live writer keeps its temporary locked (flock, released by the kernel
    when the process dies, even by kill -9), which also protects writers in another PID
    namespace whose pid happens to be free here.
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        owner = _temp_owner(name, base)
        if owner is None or owner[0] != _HOST or _process_exists(owner[1]):
            continue
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue             # someone is writing it after all
                except OSError:
                    pass                 # no locks on this file system: the pid decides
            os.unlink(path)
        except OSError:
            pass
        finally:
            os.close(fd)


def _writable(path):
    if os.access in os.supports_effective_ids:
        return os.access(path, os.W_OK, effective_ids=True)
    return os.access(path, os.W_OK)


def _write_error(exc, path, detail=None):
    """``exc`` (an OSError from writing) re-raised as our type, naming the target ``path``."""
    code = exc.errno
    cls = {errno.EACCES: CheckpointPermissionError, errno.EPERM: CheckpointPermissionError,
           errno.EISDIR: CheckpointIsADirectoryError}.get(code, CheckpointWriteError)
    text = exc.strerror or str(exc)
    return cls(code, f"{text} ({detail})" if detail else text, path)


def _check_target(path):
    """The mode the new checkpoint gets; refuses a directory or a write-protected file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return 0o666 & ~_UMASK
    except OSError as e:
        raise _write_error(e, path) from None
    if stat.S_ISDIR(st.st_mode):
        raise CheckpointIsADirectoryError(errno.EISDIR, "Is a directory: dlbasic.save needs a "
                                          "file path, not a directory", path)
    # rename() would replace it regardless of its mode, and root's open() ignores the mode:
    # honour the protection the way opening it for writing does for everyone else
    if not st.st_mode & 0o222 or not _writable(path):
        raise CheckpointPermissionError(
            errno.EACCES, f"Permission denied: the existing checkpoint is write-protected "
                          f"(mode {stat.filemode(st.st_mode)}); make it writable or save "
                          f"elsewhere", path)
    return st.st_mode & 0o777


def _save_to_path(f, encoder, root):
    path = os.fsdecode(f)
    if os.path.islink(path):            # replace the file the link points to, not the link
        path = os.path.realpath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise RuntimeError(f"Parent directory {directory} does not exist.")
    mode = _check_target(path)
    base = os.path.basename(path)
    _remove_stale_temps(directory, base)
    tmp = os.path.join(directory, _temp_name(base))
    try:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                     0o600)
    except OSError as e:                # e.g. a read-only directory: name the target
        raise _write_error(e, path, f"cannot create a file in {directory}") from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                pass                     # no locks here: stale temps are judged by pid alone
        with os.fdopen(fd, "wb") as fh:  # the lock lives until this closes, after the rename
            _write_archive(fh, encoder, root)
            fh.flush()
            os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, CheckpointWriteError):
            raise _write_error(exc, path) from exc
        raise
    _fsync_dir(directory)


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
    """Save ``obj`` to ``f`` in PyTorch's zip format (``torch.load`` reads it).

    ``obj`` is usually a tree of tensors in dicts/lists/tuples of plain values (a state dict,
    a checkpoint); any other picklable object (a whole module) is pickled too, and then loads
    only with ``load(f, weights_only=False)``, as in PyTorch. ``f`` is a path (written
    atomically: temporary file, fsync, rename) or a writable binary file object (written
    directly at its current position). The pickle arguments are accepted for compatibility
    with ``torch.save``: the pickle is always protocol 2 and the archive always the zip format.
    """
    payload = _torch_format.encode(obj)          # before any file exists: nothing left on error
    if isinstance(f, (str, bytes, os.PathLike)):
        _save_to_path(f, payload, None)
        return
    if not hasattr(f, "write"):
        raise TypeError(f"dlbasic.save expects a path or a writable binary file object, "
                        f"got {type(f).__name__}")
    _write_archive(f, payload, None)
    if hasattr(f, "flush"):
        f.flush()


# -- decoding ------------------------------------------------------------------------------


def _sniff(head, name):
    """Explain what a file that is neither a zip archive nor a pickle is instead."""
    if len(head) == 0:
        return _truncated(name, "the file is empty (a truncated or never-written checkpoint)")
    if b"PK\x03\x04".startswith(head):
        return _truncated(name, f"truncated: the file holds only {len(head)} bytes of a zip "
                                f"archive")
    if head[:1] in (b"(", b"}", b"]", b"c"):
        return _fail(name, "this is a plain pickle file (protocol 0 or 1), not a checkpoint "
                           "written by torch.save or dlbasic.save; dlbasic.load never "
                           "unpickles arbitrary pickle files, because loading a pickle can "
                           "execute arbitrary code")
    if head[:5] == b"\x00" * 5 or len(head) >= 4 and head[:4].isalnum():
        hint = " (PyTorch < 0.4 wrote a tar archive, which is not supported)"
    else:
        hint = ""
    return _fail(name, f"not a dlbasic checkpoint (nor a PyTorch one): the file is neither a "
                       f"zip archive nor a pickle{hint}")


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






def _data_member(zf, member, nbytes, what, name, file_size):
    """The zip entry of a data member, checked to hold ``nbytes`` raw bytes really present in
    the file: no allocation on a mere claim."""
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise _fail(name, f"{what}: archive member {member} is missing") from None
    if info.file_size != nbytes:
        raise _fail(name, f"{what} needs {nbytes} bytes but the archive holds {info.file_size}")
    if info.compress_type != zipfile.ZIP_STORED or info.compress_size != nbytes:
        raise _fail(name, f"{what}: data member is compressed; dlbasic checkpoints store raw "
                          "bytes")
    if info.header_offset + nbytes > file_size:
        raise _truncated(name, f"{what}: data extends past the end of the file (truncated)")
    return info


def _check_entry(e, i, name):
    """dtype, shape, element count of a tensor record, after checking its common fields."""
    if not isinstance(e, dict):
        raise _fail(name, f"tensor {i}: malformed record")
    dt, shape, kind = e.get("dtype"), e.get("shape"), e.get("kind")
    if dt not in _ALLOWED_DTYPES:
        raise _fail(name, f"tensor {i}: unsupported dtype {str(dt)[:40]!r}")
    if kind not in ("tensor", "parameter", "ndarray"):
        raise _fail(name, f"tensor {i}: unknown kind {str(kind)[:40]!r}")
    if not isinstance(e.get("requires_grad"), bool):
        raise _fail(name, f"tensor {i}: malformed requires_grad")
    if not isinstance(shape, list) or len(shape) > _MAX_NDIM or not all(
            _is_int(s) and s >= 0 for s in shape):
        raise _fail(name, f"tensor {i}: malformed shape {str(shape)[:80]}")
    count = 1
    for s in shape:
        count *= s
    return np.dtype(dt), tuple(shape), count


def _make_tensor(entry, arr, name, vbox=None):
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
    if vbox is not None:                # tensors over one storage share a version counter
        t._vbox = vbox
    return t


def _native(arr):
    if arr.dtype.byteorder not in ("=", "|") and not np.little_endian:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _read_tensors_v1(zf, header, name, file_size):
    """Version 1: tensor i is the compact member data/<i>."""
    entries = header.get("tensors")
    if not isinstance(entries, list):
        raise _fail(name, "header has no tensor table")
    tensors = []
    for i, e in enumerate(entries):
        dtype, shape, count = _check_entry(e, i, name)
        nbytes = count * dtype.itemsize
        if e.get("nbytes", nbytes) != nbytes:
            raise _fail(name, f"tensor {i}: shape {shape} of {dtype} needs {nbytes} bytes but "
                              f"the header records {str(e.get('nbytes'))[:20]}")
        info = _data_member(zf, f"{_PREFIX}data/{i}", nbytes,
                            f"tensor {i}: shape {shape} of {dtype}", name, file_size)
        arr = np.empty(shape, dtype=dtype)
        _read_member_into(zf, info, arr, name)
        tensors.append(_make_tensor(e, _native(arr), name))
    return tensors


def _read_tensors_v2(zf, header, name, file_size):
    """Version 2: every tensor is a view (dtype, shape, strides, offset) into a storage."""
    entries, storages = header.get("tensors"), header.get("storages")
    if not isinstance(entries, list):
        raise _fail(name, "header has no tensor table")
    if not isinstance(storages, list):
        raise _fail(name, "header has no storage table")
    sizes = []
    for j, s in enumerate(storages):
        if not isinstance(s, dict) or not _is_int(s.get("nbytes")) or s["nbytes"] < 0:
            raise _fail(name, f"storage {j}: malformed record")
        sizes.append(s["nbytes"])
    views, users = [], [[] for _ in sizes]
    for i, e in enumerate(entries):
        dtype, shape, count = _check_entry(e, i, name)
        strides, offset, s = e.get("strides"), e.get("offset"), e.get("storage")
        if not _is_int(s) or not 0 <= s < len(sizes):
            raise _fail(name, f"tensor {i}: reference to storage {str(s)[:20]}, but the archive "
                              f"holds {len(sizes)}")
        if not isinstance(strides, list) or len(strides) != len(shape) or not all(
                _is_int(x) for x in strides):
            raise _fail(name, f"tensor {i}: malformed strides {str(strides)[:80]}")
        if not _is_int(offset) or offset < 0:
            raise _fail(name, f"tensor {i}: malformed offset {str(offset)[:20]}")
        ext = _extent(shape, strides, offset, dtype.itemsize)
        lo, hi = ext if ext is not None else (offset, offset)
        if lo < 0 or hi > sizes[s]:
            raise _fail(name, f"tensor {i}: shape {shape} of {dtype} at offset {offset} with "
                              f"strides {tuple(strides)} needs {hi} bytes of storage {s}, which "
                              f"holds {sizes[s]} (bytes {lo}..{hi} are outside it)")
        views.append((dtype, shape, strides, offset, s, count))
        users[s].append(i)
    arrays = [None] * len(entries)
    for j, nbytes in enumerate(sizes):
        info = _data_member(zf, f"{_PREFIX}data/{j}", nbytes, f"storage {j}", name, file_size)
        sole = users[j][0] if len(users[j]) == 1 else None
        if sole is not None:
            dtype, shape, strides, offset, _, count = views[sole]
            if offset != 0 or count * dtype.itemsize != nbytes or (
                    count and strides != _c_strides(shape, dtype.itemsize)):
                sole = None
        if sole is not None:            # one compact tensor: read straight into its own array
            arr = np.empty(views[sole][1], dtype=views[sole][0])
            _read_member_into(zf, info, arr, name)
            arrays[sole] = arr
            continue
        buf = np.empty(nbytes, dtype=np.uint8)
        _read_member_into(zf, info, buf, name)
        for i in users[j]:
            dtype, shape, strides, offset, _, _ = views[i]
            arrays[i] = np.ndarray(shape, dtype=dtype, buffer=buf, offset=offset,
                                   strides=tuple(strides))
    vboxes = [[0] for _ in sizes]
    return [_make_tensor(e, _native(arr), name, vboxes[views[i][4]])
            for i, (e, arr) in enumerate(zip(entries, arrays))]


def _verify_trailer(fh, start, file_size, comment, name):
    """Check the CRC-32 and length that a version-2 archive records in its zip comment."""
    digits = comment[len(_TRAILER_MAGIC):]
    if len(digits) < _TRAILER_DIGITS:
        raise _truncated(name, "truncated: the file ends inside its closing checksum record")
    if len(digits) > _TRAILER_DIGITS or not _TRAILER_RE.fullmatch(digits):
        raise _fail(name, "corrupt checkpoint: its closing checksum record is damaged")
    fh.seek(file_size - _TRAILER_DIGITS)
    if fh.read(_TRAILER_DIGITS) != digits:
        raise _fail(name, "corrupt checkpoint: the file does not end with its checksum record")
    crc, length = int(digits[:8], 16), int(digits[8:], 16)
    begin = file_size - length
    if begin < 0:
        raise _truncated(name, f"truncated: the checkpoint was {length} bytes long, the file "
                               f"holds {file_size - start}")
    fh.seek(begin)
    got, left = 0, length - _TRAILER_DIGITS
    while left > 0:
        chunk = fh.read(min(_CHUNK, left))
        if not chunk:
            raise _truncated(name, "truncated: the file ended while checking its CRC-32")
        got = zlib.crc32(chunk, got)
        left -= len(chunk)
    if got != crc:
        raise _fail(name, f"corrupt checkpoint: the CRC-32 of its {length} bytes is {got:08x} "
                          f"but it was saved as {crc:08x} (a damaged copy, disk or transfer "
                          f"error)")
    fh.seek(start)


def _load_file(fh, name, location, weights_only):
    start = fh.tell()
    head = fh.read(4)
    file_size = fh.seek(0, os.SEEK_END)
    fh.seek(start)
    if head[:2] == b"PK" and len(head) == 4:
        return _load_archive(fh, name, location, weights_only, start, file_size)
    if head[:1] == b"\x80":                  # a binary pickle: torch's legacy format
        try:
            return _torch_format.load_legacy(fh, name, file_size, location, weights_only)
        except (CheckpointError, _torch_format._UserCallbackError):
            raise
        except EOFError as exc:
            raise _truncated(name, f"truncated legacy checkpoint (EOFError: {exc})") from None
        except Exception as exc:            # noqa: BLE001 - allocation failures, ...
            raise _fail(name, f"corrupt legacy checkpoint ({type(exc).__name__}: "
                              f"{exc})") from None
    raise _sniff(head, name)


def _load_archive(fh, name, location, weights_only, start, file_size):
    try:
        zf = zipfile.ZipFile(fh, "r")
    except Exception as exc:                 # BadZipFile, EOFError, ValueError, ...
        raise _truncated(name, f"corrupt or truncated checkpoint (bad zip archive: "
                               f"{exc})") from None
    with zf:
        try:
            sealed = zf.comment.startswith(_TRAILER_MAGIC)
            if sealed:                       # before trusting anything the archive says
                _verify_trailer(fh, start, file_size, zf.comment, name)
            names = zf.namelist()
            ours = _HEADER in names or any(n.endswith("/" + _torch_format._MARKER)
                                           for n in names)
            if _HEADER in names:
                version = None
            elif any(n.endswith("/data.pkl") for n in names) or (
                    names and names[0].endswith("/constants.pkl")):
                version = 3
            else:
                raise _fail(name, "not a dlbasic checkpoint (nor a PyTorch one): the zip "
                                  "archive holds neither a data.pkl nor a dlbasic header")
            if ours and not sealed and (version == 3 or _header_version(zf, name) >= 2):
                if _TRAILER_MAGIC.startswith(zf.comment):
                    raise _truncated(name, "truncated: the file ends before the end of its "
                                           "closing checksum record (the zip comment)")
                raise _fail(name, "corrupt checkpoint: its closing checksum record (the zip "
                                  "comment) is missing or damaged")
            if version == 3:
                if not weights_only:
                    _torch_format._warn_unsafe()
                return _torch_format.load_zip(zf, name, file_size, location, weights_only)
            header = _read_header(zf, name)
            read = _read_tensors_v1 if header["version"] == 1 else _read_tensors_v2
            tensors = read(zf, header, name, file_size)
            decoder = _Decoder(name, tensors, location.fn)
            if location.fn is None:
                return decoder.decode(header["root"])
        except (CheckpointError, _torch_format._UserCallbackError):
            raise
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _fail(name, f"corrupt header: bad JSON ({exc})") from None
        except RecursionError:
            raise _fail(name, "container nesting too deep") from None
        except EOFError as exc:
            raise _truncated(name, f"corrupt or truncated checkpoint (EOFError: {exc})") from None
        except Exception as exc:       # zip/CRC/zlib errors, allocation failures, ...
            raise _fail(name, f"corrupt or truncated checkpoint ({type(exc).__name__}: "
                              f"{exc})") from None
    # the user's map_location callable runs outside the error translation above
    decoder.tensors = [_apply_map(location.fn, t) for t in tensors]
    try:
        return decoder.decode(header["root"])
    except RecursionError:
        raise _fail(name, "container nesting too deep") from None


def _read_header(zf, name):
    """The JSON header of a version-1 or version-2 dlbasic checkpoint, checked."""
    info = zf.getinfo(_HEADER)
    if info.file_size > _MAX_HEADER_BYTES:
        raise _fail(name, f"header is implausibly large ({info.file_size} bytes)")
    header = json.loads(zf.read(info).decode("utf-8"))
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise _fail(name, "header does not describe a dlbasic checkpoint")
    version = header.get("version")
    if not _is_int(version) or version < 1 or version > _VERSION:
        raise _fail(name, f"unsupported checkpoint version {str(version)[:20]} "
                          f"(this dlbasic reads up to {_VERSION})")
    if "root" not in header:
        raise _fail(name, "header has no root object")
    return header


def _header_version(zf, name):
    return _read_header(zf, name)["version"]


def _apply_map(fn, t):
    if isinstance(t, np.ndarray):
        return t
    out = fn(t, "cpu")
    return out if isinstance(out, Tensor) else t


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None,
         **pickle_load_args):
    """Load an object saved by :func:`save` or ``torch.save`` from a path or a binary file.

    With ``weights_only=True`` (the default, as in PyTorch >= 2.6) the pickle may only build
    tensors, parameters, plain containers and values, ``Size``, dtypes and devices; anything
    else is refused with ``pickle.UnpicklingError`` and no code from the file runs.
    ``weights_only=False`` unpickles with the ``pickle`` module -- which runs code from the file,
    so only for files you trust -- and gives back whole pickled objects.

    Everything loads onto the CPU: ``map_location`` may be ``'cpu'``, a device, a dict mapping
    the saved locations to ``'cpu'``, or ``fn(tensor, location)``, whose tensor result replaces
    the loaded one. A file whose storages were saved on a GPU needs one of them, as in torch.
    ``pickle_module`` and ``mmap`` are accepted for compatibility and ignored.
    """
    from ._torch_format import MapLocation, _UserCallbackError
    location = MapLocation(map_location)
    weights_only = True if weights_only is None else bool(weights_only)
    try:
        if isinstance(f, (str, bytes, os.PathLike)):
            name = os.fsdecode(f)
            with open(name, "rb") as fh:
                return _load_file(fh, name, location, weights_only)
        if not hasattr(f, "read"):
            raise TypeError(f"dlbasic.load expects a path or a readable binary file object, "
                            f"got {type(f).__name__}")
        name = getattr(f, "name", None) or "<file object>"
        if not (hasattr(f, "seekable") and f.seekable()):
            f = io.BytesIO(f.read())
        return _load_file(f, str(name), location, weights_only)
    except _UserCallbackError as exc:       # the caller's map_location raised: as it is
        raise exc.original from None
