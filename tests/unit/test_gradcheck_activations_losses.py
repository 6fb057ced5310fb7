"""float64 gradient checks (central differences vs autograd) of every fused activation and loss
kernel in dlbasic/ops/activation.py and dlbasic/ops/loss.py, plus fused-vs-composed oracles.
No torch here."""
import numpy as np
import pytest

import dlbasic
import dlbasic.nn.functional as F
from dlbasic.autograd import gradcheck

# away from every kink (0, +-1, +-3, 6, hardtanh bounds) by more than eps
POINTS = np.array([-4.2, -2.7, -1.3, -0.4, 0.35, 0.9, 1.2, 2.6, 4.1, 6.5, -0.05, 0.07])


def _x(values=POINTS, shape=None):
    a = np.array(values, dtype=np.float64)
    if shape is not None:
        a = a.reshape(shape)
    return dlbasic.tensor(a, requires_grad=True)


def _randn(*shape, seed=0, scale=1.0):
    a = np.random.default_rng(seed).standard_normal(shape) * scale
    return dlbasic.tensor(a, requires_grad=True)


@pytest.mark.parametrize("fn", [
    lambda x: F.leaky_relu(x), lambda x: F.leaky_relu(x, 0.3),
    lambda x: F.elu(x), lambda x: F.elu(x, 0.4), lambda x: F.selu(x), lambda x: F.celu(x, 0.6),
    lambda x: F.softplus(x), lambda x: F.softplus(x, 2.0, 5.0), lambda x: F.logsigmoid(x),
    lambda x: F.gelu(x), lambda x: F.gelu(x, approximate="tanh"), lambda x: F.silu(x),
    lambda x: F.mish(x), lambda x: F.hardtanh(x), lambda x: F.hardtanh(x, -2.0, 3.0),
    lambda x: F.relu6(x), lambda x: F.hardsigmoid(x), lambda x: F.hardswish(x),
    lambda x: F.threshold(x, 0.5, -2.0), lambda x: F.rrelu(x, 0.1, 0.3),
    lambda x: F.relu(x), lambda x: F.sigmoid(x), lambda x: F.tanh(x),
], ids=["leaky_relu", "leaky_relu_0.3", "elu", "elu_0.4", "selu", "celu", "softplus",
        "softplus_b2_t5", "logsigmoid", "gelu", "gelu_tanh", "silu", "mish", "hardtanh",
        "hardtanh_-2_3", "relu6", "hardsigmoid", "hardswish", "threshold", "rrelu_eval", "relu",
        "sigmoid", "tanh"])
def test_activation_gradcheck(fn):
    assert gradcheck(fn, (_x(),))


@pytest.mark.parametrize("fn", [
    lambda x: F.softmax(x, 0), lambda x: F.softmax(x, 1), lambda x: F.softmax(x, -1),
    lambda x: F.log_softmax(x, 0), lambda x: F.log_softmax(x, 2), lambda x: F.softmin(x, 1)])
def test_softmax_family_gradcheck(fn):
    assert gradcheck(fn, (_randn(2, 3, 4),))


def test_rrelu_training_gradcheck_with_fixed_noise():
    def fn(x):
        dlbasic.manual_seed(5)              # the same sampled slopes on every evaluation
        return F.rrelu(x, 0.1, 0.4, training=True)
    assert gradcheck(fn, (_x(),))


@pytest.mark.parametrize("w_shape,x_shape", [((1,), (3, 4)), ((3,), (2, 3, 2, 2)), ((4,), (5, 4)),
                                             ((1,), (6,))])
def test_prelu_gradcheck_input_and_weight(w_shape, x_shape):
    w = dlbasic.tensor(np.random.default_rng(1).uniform(0.1, 0.5, w_shape), requires_grad=True)
    x = _randn(*x_shape, seed=2)
    assert gradcheck(lambda x, w: F.prelu(x, w), (x, w))


def test_gelu_float64_matches_exact_formula():
    from math import erfc, sqrt
    x = POINTS
    # Phi(x) = erfc(-x/sqrt 2)/2 (1 + erf(x/sqrt 2) loses digits for x < 0, even in float64)
    expected = [v * 0.5 * erfc(-v / sqrt(2)) for v in x]
    np.testing.assert_allclose(F.gelu(dlbasic.tensor(x)).numpy(), expected, rtol=1e-14)
    # float32 goes through a float64 Chebyshev erfc: within float32 resolution
    got32 = F.gelu(dlbasic.tensor(x.astype(np.float32))).numpy()
    np.testing.assert_allclose(got32, expected, rtol=2e-6, atol=2e-7)


def test_log_softmax_equals_log_of_softmax():
    x = _randn(4, 7, seed=3, scale=5)
    np.testing.assert_allclose(F.log_softmax(x, 1).detach().numpy(),
                               np.log(F.softmax(x, 1).detach().numpy()), rtol=1e-12, atol=1e-12)


# -- losses --------------------------------------------------------------------------------------

