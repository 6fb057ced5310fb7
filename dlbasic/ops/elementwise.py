"""Elementwise primitives.  Each docstring gives y = f(x) and the local gradient dy/dx.

Broadcasting is handled once, in the engine (``sum_to_shape``): a backward here may return a
gradient of the broadcast shape.
"""
import warnings

import numpy as np

from .. import _dtype
from ..backend import kernels
from .._dtype import TYPE_SHORT as _TYPE_SHORT
from .._tensor_base import TensorBase
from ..autograd.function import Op
from ..autograd.grad_mode import _state
from . import _flops, _special
from ._util import promote, broadcast_error, check_broadcast, as_tensor_operand, quiet

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "log1p", "expm1", "sqrt",
           "rsqrt", "sin", "cos", "tanh", "sigmoid", "abs", "maximum", "minimum", "clamp",
           "clip", "where", "cast", "relu", "square", "reciprocal", "sign", "log2", "log10",
           "exp2", "floor", "ceil", "round", "trunc", "frac", "fmod", "remainder", "lerp",
           "floor_divide", "addcmul", "addcdiv", "true_divide", "multiply", "subtract",
           "divide", "negative", "absolute", "tan", "atan", "asin", "acos", "sinh", "cosh",
           "erf", "erfc"]


# -- binary arithmetic --------------------------------------------------------------------

class Add(Op):
    """y = a + b; dy/da = 1, dy/db = 1."""
    _saves = ()
    flops = _flops.elementwise(1)

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class AddScaled(Op):
    """y = a + alpha*b; dy/da = 1, dy/db = alpha."""
    _saves = ()
    _torch_name = "AddBackward0"
    flops = _flops.elementwise(2)

    def forward(self, a, b, alpha):
        self.alpha = alpha
        return a + alpha * b

    def backward(self, g):
        return g, (g * self.alpha if self.needs_input_grad[1] else None)


class Sub(Op):
    """y = a - b; dy/da = 1, dy/db = -1."""
    _saves = ()
    flops = _flops.elementwise(1)

    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, (-g if self.needs_input_grad[1] else None)


class _RSub(Sub):
    """number - tensor (torch records it as rsub)."""
    _torch_name = "RsubBackward1"


def _conj(a):
    """conj(a) for a complex array, ``a`` itself otherwise.  A holomorphic op's backward
    multiplies by the *conjugate* local derivative: dL/dz* = g * conj(f'(z)) (torch's
    convention for complex gradients; docs/beyond-the-basics.md)."""
    return a.conj() if a.dtype.kind == "c" else a


class Mul(Op):
    """y = a * b; dy/da = b, dy/db = a (complex: g*conj(b), g*conj(a))."""
    _saved_attrs = ("a", "b")
    flops = _flops.elementwise(1)

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        na, nb = self.needs_input_grad
        return (g * _conj(self.b) if na else None), (g * _conj(self.a) if nb else None)


class _MulSavesB(Mul):
    """a * b where only ``a`` needs a gradient: only b's buffer is read by backward, so only
    an in-place change to b is an error (torch saves the same way)."""
    _saves = (1,)
    _torch_name = "MulBackward0"


class _MulSavesA(Mul):
    """a * b where only ``b`` needs a gradient: backward reads a's buffer only."""
    _saves = (0,)
    _torch_name = "MulBackward0"


class Div(Op):
    """y = a / b; dy/da = 1/b, dy/db = -a/b^2 = -y/b."""
    _saved_attrs = ("a", "b")
    flops = _flops.elementwise(1)

    @quiet
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    @quiet
    def backward(self, g):
        na, nb = self.needs_input_grad
        gb = None
        if nb:
            gb = -g * _conj(self.a / (self.b * self.b))
        return (g / _conj(self.b) if na else None), gb


class _DivSavesB(Div):
    """a / b where only ``a`` needs a gradient: backward reads b's buffer only."""
    _saves = (1,)
    _torch_name = "DivBackward0"


# -- a floating tensor and a Python number ------------------------------------------------
# The number is a parameter, not a second input: no 0-d tensor is built for it, and the graph
# has one edge less.  This is the commonest op in small-graph code (``y * 0.5 + 1``), so it is
# worth its own four classes.  torch still lists the number in ``next_functions``.

class _WithNumber(Op):
    _saves = ()
    flops = _flops.elementwise(1)

    @property
    def next_functions(self):
        return super().next_functions + ((None, 0),)


class AddNumber(_WithNumber):
    """y = x + c; dy/dx = 1."""
    _torch_name = "AddBackward0"

    def forward(self, x, c):
        return x + c

    def backward(self, g):
        return g


class SubNumber(_WithNumber):
    """y = x - c; dy/dx = 1."""
    _torch_name = "SubBackward0"

    def forward(self, x, c):
        return x - c

    def backward(self, g):
        return g


class RSubNumber(Op):
    """y = c - x; dy/dx = -1 (torch's rsub, which lists only the tensor as an input)."""
    _saves = ()
    _torch_name = "RsubBackward1"
    flops = _flops.elementwise(1)

    def forward(self, x, c):
        return c - x

    def backward(self, g):
        return -g


