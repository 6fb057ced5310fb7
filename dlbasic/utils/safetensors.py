"""safetensors files: the counterpart of ``safetensors.torch`` for dlbasic tensors.

``save_file(tensors, filename, metadata=None)``, ``load_file(filename, device="cpu")``,
``save(tensors, metadata=None) -> bytes``, ``load(data)``, ``save_model(model, filename)`` and
``load_model(model, filename)`` take and give dicts of :class:`dlbasic.Tensor` with the names,
arguments and errors of ``safetensors.torch``, so a file written by one loads in the other.

The file format is the ``safetensors`` package's, used through its NumPy-level API
(``safetensors.serialize``/``deserialize``/``safe_open``): dlbasic parses no header itself.
The package is an optional extra (``pip install 'dlbasic[safetensors]'``); it is imported when a
function is called, so ``import dlbasic.utils.safetensors`` works without it and the call
raises ImportError saying what to install.

What safetensors.torch refuses, so do we: tensors that share memory (tied weights; use
:func:`save_model`, which keeps one name per shared block, as safetensors.torch does) and
non-contiguous tensors (call ``.contiguous()``). A file may hold dtypes dlbasic has no type for
(BF16, U16/U32/U64, F8_*, C64): loading it raises TypeError naming the tensor and its dtype.

Writes are atomic: the bytes go to a temporary file in the target's directory, which is
fsynced and renamed over the target; on any failure the temporary is removed and an existing
target is left untouched. A file that is not valid safetensors (cut off, corrupt) raises
``safetensors.SafetensorError`` whose message names the file.
"""
import os

import numpy as np

from .._atomic import atomic_write
from .._tensor import Tensor
from .._tensor_base import cpu_device as _cpu_device

__all__ = ["save", "save_file", "load", "load_file", "save_model", "load_model"]

_MISSING = ("dlbasic.utils.safetensors needs the safetensors package: "
            "pip install 'dlbasic[safetensors]'")

# safetensors dtype tags that dlbasic has a dtype for, and the NumPy type each reads as
_SUPPORTED = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
              "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
# the torch name of the tags we cannot hold, for the error message
_TORCH_NAMES = {"BF16": "bfloat16", "U64": "uint64", "U32": "uint32", "U16": "uint16",
                "C64": "complex64", "F8_E4M3": "float8_e4m3fn", "F8_E4M3FNUZ": "float8_e4m3fnuz",
                "F8_E5M2": "float8_e5m2", "F8_E5M2FNUZ": "float8_e5m2fnuz",
                "F8_E8M0": "float8_e8m0fnu", "F4": "float4_e2m1fn_x2"}


def _safetensors():
    """The ``safetensors`` package, or ImportError saying how to install it (not cached, so
    a test can hide the package)."""
    try:
        import safetensors
        import safetensors.numpy  # noqa: F401
    except ImportError as e:
        raise ImportError(_MISSING, name="safetensors") from e
    return safetensors


# -- checks on what is saved ---------------------------------------------------------------
def _check_metadata(metadata):
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict of str to str, got {type(metadata).__name__}")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"metadata must be a dict of str to str; entry {k!r}: {v!r} has a "
                            f"{type(k).__name__} key and a {type(v).__name__} value")
    return metadata


def _byte_bounds(arr):
    """[lo, hi) addresses of the memory ``arr`` touches; None for an empty array."""
    if arr.size == 0:
        return None
    lo = hi = arr.__array_interface__["data"][0]
    for n, s in zip(arr.shape, arr.strides):
        if s < 0:
            lo += (n - 1) * s
        else:
            hi += (n - 1) * s
    return lo, hi + arr.itemsize


def _shared_groups(tensors):
    """Names grouped by overlapping memory: each group is a list of (name, lo, hi).

    dlbasic has no storage object, so memory itself decides: two tensors share when their
    address ranges overlap (views of one array, tied weights), as safetensors.torch's check
    of data_ptr ranges within a storage decides for torch.
    """
    areas = sorted((b[0], b[1], k) for k, v in tensors.items()
                   if isinstance(v, Tensor) and (b := _byte_bounds(v._data)) is not None)
    groups, stop = [], None
    for lo, hi, name in areas:
        if groups and lo < stop:
            groups[-1].append((name, lo, hi))
            stop = max(stop, hi)
        else:
            groups.append([(name, lo, hi)])
            stop = hi
    return groups


