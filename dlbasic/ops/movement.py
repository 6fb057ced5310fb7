"""Shape and movement primitives: views, permutes, concatenation, indexing.

Their backward moves the gradient back to where each element came from; no arithmetic.
"""
import numbers
import operator

import numpy as np

from .. import _dtype
from .._dtype import TYPE_NAMES as _TYPE_NAMES, TYPE_SHORT as _TYPE_SHORT, C_TYPE_NAMES
from .._convert import array_from
from .._tensor_base import TensorBase
from ..autograd.engine import sum_to_shape
from ..autograd.function import Op, MultiOutputOp
from ._util import normalize_dims, wrap_dim, shape_str, broadcast_error
from . import _flops
from .elementwise import _into, where

__all__ = ["reshape", "view", "flatten", "unflatten", "squeeze", "unsqueeze", "permute",
           "transpose", "swapaxes", "t", "expand", "expand_as", "repeat", "cat", "concat",
           "concatenate", "stack", "split", "chunk", "flip", "narrow", "getitem", "setitem",
           "unbind", "select", "gather", "scatter", "index_select", "masked_fill", "movedim",
           "tile", "contiguous", "clone", "roll", "tril", "triu", "broadcast_to", "hstack",
           "vstack", "take_along_dim", "masked_select", "broadcast_tensors", "ravel",
           "view_as", "reshape_as", "diagonal", "moveaxis", "index_add", "scatter_add",
           "repeat_interleave"]


def _shape_arg(shape, name="view"):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        return tuple([operator.index(s) for s in shape])
    except TypeError:
        pos, bad = next((i, s) for i, s in enumerate(shape) if not _is_index(s))
        raise TypeError(f"{name}(): argument 'size' (position 1) must be tuple of ints, but "
                        f"found element of type {type(bad).__name__} at pos {pos}") from None


def _is_index(s):
    try:
        operator.index(s)
        return True
    except TypeError:
        return False