class MulNumber(_WithNumber):
    """y = c * x; dy/dx = c."""
    _torch_name = "MulBackward0"
    # torch saves the number for backward like any other operand: after a backward
    # without retain_graph, a second one raises
    _saved_attrs = ("c",)

    def forward(self, x, c):
        self.c = c
        return x * c

    def backward(self, g):
        return g * self.c


class DivNumber(MulNumber):
    """y = x / c; dy/dx = 1/c."""
    _torch_name = "DivBackward0"

    def forward(self, x, c):
        self.c = c
        # only a divisor below 1 in size can make inf/nan of finite values (1/0, 1/1e-40)
        return x / c if not -1 < c < 1 else _quiet_div(x, c)

    def backward(self, g):
        c = self.c
        return g / c if not -1 < c < 1 else _quiet_div(g, c)


@quiet
def _quiet_div(a, b):
    return a / b


def _number_operand(a, b):
    """Which of ``a``, ``b`` is a Python int/float beside a floating Tensor (the result then
    keeps the tensor's dtype, and the number is a parameter of the op): 2 for b, 1 for a, else
    0."""
    if (type(b) is float or type(b) is int) and isinstance(a, TensorBase) and \
            a._data.dtype.kind in "fc":
        return 2
    if (type(a) is float or type(a) is int) and isinstance(b, TensorBase) and \
            b._data.dtype.kind in "fc":
        return 1
    return 0


class Neg(Op):
    """y = -x; dy/dx = -1."""
    _saves = ()
    flops = _flops.elementwise(1)

    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class PowScalar(Op):
    """y = x^p (p a number); dy/dx = p*x^(p-1)."""
    _torch_name = "PowBackward0"
    _saved_attrs = ("x",)
    flops = _flops.elementwise(1)

    def forward(self, x, p):
        self.x, self.p = x, p
        if p == 2:          # a plain product, like mul (see _util.quiet for why not quiet)
            return x * x
        return _power(x, p)

    def backward(self, g):
        p, x = self.p, self.x
        if p == 0:
            return np.zeros_like(x)
        if p == 2:
            return g * 2 * _conj(x)
        return _quiet_mul(g, _conj(p * _power(x, p - 1)))


@quiet
def _power(x, p):
    """x^p, silently inf/nan where torch gives them (0^-1, (-1)^0.5, 10^1000)."""
    return np.power(x, x.dtype.type(p)) if x.dtype.kind in "fc" else np.power(x, p)


@quiet
def _quiet_mul(a, b):
    return a * b


class PowTensor(Op):
    """y = a^b; dy/da = b*a^(b-1), dy/db = y*ln(a) (0 where a == 0 and b >= 0, as torch)."""
    _torch_name = "PowBackward1"
    _saves_output = True
    _saved_attrs = ("a", "b", "y")
    flops = _flops.transcendental()

    @quiet
    def forward(self, a, b):
        y = np.power(a, b)
        self.a, self.b, self.y = a, b, y
        return y

    @quiet
    def backward(self, g):
        na, nb = self.needs_input_grad
        a, b, y = self.a, self.b, self.y
        ga = gb = None
        if na:
            ga = g * _conj(np.where(b == 0, 0.0, b * np.power(a, b - 1)).astype(a.dtype,
                                                                                 copy=False))
        if nb:
            b_nonneg = (b.real if b.dtype.kind == "c" else b) >= 0
            gb = g * _conj(np.where((a == 0) & b_nonneg, 0.0, y * np.log(a)).astype(
                a.dtype, copy=False))
        return ga, gb


class _PowNumberBase(PowTensor):
    """number ** tensor (torch's pow(Scalar, Tensor))."""
    _torch_name = "PowBackward2"


def _binary(cls, a, b, name=None, params=None):
    """``cls.apply(a, b, **params)``, first promoting ``a`` and ``b`` to their common dtype
    when ``name`` (the op's name, for errors) is given; shapes that do not broadcast raise
    torch's error, which names the sizes (NumPy's names neither operand)."""
    if name is not None:
        a, b = promote(a, b, name)
    try:
        return cls.apply(a, b) if params is None else cls.apply(a, b, **params)
    except ValueError:
        if a._data.shape != b._data.shape:
            raise broadcast_error(a._data.shape, b._data.shape) from None
        raise


def add(input, other, *, alpha=1, out=None):
    """input + alpha * other"""
    if out is not None:
        return _into(out, add(input, other, alpha=alpha))
    if alpha != 1:
        return _binary(AddScaled, input, other, "add", {"alpha": alpha})
    number = _number_operand(input, other)
    if number == 2:
        return AddNumber.apply(input, c=other)
    if number == 1:
        return AddNumber.apply(other, c=input)
    return _binary(Add, input, other, "add")