def _arrays_for_save(tensors):
    """The arrays to write, after safetensors.torch's checks (dict, Tensors, no sharing,
    contiguous), with its exception types and messages."""
    if not isinstance(tensors, dict):
        raise ValueError(f"Expected a dict of [str, dlbasic.Tensor] but received {type(tensors)}")
    for k, v in tensors.items():
        if not isinstance(k, str):
            raise TypeError(f"tensor names must be str, got {type(k).__name__} key {k!r}")
        if not isinstance(v, Tensor):
            raise ValueError(f"Key `{k}` is invalid, expected dlbasic.Tensor but received "
                             f"{type(v)}")
    failing = [sorted(name for name, _, _ in g) for g in _shared_groups(tensors) if len(g) > 1]
    if failing:
        raise RuntimeError(
            f"Some tensors share memory, this will lead to duplicate memory on disk and "
            f"potential differences when loading them again: {failing}. A potential way to "
            f"correctly save your model is to use `save_model`. More information at "
            f"https://huggingface.co/docs/safetensors/torch_shared_tensors")
    for k, v in tensors.items():
        if not v._data.flags.c_contiguous:
            raise ValueError(
                f"You are trying to save a non contiguous tensor: `{k}` which is not allowed. "
                f"It either means you are trying to save tensors which are reference of each "
                f"other in which case it's recommended to save only the full tensors, and "
                f"reslice at load time, or simply call `.contiguous()` on your tensor to pack "
                f"it before saving.")
    return {k: v._data for k, v in tensors.items()}


# -- atomic write --------------------------------------------------------------------------


# -- reading -------------------------------------------------------------------------------
def _check_dtype(tag, key, where):
    if tag not in _SUPPORTED:
        torch_name = _TORCH_NAMES.get(tag)
        also = f" (torch.{torch_name})" if torch_name else ""
        raise TypeError(
            f"{where}: tensor '{key}' has dtype {tag}{also}, which dlbasic does not support; "
            f"supported dtypes are {', '.join(_SUPPORTED)}. Convert it before saving "
            f"(e.g. tensor.float() in PyTorch).")


def _to_tensor(arr):
    if not arr.dtype.isnative:            # safetensors stores little-endian
        arr = arr.astype(arr.dtype.newbyteorder("="))
    elif not arr.flags.writeable:
        arr = arr.copy()
    return Tensor._make(arr)


def _bad_file(st, where, exc):
    return st.SafetensorError(f"{where}: not a valid safetensors file: {exc}")


def load_file(filename, device="cpu", *, backend="mmap"):
    """safetensors.torch.load_file: the tensors in ``filename`` as a dict of dlbasic Tensors.

    ``device`` must be the CPU (dlbasic has no other). A tensor of a dtype dlbasic lacks
    raises TypeError naming it; a file that is not valid safetensors raises SafetensorError
    naming the file.
    """
    st = _safetensors()
    _cpu_device(device)
    where = os.fsdecode(filename)
    options = {} if backend == "mmap" else {"backend": backend}   # older packages lack it
    try:
        with st.safe_open(filename, framework="np", **options) as f:
            keys = list(f.keys())
            for k in keys:                # refuse before reading any data
                _check_dtype(f.get_slice(k).get_dtype(), k, where)
            return {k: _to_tensor(f.get_tensor(k)) for k in keys}
    except st.SafetensorError as e:
        raise _bad_file(st, where, e) from e


def load(data):
    """safetensors.torch.load: the tensors in ``data`` (the bytes of a safetensors file)."""
    st = _safetensors()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"load expects the bytes of a safetensors file, got "
                        f"{type(data).__name__}")
    data = bytes(data)
    where = f"safetensors data ({len(data)} bytes)"
    try:
        flat = st.deserialize(data)
    except st.SafetensorError as e:
        raise _bad_file(st, where, e) from e
    for k, v in flat:
        _check_dtype(v["dtype"], k, where)
    out = {}
    for k, v in flat:
        little = np.dtype(_SUPPORTED[v["dtype"]]).newbyteorder("<")
        arr = np.frombuffer(v["data"], dtype=little).reshape(v["shape"])
        out[k] = _to_tensor(arr)
    return out


# -- writing -------------------------------------------------------------------------------
def save(tensors, metadata=None):
    """safetensors.torch.save: ``tensors`` (a dict of str to Tensor) as safetensors bytes.

    ``metadata`` is an optional dict of str to str stored in the header.
    """
    st = _safetensors()
    arrays = _arrays_for_save(tensors)
    return st.numpy.save(arrays, metadata=_check_metadata(metadata))


