"""Fused activation primitives.  Each docstring gives y = f(x) and the local gradient dy/dx.

The notes ("常用线性激活函数") list sigmoid, ReLU, Leaky ReLU, tanh and ELU; the others are
their usual relatives.  ``sigmoid``, ``tanh`` and ``relu`` live in ``elementwise.py``.

Kinks follow PyTorch: leaky_relu/prelu/rrelu/elu take the negative branch at x == 0; hardtanh,
relu6 and hardsigmoid pass gradient only on the open interval; softplus switches to the
identity above ``threshold``.  Every exp is taken of a non-positive number, so nothing
overflows at |x| = 1000.
"""
import math

import numpy as np

from ..autograd.function import Op
from . import _special
from ._util import quiet

__all__ = []


class LeakyRelu(Op):
    """y = x if x > 0 else s*x; dy/dx = 1 if x > 0 else s."""
    _saves = ()

    def forward(self, x, negative_slope):
        self.pos = x > 0
        self.s = negative_slope
        return np.where(self.pos, x, x * negative_slope).astype(x.dtype, copy=False)

    def backward(self, g):
        return np.where(self.pos, g, g * self.s).astype(g.dtype, copy=False)


class Prelu(Op):
    """y = x if x > 0 else w_c*x (w per channel, dim 1); dy/dx = 1 or w_c, dy/dw_c = x (x <= 0)."""
    _torch_name = "PreluKernelBackward0"

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

    def forward(self, x, lo, hi):
        self.inside = (x > lo) & (x < hi)
        return np.clip(x, lo, hi).astype(x.dtype, copy=False)

    def backward(self, g):
        return g * self.inside


class Hardsigmoid(Op):
    """y = clip(x/6 + 1/2, 0, 1); dy/dx = 1/6 on (-3, 3), else 0."""
    _saves = ()

    def forward(self, x):
        self.inside = (x > -3) & (x < 3)
        return np.clip(x / 6 + 0.5, 0, 1).astype(x.dtype, copy=False)

    def backward(self, g):
        return g * self.inside / 6


class Hardswish(Op):
    """y = x*clip(x + 3, 0, 6)/6; dy/dx = 0 (x <= -3), x/3 + 1/2 (-3 < x < 3), 1 (x >= 3)."""

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

    def forward(self, x, threshold, value):
        self.keep = x > threshold
        return np.where(self.keep, x, value).astype(x.dtype, copy=False)

    def backward(self, g):
        return g * self.keep
