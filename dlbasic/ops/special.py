"""Special functions of torch and torch.special: lgamma, digamma, polygamma, erfinv, the
regularized incomplete gamma functions igamma/igammac, and the gamma sampler with its
implicit reparameterization gradient (torch._standard_gamma).

NumPy has none of them and scipy is not a dependency, so each is computed here, vectorized,
in float64 (other dtypes are rounded once at the end).  Against mpmath, for x > 0 the
float64 results are within ~2e-15 relative, except near the zero of digamma (x = 1.4616),
where the error is ~1e-16 absolute; for x < 0 the reflection's sin(pi x) costs digits near
the poles and zeros (~1e-11 relative at worst).

lgamma(x) = log |Gamma(x)|, in three regimes for x > 0:
  x >= 10:        Stirling: (x - 1/2) log x - x + log(2 pi)/2 + sum_k B_2k / (2k (2k-1) x^(2k-1))
  |x - 2| <= 1/2: lgamma(2 + z) = (1 - gamma) z + sum_{k>=2} (-1)^k (zeta(k) - 1) z^k / k,
                  which keeps full relative precision at the zeros x = 1 and x = 2
  otherwise:      Gamma(x + 1) = x Gamma(x) moves x into [3/2, 5/2]
and the reflection Gamma(x) Gamma(1 - x) = pi / sin(pi x) for x <= 0.
digamma = lgamma' and polygamma(n, .) = digamma^(n): the recurrence
psi^(n)(x) = psi^(n)(x + 1) - (-1)^n n! / x^(n+1) moves x up to >= 10 + n, where the
asymptotic series (with the Bernoulli numbers B_2k) converges fast; x < 0 uses the reflection
psi(1 - x) - psi(x) = pi cot(pi x), differentiated n times for polygamma.
"""
import math

import numpy as np

from .._tensor_base import TensorBase
from ..autograd.function import Op
from . import _flops, _special
from ._util import promote, quiet
from .elementwise import _float_input, _into

__all__ = ["lgamma", "digamma", "polygamma", "erfinv", "igamma", "igammac"]

# B_2, B_4, ..., B_20
_BERNOULLI = [1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510,
              43867 / 798, -174611 / 330]
_EULER_GAMMA = 0.57721566490153286061


def _zeta_minus_one(k, n=10):
    """zeta(k) - 1 = sum_{m >= 2} m^-k: the first terms exactly, the tail from m = n by
    Euler-Maclaurin (integral, half the first term, and Bernoulli corrections)."""
    head = math.fsum(m ** -float(k) for m in range(2, n))
    tail = n ** (1.0 - k) / (k - 1) + 0.5 * n ** -float(k)
    rising = k                                  # k (k+1) ... (k + 2j - 2)
    for j, b in enumerate(_BERNOULLI[:6], start=1):
        tail += b / math.factorial(2 * j) * rising * n ** (-k - 2.0 * j + 1)
        rising *= (k + 2 * j - 1) * (k + 2 * j)
    return head + tail


# Taylor coefficients of lgamma(2 + z), highest power first (for Horner), |z| <= 1/2: the
# terms fall like 4^-k, so 28 of them reach double precision
_LGAMMA2 = [(-1) ** k * _zeta_minus_one(k) / k for k in range(28, 1, -1)] + \
           [1 - _EULER_GAMMA, 0.0]


def _horner(coef, z):
    out = np.full_like(z, coef[0])
    for c in coef[1:]:
        out *= z
        out += c
    return out


def _sinpi_abs(x):
    """|sin(pi x)| with an exact argument reduction (x - 2 round(x/2) is exact)."""
    r = np.abs(x - 2.0 * np.round(x / 2.0))
    r = np.where(r > 0.5, 1.0 - r, r)
    return np.sin(np.pi * r)


def _tanpi(x):
    return np.tan(np.pi * (x - np.round(x)))


