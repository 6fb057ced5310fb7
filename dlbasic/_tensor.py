"""``dlbasic.Tensor``: the tensor's data and autograd state (``TensorBase``) plus its methods.

Every method that computes is one of torch's functions with the tensor first: ``x.exp()`` is
``ops.elementwise.exp(x)``, ``a + b`` is ``ops.elementwise.add(a, b)``, ``x.sum(0)`` is
``ops.reduction.sum(x, 0)``; the in-place forms (``x.add_(y)``) compute out of place and write
the result into ``x`` (``Tensor._inplace``).  ``loss.backward()`` hands the graph to
``autograd.engine``.  The class sits above the ops it calls; autograd and the ops make tensors
of it through ``TensorBase._make``.
"""
import numbers

import numpy as np

from . import _dtype
from ._dtype import dtype as _dtype_cls, to_dtype, TYPE_SHORT, TYPE_NAMES, C_TYPE_NAMES
from ._tensor_base import TensorBase, Size, device, cpu_device, set_tensor_class
from ._convert import array_from
from ._creation import (tensor as _new_tensor, zeros as _zeros, ones as _ones, full as _full,
                        empty as _empty, _check_fill, _check_probabilities)
from ._random import _rng
from .autograd import engine
from .autograd.grad_mode import _state, no_grad
from .ops import elementwise as E, reduction as R, movement as M, comparison as C
from .ops import numeric as N
from .ops import complex_numbers as CN
from .ops import special as SP
# (the ops package's name ``matmul`` is the function, which hides the module)
from .ops.matmul import matmul as _matmul, mm as _mm, bmm as _bmm, mv as _mv, dot as _dot, \
    outer as _outer, inner as _inner
from .ops import activation as A
from .ops._util import _any_requires_grad

__all__ = ["Tensor", "Size", "device"]

_TYPE_BY_NAME = {v: k for k, v in TYPE_NAMES.items()}


# -- helpers the class body below builds its operators and in-place methods from -------------

def _reflected(fn):
    def reflected(self, other):
        return fn(other, self)
    return reflected


def _comparison(fn):
    def op(self, other):
        if other is None:
            return NotImplemented
        return fn(self, other)
    return op


def _bool_or_bitwise(logical, bitwise):
    """``&``, ``|``, ``^``: logical on two bools (or a bool and a Python bool), else bitwise."""
    def op(self, other):
        other_t = other if isinstance(other, TensorBase) else None
        if self.dtype is _dtype.bool_ and (other_t is None and isinstance(other, bool) or
                                            other_t is not None and other_t.dtype is _dtype.bool_):
            return logical(self, other)
        return bitwise(self, other)
    return op


def _inplace_method(fn, name):
    def method(self, *args, **kwargs):
        return self._inplace(fn, *args, **kwargs)
    method.__name__ = name
    method.__doc__ = f"In-place version of :func:`{fn.__name__}`."
    return method


def _check_not_leaf_inplace(t):
    if t.requires_grad and _state.enabled:
        if t.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation.")


def _overwrite(x, new):
    """``new`` in place of ``x``: x's history (if any) continues with a zero gradient."""
    if x.requires_grad or new.requires_grad:
        return E.where(TensorBase._make(np.ones((), dtype=bool)), new, x)
    return new


def _fill_value(self, value):
    if isinstance(value, TensorBase):
        if value.ndim != 0:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor "
                               f"with {value.ndim} dimensions.")
        return value.expand(self.shape)
    if not isinstance(value, (numbers.Number, np.generic)):
        raise TypeError(f"fill_(): argument 'value' must be Number or Tensor, not "
                        f"{type(value).__name__}")
    return TensorBase._make(np.full(self._data.shape, value, dtype=self._data.dtype))


# -- the samplers of the random in-place methods (uniform_, normal_, ...) ---------------------

def _floating_only(self, kernel):
    if not self.dtype.is_floating_point:
        raise NotImplementedError(f"\"{kernel}\" not implemented for "
                                  f"'{TYPE_SHORT[self.dtype.name]}'")


