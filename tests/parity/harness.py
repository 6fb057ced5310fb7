"""The parity harness: run one torch-written lambda against torch and against dlbasic.

    check(lambda x, y: torch.maximum(x, y) * 2, shapes=[(3, 4), (4,)])

The lambda's global ``torch`` (and ``F``, ``nn`` when present) is rebound to dlbasic for the
second run.  Inputs are seeded, identical, and (by default) require grad; forward values,
shapes and dtypes must agree, and so must the gradients of ``out.sum()`` with respect to every
input.  ``check_raises`` asserts both libraries raise the same exception type.

``check_ulps`` is for transcendental functions in float32, whose last bits in PyTorch depend on
the SIMD kernel a CPU gets: both libraries are measured against a float64 reference (torch's
float64 kernel on the same inputs), in float32 ulps, and dlbasic's error may be at most
PyTorch's plus a few ulps.  No test compares float32 transcendental bits between libraries.
"""
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import dlbasic                                      # noqa: E402

FWD_ATOL, FWD_RTOL = 1e-6, 1e-3
GRAD_ATOL, GRAD_RTOL = 1e-4, 1e-3


def rebind(fn):
    """A copy of ``fn`` whose globals name dlbasic where they named torch."""
    import dlbasic.nn as dnn
    import dlbasic.nn.functional as dF
    g = dict(fn.__globals__)
    g["torch"] = dlbasic
    if "F" in g:
        g["F"] = dF
    if "nn" in g:
        g["nn"] = dnn
    new = types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    return new


def make_inputs(shapes, dtype="float32", seed=0, low=None, high=None):
    rng = np.random.default_rng(seed)
    arrays = []
    for s in shapes:
        if isinstance(s, np.ndarray):
            arrays.append(s)
            continue
        a = rng.standard_normal(s)
        if low is not None or high is not None:
            a = rng.uniform(low if low is not None else -1, high if high is not None else 1, s)
        if np.dtype(dtype).kind == "c":                 # an imaginary part drawn the same way
            a = a + 1j * rng.standard_normal(s)
        arrays.append(a.astype(dtype))
    return arrays


