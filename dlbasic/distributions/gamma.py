"""Gamma(concentration a, rate b): density b^a x^(a-1) e^(-b x) / Gamma(a) on x > 0.

rsample draws x0 ~ Gamma(a, 1) with dlbasic's generator and returns x0 / b.  The gradient
with respect to a is the implicit reparameterization one (the draw moves with a at a fixed
quantile), computed by ``ops.special.StandardGamma``; with respect to b it is -x0 / b^2.
"""
import numpy as np

from .._random import _rng
from .._tensor_base import Size
from ..ops import elementwise as E
from ..ops import special as S
from . import constraints
from .distribution import Distribution
from .utils import xlogy

__all__ = ["Gamma"]


def _standard_gamma(concentration):
    """Gamma(concentration, 1) draws of concentration's shape, differentiable (torch's
    ``_standard_gamma``)."""
    return S.StandardGamma.apply(concentration, rng=_rng(None))


class Gamma(Distribution):
    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _mean_carrier_measure = 0
    _elementwise_params = ("concentration", "rate")

    def __init__(self, concentration, rate, validate_args=None):
        self._init_elementwise((concentration, rate), validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_elementwise(Gamma, batch_shape, _instance)

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        value = _standard_gamma(self.concentration.expand(shape)) / self.rate.expand(shape)
        # a draw that rounds to 0 after the division is lifted to the smallest normal number
        tiny = float(np.finfo(value._data.dtype).tiny)
        np.maximum(value._data, tiny, out=value._data)
        return value

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        a, b = self.concentration, self.rate
        return xlogy(a, b) + xlogy(a - 1, value) - b * value - S.lgamma(a)

    def entropy(self):
        a = self.concentration
        return a - E.log(self.rate) + S.lgamma(a) + (1.0 - a) * S.digamma(a)

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return S.igamma(self.concentration, self.rate * value)