def _uniform(self, r, s, a=0.0, b=1.0):
    _floating_only(self, "check_uniform_bounds")
    if not (np.isfinite(a) and np.isfinite(b)):
        raise RuntimeError(f"{'from' if not np.isfinite(a) else 'to'} is out of bounds for "
                           f"{C_TYPE_NAMES[self.dtype.name]}")
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a:g}"
                           f" > to={b:g}")
    return r.uniform(a, b, s)


def _normal(self, r, s, mean=0.0, std=1.0):
    _floating_only(self, "normal_kernel_cpu")
    if not std >= 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")
    return r.normal(mean, std, s)


def _exponential(self, r, s, lambd=1.0):
    if not self.dtype.is_floating_point:
        raise RuntimeError(f"Exponential distribution is a continuous probability distribution. "
                           f"dtype must be a floating point but you specified "
                           f"{TYPE_SHORT[self.dtype.name]}")
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd:g}")
    return r.exponential(1.0 / lambd, s)


def _bernoulli(self, r, s, p=0.5):
    probs = p._data if isinstance(p, TensorBase) else p
    _check_probabilities(probs)
    return r.random(s) < probs


# random_() with no bounds: [0, 2^mantissa] for floats (every integer exact), the whole
# non-negative range for integers, as torch
_RANDOM_TOP = {"float16": 1 << 11, "float32": 1 << 24, "float64": 1 << 53, "int8": 1 << 7,
               "int16": 1 << 15, "int32": 1 << 31, "int64": 1 << 63, "uint8": 1 << 8,
               "bool": 2}


def _random(self, r, s, a=None, b=None):
    if a is None:
        low, high = 0, _RANDOM_TOP[self.dtype.name] + (self.dtype.is_floating_point)
    elif b is None:
        low, high = 0, a
    else:
        low, high = a, b
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} "
                           f">= to={high}")
    return r.integers(low, high, s)


def _random_method(sample):
    def method(self, *args, generator=None, **kwargs):
        arr = sample(self, _rng(generator), self._data.shape, *args, **kwargs)
        self._inplace(lambda x: _overwrite(
            x, TensorBase._make(np.asarray(arr, dtype=x._data.dtype))))
        return self
    method.__name__ = sample.__name__[1:] + "_"
    return method