def sub(input, other, *, alpha=1, out=None):
    """input - alpha * other"""
    if out is not None:
        return _into(out, sub(input, other, alpha=alpha))
    if alpha == 1:
        number = _number_operand(input, other)
        if number == 2:
            return SubNumber.apply(input, c=other)
        if number == 1:
            return RSubNumber.apply(other, c=input)
    if _is_bool(input) or _is_bool(other):
        if isinstance(input, TensorBase) and isinstance(other, TensorBase) and _is_bool(input) and \
                _is_bool(other):
            raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not "
                               "supported. Use the `^` or `logical_xor()` operator instead.")
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    if alpha != 1:
        return add(input, other, alpha=-alpha)
    return _binary(Sub if isinstance(input, TensorBase) else _RSub, input, other, "sub")


def _is_bool(x):
    return x.dtype is _dtype.bool_ if isinstance(x, TensorBase) else isinstance(x, (bool, np.bool_))


def mul(input, other, *, out=None):
    if out is not None:
        return _into(out, mul(input, other))
    number = _number_operand(input, other)
    if number == 2:
        return MulNumber.apply(input, c=other)
    if number == 1:
        return MulNumber.apply(other, c=input)
    a, b = promote(input, other, "mul")
    # an operand that needs no gradient is not saved for the other's
    cls = Mul if b.requires_grad == a.requires_grad else (_MulSavesA if b.requires_grad
                                                          else _MulSavesB)
    try:            # _binary's work, inline: the commonest op, and its frame costs ~1.5%
        return cls.apply(a, b)
    except ValueError:
        if a._data.shape != b._data.shape:
            raise broadcast_error(a._data.shape, b._data.shape) from None
        raise


def div(input, other, *, rounding_mode=None, out=None):
    """input / other; integer inputs give the default float dtype (true division), as torch."""
    if out is not None:
        return _into(out, div(input, other, rounding_mode=rounding_mode))
    if rounding_mode is not None:
        return _rounded_div(input, other, rounding_mode)
    if _number_operand(input, other) == 2:
        return DivNumber.apply(input, c=other)
    if not isinstance(input, TensorBase) and isinstance(other, TensorBase) and other.requires_grad:
        # number / tensor is number * reciprocal(tensor) in torch (MulBackward0), which saves
        # only the reciprocal: an in-place change to ``other`` afterwards is not an error
        # (requires_grad implies a floating tensor, whose dtype a number never changes)
        return mul(Reciprocal.apply(other), input)
    a, b = promote(input, other, "div")
    if a._data.dtype.kind not in "fc":
        dt = _dtype.get_default_dtype()
        a, b = a.to(dt), b.to(dt)
    return _binary(_DivSavesB if a.requires_grad and not b.requires_grad else Div, a, b)


class Reciprocal(Op):
    """y = 1/x; dy/dx = -y^2 (only the output is read, as torch)."""
    _saves = ()
    _saves_output = True
    _saved_attrs = ("y",)
    flops = _flops.elementwise(1)

    @quiet
    def forward(self, x):
        self.y = np.reciprocal(x)
        return self.y

    @quiet
    def backward(self, g):
        y = self.y
        return g * -_conj(y * y)


class RoundedDiv(Op):
    """y = trunc(a/b) or floor(a/b); a step function: dy/da = dy/db = 0 (torch's DivBackward2)."""
    _saves = ()
    _torch_name = "DivBackward2"
    flops = _flops.elementwise(2)

    def forward(self, a, b, mode):
        return _rounded_div_arrays(a, b, mode)

    def backward(self, g):
        return np.zeros_like(g), np.zeros_like(g)


def _check_integer_divisor(a, b, name):
    """torch refuses an integer division by zero (NumPy gives 0 and a warning) and any
    division of bools; a floating division gives inf/nan as IEEE 754 says.  An empty result
    divides nothing, so a zero divisor there is no error (``a`` empty: the result is)."""
    if a.dtype.kind != "f":
        if a.dtype.kind == "b":
            raise NotImplementedError(f"\"{name}_cpu\" not implemented for 'Bool'")
        if a.size and np.count_nonzero(b) != b.size:
            raise RuntimeError("ZeroDivisionError")


@quiet
def _rounded_div_arrays(a, b, mode):
    if a.dtype.kind == "c" and mode in ("trunc", "floor"):
        raise NotImplementedError(f"\"div_{mode}_cpu\" not implemented for "
                                  f"'{_TYPE_SHORT[a.dtype.name]}'")
    if mode == "trunc":
        _check_integer_divisor(a, b, "div_trunc")
        if a.dtype.kind == "f":
            r = np.trunc(a / b)
        else:                              # exact integer division rounding toward 0
            q = np.floor_divide(a, b)
            r = q + ((q < 0) & (q * b != a))
    elif mode == "floor":
        _check_integer_divisor(a, b, "div_floor")
        r = np.floor_divide(a, b)
    else:
        raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                           f"but found '{mode}'")
    return np.asarray(r, dtype=a.dtype)


def _rounded_div(input, other, mode):
    a, b = promote(input, other, "div")
    if a.dtype.is_floating_point and (a.requires_grad or b.requires_grad):
        return _binary(RoundedDiv, a, b, params={"mode": mode})
    try:                                       # (no graph: the arrays directly)
        return TensorBase._make(_rounded_div_arrays(a._data, b._data, mode))
    except ValueError:
        raise broadcast_error(a._data.shape, b._data.shape) from None


