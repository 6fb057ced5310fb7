"""Normal(loc, scale): density exp(-(x - loc)^2 / (2 scale^2)) / (scale sqrt(2 pi)).

rsample is loc + scale * eps with eps ~ N(0, 1) drawn from dlbasic's generator, so the
gradient reaches loc (1) and scale (eps).
"""
import math

from .._creation import randn as _randn
from .._tensor_base import Size
from ..autograd.grad_mode import no_grad
from ..ops import elementwise as E
from ..ops import special as S
from . import constraints
from .distribution import Distribution

__all__ = ["Normal"]


class Normal(Distribution):
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True
    _mean_carrier_measure = 0
    _elementwise_params = ("loc", "scale")

    def __init__(self, loc, scale, validate_args=None):
        self._init_elementwise((loc, scale), validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_elementwise(Normal, batch_shape, _instance)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.stddev.pow(2)

    def sample(self, sample_shape=Size()):
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        eps = _randn(*shape, dtype=self.loc.dtype)
        return self.loc + eps * self.scale

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_scale = E.log(self.scale)
        return -((value - self.loc) ** 2) / (2 * self.scale ** 2) - log_scale - \
            math.log(math.sqrt(2 * math.pi))

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 * (1 + E.erf((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)))

    def icdf(self, value):
        return self.loc + self.scale * S.erfinv(2 * value - 1) * math.sqrt(2)

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + E.log(self.scale)
