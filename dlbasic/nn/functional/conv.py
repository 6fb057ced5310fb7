"""Convolutions and padding: ``conv1d``, ``conv2d``, ``pad`` (torch.nn.functional names).

The op is ``dlbasic/ops/conv.py``, its kernels (im2col + GEMM) ``dlbasic/backend/conv.py``;
this file checks the arguments exactly as PyTorch does and normalises stride/padding/dilation
to tuples.
"""
import numpy as np

from ..._dtype import TYPE_NAMES
from ..._tensor import Tensor
from ...autograd.function import Op
from ...autograd.graph_engine import differentiable_backward
from ...ops import _flops
from ...ops import movement as M
from ...ops.conv import Convolution, ConvTranspose

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "pad"]


def _shape(s):
    return "[" + ", ".join(str(int(d)) for d in s) + "]"


def _tuple_arg(value, n, name):
    """An int or a sequence of n ints -> tuple of n ints (torch's expand_param_if_needed)."""
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            return (int(value[0]),) * n
        if len(value) != n:
            raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} "
                               f"values to match the convolution dimensions, but got "
                               f"{name}={list(value)}")
        return tuple(int(v) for v in value)
    return (int(value),) * n


def _check_operands(input, weight, nd, fname):
    """Both are tensors; the input is (N, C, *spatial) or unbatched (C, *spatial)."""
    for arg, t, pos in (("input", input, 1), ("weight", weight, 2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{fname}() argument '{arg}' (position {pos}) must be Tensor, not "
                            f"{type(t).__name__}")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to "
                           f"{fname}, but got input of size: {_shape(input.shape)}")


def _check_geometry(stride, dilation, groups):
    """Positive strides, dilations and groups (torch's messages); ``groups`` as an int."""
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("non-positive dilation is not supported")
    groups = int(groups)
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    return groups


def _conv(input, weight, bias, stride, padding, dilation, groups, nd, fname):
    _check_operands(input, weight, nd, fname)
    if weight.ndim != nd + 2:
        if input.ndim == nd + 2:
            raise RuntimeError(f"Expected {weight.ndim}-dimensional input for {weight.ndim}-"
                               f"dimensional weight {_shape(weight.shape)}, but got "
                               f"{input.ndim}-dimensional input of size "
                               f"{_shape(input.shape)} instead")
        raise RuntimeError(f"expected stride to be a single integer value or a list of "
                           f"{weight.ndim - 2} values to match the convolution dimensions, but "
                           f"got stride={list(_tuple_arg(stride, nd, 'stride'))}")
    stride = _tuple_arg(stride, nd, "stride")
    dilation = _tuple_arg(dilation, nd, "dilation")
    ksize = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0),) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            # total d*(k-1); an odd total puts the extra row/column at the end, as torch
            pads = tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                         for d, k in zip(dilation, ksize))
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    else:
        p = _tuple_arg(padding, nd, "padding")
        if any(v < 0 for v in p):
            raise RuntimeError("negative padding is not supported")
        pads = tuple((v, v) for v in p)
    groups = _check_geometry(stride, dilation, groups)
    wshape = tuple(weight.shape)
    if wshape[0] % groups != 0:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} "
                           f"at dimension 0, but got weight of size [{_shape(wshape)}] instead")
    bshape = input.shape if input.ndim == nd + 2 else (1,) + tuple(input.shape)
    if bshape[1] != wshape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {_shape(wshape)}, expected "
                           f"input{_shape(bshape)} to have {wshape[1] * groups} channels, but "
                           f"got {bshape[1]} channels instead")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != wshape[0]):
        raise RuntimeError(f"Given weight of size {_shape(wshape)}, expected bias to be "
                           f"1-dimensional with {wshape[0]} elements, but got bias of size "
                           f"{_shape(bias.shape)} instead")
    padded = [bshape[2 + i] + pads[i][0] + pads[i][1] for i in range(nd)]
    eff = [dilation[i] * (ksize[i] - 1) + 1 for i in range(nd)]
    if any(p < k for p, k in zip(padded, eff)):
        raise RuntimeError(f"Calculated padded input size per channel: "
                           f"({' x '.join(map(str, padded))}). Kernel size: "
                           f"({' x '.join(map(str, eff))}). Kernel size can't be greater than "
                           f"actual input size")
    if input.dtype != weight.dtype:
        raise RuntimeError(f"Input type ({_type_name(input)}) and weight type "
                           f"({_type_name(weight)}) should be the same")
    if bias is not None and bias.dtype != input.dtype:
        raise RuntimeError(f"Input type ({input.dtype.name.replace('float64', 'double')}) and "
                           f"bias type ({bias.dtype.name.replace('float64', 'double')}) "
                           f"should be the same")
    params = dict(stride=stride, padding=pads, dilation=dilation, groups=groups)
    if bias is None:
        return Convolution.apply(input, weight, **params)
    return Convolution.apply(input, weight, bias, **params)


