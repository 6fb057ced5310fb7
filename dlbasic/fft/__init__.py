"""torch.fft: discrete Fourier transforms with gradients.

Every transform is one of three primitives in ``ops/spectral.py`` (complex-to-complex,
real-to-complex one-sided, one-sided complex-to-real) on NumPy's pocketfft; this module reads
torch's arguments (``n``/``s``: signal sizes, the input zero-padded or truncated to them;
``dim``; ``norm``: "backward" (default, 1/n on the inverse), "ortho", "forward") and keeps
torch's dtypes: float32/complex64 in, complex64/float32 out; integers count as the default
float dtype.  The Hermitian pair is the real pair turned round:
``hfft(x) = irfft(conj(x))`` and ``ihfft(x) = conj(rfft(x))`` with the norm's direction
swapped.
"""
import operator

import numpy as np

from .. import _dtype
from .._dtype import TYPE_SHORT as _TYPE_SHORT
from .._creation import tensor as _tensor
from .._tensor_base import TensorBase
from ..ops._util import wrap_dim as _wrap_dim
from ..ops.complex_numbers import conj as _conj
from ..ops.movement import roll as _roll
from ..ops.spectral import FftC2C, FftR2C, FftC2R

__all__ = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2", "irfft2",
           "hfft2", "ihfft2", "fftn", "ifftn", "rfftn", "irfftn", "hfftn", "ihfftn", "fftfreq",
           "rfftfreq", "fftshift", "ifftshift"]

_NORMS = (None, "backward", "ortho", "forward")
_SWAPPED = {None: "forward", "backward": "forward", "forward": "backward", "ortho": "ortho"}


# -- arguments ----------------------------------------------------------------------------

def _check_norm(norm):
    if norm not in _NORMS:
        raise RuntimeError(f'Invalid normalization mode: "{norm}"')
    return norm


def _as_float_input(x, name, real_only=False):
    """``x`` as a floating or complex tensor (integers: the default float dtype)."""
    if not isinstance(x, TensorBase):
        raise TypeError(f"fft_{name}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(x).__name__}")
    kind = x._data.dtype.kind
    if kind in "biu":
        x = x.to(_dtype.get_default_dtype())
    elif x.dtype is _dtype.float16:
        raise RuntimeError("Unsupported dtype Half")
    if real_only and kind == "c":
        got = _TYPE_SHORT[x.dtype.name]
        if name == "rfftn":                  # (torch's three wordings)
            raise RuntimeError(f"rfftn expects a real-valued input tensor, but got {got}")
        if name == "ihfftn":
            raise RuntimeError(f"Only supports floating-point dtypes, but found: {got}")
        raise RuntimeError(f"{name} expects a real input tensor, but got {got}")
    return x


def _as_complex(x):
    return x if x._data.dtype.kind == "c" else x.to(x.dtype.to_complex())


def _points(n):
    if n < 1:
        raise RuntimeError(f"Invalid number of data points ({n}) specified")
    return n


def _one_dim(x, n, dim, name):
    """(axes, sizes) of a 1-D transform: ``n`` points (None: the input's) along ``dim``."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"fft_{name}(): argument 'dim' must be int, not {type(dim).__name__}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer))):
        raise TypeError(f"fft_{name}(): argument 'n' must be int, not {type(n).__name__}")
    if x.ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    axis = _wrap_dim(dim, x.ndim)
    return [axis], [n]


def _as_list(v):
    if v is None:
        return None
    if isinstance(v, (int, np.integer)):
        return [operator.index(v)]
    return [operator.index(i) for i in v]


def _many_dims(x, s, dim):
    """(axes, sizes) of an n-D transform, torch's rules: ``dim`` None and ``s`` given means the
    last len(s) dims; neither means every dim; a size of -1 (or None) keeps the input's."""
    s, dim = _as_list(s), _as_list(dim)
    if dim is None:
        if s is None:
            axes = list(range(x.ndim))
        else:
            if len(s) > x.ndim:
                raise RuntimeError(f"Got shape with {len(s)} values but input tensor only has "
                                   f"{x.ndim} dimensions.")
            axes = list(range(x.ndim - len(s), x.ndim))
    else:
        if s is not None and len(s) != len(dim):
            raise RuntimeError("When given, dim and shape arguments must have the same length")
        if x.ndim == 0 and dim:
            raise IndexError(f"Dimension specified as {dim[0]} but tensor has no dimensions")
        axes = [_wrap_dim(d, x.ndim) for d in dim]
        if len(set(axes)) != len(axes):
            raise RuntimeError("FFT dims must be unique")
    sizes = [None] * len(axes) if s is None else [None if n == -1 else n for n in s]
    return axes, sizes


