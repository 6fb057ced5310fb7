"""Laplace(loc, scale): density e^(-|x - loc| / scale) / (2 scale); rsample by inverting the
CDF at a uniform draw u in (-1, 1): loc - scale sgn(u) log(1 - |u|)."""
import math

import numpy as np

from .._creation import rand as _rand
from .._tensor_base import Size
from ..ops import elementwise as E
from . import constraints
from .distribution import Distribution

__all__ = ["Laplace"]


class Laplace(Distribution):
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True
    _elementwise_params = ("loc", "scale")

    def __init__(self, loc, scale, validate_args=None):
        self._init_elementwise((loc, scale), validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_elementwise(Laplace, batch_shape, _instance)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return 2 * self.scale.pow(2)

    @property
    def stddev(self):
        return math.sqrt(2) * self.scale

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        eps = float(np.finfo(self.loc._data.dtype).eps)
        u = _rand(*shape, dtype=self.loc.dtype) * (2 - eps) + (eps - 1)    # (-1, 1)
        return self.loc - self.scale * E.sign(u) * E.log1p(-u.abs())

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -E.log(2 * self.scale) - (value - self.loc).abs() / self.scale

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        d = value - self.loc
        return 0.5 - 0.5 * E.sign(d) * E.expm1(-d.abs() / self.scale)

    def icdf(self, value):
        term = value - 0.5
        return self.loc - self.scale * E.sign(term) * E.log1p(-2 * term.abs())

    def entropy(self):
        return 1 + E.log(2 * self.scale)
