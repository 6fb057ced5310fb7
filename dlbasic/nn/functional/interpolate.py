"""Resizing: ``interpolate`` and its deprecated aliases ``upsample``, ``upsample_nearest``,
``upsample_bilinear`` (torch.nn.functional names).

The op is ``dlbasic/ops/interpolate.py`` (separable taps per axis, backward = the same weights
scattered); this file resolves ``size`` / ``scale_factor`` / ``recompute_scale_factor`` and
checks the arguments in the order, and with the messages, of PyTorch.
"""
import numbers
import warnings

import numpy as np

from ..._dtype import TYPE_SHORT
from ..._tensor import Tensor
from ...ops.interpolate import Interpolate

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]

_MODES = "nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact"
# (mode, number of spatial dims) -> the op's mode
_KERNEL = {("nearest", 1): "nearest", ("nearest", 2): "nearest", ("nearest", 3): "nearest",
           ("nearest-exact", 1): "nearest-exact", ("nearest-exact", 2): "nearest-exact",
           ("nearest-exact", 3): "nearest-exact", ("area", 1): "area", ("area", 2): "area",
           ("area", 3): "area", ("linear", 1): "linear", ("bilinear", 2): "linear",
           ("trilinear", 3): "linear", ("bicubic", 2): "cubic", ("lanczos", 2): "lanczos-aa"}
_NEEDS = {"linear": 3, "bilinear": 4, "trilinear": 5}


def _is_integer(x):
    """torch's test for a size entry: a Python or NumPy integer, or a non-float tensor."""
    if isinstance(x, Tensor):
        return not x.is_floating_point()
    return isinstance(x, (numbers.Integral, np.integer))