def floor_divide(input, other):
    return _rounded_div(input, other, "floor")


class Remainder(Op):
    """y = a - floor(a/b) b (sign of b); dy/da = 1, dy/db = -floor(a/b)."""
    _torch_name = "RemainderBackward0"
    _saved_attrs = ("a", "b")
    flops = _flops.elementwise(1)

    @quiet
    def forward(self, a, b):
        self.a, self.b = a, b
        _check_integer_divisor(a, b, "remainder")
        return np.asarray(np.mod(a, b), dtype=a.dtype)

    @quiet
    def backward(self, g):
        na, nb = self.needs_input_grad
        gb = None
        if nb:
            gb = -g * np.floor(self.a / self.b)
        return (g if na else None), gb


class Fmod(Op):
    """y = a - trunc(a/b) b (sign of a); dy/da = 1, dy/db = -trunc(a/b)."""
    _torch_name = "FmodBackward0"
    _saved_attrs = ("a", "b")
    flops = _flops.elementwise(1)

    @quiet
    def forward(self, a, b):
        self.a, self.b = a, b
        _check_integer_divisor(a, b, "fmod")
        return np.asarray(np.fmod(a, b), dtype=a.dtype)

    @quiet
    def backward(self, g):
        na, nb = self.needs_input_grad
        gb = None
        if nb:
            gb = -g * np.trunc(self.a / self.b)
        return (g if na else None), gb


class _RemainderTensor(Remainder):
    _torch_name = "RemainderBackward1"       # torch: remainder(Tensor, Tensor)


class _FmodTensor(Fmod):
    _torch_name = "FmodBackward1"


def remainder(input, other):
    return _binary(_RemainderTensor if isinstance(other, TensorBase) else Remainder, input, other,
                   "remainder")


def fmod(input, other):
    return _binary(_FmodTensor if isinstance(other, TensorBase) else Fmod, input, other, "fmod")


def pow(input, exponent, *, out=None):
    """input ** exponent, for a tensor or a number on either side."""
    if out is not None:
        return _into(out, pow(input, exponent))
    if isinstance(input, TensorBase) and not isinstance(exponent, TensorBase):
        dt = _dtype.result_type(input, exponent)
        x = input if input.dtype is dt else input.to(dt)
        if dt.np.kind in "biu" and exponent < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        return PowScalar.apply(x, p=exponent)
    return _binary(PowTensor if isinstance(input, TensorBase) else _PowNumberBase, input, exponent,
                   "pow")


def true_divide(input, other):
    return div(input, other)


multiply = mul
subtract = sub
divide = div


def _into(out, result):
    """Write ``result`` into the user's ``out=`` tensor (no autograd through out=, as torch)."""
    if not isinstance(out, TensorBase):
        raise TypeError(f"argument 'out' must be Tensor, not {type(out).__name__}")
    if result.requires_grad and _state.enabled:
        raise RuntimeError("functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad.")
    if out._data.shape != result._data.shape:
        out._data = np.empty(result._data.shape, dtype=out._data.dtype)
    out._write(result._data)
    return out


# -- unary --------------------------------------------------------------------------------

def _float_input(x, name):
    if not isinstance(x, TensorBase):
        x = as_tensor_operand(x)
    if x._data.dtype.kind not in "fc":
        return x.to(_dtype.get_default_dtype())
    return x


class Exp(Op):
    """y = e^x; dy/dx = y."""
    _saves = ()
    _saves_output = True
    _saved_attrs = ("y",)
    flops = _flops.transcendental()

    @quiet
    def forward(self, x):
        self.y = np.exp(x)
        return self.y

    def backward(self, g):
        return g * _conj(self.y)


class Log(Op):
    """y = ln x; dy/dx = 1/x."""
    _saved_attrs = ("x",)
    flops = _flops.transcendental()

    @quiet
    def forward(self, x):
        self.x = x
        return np.log(x)

    @quiet
    def backward(self, g):
        return g / _conj(self.x)


class Log1p(Op):
    """y = ln(1 + x); dy/dx = 1/(1 + x)."""
    _torch_name = "Log1PBackward0"
    _saved_attrs = ("x",)
    flops = _flops.transcendental()

    @quiet
    def forward(self, x):
        self.x = x
        return np.log1p(x)

    @quiet
    def backward(self, g):
        return g / _conj(1 + self.x)


class Expm1(Op):
    """y = e^x - 1; dy/dx = y + 1."""
    _saves = ()
    _saves_output = True
    _saved_attrs = ("y",)
    flops = _flops.transcendental()

    @quiet
    def forward(self, x):
        self.y = np.expm1(x)
        return self.y

    @quiet
    def backward(self, g):
        return g * _conj(self.y + 1)


class Sqrt(Op):
    """y = sqrt(x); dy/dx = 1/(2 y)."""
    _saves = ()
    _saves_output = True
    _saved_attrs = ("y",)
    flops = _flops.transcendental()

    @quiet
    def forward(self, x):
        self.y = np.sqrt(x)
        return self.y

    @quiet
    def backward(self, g):
        return g / _conj(2 * self.y)


