"""Fused activation primitives.  Each docstring gives y = f(x) and the local gradient dy/dx.

The notes ("常用线性激活函数") list sigmoid, ReLU, Leaky ReLU, tanh and ELU; the others are
their usual relatives.  ``sigmoid``, ``tanh`` and ``relu`` live in ``elementwise.py``.

Kinks follow PyTorch: leaky_relu/prelu/rrelu/elu take the negative branch at x == 0; hardtanh,
relu6 and hardsigmoid pass gradient only on the open interval; softplus switches to the
identity above ``threshold``.  Every exp is taken of a non-positive number, so nothing
overflows at |x| = 1000.
"""
import math
import warnings

import numpy as np

from .._dtype import TYPE_SHORT
from .._tensor_base import TensorBase, wrap_dim
from ..autograd.function import Op
from . import _flops, _special
from ._util import quiet

__all__ = ["softmax", "log_softmax", "softmin"]


class LeakyRelu(Op):
    """y = x if x > 0 else s*x; dy/dx = 1 if x > 0 else s."""
    _saves = ()
    _saved_attrs = ("pos",)
    flops = _flops.elementwise(1)

    def forward(self, x, negative_slope):
        self.pos = x > 0
        self.s = negative_slope
        return np.where(self.pos, x, x * negative_slope).astype(x.dtype, copy=False)

    def backward(self, g):
        return np.where(self.pos, g, g * self.s).astype(g.dtype, copy=False)


class Prelu(Op):
    """y = x if x > 0 else w_c*x (w per channel, dim 1); dy/dx = 1 or w_c, dy/dw_c = x (x <= 0)."""
    _torch_name = "PreluKernelBackward0"
    _saved_attrs = ("x", "wb")
    flops = _flops.elementwise(2)

    def forward(self, x, w):
        if w.size == 1 or x.ndim < 2:
            wb = w.reshape(())
        else:
            wb = w.reshape((1, -1) + (1,) * (x.ndim - 2))
        self.x, self.wb, self.wshape = x, wb, w.shape
        return np.where(x > 0, x, wb * x).astype(x.dtype, copy=False)

    def backward(self, g):
        x, wb = self.x, self.wb
        pos = x > 0
        gx = gw = None
        if self.needs_input_grad[0]:
            gx = np.where(pos, g, g * wb).astype(g.dtype, copy=False)
        if self.needs_input_grad[1]:
            contrib = np.where(pos, 0, g * x)
            if wb.ndim == 0:
                gw = np.asarray(contrib.sum(), dtype=g.dtype).reshape(self.wshape)
            else:
                axes = (0,) + tuple(range(2, x.ndim))
                gw = contrib.sum(axis=axes).astype(g.dtype, copy=False).reshape(self.wshape)
        return gx, gw


class RreluWithNoise(Op):
    """y = x if x > 0 else r*x, r ~ U(lower, upper) per element in training, (lower+upper)/2
    in eval; dy/dx = 1 or r (the sampled r)."""
    _saves = ()
    _saved_attrs = ("noise",)
    flops = _flops.elementwise(2)

    def forward(self, x, lower, upper, training, rng):
        neg = x <= 0
        if training:
            r = rng.uniform(lower, upper, x.shape).astype(x.dtype)
            self.noise = np.where(neg, r, 1).astype(x.dtype, copy=False)
        else:
            self.noise = np.where(neg, (lower + upper) / 2, 1).astype(x.dtype, copy=False)
        return x * self.noise

    def backward(self, g):
        return g * self.noise


class Elu(Op):
    """y = scale*x if x > 0 else scale*alpha*(e^(k*x) - 1), k the input scale;
    dy/dx = scale if x > 0 else scale*alpha*k*e^(k*x).  elu: scale=k=1; selu: fixed alpha,
    scale; celu: k = 1/alpha."""
    _saved_attrs = ("e", "pos")
    flops = _flops.transcendental(1)

    _saves = ()

    @quiet
    def forward(self, x, alpha, scale=1.0, input_scale=1.0, name=None):
        if name is not None:
            self._torch_name = name
        self.alpha, self.scale, self.k = alpha, scale, input_scale
        self.pos = x > 0
        neg = np.minimum(x, 0) * input_scale        # exp of a non-positive number only
        y = np.where(self.pos, x * scale, (scale * alpha) * np.expm1(neg))
        # e^(kx) kept for backward: y + scale*alpha would cancel where e^(kx) is tiny
        self.e = np.exp(neg)
        return y.astype(x.dtype, copy=False)

    @quiet
    def backward(self, g):
        d = np.where(self.pos, self.scale, (self.scale * self.alpha * self.k) * self.e)
        return (g * d).astype(g.dtype, copy=False)


