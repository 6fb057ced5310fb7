"""dlbasic.distributions and the special functions under it (lgamma, digamma, polygamma,
erfinv, the gamma sampler's implicit gradient) against torch: values and gradients in float64
and float32, sample shapes and statistics, argument validation, kl_divergence."""
import math

import numpy as np
import pytest

from tests.parity.harness import assert_same_error, check, check_ulps, rebind, torch

import dlbasic
import dlbasic.distributions as dd
from dlbasic.autograd import gradcheck
from dlbasic.ops import special as S

td = torch.distributions

# gradients through digamma meet torch's trigamma, good to ~5e-10 (see TRIGAMMA_TOL)
F64 = dict(atol=1e-12, rtol=1e-11, grad_atol=1e-11, grad_rtol=2e-9)


def _tol(dtype):
    return F64 if dtype == "float64" else dict(atol=1e-5, rtol=1e-4, grad_atol=1e-4,
                                               grad_rtol=1e-3)


def arr(values, dtype="float64"):
    return np.asarray(values, dtype=dtype)


def _on(lib, make):
    """``make`` (torch-written) for the library the calling lambda runs with: the harness
    rebinds only the lambda it is given, not the functions that lambda calls."""
    return make if lib is torch else rebind(make)


# -- special functions -----------------------------------------------------------------------

_RNG = np.random.default_rng(0)
POSITIVE = np.concatenate([np.exp(_RNG.uniform(-12, 5, 300)), np.linspace(0.5, 2.6, 211),
                           [1.0, 2.0, 3.0, 10.0, 1e-8, 150.0]])
NEGATIVE = -_RNG.uniform(0.01, 20, 200)
NEGATIVE = NEGATIVE[np.abs(NEGATIVE - np.round(NEGATIVE)) > 1e-3]     # off the poles


# torch's trigamma (polygamma(1, .), also digamma's gradient) is good to ~5e-10 relative,
# ours to ~1e-15 (checked against mpmath below): compared with torch at 1e-9 there
TRIGAMMA_TOL = 1e-9


@pytest.mark.parametrize("fn, rtol, grad_rtol", [
    (lambda x: torch.lgamma(x), 2e-13, 2e-13), (lambda x: torch.digamma(x), 2e-13, TRIGAMMA_TOL),
    (lambda x: torch.polygamma(1, x), TRIGAMMA_TOL, 2e-13),
    (lambda x: torch.polygamma(2, x), 2e-13, 2e-13),
    (lambda x: torch.special.polygamma(3, x), 2e-13, 2e-13),
    (lambda x: torch.special.gammaln(x), 2e-13, 2e-13),
    (lambda x: torch.special.psi(x), 2e-13, TRIGAMMA_TOL),
    (lambda x: x.lgamma(), 2e-13, 2e-13), (lambda x: x.digamma(), 2e-13, TRIGAMMA_TOL),
    (lambda x: x.polygamma(1), TRIGAMMA_TOL, 2e-13)])
def test_gamma_functions_match_torch_float64_for_positive_x(fn, rtol, grad_rtol):
    # digamma's zero near 1.4616 is met only to an absolute 1e-15
    check(fn, inputs=[POSITIVE], atol=1e-14, rtol=rtol, grad_atol=1e-14, grad_rtol=grad_rtol)


def test_gamma_functions_match_a_high_precision_reference():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    x = np.concatenate([POSITIVE[::3], NEGATIVE[::4]])
    for n, ours in [(-1, S.lgamma_np(x)), (0, S.digamma_np(x)), (1, S.polygamma_np(1, x)),
                    (2, S.polygamma_np(2, x))]:
        if n == -1:
            ref = [float(mpmath.log(abs(mpmath.gamma(mpmath.mpf(v))))) for v in x]
        else:
            ref = [float(mpmath.polygamma(n, mpmath.mpf(v))) for v in x]
        ref = np.array(ref)
        pos = x > 0
        # x > 0: 1e-13 relative (absolute 1e-15 at the zeros of lgamma, digamma); x < 0
        # goes through the reflection, whose sin(pi x) costs digits near the poles
        np.testing.assert_allclose(ours[pos], ref[pos], rtol=1e-13, atol=1e-15, err_msg=str(n))
        np.testing.assert_allclose(ours[~pos], ref[~pos], rtol=1e-11, atol=1e-12,
                                   err_msg=str(n))


@pytest.mark.parametrize("fn", [lambda x: torch.lgamma(x), lambda x: torch.digamma(x),
                                lambda x: torch.polygamma(1, x), lambda x: torch.polygamma(2, x)])
def test_gamma_functions_match_torch_float64_for_negative_x(fn):
    # the reflection formula (relative accuracy near the zeros of lgamma is absolute there);
    # torch's trigamma sets the tolerance
    check(fn, inputs=[NEGATIVE], atol=1e-11, rtol=TRIGAMMA_TOL, grad_atol=1e-10,
          grad_rtol=TRIGAMMA_TOL)


def test_gamma_functions_special_values_match_torch():
    x = np.array([0.0, -0.0, -1.0, -3.0, np.inf, -np.inf, np.nan, 1e-300, 1e300])
    for name in ("lgamma", "digamma"):
        np.testing.assert_array_equal(getattr(dlbasic, name)(dlbasic.tensor(x)).numpy(),
                                      getattr(torch, name)(torch.tensor(x)).numpy(), name)
    for n in (1, 2):
        sel = np.array([0.0, np.nan, 1e-300, 1e300, np.inf])[: 4 if n == 2 else 5]
        np.testing.assert_array_equal(dlbasic.polygamma(n, dlbasic.tensor(sel)).numpy(),
                                      torch.polygamma(n, torch.tensor(sel)).numpy())


