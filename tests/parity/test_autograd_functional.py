"""autograd.functional's first-order tools against torch: jacobian (every nesting of
inputs and outputs), vjp, jvp; forward mode refuses clearly.  The second-order ones are
checked in test_higher_order.py."""
import numpy as np
import pytest

from tests.parity.harness import torch

import dlbasic
from dlbasic.autograd import functional as DF

TF = torch.autograd.functional


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def f_single(x):
    return (x.sin() * x).sum(0)


def f_two_in(x, y):
    return x @ y + y.sum()


def f_two_out(x):
    return x.exp(), (x * x).sum()


def f_two_in_two_out(x, y):
    return x * y.sum(), (x.tanh() @ y)


CASES = [
    (f_single, [randn(3, 2)], False),
    (f_two_in, [randn(2, 3), randn(3, 2, seed=1)], True),
    (f_two_out, [randn(4)], False),
    (f_two_in_two_out, [randn(2, 3), randn(3, 2, seed=1)], True),
]


def _flat(x):
    if isinstance(x, (tuple, list)):
        return [v for item in x for v in _flat(item)]
    return [x]


def _structure(x):
    if isinstance(x, (tuple, list)):
        return tuple(_structure(v) for v in x)
    return tuple(x.shape)


def _args(lib, arrays, as_tuple):
    ts = tuple(lib.tensor(a) for a in arrays)
    return ts if as_tuple or len(ts) > 1 else ts[0]


@pytest.mark.parametrize("func, arrays, _", CASES)
def test_jacobian_matches_torch(func, arrays, _):
    t = TF.jacobian(func, _args(torch, arrays, False))
    d = DF.jacobian(func, _args(dlbasic, arrays, False))
    assert _structure(d) == _structure(t)
    for a, b in zip(_flat(d), _flat(t)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-12)


def test_jacobian_with_a_tuple_of_one_input_nests_like_torch():
    x = randn(3)
    t = TF.jacobian(lambda x: x * 2, (torch.tensor(x),))
    d = DF.jacobian(lambda x: x * 2, (dlbasic.tensor(x),))
    assert isinstance(d, tuple) and _structure(d) == _structure(t)


@pytest.mark.parametrize("func, arrays, _", CASES)
def test_vjp_matches_torch(func, arrays, _):
    t_in, d_in = _args(torch, arrays, False), _args(dlbasic, arrays, False)
    t_out = func(*(t_in if isinstance(t_in, tuple) else (t_in,)))
    v_arrays = [randn(*o.shape, seed=9 + i) for i, o in enumerate(_flat(t_out))]
    tv = tuple(torch.tensor(a) for a in v_arrays)
    dv = tuple(dlbasic.tensor(a) for a in v_arrays)
    if not isinstance(t_out, tuple):
        tv, dv = tv[0], dv[0]
    (to, tg), (do, dg) = TF.vjp(func, t_in, tv), DF.vjp(func, d_in, dv)
    for a, b in zip(_flat(do) + _flat(dg), _flat(to) + _flat(tg)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-12)
        assert not a.requires_grad


@pytest.mark.parametrize("func, arrays, _", CASES)
def test_jvp_matches_torch(func, arrays, _):
    t_in, d_in = _args(torch, arrays, False), _args(dlbasic, arrays, False)
    v_arrays = [randn(*a.shape, seed=20 + i) for i, a in enumerate(arrays)]
    tv = tuple(torch.tensor(a) for a in v_arrays)
    dv = tuple(dlbasic.tensor(a) for a in v_arrays)
    if len(arrays) == 1:
        tv, dv = tv[0], dv[0]
    (to, tj), (do, dj) = TF.jvp(func, t_in, tv), DF.jvp(func, d_in, dv)
    assert _structure(dj) == _structure(tj)
    for a, b in zip(_flat(do) + _flat(dj), _flat(to) + _flat(tj)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-12)


def test_vjp_without_v_needs_a_scalar_output_like_torch():
    x = randn(3)
    _, g = DF.vjp(lambda x: (x * x).sum(), dlbasic.tensor(x))
    np.testing.assert_allclose(g.numpy(), 2 * x)
    for lib, mod in ((torch, TF), (dlbasic, DF)):
        with pytest.raises(RuntimeError, match="v can only be None"):
            mod.vjp(lambda x: x * 2, lib.tensor(x))


def test_an_unused_input_gives_zeros_or_raises_in_strict_mode_like_torch():
    x, y = randn(2), randn(2, seed=1)
    for lib, mod in ((torch, TF), (dlbasic, DF)):
        jac = mod.jacobian(lambda a, b: a * 2, (lib.tensor(x), lib.tensor(y)))
        assert not np.any(jac[1].numpy())
        with pytest.raises(RuntimeError, match="independent of input 1"):
            mod.jacobian(lambda a, b: a * 2, (lib.tensor(x), lib.tensor(y)), strict=True)


def test_the_inputs_are_not_changed_and_get_no_grad():
    x = dlbasic.tensor(randn(3), requires_grad=True)
    DF.jacobian(lambda t: t * t, x)
    assert x.grad is None


def test_forward_mode_refuses_clearly():
    # (hessian, hvp, vhp and create_graph=True: tests/parity/test_higher_order.py)
    x = dlbasic.tensor(randn(3))
    with pytest.raises(NotImplementedError, match="forward-mode"):
        DF.hessian(lambda t: (t * t).sum(), x, outer_jacobian_strategy="forward-mode")
    with pytest.raises(NotImplementedError, match="forward-mode"):
        DF.jacobian(lambda t: t * 2, x, vectorize=True, strategy="forward-mode")