def _filled(x, axes, sizes, last_from_half=False):
    """Sizes with the defaults filled in; ``last_from_half``: the last dim holds a one-sided
    spectrum, whose default signal is 2 (m - 1) points."""
    out = []
    for i, (a, n) in enumerate(zip(axes, sizes)):
        if n is None:
            n = x.shape[a]
            if last_from_half and i == len(axes) - 1:
                n = 2 * (n - 1)
        out.append(_points(n))
    return out


# -- the transforms -----------------------------------------------------------------------

def _c2c(x, axes, sizes, norm, inverse, name):
    x = _as_float_input(x, name)
    norm = _check_norm(norm)
    if not axes:
        return _as_complex(x)
    sizes = _filled(x, axes, sizes)
    return FftC2C.apply(_as_complex(x), axes=tuple(axes), sizes=tuple(sizes), inverse=inverse,
                        norm=norm)


def _r2c(x, axes, sizes, norm, name):
    x = _as_float_input(x, name, real_only=True)
    norm = _check_norm(norm)
    if not axes:
        return _as_complex(x)
    sizes = _filled(x, axes, sizes)
    return FftR2C.apply(x, axes=tuple(axes), sizes=tuple(sizes), norm=norm)


def _c2r(x, axes, sizes, norm, name):
    x = _as_float_input(x, name)
    norm = _check_norm(norm)
    if not axes:
        return x.real if x._data.dtype.kind == "c" else x
    sizes = _filled(x, axes, sizes, last_from_half=True)
    return FftC2R.apply(_as_complex(x), axes=tuple(axes), sizes=tuple(sizes), norm=norm)


def fft(input, n=None, dim=-1, norm=None):
    """The 1-D DFT: y_k = sum_t x_t e^(-2 pi i kt/n) (scaled by ``norm``)."""
    axes, sizes = _one_dim(input, n, dim, "fft")
    return _c2c(input, axes, sizes, norm, False, "fft")


def ifft(input, n=None, dim=-1, norm=None):
    """The 1-D inverse DFT: x_t = (1/n) sum_k y_k e^(+2 pi i kt/n) (``norm="backward"``)."""
    axes, sizes = _one_dim(input, n, dim, "ifft")
    return _c2c(input, axes, sizes, norm, True, "ifft")


def rfft(input, n=None, dim=-1, norm=None):
    """The DFT of a real signal, its n//2 + 1 non-negative frequencies."""
    axes, sizes = _one_dim(input, n, dim, "rfft")
    return _r2c(input, axes, sizes, norm, "rfft")


def irfft(input, n=None, dim=-1, norm=None):
    """The inverse of ``rfft``: the real signal of n points (default 2 (m - 1)) whose
    one-sided spectrum is ``input``."""
    axes, sizes = _one_dim(input, n, dim, "irfft")
    return _c2r(input, axes, sizes, norm, "irfft")


def hfft(input, n=None, dim=-1, norm=None):
    """The DFT of a Hermitian-symmetric signal given by its first half: a real spectrum of n
    points (default 2 (m - 1)); ``irfft(conj(x))`` with the norm's direction swapped."""
    axes, sizes = _one_dim(input, n, dim, "hfft")
    return _c2r(_conj(_as_float_input(input, "hfft")), axes, sizes, _SWAPPED[_check_norm(norm)],
                "hfft")


def ihfft(input, n=None, dim=-1, norm=None):
    """The inverse of ``hfft``: the first n//2 + 1 values of the Hermitian signal whose real
    spectrum is ``input``; ``conj(rfft(x))`` with the norm's direction swapped."""
    axes, sizes = _one_dim(input, n, dim, "ihfft")
    x = _as_float_input(input, "ihfft", real_only=True)
    return _conj(_r2c(x, axes, sizes, _SWAPPED[_check_norm(norm)], "ihfft"))