def test_gamma_functions_have_torch_dtypes_and_grad_fn_names():
    x = dlbasic.tensor([1.5, 2.5], requires_grad=True)
    assert dlbasic.lgamma(x).grad_fn.name() == "LgammaBackward0"
    assert dlbasic.digamma(x).grad_fn.name() == "DigammaBackward0"
    assert dlbasic.polygamma(1, x).grad_fn.name() == "PolygammaBackward0"
    assert dlbasic.erfinv(x / 4).grad_fn.name() == "ErfinvBackward0"
    assert dlbasic.lgamma(dlbasic.tensor([1, 2])).dtype == dlbasic.float32     # ints -> float
    assert dlbasic.special.psi(x).dtype == dlbasic.float32
    assert_same_error(lambda: torch.polygamma(-1, torch.tensor([1.0])),
                      lambda: dlbasic.polygamma(-1, dlbasic.tensor([1.0])))


@pytest.mark.parametrize("fn", [lambda x: torch.lgamma(x), lambda x: torch.digamma(x),
                                lambda x: torch.polygamma(1, x)])
def test_gamma_functions_float32_within_ulps_of_float64(fn):
    x = np.concatenate([POSITIVE[POSITIVE < 1e4], NEGATIVE[:50]]).astype(np.float32)
    check_ulps(fn, x, ulps=2.0, grad_ulps=4.0)


def test_erfinv_matches_torch():
    u = np.concatenate([np.linspace(-0.999, 0.999, 301), 1 - np.logspace(-15, -1, 30),
                        -1 + np.logspace(-15, -1, 30)])
    check(lambda x: torch.erfinv(x), inputs=[u], atol=1e-14, rtol=1e-13, grad_atol=1e-10,
          grad_rtol=1e-12)
    check_ulps(lambda x: torch.erfinv(x), np.linspace(-0.99, 0.99, 199), ulps=2.0,
               grad_ulps=4.0)
    edge = np.array([-1.0, 1.0, 0.0, 1.5, np.nan])
    np.testing.assert_array_equal(dlbasic.erfinv(dlbasic.tensor(edge)).numpy(),
                                  torch.erfinv(torch.tensor(edge)).numpy())


@pytest.mark.parametrize("fn, x", [
    (dlbasic.lgamma, [0.3, 1.7, 4.5, 12.0, -0.4]), (dlbasic.digamma, [0.3, 1.7, 4.5, 12.0, -2.6]),
    (lambda t: dlbasic.polygamma(1, t), [0.3, 1.7, 12.0, -1.3]),
    (lambda t: dlbasic.polygamma(2, t), [0.3, 1.7, 12.0]),
    (dlbasic.erfinv, [-0.9, -0.2, 0.5, 0.99])])
def test_special_functions_gradcheck(fn, x):
    assert gradcheck(fn, (dlbasic.tensor(x, dtype=dlbasic.float64, requires_grad=True),))


def test_incomplete_gamma_matches_torch_and_a_high_precision_reference():
    rng = np.random.default_rng(5)
    a = np.exp(rng.uniform(-4, 6, 300))
    x = a * np.exp(rng.uniform(-2, 1.2, 300))
    # torch's own values are good to ~2e-9 near x = a + 1, where it switches methods
    for fn in (lambda a, x: torch.special.gammainc(a, x), lambda a, x: torch.igammac(a, x),
               lambda a, x: a.igamma(x)):
        check(fn, inputs=[a, x], requires_grad=[False, True], atol=1e-14, rtol=5e-9,
              grad_atol=1e-14, grad_rtol=1e-11)
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    ref = np.array([float(mpmath.gammainc(ai, 0, xi, regularized=True))
                    for ai, xi in zip(a[::6], x[::6])])
    np.testing.assert_allclose(S.igamma_np(a[::6], x[::6]), ref, rtol=1e-12, atol=1e-300)
    edge_a = np.array([0.0, 0.0, 1.0, 2.0, 1.0, -1.0, 1.0, np.inf, 2.0])
    edge_x = np.array([1.0, 0.0, 0.0, np.inf, -1.0, 1.0, np.nan, 1.0, 1e-300])
    for name in ("gammainc", "gammaincc"):
        np.testing.assert_array_equal(
            getattr(dlbasic.special, name)(dlbasic.tensor(edge_a), dlbasic.tensor(edge_x)).numpy(),
            getattr(torch.special, name)(torch.tensor(edge_a), torch.tensor(edge_x)).numpy())
    assert gradcheck(lambda x: dlbasic.igamma(dlbasic.tensor([0.5, 3.0, 20.0],
                                                             dtype=dlbasic.float64), x),
                     (dlbasic.tensor([0.2, 4.0, 25.0], dtype=dlbasic.float64, requires_grad=True),))

    def backward_through_a(T):
        a = T.tensor([1.5], requires_grad=True)
        T.igamma(a, T.tensor([2.0])).backward()
    assert_same_error(lambda: backward_through_a(torch), lambda: backward_through_a(dlbasic))


# -- the gamma sampler's implicit gradient ---------------------------------------------------

def test_standard_gamma_grad_matches_torch_sample_by_sample():
    # torch's d sample / d alpha is a fitted approximation (~1e-3 relative); ours is the series
    rng = np.random.default_rng(1)
    for a in (0.05, 0.4, 1.0, 3.0, 20.0, 400.0, 3000.0):
        alpha = np.full(400, a)
        x = np.maximum(rng.standard_gamma(alpha), 1e-300)
        ours = S.standard_gamma_grad_np(alpha, x)
        theirs = torch._standard_gamma_grad(torch.tensor(alpha), torch.tensor(x)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=3e-3, err_msg=f"alpha={a}")


