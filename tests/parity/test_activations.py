"""Every activation of the notes (and relatives), as functions and modules, against torch:
forward, input gradient, exact values at kinks, stability at |x| = 1000, torch's repr,
PReLU's weight gradient, RReLU's statistics, and the exception types for bad input."""

import math

import numpy as np
import pytest

from tests.parity.harness import check, check_raises, check_ulps, torch

import dlbasic
import dlbasic.nn as dnn
import dlbasic.nn.functional as dF

F = torch.nn.functional
nn = torch.nn

FUNCTIONS = {
    "sigmoid": lambda x: F.sigmoid(x),
    "tanh": lambda x: F.tanh(x),
    "relu": lambda x: F.relu(x),
    "relu6": lambda x: F.relu6(x * 4),
    "leaky_relu": lambda x: F.leaky_relu(x),
    "leaky_relu_0.1": lambda x: F.leaky_relu(x, 0.1),
    "rrelu_eval": lambda x: F.rrelu(x),
    "rrelu_eval_bounds": lambda x: F.rrelu(x, 0.2, 0.6, False),
    "elu": lambda x: F.elu(x),
    "elu_0.5": lambda x: F.elu(x, 0.5),
    "selu": lambda x: F.selu(x),
    "celu_0.7": lambda x: F.celu(x, 0.7),
    "logsigmoid": lambda x: F.logsigmoid(x),
    "softplus": lambda x: F.softplus(x),
    "softplus_beta2_thr1": lambda x: F.softplus(x, 2.0, 1.0),
    "gelu": lambda x: F.gelu(x),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": lambda x: F.silu(x),
    "mish": lambda x: F.mish(x),
    "hardtanh": lambda x: F.hardtanh(x),
    "hardtanh_-0.5_2": lambda x: F.hardtanh(x, -0.5, 2.0),
    "hardsigmoid": lambda x: F.hardsigmoid(x * 4),
    "hardswish": lambda x: F.hardswish(x * 4),
    "threshold": lambda x: F.threshold(x, 0.1, 20.0),
    "softmax_dim1": lambda x: F.softmax(x, dim=1),
    "softmax_dim0": lambda x: F.softmax(x, 0),
    "softmax_dim-1": lambda x: F.softmax(x, -1),
    "log_softmax_dim1": lambda x: F.log_softmax(x, dim=1),
    "log_softmax_dim-1": lambda x: F.log_softmax(x, dim=-1),
    "softmin_dim1": lambda x: F.softmin(x, dim=1),
    "softmax_dtype": lambda x: F.softmax(x, 1, dtype=torch.float64),
    "tensor_softmax": lambda x: x.softmax(1),
    "tensor_log_softmax": lambda x: x.log_softmax(-1),
}


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_function_matches_torch(name, dtype):
    check(FUNCTIONS[name], shapes=[(4, 5, 3)], dtype=dtype)


# Weighted sums make each gradient entry distinct (out.sum() alone hides softmax's gradient,
# which is zero for a plain sum).
@pytest.mark.parametrize("fn", [
    lambda x, w: F.softmax(x, dim=1) * w, lambda x, w: F.softmax(x, 0) * w,
    lambda x, w: F.log_softmax(x, dim=1) * w, lambda x, w: F.log_softmax(x, 2) * w,
    lambda x, w: F.softmin(x, dim=1) * w, lambda x, w: F.softmax(x, 1, dtype=torch.float64) * w,
    lambda x, w: x.softmax(-1) * w, lambda x, w: x.log_softmax(0) * w])
def test_softmax_family_weighted_gradient(fn):
    check(fn, shapes=[(4, 5, 3), (4, 5, 3)], requires_grad=[True, False])


def test_softmax_implicit_dim_warns_and_matches_torch():
    for shape in [(5,), (3, 4), (2, 3, 4), (2, 3, 4, 5)]:
        with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
            t_out, d_out = check(lambda x: F.softmax(x), shapes=[shape], grad=False)
    with pytest.warns(UserWarning, match="log_softmax"):
        check(lambda x: F.log_softmax(x), shapes=[(3, 4)])