def _infer_shape(shape, numel, input_shape):
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = 1
    for i, s in enumerate(shape):
        if s != -1:
            if s < 0:
                raise RuntimeError(f"invalid shape dimension {s} at index {i} of shape "
                                   f"{shape_str(shape)}")
            known *= s
    if neg:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{shape_str(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"shape '{shape_str(shape)}' is invalid for input of size {numel}")
    return shape


class Reshape(Op):
    """y = x with a new shape (same elements, same order); dx = g reshaped back."""
    _saves = ()
    _is_view = True
    _torch_name = "ViewBackward0"
    flops = _flops.no_cost

    def forward(self, x, shape):
        self.in_shape = x.shape
        return x.reshape(shape)

    def backward(self, g):
        return g.reshape(self.in_shape)


def reshape(input, *shape):
    shape = _infer_shape(_shape_arg(shape), input._data.size, input.shape)
    if shape == input._data.shape:
        return Reshape.apply(input, shape=shape)
    return Reshape.apply(input, shape=shape)


def view(input, *shape):
    if len(shape) == 1 and isinstance(shape[0], _dtype.dtype):
        return _view_dtype(input, shape[0])
    shape = _infer_shape(_shape_arg(shape), input._data.size, input.shape)
    if not input._data.flags.c_contiguous and input._data.size > 1:
        # a view must not copy: refuse when the memory layout makes that impossible
        try:
            v = input._data.view()
            v.shape = shape
        except AttributeError:
            raise RuntimeError("view size is not compatible with input tensor's size and stride "
                               "(at least one dimension spans across two contiguous subspaces)."
                               " Use .reshape(...) instead.") from None
    return Reshape.apply(input, shape=shape)


def _view_dtype(input, dt):
    """The same bytes read as another dtype; the last dim scales by the size ratio (torch)."""
    x = input._data
    old, new = x.dtype.itemsize, dt.np.itemsize
    if old != new:
        what = f"to view {_TYPE_SHORT[x.dtype.name]} as {_TYPE_SHORT[dt.name]} (different " \
               "element sizes)"
        if x.ndim == 0:
            raise RuntimeError(f"self.dim() cannot be 0 {what}")
        if x.shape[-1] != 1 and x.strides[-1] != old:
            raise RuntimeError(f"self.stride(-1) must be 1 {what}, but got "
                               f"{x.strides[-1] // old}")
        if new > old and x.shape[-1] % (new // old):
            raise RuntimeError(f"self.size(-1) must be divisible by {new // old} {what}, but got "
                               f"{x.shape[-1]}")
    return TensorBase._make(x.view(dt.np))


def view_as(input, other):
    return view(input, other.shape)


def reshape_as(input, other):
    return reshape(input, other.shape)


def flatten(input, start_dim=0, end_dim=-1):
    nd = input.ndim
    if nd == 0:
        return reshape(input, 1)
    s, e = wrap_dim(start_dim, nd), wrap_dim(end_dim, nd)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shp = input.shape
    n = 1
    for d in shp[s:e + 1]:
        n *= d
    return reshape(input, tuple(shp[:s]) + (n,) + tuple(shp[e + 1:]))


def ravel(input):
    return reshape(input, -1)


def unflatten(input, dim, sizes):
    d = wrap_dim(dim, input.ndim)
    sizes = tuple(sizes)
    shp = input.shape
    try:
        sizes = _infer_shape(sizes, shp[d], shp)
    except RuntimeError as e:
        if "is invalid for input" not in str(e):
            raise
        raise RuntimeError(f"unflatten: Provided sizes {shape_str(sizes)} don't multiply up to "
                           f"the size of dim {dim} ({shp[d]}) in the input tensor") from None
    return reshape(input, tuple(shp[:d]) + sizes + tuple(shp[d + 1:]))


class _SqueezeAll(Reshape):
    _torch_name = "SqueezeBackward0"


class _SqueezeDim(Reshape):
    _torch_name = "SqueezeBackward1"


class _SqueezeDims(Reshape):
    _torch_name = "SqueezeBackward2"


class _Unsqueeze(Reshape):
    _torch_name = "UnsqueezeBackward0"


def squeeze(input, dim=None):
    shp = input.shape
    if dim is None:
        new = tuple(s for s in shp if s != 1)
        cls = _SqueezeAll
    else:
        axes = normalize_dims(dim, input.ndim) if input.ndim else ()
        new = tuple(s for i, s in enumerate(shp) if not (i in axes and s == 1))
        cls = _SqueezeDims if isinstance(dim, (tuple, list)) else _SqueezeDim
    return cls.apply(input, shape=new)


def unsqueeze(input, dim):
    d = wrap_dim(dim, input.ndim + 1)
    shp = tuple(input.shape)
    return _Unsqueeze.apply(input, shape=shp[:d] + (1,) + shp[d:])


class Permute(Op):
    """y = x with axes reordered; dx = g with the inverse permutation."""
    _saves = ()
    _is_view = True
    flops = _flops.no_cost

    def forward(self, x, dims):
        self.dims = dims
        return x.transpose(dims)

    def backward(self, g):
        return g.transpose(np.argsort(self.dims))


class Transpose(Permute):
    _torch_name = "TransposeBackward0"


class _T(Permute):
    _torch_name = "TBackward0"


def permute(input, *dims):
    dims = _shape_arg(dims)
    nd = input.ndim
    if len(dims) != nd:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does "
                           f"not match the length of the desired ordering of dimensions i.e. "
                           f"input.dim() = {nd} is not equal to len(dims) = {len(dims)}")
    dims = tuple(wrap_dim(d, nd) for d in dims)
    if len(set(dims)) != nd:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return Permute.apply(input, dims=dims)


def transpose(input, dim0, dim1):
    nd = input.ndim
    if nd == 0:
        return input
    a, b = wrap_dim(dim0, nd), wrap_dim(dim1, nd)
    dims = list(range(nd))
    dims[a], dims[b] = dims[b], dims[a]
    return Transpose.apply(input, dims=tuple(dims))


swapaxes = transpose


def movedim(input, source, destination):
    nd = input.ndim
    src = [wrap_dim(s, nd) for s in (source if isinstance(source, (tuple, list)) else [source])]
    dst = [wrap_dim(s, nd) for s in (destination if isinstance(destination, (tuple, list))
                                     else [destination])]
    order = [d for d in range(nd) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return Permute.apply(input, dims=tuple(order))


moveaxis = movedim


def t(input):
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                           f"{input.ndim}D")
    if input.ndim < 2:
        return input
    return _T.apply(input, dims=(1, 0))


class Expand(Op):
    """y = x broadcast to a larger shape (a view); dx = g summed over the broadcast axes."""
    _saves = ()
    _is_view = True
    flops = _flops.no_cost

    def forward(self, x, shape):
        return np.broadcast_to(x, shape)

    def backward(self, g):
        return g      # the engine sums g back to the input's shape


def _expanded_shape(shp, sizes, dtype):
    """``sizes`` with -1 resolved, or torch's error for a tensor of shape ``shp``."""
    if len(sizes) < len(shp):
        raise RuntimeError(f"expand({_TYPE_NAMES.get(dtype.name, 'torch.Tensor')}"
                           f"{{{shape_str(shp)}}}, size={shape_str(sizes)}): the number of sizes "
                           f"provided ({len(sizes)}) must be greater or equal to the number of "
                           f"dimensions in the tensor ({len(shp)})")
    lead = len(sizes) - len(shp)
    new = list(sizes)
    for i in range(len(sizes) - 1, -1, -1):       # torch reports the last mismatch first
        s = sizes[i]
        if i < lead:
            if s < 0:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing "
                                   "dimension")
        else:
            cur = shp[i - lead]
            if s == -1:
                new[i] = cur
            elif cur != 1 and cur != s:
                raise RuntimeError(f"The expanded size of the tensor ({s}) must match the "
                                   f"existing size ({cur}) at non-singleton dimension {i}.  "
                                   f"Target sizes: {shape_str(sizes)}.  Tensor sizes: "
                                   f"{shape_str(shp)}")
    return tuple(new)


def expand(input, *sizes):
    sizes = _shape_arg(sizes, "expand")
    return Expand.apply(input, shape=_expanded_shape(input.shape, sizes, input.dtype))