def test_standard_gamma_grad_matches_a_high_precision_reference():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30

    def reference(a, x):
        a, x = mpmath.mpf(a), mpmath.mpf(x)
        dP = mpmath.diff(lambda s: mpmath.gammainc(s, 0, x, regularized=True), a)
        return float(-dP / (x ** (a - 1) * mpmath.exp(-x) / mpmath.gamma(a)))

    points = [(0.01, 1e-30), (0.3, 0.05), (0.3, 6.2), (1.0, 1.2), (2.5, 0.8), (10.0, 2.65),
              (10.0, 21.0), (100.0, 90.0), (1500.0, 1400.0)]
    ours = S.standard_gamma_grad_np(np.array([p[0] for p in points]),
                                    np.array([p[1] for p in points]))
    ref = np.array([reference(*p) for p in points])
    np.testing.assert_allclose(ours[:-1], ref[:-1], rtol=1e-10)
    np.testing.assert_allclose(ours[-1], ref[-1], rtol=1e-5)     # Wilson-Hilferty regime


def test_gamma_rsample_gradient_is_the_implicit_one_and_unbiased():
    dlbasic.manual_seed(0)
    a = dlbasic.tensor([0.5, 2.0, 7.0], dtype=dlbasic.float64, requires_grad=True)
    b = dlbasic.tensor([1.0, 3.0, 0.5], dtype=dlbasic.float64, requires_grad=True)
    x = dd.Gamma(a, b).rsample((40000,))
    x.sum().backward()
    # per draw: d x/d a = standard_gamma_grad(a, b x) / b and d x / d b = -x / b
    x0 = x.detach().numpy() * b.detach().numpy()
    expect = (S.standard_gamma_grad_np(np.broadcast_to(a.detach().numpy(), x0.shape), x0)
              / b.detach().numpy()).sum(0)
    np.testing.assert_allclose(a.grad.numpy(), expect, rtol=1e-10)
    np.testing.assert_allclose(b.grad.numpy(), (-x.detach().numpy() / b.detach().numpy())
                               .sum(0), rtol=1e-10)
    # Monte Carlo: d E[x] / d a = 1 / b, d E[x] / d b = -a / b^2
    n = x.shape[0]
    np.testing.assert_allclose(a.grad.numpy() / n, 1 / b.detach().numpy(), rtol=0.02)
    np.testing.assert_allclose(b.grad.numpy() / n, -(a / b ** 2).detach().numpy(), rtol=0.02)


def test_beta_rsample_gradient_agrees_with_torch_in_expectation():
    # d E[x] / d a = b / (a + b)^2 and d E[x] / d b = -a / (a + b)^2; ours (through the two
    # gamma draws) and torch's (through the Beta quantile) are both unbiased estimates of it
    av, bv, n = [0.7, 2.0, 5.0], [1.5, 2.0, 0.8], 40000
    dlbasic.manual_seed(3)
    a = dlbasic.tensor(av, dtype=dlbasic.float64, requires_grad=True)
    b = dlbasic.tensor(bv, dtype=dlbasic.float64, requires_grad=True)
    dd.Beta(a, b).rsample((n,)).mean(0).sum().backward()
    torch.manual_seed(3)
    ta = torch.tensor(av, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(bv, dtype=torch.float64, requires_grad=True)
    td.Beta(ta, tb).rsample((n,)).mean(0).sum().backward()
    A, B = np.array(av), np.array(bv)
    np.testing.assert_allclose(a.grad.numpy(), B / (A + B) ** 2, rtol=0.03)
    np.testing.assert_allclose(b.grad.numpy(), -A / (A + B) ** 2, rtol=0.03)
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=0.05)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=0.05)


# -- values and gradients against torch -----------------------------------------------------

COV = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 1.5]])