class Rsqrt(Op):
    """y = 1/sqrt(x); dy/dx = -y^3 / 2."""
    _saves = ()
    _saves_output = True
    _saved_attrs = ("y",)
    flops = _flops.transcendental()

    @quiet
    def forward(self, x):
        self.y = 1 / np.sqrt(x)
        return self.y

    @quiet
    def backward(self, g):
        y = self.y
        return g * _conj(-0.5 * y * y * y)


class Sin(Op):
    """y = sin x; dy/dx = cos x."""
    _saved_attrs = ("x",)
    flops = _flops.transcendental()

    @quiet
    def forward(self, x):
        self.x = x
        return np.sin(x)

    @quiet
    def backward(self, g):
        return g * _conj(np.cos(self.x))


class Cos(Op):
    """y = cos x; dy/dx = -sin x."""
    _saved_attrs = ("x",)
    flops = _flops.transcendental()

    @quiet
    def forward(self, x):
        self.x = x
        return np.cos(x)

    @quiet
    def backward(self, g):
        return g * _conj(-np.sin(self.x))


class Tan(Op):
    """y = tan x; dy/dx = 1 + y^2."""
    _saves = ()
    _saves_output = True
    _saved_attrs = ("y",)
    flops = _flops.transcendental()

    @quiet
    def forward(self, x):
        self.y = np.tan(x)
        return self.y

    @quiet
    def backward(self, g):
        return g * _conj(1 + self.y * self.y)


class Tanh(Op):
    """y = tanh x; dy/dx = 1 - y^2, taken as (1 - y)(1 + y): exact given y where |y| is near 1
    (1 - y*y would round y*y first)."""
    _saves = ()
    _saves_output = True
    _saved_attrs = ("y",)
    flops = _flops.transcendental()

    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, g):
        y = self.y
        return g * _conj((1 - y) * (1 + y))


class Sigmoid(Op):
    """y = 1/(1+e^-x); dy/dx = y(1-y).  Computed without overflow for large |x|."""
    _saves = ()
    _saves_output = True
    _saved_attrs = ("y",)
    flops = _flops.transcendental(1)

    def forward(self, x):
        if x.dtype.kind == "c":        # (the real kernel compares with 0)
            self.y = _quiet_div(1, 1 + _quiet_exp(-x)).astype(x.dtype)
        else:
            self.y = _special.sigmoid(x)
        return self.y

    def backward(self, g):
        y = self.y
        return g * _conj(y * (1 - y))


@quiet
def _quiet_exp(x):
    return np.exp(x)


class Atan(Op):
    """y = atan x; dy/dx = 1/(1+x^2)."""
    _saved_attrs = ("x",)
    flops = _flops.transcendental()

    def forward(self, x):
        self.x = x
        return np.arctan(x)

    @quiet
    def backward(self, g):
        return g / _conj(1 + self.x * self.x)


class Asin(Op):
    """y = asin x; dy/dx = 1/sqrt(1-x^2)."""
    _saved_attrs = ("x",)
    flops = _flops.transcendental()

    @quiet
    def forward(self, x):
        self.x = x
        return np.arcsin(x)

    @quiet
    def backward(self, g):
        return g / _conj(np.sqrt(1 - self.x * self.x))


class Acos(Op):
    """y = acos x; dy/dx = -1/sqrt(1-x^2)."""
    _saved_attrs = ("x",)
    flops = _flops.transcendental()

    @quiet
    def forward(self, x):
        self.x = x
        return np.arccos(x)

    @quiet
    def backward(self, g):
        return -g / _conj(np.sqrt(1 - self.x * self.x))


class Sinh(Op):
    """y = sinh x; dy/dx = cosh x."""
    _saved_attrs = ("x",)
    flops = _flops.transcendental()

    @quiet
    def forward(self, x):
        self.x = x
        return np.sinh(x)

    @quiet
    def backward(self, g):
        return g * _conj(np.cosh(self.x))


class Cosh(Op):
    """y = cosh x; dy/dx = sinh x."""
    _saved_attrs = ("x",)
    flops = _flops.transcendental()

    @quiet
    def forward(self, x):
        self.x = x
        return np.cosh(x)

    @quiet
    def backward(self, g):
        return g * _conj(np.sinh(self.x))


class Erf(Op):
    """y = erf x; dy/dx = 2/sqrt(pi) e^(-x^2)."""
    _saved_attrs = ("x",)
    flops = _flops.transcendental()

    def forward(self, x):
        self.x = x
        return _special.erf(x)

    def backward(self, g):
        x = self.x
        return g * (2 / np.sqrt(np.pi) * np.exp(-x * x)).astype(x.dtype, copy=False)