# (rrelu_train is random; the dim=1 softmaxes have no dim 1 on a 0-d tensor, in torch too)
@pytest.mark.parametrize("name", sorted(set(FUNCTIONS) - {
    "rrelu_train", "softmax_dim1", "log_softmax_dim1", "softmin_dim1", "softmax_dtype",
    "tensor_softmax"}))
def test_every_activation_of_a_0d_tensor_matches_torch(name):
    for v in (-2.5, 0.7):
        check(FUNCTIONS[name], inputs=[np.array(v, np.float32)])


def test_softmax_of_a_scalar():
    check(lambda x: F.softmax(x, 0) * 3, inputs=[np.array(2.5, np.float32)])
    check(lambda x: F.log_softmax(x, -1), inputs=[np.array(-1.5, np.float32)])


# -- kinks: exact values and the one-sided gradient torch picks --------------------------------

KINKS = np.array([-6.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0, 10.0, 20.0, 20.5],
                 np.float32)


@pytest.mark.parametrize("name", [
    "relu", "leaky_relu", "leaky_relu_0.1", "rrelu_eval", "hardtanh", "hardtanh_-0.5_2",
    "threshold"])
def test_kink_values_and_gradients_exact(name):
    check(FUNCTIONS[name], inputs=[KINKS.copy()], atol=1e-7, rtol=1e-6, grad_atol=1e-7,
          grad_rtol=1e-6)


# the transcendental ones: within a few float32 ulps of a float64 reference (PyTorch's float32
# bits depend on the CPU's SIMD kernel; its vectorized gelu is 130 ulps off at x = -3)
TAILS = np.concatenate([KINKS, np.linspace(-12, 12, 481, dtype=np.float32)])


@pytest.mark.parametrize("name", [
    "elu", "elu_0.5", "selu", "celu_0.7", "softplus", "softplus_beta2_thr1", "gelu",
    "gelu_tanh", "silu", "mish", "sigmoid", "tanh", "logsigmoid"])
def test_transcendental_values_and_gradients_within_ulps_of_float64(name):
    x = TAILS
    if name.startswith("gelu"):
        # torch's float64 gelu forms 1 + erf (or 1 + tanh): below about -5.5 the reference
        # itself has lost its digits; the tail is checked against math.erfc below
        x = TAILS[TAILS >= -5.5]
    rounded_output = False
    if name == "tanh":
        # torch's float64 gradient 1 - y^2 is 0 beyond |x| = 18 and loses digits from |x| = 10;
        # both libraries form the float32 gradient from the rounded output, as torch does
        x = TAILS[np.abs(TAILS) <= 9]
        rounded_output = True
    check_ulps(FUNCTIONS[name], x, ulps=4, grad_ulps=4, grad_from_output=rounded_output)


def test_gelu_accurate_in_the_negative_tail():
    # gelu(x) = x Phi(x); at x = -5 Phi is 2.9e-7, so 1 + erf(x/sqrt 2) keeps no digits
    x = np.array([-10.0, -8.0, -6.0, -5.0, -4.0, -3.0], np.float32)
    got = dF.gelu(dlbasic.tensor(x)).numpy().astype(np.float64)
    exact = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x.astype(np.float64)])
    np.testing.assert_allclose(got, exact, rtol=2e-7, atol=0)


@pytest.mark.parametrize("fn", [
    lambda x: F.relu6(x), lambda x: F.hardsigmoid(x), lambda x: F.hardswish(x),
    lambda x: F.hardtanh(x, -3.0, 6.0), lambda x: F.elu(x, -0.5),
    lambda x: F.threshold(x, 3.0, -1.0)])
def test_kinks_of_piecewise_functions(fn):
    check(fn, inputs=[KINKS.copy()], atol=1e-7, rtol=1e-6, grad_atol=1e-7, grad_rtol=1e-6)


