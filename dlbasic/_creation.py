"""Tensor creation: tensor, as_tensor, from_numpy, zeros, ones, full, arange, rand, ..."""
import numbers

import numpy as np

from . import _dtype
from ._dtype import to_dtype, from_numpy_dtype
from ._random import _rng
from ._tensor import Tensor, device as _device

__all__ = ["tensor", "as_tensor", "asarray", "from_numpy", "zeros", "ones", "full", "empty",
           "arange", "linspace", "logspace", "eye", "rand", "randn", "randint", "randperm",
           "zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like",
           "randint_like", "normal", "bernoulli", "multinomial", "scalar_tensor", "diag",
           "meshgrid", "tril_indices", "triu_indices", "poisson"]


def _check_device(device):
    if device is not None:
        _device(device)


def _infer_np(data):
    """NumPy array for ``data`` with torch's default dtypes (float32 for Python floats)."""
    if isinstance(data, Tensor):
        return data._data
    if isinstance(data, np.ndarray):
        if data.dtype not in _dtype._BY_NP:
            from_numpy_dtype(data.dtype)      # raises the clear TypeError
        return data
    if isinstance(data, (np.generic,)):
        arr = np.asarray(data)
        return arr
    if isinstance(data, (list, tuple)):
        has_tensor = False
        for x in _flat(data):
            if isinstance(x, Tensor):
                has_tensor = True
            elif isinstance(x, (str, bytes)):
                raise TypeError(f"new(): invalid data type '{type(x).__name__}'")
        if has_tensor:
            data = _tensors_to_lists(data)
    arr = np.asarray(data)
    if arr.dtype == object:
        raise TypeError(f"Could not infer dtype of {type(data).__name__}")
    if arr.dtype.kind == "f":
        arr = arr.astype(_dtype.get_default_dtype().np)
    elif arr.dtype.kind in "iu":
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "b":
        pass
    elif arr.dtype.kind in "US":
        raise TypeError(f"new(): invalid data type '{type(data).__name__}'")
    return arr


def _flat(data):
    for x in data:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def _tensors_to_lists(data):
    if isinstance(data, Tensor):
        return data._data
    if isinstance(data, (list, tuple)):
        return [_tensors_to_lists(x) for x in data]
    return data


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of ``data`` (list, number, ndarray or Tensor)."""
    _check_device(device)
    arr = _infer_np(data)
    if dtype is not None:
        arr = np.array(arr, dtype=to_dtype(dtype).np, copy=True)
    else:
        arr = np.array(arr, copy=True)
    t = Tensor._make(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False):
    return tensor(s, dtype=dtype or _dtype.get_default_dtype(), requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but shares memory with an ndarray or Tensor when the dtype already fits."""
    _check_device(device)
    if isinstance(data, Tensor):
        return data if dtype is None or to_dtype(dtype) is data.dtype else data.to(dtype)
    if isinstance(data, np.ndarray):
        arr = data if dtype is None else data.astype(to_dtype(dtype).np, copy=False)
        from_numpy_dtype(arr.dtype)
        return Tensor._make(arr)
    return tensor(data, dtype=dtype)


asarray = as_tensor