@quiet
def _lgamma_pos(x):
    """lgamma for x > 0 (float64 array)."""
    out = np.empty_like(x)
    big = x >= 10
    xb = x[big]
    s = 1.0 / (xb * xb)
    corr = _horner([b / (2 * k * (2 * k - 1)) for k, b in reversed(list(enumerate(
        _BERNOULLI[:8], start=1)))], s) / xb
    out[big] = (xb - 0.5) * np.log(xb) - xb + 0.5 * math.log(2 * math.pi) + corr
    # 2.5 < x < 10: down to [1.5, 2.5] with lgamma(x) = lgamma(x - n) + log((x-1)...(x-n))
    mid = (x > 2.5) & ~big
    xm = x[mid]
    prod = np.ones_like(xm)
    for _ in range(8):
        hi = xm > 2.5
        xm = np.where(hi, xm - 1, xm)
        prod = np.where(hi, prod * xm, prod)
    out[mid] = _horner(_LGAMMA2, xm - 2.0) + np.log(prod)
    # [1.5, 2.5]: the series; (0.5, 1.5): lgamma(x) = lgamma(x + 1) - log x, with
    # log x = log1p(x - 1) (x - 1 is exact here); (0, 0.5]: two steps up
    near = (x >= 1.5) & (x <= 2.5)
    out[near] = _horner(_LGAMMA2, x[near] - 2.0)
    one = (x >= 0.5) & (x < 1.5)
    x1 = x[one]
    out[one] = _horner(_LGAMMA2, x1 - 1.0) - np.log1p(x1 - 1.0)
    tiny = x < 0.5
    x0 = x[tiny]
    out[tiny] = _horner(_LGAMMA2, x0) - np.log(x0) - np.log1p(x0)
    return out


@quiet
def lgamma_np(x):
    """log |Gamma(x)| elementwise, in x's floating dtype (computed in float64)."""
    x = np.asarray(x)
    dt = x.dtype
    a = x.astype(np.float64).reshape(-1)
    out = np.full(a.shape, np.inf)               # poles and +-inf
    out[np.isnan(a)] = np.nan
    pos = (a > 0) & np.isfinite(a)
    out[pos] = _lgamma_pos(a[pos])
    neg = (a < 0) & np.isfinite(a) & (a != np.floor(a))
    an = a[neg]
    out[neg] = math.log(math.pi) - np.log(_sinpi_abs(an)) - _lgamma_pos(1.0 - an)
    return out.reshape(x.shape).astype(dt, copy=False)


def _recurrence_up(x, n, threshold):
    """(x moved up to >= threshold, sum_k (x + k)^-(n+1) over the steps taken)."""
    x = x.copy()
    acc = np.zeros_like(x)
    steps = int(np.ceil(threshold - x.min())) if x.size else 0
    for _ in range(max(steps, 0)):
        low = x < threshold
        if not low.any():
            break
        acc[low] += x[low] ** -(n + 1.0)
        x[low] += 1.0
    return x, acc


@quiet
def _digamma_pos(x):
    """psi(x) for x > 0: up to x >= 10, then log x - 1/(2x) - sum_k B_2k / (2k x^2k)."""
    y, acc = _recurrence_up(x, 0, 10.0)
    s = 1.0 / (y * y)
    series = _horner([b / (2 * k) for k, b in reversed(list(enumerate(_BERNOULLI[:9], 1)))],
                     s) * s
    return np.log(y) - 0.5 / y - series - acc


@quiet
def digamma_np(x):
    """psi(x) = d lgamma / dx elementwise; -inf at +0 (+inf at -0), NaN at the negative
    integers and at -inf, as torch."""
    x = np.asarray(x)
    dt = x.dtype
    a = x.astype(np.float64).reshape(-1)
    out = np.full(a.shape, np.nan)
    out[a == np.inf] = np.inf
    zero = a == 0
    out[zero] = np.copysign(np.inf, -a[zero])
    pos = (a > 0) & np.isfinite(a)
    out[pos] = _digamma_pos(a[pos])
    neg = (a < 0) & np.isfinite(a) & (a != np.floor(a))
    an = a[neg]
    out[neg] = _digamma_pos(1.0 - an) - np.pi / _tanpi(an)
    return out.reshape(x.shape).astype(dt, copy=False)