REDUCTIONS = ["none", "mean", "sum"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("fn", [
    lambda x, y, r: F.smooth_l1_loss(x, y, reduction=r),
    lambda x, y, r: F.smooth_l1_loss(x, y, reduction=r, beta=0.4),
    lambda x, y, r: F.huber_loss(x, y, reduction=r, delta=0.7),
    lambda x, y, r: F.mse_loss(x, y, reduction=r),
    lambda x, y, r: F.l1_loss(x, y, reduction=r),
], ids=["smooth_l1", "smooth_l1_b0.4", "huber", "mse", "l1"])
def test_regression_loss_gradcheck_input_and_target(fn, reduction):
    x, y = _randn(3, 4, seed=4, scale=1.5), _randn(3, 4, seed=5)
    assert gradcheck(lambda x, y: fn(x, y, reduction), (x, y))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_gradcheck_input_and_target(reduction):
    rng = np.random.default_rng(6)
    x = dlbasic.tensor(rng.uniform(0.05, 0.95, (3, 4)), requires_grad=True)
    y = dlbasic.tensor(rng.uniform(0, 1, (3, 4)), requires_grad=True)
    w = dlbasic.tensor(rng.uniform(0.5, 2, (4,)))
    assert gradcheck(lambda x, y: F.binary_cross_entropy(x, y, w, reduction=reduction), (x, y))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [False, True])
def test_bce_with_logits_gradcheck_input_and_target(reduction, pos_weight):
    rng = np.random.default_rng(7)
    x = _randn(3, 4, seed=8, scale=3)
    y = dlbasic.tensor(rng.uniform(0, 1, (3, 4)), requires_grad=True)
    w = dlbasic.tensor(rng.uniform(0.5, 2, (3, 4)))
    pw = dlbasic.tensor(rng.uniform(0.5, 3, (4,))) if pos_weight else None
    assert gradcheck(lambda x, y: F.binary_cross_entropy_with_logits(
        x, y, w, reduction=reduction, pos_weight=pw), (x, y))


def _labels(shape, c, seed, ignore=None):
    t = np.random.default_rng(seed).integers(0, c, shape)
    if ignore is not None:
        t.reshape(-1)[::3] = ignore
    return dlbasic.tensor(t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opts", [
    {}, {"weight": True}, {"ignore_index": 1}, {"label_smoothing": 0.25},
    {"weight": True, "ignore_index": 2, "label_smoothing": 0.4}],
    ids=["plain", "weight", "ignore", "smoothing", "all"])
@pytest.mark.parametrize("shape", [(5, 4), (2, 4, 3)], ids=["NC", "NCd1"])
def test_cross_entropy_gradcheck(shape, opts, reduction):
    c = shape[1]
    t = _labels((shape[0],) + shape[2:], c, seed=9, ignore=opts.get("ignore_index"))
    kw = {k: v for k, v in opts.items() if k != "weight"}
    if opts.get("weight"):
        kw["weight"] = dlbasic.tensor(np.random.default_rng(10).uniform(0.3, 2, c))
    x = _randn(*shape, seed=11, scale=2)
    assert gradcheck(lambda x: F.cross_entropy(x, t, reduction=reduction, **kw), (x,))
    if "label_smoothing" not in kw:
        assert gradcheck(lambda x: F.nll_loss(x, t, reduction=reduction, **kw), (x,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probability_targets_gradcheck(reduction):
    rng = np.random.default_rng(12)
    p = rng.uniform(0, 1, (3, 4))
    p = dlbasic.tensor(p / p.sum(1, keepdims=True), requires_grad=True)
    w = dlbasic.tensor(rng.uniform(0.5, 2, 4))
    x = _randn(3, 4, seed=13)
    assert gradcheck(lambda x, p: F.cross_entropy(x, p, w, reduction=reduction,
                                                  label_smoothing=0.1), (x, p))


def test_fused_cross_entropy_equals_composed_formula():
    """The composed version (log_softmax, gather, weights, smoothing) is the oracle."""
    rng = np.random.default_rng(14)
    x = rng.standard_normal((6, 5))
    t = rng.integers(0, 5, 6)
    t[0] = -100
    w = rng.uniform(0.5, 2, 5)
    eps = 0.3
    logp = x - x.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    valid = t != -100
    tt = np.where(valid, t, 0)
    nll = -w[tt] * logp[np.arange(6), tt] * valid
    smooth = -(logp * w).sum(1) * valid
    expected = ((1 - eps) * nll.sum() + eps / 5 * smooth.sum()) / (w[tt] * valid).sum()
    got = F.cross_entropy(dlbasic.tensor(x), dlbasic.tensor(t), dlbasic.tensor(w),
                          label_smoothing=eps)
    np.testing.assert_allclose(got.item(), expected, rtol=1e-12)


def test_nll_mean_divides_by_summed_target_weights():
    x = dlbasic.tensor([[-1.0, -2.0], [-3.0, -4.0], [-5.0, -6.0]])
    t = dlbasic.tensor([0, 1, 1])
    w = dlbasic.tensor([2.0, 0.5])
    got = F.nll_loss(x, t, w).item()
    assert got == pytest.approx((2 * 1 + 0.5 * 4 + 0.5 * 6) / (2 + 0.5 + 0.5))


def test_losses_are_finite_for_huge_logits_with_finite_gradients():
    x = dlbasic.tensor([[1000.0, -1000.0], [-1000.0, 1000.0]], requires_grad=True)
    y = dlbasic.tensor([[1.0, 0.0], [1.0, 0.0]])
    t = dlbasic.tensor([1, 0])
    loss = F.cross_entropy(x, t) + F.binary_cross_entropy_with_logits(x, y) + \
        F.cross_entropy(x, y, label_smoothing=0.1)
    loss.backward()
    assert np.isfinite(loss.item()) and loss.item() > 1000
    assert np.isfinite(x.grad.numpy()).all()


def test_huber_equals_delta_times_smooth_l1():
    x, y = _randn(20, seed=15, scale=3), _randn(20, seed=16)
    for d in [0.3, 1.0, 2.0]:
        np.testing.assert_allclose(F.huber_loss(x, y, delta=d).item(),
                                   d * F.smooth_l1_loss(x, y, beta=d).item(), rtol=1e-12)