def test_kink_gradients_named_in_the_design():
    x = dlbasic.tensor([0.0, -1.0, 1.0], requires_grad=True)
    dF.relu(x).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]                 # relu'(0) = 0
    x.grad = None
    dF.leaky_relu(x, 0.1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.1, 0.1, 1.0])   # negative branch at 0
    y = dlbasic.tensor([-1.0, 1.0, 0.5], requires_grad=True)
    dF.hardtanh(y).sum().backward()
    assert y.grad.tolist() == [0.0, 0.0, 1.0]                 # open interval, unlike clamp


# -- stability ---------------------------------------------------------------------------------

BIG = np.array([-1000.0, -100.0, -30.0, -20.0, 0.0, 20.0, 30.0, 100.0, 1000.0], np.float32)


@pytest.mark.parametrize("name", [
    "sigmoid", "tanh", "logsigmoid", "softplus", "softplus_beta2_thr1", "elu", "selu",
    "celu_0.7", "gelu", "gelu_tanh", "silu", "mish", "leaky_relu", "hardswish"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_finite_and_equal_to_torch_at_1000(name, dtype):
    t_out, d_out = check(FUNCTIONS[name], inputs=[BIG.astype(dtype)])
    assert np.isfinite(d_out.detach().numpy()).all()


def test_softmax_log_softmax_stable_for_huge_logits():
    rows = np.array([[1000.0, 1000.0, -1000.0], [-1000.0, -999.0, -1000.0],
                     [0.0, 1000.0, 500.0]], np.float32)
    for fn in [lambda x, w: F.softmax(x, 1) * w, lambda x, w: F.log_softmax(x, 1) * w,
               lambda x, w: F.softmin(x, 1) * w]:
        w = np.arange(9, dtype=np.float32).reshape(3, 3)
        t_out, d_out = check(fn, inputs=[rows.copy(), w], requires_grad=[True, False])
        assert np.isfinite(d_out.detach().numpy()).all()


def test_logsigmoid_softplus_gradients_finite_at_1000():
    x = dlbasic.tensor(BIG, requires_grad=True)
    (dF.logsigmoid(x).sum() + dF.softplus(x).sum() + dF.sigmoid(x).sum()).backward()
    assert np.isfinite(x.grad.numpy()).all()


# -- dtypes and errors -------------------------------------------------------------------------

def test_output_dtypes_follow_input():
    for dt in [np.float32, np.float64]:
        x = np.linspace(-2, 2, 7).astype(dt)
        for name in ["sigmoid", "elu", "gelu", "softmax_dim-1", "logsigmoid", "hardtanh"]:
            check(FUNCTIONS[name], inputs=[x.copy()])


def test_integer_input_relu_and_hardtanh_match_torch():
    check(lambda x: F.relu(x), inputs=[np.array([-2, 0, 3], np.int64)])
    check(lambda x: F.hardtanh(x, 0, 2), inputs=[np.array([-2, 0, 3], np.int64)])
    check(lambda x: F.sigmoid(x), inputs=[np.array([-2, 0, 3], np.int64)])


@pytest.mark.parametrize("fn", [
    lambda x: F.leaky_relu(x), lambda x: F.elu(x), lambda x: F.softplus(x),
    lambda x: F.gelu(x), lambda x: F.silu(x), lambda x: F.softmax(x, 0),
    lambda x: F.log_softmax(x, 0), lambda x: F.logsigmoid(x)])
def test_integer_input_raises_like_torch(fn):
    t_exc, d_exc = check_raises(fn, inputs=[np.array([1, -2, 3], np.int64)])
    assert str(t_exc).split(" not implemented")[1] == str(d_exc).split(" not implemented")[1]


@pytest.mark.parametrize("fn,shapes", [
    (lambda x: F.softmax(x, 2), [(3, 4)]),
    (lambda x: F.log_softmax(x, -3), [(3, 4)]),
    (lambda x, w: F.prelu(x, w), [(3, 5), (3,)]),
    (lambda x, w: F.prelu(x, w), [(3,), (3,)]),
    (lambda x, w: F.prelu(x, w), [(3, 3), (3, 1)]),
    (lambda x: F.rrelu(x, 0.5, 0.2, True), [(3,)]),
    (lambda x: F.gelu(x, approximate="fast"), [(3,)]),
    (lambda x: F.hardtanh(x, 2.0, 1.0), [(3,)]),
    (lambda x: F.celu(x, 0.0), [(3,)]),
])
def test_bad_arguments_raise_like_torch(fn, shapes):
    t_exc, d_exc = check_raises(fn, shapes=shapes)
    assert str(d_exc) == str(t_exc)


def test_dim_error_message_equal():
    t_exc, d_exc = check_raises(lambda x: F.softmax(x, 2), shapes=[(3, 4)])
    assert str(d_exc) == str(t_exc)


def test_inplace_on_leaf_that_requires_grad_raises():
    with pytest.raises(RuntimeError, match="leaf Variable"):
        dF.leaky_relu(dlbasic.randn(3, requires_grad=True), inplace=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        dF.relu(dlbasic.randn(3, requires_grad=True), inplace=True)


# -- in-place ----------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [
    lambda x: F.relu(x * 1, inplace=True), lambda x: F.leaky_relu(x * 1, 0.2, True),
    lambda x: F.elu(x * 1, 0.5, True), lambda x: F.hardtanh(x * 1, -0.5, 0.5, True),
    lambda x: F.relu6(x * 4, True), lambda x: F.selu(x * 1, True),
    lambda x: F.celu(x * 1, 2.0, True), lambda x: F.silu(x * 1, True),
    lambda x: F.mish(x * 1, True), lambda x: F.hardswish(x * 4, True),
    lambda x: F.hardsigmoid(x * 4, True), lambda x: F.rrelu(x * 1, 0.1, 0.3, False, True),
    lambda x: F.threshold(x * 1, 0.2, -1.0, True),
    lambda x: F.leaky_relu_(x * 1, 0.3), lambda x: F.elu_(x * 1), lambda x: F.relu_(x * 1),
    lambda x: F.hardtanh_(x * 1), lambda x: F.celu_(x * 1), lambda x: F.selu_(x * 1),
])
def test_inplace_variants_match_torch(fn):
    check(fn, shapes=[(4, 6)])


def test_inplace_returns_the_same_tensor_and_writes_it():
    x = dlbasic.tensor([-2.0, 0.5, 3.0])
    for fn in [lambda t: dF.relu(t, inplace=True), lambda t: dF.leaky_relu(t, 0.5, True),
               lambda t: dF.elu(t, inplace=True), lambda t: dF.hardtanh(t, inplace=True)]:
        t = x.clone()
        out = fn(t)
        assert out is t
        np.testing.assert_allclose(t.numpy(), fn(x.clone()).numpy())
    t = x.clone()
    v = t._version
    dlbasic.nn.ReLU(inplace=True)(t)
    assert t.tolist() == [0.0, 0.5, 3.0] and t._version > v


def test_not_inplace_leaves_input_untouched():
    x = dlbasic.tensor([-2.0, 0.5, 3.0])
    for fn in [dF.relu, dF.leaky_relu, dF.elu, dF.hardtanh, dF.silu]:
        fn(x)
    assert x.tolist() == [-2.0, 0.5, 3.0]


# -- modules -----------------------------------------------------------------------------------

MODULES = [
    lambda: nn.Sigmoid(), lambda: nn.Tanh(), lambda: nn.ReLU(), lambda: nn.ReLU6(),
    lambda: nn.LeakyReLU(), lambda: nn.LeakyReLU(0.1), lambda: nn.ELU(), lambda: nn.ELU(0.5),
    lambda: nn.SELU(), lambda: nn.CELU(0.8), lambda: nn.LogSigmoid(), lambda: nn.Softmax(dim=1),
    lambda: nn.LogSoftmax(dim=1), lambda: nn.Softmin(dim=-1), lambda: nn.Softplus(),
    lambda: nn.Softplus(beta=2.0, threshold=3.0), lambda: nn.GELU(),
    lambda: nn.GELU(approximate="tanh"), lambda: nn.SiLU(), lambda: nn.Mish(),
    lambda: nn.Hardtanh(), lambda: nn.Hardtanh(-2.0, 0.5), lambda: nn.Hardsigmoid(),
    lambda: nn.Hardswish(), lambda: nn.Threshold(0.1, 20.0), lambda: nn.RReLU(),
    lambda: nn.PReLU(),
]


def _pick(x, t_mod, d_mod):
    """The module of x's library (check() rebinds the name ``torch``, so test the type)."""
    return t_mod if type(x).__module__.startswith("torch") else d_mod


def _build(factory):
    t_mod = factory()
    import types
    g = dict(factory.__globals__)
    g["nn"] = dnn
    d_mod = types.FunctionType(factory.__code__, g)()
    return t_mod, d_mod


# RReLU's training mode draws random slopes: the statistics tests below cover it
_DETERMINISTIC = [(i, m) for i in range(len(MODULES)) for m in ("train", "eval")
                  if not (m == "train" and "RReLU" in MODULES[i].__code__.co_names)]


@pytest.mark.parametrize("i,mode", _DETERMINISTIC)
def test_module_matches_torch(i, mode):
    t_mod, d_mod = _build(MODULES[i])
    if mode == "eval":
        t_mod.eval()
        d_mod.eval()
    check(lambda x, w: _pick(x, t_mod, d_mod)(x) * w,
          shapes=[(4, 5, 3), (4, 5, 3)], requires_grad=[True, False])


@pytest.mark.parametrize("factory", [
    lambda: nn.LeakyReLU(), lambda: nn.LeakyReLU(0.1, True),
    lambda: nn.Softmax(dim=1), lambda: nn.Softmax(),
    lambda: nn.LogSoftmax(1), lambda: nn.Softmin(0),
    lambda: nn.ReLU(inplace=True), lambda: nn.ReLU(),
    lambda: nn.ReLU6(), lambda: nn.ReLU6(True),
    lambda: nn.PReLU(), lambda: nn.PReLU(3, 0.1),
    lambda: nn.ELU(), lambda: nn.ELU(0.5, True),
    lambda: nn.Hardtanh(), lambda: nn.Hardtanh(-2, 3),
    lambda: nn.Hardtanh(-2.0, 3.0, True),
    lambda: nn.RReLU(), lambda: nn.RReLU(0.1, 0.3, True),
    lambda: nn.Softplus(), lambda: nn.Softplus(2, 10),
    lambda: nn.GELU(), lambda: nn.GELU("tanh"),
    lambda: nn.SiLU(), lambda: nn.SiLU(True), lambda: nn.Mish(),
    lambda: nn.CELU(), lambda: nn.SELU(True), lambda: nn.Sigmoid(),
    lambda: nn.Tanh(), lambda: nn.LogSigmoid(), lambda: nn.Hardswish(),
    lambda: nn.Hardsigmoid(), lambda: nn.Threshold(0.1, 20),
])
def test_module_repr_equals_torch(factory):
    t_mod, d_mod = _build(factory)
    assert repr(d_mod) == repr(t_mod)


def test_print_of_a_model_with_activations_equals_torch():
    def build(nn):
        return nn.Sequential(nn.ReLU(inplace=True), nn.LeakyReLU(0.1), nn.PReLU(4),
                             nn.Softmax(dim=1))
    assert repr(build(dnn)) == repr(build(nn))


# -- PReLU -------------------------------------------------------------------------------------

@pytest.mark.parametrize("num_parameters,shape", [(1, (4, 3, 5, 5)), (3, (4, 3, 5, 5)),
                                                  (3, (6, 3)), (1, (7,)), (2, (4, 2, 5))])
def test_prelu_input_and_weight_gradients(num_parameters, shape):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.uniform(0.05, 0.5, num_parameters).astype(np.float32)
    check(lambda x, w: F.prelu(x, w) * 1.5, inputs=[x, w])


def test_prelu_module_default_weight_and_gradient():
    t_mod, d_mod = nn.PReLU(3), dnn.PReLU(3)
    assert isinstance(d_mod.weight, dnn.Parameter)
    assert [k for k, _ in d_mod.named_parameters()] == ["weight"]
    np.testing.assert_array_equal(d_mod.weight.detach().numpy(), t_mod.weight.detach().numpy())
    x = np.random.default_rng(2).standard_normal((5, 3, 4)).astype(np.float32)
    tx, dx = torch.tensor(x, requires_grad=True), dlbasic.tensor(x, requires_grad=True)
    (t_mod(tx) ** 2).sum().backward()
    (d_mod(dx) ** 2).sum().backward()
    np.testing.assert_allclose(d_mod.weight.grad.numpy(), t_mod.weight.grad.numpy(), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_prelu_slope_is_learned():
    mod = dnn.PReLU()
    x = dlbasic.tensor([-1.0, -2.0, 3.0])
    target = dlbasic.tensor([-0.5, -1.0, 3.0])          # slope 0.5 is the answer
    for _ in range(200):
        mod.weight.grad = None
        loss = ((mod(x) - target) ** 2).sum()
        loss.backward()
        with dlbasic.no_grad():
            mod.weight -= 0.05 * mod.weight.grad
    assert abs(mod.weight.item() - 0.5) < 1e-3


# -- RReLU -------------------------------------------------------------------------------------

def test_rrelu_train_slopes_are_uniform_in_bounds():
    lower, upper = 0.1, 0.4
    x = dlbasic.tensor(-np.linspace(0.5, 2.0, 200000, dtype=np.float32), requires_grad=True)
    y = dF.rrelu(x, lower, upper, training=True)
    slopes = (y / x).detach().numpy()
    assert slopes.min() >= lower - 1e-6 and slopes.max() <= upper + 1e-6
    assert abs(slopes.mean() - (lower + upper) / 2) < 2e-3
    assert abs(slopes.std() - (upper - lower) / np.sqrt(12)) < 2e-3
    assert len(np.unique(slopes)) > 1000                      # a slope per element
    y.sum().backward()                                        # the gradient is the sampled slope
    np.testing.assert_allclose(x.grad.numpy(), slopes, rtol=1e-5)


def test_rrelu_train_keeps_positive_inputs_and_module_uses_training_flag():
    x = dlbasic.tensor([1.0, 2.0, -1.0, -3.0] * 1000)
    mod = dnn.RReLU(0.2, 0.3)
    y = mod(x).numpy()
    assert (y[0::4] == 1.0).all() and (y[1::4] == 2.0).all()
    s = y[2::4] / -1.0
    assert 0.2 <= s.min() and s.max() <= 0.3 and s.std() > 0.01
    mod.eval()
    np.testing.assert_allclose(mod(x).numpy()[2::4], -0.25)
    t_mod = nn.RReLU(0.2, 0.3).eval()
    check(lambda x: _pick(x, t_mod, mod)(x), shapes=[(5, 7)])


def test_rrelu_train_is_reproducible_with_manual_seed():
    x = dlbasic.randn(50)
    dlbasic.manual_seed(3)
    a = dF.rrelu(x, training=True)
    dlbasic.manual_seed(3)
    b = dF.rrelu(x, training=True)
    assert a.tolist() == b.tolist()


def test_rrelu_eval_exact_values():
    check(lambda x: F.rrelu(x, 0.1, 0.3), inputs=[KINKS.copy()], atol=0, rtol=1e-7)


def test_grad_fn_names_match_torch():
    x_t = torch.randn(3, 4, requires_grad=True)
    x_d = dlbasic.randn(3, 4, requires_grad=True)
    pairs = [
        (lambda x: F.leaky_relu(x)), (lambda x: F.elu(x)), (lambda x: F.softplus(x)),
        (lambda x: F.logsigmoid(x)), (lambda x: F.softmax(x, 1)),
        (lambda x: F.log_softmax(x, 1)), (lambda x: F.gelu(x)), (lambda x: F.silu(x)),
        (lambda x: F.hardtanh(x)), (lambda x: F.relu6(x)), (lambda x: F.celu(x)),
        (lambda x: F.selu(x)), (lambda x: F.mish(x)), (lambda x: F.rrelu(x)),
    ]
    from tests.parity.harness import rebind
    for fn in pairs:
        assert rebind(fn)(x_d).grad_fn.name() == fn(x_t).grad_fn.name()
