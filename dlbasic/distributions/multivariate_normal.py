"""MultivariateNormal(loc, covariance_matrix | precision_matrix | scale_tril).

Everything goes through the lower Cholesky factor L of the covariance (Sigma = L L^T):
  rsample  = loc + L eps,  eps ~ N(0, I)          (gradient to loc and to L, hence Sigma)
  log_prob = -(k log(2 pi) + |L^-1 (x - loc)|^2) / 2 - sum log diag L
  entropy  = k (1 + log(2 pi)) / 2 + sum log diag L
A precision matrix P gives L = (chol of P reversed)^-T reversed, the lower factor of P^-1
without inverting P.  All of it is composed from differentiable ops (cholesky,
solve_triangular), so gradients reach whichever matrix was given.
"""
import math

from .._creation import eye as _eye, randn as _randn
from .._tensor_base import Size
from ..linalg import cholesky as _cholesky, solve_triangular as _solve_triangular
from ..ops import movement as M
from . import constraints
from .distribution import Distribution
from .utils import broadcast_shapes, lazy_property

__all__ = ["MultivariateNormal"]


def _batch_mv(bmat, bvec):
    """Matrix-vector products over broadcast batch dims."""
    return (bmat @ bvec.unsqueeze(-1)).squeeze(-1)


def _batch_mahalanobis(bL, bx):
    """|L^-1 x|^2 over broadcast batch dims: one triangular solve, no inverse.  The leading
    dims of x that L lacks (the sample dims) become columns of one right-hand side, so L is
    not copied once per sample."""
    n = bx.shape[-1]
    k = bL.dim() - 2
    lead = bx.dim() - 1 - k
    if lead <= 0:
        batch = tuple(broadcast_shapes(bL.shape[:-2], bx.shape[:-1]))
        sol = _solve_triangular(bL.expand(batch + (n, n)), bx.expand(batch + (n,)).unsqueeze(-1),
                                upper=False)
        return sol.squeeze(-1).pow(2).sum(-1)
    sample = tuple(bx.shape[:lead])
    batch = tuple(broadcast_shapes(bL.shape[:-2], bx.shape[lead:-1]))
    L = bL.expand(batch + (n, n))
    x = bx.expand(sample + batch + (n,)).reshape((-1,) + batch + (n,))
    cols = x.permute(*range(1, k + 2), 0)                        # (*batch, n, S)
    m = _solve_triangular(L, cols, upper=False).pow(2).sum(-2)   # (*batch, S)
    return m.permute(k, *range(k)).reshape(sample + batch)


def _precision_to_scale_tril(P):
    """The lower Cholesky factor of P^-1: with J the reversal, J P J = Lf Lf^T gives
    P^-1 = (J Lf^-T J)(J Lf^-T J)^T, and J Lf^-T J is lower triangular."""
    Lf = _cholesky(M.flip(P, (-2, -1)))
    L_inv = M.flip(Lf, (-2, -1)).transpose(-2, -1)
    eye = _eye(P.shape[-1], dtype=P.dtype)
    return _solve_triangular(L_inv, eye, upper=False)


class MultivariateNormal(Distribution):
    arg_constraints = {"loc": constraints.real_vector,
                       "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite,
                       "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args=None):
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        if (covariance_matrix is not None) + (scale_tril is not None) + \
                (precision_matrix is not None) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or "
                             "scale_tril may be specified.")
        for name, m in (("scale_tril matrix", scale_tril),
                        ("covariance_matrix", covariance_matrix),
                        ("precision_matrix", precision_matrix)):
            if m is not None:
                if m.dim() < 2:
                    raise ValueError(f"{name} must be at least two-dimensional, with optional "
                                     "leading batch dimensions")
                batch_shape = broadcast_shapes(m.shape[:-2], loc.shape[:-1])
                expanded = m.expand(tuple(batch_shape) + tuple(m.shape[-2:]))
        if scale_tril is not None:
            self.scale_tril = expanded
        elif covariance_matrix is not None:
            self.covariance_matrix = expanded
        else:
            self.precision_matrix = expanded
        self.loc = loc.expand(tuple(batch_shape) + (loc.shape[-1],))
        event_shape = Size(tuple(self.loc.shape[-1:]))
        super().__init__(batch_shape, event_shape, validate_args=validate_args)
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = _cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(precision_matrix)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(MultivariateNormal, _instance)
        batch_shape = Size(tuple(batch_shape))
        loc_shape = tuple(batch_shape) + tuple(self.event_shape)
        cov_shape = loc_shape + tuple(self.event_shape)
        new.loc = self.loc.expand(loc_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                setattr(new, name, self.__dict__[name].expand(cov_shape))
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _full_shape(self, extra):
        return tuple(self._batch_shape) + tuple(self._event_shape) * extra

    @lazy_property
    def scale_tril(self):
        return self._unbroadcasted_scale_tril.expand(self._full_shape(2))

    @lazy_property
    def covariance_matrix(self):
        L = self._unbroadcasted_scale_tril
        return (L @ L.transpose(-2, -1)).expand(self._full_shape(2))

    @lazy_property
    def precision_matrix(self):
        L = self._unbroadcasted_scale_tril
        eye = _eye(L.shape[-1], dtype=L.dtype)
        L_inv = _solve_triangular(L, eye, upper=False)
        return (L_inv.transpose(-2, -1) @ L_inv).expand(self._full_shape(2))

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return self._unbroadcasted_scale_tril.pow(2).sum(-1).expand(self._full_shape(1))

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        eps = _randn(*shape, dtype=self.loc.dtype)
        return self.loc + _batch_mv(self._unbroadcasted_scale_tril, eps)

    def _half_log_det(self):
        return self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        m = _batch_mahalanobis(self._unbroadcasted_scale_tril, diff)
        k = self._event_shape[0]
        return -0.5 * (k * math.log(2 * math.pi) + m) - self._half_log_det()

    def entropy(self):
        k = self._event_shape[0]
        h = 0.5 * k * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return h if len(self._batch_shape) == 0 else h.expand(tuple(self._batch_shape))
