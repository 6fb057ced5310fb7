"""What dlbasic's two checkpoint formats share: the error types and the byte arithmetic.

``serialization.py`` (save/load, atomic writes, dlbasic's own v1/v2 files) and
``_torch_format.py`` (PyTorch's pickle-in-zip format) both import from here, and not from each
other's helpers.
"""
import pickle

import numpy as np

_CHUNK = 1 << 24           # bytes read from a zip member at a time
_MAX_DEPTH = 200           # container nesting; far beyond any state dict, far below recursion
_MAX_NDIM = 64             # NumPy's limit


class CheckpointError(RuntimeError, pickle.UnpicklingError):
    """A file that is not a valid dlbasic checkpoint (corrupt, truncated, foreign or crafted)."""


class TruncatedCheckpointError(CheckpointError, EOFError, OSError):
    """A checkpoint that ends early: empty or cut off (torch.load raises EOFError or OSError)."""


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _c_strides(shape, itemsize):
    """Byte strides of a C-ordered array of ``shape`` with elements of ``itemsize`` bytes."""
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return strides[::-1]


def _extent(shape, strides, offset, itemsize):
    """(lowest, one past the highest) byte an array's elements occupy; None when it is empty."""
    lo = hi = offset
    for n, s in zip(shape, strides):
        if n == 0:
            return None
        if s < 0:
            lo += (n - 1) * s
        else:
            hi += (n - 1) * s
    return lo, hi + itemsize


def _address(arr):
    return arr.__array_interface__["data"][0]


def _fail(name, problem):
    return CheckpointError(f"{name}: {problem}")


def _truncated(name, problem):
    return TruncatedCheckpointError(f"{name}: {problem}")


def _read_member_into(zf, info, arr, name):
    raw = arr.reshape(-1).view(np.uint8)
    mv = memoryview(raw)
    with zf.open(info) as src:
        pos = 0
        while pos < raw.size:
            chunk = src.read(min(_CHUNK, raw.size - pos))
            if not chunk:
                raise _truncated(name, f"member {info.filename} is truncated")
            mv[pos:pos + len(chunk)] = chunk
            pos += len(chunk)
        if src.read(1):
            raise _fail(name, f"member {info.filename} is longer than declared")