def _type_name(t):
    return TYPE_NAMES.get(t.dtype.name, f"torch.{t.dtype.name}Tensor")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation over (N, C, H, W) or unbatched (C, H, W) input.

    ``padding``: an int, a pair, ``"valid"`` (none) or ``"same"`` (output size = input size;
    stride 1 only).  Output size per dim: floor((H + 2p - d(k-1) - 1) / s) + 1.
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation over (N, C, L) or unbatched (C, L) input."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, nd,
                    fname):
    _check_operands(input, weight, nd, fname)
    if weight.ndim != nd + 2:
        raise RuntimeError(f"{fname}: expected a {nd + 2}-D weight (C_in, C_out/groups, "
                           f"kernel...), got one of size {_shape(weight.shape)}")
    stride = _tuple_arg(stride, nd, "stride")
    dilation = _tuple_arg(dilation, nd, "dilation")
    if isinstance(padding, str):
        raise RuntimeError(f"{fname}: padding must be an int or a tuple of ints, not "
                           f"{padding!r}")
    pad = _tuple_arg(padding, nd, "padding")
    out_pad = _tuple_arg(output_padding, nd, "output_padding")
    groups = _check_geometry(stride, dilation, groups)
    if any(v < 0 for v in pad):
        raise RuntimeError("negative padding is not supported")
    if any(v < 0 for v in out_pad):
        raise RuntimeError("negative output_padding is not supported")
    if any(op >= s and op >= d for op, s, d in zip(out_pad, stride, dilation)):
        raise RuntimeError(f"output padding must be smaller than either stride or dilation, "
                           f"but got output_padding={list(out_pad)}, stride={list(stride)}, "
                           f"dilation={list(dilation)}")
    wshape = tuple(weight.shape)
    bshape = input.shape if input.ndim == nd + 2 else (1,) + tuple(input.shape)
    if bshape[1] != wshape[0] or wshape[0] % groups:
        raise RuntimeError(f"Given transposed=1, weight of size {_shape(wshape)}, expected "
                           f"input{_shape(bshape)} to have {wshape[0]} channels, but got "
                           f"{bshape[1]} channels instead")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != wshape[1] * groups):
        raise RuntimeError(f"Given transposed=1, weight of size {_shape(wshape)}, expected "
                           f"bias to be 1-dimensional with {wshape[1] * groups} elements, but "
                           f"got bias of size {_shape(bias.shape)} instead")
    if input.dtype != weight.dtype or (bias is not None and bias.dtype != input.dtype):
        raise RuntimeError(f"Input type ({_type_name(input)}) and weight type "
                           f"({_type_name(weight)}) should be the same")
    k = wshape[2:]
    out_spatial = tuple((bshape[2 + i] - 1) * stride[i] - 2 * pad[i]
                        + dilation[i] * (k[i] - 1) + out_pad[i] + 1 for i in range(nd))
    if any(o <= 0 for o in out_spatial):
        raise RuntimeError(f"{fname}: the output would have size {list(out_spatial)}: too "
                           f"much padding for this input and kernel")
    params = dict(stride=stride, padding=pad, dilation=dilation, groups=groups,
                  out_spatial=out_spatial)
    if bias is None:
        return ConvTranspose.apply(input, weight, **params)
    return ConvTranspose.apply(input, weight, bias, **params)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """The transposed 2-D convolution (the gradient of conv2d with respect to its input) over
    (N, C_in, H, W); weight (C_in, C_out/groups, kh, kw).  Output size per dim:
    (H - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 2, "conv_transpose2d")


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """The transposed 1-D convolution over (N, C_in, L); weight (C_in, C_out/groups, k)."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 1, "conv_transpose1d")


# -- pad -----------------------------------------------------------------------------------

class ConstantPadNd(Op):
    """y = x surrounded by ``value`` (negative widths crop); dy/dx = 1 on the copied region."""
    _saves = ()
    flops = _flops.no_cost

    def forward(self, x, pad, value):
        # pad = ((before, after), ...) for every axis of x
        self.in_shape, self.pad = x.shape, pad
        crop = tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(pad, x.shape))
        x = x[crop]
        pos = tuple((max(b, 0), max(a, 0)) for b, a in pad)
        out = np.full(tuple(n + b + a for n, (b, a) in zip(x.shape, pos)), value, x.dtype)
        self.inner = tuple(slice(b, b + n) for n, (b, a) in zip(x.shape, pos))
        self.crop = crop
        out[self.inner] = x
        return out

    def backward(self, g):
        if self.crop == tuple(slice(0, n) for n in self.in_shape):
            return g[self.inner]
        dx = np.zeros(self.in_shape, g.dtype)
        dx[self.crop] = g[self.inner]
        return dx


