"""Tensor creation: tensor, as_tensor, from_numpy, zeros, ones, full, arange, rand, ..."""
import numbers

import numpy as np

from . import _dtype
from ._dtype import to_dtype, from_numpy_dtype, TYPE_SHORT as _TYPE_SHORT
from ._convert import array_from
from ._random import _rng
from ._tensor_base import TensorBase, cpu_device, default_device_elsewhere, _CPU
from .ops._util import broadcast_error
from .ops.movement import diagonal as _diagonal, reshape, expand, transpose

__all__ = ["tensor", "as_tensor", "asarray", "from_numpy", "zeros", "ones", "full", "empty",
           "arange", "linspace", "logspace", "eye", "rand", "randn", "randint", "randperm",
           "zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like",
           "randint_like", "normal", "bernoulli", "multinomial", "scalar_tensor", "diag",
           "meshgrid", "tril_indices", "triu_indices", "poisson"]


def _check_device(device, use_default=True):
    """Tensors are made on the CPU only: ``device`` -- or, when it is None and ``use_default``,
    the default device of ``set_default_device`` -- must be the CPU; any other raises torch's
    error for a device it lacks (``_tensor_base.device_error``)."""
    if device is None:
        if not use_default:
            return
        device = default_device_elsewhere()
        if device is None:
            return
    cpu_device(device)


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of ``data`` (list, number, ndarray or Tensor)."""
    _check_device(device)
    dt = to_dtype(dtype) if dtype is not None else None
    t = TensorBase._make(array_from(data, dt))
    if requires_grad:
        t.requires_grad_(True)
    return t


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False):
    return tensor(s, dtype=dtype or _dtype.get_default_dtype(), device=device,
                  requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but shares memory with an ndarray or Tensor when the dtype already fits."""
    _check_device(device, use_default=not isinstance(data, TensorBase))
    if isinstance(data, TensorBase):
        return data if dtype is None or to_dtype(dtype) is data.dtype else data.to(dtype)
    if isinstance(data, np.ndarray):
        arr = data if dtype is None else data.astype(to_dtype(dtype).np, copy=False)
        from_numpy_dtype(arr.dtype)
        return TensorBase._make(arr)
    return tensor(data, dtype=dtype)


asarray = as_tensor


def from_numpy(ndarray):
    """A tensor sharing memory with ``ndarray``."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    from_numpy_dtype(ndarray.dtype)
    return TensorBase._make(ndarray)


def _size(size, name="empty"):
    """A shape from ``f(2, 3)`` / ``f((2, 3))``, refused in torch's words."""
    if len(size) == 1 and type(size[0]) is int and size[0] >= 0:
        return size                          # the common f(n)
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    elif len(size) == 1 and not isinstance(size[0], numbers.Integral) and \
            not isinstance(size[0], TensorBase):
        raise TypeError(f"{name}(): argument 'size' (position 1) must be tuple of ints, not "
                        f"{type(size[0]).__name__}")
    for i, s in enumerate(size):
        if not isinstance(s, numbers.Integral) and not (isinstance(s, TensorBase) and
                                                          s.numel() == 1):
            raise TypeError(f"{name}(): argument 'size' (position 1) must be tuple of ints, but "
                            f"found element of type {type(s).__name__} at pos {i}")
    size = tuple(int(s) for s in size)
    for s in size:
        if s < 0:
            if name == "zeros":
                raise RuntimeError("zeros: Dimension size must be non-negative.")
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: "
                               f"{list(size)}")
    return size


def _dt(dtype, out=None, name="empty"):
    """The NumPy dtype to create: ``dtype``, else out's, else the default float."""
    if out is not None:
        if not isinstance(out, TensorBase):
            raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
        if dtype is not None and to_dtype(dtype).np != out._data.dtype:
            raise RuntimeError(f"dtype {_TYPE_SHORT[to_dtype(dtype).name]} does not match dtype "
                               f"of out parameter ({_TYPE_SHORT[out.dtype.name]})")
        return out._data.dtype
    return to_dtype(dtype).np if dtype is not None else _dtype.get_default_dtype().np