@quiet
def _polygamma_up(x, n):
    """psi^(n)(x), n >= 1, by the recurrence (any x off the poles) and, at x >= 10 + n,
    (-1)^(n+1) [(n-1)!/x^n + n!/(2 x^(n+1)) + sum_k B_2k (2k+n-1)! / ((2k)! x^(2k+n))]."""
    threshold = 10.0 + n
    y, acc = _recurrence_up(x, n, threshold)
    s = 1.0 / (y * y)
    coef = [b * math.factorial(2 * k + n - 1) / math.factorial(2 * k)
            for k, b in enumerate(_BERNOULLI, start=1)]
    series = _horner(coef[::-1], s) * s
    asym = (math.factorial(n - 1) + 0.5 * n * math.factorial(n - 1) / y + series) / y ** n
    return (-1.0) ** (n + 1) * (asym + math.factorial(n) * acc)


@quiet
def polygamma_np(n, x):
    """psi^(n)(x) elementwise (n = 0: digamma); at the poles x = 0, -1, ... the sign of
    (-1)^(n+1) times infinity."""
    if n == 0:
        return digamma_np(x)
    x = np.asarray(x)
    dt = x.dtype
    a = x.astype(np.float64).reshape(-1)
    out = np.full(a.shape, np.nan)
    out[a == np.inf] = 0.0
    pole = (a <= 0) & (a == np.floor(a))
    out[pole] = (-1.0) ** (n + 1) * np.inf
    ok = np.isfinite(a) & ~pole
    pos, neg = ok & (a > 0), ok & (a < 0)
    out[pos] = _polygamma_up(a[pos], n)
    an = a[neg]
    if n == 1:
        # psi1(x) = pi^2 / sin^2(pi x) - psi1(1 - x)
        out[neg] = (np.pi / _sinpi_abs(an)) ** 2 - _polygamma_up(1.0 - an, 1)
    else:
        out[neg] = (-1.0) ** n * _polygamma_up(1.0 - an, n) - \
            np.pi ** (n + 1) * _cot_derivative(n)(1.0 / _tanpi(an))
    return out.reshape(x.shape).astype(dt, copy=False)


def _cot_derivative(n):
    """P_n with d^n/dz^n cot z = P_n(cot z): P_0(c) = c, P_(k+1) = P_k'(c) * -(1 + c^2).
    The reflection psi(1 - x) - psi(x) = pi cot(pi x), differentiated n times, gives
    psi^(n)(x) = (-1)^n psi^(n)(1 - x) - pi^(n+1) P_n(cot(pi x)) for x < 0."""
    p = np.polynomial.Polynomial([0.0, 1.0])
    for _ in range(n):
        p = p.deriv() * np.polynomial.Polynomial([-1.0, 0.0, -1.0])
    return p


_WINITZKI_A = 0.147


@quiet
def erfinv_np(x):
    """erf^-1(x) for |x| < 1 (+-inf at +-1, NaN beyond): Winitzki's closed-form guess
    (relative error ~2e-3), then Newton steps on erfc(y) = 1 - |x|, which is exact
    arithmetic near |x| = 1 where erf(y) - x would cancel."""
    x = np.asarray(x)
    dt = x.dtype
    a = np.abs(x.astype(np.float64))
    c = 1.0 - a                                  # exact for |x| >= 1/2
    lg = np.log(c * (1.0 + a))
    t = 2 / (np.pi * _WINITZKI_A) + lg / 2
    y = np.sqrt(np.sqrt(t * t - lg / _WINITZKI_A) - t)
    inside = (a < 1) & (a > 0)
    yi, ai, ci = y[inside], a[inside], c[inside]
    for _ in range(4):
        # f = erf(y) - a = c - erfc(y); f' = 2/sqrt(pi) e^-y^2; erfc keeps c's digits
        f = np.where(ai < 0.5, _special.erf(yi) - ai, ci - _special.erfc(yi))
        yi = yi - f / (2 / math.sqrt(math.pi) * np.exp(-yi * yi))
    y[inside] = yi
    y[a == 0] = 0.0
    y[a == 1] = np.inf
    y[a > 1] = np.nan
    return (np.sign(x) * y).astype(dt, copy=False)


