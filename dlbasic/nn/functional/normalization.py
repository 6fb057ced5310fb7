"""Functional normalisation: layer_norm (a fused kernel), group_norm, normalize; rms_norm and
local_response_norm, composed of differentiable tensor ops."""
import numbers

import numpy as np

from ..._tensor import Tensor
from ..._tensor_base import shape_str as _shape_list
from ...ops.movement import broadcast_tensors
from ...ops.normalization import NativeLayerNorm
from .conv import pad as _pad

__all__ = ["layer_norm", "group_norm", "normalize", "cosine_similarity", "rms_norm",
           "local_response_norm"]


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing ``normalized_shape`` dims, then scale and shift."""
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (int(normalized_shape),)
    ns = tuple(int(s) for s in normalized_shape)
    k = len(ns)
    if k == 0:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., "
                           "containing at least one element, but got normalized_shape = []")
    shape = tuple(input.shape)
    if len(shape) < k or shape[len(shape) - k:] != ns:
        raise RuntimeError(f"Given normalized_shape={_shape_list(ns)}, expected input with "
                           f"shape [*, {', '.join(str(s) for s in ns)}], but got input of size"
                           f"{_shape_list(shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != ns:
            raise RuntimeError(f"Expected {name} to be of same shape as normalized_shape, but "
                               f"got {name} of shape {_shape_list(t.shape)} and "
                               f"normalized_shape = {_shape_list(ns)}")
    args = [input] + [t for t in (weight, bias) if t is not None]
    return NativeLayerNorm.apply(*args, n_norm=k, eps=eps,
                                           affine_w=weight is not None,
                                           affine_b=bias is not None)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each of ``num_groups`` channel groups of (N, C, *) over its channels and space."""
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received "
                           f"{input.dim()}")
    n, c = input.shape[0], input.shape[1]
    if c % num_groups != 0:
        raise RuntimeError(f"Expected number of channels in input to be divisible by "
                           f"num_groups, but got input of shape {_shape_list(input.shape)} and "
                           f"num_groups={num_groups}")
    grouped = input.reshape(n, num_groups, -1)
    y = NativeLayerNorm.apply(grouped, n_norm=1, eps=eps, affine_w=False,
                                        affine_b=False).reshape(input.shape)
    view = (1, c) + (1,) * (input.dim() - 2)
    if weight is not None:
        y = y * weight.reshape(view)
    if bias is not None:
        y = y + bias.reshape(view)
    return y


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p along dim, eps)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"normalize(): argument 'input' must be Tensor, not "
                        f"{type(input).__name__}")
    denom = input.norm(p, dim, keepdim=True).clamp(min=eps).expand_as(input)
    res = input / denom
    if out is not None:
        out.copy_(res)
        return out
    return res


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """x1 . x2 / (max(||x1||, eps) max(||x2||, eps)) along ``dim`` (inputs broadcast)."""
    for name, t in (("x1", x1), ("x2", x2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"cosine_similarity(): argument '{name}' (position "
                            f"{1 if name == 'x1' else 2}) must be Tensor, not "
                            f"{type(t).__name__}")
    x1, x2 = broadcast_tensors(x1, x2)
    n1 = x1.norm(dim=dim, keepdim=True).clamp(min=eps)
    n2 = x2.norm(dim=dim, keepdim=True).clamp(min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """y = x / sqrt(mean(x^2) + eps) * weight over the trailing ``normalized_shape`` dims
    (Zhang & Sennrich 2019: LayerNorm without the centring); ``eps=None`` is the dtype's
    machine epsilon.  Composed of tensor ops, so the gradient is theirs."""
    if not isinstance(normalized_shape, (list, tuple)):       # torch takes no bare int here
        raise TypeError(f"rms_norm(): argument 'normalized_shape' (position 2) must be tuple "
                        f"of ints, not {type(normalized_shape).__name__}")
    ns = tuple(int(s) for s in normalized_shape)
    if not ns:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., "
                           "containing at least one element, but got normalized_shape = []")
    shape = tuple(input.shape)
    if len(shape) < len(ns) or shape[len(shape) - len(ns):] != ns:
        raise RuntimeError(f"Given normalized_shape={_shape_list(ns)}, expected input with "
                           f"shape [*{', '.join(str(s) for s in ns)}], but got input of size"
                           f"{_shape_list(shape)}")
    if weight is not None and tuple(weight.shape) != ns:
        raise RuntimeError(f"Expected weight to be of same shape as normalized_shape, but got "
                           f"weight of shape {_shape_list(weight.shape)} and normalized_shape "
                           f"= {_shape_list(ns)}")
    if eps is None:
        eps = float(np.finfo(input.dtype.name).eps)
    dims = tuple(range(-len(ns), 0))
    y = input * (input * input).mean(dims, keepdim=True).add(eps).rsqrt()
    return y if weight is None else y * weight


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """b_c = a_c / (k + alpha/n * sum_{c' in window(c)} a_c'^2)^beta, the window being the
    ``size`` channels around c (zero-padded at the ends; Krizhevsky et al. 2012).  The
    window sum loops over its ``size`` offsets; composed of tensor ops."""
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality                          "
                         f"input (got {input.ndim} dimensions)")
    if input.numel() == 0:
        return input
    c = input.shape[1]
    sq = _pad(input * input, [0, 0] * (input.ndim - 2) + [size // 2, (size - 1) // 2])
    window = sq[:, 0:c]
    for j in range(1, size):
        window = window + sq[:, j:j + c]
    return input / ((window / size) * alpha + k) ** beta
