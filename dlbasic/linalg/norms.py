"""Norms: vector_norm (one Op for every ord), matrix_norm (compositions of abs / sum /
amax / amin and svdvals, as torch's), and norm, which picks one of the two."""
import math
import numbers

import numpy as np

from .. import _dtype
from .._tensor_base import TensorBase
from ..ops import _flops
from ..autograd.function import Op
from ..ops._util import quiet, normalize_dims, wrap_dim
from ..ops.elementwise import abs as _abs, sub
from ..ops.movement import movedim, unsqueeze
from ..ops.reduction import sum as _sum, amax, amin
from ._common import check_tensor, dtype_name
from .decompositions import svdvals

# (cdist is here too, off __all__: torch keeps it at its top level)
__all__ = ["vector_norm", "matrix_norm", "norm"]


def _is_number(x):
    return isinstance(x, numbers.Number) and not isinstance(x, bool)


class VectorNorm(Op):
    """y = ||x||_p over ``axes``, with torch's gradient for each p (g the upstream gradient):

        p = 2:        dy/dx = x / y                       (0 where y = 0)
        p = 1:        dy/dx = sign(x)
        p = 0:        y = #{x != 0}; dy/dx = 0
        p = +-inf:    y = max|x| (min|x|); g is split evenly among the x with |x| = y
        1 < p < 2:    dy/dx = sign(x) |x|^(p-1) / y^(p-1)  (0 where y = 0)
        p > 2:        dy/dx = x |x|^(p-2) / y^(p-1)        (0 where y = 0)
        p < 1:        dy/dx = sign(x) |x|^(p-1) y^(1-p)    (0 where x = 0)
    """
    flops = _flops.reduction
    _saved_attrs = ("x", "y")
    _torch_name = "LinalgVectorNormBackward0"

    @quiet
    def forward(self, x, p, axes, keepdim):
        ax = np.abs(x)
        if p == 2:
            y = np.sqrt(np.sum(x * x, axis=axes, keepdims=True))
        elif p == 1:
            y = np.sum(ax, axis=axes, keepdims=True)
        elif p == 0:
            y = np.sum(x != 0, axis=axes, keepdims=True).astype(x.dtype)
        elif p == math.inf:
            y = np.max(ax, axis=axes, keepdims=True)
        elif p == -math.inf:
            y = np.min(ax, axis=axes, keepdims=True)
        else:
            y = np.power(np.sum(np.power(ax, p), axis=axes, keepdims=True), 1.0 / p)
        y = y.astype(x.dtype, copy=False)
        self.x, self.y, self.p, self.axes, self.keepdim = x, y, p, axes, keepdim
        return y if keepdim else np.squeeze(y, axis=axes)

    @quiet
    def backward(self, g):
        x, y, p = self.x, self.y, self.p
        if not self.keepdim:
            g = np.expand_dims(g, self.axes)
        if p == 0:
            return np.zeros_like(x)
        if p == 1:
            return np.sign(x) * g
        if p == 2:
            return np.where(y == 0, 0, x * (g / np.where(y == 0, 1, y)))
        ax = np.abs(x)
        if math.isinf(p):
            hit = (ax == y) | np.isnan(ax)
            count = np.sum(hit, axis=self.axes, keepdims=True)
            return np.sign(x) * hit * (g / count)
        if p < 1:
            scaled = np.where(x == 0, 0, np.sign(x) * np.power(ax, p - 1))
            return scaled * g * np.power(y, 1 - p)
        scale = np.where(y == 0, 0, g / np.power(np.where(y == 0, 1, y), p - 1))
        scaled = np.sign(x) * np.power(ax, p - 1) if p < 2 else x * np.power(ax, p - 2)
        return scaled * scale


