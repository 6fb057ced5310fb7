"""Sliding blocks: ``unfold`` (im2col) and ``fold`` (col2im), torch.nn.functional names.

The ops are ``dlbasic/ops/fold.py`` (each the other's adjoint, so each one's backward is the
other); this file checks the arguments in PyTorch's order and with its messages.  Number of
blocks per spatial dim: floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1.
"""
import numbers

import numpy as np

from ..._dtype import TYPE_SHORT
from ...ops.fold import Col2Im, Im2Col

__all__ = ["unfold", "fold"]


def _pair(value, name, fname, position):
    """An int or a sequence of ints -> tuple (torch's _pair, then its argument parser)."""
    vals = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    for i, v in enumerate(vals):
        if not isinstance(v, (numbers.Integral, np.integer)):
            raise TypeError(f"{fname}(): argument '{name}' (position {position}) must be tuple "
                            f"of ints, but found element of type {type(v).__name__} at pos {i}")
    return tuple(int(v) for v in vals)


def _check_lengths(**args):
    for name, v in args.items():
        if len(v) != 2:
            raise RuntimeError(f"It is expected {name} equals to 2, but got size {len(v)}")


def _check_positive(kernel, dilation, padding, stride, order):
    checks = {
        "kernel": (kernel, 0, "kernel size should be greater than zero, but got kernel_height: "
                   "{} kernel_width: {}"),
        "stride": (stride, 0, "stride should be greater than zero, but got stride_height: {} "
                   "stride_width: {}"),
        "dilation": (dilation, 0, "dilation should be greater than zero, but got "
                     "dilation_height: {} dilation_width: {}"),
        "padding": (padding, -1, "padding should be non-negative, but got pad_height: {} "
                    "pad_width: {}")}
    for what in order:
        (h, w), low, msg = checks[what]
        if h <= low or w <= low:
            raise RuntimeError(msg.format(h, w))


def _blocks(size, kernel, dilation, padding, stride):
    return tuple((size[a] + 2 * padding[a] - dilation[a] * (kernel[a] - 1) - 1) // stride[a] + 1
                 for a in range(2))


def _tuple_text(t):
    return f"({t[0]}, {t[1]})"


def _check_dtype(input, where):
    if input.dtype.name not in ("float32", "float64", "float16"):
        raise NotImplementedError(f'"{where}" not implemented for '
                                  f"'{TYPE_SHORT.get(input.dtype.name, input.dtype.name)}'")


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Every sliding kernel_size block of (N, C, H, W) or (C, H, W) input as a column:
    output (N, C * kh * kw, L), L = number of blocks; rows ordered (channel, i, j)."""
    kernel = _pair(kernel_size, "kernel_size", "im2col", 2)
    dilation = _pair(dilation, "dilation", "im2col", 3)
    padding = _pair(padding, "padding", "im2col", 4)
    stride = _pair(stride, "stride", "im2col", 5)
    _check_lengths(kernel_size=kernel, dilation=dilation, padding=padding, stride=stride)
    _check_positive(kernel, dilation, padding, stride, ("kernel", "dilation", "padding",
                                                        "stride"))
    shape = tuple(input.shape)
    if len(shape) < 3:
        n = len(shape)
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {min(n, 2) if n else 1})")
    if not ((len(shape) == 3 and all(shape)) or (len(shape) == 4 and all(shape[1:]))):
        raise RuntimeError(f"Expected 3D or 4D (batch mode) tensor with possibly 0 batch size "
                           f"and other non-zero dimensions for input, but got: {list(shape)}")
    blocks = _blocks(shape[-2:], kernel, dilation, padding, stride)
    if blocks[0] < 1 or blocks[1] < 1:
        raise RuntimeError(f"Given input with spatial size {_tuple_text(shape[-2:])}, "
                           f"kernel_size={_tuple_text(kernel)}, "
                           f"dilation={_tuple_text(dilation)}, padding={_tuple_text(padding)}, "
                           f"calculated shape of the array of sliding blocks as "
                           f"{_tuple_text(blocks)}, but its components must be at least one.")
    _check_dtype(input, "im2col_out_cpu")
    return Im2Col.apply(input, kernel_size=kernel, dilation=dilation, padding=padding,
                        stride=stride, blocks=blocks)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum columns (N, C * kh * kw, L) or (C * kh * kw, L) back into an (N, C, *output_size)
    image: the adjoint of ``unfold`` (overlapping blocks add up)."""
    out_hw = _pair(output_size, "output_size", "col2im", 2)
    kernel = _pair(kernel_size, "kernel_size", "col2im", 3)
    dilation = _pair(dilation, "dilation", "col2im", 4)
    padding = _pair(padding, "padding", "col2im", 5)
    stride = _pair(stride, "stride", "col2im", 6)
    _check_lengths(output_size=out_hw, kernel_size=kernel, dilation=dilation, padding=padding,
                   stride=stride)
    _check_positive(kernel, dilation, padding, stride, ("kernel", "stride", "dilation",
                                                        "padding"))
    shape = tuple(input.shape)
    if not ((len(shape) == 2 and all(shape)) or (len(shape) == 3 and all(shape[1:]))):
        raise RuntimeError(f"Expected 2D or 3D (batch mode) tensor for input with possibly 0 "
                           f"batch size and non-zero dimensions for input, but got: "
                           f"{list(shape)}")
    # torch checks after giving an unbatched input its batch axis: dims 1 and 2 in messages
    channels, length = shape[-2:]
    if channels % (kernel[0] * kernel[1]):
        raise RuntimeError(f"Expected size of input's dimension 1 to be divisible by the "
                           f"product of kernel_size, but got input.size(1)={channels} and "
                           f"kernel_size={_tuple_text(kernel)}.")
    blocks = _blocks(out_hw, kernel, dilation, padding, stride)
    where = (f"Given output_size={_tuple_text(out_hw)}, kernel_size={_tuple_text(kernel)}, "
             f"dilation={_tuple_text(dilation)}, padding={_tuple_text(padding)}, "
             f"stride={_tuple_text(stride)}, ")
    if length != blocks[0] * blocks[1]:
        raise RuntimeError(f"{where}expected size of input's dimension 2 to match the "
                           f"calculated number of sliding blocks {blocks[0]} * {blocks[1]} = "
                           f"{blocks[0] * blocks[1]}, but got input.size(2)={length}.")
    if blocks[0] < 1 or blocks[1] < 1:
        raise RuntimeError(f"{where}calculated shape of the array of sliding blocks as "
                           f"{_tuple_text(blocks)}, which is too small (non-positive)")
    _check_dtype(input, "col2im_out_cpu")
    return Col2Im.apply(input, output_size=out_hw, kernel_size=kernel, dilation=dilation,
                        padding=padding, stride=stride, blocks=blocks)