class Erfc(Op):
    """y = erfc x = 1 - erf x; dy/dx = -2/sqrt(pi) e^(-x^2)."""
    _saved_attrs = ("x",)
    flops = _flops.transcendental()

    def forward(self, x):
        self.x = x
        return _special.erfc(x)

    def backward(self, g):
        x = self.x
        return g * (-2 / np.sqrt(np.pi) * np.exp(-x * x)).astype(x.dtype, copy=False)


class Abs(Op):
    """y = |x|; dy/dx = sgn(x), which is 0 at x = 0 and at NaN, as torch.  Complex x: y is
    real and the gradient is g * x/|x| (0 at 0): d|z|/dRe + i d|z|/dIm = z/|z|."""
    _saved_attrs = ("x",)
    flops = _flops.elementwise(1)

    def forward(self, x):
        self.x = x
        return np.abs(x)

    def backward(self, g):
        return g * _sgn(self.x)


def _sgn(x):
    """torch.sign: -1, 0 or 1, and 0 for NaN (both comparisons are False there; np.sign gives
    NaN); for complex x torch.sgn: x/|x|, 0 at 0."""
    if x.dtype.kind == "c":
        r = np.abs(x)
        return np.divide(x, r, out=np.zeros_like(x), where=r != 0)
    s = np.greater(x, 0).astype(x.dtype)
    s -= np.less(x, 0)
    return s


class Cast(Op):
    """y = x converted to another dtype; the gradient is converted back."""
    _saves = ()
    _torch_name = "ToCopyBackward0"
    flops = _flops.no_cost

    def forward(self, x, dtype):
        if x.dtype.kind == "c" and not dtype.is_complex:
            warnings.warn("Casting complex values to real discards the imaginary part",
                          UserWarning, stacklevel=4)
            x = x.real
        return x.astype(dtype.np)

    def backward(self, g):
        return g          # the engine casts to the input's dtype (complex to real: Re g)


_BIG = 1 << 16      # elements: below this, one NumPy call on the whole array


class Relu(Op):
    """y = max(0, x); dy/dx = 1 if x > 0 else 0 (0 at the kink, as torch).  Large contiguous
    arrays go through the backend's ``relu_forward`` / ``relu_backward`` kernels."""
    _saves = ()
    _saves_output = True
    _saved_attrs = ("y",)
    flops = _flops.elementwise(1)

    def forward(self, x):
        if x.size < _BIG or not x.flags.c_contiguous:
            self.y = np.maximum(x, 0)
            return self.y
        self.y = kernels.relu_forward(x.reshape(-1)).reshape(x.shape)
        return self.y

    def backward(self, g):
        y = self.y
        if g.size < _BIG or not (g.flags.c_contiguous and g.shape == y.shape):
            return np.where(y <= 0, 0, g)      # not (y > 0): NaN passes its gradient, as torch
        return kernels.relu_backward(y.reshape(-1), g.reshape(-1)).reshape(g.shape)


def _unary(cls, name):
    def fn(input, *, out=None):
        x = _float_input(input, name)
        if x._data.dtype.kind == "c" and cls in _REAL_ONLY:
            complex_unsupported(name, x)
        if out is not None:
            return _into(out, cls.apply(x))
        return cls.apply(x)
    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = cls.__doc__
    return fn


_REAL_ONLY = (Erf, Erfc)     # no complex kernel for these (torch has none on the CPU either)


def complex_unsupported(name, x):
    """Raise torch's error for an op with no complex kernel (``"lt_cpu" not implemented for
    'ComplexFloat'``): computing on NumPy's complex order or dropping the imaginary part would
    be silently wrong."""
    raise NotImplementedError(f"\"{name}\" not implemented for '{_TYPE_SHORT[x.dtype.name]}'")


exp = _unary(Exp, "exp")
log = _unary(Log, "log")
log1p = _unary(Log1p, "log1p")
expm1 = _unary(Expm1, "expm1")
sqrt = _unary(Sqrt, "sqrt")
rsqrt = _unary(Rsqrt, "rsqrt")
sin = _unary(Sin, "sin")
cos = _unary(Cos, "cos")
tan = _unary(Tan, "tan")
tanh = _unary(Tanh, "tanh")
sigmoid = _unary(Sigmoid, "sigmoid")
atan = _unary(Atan, "atan")
asin = _unary(Asin, "asin")
acos = _unary(Acos, "acos")
sinh = _unary(Sinh, "sinh")
cosh = _unary(Cosh, "cosh")
erf = _unary(Erf, "erf")
erfc = _unary(Erfc, "erfc")


def cast(input, dtype):
    return Cast.apply(input, dtype=dtype)


def neg(input, *, out=None):
    if input.dtype is _dtype.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If "
                           "you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    r = Neg.apply(input)
    return _into(out, r) if out is not None else r


negative = neg


def abs(input, *, out=None):
    r = Abs.apply(input)
    return _into(out, r) if out is not None else r


absolute = abs


def relu(input):
    if input._data.dtype.kind == "c":
        raise NotImplementedError("clamp is not supported for complex types")
    if input._data.dtype.kind == "b":
        raise RuntimeError("Boolean inputs not supported for relu")
    return Relu.apply(input)


def square(input):
    return pow(input, 2)