def from_numpy(ndarray):
    """A tensor sharing memory with ``ndarray``."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    from_numpy_dtype(ndarray.dtype)
    return Tensor._make(ndarray)


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (numbers.Integral,)) and not (isinstance(s, Tensor) and s.numel() == 1):
            raise TypeError(f"expected a sequence of integers or a single integer, got "
                            f"'{type(s).__name__}'")
    size = tuple(int(s) for s in size)
    for s in size:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: "
                               f"{list(size)}")
    return size


def _dt(dtype):
    return to_dtype(dtype).np if dtype is not None else _dtype.get_default_dtype().np


def _finish(arr, requires_grad):
    t = Tensor._make(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size, out=None, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    return _finish(np.zeros(_size(size), dtype=_dt(dtype)), requires_grad)


def ones(*size, out=None, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    return _finish(np.ones(_size(size), dtype=_dt(dtype)), requires_grad)


def empty(*size, out=None, dtype=None, device=None, requires_grad=False, memory_format=None):
    _check_device(device)
    return _finish(np.empty(_size(size), dtype=_dt(dtype)), requires_grad)


def full(size, fill_value, *, out=None, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    if dtype is None:
        if isinstance(fill_value, bool):
            dtype = _dtype.bool_
        elif isinstance(fill_value, numbers.Integral):
            dtype = _dtype.int64
    return _finish(np.full(_size((size,) if isinstance(size, int) else (size,)), fill_value,
                           dtype=_dt(dtype)), requires_grad)


def _like(input, dtype):
    return (to_dtype(dtype).np if dtype is not None else input._data.dtype), input._data.shape


def zeros_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    dt, shape = _like(input, dtype)
    return _finish(np.zeros(shape, dt), requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    dt, shape = _like(input, dtype)
    return _finish(np.ones(shape, dt), requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    dt, shape = _like(input, dtype)
    return _finish(np.empty(shape, dt), requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False,
              memory_format=None):
    dt, shape = _like(input, dtype)
    return _finish(np.full(shape, fill_value, dt), requires_grad)


def rand_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return rand(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return randn(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, device=None, requires_grad=False):
    if high is None:
        low, high = 0, low
    return randint(low, high, input.shape, dtype=dtype or input.dtype)


def arange(start, end=None, step=1, *, out=None, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = vals
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0 and end != start:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    if dtype is None:
        is_int = all(isinstance(v, numbers.Integral) for v in vals)
        dtype = _dtype.int64 if is_int else _dtype.get_default_dtype()
    dt = to_dtype(dtype)
    n = int(np.ceil((end - start) / step))
    arr = (start + step * np.arange(max(n, 0), dtype=np.float64)) if dt.is_floating_point \
        else np.arange(start, end, step)
    return _finish(arr.astype(dt.np), requires_grad)


def linspace(start, end, steps, *, out=None, dtype=None, device=None, requires_grad=False):
    if steps < 0:
        raise RuntimeError("linspace(): number of steps must be non-negative")
    return _finish(np.linspace(start, end, steps).astype(_dt(dtype)), requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    return _finish(np.logspace(start, end, steps, base=base).astype(_dt(dtype)), requires_grad)


def eye(n, m=None, *, out=None, dtype=None, device=None, requires_grad=False):
    return _finish(np.eye(n, m if m is not None else n, dtype=_dt(dtype)), requires_grad)


def diag(input, diagonal=0):
    if input.ndim == 1:
        return Tensor._make(np.diag(input._data, diagonal))
    from .ops.movement import diagonal as _diagonal
    return _diagonal(input, diagonal)


def _float_dt(dtype, name):
    dt = to_dtype(dtype) if dtype is not None else _dtype.get_default_dtype()
    if not dt.is_floating_point:
        raise RuntimeError(f"\"{name}\" not implemented for '{dt.name}'")
    return dt


def rand(*size, generator=None, out=None, dtype=None, device=None, requires_grad=False):
    """Uniform samples on [0, 1)."""
    dt = _float_dt(dtype, "check_uniform_bounds")
    shape = _size(size)
    r = _rng(generator)
    arr = r.random(shape, dtype=dt.np) if dt.np in (np.float32, np.float64) else \
        r.random(shape).astype(dt.np)
    return _finish(arr, requires_grad)


def randn(*size, generator=None, out=None, dtype=None, device=None, requires_grad=False):
    """Standard normal samples."""
    dt = _float_dt(dtype, "normal_kernel_cpu")
    shape = _size(size)
    r = _rng(generator)
    arr = r.standard_normal(shape, dtype=dt.np) if dt.np in (np.float32, np.float64) else \
        r.standard_normal(shape).astype(dt.np)
    return _finish(arr, requires_grad)


def randint(low=0, high=None, size=None, *, generator=None, out=None, dtype=None, device=None,
            requires_grad=False):
    """Integers uniform on [low, high): randint(high, size) or randint(low, high, size)."""
    if size is None:
        if high is None:
            raise TypeError("randint() missing required argument 'size'")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} "
                           f">= to={high}")
    shape = _size((size,) if isinstance(size, int) else tuple(size))
    arr = _rng(generator).integers(low, high, size=shape, dtype=np.int64)
    return _finish(arr.astype(to_dtype(dtype).np if dtype is not None else np.int64),
                   requires_grad)


def randperm(n, *, generator=None, out=None, dtype=None, device=None, requires_grad=False):
    arr = _rng(generator).permutation(n).astype(to_dtype(dtype).np if dtype else np.int64)
    return _finish(arr, requires_grad)


def normal(mean, std=1.0, size=None, *, generator=None, out=None):
    r = _rng(generator)
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        m = mean._data if isinstance(mean, Tensor) else mean
        s = std._data if isinstance(std, Tensor) else std
        ref = mean if isinstance(mean, Tensor) else std
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
        return Tensor._make((m + s * r.standard_normal(shape)).astype(ref._data.dtype))
    shape = _size((size,) if isinstance(size, int) else tuple(size))
    return Tensor._make((mean + std * r.standard_normal(shape)).astype(_dt(None)))


def bernoulli(input, p=None, *, generator=None, out=None):
    probs = input._data if p is None else np.full(input.shape, p)
    u = _rng(generator).random(input.shape)
    return Tensor._make((u < probs).astype(input._data.dtype))


def poisson(input, generator=None):
    return Tensor._make(_rng(generator).poisson(input._data).astype(input._data.dtype))


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):
    probs = input._data.astype(np.float64)
    if (probs < 0).any() or not np.isfinite(probs).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    rows = probs.reshape(-1, probs.shape[-1])
    r = _rng(generator)
    out = np.empty((rows.shape[0], num_samples), dtype=np.int64)
    for i, row in enumerate(rows):
        total = row.sum()
        if total <= 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        if not replacement and num_samples > np.count_nonzero(row):
            raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                               "replacement")
        out[i] = r.choice(row.size, size=num_samples, replace=replacement, p=row / total)
    return Tensor._make(out.reshape(probs.shape[:-1] + (num_samples,)))


def meshgrid(*tensors, indexing="ij"):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    from .ops.movement import reshape, expand
    shape = tuple(t.numel() for t in tensors)
    out = []
    for i, t in enumerate(tensors):
        view = [1] * len(tensors)
        view[i] = -1
        out.append(expand(reshape(t, *view), shape))
    if indexing == "xy" and len(tensors) >= 2:
        from .ops.movement import transpose
        out = [transpose(o, 0, 1) for o in out]
    return tuple(out)


def tril_indices(row, col, offset=0, *, dtype=None, device=None):
    r, c = np.tril_indices(row, offset, col)
    return Tensor._make(np.stack([r, c]).astype(np.int64))


def triu_indices(row, col, offset=0, *, dtype=None, device=None):
    r, c = np.triu_indices(row, offset, col)
    return Tensor._make(np.stack([r, c]).astype(np.int64))
