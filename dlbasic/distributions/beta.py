"""Beta(concentration1 a, concentration0 b): density x^(a-1) (1-x)^(b-1) / B(a, b) on [0, 1].

rsample is X / (X + Y) with X ~ Gamma(a, 1), Y ~ Gamma(b, 1), both reparameterized
implicitly (``ops.special.StandardGamma``), so the gradient with respect to a and b is the
chain rule through the two gamma draws.  Its expectation is the exact gradient of E f(x);
per draw it differs from torch's, which differentiates the Beta quantile itself.
"""
import numpy as np

from .._tensor_base import Size
from ..ops import elementwise as E
from ..ops import special as S
from . import constraints
from .distribution import Distribution
from .gamma import _standard_gamma
from .utils import xlogy

__all__ = ["Beta"]


class Beta(Distribution):
    arg_constraints = {"concentration1": constraints.positive,
                       "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True
    _elementwise_params = ("_concentration1", "_concentration0")

    def __init__(self, concentration1, concentration0, validate_args=None):
        # kept private, as torch keeps them inside a Dirichlet: repr(Beta(...)) is "Beta()"
        self._init_elementwise((concentration1, concentration0), validate_args)

    @property
    def concentration1(self):
        return self._concentration1

    @property
    def concentration0(self):
        return self._concentration0

    def expand(self, batch_shape, _instance=None):
        return self._expand_elementwise(Beta, batch_shape, _instance)

    @property
    def mean(self):
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self):
        # (a-1)/(a+b-2) with a-1, b-1 clamped at 0; where both a, b < 1 the density is
        # U-shaped and torch reports the end x = 1
        a, b = self.concentration1, self.concentration0
        am1, bm1 = (a - 1).clamp(min=0), (b - 1).clamp(min=0)
        both_small = (a < 1) & (b < 1)
        inner = am1 / E.where(both_small, 1.0, am1 + bm1)
        return E.where(both_small, 1.0, inner)

    @property
    def variance(self):
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total.pow(2) * (total + 1))

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        x = _standard_gamma(self.concentration1.expand(shape))
        y = _standard_gamma(self.concentration0.expand(shape))
        value = x / (x + y)
        # as torch, keep draws inside (0, 1) so log_prob stays finite
        info = np.finfo(value._data.dtype)
        np.clip(value._data, info.tiny, 1 - info.eps, out=value._data)
        return value

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        a, b = self.concentration1, self.concentration0
        return xlogy(a - 1, value) + xlogy(b - 1, 1 - value) + S.lgamma(a + b) - \
            S.lgamma(a) - S.lgamma(b)

    def entropy(self):
        a, b = self.concentration1, self.concentration0
        total = a + b
        log_beta = S.lgamma(a) + S.lgamma(b) - S.lgamma(total)
        return log_beta + (total - 2) * S.digamma(total) - (a - 1) * S.digamma(a) - \
            (b - 1) * S.digamma(b)
