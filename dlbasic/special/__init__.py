"""torch.special: the special functions under their scipy-style names.

Each is the same function as the top-level one (``dlbasic.special.gammaln is dlbasic.lgamma``
in effect); the computations live in ``dlbasic/ops/special.py`` and ``dlbasic/ops/_special.py``.
"""
from ..ops import elementwise as _E
from ..ops import reduction as _R
from ..ops import special as _S

__all__ = ["gammaln", "digamma", "psi", "polygamma", "gammainc", "gammaincc", "erf", "erfc",
           "erfinv", "expit", "expm1", "exp2", "log1p", "logsumexp"]


def gammaln(input, *, out=None):
    """torch.special.gammaln: log |Gamma(x)| (torch.lgamma)."""
    return _S.lgamma(input, out=out)


def digamma(input, *, out=None):
    """torch.special.digamma: psi(x) = d/dx log Gamma(x)."""
    return _S.digamma(input, out=out)


def psi(input, *, out=None):
    """torch.special.psi: another name of digamma."""
    return _S.digamma(input, out=out)


def polygamma(n, input, *, out=None):
    """torch.special.polygamma: the n-th derivative of digamma."""
    return _S.polygamma(n, input, out=out)


def gammainc(input, other, *, out=None):
    """torch.special.gammainc: the regularized lower incomplete gamma P(input, other)."""
    return _S.igamma(input, other, out=out)


def gammaincc(input, other, *, out=None):
    """torch.special.gammaincc: the regularized upper incomplete gamma Q(input, other)."""
    return _S.igammac(input, other, out=out)


def erfinv(input, *, out=None):
    """torch.special.erfinv: the inverse of erf."""
    return _S.erfinv(input, out=out)


def erf(input, *, out=None):
    return _E.erf(input, out=out)


def erfc(input, *, out=None):
    return _E.erfc(input, out=out)


def expit(input, *, out=None):
    """torch.special.expit: the logistic sigmoid 1/(1 + e^-x)."""
    return _E.sigmoid(input, out=out)


def expm1(input, *, out=None):
    return _E.expm1(input, out=out)


def exp2(input, *, out=None):
    r = _E.exp2(input)
    return _E._into(out, r) if out is not None else r


def log1p(input, *, out=None):
    return _E.log1p(input, out=out)


def logsumexp(input, dim, keepdim=False, *, out=None):
    r = _R.logsumexp(input, dim, keepdim)
    return _E._into(out, r) if out is not None else r
