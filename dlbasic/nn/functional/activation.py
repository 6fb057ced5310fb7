"""Activation functions (torch.nn.functional): the notes' sigmoid, ReLU, Leaky ReLU, tanh, ELU
and their relatives.  Kernels (forward + local gradient) are in ``dlbasic/ops/activation.py``.
"""
from ... import _dtype
from ..._tensor import Tensor
from ..._random import _rng
from ...ops import elementwise as E
from ...ops import activation as A
from ...ops import movement as M
from ...ops._util import wrap_dim
# softmax and log_softmax are Tensor methods too, so they (and softmin) live with their ops
from ...ops.activation import softmax, log_softmax, softmin, _check_tensor, _float

__all__ = ["sigmoid", "tanh", "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "prelu",
           "rrelu", "rrelu_", "elu", "elu_", "selu", "selu_", "celu", "celu_", "logsigmoid",
           "softmax", "log_softmax", "softmin", "softplus", "gelu", "silu", "mish", "hardtanh",
           "hardtanh_", "hardsigmoid", "hardswish", "threshold", "threshold_", "glu",
           "softsign", "tanhshrink", "softshrink", "hardshrink"]


def _maybe_inplace(input, inplace, fn, *args, **kwargs):
    if inplace:
        return input._inplace(fn, *args, **kwargs)
    return fn(input, *args, **kwargs)


# -- the notes' five ---------------------------------------------------------------------

def sigmoid(input):
    """sigmoid(x) = 1/(1+e^-x)."""
    return E.sigmoid(input)


def tanh(input):
    """tanh(x)."""
    return E.tanh(input)


def relu(input, inplace=False):
    """ReLU(x) = max(0, x); gradient 0 at the kink x = 0."""
    _check_tensor(input, "relu")
    return input.relu_() if inplace else E.relu(input)


def relu_(input):
    return relu(input, inplace=True)


def _leaky(input, negative_slope):
    return A.LeakyRelu.apply(_float(input, "leaky_relu"), negative_slope=negative_slope)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """LeakyReLU(x) = x if x > 0 else negative_slope * x (the notes use max(0.1x, x))."""
    return _maybe_inplace(input, inplace, _leaky, negative_slope)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def _elu(input, alpha):
    return A.Elu.apply(_float(input, "elu"), alpha=alpha)


def elu(input, alpha=1.0, inplace=False):
    """ELU(x) = x if x > 0 else alpha * (e^x - 1)."""
    return _maybe_inplace(input, inplace, _elu, alpha)


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


# -- relatives ---------------------------------------------------------------------------

def _hardtanh(input, min_val, max_val):
    _check_tensor(input, "hardtanh")
    if input.dtype is _dtype.bool_:
        _float(input, "hardtanh")
    return A.Hardtanh.apply(input, lo=min_val, hi=max_val)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """clip(x, min_val, max_val); gradient 1 strictly inside the interval."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _maybe_inplace(input, inplace, _hardtanh, min_val, max_val)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace=False):
    """min(max(0, x), 6) = hardtanh(x, 0, 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def prelu(input, weight):
    """PReLU(x) = x if x > 0 else w_c * x, with w per channel (dim 1) or one shared w."""
    _float(input, "prelu")
    if not isinstance(weight, Tensor):
        raise TypeError(f"prelu(): argument 'weight' (position 2) must be Tensor, not "
                        f"{type(weight).__name__}")
    n = weight.numel()
    if n != 1:
        channels = input.shape[1] if input.ndim >= 2 else 1
        if input.ndim == 0:
            raise RuntimeError("Not allow zero-dim input tensor.")
        if n != channels:
            raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found "
                               f"parameter numbers = {n} and channel size = {channels}.")
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: "
                           f"ndim = {weight.ndim}")
    if weight.dtype is not input.dtype:
        weight = weight.to(input.dtype)
    return A.Prelu.apply(input, weight)