def reciprocal(input):
    x = input if input._data.dtype.kind in "fc" else input.to(_dtype.get_default_dtype())
    return Reciprocal.apply(x)


def log2(input):
    return div(log(input), float(np.log(2)))


def log10(input):
    return div(log(input), float(np.log(10)))


def exp2(input):
    return pow(2.0, input) if isinstance(input, TensorBase) else 2.0 ** input


# -- non-differentiable elementwise (gradient zero almost everywhere) ---------------------

class _Piecewise(Op):
    """A step function (floor, ceil, trunc, round, sign): dy/dx = 0 almost everywhere.

    Recorded like torch (FloorBackward0 ...), so a graph through it gives zero gradients
    instead of an error."""
    _saves = ()
    flops = _flops.elementwise(1)

    def forward(self, x, npfn, kwargs):
        return np.asarray(npfn(x, **kwargs))

    def backward(self, g):
        return np.zeros_like(g)


class Sign(_Piecewise):
    pass


class Floor(_Piecewise):
    pass


class Ceil(_Piecewise):
    pass


class Trunc(_Piecewise):
    pass


class Round(_Piecewise):
    pass


def _sign(x):
    return _sgn(x) if x.dtype.kind == "f" else np.sign(x)


class Frac(Op):
    """y = x - trunc(x); dy/dx = 1 (nan at +-inf, silently, as torch)."""
    _saves = ()
    flops = _flops.elementwise(1)

    @quiet
    def forward(self, x):
        return x - np.trunc(x)

    def backward(self, g):
        return g


def _step(cls, npfn, name):
    def fn(input):
        if input._data.dtype.kind == "c":
            _no_complex_step(name)
        if input.dtype.is_floating_point:
            return cls.apply(input, npfn=npfn, kwargs={})
        return TensorBase._make(np.asarray(npfn(input._data)))
    fn.__name__ = name
    return fn


sign = _step(Sign, _sign, "sign")
floor = _step(Floor, np.floor, "floor")
ceil = _step(Ceil, np.ceil, "ceil")
trunc = _step(Trunc, np.trunc, "trunc")


def _no_complex_step(name):
    if name == "sign":
        raise NotImplementedError("Unlike NumPy, dlbasic.sign is not intended to support "
                                  "complex numbers. Please use dlbasic.sgn instead.")
    raise NotImplementedError(f"{name} is not supported for complex inputs")


def round(input, *, decimals=0):
    if input._data.dtype.kind == "c":
        _no_complex_step("round")
    if input.dtype.is_floating_point:
        return Round.apply(input, npfn=np.round, kwargs={"decimals": decimals})
    return TensorBase._make(np.asarray(np.round(input._data, decimals)))


def frac(input):
    if input.dtype.is_floating_point:
        return Frac.apply(input)
    return sub(input, trunc(input))


def lerp(input, end, weight):
    shapes = [input.shape, end.shape] + ([weight.shape] if isinstance(weight, TensorBase) else [])
    check_broadcast(*shapes)          # torch names input, end, weight in that order
    return add(input, mul(weight, sub(end, input)))


def addcmul(input, tensor1, tensor2, *, value=1):
    return add(input, mul(tensor1, tensor2), alpha=value)


def addcdiv(input, tensor1, tensor2, *, value=1):
    return add(input, div(tensor1, tensor2), alpha=value)


# -- maximum / minimum / clamp / where ---------------------------------------------------

class Maximum(Op):
    """y = max(a, b); the gradient goes to the larger input, split 0.5/0.5 on ties (torch)."""
    _saved_attrs = ("a", "b")
    flops = _flops.elementwise(1)

    def forward(self, a, b):
        self.a, self.b = a, b
        return np.maximum(a, b)

    def backward(self, g):
        # torch: a gets g unless a < b, b gets g unless a > b, 0.5 each on ties; so where a
        # NaN wins, both inputs receive the gradient
        return _pick_grads(self, g, np.less, np.greater)


def _pick_grads(node, g, a_loses, b_loses):
    a, b = node.a, node.b
    na, nb = node.needs_input_grad
    tie = a == b
    ga = gb = None
    if na:
        ga = g * np.where(tie, 0.5, ~a_loses(a, b)).astype(g.dtype, copy=False)
    if nb:
        gb = g * np.where(tie, 0.5, ~b_loses(a, b)).astype(g.dtype, copy=False)
    return ga, gb


class Minimum(Op):
    """y = min(a, b); the gradient goes to the smaller input, split 0.5/0.5 on ties (torch)."""
    _saved_attrs = ("a", "b")
    flops = _flops.elementwise(1)

    def forward(self, a, b):
        self.a, self.b = a, b
        return np.minimum(a, b)

    def backward(self, g):
        return _pick_grads(self, g, np.greater, np.less)


def _ordered(input, other, name):
    for x in (input, other):
        if isinstance(x, TensorBase) and x._data.dtype.kind == "c":
            raise RuntimeError(f"{name} not implemented for complex tensors.")


def maximum(input, other, *, out=None):
    _ordered(input, other, "maximum")
    r = _binary(Maximum, input, other, "maximum")
    return _into(out, r) if out is not None else r