def _finish(arr, requires_grad, out=None):
    if out is not None:
        # torch resizes ``out`` to the result and writes into it
        if out._data.shape != arr.shape:
            out._data = np.empty(arr.shape, dtype=out._data.dtype)
        out._write(arr.astype(out._data.dtype, copy=False))
        if requires_grad:
            out.requires_grad_(True)
        return out
    t = TensorBase._make(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size, out=None, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    return _finish(np.zeros(_size(size, "zeros"), dtype=_dt(dtype, out, "zeros")),
                   requires_grad, out)


def ones(*size, out=None, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    return _finish(np.ones(_size(size, "ones"), dtype=_dt(dtype, out, "ones")), requires_grad,
                   out)


def empty(*size, out=None, dtype=None, device=None, requires_grad=False, memory_format=None):
    _check_device(device)
    return _finish(np.empty(_size(size, "empty"), dtype=_dt(dtype, out, "empty")),
                   requires_grad, out)


def _check_fill(fill_value, name):
    if not isinstance(fill_value, (numbers.Number, np.generic)):
        raise TypeError(f"{name}(): argument 'fill_value' (position 2) must be Number, not "
                        f"{type(fill_value).__name__}")


def full(size, fill_value, *, out=None, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    _check_fill(fill_value, "full")
    if dtype is None and out is None:
        if isinstance(fill_value, bool):
            dtype = _dtype.bool_
        elif isinstance(fill_value, numbers.Integral):
            dtype = _dtype.int64
        elif isinstance(fill_value, (complex, np.complexfloating)):
            dtype = _dtype.get_default_dtype().to_complex()
    return _finish(np.full(_size((size,), "full"), fill_value, dtype=_dt(dtype, out, "full")),
                   requires_grad, out)


def _like(input, dtype):
    return (to_dtype(dtype).np if dtype is not None else input._data.dtype), input._data.shape


def zeros_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    _check_device(device, use_default=False)
    dt, shape = _like(input, dtype)
    return _finish(np.zeros(shape, dt), requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    _check_device(device, use_default=False)
    dt, shape = _like(input, dtype)
    return _finish(np.ones(shape, dt), requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    _check_device(device, use_default=False)
    dt, shape = _like(input, dtype)
    return _finish(np.empty(shape, dt), requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False,
              memory_format=None):
    _check_fill(fill_value, "full_like")
    _check_device(device, use_default=False)
    dt, shape = _like(input, dtype)
    return _finish(np.full(shape, fill_value, dt), requires_grad)


def rand_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    _check_device(device, use_default=False)
    return rand(input.shape, dtype=dtype or input.dtype, device=_CPU, requires_grad=requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    _check_device(device, use_default=False)
    return randn(input.shape, dtype=dtype or input.dtype, device=_CPU,
                 requires_grad=requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, device=None, requires_grad=False):
    _check_device(device, use_default=False)
    if high is None:
        low, high = 0, low
    return randint(low, high, input.shape, dtype=dtype or input.dtype, device=_CPU)


def arange(start, end=None, step=1, *, out=None, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, TensorBase) else v for v in (start, end, step)]
    start, end, step = vals
    if not all(np.isfinite(v) for v in (start, end)):
        raise RuntimeError(f"unsupported range: {start} -> {end}")
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0 and end != start:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    if dtype is None and out is None:
        is_int = all(isinstance(v, numbers.Integral) for v in vals)
        dtype = _dtype.int64 if is_int else _dtype.get_default_dtype()
    dt = from_numpy_dtype(_dt(dtype, out, "arange"))
    n = int(np.ceil((end - start) / step))
    arr = (start + step * np.arange(max(n, 0), dtype=np.float64)) if dt.is_floating_point \
        else np.arange(start, end, step)
    return _finish(arr.astype(dt.np), requires_grad, out)


def linspace(start, end, steps, *, out=None, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    if not isinstance(steps, numbers.Integral):
        raise TypeError(f"linspace(): argument 'steps' (position 3) must be int, not "
                        f"{type(steps).__name__}")
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dt = _dt(dtype, out, "linspace")
    return _finish(np.linspace(start, end, steps).astype(dt), requires_grad, out)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    return _finish(np.logspace(start, end, steps, base=base).astype(_dt(dtype)), requires_grad)


def eye(n, m=None, *, out=None, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    for arg, v in (("n", n), ("m", m)):
        if v is None:
            continue
        if not isinstance(v, numbers.Integral):
            raise TypeError(f"eye(): argument '{arg}' (position {1 if arg == 'n' else 2}) must "
                            f"be int, not {type(v).__name__}")
        if v < 0:
            raise RuntimeError(f"{arg} must be greater or equal to 0, got {v}")
    return _finish(np.eye(n, m if m is not None else n, dtype=_dt(dtype, out, "eye")),
                   requires_grad, out)


def diag(input, diagonal=0):
    if input.ndim not in (1, 2):
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")
    if input.ndim == 1:
        return TensorBase._make(np.diag(input._data, diagonal))
    return _diagonal(input, diagonal)


def _float_dt(dtype, name, out=None):
    dt = from_numpy_dtype(_dt(dtype, out, name))
    if not dt.is_floating_point:
        kernel = "check_uniform_bounds" if name == "rand" else "normal_kernel_cpu"
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_TYPE_SHORT[dt.name]}'")
    return dt


def rand(*size, generator=None, out=None, dtype=None, device=None, requires_grad=False):
    """Uniform samples on [0, 1)."""
    _check_device(device)
    dt = _float_dt(dtype, "rand", out)
    shape = _size(size, "rand")
    r = _rng(generator)
    arr = r.random(shape, dtype=dt.np) if dt.np in (np.float32, np.float64) else \
        r.random(shape).astype(dt.np)
    return _finish(arr, requires_grad, out)


def randn(*size, generator=None, out=None, dtype=None, device=None, requires_grad=False):
    """Standard normal samples."""
    _check_device(device)
    dt = _float_dt(dtype, "randn", out)
    shape = _size(size, "randn")
    r = _rng(generator)
    arr = r.standard_normal(shape, dtype=dt.np) if dt.np in (np.float32, np.float64) else \
        r.standard_normal(shape).astype(dt.np)
    return _finish(arr, requires_grad, out)


def randint(low=0, high=None, size=None, *, generator=None, out=None, dtype=None, device=None,
            requires_grad=False):
    """Integers uniform on [low, high): randint(high, size) or randint(low, high, size)."""
    _check_device(device)
    if size is None:
        if high is None:
            raise TypeError("randint() missing required argument 'size'")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} "
                           f">= to={high}")
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"randint(): argument 'size' must be tuple of ints, not "
                        f"{type(size).__name__}")
    shape = _size((tuple(size),), "randint")
    arr = _rng(generator).integers(low, high, size=shape, dtype=np.int64)
    dt = _dt(dtype, out, "randint") if dtype is not None or out is not None else np.int64
    return _finish(arr.astype(dt), requires_grad, out)


def randperm(n, *, generator=None, out=None, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    if not isinstance(n, numbers.Integral):
        raise TypeError(f"randperm(): argument 'n' (position 1) must be int, not "
                        f"{type(n).__name__}")
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    dt = _dt(dtype, out, "randperm") if dtype is not None or out is not None else np.int64
    arr = _rng(generator).permutation(n).astype(dt)
    return _finish(arr, requires_grad, out)


def normal(mean, std=1.0, size=None, *, generator=None, out=None):
    r = _rng(generator)
    if isinstance(mean, TensorBase) or isinstance(std, TensorBase):
        m = mean._data if isinstance(mean, TensorBase) else mean
        s = std._data if isinstance(std, TensorBase) else std
        if isinstance(std, TensorBase):
            if s.size and not s.min() >= 0:
                raise RuntimeError("normal expects all elements of std >= 0.0")
        elif not std >= 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")
        ref = mean if isinstance(mean, TensorBase) else std
        try:
            shape = np.broadcast_shapes(np.shape(m), np.shape(s))
        except ValueError:
            raise broadcast_error(np.shape(m), np.shape(s)) from None
        return _finish((m + s * r.standard_normal(shape)).astype(ref._data.dtype), False, out)
    if size is None:
        raise TypeError("normal(): a size is needed when mean and std are numbers")
    if not std >= 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")
    shape = _size((size,) if isinstance(size, int) else (tuple(size),), "normal")
    return _finish((mean + std * r.standard_normal(shape)).astype(_dt(None, out, "normal")),
                   False, out)


def _check_probabilities(p, name="bernoulli"):
    """torch's bernoulli refuses p outside [0, 1] (NaN included: the comparisons fail)."""
    if isinstance(p, np.ndarray):
        if p.size and not (p.min() >= 0 and p.max() <= 1):
            raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.  "
                               "(Could this error message be improved?  If so, please report an "
                               "enhancement request to PyTorch.)")
    elif not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")


def bernoulli(input, p=None, *, generator=None, out=None):
    if p is None and not input.dtype.is_floating_point:
        raise NotImplementedError(f"\"bernoulli_tensor_cpu_p_\" not implemented for "
                                  f"'{_TYPE_SHORT[input.dtype.name]}'")
    probs = input._data if p is None else p
    _check_probabilities(probs)
    if p is not None:
        probs = np.full(input.shape, p)
    u = _rng(generator).random(input.shape)
    return _finish((u < probs).astype(input._data.dtype), False, out)


def poisson(input, generator=None):
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"\"poisson_cpu\" not implemented for "
                                  f"'{_TYPE_SHORT[input.dtype.name]}'")
    rate = input._data
    if rate.size and not rate.min() >= 0:
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    return TensorBase._make(_rng(generator).poisson(rate).astype(input._data.dtype))


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):
    if not isinstance(num_samples, numbers.Integral):
        raise TypeError(f"multinomial(): argument 'num_samples' (position 2) must be int, not "
                        f"{type(num_samples).__name__}")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: "
                           f"{_TYPE_SHORT[input.dtype.name]}")
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    if not replacement and num_samples > input.shape[-1]:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                           "replacement")
    probs = input._data.astype(np.float64)
    if probs.size and not (probs.min() >= 0 and np.isfinite(probs.max())):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    rows = probs.reshape(-1, probs.shape[-1])
    r = _rng(generator)
    res = np.empty((rows.shape[0], num_samples), dtype=np.int64)
    for i, row in enumerate(rows):
        total = row.sum()
        if not total > 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        nonzero = np.count_nonzero(row)
        if replacement or num_samples <= nonzero:
            res[i] = r.choice(row.size, size=num_samples, replace=replacement, p=row / total)
        else:
            # torch then takes the zero-probability categories too, once the others are drawn
            drawn = r.choice(row.size, size=nonzero, replace=False, p=row / total)
            rest = r.permutation(np.flatnonzero(row == 0))[:num_samples - nonzero]
            res[i] = np.concatenate([drawn, rest])
    return _finish(res.reshape(probs.shape[:-1] + (num_samples,)), False, out)


def meshgrid(*tensors, indexing="ij"):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but "
                               f"got: {t}")
    shape = tuple(t.numel() for t in tensors)
    out = []
    for i, t in enumerate(tensors):
        view = [1] * len(tensors)
        view[i] = -1
        out.append(expand(reshape(t, *view), shape))
    if indexing == "xy" and len(tensors) >= 2:
        out = [transpose(o, 0, 1) for o in out]
    return tuple(out)


def tril_indices(row, col, offset=0, *, dtype=None, device=None):
    _check_device(device)
    r, c = np.tril_indices(row, offset, col)
    return TensorBase._make(np.stack([r, c]).astype(np.int64))


def triu_indices(row, col, offset=0, *, dtype=None, device=None):
    _check_device(device)
    r, c = np.triu_indices(row, offset, col)
    return TensorBase._make(np.stack([r, c]).astype(np.int64))
