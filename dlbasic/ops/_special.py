"""Special functions shared by the ops, each written once: ``sigmoid`` and ``softplus`` without
overflow, and the error function, vectorized and accurate in both tails (one ``erf`` and one
``erfc`` for ``torch.erf``, ``torch.erfc`` and ``F.gelu``).

sigmoid(z) = 1/(1+e^-z) keeps its digits where it is tiny (1 + e^-z is then e^-z to an ulp)
and is 0 where e^-z overflows; softplus(z) = log(1+e^z) = max(z, 0) + log1p(e^-|z|).

NumPy has no erf.  The usual short polynomial (Abramowitz & Stegun 7.1.26) has an *absolute*
error of 1.5e-7, which is no relative precision at all where erf(x) is close to -1:
gelu(x) = x * erfc(-x/sqrt 2) / 2 at x = -5 is 1.4e-6 and needs erfc itself, not 1 - erf.

float64 inputs take ``math.erf``/``math.erfc`` element by element (exact; the oracle).  Other
floating dtypes are computed in float64 from two smooth pieces and rounded once:
  |x| < 1/2:  erf x = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))   (Taylor, 8 terms)
  x >= 0:     erfc x = exp(-x^2) * erfcx(x),  erfcx(x) = g(t),  t = (x - K)/(x + K)
erfcx = e^(x^2) erfc x falls smoothly from 1 to 0 (like 1/(x sqrt pi)), so g is smooth on
[-1, 1] and a Chebyshev interpolant of degree 20 reproduces it to 1e-10 relative, far below
float32's 6e-8.  It is fitted once, at import, to ``math.erfc`` (and erfcx's asymptotic series
where erfc underflows) at 21 Chebyshev points.  Negative x use erfc(-x) = 2 - erfc(x), and
erf = 1 - erfc for |x| >= 1/2.  The float64 passes run block by block (cache-sized, on every
thread), since there are some 70 of them.
"""
import math

import numpy as np
from numpy.polynomial import chebyshev

from .._parallel import for_blocks
from ._util import quiet

__all__ = ["sigmoid", "softplus", "erf", "erfc", "ndtr"]


@quiet
def sigmoid(z):
    """1/(1+e^-z), elementwise, in z's dtype: within an ulp or two everywhere, 0 (not a
    warning) where e^-z overflows."""
    z = np.asarray(z)
    e = np.negative(z, out=np.empty(z.shape, z.dtype))    # out=: a 0-d input stays an array
    np.exp(e, out=e)                    # in place: no temporaries beyond the result
    e += 1
    return np.reciprocal(e, out=e)


def softplus(z):
    """log(1 + e^z) without overflow: max(z, 0) + log1p(e^-|z|)."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


_K = 3.0            # the map's scale: t = (x - K)/(x + K) puts half the points in [0, K]
_DEGREE = 20


def _erfcx_scalar(x):
    """e^(x^2) erfc(x) for x >= 0; the asymptotic series where erfc(x) underflows."""
    if x < 25.0:
        return math.exp(x * x) * math.erfc(x)
    # 1/(x sqrt pi) * (1 - 1/(2x^2) + 3/(2x^2)^2 - 15/(2x^2)^3 + ...): at x >= 25 the terms
    # fall by 1/1250 each, so five of them reach double precision
    u = 1.0 / (2.0 * x * x)
    s, term = 1.0, 1.0
    for k in range(1, 6):
        term *= -(2 * k - 1) * u
        s += term
    return s / (x * math.sqrt(math.pi))


def _g(t):
    """erfcx at x = K (1 + t)/(1 - t); t = 1 is x = infinity, where erfcx is 0."""
    return np.array([0.0 if ti >= 1.0 else _erfcx_scalar(_K * (1 + ti) / (1 - ti))
                     for ti in np.atleast_1d(t)])


_COEF = chebyshev.chebinterpolate(_g, _DEGREE)
# Taylor coefficients of erf(x)/x in x^2: 2/sqrt(pi) (-1)^n / (n! (2n+1)), highest first
_TAYLOR = [2 / math.sqrt(math.pi) * (-1) ** n / (math.factorial(n) * (2 * n + 1))
           for n in reversed(range(8))]


def _erfc_nonneg(a):
    """erfc of float64 a >= 0 (Clenshaw's recurrence for the Chebyshev series)."""
    t = (a - _K) / (a + _K)
    t[np.isinf(a)] = 1.0
    t2 = 2 * t
    b1 = np.zeros_like(a)
    b2 = np.zeros_like(a)
    for c in _COEF[:0:-1]:
        b0 = t2 * b1
        b0 -= b2
        b0 += c
        b1, b2 = b0, b1
    s = t * b1
    s -= b2
    s += _COEF[0]
    return np.exp(-a * a) * s + 0.0        # + 0.0: erfc(inf) is 0, not -0


def _erf_small(x):
    """erf of float64 |x| < 1/2, by Horner in x^2."""
    x2 = x * x
    s = np.full_like(x, _TAYLOR[0])
    for c in _TAYLOR[1:]:
        s *= x2
        s += c
    return s * x


def _erfc64(z):
    c = _erfc_nonneg(np.abs(z))
    return np.where(z < 0, 2.0 - c, c)


def _erf64(z):
    a = np.abs(z)
    big = np.copysign(1.0 - _erfc_nonneg(a), z)
    return np.where(a < 0.5, _erf_small(z), big)


def _elementwise(x, exact, series):
    x = np.asarray(x)
    if x.dtype == np.float64:
        flat = x.ravel()
        out = np.fromiter(map(exact, flat.tolist()), dtype=np.float64, count=flat.size)
        return out.reshape(x.shape)
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty(flat.shape, x.dtype)

    def block(rows):
        with np.errstate(invalid="ignore", over="ignore"):
            out[rows] = series(flat[rows].astype(np.float64))

    for_blocks(block, flat.size, 64)       # ~64 bytes of float64 temporaries per element
    return out.reshape(x.shape)


def erfc(x):
    """erfc, elementwise, in ``x``'s floating dtype."""
    return _elementwise(x, math.erfc, _erfc64)


def erf(x):
    """erf, elementwise, in ``x``'s floating dtype."""
    return _elementwise(x, math.erf, _erf64)


_MINUS_SQRT_HALF = -math.sqrt(0.5)


def ndtr(x):
    """The standard normal CDF Phi(x) = erfc(-x/sqrt 2)/2, in ``x``'s floating dtype.  The
    division by sqrt 2 is done in float64: rounded to float32 it would cost erfc 2z^2 ulps of
    relative error (1.5e-6 at x = -5)."""
    return _elementwise(x, lambda v: 0.5 * math.erfc(v * _MINUS_SQRT_HALF),
                        lambda z: 0.5 * _erfc64(z * _MINUS_SQRT_HALF))