@quiet
def _igamma_pair(a, x):
    """(P(a, x), Q(a, x)), the regularized incomplete gamma functions, for a > 0, x > 0
    finite (float64 arrays of one shape).

    x < a + 1: the series P = x^a e^-x / Gamma(a + 1) * sum_n x^n / ((a+1) ... (a+n));
    otherwise the continued fraction Q = x^a e^-x / Gamma(a) * 1/(x+1-a- 1(1-a)/(x+3-a- ...)),
    evaluated by the modified Lentz method.  The prefactor is exp(a log x - x - lgamma(.)):
    its rounding grows with a log x (~1e-10 relative at a = 1e6)."""
    p, q = np.empty_like(a), np.empty_like(a)
    ser = x < a + 1
    a_s, x_s = a[ser], x[ser]
    term = np.ones_like(a_s)
    total = np.ones_like(a_s)
    active = np.ones(a_s.shape, dtype=bool)
    n = 0
    while active.any():
        n += 1
        term = np.where(active, term * x_s / (a_s + n), 0.0)
        total += term
        active &= term > 1e-17 * total
    p_s = np.exp(a_s * np.log(x_s) - x_s - _lgamma_pos(a_s + 1.0)) * total
    p[ser], q[ser] = p_s, 1.0 - p_s
    a_c, x_c = a[~ser], x[~ser]
    tiny = 1e-300
    b = x_c + 1.0 - a_c
    c = np.full_like(b, 1.0 / tiny)
    d = 1.0 / b
    h = d.copy()
    active = np.ones(b.shape, dtype=bool)
    i = 0
    while active.any():
        i += 1
        an = -i * (i - a_c)
        b = b + 2.0
        d = an * d + b
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = b + an / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        delta = np.where(active, d * c, 1.0)
        h *= delta
        active &= np.abs(delta - 1.0) > 1e-16
    q_c = np.exp(a_c * np.log(x_c) - x_c - _lgamma_pos(a_c)) * h
    p[~ser], q[~ser] = 1.0 - q_c, q_c
    return p, q


@quiet
def igamma_np(a, x, upper=False):
    """P(a, x) (``upper``: Q(a, x) = 1 - P) elementwise, broadcast, with torch's values at the
    edges: NaN for a < 0, x < 0 or a = x = 0; P(0, x > 0) = 1, P(a, 0) = 0, P(a, inf) = 1,
    P(inf, x) = 0."""
    dt = np.result_type(a, x)
    shape = np.broadcast(a, x).shape
    a, x = (v.reshape(-1) for v in np.broadcast_arrays(np.asarray(a, np.float64),
                                                       np.asarray(x, np.float64)))
    p = np.full(a.shape, np.nan)
    ok = (a >= 0) & (x >= 0) & ~((a == 0) & (x == 0))
    p[ok & (a == 0)] = 1.0
    p[ok & (x == 0) & (a > 0)] = 0.0
    p[ok & np.isposinf(x) & np.isfinite(a) & (a > 0)] = 1.0
    p[ok & np.isposinf(a) & np.isfinite(x)] = 0.0
    inner = ok & (a > 0) & (x > 0) & np.isfinite(a) & np.isfinite(x)
    P, Q = _igamma_pair(a[inner], x[inner])
    q = 1.0 - p
    p[inner], q[inner] = P, Q
    return (q if upper else p).reshape(shape).astype(dt, copy=False)


# -- ops --------------------------------------------------------------------------------------

class Lgamma(Op):
    """y = log |Gamma(x)|; dy/dx = digamma(x)."""
    _saved_attrs = ("x",)
    flops = _flops.transcendental(1)

    def forward(self, x):
        self.x = x
        return lgamma_np(x)

    def backward(self, g):
        return g * digamma_np(self.x)


