"""Finite-difference gradient checks (float64), as torch.autograd.gradcheck and gradgradcheck."""
import warnings

import numpy as np

from .._tensor_base import TensorBase
from .engine import grad as autograd_grad
from .grad_mode import no_grad, enable_grad

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    pass


def _as_tuple(x):
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


def _outputs(func, inputs):
    outs = _as_tuple(func(*inputs))
    return [o for o in outs if isinstance(o, TensorBase) and o._data.dtype.kind in "fc"]


def _as_real(a):
    """An array as its real coordinates: complex elements as (re, im) pairs, flattened."""
    a = np.asarray(a)
    if a.dtype.kind == "c":
        return np.stack([a.real, a.imag], axis=-1).reshape(-1).astype(np.float64)
    return a.reshape(-1).astype(np.float64)


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, fast_mode=False, masked=None,
              check_grad_dtypes=False, check_batched_grad=False, check_backward_ad=True):
    """Compare the analytical Jacobian (autograd) with central differences.

    Complex inputs and outputs are checked as pairs of real coordinates: the real and the
    imaginary part of an input are perturbed in turn, and the gradient of Re o (seed 1) and
    of Im o (seed i) of an output o must be d/dRe x + i d/dIm x, torch's convention.
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
        if t.dtype.name not in ("float64", "complex128"):
            warnings.warn(f"Input #{_} requires gradient and is not a double precision floating "
                          "point or complex. This check will likely fail if all the inputs are "
                          "not of double precision floating point or complex.")

    outputs = _outputs(func, inputs)
    # numerical Jacobians: one column per real coordinate of an input
    numerical = []
    with no_grad():
        for _, t in diff_inputs:
            flat = t._data.reshape(-1)
            steps = (eps, 1j * eps) if flat.dtype.kind == "c" else (eps,)
            cols = []
            for k in range(flat.size):
                orig = flat[k]
                for step in steps:
                    flat[k] = orig + step
                    plus = [_as_real(o._data) for o in _outputs(func, inputs)]
                    flat[k] = orig - step
                    minus = [_as_real(o._data) for o in _outputs(func, inputs)]
                    flat[k] = orig
                    cols.append([(p - m) / (2 * eps) for p, m in zip(plus, minus)])
            numerical.append(cols)

    for oi, out in enumerate(outputs):
        is_c = out._data.dtype.kind == "c"
        seeds = (1, 1j) if is_c else (1,)
        n_out = out.numel() * len(seeds)
        for ii, (idx, t) in enumerate(diff_inputs):
            cols = numerical[ii]
            num = np.zeros((len(cols), n_out))
            for k, col in enumerate(cols):
                num[k] = col[oi]
            ana = np.zeros((len(cols), n_out))
            if out.requires_grad:
                for j in range(out.numel()):
                    for si, v in enumerate(seeds):
                        seed = np.zeros(out.shape, dtype=out._data.dtype)
                        seed.reshape(-1)[j] = v
                        g = autograd_grad(out, t, TensorBase._make(seed), retain_graph=True,
                                          allow_unused=True)[0]
                        if g is not None:
                            ana[:, j * len(seeds) + si] = _as_real(g._data)
            if not np.allclose(ana, num, rtol=rtol, atol=atol):
                if not raise_exception:
                    return False
                raise GradcheckError(
                    f"Jacobian mismatch for output {oi} with respect to input {idx},\n"
                    f"numerical:{num}\nanalytical:{ana}\n")
    return True


def _forward_outputs(func, inputs):
    with enable_grad():
        return _outputs(func, inputs)


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True, nondet_tol=0.0,
                  check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
                  check_fwd_over_rev=False, check_rev_over_rev=True, fast_mode=False,
                  masked=False):
    """gradcheck of the backward pass itself: the map (inputs, v) -> v^T J(inputs), computed
    with ``create_graph=True``, is compared with central differences, so the second
    derivatives of ``func`` (and the backward's dependence on v) are checked.  Without
    ``grad_outputs``, v is random (seeded, so a failure repeats) and requires grad, as torch."""
    if check_fwd_over_rev:
        raise NotImplementedError("gradgradcheck(check_fwd_over_rev=True) needs forward-mode "
                                  "AD, which dlbasic does not have")
    inputs = _as_tuple(inputs)
    diff_inputs = [t for t in inputs if isinstance(t, TensorBase) and t.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(
            TensorBase._make(rng.standard_normal(o.shape).astype(o._data.dtype)
                             if o._data.dtype.kind == "f" else
                             (rng.standard_normal(o.shape) + 1j * rng.standard_normal(o.shape))
                             .astype(o._data.dtype), True)
            for o in _forward_outputs(func, inputs) if o.requires_grad)
    else:
        grad_outputs = _as_tuple(grad_outputs)
    n_in = len(inputs)

    def first_derivatives(*args):
        ins, vs = args[:n_in], args[n_in:]
        wrt = [t for t in ins if isinstance(t, TensorBase) and t.requires_grad]
        with enable_grad():           # (gradcheck calls it under no_grad for the differences)
            outs = [o for o in _outputs(func, ins) if o.requires_grad]
            if not outs:
                return ()
            grads = autograd_grad(outs, wrt, vs, create_graph=True, allow_unused=True)
        # an unused input's gradient is 0 (a constant), so every call returns as many outputs
        return tuple(TensorBase._make(np.zeros(t.shape, t._data.dtype)) if g is None else g
                     for g, t in zip(grads, wrt))

    if not diff_inputs:
        raise ValueError("gradgradcheck expects at least one input tensor to require "
                         "gradient, but none of the them have requires_grad=True.")
    return gradcheck(first_derivatives, inputs + tuple(grad_outputs), eps=eps, atol=atol,
                     rtol=rtol, raise_exception=raise_exception)