class Tensor(TensorBase):
    """A multi-dimensional array with reverse-mode automatic differentiation."""

    __slots__ = ()

    def __init__(self, *args, dtype=None, device=None, requires_grad=False):
        # torch.Tensor(2, 3) -> uninitialised float tensor; torch.Tensor([1, 2]) -> float data
        dt = to_dtype(dtype) if dtype is not None else _dtype.get_default_dtype()
        if len(args) == 1 and isinstance(args[0], (list, tuple)):
            data = array_from(args[0], dt)              # torch's rules and messages
        elif len(args) == 1 and not isinstance(args[0], numbers.Integral):
            data = np.array(args[0].numpy() if isinstance(args[0], TensorBase) else args[0],
                            dtype=dt.np)
        elif all(isinstance(a, numbers.Integral) for a in args):
            data = np.empty(args, dtype=dt.np)
        else:
            shape = tuple(args[0]) if len(args) == 1 else args
            data = np.empty(shape, dtype=dt.np)
        self._data = data
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._vbox = [0]
        self._hooks = None
        self._base = None

    def __reduce_ex__(self, protocol):
        # pickling (DataLoader workers, copy.deepcopy) keeps data and requires_grad only
        return (_rebuild_tensor, (self._data, self.requires_grad))

    # -- autograd ------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate the gradient of this tensor into the leaves' ``.grad`` (autograd.engine)."""
        engine.backward(self, gradient, retain_graph, create_graph, inputs)

    # -- dtype and device conversions ----------------------------------------------------
    def to(self, *args, **kwargs):
        """to(dtype) / to(device) / to(device, dtype) / to(other) — dtype changes are recorded."""
        dt = kwargs.pop("dtype", None)
        copy = kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if "device" in kwargs:
            cpu_device(kwargs.pop("device"))
        for a in args:
            if isinstance(a, TensorBase):
                dt = a.dtype
            elif isinstance(a, _dtype_cls) or a in (float, int, bool):
                dt = to_dtype(a)
            elif isinstance(a, (str, device)):
                cpu_device(a)
            elif a is not None:
                raise TypeError(f"to() received an invalid combination of arguments: {a!r}")
        if dt is None or to_dtype(dt).np == self._data.dtype:
            return self.clone() if copy else self
        return E.cast(self, to_dtype(dt))

    def float(self):
        return self.to(_dtype.float32)

    def double(self):
        return self.to(_dtype.float64)

    def half(self):
        return self.to(_dtype.float16)

    def long(self):
        return self.to(_dtype.int64)

    def int(self):
        return self.to(_dtype.int32)

    def short(self):
        return self.to(_dtype.int16)

    def byte(self):
        return self.to(_dtype.uint8)

    def bool(self):
        return self.to(_dtype.bool_)

    def type(self, dtype=None, **kwargs):
        if dtype is None:
            return TYPE_NAMES.get(self.dtype.name, "torch.Tensor")
        if isinstance(dtype, str) and dtype.startswith("torch."):
            if dtype not in _TYPE_BY_NAME:
                raise ValueError(f"invalid type: '{dtype}'")
            dtype = _TYPE_BY_NAME[dtype]
        return self.to(to_dtype(dtype))

    def type_as(self, other):
        return self.to(other.dtype)

    # -- new tensors like this one -------------------------------------------------------
    def new_tensor(self, data, dtype=None, requires_grad=False):
        return _new_tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, requires_grad=False):
        return _zeros(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, requires_grad=False):
        return _ones(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, requires_grad=False):
        _check_fill(fill_value, "new_full")
        return _full(size, fill_value, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, requires_grad=False):
        return _empty(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    # -- torch's functions as methods: ops/elementwise.py --------------------------------
    add = E.add
    sub = E.sub
    mul = E.mul
    div = E.div
    true_divide = E.true_divide
    floor_divide = E.floor_divide
    remainder = E.remainder
    fmod = E.fmod
    pow = E.pow
    neg = E.neg
    negative = E.negative
    abs = E.abs
    absolute = E.absolute
    # complex numbers: ops/complex_numbers.py (.real/.imag are views, as torch's)
    real = property(CN.real)
    imag = property(CN.imag)
    conj = CN.conj
    conj_physical = CN.conj_physical
    angle = CN.angle
    sgn = CN.sgn

    def cfloat(self):
        return self.to(_dtype.complex64)

    def cdouble(self):
        return self.to(_dtype.complex128)

    exp = E.exp
    log = E.log
    log1p = E.log1p
    expm1 = E.expm1
    log2 = E.log2
    log10 = E.log10
    sqrt = E.sqrt
    rsqrt = E.rsqrt
    sin = E.sin
    cos = E.cos
    tan = E.tan
    tanh = E.tanh
    sigmoid = E.sigmoid
    atan = E.atan
    asin = E.asin
    acos = E.acos
    sinh = E.sinh
    cosh = E.cosh
    erf = E.erf
    erfc = E.erfc
    lgamma = SP.lgamma
    digamma = SP.digamma
    erfinv = SP.erfinv
    igamma = SP.igamma
    igammac = SP.igammac

    def polygamma(self, n):
        return SP.polygamma(n, self)

    sign = E.sign
    floor = E.floor
    ceil = E.ceil
    round = E.round
    trunc = E.trunc
    frac = E.frac
    square = E.square
    reciprocal = E.reciprocal
    maximum = E.maximum
    minimum = E.minimum
    clamp = E.clamp
    clip = E.clip
    lerp = E.lerp
    addcmul = E.addcmul
    addcdiv = E.addcdiv
    multiply = E.multiply
    subtract = E.subtract
    divide = E.divide
    relu = E.relu

    def where(self, condition, other):
        return E.where(condition, self, other)

    # -- ops/reduction.py ----------------------------------------------------------------
    sum = R.sum
    mean = R.mean
    prod = R.prod
    var = R.var
    std = R.std
    max = R.max
    min = R.min
    amax = R.amax
    amin = R.amin
    aminmax = R.aminmax
    logsumexp = R.logsumexp
    norm = R.norm
    argmax = R.argmax
    argmin = R.argmin
    all = R.all
    any = R.any
    cumsum = R.cumsum
    cumprod = N.cumprod
    diff = N.diff
    kron = N.kron
    nan_to_num = N.nan_to_num
    histc = N.histc
    count_nonzero = R.count_nonzero
    nansum = R.nansum
    median = R.median
    mode = R.mode

    # -- ops/movement.py -----------------------------------------------------------------
    reshape = M.reshape
    view = M.view
    flatten = M.flatten
    unflatten = M.unflatten
    squeeze = M.squeeze
    unsqueeze = M.unsqueeze
    permute = M.permute
    transpose = M.transpose
    swapaxes = M.swapaxes
    t = M.t
    expand = M.expand
    expand_as = M.expand_as
    repeat = M.repeat
    split = M.split
    chunk = M.chunk
    flip = M.flip
    narrow = M.narrow
    unbind = M.unbind
    select = M.select
    gather = M.gather
    scatter = M.scatter
    scatter_add = M.scatter_add
    index_select = M.index_select
    index_add = M.index_add
    masked_fill = M.masked_fill
    masked_select = M.masked_select
    movedim = M.movedim
    moveaxis = M.moveaxis
    tile = M.tile
    contiguous = M.contiguous
    clone = M.clone
    roll = M.roll
    tril = M.tril
    triu = M.triu
    view_as = M.view_as
    reshape_as = M.reshape_as
    ravel = M.ravel
    diagonal = M.diagonal
    take_along_dim = M.take_along_dim
    repeat_interleave = M.repeat_interleave

    @property
    def T(self):
        return M.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self):
        return M.transpose(self, -2, -1)

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(M.unbind(self, 0))

    # -- ops/matmul.py -------------------------------------------------------------------
    matmul = _matmul
    mm = _mm
    bmm = _bmm
    mv = _mv
    dot = _dot
    outer = _outer
    inner = _inner

    # -- ops/comparison.py ---------------------------------------------------------------
    eq = C.eq
    ne = C.ne
    lt = C.lt
    le = C.le
    gt = C.gt
    ge = C.ge
    greater = C.greater
    less = C.less
    greater_equal = C.greater_equal
    less_equal = C.less_equal
    not_equal = C.not_equal
    equal = C.equal
    logical_and = C.logical_and
    logical_or = C.logical_or
    logical_xor = C.logical_xor
    logical_not = C.logical_not
    bitwise_and = C.bitwise_and
    bitwise_or = C.bitwise_or
    bitwise_xor = C.bitwise_xor
    bitwise_not = C.bitwise_not
    isnan = C.isnan
    isfinite = C.isfinite
    isinf = C.isinf
    isclose = C.isclose
    allclose = C.allclose
    topk = C.topk
    sort = C.sort
    argsort = C.argsort
    unique = C.unique
    nonzero = C.nonzero
    argwhere = C.argwhere
    msort = C.msort
    bincount = C.bincount

    # -- ops/activation.py ---------------------------------------------------------------
    def softmax(self, dim, dtype=None):
        return A.softmax(self, dim, dtype=dtype)

    def log_softmax(self, dim, dtype=None):
        return A.log_softmax(self, dim, dtype=dtype)

    # -- operators -----------------------------------------------------------------------
    __add__ = E.add
    __radd__ = _reflected(E.add)
    __sub__ = E.sub
    __rsub__ = _reflected(E.sub)
    __mul__ = E.mul
    __rmul__ = _reflected(E.mul)
    __truediv__ = E.div
    __rtruediv__ = _reflected(E.div)
    __floordiv__ = E.floor_divide
    __rfloordiv__ = _reflected(E.floor_divide)
    __mod__ = E.remainder
    __rmod__ = _reflected(E.remainder)
    __pow__ = E.pow
    __rpow__ = _reflected(E.pow)
    __matmul__ = _matmul
    __rmatmul__ = _reflected(_matmul)
    __neg__ = E.neg
    __abs__ = E.abs
    __getitem__ = M.getitem
    __setitem__ = M.setitem

    def __pos__(self):
        return self

    __eq__ = _comparison(C.eq)
    __ne__ = _comparison(C.ne)
    __lt__ = _comparison(C.lt)
    __le__ = _comparison(C.le)
    __gt__ = _comparison(C.gt)
    __ge__ = _comparison(C.ge)

    def __hash__(self):
        # by identity (defining __eq__ would otherwise make tensors unhashable)
        return id(self)

    __and__ = _bool_or_bitwise(C.logical_and, C.bitwise_and)
    __or__ = _bool_or_bitwise(C.logical_or, C.bitwise_or)
    __xor__ = _bool_or_bitwise(C.logical_xor, C.bitwise_xor)
    __rand__ = _reflected(__and__)
    __ror__ = _reflected(__or__)
    __rxor__ = _reflected(__xor__)

    def __invert__(self):
        if self.dtype is _dtype.bool_:
            return C.logical_not(self)
        return C.bitwise_not(self)

    # -- in-place: compute out of place, write into self ---------------------------------
    def _inplace(self, fn, *args, **kwargs):
        """Apply ``fn(self, *args)`` and write the result into this tensor's memory.

        When autograd is recording, the result's history becomes this tensor's history (the
        computation ran on a copy, so whatever an earlier node saved of this buffer is still
        detectable as modified through the version counter).
        """
        if _state.enabled and (self.requires_grad or _any_requires_grad(args)):
            _check_not_leaf_inplace(self)
            base = self._base
            if base is not None and (base.requires_grad or self.requires_grad):
                raise RuntimeError("dlbasic does not support in-place operations on a view of a "
                                   "tensor that requires grad; use an out-of-place operation "
                                   "or index assignment on the base tensor instead")
            alias = TensorBase._make(self._data.copy(), self.requires_grad, self.grad_fn,
                                     self._output_nr)
            out = fn(alias, *args, **kwargs)
            if self.requires_grad and not out.requires_grad:
                # the new values do not depend on the old ones: the old history must receive a
                # zero gradient, not the gradient of the overwritten values
                keep_new = TensorBase._make(np.ones(self._data.shape, dtype=bool))
                out = E.where(keep_new, out.to(self.dtype), alias)
            self._write(out._data)
            if out.requires_grad:
                self.requires_grad = True
                self.grad_fn = out.grad_fn
                self._output_nr = out._output_nr
        else:
            if self.requires_grad and self.grad_fn is None and _state.enabled:
                _check_not_leaf_inplace(self)
            with no_grad():
                out = fn(self, *args, **kwargs)
            self._write(out._data)
        return self

    add_ = _inplace_method(E.add, "add_")
    sub_ = _inplace_method(E.sub, "sub_")
    mul_ = _inplace_method(E.mul, "mul_")
    div_ = _inplace_method(E.div, "div_")
    pow_ = _inplace_method(E.pow, "pow_")
    clamp_ = _inplace_method(E.clamp, "clamp_")
    clip_ = _inplace_method(E.clip, "clip_")
    neg_ = _inplace_method(E.neg, "neg_")
    abs_ = _inplace_method(E.abs, "abs_")
    exp_ = _inplace_method(E.exp, "exp_")
    log_ = _inplace_method(E.log, "log_")
    sqrt_ = _inplace_method(E.sqrt, "sqrt_")
    rsqrt_ = _inplace_method(E.rsqrt, "rsqrt_")
    sigmoid_ = _inplace_method(E.sigmoid, "sigmoid_")
    tanh_ = _inplace_method(E.tanh, "tanh_")
    nan_to_num_ = _inplace_method(N.nan_to_num, "nan_to_num_")
    relu_ = _inplace_method(E.relu, "relu_")
    sin_ = _inplace_method(E.sin, "sin_")
    cos_ = _inplace_method(E.cos, "cos_")
    floor_ = _inplace_method(E.floor, "floor_")
    ceil_ = _inplace_method(E.ceil, "ceil_")
    round_ = _inplace_method(E.round, "round_")
    trunc_ = _inplace_method(E.trunc, "trunc_")
    sign_ = _inplace_method(E.sign, "sign_")
    reciprocal_ = _inplace_method(E.reciprocal, "reciprocal_")
    square_ = _inplace_method(E.square, "square_")
    fmod_ = _inplace_method(E.fmod, "fmod_")
    remainder_ = _inplace_method(E.remainder, "remainder_")
    lerp_ = _inplace_method(E.lerp, "lerp_")
    addcmul_ = _inplace_method(E.addcmul, "addcmul_")
    addcdiv_ = _inplace_method(E.addcdiv, "addcdiv_")
    log1p_ = _inplace_method(E.log1p, "log1p_")
    expm1_ = _inplace_method(E.expm1, "expm1_")
    maximum_ = _inplace_method(E.maximum, "maximum_")
    minimum_ = _inplace_method(E.minimum, "minimum_")
    floor_divide_ = _inplace_method(E.floor_divide, "floor_divide_")
    masked_fill_ = _inplace_method(M.masked_fill, "masked_fill_")
    scatter_ = _inplace_method(M.scatter, "scatter_")
    scatter_add_ = _inplace_method(M.scatter_add, "scatter_add_")
    index_add_ = _inplace_method(M.index_add, "index_add_")
    tril_ = _inplace_method(M.tril, "tril_")
    triu_ = _inplace_method(M.triu, "triu_")
    logical_not_ = _inplace_method(C.logical_not, "logical_not_")

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_
    __ipow__ = pow_

    def fill_(self, value):
        """Fill with ``value`` in place."""
        return self._inplace(lambda x, v: _overwrite(x, _fill_value(x, v) if not (
            isinstance(v, TensorBase) and v.requires_grad) else v), value)

    def zero_(self):
        """Fill with zeros in place."""
        return self.fill_(0)

    def copy_(self, src, non_blocking=False):
        """Copy ``src`` (broadcast, converted to this dtype) into this tensor."""
        if isinstance(src, (int, float, bool, np.number)):
            return self.fill_(src)
        if not isinstance(src, TensorBase):
            raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
        try:
            np.broadcast_shapes(src.shape, self.shape)
        except ValueError:
            a = self.shape[-1] if self.ndim else 1
            b = src.shape[-1] if src.ndim else 1
            raise RuntimeError(f"The size of tensor a ({a}) must match the size of tensor b "
                               f"({b}) at non-singleton dimension {max(self.ndim - 1, 0)}"
                               ) from None

        def _copy(x, s):
            s = s if s.dtype is x.dtype else s.to(x.dtype)
            return _overwrite(x, s) if s.requires_grad or x.requires_grad else s.expand(x.shape)
        return self._inplace(_copy, src)

    uniform_ = _random_method(_uniform)
    normal_ = _random_method(_normal)
    exponential_ = _random_method(_exponential)
    bernoulli_ = _random_method(_bernoulli)
    random_ = _random_method(_random)

    def set_(self, source):
        self._data = source._data
        self._vbox[0] += 1
        return self

    def squeeze_(self, dim=None):
        self._data = M.squeeze(self.detach(), dim)._data
        return self

    def unsqueeze_(self, dim):
        self._data = M.unsqueeze(self.detach(), dim)._data
        return self


def _rebuild_tensor(data, requires_grad):
    return Tensor._make(data, requires_grad)


set_tensor_class(Tensor)
