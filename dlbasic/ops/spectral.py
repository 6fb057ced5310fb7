"""The discrete Fourier transforms behind ``dlbasic.fft``: three primitives on NumPy's pocketfft.

    FftC2C   complex -> complex  y = s * F x            (F: the DFT, e^-2pi i kt/n, or its
                                                          conjugate e^+... for the inverse)
    FftR2C   real -> complex     y = s * P F x          (P keeps bins 0 .. n//2 of the last dim)
    FftC2R   complex -> real     y = s * F* H x         (H: the Hermitian completion of bins
                                                          0 .. n//2 along the last dim)

``s`` is the norm's scale: 1, 1/sqrt(N) or 1/N, N the product of the signal sizes.  Each op
first resizes its input to the signal sizes along the transformed dims (zero padding or
truncation, torch's ``n``/``s``); the backward resizes its gradient back (the adjoint of
padding is truncation and vice versa).

Gradients (PyTorch's convention, ``ops/complex_numbers.py``) are the adjoints:
  C2C:  g -> s * conj(F) g                (the opposite transform, same scale)
  R2C:  g -> Re(s * conj(F) P^T g) = s * irfft_unscaled(g / w)   (the real part: x is real)
  C2R:  g -> s * w * rfft_unscaled(g)
where w is 2 for the bins that stand for a frequency and its mirror image (all but DC and,
for even n, Nyquist) and 1 for the others: irfft counts those bins twice, so rfft's adjoint
must halve them first, and irfft's adjoint doubles them.  (The imaginary parts of the DC and
Nyquist bins, which H ignores, get gradient 0: rfft of a real g is real there.)
NumPy computes in the input's precision (complex64 stays complex64); the result is cast to
the precision torch keeps.
"""
import numpy as np

from .._dtype import from_numpy_dtype
from ..autograd.function import Op
from . import _flops

__all__ = []


def _resize(a, axes, sizes):
    """``a`` truncated or zero-padded to ``sizes`` along ``axes``."""
    if all(a.shape[ax] == n for ax, n in zip(axes, sizes)):
        return a
    cut = [slice(None)] * a.ndim
    pad = [(0, 0)] * a.ndim
    for ax, n in zip(axes, sizes):
        if a.shape[ax] > n:
            cut[ax] = slice(0, n)
        else:
            pad[ax] = (0, n - a.shape[ax])
    a = a[tuple(cut)]
    if any(p[1] for p in pad):
        a = np.pad(a, pad)
    return a


def scale_of(norm, n, inverse):
    """The factor torch's ``norm`` puts on a transform of ``n`` points: "backward" scales the
    inverse by 1/n, "forward" the forward transform, "ortho" both by 1/sqrt(n)."""
    if norm == "ortho":
        return 1.0 / np.sqrt(n)
    if (norm == "forward") != inverse:
        return 1.0 / n
    return 1.0


def _scaled(a, s, dtype):
    if s != 1.0:
        a = a * s
    return a.astype(dtype, copy=False)


def _dft(a, axes, inverse):
    """The unscaled DFT of ``a`` over ``axes``: sum x_t e^(-+2 pi i kt/n)."""
    if inverse:
        return np.fft.ifftn(a, axes=axes, norm="forward")     # "forward": no 1/n on the inverse
    return np.fft.fftn(a, axes=axes, norm="backward")


def _hermitian_weights(m, n, dtype):
    """Per bin of a one-sided spectrum (m = n//2 + 1 bins of n points): 2 for the bins that
    stand for a bin and its mirror image, 1 for DC and (n even) Nyquist."""
    w = np.full(m, 2.0, dtype)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return w


class FftC2C(Op):
    """y = s * F x over ``axes`` (F conjugated when ``inverse``); the gradient is
    s * conj(F) g, resized back to x's shape."""
    _saves = ()
    flops = _flops.fft

    def forward(self, x, axes, sizes, inverse, norm):
        self.axes, self.inverse, self.in_shape = axes, inverse, x.shape
        self.scale = scale_of(norm, _flops.numel(sizes), inverse)
        return _scaled(_dft(_resize(x, axes, sizes), axes, inverse), self.scale, x.dtype)

    def backward(self, g):
        gx = _scaled(_dft(g, self.axes, not self.inverse), self.scale, g.dtype)
        return _resize(gx, self.axes, [self.in_shape[a] for a in self.axes])


class FftR2C(Op):
    """y = s * (F x)[..., :n//2 + 1] for real x (last of ``axes`` halved); the gradient is
    Re(s * conj(F) g padded to n) = s * irfft_unscaled(g, doubled bins halved)."""
    _saves = ()
    flops = _flops.fft

    def forward(self, x, axes, sizes, norm):
        self.axes, self.sizes, self.in_shape = axes, sizes, x.shape
        self.scale = scale_of(norm, _flops.numel(sizes), False)
        y = np.fft.rfftn(_resize(x, axes, sizes), axes=axes, norm="backward")
        return _scaled(y, self.scale, from_numpy_dtype(x.dtype).to_complex().np)

    def backward(self, g):
        axes, sizes = self.axes, self.sizes
        n, last = sizes[-1], axes[-1]
        w = _hermitian_weights(g.shape[last], n, g.real.dtype)
        shape = [1] * g.ndim
        shape[last] = -1
        h = g / w.reshape(shape)
        gx = np.fft.irfftn(h, s=sizes, axes=axes, norm="forward")
        gx = _scaled(gx, self.scale, g.real.dtype)
        return _resize(gx, axes, [self.in_shape[a] for a in axes])


class FftC2R(Op):
    """y = s * F* H x: the real signal of n = sizes[-1] points whose one-sided spectrum is x
    (bins 0 .. n//2 of the last of ``axes``); the gradient is s * rfft_unscaled(g) with the
    bins that stand for two doubled, resized back to x's shape."""
    _saves = ()
    flops = _flops.fft

    def forward(self, x, axes, sizes, norm):
        self.axes, self.sizes, self.in_shape = axes, sizes, x.shape
        self.scale = scale_of(norm, _flops.numel(sizes), True)
        half = list(sizes[:-1]) + [sizes[-1] // 2 + 1]
        y = np.fft.irfftn(_resize(x, axes, half), s=sizes, axes=axes, norm="forward")
        return _scaled(y, self.scale, from_numpy_dtype(x.dtype).to_real().np)

    def backward(self, g):
        axes, n, last = self.axes, self.sizes[-1], self.axes[-1]
        gx = np.fft.rfftn(g, axes=axes, norm="backward")
        shape = [1] * g.ndim
        shape[last] = -1
        gx = gx * _hermitian_weights(gx.shape[last], n, g.dtype).reshape(shape)
        gx = _scaled(gx, self.scale, from_numpy_dtype(g.dtype).to_complex().np)
        return _resize(gx, axes, [self.in_shape[a] for a in axes])