# (name, torch-written constructor of the parameters' arrays, parameter arrays, a value)
CASES = [
    ("normal", lambda m, s: torch.distributions.Normal(m, s),
     [[0.0, 1.0, -2.0], [1.0, 2.0, 0.5]], [0.3, -1.0, 2.0]),
    ("bernoulli_probs", lambda p: torch.distributions.Bernoulli(probs=p),
     [[0.1, 0.5, 0.9]], [0.0, 1.0, 1.0]),
    ("bernoulli_logits", lambda z: torch.distributions.Bernoulli(logits=z),
     [[0.1, -2.5, 3.0]], [0.0, 1.0, 1.0]),
    ("categorical_probs", lambda p: torch.distributions.Categorical(probs=p),
     [[[0.1, 0.5, 0.4], [0.2, 0.2, 0.6]]], [0.0, 2.0]),
    ("categorical_logits", lambda z: torch.distributions.Categorical(logits=z),
     [[[0.1, 0.5, -1.4], [0.2, 2.2, 0.6]]], [1.0, 2.0]),
    ("uniform", lambda lo, hi: torch.distributions.Uniform(lo, hi),
     [[0.0, 1.0], [2.0, 3.5]], [0.5, 2.5]),
    ("gamma", lambda a, b: torch.distributions.Gamma(a, b),
     [[0.5, 1.0, 3.0], [1.0, 2.0, 0.5]], [0.3, 1.0, 2.0]),
    ("beta", lambda a, b: torch.distributions.Beta(a, b),
     [[0.5, 1.0, 3.0], [1.5, 2.0, 0.5]], [0.3, 0.1, 0.9]),
    ("exponential", lambda r: torch.distributions.Exponential(r),
     [[0.5, 1.0, 3.0]], [0.3, 1.0, 2.0]),
    ("laplace", lambda m, s: torch.distributions.Laplace(m, s),
     [[0.5, 1.0, 3.0], [1.5, 2.0, 0.5]], [0.3, 1.0, 2.0]),
    # (a matrix leaf is symmetrized first, so both libraries' gradients are w.r.t. the same
    # function of all n^2 entries)
    ("mvn_cov", lambda m, c: torch.distributions.MultivariateNormal(
        m, covariance_matrix=(c + c.mT) / 2),
     [[0.0, 1.0, 2.0], COV], [[0.3, -1.0, 2.0], [0.0, 0.0, 0.0]]),
    ("mvn_prec", lambda m, c: torch.distributions.MultivariateNormal(
        m, precision_matrix=(c + c.mT) / 2),
     [[0.0, 1.0, 2.0], COV], [[0.3, -1.0, 2.0], [0.0, 0.0, 0.0]]),
    ("mvn_tril", lambda m, L: torch.distributions.MultivariateNormal(m, scale_tril=L),
     [[[0.0, 1.0, 2.0], [1.0, 0.0, 0.0]], np.linalg.cholesky(COV)], [[0.3, -1.0, 2.0]]),
    ("independent", lambda m, s: torch.distributions.Independent(
        torch.distributions.Normal(m, s), 1),
     [[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [0.5, 0.7]]], [0.3, -1.0]),
    ("one_hot", lambda p: torch.distributions.OneHotCategorical(p),
     [[0.1, 0.5, 0.4]], [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]),
]
CASE_IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name, make, params, value", CASES, ids=CASE_IDS)
def test_log_prob_matches_torch(name, make, params, value, dtype):
    inputs = [arr(p, dtype) for p in params] + [arr(value, dtype)]
    check(lambda *a: _on(torch, make)(*a[:-1]).log_prob(a[-1]), inputs=inputs, dtype=dtype,
          requires_grad=[True] * len(params) + [name not in ("uniform",) and
                                                "bernoulli" not in name and
                                                "categorical" not in name and
                                                name != "one_hot"],
          **_tol(dtype))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("what", ["entropy", "mean", "variance", "stddev", "mode"])
@pytest.mark.parametrize("name, make, params, value", CASES, ids=CASE_IDS)
def test_moments_and_entropy_match_torch(name, make, params, value, what, dtype):
    inputs = [arr(p, dtype) for p in params]
    if what == "entropy":
        fn = lambda *a: _on(torch, make)(*a).entropy()                          # noqa: E731
    else:
        fn = lambda *a: getattr(_on(torch, make)(*a), what)                     # noqa: E731
    # mode is piecewise constant in the parameters (or NaN): values only
    check(fn, inputs=inputs, dtype=dtype, grad=what != "mode" and "categorical" not in name,
          **_tol(dtype))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name, make, params, value, inverse", [
    ("normal", CASES[0][1], CASES[0][2], [0.3, -1.0, 2.0], [0.1, 0.5, 0.97]),
    ("uniform", CASES[5][1], CASES[5][2], [0.5, 2.5], [0.2, 0.9]),
    ("exponential", CASES[8][1], CASES[8][2], [0.3, 1.0, 2.0], [0.1, 0.5, 0.97]),
    ("laplace", CASES[9][1], CASES[9][2], [0.3, 1.0, 2.0], [0.1, 0.5, 0.97]),
    ("gamma", CASES[6][1], CASES[6][2], [0.3, 1.0, 2.0], None),
])
def test_cdf_and_icdf_match_torch(name, make, params, value, inverse, dtype):
    n = len(params)
    if inverse is None:
        # Gamma: torch has the cdf (no gradient to the concentration) and no icdf
        check(lambda *a: _on(torch, make)(*a[:n]).cdf(a[n]), inputs=[
            arr(p, dtype) for p in params] + [arr(value, dtype)], dtype=dtype,
            requires_grad=[False, True, True], **_tol(dtype))
        return
    check(lambda *a: _on(torch, make)(*a[:n]).cdf(a[n]), inputs=[arr(p, dtype) for p in params] +
          [arr(value, dtype)], dtype=dtype, **_tol(dtype))
    check(lambda *a: _on(torch, make)(*a[:n]).icdf(a[n]), inputs=[arr(p, dtype) for p in params] +
          [arr(inverse, dtype)], dtype=dtype, **_tol(dtype))