def _rrelu(input, lower, upper, training):
    return A.RreluWithNoise.apply(_float(input, "rrelu_with_noise"), lower=lower, upper=upper,
                                  training=bool(training), rng=_rng(None))


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomized leaky ReLU: slope ~ U(lower, upper) per element while training,
    (lower + upper) / 2 otherwise."""
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")
    return _maybe_inplace(input, inplace, _rrelu, lower, upper, training)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return rrelu(input, lower, upper, training, inplace=True)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _selu(input):
    return A.Elu.apply(_float(input, "elu"), alpha=_SELU_ALPHA, scale=_SELU_SCALE)


def selu(input, inplace=False):
    """SELU(x) = scale * ELU(x, alpha) with the self-normalising constants."""
    return _maybe_inplace(input, inplace, _selu)


def selu_(input):
    return selu(input, inplace=True)


def _celu(input, alpha):
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return A.Elu.apply(_float(input, "elu"), alpha=alpha, input_scale=1.0 / alpha,
                       name="CeluBackward0")


def celu(input, alpha=1.0, inplace=False):
    """CELU(x) = max(0, x) + min(0, alpha * (e^(x/alpha) - 1))."""
    return _maybe_inplace(input, inplace, _celu, alpha)


def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


def logsigmoid(input):
    """log(sigmoid(x)) = -softplus(-x), finite for any x."""
    return A.LogSigmoid.apply(_float(input, "log_sigmoid"))


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + e^(beta x)) / beta; x itself where beta * x > threshold."""
    return A.Softplus.apply(_float(input, "softplus"), beta=beta, threshold=threshold)


def gelu(input, approximate="none"):
    """x * Phi(x) (Phi the standard normal CDF); approximate='tanh' uses the tanh formula."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return A.Gelu.apply(_float(input, "GeluKernelImpl"), approximate=approximate)


def _silu(input):
    return A.Silu.apply(_float(input, "silu"))


def silu(input, inplace=False):
    """SiLU / swish: x * sigmoid(x)."""
    return _maybe_inplace(input, inplace, _silu)


def _mish(input):
    return A.Mish.apply(_float(input, "mish"))


def mish(input, inplace=False):
    """x * tanh(softplus(x))."""
    return _maybe_inplace(input, inplace, _mish)


def _hardsigmoid(input):
    return A.Hardsigmoid.apply(_float(input, "hardsigmoid"))


def hardsigmoid(input, inplace=False):
    """clip(x/6 + 1/2, 0, 1)."""
    return _maybe_inplace(input, inplace, _hardsigmoid)


def _hardswish(input):
    return A.Hardswish.apply(_float(input, "hardswish"))


def hardswish(input, inplace=False):
    """x * hardsigmoid(x) = x * clip(x + 3, 0, 6) / 6."""
    return _maybe_inplace(input, inplace, _hardswish)


def _threshold(input, threshold, value):
    return A.Threshold.apply(_float(input, "threshold"), threshold=threshold, value=value)


def threshold(input, threshold, value, inplace=False):
    """x where x > threshold, else value."""
    return _maybe_inplace(input, inplace, _threshold, threshold, value)


def threshold_(input, threshold, value):
    return _maybe_inplace(input, True, _threshold, threshold, value)



# -- compositions: their gradients are those of the ops they are made of ---------------------

def glu(input, dim=-1):
    """Gated linear unit: split ``input`` in halves a, b along ``dim``; a * sigmoid(b)."""
    _check_tensor(input, "glu")
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = wrap_dim(dim, input.ndim)
    n = input.shape[d]
    if n % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size {n}")
    a = M.narrow(input, d, 0, n // 2)
    b = M.narrow(input, d, n // 2, n // 2)
    return E.mul(a, E.sigmoid(b))


def softsign(input):
    """x / (1 + |x|)."""
    _check_tensor(input, "softsign")
    return E.div(input, E.add(E.abs(input), 1))


def tanhshrink(input):
    """x - tanh(x)."""
    _check_tensor(input, "tanhshrink")
    return E.sub(input, E.tanh(input))


def _check_lambd(lambd, name):
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")


def softshrink(input, lambd=0.5):
    """x - lambd for x > lambd, x + lambd for x < -lambd, 0 between."""
    _float(input, "softshrink")
    _check_lambd(lambd, "softshrink")
    return E.where(input > lambd, E.sub(input, lambd),
                   E.where(input < -lambd, E.add(input, lambd), 0.0))


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0."""
    _float(input, "hardshrink")
    return E.where(E.abs(input) > lambd, input, 0.0)