class IndexPad(Op):
    """Reflect / replicate / circular padding: y = x gathered at a source index per position.

    Local gradient: each input element receives the sum of g over every output position that
    copied it (a scatter-add along each padded axis).
    """
    _saves = ()
    flops = _flops.no_cost

    def forward(self, x, index, mode, dims):
        # index: {axis: int array of source positions}
        self.index, self.mode, self.dims = index, mode, dims
        self.in_shape = x.shape
        for axis, idx in index.items():
            x = np.take(x, idx, axis=axis)
        return x

    def backward(self, g):
        for axis, idx in reversed(list(self.index.items())):
            moved = np.moveaxis(g, axis, 0)
            acc = np.zeros((self.in_shape[axis],) + moved.shape[1:], g.dtype)
            np.add.at(acc, idx, moved)
            g = np.moveaxis(acc, 0, axis)
        return g

    def name(self):
        return {"reflect": "ReflectionPad", "replicate": "ReplicationPad",
                "circular": "CircularPad"}[self.mode] + f"{self.dims}DBackward0"


# create_graph=True: both pads are linear in x, so their backward is linear in g, and written
# with differentiable ops it can be differentiated again

@differentiable_backward(ConstantPadNd)
def _constant_pad_backward(node, g):
    # the adjoint of padding by (b, a) is padding by (-b, -a): a crop, or zeros where x was
    # cropped
    return ConstantPadNd.apply(g, pad=tuple((-b, -a) for b, a in node.pad), value=0)


@differentiable_backward(IndexPad)
def _index_pad_backward(node, g):
    # per padded axis, the adjoint of x.take(idx) is a scatter-add of g onto zeros
    shape = list(g.shape)
    for axis, idx in reversed(list(node.index.items())):
        shape[axis] = node.in_shape[axis]
        zeros = Tensor._make(np.zeros(shape, g._data.dtype))
        g = M.IndexPut.apply(zeros, g, key=(slice(None),) * axis + (idx,), accumulate=True)
    return g


def _source_index(n, before, after, mode):
    pos = np.arange(-before, n + after)
    if mode == "replicate":
        return np.clip(pos, 0, n - 1)
    if mode == "circular":
        return pos % n
    period = 2 * (n - 1)                          # reflect without repeating the edge
    pos = np.abs(pos) % period if period else np.zeros_like(pos)
    return np.where(pos >= n, period - pos, pos)


_NON_CONSTANT_HELP = (
    "Supported combinations for non-constant padding:\n"
    "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
    "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
    "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")


def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left_last, right_last, left_prev, ...)``.

    ``mode``: ``"constant"`` (with ``value``, default 0; negative widths crop), ``"reflect"``,
    ``"replicate"`` or ``"circular"``.
    """
    pad = [int(p) for p in pad]
    if len(pad) % 2 != 0:
        raise RuntimeError("Padding length must be divisible by 2")
    npad = len(pad) // 2
    if npad > input.ndim:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input "
                           f"dimension but got padding length {len(pad)} and input of dimension "
                           f"{input.ndim}")
    # pad lists the last dim first
    widths = [(0, 0)] * (input.ndim - npad) + [(pad[2 * i], pad[2 * i + 1])
                                              for i in reversed(range(npad))]
    if mode == "constant":
        if value is not None and not isinstance(value, (int, float, np.generic)):
            raise TypeError(f"pad(): argument 'value' (position 4) must be float, not "
                            f"{type(value).__name__}")
        if any(n + b + a < 0 for n, (b, a) in zip(input.shape, widths)):
            raise RuntimeError("narrow(): length must be non-negative.")   # cropped past 0
        return ConstantPadNd.apply(input, pad=tuple(widths), value=0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    if npad not in (1, 2, 3) or input.ndim not in (npad + 1, npad + 2):
        raise NotImplementedError(f"Padding size {len(pad)} is not supported for "
                                  f"{input.ndim}D input tensor.\n" + _NON_CONSTANT_HELP)
    index = {}
    for axis in range(input.ndim - npad, input.ndim):
        n = input.shape[axis]
        b, a = widths[axis]
        if mode == "reflect" and (b >= n or a >= n):
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding "
                               f"input dimension, but got: padding ({b}, {a}) at dimension "
                               f"{axis} of input {_shape(input.shape)}")
        if mode == "circular" and (b > n or a > n):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if b or a:
            index[axis] = _source_index(n, b, a, mode)
    return IndexPad.apply(input, index=index, mode=mode, dims=npad)
