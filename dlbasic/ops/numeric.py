"""Numerical helpers of torch's top level: cumprod, diff, kron, nan_to_num, bucketize, histc
(``cdist`` lives in ``linalg/norms.py``, beside the vector norm it is made of).  ``cumprod``
is a primitive with its own backward; ``diff``, ``kron`` and ``nan_to_num`` are compositions of differentiable ops, so their gradients are those ops'
(local gradient x upstream gradient, op by op); ``bucketize`` and ``histc`` count, and have
no gradient.
"""
import numbers

import numpy as np

from .. import _dtype
from .._tensor_base import TensorBase, wrap_dim
from ..autograd.function import Op
from . import _flops
from . import comparison as C
from . import elementwise as E
from . import movement as M
from ._util import quiet

__all__ = ["cumprod", "diff", "kron", "nan_to_num", "bucketize", "histc"]


def _check_tensor(t, fn, arg="input", position=1):
    if not isinstance(t, TensorBase):
        raise TypeError(f"{fn}(): argument '{arg}' (position {position}) must be Tensor, not "
                        f"{type(t).__name__}")


# -- cumprod --------------------------------------------------------------------------------

class Cumprod(Op):
    """y_i = x_1 * ... * x_i along an axis.

    dx_j = sum_{i >= j} g_i * prod_{k <= i, k != j} x_k
         = (x_1 ... x_{j-1}) * S_j,   S_j = g_j + x_{j+1} * S_{j+1}   (S_n = g_n)

    The exclusive prefix product times a reverse recurrence: exact also where some x_k = 0
    (dividing y by x would give 0/0 there)."""
    _saved_attrs = ("x",)
    flops = _flops.reduction

    @quiet
    def forward(self, x, axis):
        self.x, self.axis = x, axis
        return np.cumprod(x, axis=axis)

    def backward(self, g):
        x, a = np.moveaxis(self.x, self.axis, 0), self.axis
        g = np.moveaxis(g, a, 0)
        n = x.shape[0]
        if n == 0:
            return np.moveaxis(np.zeros_like(g), 0, a)
        prefix = np.ones_like(x)
        prefix[1:] = np.cumprod(x[:-1], axis=0)
        s = np.empty_like(g)
        s[n - 1] = g[n - 1]
        for j in range(n - 2, -1, -1):
            s[j] = g[j] + x[j + 1] * s[j + 1]
        return np.moveaxis(prefix * s, 0, a)


def cumprod(input, dim, *, dtype=None, out=None):
    """torch.cumprod: the running product along ``dim`` (integers and bools give int64)."""
    _check_tensor(input, "cumprod")
    if out is not None:
        raise NotImplementedError("cumprod(out=...) is not supported by dlbasic")
    if dtype is not None:
        input = input.to(_dtype.to_dtype(dtype))
    axis = wrap_dim(dim, input.ndim)
    if input._data.dtype.kind == "c":       # not in dlbasic: say so rather than drop imag
        E.complex_unsupported("cumprod", input)
    if input.ndim == 0:
        return input.clone()
    if not input.dtype.is_floating_point:
        return TensorBase._make(np.cumprod(input._data, axis=axis, dtype=np.int64))
    return Cumprod.apply(input, axis=axis)


# -- compositions ---------------------------------------------------------------------------

def diff(input, n=1, dim=-1, prepend=None, append=None):
    """torch.diff: out[i] = x[i + 1] - x[i] along ``dim``, ``n`` times, after concatenating
    ``prepend`` before and ``append`` after (bools: x[i + 1] != x[i])."""
    _check_tensor(input, "diff")
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if not isinstance(n, numbers.Integral) or n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    d = wrap_dim(dim, input.ndim)
    parts = [t for t in (prepend, input, append) if t is not None]
    for t in parts:
        if t.ndim != input.ndim:
            raise RuntimeError("diff expects prepend or append to be the same dimension as "
                               "input")
    x = M.cat(parts, d) if len(parts) > 1 else input
    for _ in range(n):
        length = x.shape[d]
        if length == 0:
            break
        hi, lo = M.narrow(x, d, 1, length - 1), M.narrow(x, d, 0, length - 1)
        x = C.ne(hi, lo) if x.dtype is _dtype.bool_ else E.sub(hi, lo)
    return x