def _to_np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().resolve_conj().resolve_neg().numpy()     # (torch's lazy conj bits)
    if isinstance(x, dlbasic.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def _flatten(out):
    if isinstance(out, (tuple, list)):
        res = []
        for o in out:
            res.extend(_flatten(o))
        return res
    return [out]


def assert_close(a, b, atol, rtol, what="value"):
    a, b = _to_np(a), _to_np(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} (dlbasic) != {b.shape} (torch)"
    if a.dtype.kind == "b" or b.dtype.kind == "b" or a.dtype.kind in "iu":
        np.testing.assert_array_equal(a, b, err_msg=what)
    else:
        np.testing.assert_allclose(a, b, atol=atol, rtol=rtol, err_msg=what, equal_nan=True)


def _real_sum(t):
    """``t.sum()``; a complex output enters as Re(sum) + 0.5 Im(sum) (a real loss, whose
    gradient seed 1 + 0.5i tells the real and the imaginary part apart)."""
    if t.dtype.is_complex:
        s = t.sum()
        return s.real + 0.5 * s.imag
    return t.sum()


def check(fn, shapes=None, inputs=None, requires_grad=True, dtype="float32", grad=True,
          atol=FWD_ATOL, rtol=FWD_RTOL, grad_atol=GRAD_ATOL, grad_rtol=GRAD_RTOL,
          low=None, high=None, transform=None, seed=0):
    """Compare ``fn`` (torch-written) on torch and on dlbasic; return both outputs.

    ``inputs``: NumPy arrays (or numbers) used as they are; ``shapes``: random inputs.
    ``requires_grad``: True, False, or a list per input.  ``transform``: a torch-written
    function applied to each input tensor before ``fn`` (e.g. ``lambda t: t.t()`` for
    non-contiguous inputs); the gradient is taken with respect to the untransformed leaf.
    """
    arrays = inputs if inputs is not None else make_inputs(shapes, dtype, seed, low, high)
    rg = requires_grad if isinstance(requires_grad, (list, tuple)) else \
        [requires_grad] * len(arrays)
    t_in, d_in = [], []
    for a, r in zip(arrays, rg):
        if isinstance(a, np.ndarray):
            r = r and a.dtype.kind in "fc"
            t_in.append(torch.tensor(a, requires_grad=r))
            d_in.append(dlbasic.tensor(a, requires_grad=r))
        else:
            t_in.append(a)
            d_in.append(a)
    dfn = rebind(fn)
    if transform is not None:
        dtransform = rebind(transform)
        t_args = [transform(t) if isinstance(t, torch.Tensor) else t for t in t_in]
        d_args = [dtransform(t) if isinstance(t, dlbasic.Tensor) else t for t in d_in]
    else:
        t_args, d_args = t_in, d_in
    t_out = fn(*t_args)
    d_out = dfn(*d_args)
    t_flat, d_flat = _flatten(t_out), _flatten(d_out)
    assert len(t_flat) == len(d_flat), f"{len(d_flat)} outputs (dlbasic) != {len(t_flat)} (torch)"
    for i, (t, d) in enumerate(zip(t_flat, d_flat)):
        if isinstance(t, torch.Tensor):
            assert isinstance(d, dlbasic.Tensor), f"output {i}: expected a Tensor, got {type(d)}"
            assert str(t.dtype).split(".")[-1] == d.dtype.name, \
                f"output {i}: dtype {d.dtype.name} (dlbasic) != {t.dtype} (torch)"
        assert_close(d, t, atol, rtol, f"output {i}")
    if not grad:
        return t_out, d_out
    t_loss = [_real_sum(t) for t in t_flat if isinstance(t, torch.Tensor) and t.requires_grad]
    d_loss = [_real_sum(d) for d in d_flat if isinstance(d, dlbasic.Tensor) and d.requires_grad]
    assert len(t_loss) == len(d_loss), "requires_grad differs between outputs"
    if t_loss:
        sum(t_loss).backward()
        sum(d_loss).backward()
        for i, (t, d) in enumerate(zip(t_in, d_in)):
            if isinstance(t, torch.Tensor) and t.requires_grad:
                if t.grad is None:
                    assert d.grad is None or not np.any(d.grad.numpy()), f"grad of input {i}"
                    continue
                assert d.grad is not None, f"input {i}: dlbasic gave no gradient"
                assert_close(d.grad, t.grad, grad_atol, grad_rtol, f"grad of input {i}")
    return t_out, d_out


def ulp_error(a, ref):
    """|a - ref| in units of float32's last place at ``ref`` (elementwise, float64)."""
    a = np.asarray(a, np.float64)
    ref = np.asarray(ref, np.float64)
    ulp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.abs(a - ref) / ulp
    same = (a == ref) | (np.isnan(a) & np.isnan(ref))
    return np.where(same, 0.0, err)


def check_ulps(fn, x, ulps=2.0, grad_ulps=4.0, grad_from_output=False):
    """dlbasic's float32 ``fn(x)`` and d(sum fn)/dx within ``ulps`` of a float64 reference,
    or within PyTorch's own float32 error there (+2 %) plus ``ulps``; returns the errors.

    ``grad_from_output``: the gradient is a function of the float32 output y (tanh: 1 - y^2,
    as torch forms it), so the output's error (itself checked) also reaches it, times
    |dgrad/dy| = |2y|."""
    x = np.asarray(x, np.float32)
    t64 = torch.tensor(x.astype(np.float64), requires_grad=True)
    out64 = fn(t64)
    out64.sum().backward()
    ref, ref_grad = out64.detach().numpy(), t64.grad.numpy()
    t32 = torch.tensor(x, requires_grad=True)
    t_out = fn(t32)
    t_out.sum().backward()
    d32 = dlbasic.tensor(x, requires_grad=True)
    d_out = rebind(fn)(d32)
    d_out.sum().backward()
    assert d_out.dtype.name == "float32" and tuple(d_out.shape) == x.shape
    errors = {}
    for what, d, t, r, tol in [("value", d_out.detach().numpy(), t_out.detach().numpy(), ref,
                                ulps),
                               ("gradient", d32.grad.numpy(), t32.grad.numpy(), ref_grad,
                                grad_ulps)]:
        d_err, t_err = ulp_error(d, r), ulp_error(t, r)
        if what == "gradient" and grad_from_output:
            # the output's own error (checked above), carried into the gradient by |2y|
            y_err = np.abs(d_out.detach().numpy().astype(np.float64) - ref)
            tol = tol + np.abs(2 * ref) * y_err / np.spacing(
                np.abs(r).astype(np.float32)).astype(np.float64)
        # where both are far off (a gradient formed from the rounded output, e.g. tanh's
        # 1 - y^2 near |y| = 1), the two libraries' output roundings differ by a few percent
        bad = d_err > np.maximum(tol, 1.02 * t_err + tol)
        assert not bad.any(), (
            f"{what}: dlbasic {d[bad][:4]} vs float64 reference {r[bad][:4]} at x = {x[bad][:4]}"
            f" ({d_err[bad][:4]} ulps; torch float32 {t_err[bad][:4]} ulps)")
        errors[what] = (float(d_err.max()), float(t_err.max()))
    return errors


def check_raises(fn, shapes=None, inputs=None, dtype="float32"):
    """Both libraries raise, and with the same exception type."""
    arrays = inputs if inputs is not None else make_inputs(shapes, dtype)
    t_in = [torch.tensor(a) if isinstance(a, np.ndarray) else a for a in arrays]
    d_in = [dlbasic.tensor(a) if isinstance(a, np.ndarray) else a for a in arrays]
    with pytest.raises(Exception) as t_exc:
        fn(*t_in)
    with pytest.raises(Exception) as d_exc:
        rebind(fn)(*d_in)
    t_type = t_exc.type
    # torch raises subclasses of the builtin types (torch.AcceleratorError etc.); compare
    # against the builtin the torch type derives from
    base = next(c for c in t_type.__mro__ if c.__module__ == "builtins")
    assert issubclass(d_exc.type, base), \
        f"dlbasic raised {d_exc.type.__name__}({d_exc.value}), torch raised " \
        f"{t_type.__name__}({t_exc.value})"
    return t_exc.value, d_exc.value


def assert_same_error(t_call, d_call, same_message=True):
    """``t_call`` (torch) and ``d_call`` (dlbasic) both raise, the same builtin exception type
    and, unless told otherwise, the same message (``torch.`` read as ``dlbasic.``)."""
    with pytest.raises(Exception) as t_exc:
        t_call()
    with pytest.raises(Exception) as d_exc:
        d_call()
    base = next(c for c in t_exc.type.__mro__ if c.__module__ == "builtins")
    assert issubclass(d_exc.type, base), f"dlbasic {d_exc.type}: {d_exc.value}; torch " \
                                         f"{t_exc.type}: {t_exc.value}"
    if same_message:
        assert str(d_exc.value) == str(t_exc.value).replace("torch.", "dlbasic.")
    return t_exc.value, d_exc.value


def to_torch_state(module):
    """A dlbasic module's state_dict as torch tensors."""
    return {k: torch.tensor(v.numpy()) for k, v in module.state_dict().items()}


def to_dlbasic_state(torch_module):
    """A torch module's state_dict converted to NumPy arrays -> dlbasic tensors."""
    return {k: dlbasic.tensor(v.detach().numpy()) for k, v in torch_module.state_dict().items()}