def minimum(input, other, *, out=None):
    _ordered(input, other, "minimum")
    r = _binary(Minimum, input, other, "minimum")
    return _into(out, r) if out is not None else r


class ClampScalar(Op):
    """y = min(max(x, lo), hi); dy/dx = 1 on the closed interval [lo, hi], else 0 (torch)."""
    _torch_name = "ClampBackward1"
    _saved_attrs = ("x",)
    flops = _flops.elementwise(1)

    def forward(self, x, lo, hi):
        self.x, self.lo, self.hi = x, lo, hi
        if lo is not None and hi is not None:
            return np.minimum(np.maximum(x, lo), hi) if lo <= hi else np.full_like(x, hi)
        if lo is not None:
            return np.maximum(x, lo)
        return np.minimum(x, hi)

    def backward(self, g):
        x, lo, hi = self.x, self.lo, self.hi
        mask = np.ones(x.shape, dtype=bool)
        if lo is not None:
            mask &= x >= lo
        if hi is not None:
            mask &= x <= hi
        return g * mask


class ClampTensor(Op):
    """y = min(max(x, lo), hi) with tensor bounds; x gets the gradient on [lo, hi], each bound
    where it is the active one."""
    _torch_name = "ClampBackward0"
    _saved_attrs = ("x", "lo", "hi")
    flops = _flops.elementwise(2)

    def forward(self, x, lo, hi):
        self.x, self.lo, self.hi = x, lo, hi
        return np.minimum(np.maximum(x, lo), hi)

    def backward(self, g):
        x, lo, hi = self.x, self.lo, self.hi
        in_range = (x >= lo) & (x <= hi)
        below = (x < lo) & (lo <= hi)
        above = ~in_range & ~below
        nx, nlo, nhi = self.needs_input_grad
        return (g * in_range if nx else None), (g * below if nlo else None), \
            (g * above if nhi else None)


def _broadcastable(*shapes):
    try:
        np.broadcast_shapes(*shapes)
        return True
    except ValueError:
        return False


def clamp(input, min=None, max=None, *, out=None):
    """Squeeze each element into [min, max] (``torch.clamp(input, min, max, out=None)``)."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if input._data.dtype.kind == "c":
        raise NotImplementedError("clamp is not supported for complex types")
    if isinstance(min, TensorBase) or isinstance(max, TensorBase):
        ref = input
        kind = input._data.dtype
        lo = min if min is not None else TensorBase._make(np.asarray(-np.inf, dtype=kind))
        hi = max if max is not None else TensorBase._make(np.asarray(np.inf, dtype=kind))
        dt = _dtype.result_type(input, lo, hi)
        x, lo, hi = (t if t.dtype is dt else t.to(dt) for t in
                     (ref, as_tensor_operand(lo, ref), as_tensor_operand(hi, ref)))
        try:
            r = ClampTensor.apply(x, lo, hi)
        except ValueError:
            shapes = [t._data.shape for t in (x, lo, hi)]
            raise broadcast_error(shapes[0], np.broadcast_shapes(*shapes[1:]) if
                                  _broadcastable(*shapes[1:]) else shapes[1]) from None
    else:
        dt = _dtype.result_type(input, *(v for v in (min, max) if v is not None))
        x = input if input.dtype is dt else input.to(dt)
        cast_ = dt.np.type
        r = ClampScalar.apply(x, lo=None if min is None else cast_(min),
                              hi=None if max is None else cast_(max))
    return _into(out, r) if out is not None else r


clip = clamp


class Where(Op):
    """y = cond ? a : b; dy/da = cond, dy/db = not cond."""
    _saves = ()
    _saved_attrs = ("cond",)
    flops = _flops.no_cost

    def forward(self, cond, a, b):
        self.cond = cond
        return np.where(cond, a, b)

    def backward(self, g):
        c = self.cond
        _, na, nb = self.needs_input_grad
        return None, (np.where(c, g, 0) if na else None), (np.where(c, 0, g) if nb else None)


def where(condition, input=None, other=None, *, out=None):
    if input is None and other is None:
        return tuple(TensorBase._make(i.astype(np.int64)) for i in np.nonzero(condition._data))
    if not isinstance(condition, TensorBase):
        condition = as_tensor_operand(condition)
    if condition.dtype is not _dtype.bool_:
        if condition.dtype is _dtype.uint8:
            condition = condition.bool()
        else:
            raise RuntimeError(f"where expected condition to be a boolean tensor, but got a "
                               f"tensor with dtype {_TYPE_SHORT[condition.dtype.name]}")
    if not isinstance(input, TensorBase) and not isinstance(other, TensorBase):
        dt = _dtype.result_type(input, other)          # two numbers: their default dtype
        input = TensorBase._make(np.asarray(input, dtype=dt.np))
    a, b = promote(input, other, "where")
    try:
        r = Where.apply(condition, a, b)
    except ValueError:
        raise broadcast_error(condition._data.shape, a._data.shape, b._data.shape) from None
    return _into(out, r) if out is not None else r