def expand_as(input, other):
    return expand(input, other.shape)


broadcast_to = expand


def broadcast_tensors(*tensors):
    shapes = [t.shape for t in tensors]
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        raise broadcast_error(*shapes) from None
    return tuple(expand(t, shape) for t in tensors)


class Repeat(Op):
    """y = x tiled ``reps`` times along each axis; dx = sum of g over the tiles."""
    _saves = ()
    flops = _flops.no_cost

    def forward(self, x, reps):
        self.in_shape = (1,) * (len(reps) - x.ndim) + x.shape
        self.reps = reps
        return np.tile(x, reps)

    def backward(self, g):
        shp = []
        for r, s in zip(self.reps, self.in_shape):
            shp += [r, s]
        g = g.reshape(shp).sum(axis=tuple(range(0, len(shp), 2)))
        return g


def repeat(input, *sizes):
    reps = _shape_arg(sizes, "repeat")
    if len(reps) < input.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                           "of dimensions of tensor")
    if min(reps, default=0) < 0:
        shp = (1,) * (len(reps) - input.ndim) + tuple(input.shape)
        out = [r * s for r, s in zip(reps, shp)]
        bad = next(o for o in out if o < 0)
        raise RuntimeError(f"Trying to create tensor with negative dimension {bad}: {out}")
    return Repeat.apply(input, reps=reps)


def tile(input, dims):
    dims = tuple(dims)
    if len(dims) < input.ndim:
        dims = (1,) * (input.ndim - len(dims)) + dims
    return repeat(input, dims)


def repeat_interleave(input, repeats, dim=None):
    if dim is None:
        input, dim = reshape(input, -1), 0
    d = wrap_dim(dim, input.ndim)
    reps = repeats._data if isinstance(repeats, TensorBase) else repeats
    if isinstance(repeats, TensorBase):
        if reps.ndim > 1:
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
        if reps.ndim == 1 and reps.shape[0] not in (1, input.shape[d]):
            raise RuntimeError(f"repeats must have the same size as input along dim, but got "
                               f"repeats.size(0) = {reps.shape[0]} and input.size({d}) = "
                               f"{input.shape[d]}")
        if reps.size and reps.min() < 0:
            raise RuntimeError("repeats can not be negative")
    elif reps < 0:
        raise RuntimeError("Repeats must be non-negative")
    idx = np.repeat(np.arange(input.shape[d]), reps)
    return index_select(input, d, TensorBase._make(idx.astype(np.int64)))


class Cat(Op):
    """y = [x1; x2; ...] along an axis; each dx_i = its slice of g."""
    _saves = ()
    flops = _flops.no_cost

    def forward(self, *xs, axis):
        # torch skips legacy empty 1-D tensors (shape (0,)) in any cat; they get a (0,) grad
        self.axis = axis
        self.empty = [x.ndim == 1 and x.shape[0] == 0 for x in xs]
        if all(self.empty):
            self.empty[0] = False
        kept = [x for x, e in zip(xs, self.empty) if not e]
        self.sizes = [x.shape[axis] for x in kept]
        return np.concatenate(kept, axis=axis)

    def backward(self, g):
        bounds = np.cumsum(self.sizes)[:-1]
        parts = iter(np.split(g, bounds, axis=self.axis))
        if not any(self.empty):
            return tuple(parts)
        return tuple(np.zeros((0,), g.dtype) if e else next(parts) for e in self.empty)


def _common(tensors, name):
    if isinstance(tensors, TensorBase):
        raise TypeError(f"{name}(): argument 'tensors' (position 1) must be tuple of Tensors, "
                        "not Tensor")
    tensors = list(tensors)
    for i, t in enumerate(tensors):
        if not isinstance(t, TensorBase):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got "
                            f"{type(t).__name__}")
    if not tensors:
        if name == "cat":
            raise ValueError("torch.cat(): expected a non-empty list of Tensors")
        raise RuntimeError(f"{name} expects a non-empty TensorList")
    dt = _dtype.result_type(*tensors)
    return [x if x.dtype is dt else x.to(dt) for x in tensors]


def cat(tensors, dim=0, *, out=None):
    tensors = _common(tensors, "cat")
    # torch skips legacy empty 1-D tensors
    checked = [x for x in tensors if not (x.ndim == 1 and x.shape[0] == 0)] or tensors[:1]
    nd = checked[0].ndim
    if nd == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    axis = wrap_dim(dim, nd)
    ref = checked[0].shape
    for i, x in enumerate(checked):
        if x.ndim != nd:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {nd} and "
                               f"{x.ndim}")
        for d in range(nd):
            if d != axis and x.shape[d] != ref[d]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {axis}. "
                                   f"Expected size {ref[d]} but got size {x.shape[d]} for "
                                   f"tensor number {i} in the list.")
    r = Cat.apply(*tensors, axis=axis)
    if out is not None:
        return _cat_into(out, r)
    return r


def _cat_into(out, r):
    if isinstance(out, TensorBase) and not np.can_cast(r._data.dtype, out._data.dtype, "same_kind"):
        # torch's cat (and stack, which is a cat) says this with a TypeError
        raise TypeError(f"torch.cat(): input types can't be cast to the desired output type "
                        f"{_TYPE_SHORT[out.dtype.name]}")
    return _into(out, r)


