"""The functional updates (``_sgd``, ``_adam``, ``_rmsprop``, ``_adagrad``) over lists of arrays
give exactly what the optimizer classes' ``step`` gives, and create SGD's buffer on step 1."""
import numpy as np
import pytest

import dlbasic
from dlbasic import optim
from dlbasic.optim.adagrad import _adagrad
from dlbasic.optim.adam import _adam
from dlbasic.optim.rmsprop import _rmsprop
from dlbasic.optim.sgd import _sgd

STEPS = 3


def _params_and_grads():
    rng = np.random.default_rng(0)
    shapes = [(4, 3), (3,), (2, 2, 2)]
    params = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(STEPS)]
    return params, grads


def _class_result(make_opt):
    params, grads = _params_and_grads()
    tensors = [dlbasic.tensor(p, requires_grad=True) for p in params]
    opt = make_opt(tensors)
    for step_grads in grads:
        for t, g in zip(tensors, step_grads):
            t.grad = dlbasic.tensor(g)
        opt.step()
    return [t._data for t in tensors]


@pytest.mark.parametrize("nesterov,dampening,weight_decay,maximize",
                         [(False, 0.0, 0.0, False), (True, 0.0, 0.1, False),
                          (False, 0.3, 0.0, True)])
def test_sgd_functional_equals_sgd_step(nesterov, dampening, weight_decay, maximize):
    options = dict(lr=0.1, momentum=0.9, dampening=dampening, weight_decay=weight_decay,
                   nesterov=nesterov, maximize=maximize)
    params, grads = _params_and_grads()
    bufs = [None] * len(params)
    for step_grads in grads:
        _sgd(params, step_grads, bufs, **options)
    assert all(isinstance(b, np.ndarray) for b in bufs)      # made on step 1, in the list
    expected = _class_result(lambda ts: optim.SGD(ts, **options))
    for a, b in zip(params, expected):
        np.testing.assert_array_equal(a, b)


def test_sgd_functional_without_momentum_keeps_no_buffers():
    params, grads = _params_and_grads()
    bufs = [None] * len(params)
    _sgd(params, grads[0], bufs, lr=0.1, weight_decay=0.0, momentum=0.0, dampening=0.0,
         nesterov=False, maximize=False)
    assert bufs == [None] * len(params)


@pytest.mark.parametrize("amsgrad,decoupled", [(False, False), (True, False), (True, True)])
def test_adam_functional_equals_adam_step(amsgrad, decoupled):
    params, grads = _params_and_grads()
    zeros = lambda: [np.zeros_like(p) for p in params]
    m, v, vmax = zeros(), zeros(), zeros() if amsgrad else []
    steps = [np.array(0.0, dtype=np.float32) for _ in params]
    for step_grads in grads:
        _adam(params, step_grads, m, v, vmax, steps, amsgrad=amsgrad, beta1=0.8, beta2=0.99,
              lr=0.01, weight_decay=0.1, eps=1e-8, maximize=False,
              decoupled_weight_decay=decoupled)
    assert [float(s) for s in steps] == [STEPS] * len(params)
    cls = optim.AdamW if decoupled else optim.Adam
    expected = _class_result(lambda ts: cls(ts, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1,
                                            amsgrad=amsgrad))
    for a, b in zip(params, expected):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("momentum,centered", [(0.0, False), (0.5, True)])
def test_rmsprop_functional_equals_rmsprop_step(momentum, centered):
    params, grads = _params_and_grads()
    zeros = lambda: [np.zeros_like(p) for p in params]
    sq, gavg = zeros(), zeros() if centered else []
    bufs = zeros() if momentum > 0 else []
    steps = [np.array(0.0, dtype=np.float32) for _ in params]
    for step_grads in grads:
        _rmsprop(params, step_grads, sq, gavg, bufs, steps, lr=0.01, alpha=0.9, eps=1e-8,
                 weight_decay=0.1, momentum=momentum, centered=centered, maximize=False)
    expected = _class_result(lambda ts: optim.RMSprop(ts, lr=0.01, alpha=0.9, weight_decay=0.1,
                                                      momentum=momentum, centered=centered))
    for a, b in zip(params, expected):
        np.testing.assert_array_equal(a, b)


def test_adagrad_functional_equals_adagrad_step():
    params, grads = _params_and_grads()
    sums = [np.full_like(p, 0.1) for p in params]
    steps = [np.array(0.0, dtype=np.float32) for _ in params]
    for step_grads in grads:
        _adagrad(params, step_grads, sums, steps, lr=0.1, weight_decay=0.1, lr_decay=0.01,
                 eps=1e-10, maximize=True)
    expected = _class_result(lambda ts: optim.Adagrad(ts, lr=0.1, lr_decay=0.01,
                                                      weight_decay=0.1,
                                                      initial_accumulator_value=0.1,
                                                      maximize=True))
    for a, b in zip(params, expected):
        np.testing.assert_array_equal(a, b)


def test_step_skips_params_without_grad_and_bumps_updated_versions():
    a = dlbasic.ones(3, requires_grad=True)
    b = dlbasic.ones(3, requires_grad=True)
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    a.grad = dlbasic.ones(3)
    va, vb = a._version, b._version
    opt.step()
    assert a._version == va + 1 and b._version == vb
    assert b not in opt.state and "momentum_buffer" in opt.state[a]
    np.testing.assert_array_equal(b._data, np.ones(3, dtype=np.float32))