def fftn(input, s=None, dim=None, norm=None):
    """The n-D DFT over ``dim`` (every dim by default; the last len(s) when only s is given)."""
    return _c2c(input, *_many_dims(input, s, dim), norm, False, "fftn")


def ifftn(input, s=None, dim=None, norm=None):
    return _c2c(input, *_many_dims(input, s, dim), norm, True, "ifftn")


def rfftn(input, s=None, dim=None, norm=None):
    """The n-D DFT of a real signal; the last of ``dim`` keeps its n//2 + 1 non-negative
    frequencies."""
    return _r2c(input, *_many_dims(input, s, dim), norm, "rfftn")


def irfftn(input, s=None, dim=None, norm=None):
    """The inverse of ``rfftn``; the last signal size defaults to 2 (m - 1)."""
    return _c2r(input, *_many_dims(input, s, dim), norm, "irfftn")


def hfftn(input, s=None, dim=None, norm=None):
    x = _as_float_input(input, "hfftn")
    return _c2r(_conj(x), *_many_dims(x, s, dim), _SWAPPED[_check_norm(norm)], "hfftn")


def ihfftn(input, s=None, dim=None, norm=None):
    x = _as_float_input(input, "ihfftn", real_only=True)
    return _conj(_r2c(x, *_many_dims(x, s, dim), _SWAPPED[_check_norm(norm)], "ihfftn"))


def fft2(input, s=None, dim=(-2, -1), norm=None):
    return fftn(input, s, dim, norm)


def ifft2(input, s=None, dim=(-2, -1), norm=None):
    return ifftn(input, s, dim, norm)


def rfft2(input, s=None, dim=(-2, -1), norm=None):
    return rfftn(input, s, dim, norm)


def irfft2(input, s=None, dim=(-2, -1), norm=None):
    return irfftn(input, s, dim, norm)


def hfft2(input, s=None, dim=(-2, -1), norm=None):
    return hfftn(input, s, dim, norm)


def ihfft2(input, s=None, dim=(-2, -1), norm=None):
    return ihfftn(input, s, dim, norm)


# -- frequencies and shifts ---------------------------------------------------------------

def _freq_dtype(dtype, name):
    dt = _dtype.get_default_dtype() if dtype is None else _dtype.to_dtype(dtype)
    if not (dt.is_floating_point or dt.is_complex):
        raise RuntimeError(f"{name} requires a floating point or complex dtype")
    return dt


def fftfreq(n, d=1.0, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    """The sample frequencies of an n-point DFT: [0, 1, ..., (n-1)//2, -(n//2), ..., -1]/(d n)."""
    dt = _freq_dtype(dtype, "fftfreq")
    k = np.concatenate([np.arange((n - 1) // 2 + 1), np.arange(-(n // 2), 0)]) \
        if n > 0 else np.zeros(0)
    return _tensor(k / (float(d) * n) if n > 0 else k, dtype=dt, device=device,
                   requires_grad=requires_grad)


def rfftfreq(n, d=1.0, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    """The sample frequencies of rfft's n//2 + 1 bins: [0, 1, ..., n//2]/(d n)."""
    dt = _freq_dtype(dtype, "rfftfreq")
    k = np.arange(n // 2 + 1)
    return _tensor(k / (float(d) * n) if n > 0 else k, dtype=dt, device=device,
                   requires_grad=requires_grad)


def _shift_dims(input, dim):
    if dim is None:
        return list(range(input.ndim))
    return [_wrap_dim(d, input.ndim) for d in _as_list(dim)]


def fftshift(input, dim=None):
    """Rolls the zero frequency to the middle: by n//2 along each of ``dim`` (default all)."""
    dims = _shift_dims(input, dim)
    if not dims:
        return input.clone() if isinstance(input, TensorBase) else input
    return _roll(input, [input.shape[d] // 2 for d in dims], dims)


def ifftshift(input, dim=None):
    """The inverse of ``fftshift``: rolls by -(n//2), i.e. (n+1)//2, along each of ``dim``."""
    dims = _shift_dims(input, dim)
    if not dims:
        return input.clone() if isinstance(input, TensorBase) else input
    return _roll(input, [(input.shape[d] + 1) // 2 for d in dims], dims)
