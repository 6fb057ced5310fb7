"""Exponential(rate): density rate e^(-rate x) on x >= 0; rsample = -log(1 - u) / rate."""
from .._creation import rand as _rand
from .._tensor_base import Size
from ..ops import elementwise as E
from . import constraints
from .distribution import Distribution

__all__ = ["Exponential"]


class Exponential(Distribution):
    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _elementwise_params = ("rate",)

    def __init__(self, rate, validate_args=None):
        self._init_elementwise((rate,), validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_elementwise(Exponential, batch_shape, _instance)

    @property
    def mean(self):
        return self.rate.reciprocal()

    @property
    def mode(self):
        return E.mul(self.rate, 0.0)

    @property
    def stddev(self):
        return self.rate.reciprocal()

    @property
    def variance(self):
        return self.rate.pow(-2)

    def rsample(self, sample_shape=Size()):
        u = _rand(*self._extended_shape(sample_shape), dtype=self.rate.dtype)
        return -E.log1p(-u) / self.rate          # u in [0, 1): log1p(-u) is finite

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return E.log(self.rate) - self.rate * value

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 1 - E.exp(-self.rate * value)

    def icdf(self, value):
        return -E.log1p(-value) / self.rate

    def entropy(self):
        return 1.0 - E.log(self.rate)