class Softplus(Op):
    """y = log(1 + e^(b*x))/b (y = x where b*x > threshold); dy/dx = sigmoid(b*x) (1 above)."""
    _saved_attrs = ("x",)
    flops = _flops.transcendental(1)

    @quiet
    def forward(self, x, beta, threshold):
        self.x, self.beta, self.threshold = x, beta, threshold
        bx = x * beta
        return np.where(bx > threshold, x, _special.softplus(bx) / beta).astype(x.dtype, copy=False)

    @quiet
    def backward(self, g):
        bx = self.x * self.beta
        return np.where(bx > self.threshold, g, g * _special.sigmoid(bx)).astype(g.dtype, copy=False)


class LogSigmoid(Op):
    """y = log(sigmoid(x)) = -softplus(-x); dy/dx = 1 - sigmoid(x) = sigmoid(-x)."""
    _saved_attrs = ("x",)
    flops = _flops.transcendental(1)

    def forward(self, x):
        self.x = x
        return (-_special.softplus(-x)).astype(x.dtype, copy=False)

    def backward(self, g):
        return g * _special.sigmoid(-self.x)


class Softmax(Op):
    """y_i = e^(x_i - m) / sum_j e^(x_j - m), m = max x (no overflow);
    dx_i = y_i * (g_i - sum_j g_j y_j)."""
    _saves = ()
    _saves_output = True
    _saved_attrs = ("y",)
    flops = _flops.softmax_like

    @quiet
    def forward(self, x, dim):
        self.dim = dim
        if x.size == 0:
            self.y = x.copy()
            return self.y
        e = np.exp(x - x.max(axis=dim, keepdims=True))
        self.y = e / e.sum(axis=dim, keepdims=True)
        return self.y

    @quiet
    def backward(self, g):
        y = self.y
        return y * (g - (g * y).sum(axis=self.dim, keepdims=True))


class LogSoftmax(Op):
    """y_i = x_i - m - log sum_j e^(x_j - m); dx_i = g_i - softmax_i * sum_j g_j."""
    _saves = ()
    _saves_output = True
    _saved_attrs = ("y",)

    @staticmethod
    def flops(call):
        """As softmax, plus one log per row."""
        n = call.in_numel
        dim = call.params.get("dim", -1)
        shape = call.in_shapes[0]
        rows = n // shape[dim] if shape and shape[dim] else 0
        return _flops.cost(elementwise=3 * n, transcendental=n + rows,
                           backward_elementwise=3 * n * _flops.n_grads(call, (0,)))

    @quiet
    def forward(self, x, dim):
        self.dim = dim
        if x.size == 0:
            self.y = x.copy()
            return self.y
        s = x - x.max(axis=dim, keepdims=True)
        self.y = s - np.log(np.exp(s).sum(axis=dim, keepdims=True))
        return self.y

    @quiet
    def backward(self, g):
        return g - np.exp(self.y) * g.sum(axis=self.dim, keepdims=True)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


class Gelu(Op):
    """'none': y = x*Phi(x), dy/dx = Phi(x) + x*phi(x);  'tanh': y = x/2*(1 + tanh(u)),
    u = sqrt(2/pi)(x + 0.044715x^3), dy/dx = (1 + tanh u)/2 + x/2*(1 - tanh^2 u)*du/dx.
    With s = sigmoid(2u) = (1 + tanh u)/2 the tanh form is y = x*s, dy/dx = s + 2x*s(1-s)*du/dx,
    which keeps its digits where 1 + tanh u would cancel (x < -3)."""
    _saved_attrs = ("x", "cdf")
    flops = _flops.transcendental(1)

    @quiet
    def forward(self, x, approximate):
        self.x, self.approximate = x, approximate
        if approximate == "tanh":
            u2 = (2 * _SQRT_2_OVER_PI) * (x + 0.044715 * x * x * x)
            return (x * _special.sigmoid(u2)).astype(x.dtype, copy=False)
        # Phi(x) = erfc(-x/sqrt 2)/2: accurate far into the negative tail, where 1 + erf is 0
        self.cdf = _special.ndtr(x)
        return x * self.cdf

    @quiet
    def backward(self, g):
        x = self.x
        if self.approximate == "tanh":
            # s and the second term cancel where the gradient crosses 0: float64 inside
            x = x.astype(np.float64)
            u2 = (2 * _SQRT_2_OVER_PI) * (x + 0.044715 * x * x * x)
            s = _special.sigmoid(u2)
            du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            d = (s + 2 * x * (s * _special.sigmoid(-u2)) * du).astype(g.dtype, copy=False)
        else:
            d = self.cdf + x * (_INV_SQRT_2PI * np.exp(-0.5 * x * x))
        return (g * d).astype(g.dtype, copy=False)


class Silu(Op):
    """y = x*sigmoid(x); dy/dx = s*(1 + x*(1 - s)), s = sigmoid(x)."""
    _saved_attrs = ("x", "s")
    flops = _flops.transcendental(1)

    @quiet
    def forward(self, x):
        self.x = x
        self.s = _special.sigmoid(x)
        return x * self.s

    @quiet
    def backward(self, g):
        # 1 + x(1 - s) cancels near x = -1.28: it is formed in float64 (no rounding but s's)
        s = self.s
        bracket = 1 + self.x.astype(np.float64) * (1 - s.astype(np.float64))
        return g * (s * bracket).astype(g.dtype, copy=False)


