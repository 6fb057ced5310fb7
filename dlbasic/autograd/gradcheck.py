"""Finite-difference gradient checks (float64), as torch.autograd.gradcheck."""
import warnings

import numpy as np

from .._tensor_base import TensorBase
from .engine import grad as autograd_grad
from .grad_mode import no_grad

__all__ = ["gradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    pass


def _as_tuple(x):
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


def _outputs(func, inputs):
    outs = _as_tuple(func(*inputs))
    return [o for o in outs if isinstance(o, TensorBase) and o.dtype.is_floating_point]


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, fast_mode=False, masked=None,
              check_grad_dtypes=False, check_batched_grad=False, check_backward_ad=True):
    """Compare the analytical Jacobian (autograd) with central differences.

    Returns True when every entry agrees within ``atol + rtol * |numerical|``; otherwise
    raises ``GradcheckError`` naming the output and input (or returns False when
    ``raise_exception=False``).
    """
    inputs = _as_tuple(inputs)
    diff_inputs = [(i, t) for i, t in enumerate(inputs)
                   if isinstance(t, TensorBase) and t.requires_grad]
    if not diff_inputs:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but "
                         "none of the them have requires_grad=True.")
    for _, t in diff_inputs:
        if t.dtype.name != "float64":
            warnings.warn(f"Input #{_} requires gradient and is not a double precision floating "
                          "point. This check will likely fail if all the inputs are not of "
                          "double precision floating point.")

    outputs = _outputs(func, inputs)
    # numerical Jacobians: one column per input element
    numerical = []
    with no_grad():
        for _, t in diff_inputs:
            flat = t._data.reshape(-1)
            cols = []
            for k in range(flat.size):
                orig = flat[k]
                flat[k] = orig + eps
                plus = [o._data.astype(np.float64).copy() for o in _outputs(func, inputs)]
                flat[k] = orig - eps
                minus = [o._data.astype(np.float64).copy() for o in _outputs(func, inputs)]
                flat[k] = orig
                cols.append([(p - m).reshape(-1) / (2 * eps) for p, m in zip(plus, minus)])
            numerical.append(cols)

    for oi, out in enumerate(outputs):
        n_out = out.numel()
        for ii, (idx, t) in enumerate(diff_inputs):
            num = np.zeros((t.numel(), n_out))
            for k, col in enumerate(numerical[ii]):
                num[k] = col[oi]
            ana = np.zeros((t.numel(), n_out))
            if out.requires_grad:
                for j in range(n_out):
                    seed = np.zeros(out.shape, dtype=out._data.dtype)
                    seed.reshape(-1)[j] = 1
                    g = autograd_grad(out, t, TensorBase._make(seed), retain_graph=True,
                                      allow_unused=True)[0]
                    if g is not None:
                        ana[:, j] = g._data.reshape(-1)
            if not np.allclose(ana, num, rtol=rtol, atol=atol):
                if not raise_exception:
                    return False
                raise GradcheckError(
                    f"Jacobian mismatch for output {oi} with respect to input {idx},\n"
                    f"numerical:{num}\nanalytical:{ana}\n")
    return True


def gradgradcheck(*args, **kwargs):
    raise NotImplementedError("second-order gradients are not supported by dlbasic")
