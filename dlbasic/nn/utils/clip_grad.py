"""Gradient clipping: rescale (``clip_grad_norm_``) or clamp (``clip_grad_value_``) gradients.

``clip_grad_norm_`` treats all gradients as one long vector g: it computes ||g||_p, then scales
every gradient by min(1, max_norm / (||g||_p + 1e-6)), so the direction of the update is kept
while its length is bounded (Pascanu et al., 2013, on exploding gradients in RNNs).
"""
import types
import warnings

import numpy as np

from ..._tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm",
           "clip_grads_with_norm_"]


def _as_list(tensors):
    if isinstance(tensors, Tensor):
        return [tensors]
    return list(tensors)


def _vector_norm(a, p):
    """||a||_p as a Python float, accumulated in float64 (a: ndarray of any float dtype)."""
    if a.size == 0:
        return 0.0
    if p == 2.0:
        return float(np.sqrt(np.sum(np.square(a), dtype=np.float64)))
    if p == 1.0:
        return float(np.sum(np.abs(a), dtype=np.float64))
    if p == np.inf:
        return float(np.max(np.abs(a)))
    if p == -np.inf:
        return float(np.min(np.abs(a)))
    if p == 0.0:
        return float(np.count_nonzero(a))
    return float(np.sum(np.abs(a.astype(np.float64)) ** p) ** (1.0 / p))


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The p-norm of the norms of ``tensors`` (= the norm of all of them concatenated)."""
    tensors = [t for t in _as_list(tensors) if t is not None]
    norm_type = float(norm_type)
    if len(tensors) == 0:
        return Tensor._make(np.array(0.0, dtype=np.float32))
    dtype = np.result_type(*[t._data.dtype for t in tensors])
    if not np.issubdtype(dtype, np.floating):
        dtype = np.dtype(np.float32)
    norms = np.array([_vector_norm(t._data, norm_type) for t in tensors], dtype=dtype)
    total = np.asarray(_vector_norm(norms, norm_type), dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the "
            "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
    return Tensor._make(total)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients of ``parameters`` by min(1, max_norm / (total_norm + 1e-6))."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if len(grads) == 0:
        return
    tn = total_norm._data if isinstance(total_norm, Tensor) else np.asarray(total_norm)
    dt = tn.dtype if np.issubdtype(tn.dtype, np.floating) else np.dtype(np.float32)
    # in the norm's dtype, as torch computes the coefficient on a tensor
    with np.errstate(divide="ignore", invalid="ignore"):
        coef = dt.type(float(max_norm)) / (tn.astype(dt) + dt.type(1e-6))
        coef = np.minimum(coef, dt.type(1.0))
    with np.errstate(invalid="ignore", over="ignore"):   # inf/nan norms scale to nan, as torch
        for g in grads:
            d = g._data
            np.multiply(d, coef.astype(d.dtype), out=d)
            g._vbox[0] += 1


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """Clip the gradients' total ``norm_type``-norm to ``max_norm`` in place.

    Returns the total norm of the gradients before clipping, as a Tensor.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and len(parameters) == 0:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will "
                          "occur.", stacklevel=2)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                   foreach=None):
    """Deprecated alias of :func:`clip_grad_norm_`."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element into [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        g = p.grad
        if g is None:
            continue
        np.clip(g._data, -clip_value, clip_value, out=g._data)
        g._vbox[0] += 1