concat = cat
concatenate = cat


class Stack(Op):
    """y = stack(x1, x2, ...) on a new axis; each dx_i = g taken at index i."""
    _saves = ()
    flops = _flops.no_cost

    def forward(self, *xs, axis):
        self.axis = axis
        return np.stack(xs, axis=axis)

    def backward(self, g):
        n = g.shape[self.axis]
        return tuple(np.take(g, i, axis=self.axis) for i in range(n))


def stack(tensors, dim=0, *, out=None):
    tensors = _common(tensors, "stack")
    ref = tensors[0].shape
    for i, x in enumerate(tensors):
        if x.shape != ref:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{shape_str(ref)} at entry 0 and {shape_str(x.shape)} at "
                               f"entry {i}")
    axis = wrap_dim(dim, len(ref) + 1)
    r = Stack.apply(*tensors, axis=axis)
    if out is not None:
        return _cat_into(out, r)
    return r


def hstack(tensors):
    tensors = list(tensors)
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    return cat([x if x.ndim >= 2 else reshape(x, 1, -1) for x in tensors], 0)


class Split(MultiOutputOp):
    """(y_1, ..., y_k) = pieces of x along an axis (views); dx = the pieces' grads joined."""
    _is_view = True
    flops = _flops.no_cost

    def name(self):
        return "SplitBackward0" if self.equal else "SplitWithSizesBackward0"

    def forward(self, x, sizes, axis, equal=False):
        self.axis, self.equal = axis, equal
        bounds = np.cumsum(sizes)[:-1]
        return tuple(np.split(x, bounds, axis=axis))

    def backward(self, *gs):
        return np.concatenate(gs, axis=self.axis)


def split(tensor, split_size_or_sections, dim=0):
    axis = wrap_dim(dim, tensor.ndim)
    n = tensor.shape[axis]
    if isinstance(split_size_or_sections, int):
        s = split_size_or_sections
        if s <= 0 and n:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got "
                               f"dimension size of {n}")
        sizes = [s] * (n // s) + ([n % s] if n % s else []) if n else [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                               f"(input tensor's size at dimension {dim}), but got "
                               f"split_sizes={sizes}")
    return Split.apply(tensor, sizes=sizes, axis=axis,
                       equal=isinstance(split_size_or_sections, int))


def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    n = input.shape[wrap_dim(dim, input.ndim)]
    size = -(-n // chunks) if n else 1
    return split(input, max(size, 1), dim)


def unbind(input, dim=0):
    axis = wrap_dim(dim, input.ndim)
    n = input.shape[axis]
    return tuple(select(input, axis, i) for i in range(n))


class Flip(Op):
    """y = x reversed along axes; dx = g reversed back."""
    _saves = ()
    flops = _flops.no_cost

    def forward(self, x, axes):
        self.axes = axes
        return np.flip(x, axes).copy()

    def backward(self, g):
        return np.flip(g, self.axes)


def flip(input, dims):
    if isinstance(dims, int):
        dims = (dims,)
    return Flip.apply(input, axes=normalize_dims(tuple(dims), input.ndim))


def roll(input, shifts, dims=None):
    if dims is None:
        flat = reshape(input, -1)
        return reshape(roll(flat, shifts, 0), input.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:"
                           f"{len(dims)}")
    out = input
    for s, d in zip(shifts, dims):
        d = wrap_dim(d, input.ndim)
        n = input.shape[d]
        if n == 0:
            continue
        s %= n
        if s:
            out = cat([narrow(out, d, n - s, s), narrow(out, d, 0, n - s)], d)
    return out


def narrow(input, dim, start, length):
    axis = wrap_dim(dim, input.ndim)
    n = input.shape[axis]
    if isinstance(start, TensorBase):
        start = int(start.item())
    if not -n <= start <= n:
        raise IndexError(f"start out of range (expected to be in range of [{-n}, {n}], but got "
                         f"{start})")
    if start < 0:
        start += n
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    key = (slice(None),) * axis + (slice(start, start + length),)
    return getitem(input, key)


def select(input, dim, index):
    if not _is_index(index):
        raise TypeError(f"select(): argument 'index' (position 2) must be int, not "
                        f"{type(index).__name__}")
    axis = wrap_dim(dim, input.ndim)
    n = input.shape[axis]
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"{shape_str(input.shape)} at dimension {dim}")
    return getitem(input, (slice(None),) * axis + (index,))


# -- indexing ---------------------------------------------------------------------------

_BAD_INDEX = ("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables "
              "are valid indices (got {})")


def _dims_used(k):
    """How many dims of the indexed tensor one entry of a key consumes."""
    if k is None or k is Ellipsis or isinstance(k, (bool, np.bool_)):
        return 0
    if isinstance(k, TensorBase):
        return k.ndim if k.dtype is _dtype.bool_ or k.dtype is _dtype.uint8 else 1
    if isinstance(k, np.ndarray) and k.dtype == bool:
        return k.ndim
    return 1