def kron(input, other):
    """torch.kron: the Kronecker product, block (i, j) = input[i, j] * other, for any number
    of dimensions (the shorter shape is padded with leading 1s)."""
    _check_tensor(input, "kron")
    _check_tensor(other, "kron", "other", 2)
    nd = max(input.ndim, other.ndim)
    sa = (1,) * (nd - input.ndim) + tuple(input.shape)
    sb = (1,) * (nd - other.ndim) + tuple(other.shape)
    # a -> (a1, 1, a2, 1, ...), b -> (1, b1, 1, b2, ...): their product interleaves the axes
    a = M.reshape(input, tuple(v for s in sa for v in (s, 1)))
    b = M.reshape(other, tuple(v for s in sb for v in (1, s)))
    return M.reshape(E.mul(a, b), tuple(x * y for x, y in zip(sa, sb)))


def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):
    """torch.nan_to_num: NaN -> ``nan``, +inf -> ``posinf`` (default: the dtype's largest
    finite value), -inf -> ``neginf`` (its lowest).  The gradient passes where x is finite
    and is 0 where a value was replaced."""
    _check_tensor(input, "nan_to_num")
    if out is not None:
        raise NotImplementedError("nan_to_num(out=...) is not supported by dlbasic")
    if not input.dtype.is_floating_point:
        return input.clone()
    info = np.finfo(input._data.dtype)
    posinf = float(info.max) if posinf is None else posinf
    neginf = float(info.min) if neginf is None else neginf
    x = input._data
    if np.isfinite(x).all():
        return E.mul(input, 1.0) if input.requires_grad else input.clone()
    out_ = E.where(TensorBase._make(np.isnan(x)), nan, input)
    out_ = E.where(TensorBase._make(np.isposinf(x)), posinf, out_)
    return E.where(TensorBase._make(np.isneginf(x)), neginf, out_)


# -- counting (no gradient) ------------------------------------------------------------------

def bucketize(input, boundaries, *, out_int32=False, right=False, out=None):
    """torch.bucketize: for each x the index i with boundaries[i-1] < x <= boundaries[i]
    (``right``: boundaries[i-1] <= x < boundaries[i]); ``boundaries`` is 1-D, sorted."""
    _check_tensor(boundaries, "bucketize", "boundaries", 2)
    if boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim("
                           f"{boundaries.ndim})")
    v = input._data if isinstance(input, TensorBase) else np.asarray(input)
    idx = np.searchsorted(boundaries._data, v, side="right" if right else "left")
    return TensorBase._make(np.asarray(idx, dtype=np.int32 if out_int32 else np.int64))


def histc(input, bins=100, min=0, max=0, *, out=None):                     # noqa: A002
    """torch.histc: counts of ``input`` in ``bins`` equal bins over [min, max] (both 0: the
    data's min and max); values outside are ignored; the result has the input's dtype."""
    _check_tensor(input, "histc")
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"\"histogram_cpu\" not implemented for "
                                  f"'{_dtype.TYPE_SHORT.get(input.dtype.name, input.dtype.name)}'")
    if bins <= 0:
        raise RuntimeError(f"torch.histc: bins must be > 0, but got {bins} for dimension 0")
    x = input._data.reshape(-1)
    lo, hi = float(min), float(max)
    if lo > hi:
        raise RuntimeError(f"torch.histc: min must be less than or equal to max, but got "
                           f"min {lo} max {hi}")
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise RuntimeError(f"torch.histc: range of [{lo}, {hi}] is not finite")
    keep = x[(x >= lo) & (x <= hi)]
    # torch's bin of x: floor((x - min) * bins / (max - min)), the last bin closed at max
    pos = ((keep.astype(np.float64) - lo) * bins / (hi - lo)).astype(np.int64)
    pos = np.minimum(pos, bins - 1)
    counts = np.bincount(pos, minlength=bins).astype(input._data.dtype)
    return TensorBase._make(counts)
