"""Hypothesis: over broadcastable shape pairs (contiguous or not), + - * / maximum where give
torch's values and gradients, and never mutate their inputs."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

torch = pytest.importorskip("torch")

import dlbasic                                     # noqa: E402
from tests.parity.harness import rebind            # noqa: E402

OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "maximum": lambda a, b: torch.maximum(a, b),
    "where": lambda a, b: torch.where(a > b, a, b),
}

shape_pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4,
                                                 min_side=1, max_side=4)


def _values(shape, seed, op):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(np.float32)
    if op == "div":
        a = np.where(np.abs(a) < 0.2, 0.2, a).astype(np.float32)   # away from a zero divisor
    # quantise so maximum / where see real ties sometimes
    return np.round(a * 2) / 2 if op in ("maximum", "where") else a


def _views(arr, how):
    """A non-contiguous array with the same values as ``arr`` (or arr itself)."""
    if how == "contiguous" or arr.ndim == 0:
        return arr, None
    if how == "transposed":
        base = np.ascontiguousarray(np.swapaxes(arr, 0, -1))
        return base, lambda t: t.transpose(0, -1)
    base = np.repeat(arr, 2, axis=-1)                  # every other element is arr
    return base, lambda t: t[..., ::2]


@settings(max_examples=40, deadline=None)
@given(shapes=shape_pairs, op=st.sampled_from(sorted(OPS)), seed=st.integers(0, 2 ** 16),
       layout=st.sampled_from(["contiguous", "transposed", "strided"]))
def test_broadcast_values_and_grads_equal_torch_and_inputs_unchanged(shapes, op, seed, layout):
    sa, sb = shapes.input_shapes
    fn = OPS[op]
    a, b = _values(sa, seed, op), _values(sb, seed + 1, op)
    base_a, view_a = _views(a, layout)
    base_b, view_b = _views(b, layout)

    def run(lib, f):
        ta = lib.tensor(base_a, requires_grad=True)
        tb = lib.tensor(base_b, requires_grad=True)
        va = ta if view_a is None else view_a(ta)
        vb = tb if view_b is None else view_b(tb)
        before = (va.detach().numpy().copy(), vb.detach().numpy().copy())
        out = f(va, vb)
        out.sum().backward()
        after = (va.detach().numpy(), vb.detach().numpy())
        return out, ta.grad, tb.grad, before, after

    t_out, t_ga, t_gb, _, _ = run(torch, fn)
    d_out, d_ga, d_gb, before, after = run(dlbasic, rebind(fn))
    assert tuple(d_out.shape) == tuple(t_out.shape) == tuple(np.broadcast_shapes(sa, sb))
    assert d_out.dtype.name == str(t_out.dtype)[6:]
    np.testing.assert_allclose(d_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-6,
                               atol=1e-6)
    np.testing.assert_allclose(d_ga.numpy(), t_ga.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(d_gb.numpy(), t_gb.numpy(), rtol=1e-5, atol=1e-5)
    assert d_ga.shape == tuple(base_a.shape) and d_gb.shape == tuple(base_b.shape)
    # MyGrad-style: the op and its backward never write into their inputs
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum"])
@settings(max_examples=12, deadline=None)
@given(shapes=shape_pairs, scalar=st.sampled_from([2, -1.5, 0.5, True]))
def test_tensor_scalar_ops_on_both_sides(shapes, op, scalar):
    sa, _ = shapes.input_shapes
    a = _values(sa, 3, "div")
    fn = OPS[op]
    if op == "maximum":       # torch.maximum takes tensors only: the scalar form is clamp
        def fn(x, y):
            return y.clamp(min=x) if isinstance(x, (bool, int, float)) else x.clamp(min=y)
    if op == "sub" and scalar is True:       # torch refuses bool in subtraction
        for lib in (torch, dlbasic):
            with pytest.raises(RuntimeError, match="Subtraction"):
                lib.tensor(a) - scalar
            with pytest.raises(RuntimeError, match="Subtraction"):
                scalar - lib.tensor(a)
        return
    for g in (lambda x: fn(x, scalar), lambda x: fn(scalar, x)):
        tx = torch.tensor(a, requires_grad=True)
        dx = dlbasic.tensor(a, requires_grad=True)
        t_out, d_out = g(tx), rebind(g)(dx)
        assert d_out.dtype.name == str(t_out.dtype)[6:]
        np.testing.assert_allclose(d_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-6,
                                   atol=1e-6)
        t_out.sum().backward()
        d_out.sum().backward()
        np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3,
                                                min_side=2, max_side=4),
       seed=st.integers(0, 1000))
def test_non_broadcastable_pairs_raise_runtimeerror(shapes, seed):
    sa, sb = shapes.input_shapes
    bad = list(sb)
    bad[-1] = sa[-1] + 1 if sa[-1] > 1 else 3      # breaks the last axis
    bad = tuple(bad)
    try:
        np.broadcast_shapes(sa, bad)
        return
    except ValueError:
        pass
    for lib in (torch, dlbasic):
        with pytest.raises(RuntimeError):
            lib.ones(sa) + lib.ones(bad)