def _dims_arg(dim):
    if dim is None:
        return None
    if isinstance(dim, (list, tuple)):
        return tuple(dim)
    return (dim,)


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.vector_norm: ||x||_ord over ``dim`` (every element when None)."""
    fn = "linalg.vector_norm"
    check_tensor(x, fn, "x")
    if not _is_number(ord):
        raise TypeError(f"linalg_vector_norm(): argument 'ord' must be Number, not "
                        f"{type(ord).__name__}")
    if x._data.dtype.kind == "c":     # ||z||_p = || |z| ||_p, the norm of the moduli
        x = x.abs()
    if dtype is not None:
        dtype = _dtype.to_dtype(dtype)
        if not dtype.is_floating_point:
            raise RuntimeError(f"{fn}: dtype should be floating point or complex. Got "
                               f"{dtype_name(TensorBase._make(np.zeros(0, dtype.np)))}")
        if not x.dtype.is_floating_point:
            raise RuntimeError(f"{fn}: Expected a floating point or complex tensor as input. "
                               f"Got {dtype_name(x)}")
        x = x.to(dtype) if x.dtype is not dtype else x
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"{fn}: Expected a floating point or complex tensor as input. Got "
                           f"{dtype_name(x)}")
    dims = _dims_arg(dim)
    axes = normalize_dims(dims, x.ndim) if x.ndim else ()
    if ord < 0 or math.isinf(ord):
        for a in (axes if dims is not None else range(x.ndim)):
            if x.shape[a] == 0:
                raise RuntimeError(f"{fn} cannot compute the {ord} norm on the dimension {a} "
                                   "because this dimension is empty and the operation does "
                                   "not have an identity")
        if x.ndim and x._data.size == 0 and dims is None:
            raise RuntimeError(f"{fn} cannot compute the {ord} norm on an empty tensor because "
                               "the operation does not have an identity")
    p = float(ord)
    if p == int(p) if not math.isinf(p) else False:
        p = int(p)
    return VectorNorm.apply(x, p=p, axes=axes, keepdim=bool(keepdim))


_MATRIX_ORDS = ("fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """torch.linalg.matrix_norm over the two dims ``dim``:
    'fro' (sqrt of the sum of squares), 'nuc' (sum of singular values), 2 / -2 (largest /
    smallest singular value), 1 / -1 (max / min column abs-sum), inf / -inf (max / min row
    abs-sum).  Compositions of differentiable ops, so the gradients are theirs (svdvals'
    U diag(g) V^T; amax / amin split ties evenly, as torch's)."""
    fn = "linalg.matrix_norm"
    check_tensor(A, fn, "A")
    if A.ndim < 2:
        raise RuntimeError(f"{fn}: The input tensor A must have at least 2 dimensions.")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise RuntimeError(f"{fn}: dim must be a 2-tuple. Got {_show_dims(dim)}")
    d0, d1 = wrap_dim(dim[0], A.ndim), wrap_dim(dim[1], A.ndim)
    if d0 == d1:
        raise RuntimeError(f"{fn}: dims must be different. Got ({dim[0]}, {dim[1]})")
    if isinstance(ord, str):
        if ord not in ("fro", "nuc"):
            raise RuntimeError(f"{fn}: Order {ord} not supported.")
    elif not _is_number(ord) or ord not in _MATRIX_ORDS:
        raise RuntimeError(f"{fn}: Order {_show_ord(ord)} not supported.")
    if dtype is not None:
        A = A.to(_dtype.to_dtype(dtype))
    if not A.dtype.is_floating_point:
        raise RuntimeError(f"{fn}: Expected a floating point or complex tensor as input. Got "
                           f"{dtype_name(A)}")
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        s = svdvals(movedim(A, (d0, d1), (-2, -1)))
        r = _sum(s, -1) if ord == "nuc" else (amax(s, -1) if ord == 2 else amin(s, -1))
        if keepdim:
            for d in sorted((d0, d1)):
                r = unsqueeze(r, d)
        return r
    # 1 / -1: reduce the rows (d0), then the columns (d1); inf / -inf the other way round
    sum_dim, ext_dim = (d0, d1) if abs(ord) == 1 else (d1, d0)
    r = _sum(_abs(A), sum_dim, True)
    r = amax(r, ext_dim, True) if ord > 0 else amin(r, ext_dim, True)
    if not keepdim:
        r = r.squeeze((d0, d1)) if hasattr(r, "squeeze") else r
    return r


def _show_dims(dim):
    if isinstance(dim, (tuple, list)):
        return "[" + ", ".join(str(d) for d in dim) + "]"
    return str(dim)


def _show_ord(ord):
    if isinstance(ord, float) and ord == int(ord):
        return str(int(ord))
    return str(ord)


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.norm: a vector norm when ``dim`` is an int (or a 1-tuple) or when both dim
    and ord are None (over every element), a matrix norm when ``dim`` is a 2-tuple; with
    dim None and ord given, A must be 1-D (vector norm) or 2-D (matrix norm)."""
    fn = "linalg.norm"
    check_tensor(A, fn, "input")
    if dim is not None:
        dims = _dims_arg(dim)
        if len(dims) == 1:
            if isinstance(ord, str):
                raise RuntimeError(f"{fn}: If dim is specified, it mut be of length 2. Got "
                                   f"{_show_dims(dims)}")
            return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)
        if len(dims) == 2:
            return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
        raise RuntimeError(f"{fn}: If dim is specified, it must be of length 1 or 2. Got "
                           f"{_show_dims(dims)}")
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if A.ndim == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    if A.ndim == 1:
        if isinstance(ord, str):
            raise RuntimeError(f"{fn}: If dim is specified, it mut be of length 2. Got [0]")
        return vector_norm(A, ord, None, keepdim, dtype=dtype)
    raise RuntimeError(f"{fn}: If dim is not specified but ord is, the input must be 1D or 2D. "
                       f"Got {A.ndim}D.")


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """torch.cdist: out[..., i, j] = ||x1[..., i, :] - x2[..., j, :]||_p, batched.

    Built from a broadcast difference and vector_norm, whose backward torch's matches: the
    gradient at a zero distance is 0."""
    check_tensor(x1, "cdist", "x1")
    check_tensor(x2, "cdist", "x2", 2)
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: "
                           f"{x1.shape[-1]} X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if not (x1.dtype.is_floating_point and x2.dtype.is_floating_point):
        raise RuntimeError(f"cdist only supports floating-point dtypes, X1 got: "
                           f"{dtype_name(x1)}")
    if compute_mode not in ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                            "donot_use_mm_for_euclid_dist"):
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    d = sub(unsqueeze(x1, -2), unsqueeze(x2, -3))
    return vector_norm(d, float(p), dim=-1)
