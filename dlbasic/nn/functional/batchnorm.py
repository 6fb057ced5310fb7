"""``batch_norm`` and ``instance_norm`` with torch.nn.functional's signatures and checks.

The fused kernel (statistics, normalisation, running-stat update, closed-form backward) is
``dlbasic/ops/batchnorm.py``.
"""
import numpy as np

from ..._tensor import Tensor
from ..._tensor_base import size_str as _size_str
from ...ops.batchnorm import BatchNorm, BatchNormReLU

__all__ = ["batch_norm", "instance_norm"]


def _constant(value, n, like):
    return Tensor._make(np.full(n, value, like._data.dtype))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalise each channel (dim 1) of ``input`` (N, C, *) with batch or running statistics.

    ``training=True``: batch statistics (biased variance), and running_mean / running_var, when
    given, are updated in place with ``momentum`` (running_var with the unbiased variance).
    ``training=False``: running statistics, which must then be given.
    """
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def batch_norm_relu(input, running_mean, running_var, weight=None, bias=None, training=False,
                    momentum=0.1, eps=1e-5):
    """``relu(batch_norm(input, ...))`` as one op (``ops.batchnorm.BatchNormReLU``): the same
    values and gradients, without the ReLU's own passes over the activation.  dlbasic's own
    (torch has no such function); the models call it through ``nn.modules.batchnorm``."""
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps,
                       op=BatchNormReLU)


def _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps,
                op=BatchNorm):
    if not isinstance(input, Tensor):
        raise TypeError(f"batch_norm(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(input).__name__}")
    if input.ndim < 2:
        raise RuntimeError(f"batch_norm: expected an input of 2 or more dimensions (N, C, *), "
                           f"got input of size {_size_str(input.shape)}")
    if momentum is None or isinstance(momentum, bool):
        raise TypeError(f"batch_norm(): argument 'momentum' (position 7) must be float, not "
                        f"{type(momentum).__name__}")
    C = input.shape[1]
    if training and C > 0:
        count = input.numel() // C if C else 0
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input "
                             f"size {_size_str(input.shape)}")
    elif running_mean is None or running_var is None:
        raise RuntimeError(f"running_{'mean' if running_mean is None else 'var'} must be "
                           f"defined in evaluation mode")
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != C:
            raise RuntimeError(f"{name} should contain {C} elements not {t.numel()}")
        if t is not None and input.dtype.is_floating_point and t.dtype != input.dtype:
            raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")
    if weight is None:
        weight = _constant(1, C, input)
    if bias is None:
        bias = _constant(0, C, input)
    rm = running_mean._data if running_mean is not None else None
    rv = running_var._data if running_var is not None else None
    out = op.apply(input, weight, bias, training=bool(training), eps=float(eps),
                   running_mean=rm, running_var=rv, momentum=float(momentum))
    if training:
        # the buffers were changed in place: bump their version counters, as torch does
        for t in (running_mean, running_var):
            if t is not None:
                t._vbox[0] += 1
    return out


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalise every (sample, channel) plane with its own statistics.

    Computed as batch norm of the input viewed as (1, N*C, *); running statistics, when given,
    are updated with the mean over the batch of the per-instance statistics.
    """
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    spatial = 1
    for s in input.shape[2:]:
        spatial *= s
    if input.ndim >= 2 and spatial == 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size "
                         f"{_size_str(input.shape)}")
    N, C = input.shape[:2]
    x = input.reshape((1, N * C) + tuple(input.shape[2:]))
    rm = running_mean.repeat(N) if running_mean is not None else None
    rv = running_var.repeat(N) if running_var is not None else None
    w = weight.repeat(N) if weight is not None else None
    b = bias.repeat(N) if bias is not None else None
    out = batch_norm(x, rm, rv, w, b, True, momentum, eps)
    if running_mean is not None:
        running_mean._data[...] = rm._data.reshape(N, C).mean(0)
        running_var._data[...] = rv._data.reshape(N, C).mean(0)
    return out.reshape(input.shape)