class Digamma(Op):
    """y = psi(x) = d lgamma(x)/dx; dy/dx = polygamma(1, x) (the trigamma function)."""
    _saved_attrs = ("x",)
    flops = _flops.transcendental(1)

    def forward(self, x):
        self.x = x
        return digamma_np(x)

    def backward(self, g):
        return g * polygamma_np(1, self.x)


class Polygamma(Op):
    """y = psi^(n)(x), the n-th derivative of digamma; dy/dx = psi^(n+1)(x)."""
    _saved_attrs = ("x",)
    flops = _flops.transcendental(1)

    def forward(self, x, n):
        self.x, self.n = x, n
        return polygamma_np(n, x)

    def backward(self, g):
        return g * polygamma_np(self.n + 1, self.x)


class Erfinv(Op):
    """y = erf^-1(x); dy/dx = sqrt(pi)/2 e^(y^2)."""
    _saved_attrs = ("y",)
    _saves = ()
    _saves_output = True
    flops = _flops.transcendental(2)

    def forward(self, x):
        self.y = erfinv_np(x)
        return self.y

    @quiet
    def backward(self, g):
        y = self.y
        return g * (math.sqrt(math.pi) / 2 * np.exp(y * y)).astype(y.dtype, copy=False)


class Igamma(Op):
    """y = P(a, x), the regularized lower incomplete gamma function; dy/dx = x^(a-1) e^-x /
    Gamma(a).  dy/da is not implemented (as in torch)."""
    _saved_attrs = ("a", "x")
    _upper = False
    flops = _flops.transcendental(4)

    def forward(self, a, x):
        self.a, self.x = a, x
        return igamma_np(a, x, self._upper)

    @quiet
    def backward(self, g):
        if self.needs_input_grad[0]:
            name = "igammac" if self._upper else "igamma"
            raise NotImplementedError(f"the derivative for '{name}: input' is not implemented.")
        a, x = np.asarray(self.a, np.float64), np.asarray(self.x, np.float64)
        density = np.exp((a - 1) * np.log(x) - x - lgamma_np(a))
        return None, (-g if self._upper else g) * density.astype(g.dtype, copy=False)


class Igammac(Igamma):
    """y = Q(a, x) = 1 - P(a, x), the upper one; dy/dx = -x^(a-1) e^-x / Gamma(a)."""
    _upper = True


def _igamma_args(input, other, name):
    return promote(_float_input(input, name), _float_input(other, name), name)


def igamma(input, other, *, out=None):
    """torch.igamma (torch.special.gammainc): the regularized lower incomplete gamma
    function P(input, other)."""
    r = Igamma.apply(*_igamma_args(input, other, "igamma"))
    return _into(out, r) if out is not None else r


def igammac(input, other, *, out=None):
    """torch.igammac (torch.special.gammaincc): Q(input, other) = 1 - P(input, other)."""
    r = Igammac.apply(*_igamma_args(input, other, "igammac"))
    return _into(out, r) if out is not None else r


def lgamma(input, *, out=None):
    """torch.lgamma: log |Gamma(x)|; its gradient is digamma."""
    r = Lgamma.apply(_float_input(input, "lgamma"))
    return _into(out, r) if out is not None else r


def digamma(input, *, out=None):
    """torch.digamma: psi(x) = Gamma'(x) / Gamma(x); its gradient is polygamma(1, x)."""
    r = Digamma.apply(_float_input(input, "digamma"))
    return _into(out, r) if out is not None else r