def _sizes_text(sizes):
    names = ("D", "H", "W")[3 - len(sizes):]
    return "(" + ", ".join(f"{n}: {int(s)}" for n, s in zip(names, sizes)) + ")"


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of (N, C, L), (N, C, H, W) or (N, C, D, H, W) to ``size``, or
    by ``scale_factor``: nearest | nearest-exact | linear (3-D) | bilinear | bicubic (4-D) |
    trilinear (5-D) | area (adaptive average pooling); ``antialias=True`` (bilinear, bicubic,
    and lanczos, which requires it) low-pass filters when shrinking.

    Output size: ``size``, or floor(in * scale_factor).  The source of output position o is
    s*(o + 1/2) - 1/2 with s = 1/scale_factor when a scale factor is given and
    ``recompute_scale_factor`` is not True, s = in/out otherwise; ``align_corners=True``:
    s*o with s = (in-1)/(out-1), so that the corner pixels' centres line up.
    """
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating "
                             "modes: linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    dim = input.ndim - 2
    scale_factors = None
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    f"Input and output must have the same number of spatial dimensions, but "
                    f"got input with spatial dimensions of {list(input.shape[2:])} and output "
                    f"size of {size}. Please provide input tensor in (N, C, d1, d2, ...,dK) "
                    f"format and output size in (o1, o2, ...,oK) format.")
            if not all(_is_integer(s) for s in size):
                raise TypeError(f"expected size to be one of int or Tuple[int] or Tuple[int, "
                                f"int] or Tuple[int, int, int], but got size with types "
                                f"{[type(s) for s in size]}")
            output_size = list(size)
        else:
            output_size = [size] * dim
    elif scale_factor is not None:
        output_size = None
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(
                    f"Input and scale_factor must have the same number of spatial dimensions, "
                    f"but got input with spatial dimensions of {list(input.shape[2:])} and "
                    f"scale_factor of shape {scale_factor}. Please provide input tensor in "
                    f"(N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) "
                    f"format.")
            scale_factors = list(scale_factor)
        else:
            scale_factors = [scale_factor] * dim
        for i, s in enumerate(scale_factors):
            if not isinstance(s, (numbers.Real, np.floating, np.integer)):
                raise TypeError(f"interpolate(): argument 'scale_factor' must be a float or a "
                                f"tuple of floats, but found element of type "
                                f"{type(s).__name__} at pos {i}")
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if mode == "area" and output_size is None:
        recompute_scale_factor = True
    if recompute_scale_factor:
        # the size is fixed here; the op then derives the step from in/out sizes
        output_size = [int(input.shape[i + 2] * scale_factors[i]) for i in range(dim)]
        scale_factors = None
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.ndim == 4):
        raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos "
                         "modes and requires a 4-D tensor as input")
    if mode == "lanczos" and input.ndim == 4:
        if align_corners:
            raise ValueError("Lanczos mode does not support align_corners=True")
        if not antialias:
            raise ValueError("Lanczos mode requires antialias=True")
    kernel = _KERNEL.get((mode, dim))
    if kernel is None:
        if mode in _NEEDS and input.ndim in (3, 4, 5):
            raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs "
                                      f"{_NEEDS[mode]}D input")
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported "
                                  f"(got {input.ndim}D) for the modes: {_MODES} (got {mode})")
    if antialias and mode != "lanczos":
        kernel += "-aa"
    if output_size is None:         # the kernel's own size: floor(in * scale_factor)
        output_size = [int(input.shape[i + 2] * scale_factors[i]) for i in range(dim)]
    for i, s in enumerate(output_size):
        if not _is_integer(s):
            raise TypeError(f"interpolate(): argument 'size' must be tuple of ints, but found "
                            f"element of type {type(s).__name__} at pos {i}")
    output_size = [int(s) for s in output_size]
    return _resize(input, kernel, output_size, scale_factors, align_corners, dim)


def _resize(input, kernel, output_size, scale_factors, align_corners, dim):
    in_spatial = tuple(input.shape[2:])
    if kernel == "area":
        if any(s == 0 for s in input.shape[1:]):
            raise RuntimeError(f"adaptive_avg_pool{dim}d(): Expected input to have non-zero "
                               f"size for non-batch dimensions, but input has sizes "
                               f"{list(input.shape)} with dimension "
                               f"{list(input.shape[1:]).index(0) + 1} being empty")
        if any(s < 0 for s in output_size):
            raise RuntimeError(f"adaptive_avg_pool{dim}d: elements of output_size must be "
                               f"greater than or equal to 0 but received {output_size}")
    else:
        if any(s <= 0 for s in in_spatial) or any(s <= 0 for s in output_size):
            link = " and output " if dim == 1 else " output "
            raise RuntimeError(f"Input and output sizes should be greater than 0, but got "
                               f"input {_sizes_text(in_spatial)}{link}"
                               f"{_sizes_text(output_size)}")
        if input.numel() == 0 and 0 in tuple(input.shape[1:]):
            raise RuntimeError(f"Non-empty {input.ndim}D data tensor expected but got a tensor "
                               f"with sizes {list(input.shape)}")
    kind = input.dtype.name
    allowed = ("float32", "float64", "float16") + (("uint8",) if kernel.startswith("nearest")
                                                   else ())
    if kind == "uint8" and kernel.endswith("-aa"):      # torch has a uint8 kernel for these
        raise NotImplementedError("interpolate: antialiased resizing of uint8 input is not "
                                  "supported by dlbasic; convert it to float first")
    if kind not in allowed:
        where = {"nearest": "compute_indices_weights_nearest",
                 "nearest-exact": "compute_indices_weights_nearest",
                 "linear": "compute_indices_weights_linear",
                 "cubic": "compute_indices_weights_cubic",
                 "area": f"adaptive_avg_pool{max(dim, 2)}d"}.get(
                     kernel, "compute_index_ranges_weights")
        raise NotImplementedError(f'"{where}" not implemented for '
                                  f"'{TYPE_SHORT.get(kind, kind)}'")
    scales = tuple(scale_factors) if scale_factors is not None else (None,) * dim
    return Interpolate.apply(input, mode=kernel, size=tuple(output_size), scales=scales,
                             align_corners=bool(align_corners))


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated: ``interpolate``."""
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` "
                  "instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(..., mode='nearest')``."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(..., mode='bilinear', align_corners=True)``."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