def _check_mask(mask, shape, dim):
    """torch's IndexError for a boolean mask that does not cover the dims it indexes."""
    covered = tuple(shape[dim:dim + mask.ndim])
    if mask.shape == covered:
        return
    if mask.ndim > len(shape) - dim:
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    i = next(i for i, (m, s) in enumerate(zip(mask.shape, covered)) if m != s)
    raise IndexError(f"The shape of the mask {shape_str(mask.shape)} at index {i} does not match "
                     f"the shape of the indexed tensor {shape_str(shape)} at index {dim + i}")


def _check_slice(k):
    """torch's errors for a slice that is not ints with a positive step."""
    for v in (k.start, k.stop, k.step):
        if v is not None and not _is_index(v):
            raise TypeError("slice indices must be integers or None or have an __index__ "
                            "method")
    if k.step is not None:
        if k.step == 0:
            raise ValueError("slice step cannot be zero")
        if k.step < 0:
            raise ValueError("step must be greater than zero")


def _check_int_index(k, dim, shape):
    """An integer index ``k`` at ``dim``: in range, or torch's IndexError; the next dim."""
    if dim >= len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    n = shape[dim]
    if not -n <= k < n:
        raise IndexError(f"index {k} is out of bounds for dimension {dim} with size {n}")
    return dim + 1


def _convert_key(key, shape):
    """Turn Tensors inside an index into arrays and check it the way torch reports errors."""
    if isinstance(key, list) and len(key) < 32 and any(
            k is None or k is Ellipsis or isinstance(k, (slice, list, tuple, TensorBase))
            for k in key):
        key = tuple(key)      # torch (like old NumPy) reads such a list as a tuple of indices
    if not isinstance(key, tuple):
        key = (key,)
    out = []
    advanced = False
    dim = 0
    for k in key:
        if type(k) is int:                  # the common cases first: an int, a plain slice
            dim = _check_int_index(k, dim, shape)
            out.append(k)
            continue
        if type(k) is slice:
            st = k.step
            if not ((st is None or (type(st) is int and st > 0)) and
                    (k.start is None or type(k.start) is int) and
                    (k.stop is None or type(k.stop) is int)):
                _check_slice(k)
            if dim >= len(shape):
                raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
            dim += 1
            out.append(k)
            continue
        if isinstance(k, TensorBase):
            arr = k._data
            if arr.dtype.kind not in "iub" or arr.dtype in (np.int8, np.int16):
                raise IndexError("tensors used as indices must be long, int, byte or bool "
                                 "tensors")
            if arr.dtype == np.uint8:
                arr = arr.astype(bool)
            k = arr
        elif isinstance(k, (list, tuple)) and not k:
            k = np.zeros(0, dtype=np.int64)
        elif isinstance(k, (list, tuple)) and not isinstance(k[0], slice):
            try:
                k = np.asarray(k)
            except ValueError:          # ragged: torch's own message, from its tensor()
                array_from(list(k))
                raise
            if k.dtype.kind not in "iub":
                raise IndexError("tensors used as indices must be long, int, byte or bool "
                                 "tensors")
        if isinstance(k, np.ndarray):
            advanced = True
            if k.dtype == bool:
                _check_mask(k, shape, dim)
                dim += k.ndim
            else:
                if dim >= len(shape):
                    raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
                if k.size:
                    n = shape[dim]
                    bad = (k >= n) | (k < -n)
                    if bad.any():
                        v = int(k[bad].reshape(-1)[0])
                        raise IndexError(f"index {v} is out of bounds for dimension {dim} with "
                                         f"size {n}")
                dim += 1
        elif isinstance(k, (bool, np.bool_)):
            advanced = True
        elif isinstance(k, (int, np.integer)):
            dim = _check_int_index(k, dim, shape)
        elif k is Ellipsis:
            dim = len(shape) - sum(_dims_used(j) for j in key if j is not Ellipsis)
        elif k is None:
            pass
        elif isinstance(k, slice):
            _check_slice(k)
            if dim >= len(shape):
                raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
            dim += 1
        elif isinstance(k, (str, bytes)):
            # torch turns the string into a tensor and fails there, with a TypeError
            raise TypeError(_BAD_INDEX.format(type(k).__name__))
        else:
            raise IndexError(_BAD_INDEX.format(type(k).__name__))
        out.append(k)
    return tuple(out), advanced


class GetItem(Op):
    """y = x[key]; dx = zeros with g written (or, for repeated indices, added) at key."""
    _saves = ()
    _saved_attrs = ("key",)
    flops = _flops.no_cost

    def name(self):
        # torch names the last indexing step it applied (full slices and ... are skipped)
        if self.advanced:
            return "IndexBackward0"
        for k in reversed(self.key):
            if k is None:
                return "UnsqueezeBackward0"
            if isinstance(k, slice):
                if k != slice(None):
                    return "SliceBackward0"
            elif k is not Ellipsis:
                return "SelectBackward0"
        return "SliceBackward0" if any(isinstance(k, slice) for k in self.key) \
            else "AliasBackward0"

    def forward(self, x, key, advanced):
        self.shape, self.key, self.advanced = x.shape, key, advanced
        out = x[key]
        if not isinstance(out, np.ndarray):
            # an all-integer key gives a NumPy scalar (a copy); torch gives a 0-d view
            out = x[key + (Ellipsis,)]
        return out

    def backward(self, g):
        out = np.zeros(self.shape, dtype=g.dtype)
        if self.advanced:
            np.add.at(out, self.key, g)
        else:
            out[self.key] = g
        return out