KL_PAIRS = [
    (lambda a, b, c, d: torch.distributions.Normal(a, b), lambda a, b, c, d:
     torch.distributions.Normal(c, d), [[0.0, 1.0], [1.0, 2.0], [0.5, 1.0], [1.5, 0.2]]),
    (lambda a, b: torch.distributions.Bernoulli(a), lambda a, b: torch.distributions.Bernoulli(b),
     [[0.1, 0.6], [0.3, 0.2]]),
    (lambda a, b: torch.distributions.Categorical(a),
     lambda a, b: torch.distributions.Categorical(b), [[[0.1, 0.4, 0.5]], [[0.3, 0.2, 0.5]]]),
    (lambda a, b, c, d: torch.distributions.Uniform(a, b),
     lambda a, b, c, d: torch.distributions.Uniform(c, d),
     [[0.0, 1.0], [1.0, 2.0], [-1.0, 0.5], [2.0, 3.0]]),
    (lambda a, b, c, d: torch.distributions.Beta(a, b),
     lambda a, b, c, d: torch.distributions.Beta(c, d),
     [[0.5, 2.0], [1.0, 2.0], [0.7, 1.0], [1.5, 0.2]]),
    (lambda a, b, c, d: torch.distributions.Gamma(a, b),
     lambda a, b, c, d: torch.distributions.Gamma(c, d),
     [[0.5, 2.0], [1.0, 2.0], [0.7, 1.0], [1.5, 0.2]]),
    (lambda a, b, c, d: torch.distributions.MultivariateNormal(a, scale_tril=b),
     lambda a, b, c, d: torch.distributions.MultivariateNormal(c, scale_tril=d),
     [[0.0, 1.0, 2.0], np.linalg.cholesky(COV), [[0.0, 0.0, 2.0], [1.0, 1.0, 1.0]],
      np.linalg.cholesky(COV * 0.5 + np.eye(3))]),
    (lambda a, b, c, d: torch.distributions.Independent(torch.distributions.Normal(a, b), 1),
     lambda a, b, c, d: torch.distributions.Independent(torch.distributions.Normal(c, d), 1),
     [[[0.0, 1.0]], [[1.0, 2.0]], [[0.5, 1.0]], [[1.5, 0.2]]]),
    (lambda a, b: torch.distributions.Exponential(a),
     lambda a, b: torch.distributions.Exponential(b), [[0.5, 2.0], [0.7, 1.0]]),
    (lambda a, b, c, d: torch.distributions.Laplace(a, b),
     lambda a, b, c, d: torch.distributions.Laplace(c, d),
     [[0.5, 2.0], [1.0, 2.0], [0.7, 1.0], [1.5, 0.2]]),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("make_p, make_q, params", KL_PAIRS,
                         ids=["normal", "bernoulli", "categorical", "uniform", "beta", "gamma",
                              "mvn", "independent", "exponential", "laplace"])
def test_kl_divergence_matches_torch(make_p, make_q, params, dtype):
    check(lambda *a: torch.distributions.kl_divergence(_on(torch, make_p)(*a),
                                                    _on(torch, make_q)(*a)),
          inputs=[arr(p, dtype) for p in params], dtype=dtype, **_tol(dtype))


def test_kl_divergence_infinite_and_zero_terms_match_torch():
    for p, q in [([0.0, 1.0, 0.3], [0.2, 0.0, 1.0]), ([[0.0, 1.0]], [[0.5, 0.5]])]:
        P, Q = arr(p), arr(q)
        fam = "Bernoulli" if P.ndim == 1 else "Categorical"
        t = td.kl_divergence(getattr(td, fam)(torch.tensor(P)), getattr(td, fam)(torch.tensor(Q)))
        d = dd.kl_divergence(getattr(dd, fam)(dlbasic.tensor(P)),
                             getattr(dd, fam)(dlbasic.tensor(Q)))
        np.testing.assert_allclose(d.numpy(), t.numpy())
    t = td.kl_divergence(td.Uniform(0.0, 2.0), td.Uniform(0.5, 3.0))
    assert dd.kl_divergence(dd.Uniform(0.0, 2.0), dd.Uniform(0.5, 3.0)).item() == t.item()


def test_kl_divergence_dispatch_and_registration():
    assert_same_error(lambda: td.kl_divergence(td.Categorical(torch.tensor([0.5, 0.5])),
                                               td.Normal(0.0, 1.0)),
                      lambda: dd.kl_divergence(dd.Categorical(dlbasic.tensor([0.5, 0.5])),
                                               dd.Normal(0.0, 1.0)))

    class MyNormal(dd.Normal):
        pass
    # a subclass finds its base's formula; a registration for it takes precedence
    p, q = MyNormal(0.0, 1.0), dd.Normal(1.0, 2.0)
    base = dd.kl_divergence(dd.Normal(0.0, 1.0), q)
    assert dd.kl_divergence(p, q).item() == base.item()

    @dd.register_kl(MyNormal, dd.Normal)
    def _kl(p, q):
        return dlbasic.tensor(-1.0)
    assert dd.kl_divergence(p, q).item() == -1.0
    with pytest.raises(TypeError):
        dd.register_kl(int, dd.Normal)
    with pytest.raises(NotImplementedError):
        dd.kl_divergence(dd.Independent(dd.Normal(dlbasic.zeros(2, 2), 1.0), 1),
                         dd.Independent(dd.Normal(dlbasic.zeros(2, 2), 1.0), 2))


def test_log_prob_gradcheck_float64():
    L = np.linalg.cholesky(COV)
    cases = [
        (lambda a, b: dd.Gamma(a, b).log_prob(dlbasic.tensor([0.3, 1.2], dtype=dlbasic.float64)),
         ([0.7, 2.0], [1.5, 0.4])),
        (lambda a, b: dd.Beta(a, b).log_prob(dlbasic.tensor([0.3, 0.8], dtype=dlbasic.float64)),
         ([0.7, 2.0], [1.5, 0.4])),
        (lambda m, s: dd.MultivariateNormal(m, scale_tril=s.tril()).log_prob(
            dlbasic.tensor([0.3, -1.0, 2.0], dtype=dlbasic.float64)), ([0.0, 1.0, 2.0], L)),
        (lambda m, c: dd.MultivariateNormal(m, covariance_matrix=(c + c.mT) / 2).entropy(),
         ([0.0, 1.0, 2.0], COV)),
        (lambda a, b: dd.kl_divergence(dd.Beta(a, b), dd.Beta(b, a)), ([0.7, 2.0], [1.5, 0.4])),
    ]
    for fn, params in cases:
        ts = [dlbasic.tensor(p, dtype=dlbasic.float64, requires_grad=True) for p in params]
        assert gradcheck(fn, ts)


# -- rsample gradients given the same noise ---------------------------------------------------

def test_normal_rsample_gradient_matches_torch_with_the_same_noise():
    dlbasic.manual_seed(0)
    loc = dlbasic.tensor([0.0, 1.0, -2.0], dtype=dlbasic.float64, requires_grad=True)
    scale = dlbasic.tensor([1.0, 2.0, 0.5], dtype=dlbasic.float64, requires_grad=True)
    x = dd.Normal(loc, scale).rsample((5,))
    assert x.shape == (5, 3) and x.requires_grad
    (x * x).sum().backward()
    eps = ((x - loc) / scale).detach().numpy()
    tl = torch.tensor(loc.detach().numpy(), requires_grad=True)
    ts = torch.tensor(scale.detach().numpy(), requires_grad=True)
    tx = tl + torch.tensor(eps) * ts              # torch's rsample with this noise
    (tx * tx).sum().backward()
    np.testing.assert_allclose(loc.grad.numpy(), tl.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(scale.grad.numpy(), ts.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("param", ["covariance_matrix", "precision_matrix", "scale_tril"])
def test_mvn_rsample_gradient_matches_torch_with_the_same_noise(param):
    mat = np.linalg.cholesky(COV) if param == "scale_tril" else COV
    dlbasic.manual_seed(1)
    loc = dlbasic.tensor([0.0, 1.0, 2.0], dtype=dlbasic.float64, requires_grad=True)
    m = dlbasic.tensor(mat, requires_grad=True)
    dist = dd.MultivariateNormal(loc, **{param: m})
    x = dist.rsample((4,))
    assert x.shape == (4, 3)
    w = np.random.default_rng(2).standard_normal((4, 3))
    (x * dlbasic.tensor(w)).sum().backward()
    # the noise behind the draws, recovered through the factor: L eps = x - loc
    L = dist._unbroadcasted_scale_tril.detach().numpy()
    eps = np.linalg.solve(L, (x.detach().numpy() - loc.detach().numpy()).T).T
    tl = torch.tensor(loc.detach().numpy(), requires_grad=True)
    tm = torch.tensor(mat, requires_grad=True)
    tdist = td.MultivariateNormal(tl, **{param: tm})
    tx = tl + (tdist._unbroadcasted_scale_tril @ torch.tensor(eps).unsqueeze(-1)).squeeze(-1)
    (tx * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(loc.grad.numpy(), tl.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(m.grad.numpy(), tm.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_uniform_rsample_gradient_is_the_reparameterized_one():
    dlbasic.manual_seed(4)
    lo = dlbasic.tensor([0.0, -1.0], requires_grad=True)
    hi = dlbasic.tensor([2.0, 3.0], requires_grad=True)
    x = dd.Uniform(lo, hi).rsample((10,))
    x.sum().backward()
    u = ((x - lo) / (hi - lo)).detach().numpy()
    np.testing.assert_allclose(hi.grad.numpy(), u.sum(0), rtol=1e-5)
    np.testing.assert_allclose(lo.grad.numpy(), (1 - u).sum(0), rtol=1e-5)


# -- sampling: shapes, reproducibility, statistics --------------------------------------------

def _dists():
    def t(v):
        return dlbasic.tensor(v, dtype=dlbasic.float64)
    return {
        "normal": dd.Normal(t([0.0, 3.0]), t([1.0, 0.5])),
        "bernoulli": dd.Bernoulli(t([0.2, 0.7])),
        "categorical": dd.Categorical(t([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])),
        "uniform": dd.Uniform(t([0.0, -2.0]), t([1.0, 4.0])),
        "gamma": dd.Gamma(t([0.3, 4.0]), t([1.0, 2.0])),
        "beta": dd.Beta(t([0.5, 3.0]), t([0.5, 1.5])),
        "exponential": dd.Exponential(t([0.5, 3.0])),
        "laplace": dd.Laplace(t([0.0, 1.0]), t([1.0, 0.3])),
        "mvn": dd.MultivariateNormal(t([[0.0, 1.0, 2.0]]), covariance_matrix=t(COV)),
        "independent": dd.Independent(dd.Normal(t(np.zeros((2, 3))), 2.0), 1),
        "one_hot": dd.OneHotCategorical(t([0.2, 0.3, 0.5])),
    }


@pytest.mark.parametrize("name", list(_dists()))
def test_sample_mean_and_variance_match_the_distribution(name):
    dlbasic.manual_seed(12345)
    dist = _dists()[name]
    n = 100000
    x = dist.sample((n,)).double()
    assert tuple(x.shape) == (n,) + tuple(dist.batch_shape) + tuple(dist.event_shape)
    xs = x.numpy()
    if name == "categorical":
        p = dist.probs.numpy()
        freq = np.stack([(xs == k).mean(0) for k in range(3)], -1)
        np.testing.assert_allclose(freq, p, atol=0.01)
        return
    mean, var = dist.mean.detach().numpy(), dist.variance.detach().numpy()
    np.testing.assert_allclose(xs.mean(0), mean, atol=0.02 * np.sqrt(var.max()) * 2)
    np.testing.assert_allclose(xs.var(0), var, rtol=0.05)
    if name == "mvn":
        np.testing.assert_allclose(np.cov(xs.reshape(n, 3).T), COV, atol=0.05)


@pytest.mark.parametrize("name", list(_dists()))
def test_samples_are_reproducible_with_manual_seed_and_have_torch_shapes(name):
    dist = _dists()[name]
    dlbasic.manual_seed(7)
    a = dist.sample((2, 3)).numpy()
    dlbasic.manual_seed(7)
    b = dist.sample((2, 3)).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, 3) + tuple(dist.batch_shape) + tuple(dist.event_shape)
    assert dist.sample().shape == tuple(dist.batch_shape) + tuple(dist.event_shape)
    assert not dist.sample((2,)).requires_grad
    if dist.has_rsample:
        assert dist.rsample((5,)).shape == (5,) + tuple(dist.batch_shape) + tuple(dist.event_shape)
    # log_prob of the samples: sample_shape + batch_shape
    assert tuple(dist.log_prob(dist.sample((2, 3))).shape) == (2, 3) + tuple(dist.batch_shape)


def test_has_rsample_flags_match_torch():
    for name in ("Normal", "Bernoulli", "Categorical", "Uniform", "Gamma", "Beta", "Exponential",
                 "Laplace", "MultivariateNormal", "OneHotCategorical"):
        assert getattr(dd, name).has_rsample == getattr(td, name).has_rsample, name
    with pytest.raises(NotImplementedError):
        dd.Bernoulli(0.3).rsample()


def test_batch_event_shapes_expand_and_independent_match_torch():
    for lib, T in ((td, torch), (dd, dlbasic)):
        loc, scale = T.zeros(4, 3), T.ones(4, 3)
        n = lib.Normal(loc, scale)
        ind = lib.Independent(n, 1)
        ind2 = lib.Independent(n, 2)
        mvn = lib.MultivariateNormal(T.zeros(2, 1, 3), scale_tril=T.eye(3))
        e = n.expand((5, 4, 3))
        results = [tuple(d.batch_shape) + ("|",) + tuple(d.event_shape)
                   for d in (n, ind, ind2, mvn, e, ind.expand((6, 4)), mvn.expand((2, 5)))]
        results.append(tuple(ind.log_prob(T.zeros(7, 4, 3)).shape))
        results.append(tuple(e.sample((2,)).shape))
        results.append(tuple(mvn.expand((2, 5)).rsample().shape))
        results.append(str(ind.support))
        if lib is td:
            expected = results
        else:
            assert results == expected
    # expand shares the parameters (no copy) and keeps log_prob
    d = dd.Normal(dlbasic.tensor([0.0, 1.0]), dlbasic.tensor([1.0, 2.0]))
    e = d.expand((3, 2))
    np.testing.assert_allclose(e.log_prob(dlbasic.tensor([0.5, 0.5])).numpy(),
                               np.broadcast_to(d.log_prob(dlbasic.tensor([0.5, 0.5])).numpy(),
                                               (3, 2)))
    c = dd.Categorical(logits=dlbasic.zeros(2, 4)).expand((3, 2))
    assert c.batch_shape == (3, 2) and c.sample().shape == (3, 2)


def test_independent_log_prob_sums_the_reinterpreted_dims():
    loc, scale = dlbasic.randn(2, 3), dlbasic.rand(2, 3) + 0.5
    x = dlbasic.randn(5, 2, 3)
    base = dd.Normal(loc, scale)
    np.testing.assert_allclose(dd.Independent(base, 2).log_prob(x).numpy(),
                               base.log_prob(x).sum((-2, -1)).numpy(), rtol=1e-6)
    np.testing.assert_allclose(dd.Independent(base, 1).entropy().numpy(),
                               base.entropy().sum(-1).numpy(), rtol=1e-6)


# -- validation -------------------------------------------------------------------------------

def _same(make, call=None):
    """torch and dlbasic raise the same error, message included."""
    t = lambda: (call(make(torch)) if call else make(torch))                 # noqa: E731
    d = lambda: (call(make(dlbasic)) if call else make(dlbasic))             # noqa: E731
    assert_same_error(t, d)


def _lib(T):
    return T.distributions


def test_parameter_validation_messages_match_torch():
    _same(lambda T: _lib(T).Normal(T.tensor([0.0, 1.0, 2.0]), T.tensor([1.0, -1.0, 1.0])))
    _same(lambda T: _lib(T).Normal(T.tensor([0.0, float("nan")]), T.tensor([1.0, 1.0])))
    _same(lambda T: _lib(T).Normal(T.tensor(0.0), T.tensor(-1.0)))
    _same(lambda T: _lib(T).Bernoulli(T.tensor([0.5, 1.5])))
    _same(lambda T: _lib(T).Bernoulli(probs=T.tensor([0.5]), logits=T.tensor([0.5])))
    _same(lambda T: _lib(T).Categorical(T.tensor([[0.5, -0.5]])))
    _same(lambda T: _lib(T).Categorical(T.tensor(0.5)))
    _same(lambda T: _lib(T).Gamma(T.tensor([1.0, 0.0]), T.tensor([1.0, 1.0])))
    _same(lambda T: _lib(T).Exponential(T.tensor([-1.0], dtype=T.float64)))
    _same(lambda T: _lib(T).MultivariateNormal(T.zeros(2), scale_tril=T.tensor(
        [[1.0, 0.0], [0.5, -1.0]])))
    _same(lambda T: _lib(T).MultivariateNormal(T.zeros(2), covariance_matrix=T.tensor(
        [[1.0, 2.0], [2.0, 1.0]])))
    _same(lambda T: _lib(T).MultivariateNormal(T.zeros(2)))
    _same(lambda T: _lib(T).MultivariateNormal(T.tensor(0.0), T.eye(2)))
    _same(lambda T: _lib(T).MultivariateNormal(T.zeros(2), scale_tril=T.ones(2)))
    _same(lambda T: _lib(T).Independent(_lib(T).Normal(T.zeros(2), 1.0), 2))
    # Beta: torch's message names its internal Dirichlet; the type is the same
    assert_same_error(lambda: td.Beta(torch.tensor([1.0]), torch.tensor([-1.0])),
                      lambda: dd.Beta(dlbasic.tensor([1.0]), dlbasic.tensor([-1.0])),
                      same_message=False)


def test_sample_validation_messages_match_torch():
    _same(lambda T: _lib(T).Normal(0.0, 1.0), lambda d: d.log_prob(1.0))
    _same(lambda T: _lib(T).Bernoulli(T.tensor([0.5])), lambda d: d.log_prob(
        d.mean.new_tensor([0.3])))
    _same(lambda T: _lib(T).Gamma(T.tensor([1.0]), T.tensor([1.0])),
          lambda d: d.log_prob(d.mean.new_tensor([-0.3])))
    _same(lambda T: _lib(T).Categorical(T.tensor([0.5, 0.5])),
          lambda d: d.log_prob(d.probs.new_tensor([2.0])))
    _same(lambda T: _lib(T).Normal(T.zeros(3), 1.0), lambda d: d.log_prob(T.zeros(4)))
    _same(lambda T: _lib(T).MultivariateNormal(T.zeros(3), T.eye(3)),
          lambda d: d.log_prob(T.zeros(2)))
    _same(lambda T: _lib(T).Uniform(T.tensor([0.0]), T.tensor([1.0])),
          lambda d: d.log_prob(d.low.new_tensor([1.5])))


def test_validate_args_can_be_turned_off():
    d = dd.Normal(dlbasic.tensor([0.0]), dlbasic.tensor([-1.0]), validate_args=False)
    assert d.scale.item() == -1.0
    assert math.isfinite(dd.Bernoulli(dlbasic.tensor([0.5]), validate_args=False)
                         .log_prob(dlbasic.tensor([0.3])).item())
    try:
        dd.Distribution.set_default_validate_args(False)
        dd.Normal(0.0, -1.0)                      # no error
        assert not dd.Normal(0.0, 1.0)._validate_args
    finally:
        dd.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        dd.Normal(0.0, -1.0)
    with pytest.raises(ValueError):
        dd.Distribution.set_default_validate_args(3)


def test_constraints_match_torch():
    c = td.constraints
    k = dd.constraints
    x = np.array([[-1.0, 0.0, 0.5, 1.0, 2.0, np.nan]])
    for name in ("real", "positive", "nonnegative", "unit_interval", "boolean",
                 "nonnegative_integer", "positive_integer"):
        np.testing.assert_array_equal(getattr(k, name).check(dlbasic.tensor(x)).numpy(),
                                      getattr(c, name).check(torch.tensor(x)).numpy(), name)
        assert repr(getattr(k, name)) == repr(getattr(c, name))
    for make in (lambda m: m.interval(-0.5, 1.0), lambda m: m.half_open_interval(0.0, 1.0),
                 lambda m: m.greater_than(0.5), lambda m: m.less_than(1.0),
                 lambda m: m.integer_interval(0, 1), lambda m: m.greater_than_eq(0.5),
                 lambda m: m.independent(m.real, 1)):
        np.testing.assert_array_equal(make(k).check(dlbasic.tensor(x)).numpy(),
                                      make(c).check(torch.tensor(x)).numpy())
        assert repr(make(k)) == repr(make(c))
    mats = np.array([np.linalg.cholesky(COV), COV, [[1.0, 2.0, 0.0], [2.0, 1.0, 0.0],
                                                   [0.0, 0.0, 1.0]], -np.eye(3)])
    for name in ("lower_cholesky", "lower_triangular", "positive_definite", "symmetric",
                 "positive_semidefinite", "square"):
        np.testing.assert_array_equal(getattr(k, name).check(dlbasic.tensor(mats)).numpy(),
                                      getattr(c, name).check(torch.tensor(mats)).numpy(), name)
    p = np.array([[0.2, 0.8], [0.5, 0.6], [1.0, 0.0]])
    np.testing.assert_array_equal(k.simplex.check(dlbasic.tensor(p)).numpy(),
                                  c.simplex.check(torch.tensor(p)).numpy())
    assert k.is_dependent(dd.Uniform.support) and k.is_dependent(k.dependent)
    assert repr(dd.Uniform(0.0, 1.0).support) == repr(td.Uniform(0.0, 1.0).support)
    assert repr(dd.Categorical(dlbasic.ones(3)).support) == repr(td.Categorical(
        torch.ones(3)).support)


def test_repr_matches_torch():
    def build(T):
        D = T.distributions
        return [D.Normal(0.0, 1.0), D.Normal(T.zeros(3), T.ones(3)),
                D.Bernoulli(T.tensor([0.3])), D.Categorical(logits=T.zeros(2, 4)),
                D.Beta(T.ones(2), T.ones(2)), D.Gamma(T.tensor(2.0), T.tensor(1.0)),
                D.Uniform(0.0, 2.0), D.MultivariateNormal(T.zeros(2), scale_tril=T.eye(2)),
                D.Independent(D.Normal(T.zeros(2, 3), 1.0), 1),
                D.OneHotCategorical(T.ones(3) / 3)]
    for t, d in zip(build(torch), build(dlbasic)):
        assert repr(d) == repr(t).replace("torch.", "dlbasic.")


def test_enumerate_support_and_perplexity_match_torch():
    def build(T):
        D = T.distributions
        return [D.Bernoulli(T.tensor([0.3, 0.6])).enumerate_support(),
                D.Categorical(T.ones(2, 3)).enumerate_support(),
                D.Categorical(T.ones(2, 3)).enumerate_support(expand=False),
                D.Independent(D.Bernoulli(T.tensor([0.3])), 0).enumerate_support(),
                D.Normal(T.tensor([0.0, 1.0]), T.tensor([1.0, 3.0])).perplexity()]
    for t, d in zip(build(torch), build(dlbasic)):
        assert d.dtype.name == str(t.dtype).split(".")[-1]
        np.testing.assert_allclose(d.numpy(), t.numpy(), rtol=1e-6)