def save_file(tensors, filename, metadata=None):
    """safetensors.torch.save_file: write ``tensors`` to ``filename``, atomically."""
    st = _safetensors()
    arrays = _arrays_for_save(tensors)
    metadata = _check_metadata(metadata)
    atomic_write(filename, lambda tmp: st.numpy.save_file(arrays, tmp, metadata=metadata),
                 "save_file")


# -- whole models --------------------------------------------------------------------------
def _remove_duplicate_names(state_dict, *, preferred_names=None, discard_names=None):
    """{kept name: [names dropped]} for every group of names sharing memory.

    The kept name is one whose tensor covers the group's whole memory (so nothing is lost),
    the alphabetically first, unless ``discard_names`` or ``preferred_names`` (the names in
    the file, when loading) say otherwise: safetensors.torch's rule.
    """
    preferred_names = set(preferred_names or ())
    discard_names = set(discard_names or ())
    to_remove = {}
    for group in _shared_groups(state_dict):
        if len(group) < 2:
            continue
        lo = min(g[1] for g in group)
        hi = max(g[2] for g in group)
        complete = {name for name, a, b in group
                    if a == lo and b == hi and state_dict[name]._data.nbytes == hi - lo}
        names = {name for name, _, _ in group}
        if not complete:
            raise RuntimeError(
                f"Error while trying to find names to remove to save state dict, but found no "
                f"suitable name to keep for saving amongst: {sorted(names)}. None is covering "
                f"the entire storage. Refusing to save/load the model since you could be "
                f"storing much more memory than needed. Please refer to "
                f"https://huggingface.co/docs/safetensors/torch_shared_tensors for more "
                f"information.")
        keep = sorted(complete)[0]
        if complete - discard_names:
            keep = sorted(complete - discard_names)[0]
        if preferred_names & complete:
            keep = sorted(preferred_names & complete)[0]
        to_remove[keep] = sorted(names - {keep})
    return to_remove


def save_model(model, filename, metadata=None, force_contiguous=True):
    """safetensors.torch.save_model: save ``model.state_dict()`` with shared tensors once.

    Of each group of names that share memory (tied weights) only one is written; each name
    left out is recorded in the metadata as ``{dropped: kept}`` (entries the caller gave win),
    and :func:`load_model` fills it in again. ``force_contiguous`` packs non-contiguous
    tensors instead of refusing them. The caller's ``metadata`` dict is not modified.
    """
    state_dict = model.state_dict()
    metadata = None if metadata is None else dict(_check_metadata(metadata))
    for kept, dropped in _remove_duplicate_names(state_dict).items():
        for name in dropped:
            if metadata is None:
                metadata = {}
            metadata.setdefault(name, kept)
            del state_dict[name]
    if force_contiguous:
        state_dict = {k: v.contiguous() if isinstance(v, Tensor) else v
                      for k, v in state_dict.items()}
    try:
        save_file(state_dict, filename, metadata=metadata)
    except ValueError as e:
        raise ValueError(f"{e} Or use save_model(..., force_contiguous=True), read the docs "
                         f"for potential caveats.") from e


def load_model(model, filename, strict=True, device="cpu", *, backend="mmap"):
    """safetensors.torch.load_model: load ``filename`` into ``model``, tied weights included.

    Returns ``(missing, unexpected)``: the model's names the file did not set (a set) and the
    file's names the model did not use (a list), as safetensors.torch does. A name tied to
    one in the file counts as loaded. With ``strict`` either being non-empty raises
    RuntimeError listing them.
    """
    state_dict = load_file(filename, device=device, backend=backend)
    to_removes = _remove_duplicate_names(model.state_dict(), preferred_names=state_dict.keys())
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    missing, unexpected = set(missing), list(unexpected)
    for dropped in to_removes.values():
        for name in dropped:
            if name in missing:
                missing.remove(name)
            else:
                unexpected.append(name)
    if strict and (missing or unexpected):
        error = f"Error(s) in loading state_dict for {type(model).__name__}:"
        if missing:
            error += "\n    Missing key(s) in state_dict: " + ", ".join(
                f'"{k}"' for k in sorted(missing))
        if unexpected:
            error += "\n    Unexpected key(s) in state_dict: " + ", ".join(
                f'"{k}"' for k in sorted(unexpected))
        raise RuntimeError(error)
    return missing, unexpected