class GetItemView(GetItem):
    """x[key] for a key of ints, slices, None and ...: a view (the key is no array)."""
    _is_view = True
    _saved_attrs = ()


def getitem(input, key):
    key, advanced = _convert_key(key, input.shape)
    if advanced:
        return GetItem.apply(input, key=key, advanced=True)
    return GetItemView.apply(input, key=key, advanced=False)


class IndexPut(Op):
    """y = x with y[key] = v; dx = g with zeros at key, dv = g[key] (summed to v's shape)."""
    _saves = ()
    _torch_name = "IndexPutBackward0"
    flops = _flops.no_cost

    def forward(self, x, v, key, accumulate):
        self.key = key
        self.v_shape = v.shape
        self.accumulate = accumulate
        out = x.copy()
        if accumulate:
            np.add.at(out, key, v)
        else:
            out[key] = v
        return out

    def backward(self, g):
        nx, nv = self.needs_input_grad
        gx = gv = None
        if nx:
            gx = g.copy()
            if not self.accumulate:
                gx[self.key] = 0
        if nv:
            gv = g[self.key]
            if gv.shape != self.v_shape:
                gv = sum_to_shape(gv, self.v_shape)
        return gx, gv


def setitem(input, key, value):
    """``input[key] = value`` in place, recorded by autograd when needed."""
    key, advanced = _convert_key(key, input.shape)
    if not isinstance(value, TensorBase):
        if not isinstance(value, (numbers.Number, np.generic, np.ndarray, list, tuple)):
            raise TypeError(f"can't assign a {type(value).__name__} to a "
                            f"{_TYPE_NAMES.get(input.dtype.name, 'torch.Tensor')}")
        value = TensorBase._make(np.asarray(value, dtype=input._data.dtype) if isinstance(
            value, (numbers.Number, np.generic, np.ndarray)) else array_from(value, input.dtype))
    elif value.dtype is not input.dtype:
        value = value.to(input.dtype)

    def _put(x, v):
        return IndexPut.apply(x, v, key=key, accumulate=False)
    try:
        input._inplace(_put, value)
    except ValueError:
        raise _setitem_error(input._data[key].shape, value, advanced) from None


def _setitem_error(target, value, advanced):
    """torch's words for a value that does not fit the indexed part."""
    vshape = tuple(value.shape)
    if advanced:
        return RuntimeError(f"shape mismatch: value tensor of shape {shape_str(vshape)} cannot "
                            f"be broadcast to indexing result of shape {shape_str(target)}")
    while len(vshape) > len(target) and vshape[0] == 1:      # torch drops leading 1s
        vshape = vshape[1:]
    try:
        _expanded_shape(vshape, tuple(target), value.dtype)
    except RuntimeError as e:
        return e
    return broadcast_error(target, vshape)


def index_select(input, dim, index):
    axis = wrap_dim(dim, input.ndim)
    if not isinstance(index, TensorBase):
        raise TypeError(f"index_select(): argument 'index' (position 2) must be Tensor, not "
                        f"{type(index).__name__}")
    idx = index._data
    if idx.dtype not in (np.int64, np.int32):
        raise RuntimeError("index_select(): Expected dtype int32 or int64 for index")
    if idx.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    idx = idx.reshape(-1)
    n = input.shape[axis] if input.ndim else 1
    # torch takes no negative index here (getitem would wrap it)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError("index out of range in self")
    if input.ndim == 0:
        return reshape(input, idx.shape) if idx.size else reshape(input, -1)[0:0]
    return getitem(input, (slice(None),) * axis + (TensorBase._make(idx.astype(np.int64)),))


class Gather(Op):
    """y[i][j] = x[i][index[i][j]] (dim=1); dx = g scattered back, adding repeated indices."""
    _saves = ()
    _torch_name = "GatherBackward0"
    _saved_attrs = ("index",)
    flops = _flops.no_cost

    def forward(self, x, index, axis):
        self.shape, self.index, self.axis = x.shape, index, axis
        return np.take_along_axis(x, index, axis=axis)

    def backward(self, g):
        out = np.zeros(self.shape, dtype=g.dtype)
        _scatter_add_into(out, self.index, g, self.axis)
        return out


def _along(index, axis):
    """The NumPy key that addresses ``x[i0, .., index[i], .., ik]`` for every position i of
    ``index`` (the element torch's gather/scatter read or write)."""
    key = list(np.indices(index.shape, sparse=True))
    key[axis] = index
    return tuple(key)


def _scatter_add_into(out, index, src, axis):
    np.add.at(out, _along(index, axis), src)


def _check_index_bounds(idx, n, axis):
    """gather/scatter take indices in [0, n) only (no negative wrap-around), as torch."""
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        v = int(idx[(idx < 0) | (idx >= n)].reshape(-1)[0])
        raise RuntimeError(f"index {v} is out of bounds for dimension {axis} with size {n}")