class Mish(Op):
    """y = x*tanh(softplus(x)); dy/dx = t + x*sigmoid(x)*(1 - t^2), t = tanh(softplus(x))."""
    _saved_attrs = ("x", "t")
    flops = _flops.transcendental(1)

    @quiet
    def forward(self, x):
        self.x = x
        self.t = np.tanh(_special.softplus(x)).astype(x.dtype, copy=False)
        return x * self.t

    @quiet
    def backward(self, g):
        # the two terms cancel where the gradient crosses 0 (x near -1.19): float64 inside
        x = self.x.astype(np.float64)
        t = np.tanh(_special.softplus(x))
        d = t + x * _special.sigmoid(x) * ((1 - t) * (1 + t))
        return g * d.astype(g.dtype, copy=False)


class Hardtanh(Op):
    """y = clip(x, lo, hi); dy/dx = 1 on the open interval (lo, hi), else 0 (as torch)."""
    _saves = ()
    _saved_attrs = ("inside",)
    flops = _flops.elementwise(1)

    def forward(self, x, lo, hi):
        self.inside = (x > lo) & (x < hi)
        return np.clip(x, lo, hi).astype(x.dtype, copy=False)

    def backward(self, g):
        return g * self.inside


class Hardsigmoid(Op):
    """y = clip(x/6 + 1/2, 0, 1); dy/dx = 1/6 on (-3, 3), else 0."""
    _saves = ()
    _saved_attrs = ("inside",)
    flops = _flops.elementwise(3)

    def forward(self, x):
        self.inside = (x > -3) & (x < 3)
        return np.clip(x / 6 + 0.5, 0, 1).astype(x.dtype, copy=False)

    def backward(self, g):
        return g * self.inside / 6


class Hardswish(Op):
    """y = x*clip(x + 3, 0, 6)/6; dy/dx = 0 (x <= -3), x/3 + 1/2 (-3 < x < 3), 1 (x >= 3)."""
    _saved_attrs = ("x",)
    flops = _flops.elementwise(4)

    @quiet
    def forward(self, x):
        self.x = x
        return (x * np.clip(x + 3, 0, 6) / 6).astype(x.dtype, copy=False)

    @quiet
    def backward(self, g):
        x = self.x
        d = np.where(x <= -3, 0, np.where(x < 3, x / 3 + 0.5, 1))
        return (g * d).astype(g.dtype, copy=False)


class Threshold(Op):
    """y = x if x > threshold else value; dy/dx = 1 if x > threshold else 0."""
    _saves = ()
    _saved_attrs = ("keep",)
    flops = _flops.elementwise(1)

    def forward(self, x, threshold, value):
        self.keep = x > threshold
        return np.where(self.keep, x, value).astype(x.dtype, copy=False)

    def backward(self, g):
        return g * self.keep


# -- softmax and its relatives: argument handling around the fused ops above ------------

def _check_tensor(input, name):
    if not isinstance(input, TensorBase):
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(input).__name__}")


def _float(input, kernel):
    """The fused kernels are defined for floating point only, as torch's CPU kernels."""
    _check_tensor(input, kernel)
    if input._data.dtype.kind != "f":
        tname = TYPE_SHORT.get(input._data.dtype.name, input._data.dtype.name)
        suffix = "" if kernel.endswith(("Impl", "impl")) else "_cpu"
        raise NotImplementedError(f'"{kernel}{suffix}" not implemented for \'{tname}\'')
    return input


def _softmax_dim(name, ndim, stacklevel):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", stacklevel=stacklevel + 1)
    return 0 if ndim in (0, 1, 3) else 1


def _softmax_like(op, name, input, dim, stacklevel, dtype, negate=False):
    _check_tensor(input, name)
    if dim is None:
        dim = _softmax_dim(name, input.ndim, stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    kernel = "softmax" if op is Softmax else "log_softmax"
    _float(input, f"{kernel}_lastdim_kernel_impl")
    axis = wrap_dim(dim, input.ndim)
    if negate:
        input = -input
    if input.ndim == 0:
        return op.apply(input.reshape(1), dim=0).reshape(())
    return op.apply(input, dim=axis)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(x)_i = e^(x_i) / sum_j e^(x_j) along ``dim`` (computed as e^(x_i - max))."""
    return _softmax_like(Softmax, "softmax", input, dim, _stacklevel, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """log(softmax(x)) = x - max - log(sum e^(x - max)), stable for any x."""
    return _softmax_like(LogSoftmax, "log_softmax", input, dim, _stacklevel, dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-x)."""
    return _softmax_like(Softmax, "softmin", input, dim, _stacklevel, dtype, negate=True)