def polygamma(n, input, *, out=None):
    """torch.polygamma: the n-th derivative of digamma (n = 0 is digamma itself)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"polygamma(): argument 'n' (position 1) must be int, not "
                        f"{type(n).__name__}")
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    x = _float_input(input, "polygamma")
    r = Digamma.apply(x) if n == 0 else Polygamma.apply(x, n=int(n))
    return _into(out, r) if out is not None else r


def erfinv(input, *, out=None):
    """torch.erfinv: the inverse of erf on (-1, 1)."""
    r = Erfinv.apply(_float_input(input, "erfinv"))
    return _into(out, r) if out is not None else r


# -- gamma samples and their gradient ---------------------------------------------------------

_WH_ALPHA = 1000.0      # above this concentration the Wilson-Hilferty form is used


@quiet
def standard_gamma_grad_np(alpha, x):
    """d x / d alpha for a sample x ~ Gamma(alpha, 1) held at its quantile u = P(alpha, x)
    (implicit reparameterization: dx/dalpha = -(dP/dalpha) / p(x; alpha)).

    With the series P(alpha, x) = sum_n x^(alpha+n) e^-x / Gamma(alpha + n + 1), whose
    alpha-derivative brings down log x - psi(alpha + n + 1) in each term, and p = x^(alpha-1)
    e^-x / Gamma(alpha):

        dx/dalpha = -(x / alpha) sum_{n>=0} r_n (log x - psi(alpha + n + 1)),
        r_0 = 1,  r_n = r_{n-1} x / (alpha + n)

    exact up to rounding (no exponentials, so nothing overflows), with about x - alpha +
    12 sqrt(x) terms.  The sum cancels where P is near 1, losing about -log10(1 - P) digits
    (1 - P = 1e-6: still ~1e-10 relative).  Approximation: for alpha > 1000 the
    Wilson-Hilferty form x = alpha (1 - 1/(9 alpha) + z / (3 sqrt alpha))^3 is differentiated
    at fixed z instead (relative error < 1e-5 there).  x = 0 (an underflowed sample) has
    gradient 0."""
    dt = np.result_type(alpha, x)
    shape = np.broadcast(alpha, x).shape
    a, x = np.broadcast_arrays(np.asarray(alpha, np.float64), np.asarray(x, np.float64))
    a, x = a.reshape(-1), x.reshape(-1)
    out = np.zeros(a.shape)
    big = (a > _WH_ALPHA) & (x > 0)
    ab, xb = a[big], x[big]
    c = np.cbrt(xb / ab)
    z = 3 * np.sqrt(ab) * (c - 1 + 1 / (9 * ab))
    out[big] = c ** 3 + 3 * ab * c * c * (1 / (9 * ab * ab) - z / (6 * ab ** 1.5))
    ser = (x > 0) & ~big & np.isfinite(x)
    a_s, x_s = a[ser], x[ser]
    if a_s.size:
        logx = np.log(x_s)
        psi = _digamma_pos(a_s + 1.0)
        r = np.ones_like(x_s)
        total = logx - psi
        n_terms = int(np.max(x_s - a_s, initial=0) + 12 * np.sqrt(np.max(x_s)) + 40)
        for n in range(1, n_terms):
            r *= x_s / (a_s + n)
            psi += 1.0 / (a_s + n)
            total += r * (logx - psi)
        out[ser] = -(x_s / a_s) * total
    return out.reshape(shape).astype(dt, copy=False)


class StandardGamma(Op):
    """x ~ Gamma(alpha, 1), drawn by the forward from ``rng``; dx/dalpha is the implicit
    reparameterization gradient ``standard_gamma_grad_np`` (the sample moves with alpha at a
    fixed quantile)."""
    _saved_attrs = ("alpha", "x")
    _saves = (0,)                 # backward reads alpha's buffer
    flops = _flops.transcendental(4)

    def forward(self, alpha, rng):
        x = rng.standard_gamma(alpha.astype(np.float64))
        # as torch, a sample never underflows to 0 (log_prob of it would be -inf)
        x = np.maximum(x, np.finfo(alpha.dtype).tiny).astype(alpha.dtype)
        self.alpha, self.x = alpha, x
        return x

    def backward(self, g):
        return g * standard_gamma_grad_np(self.alpha, self.x)


def standard_gamma_grad(input, output):
    """torch._standard_gamma_grad: d output / d input for output ~ Gamma(input, 1)."""
    return TensorBase._make(standard_gamma_grad_np(input._data, output._data))