def _index_fits(idx, self_shape, axis, src_shape=None, name="scatter"):
    """torch: index no larger than self apart from ``axis`` (and than src everywhere)."""
    for d, s in enumerate(idx.shape):
        if (d != axis and s > self_shape[d]) or (src_shape is not None and s > src_shape[d]):
            if name == "gather":
                raise RuntimeError(f"Size does not match at dimension {d} expected index "
                                   f"{shape_str(idx.shape)} to be no larger than self "
                                   f"{shape_str(self_shape)} apart from dimension {axis}")
            msg = (f"Expected index {shape_str(idx.shape)} to be no larger than self "
                   f"{shape_str(self_shape)} apart from dimension {axis}")
            if src_shape is not None:
                msg += f" and to be no larger size than src {shape_str(src_shape)}"
            raise RuntimeError(msg)


def gather(input, dim, index):
    axis = wrap_dim(dim, input.ndim)
    idx = index._data
    if idx.dtype not in (np.int64, np.int32):
        raise RuntimeError("gather(): Expected dtype int32/int64 for index")
    if max(idx.ndim, 1) != max(input.ndim, 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input "
                           "tensor")
    if input.ndim == 0 or idx.ndim == 0:      # torch reads 0-d tensors as 1-d here
        out = gather(reshape(input, -1), 0, TensorBase._make(idx.reshape(-1)))
        return reshape(out, idx.shape)
    n = input.shape[axis]
    _check_index_bounds(idx, n, axis)
    _index_fits(idx, input.shape, axis, name="gather")
    if idx.shape != input.shape:
        # torch allows an index smaller than input on the other axes
        sl = tuple(slice(0, s) if d != axis else slice(None) for d, s in enumerate(idx.shape))
        input = getitem(input, sl)
    return Gather.apply(input, index=idx, axis=axis)


def take_along_dim(input, indices, dim=None):
    """gather, except that input and indices broadcast against each other off ``dim``."""
    if indices.dtype is not _dtype.int64:
        raise RuntimeError(f"torch.take_along_dim(): dtype of indices should be Long but got "
                           f"{_TYPE_SHORT[indices.dtype.name]}")
    if dim is None:
        return gather(reshape(input, -1), 0, reshape(indices, -1))
    if input.ndim != indices.ndim:
        raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same "
                           f"number of dimensions, but got {input.ndim} dimensions for input, "
                           f"and {indices.ndim} dimensions for indices")
    axis = wrap_dim(dim, input.ndim)
    a = list(input.shape)
    b = list(indices.shape)
    a[axis] = b[axis] = 1
    try:
        common = list(np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        raise broadcast_error(a, b) from None
    x_shape, i_shape = list(common), list(common)
    x_shape[axis], i_shape[axis] = input.shape[axis], indices.shape[axis]
    x = input if list(input.shape) == x_shape else expand(input, x_shape)
    idx = indices if list(indices.shape) == i_shape else expand(indices, i_shape)
    return gather(x, axis, TensorBase._make(np.ascontiguousarray(idx._data)))


class Scatter(Op):
    """y = x with y[index] = src along an axis (or += src, *= src); dx = g with zeros where
    written (add: g), dsrc = g read at the written places.  reduce="multiply" has no
    gradient, as in torch (which has none for any reduce)."""
    _saves = ()
    _saved_attrs = ("key",)
    flops = _flops.no_cost

    def forward(self, x, src, index, axis, reduce):
        self.key, self.reduce = _along(index, axis), reduce
        out = x.copy()
        if reduce == "add":
            np.add.at(out, self.key, src)
        elif reduce == "multiply":
            np.multiply.at(out, self.key, src)
        else:
            out[self.key] = src
        return out

    def backward(self, g):
        if self.reduce == "multiply":
            raise RuntimeError("derivative for aten::scatter is not implemented")
        nx, ns = self.needs_input_grad
        gx = gs = None
        if nx:
            gx = g.copy()
            if self.reduce is None:
                gx[self.key] = 0
        if ns:
            gs = g[self.key]
        return gx, gs


def _scatter_args(name, input, dim, index, src):
    """Checked (input, axis, index array, src) for scatter/scatter_add, as torch checks them;
    0-d tensors are read as 1-d (torch's ensure_nonempty_dim)."""
    axis = wrap_dim(dim, input.ndim)
    idx = index._data
    if idx.dtype not in (np.int64, np.int32):
        raise RuntimeError(f"{name}(): Expected dtype int32/int64 for index")
    nd = max(input.ndim, 1)
    if max(idx.ndim, 1) != nd:
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    if isinstance(src, TensorBase):
        if max(src.ndim, 1) != nd:
            raise RuntimeError("Index tensor must have the same number of dimensions as src "
                               "tensor")
        if src.dtype is not input.dtype:
            raise RuntimeError(f"{name}(): Expected self.dtype to be equal to src.dtype")
    if idx.ndim == 0:
        idx = idx.reshape(1)
    if isinstance(src, TensorBase) and src.ndim == 0:
        src = reshape(src, 1)
    self_shape = input.shape if input.ndim else (1,)
    _index_fits(idx, self_shape, axis, src.shape if isinstance(src, TensorBase) else None)
    _check_index_bounds(idx, self_shape[axis], axis)
    if isinstance(src, TensorBase) and src.shape != idx.shape:
        # torch reads only the leading index.shape block of a larger src
        src = getitem(src, tuple(slice(0, s) for s in idx.shape))
    return axis, idx, src


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    if reduce not in (None, "add", "multiply"):
        raise RuntimeError("reduce argument must be either add or multiply.")
    if src is None and value is None:
        raise TypeError("scatter() missing a 'src' tensor or a 'value' number")
    axis, idx, src = _scatter_args("scatter", input, dim, index, src)
    if not isinstance(src, TensorBase):
        fill = value if value is not None else src
        src = TensorBase._make(np.full(idx.shape, fill, dtype=input._data.dtype))
    return _apply_scatter(input, src, idx, axis, reduce)


def _apply_scatter(input, src, idx, axis, reduce):
    if input.ndim == 0:
        out = Scatter.apply(reshape(input, 1), src, index=idx, axis=0, reduce=reduce)
        return reshape(out, ())
    return Scatter.apply(input, src, index=idx, axis=axis, reduce=reduce)


def scatter_add(input, dim, index, src):
    axis, idx, src = _scatter_args("scatter", input, dim, index, src)
    return _apply_scatter(input, src, idx, axis, "add")


def index_add(input, dim, index, source, *, alpha=1):
    axis = wrap_dim(dim, input.ndim)
    idx = index._data
    if idx.dtype not in (np.int64, np.int32):
        raise RuntimeError(f"index_add_(): Expected dtype int32/int64 for index but got: "
                           f"{_TYPE_SHORT[index.dtype.name]}")
    n_src = source.shape[axis] if source.ndim else 1
    if idx.size != n_src:
        raise RuntimeError(f"index_add_(): Number of indices ({idx.size}) should be equal to "
                           f"source.size(dim): ({n_src}), for dim: {axis}")
    n = input.shape[axis] if input.ndim else 1
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError("index out of range in self")
    key = (slice(None),) * axis + (idx.reshape(-1),)
    src = source if alpha == 1 else source * alpha
    return IndexPut.apply(input, src, key=key, accumulate=True)


def masked_fill(input, mask, value):
    if isinstance(value, TensorBase):
        if value.ndim != 0:
            raise RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but got "
                               f"tensor with {value.ndim} dimension(s).")
        v = value.to(input.dtype)
    elif not isinstance(value, (numbers.Number, np.generic)):
        raise TypeError(f"masked_fill(): argument 'value' must be Number or Tensor, not "
                        f"{type(value).__name__}")
    else:
        v = TensorBase._make(np.asarray(value, dtype=input._data.dtype))
    if mask.dtype is not _dtype.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{C_TYPE_NAMES[mask.dtype.name]}")
    return where(mask, v, input)


def masked_select(input, mask):
    if mask.dtype is not _dtype.bool_:
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    try:
        shape = np.broadcast_shapes(input.shape, mask.shape)
    except ValueError:
        raise broadcast_error(mask.shape, input.shape) from None
    x = expand(input, shape) if input.shape != shape else input
    m = np.broadcast_to(mask._data, shape)
    return getitem(x, TensorBase._make(np.ascontiguousarray(m)))


class Clone(Op):
    """y = a copy of x; dx = g."""
    _saves = ()
    flops = _flops.no_cost

    def forward(self, x):
        return x.copy()

    def backward(self, g):
        return g


def clone(input, *, memory_format=None):
    return Clone.apply(input)


def contiguous(input, memory_format=None):
    if input._data.flags.c_contiguous:
        return input
    return Clone.apply(input)


class Tril(Op):
    """y = x with elements above (tril) / below (triu) the k-th diagonal zeroed; dx = g masked."""
    _saves = ()
    flops = _flops.no_cost

    def forward(self, x, k, upper):
        self.k, self.upper = k, upper
        return np.triu(x, k) if upper else np.tril(x, k)

    def backward(self, g):
        return np.triu(g, self.k) if self.upper else np.tril(g, self.k)


def tril(input, diagonal=0):
    if input.ndim < 2:
        raise RuntimeError("tril: input tensor must have at least 2 dimensions")
    return Tril.apply(input, k=diagonal, upper=False)


def triu(input, diagonal=0):
    if input.ndim < 2:
        raise RuntimeError("triu: input tensor must have at least 2 dimensions")
    return Tril.apply(input, k=diagonal, upper=True)


def diagonal(input, offset=0, dim1=0, dim2=1):
    n = input.ndim
    d1, d2 = wrap_dim(dim1, n), wrap_dim(dim2, n)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    rows = np.arange(input.shape[d1])
    cols = rows + offset
    ok = (cols >= 0) & (cols < input.shape[d2])
    rows, cols = rows[ok], cols[ok]
    moved = movedim(input, (d1, d2), (-2, -1))
    return getitem(moved, (Ellipsis, TensorBase._make(rows), TensorBase._make(cols)))
