"""torch.distributions: probability distributions with torch's API.

Each distribution is a small class composed from differentiable tensor ops, so log_prob,
entropy, kl_divergence and (where ``has_rsample``) rsample carry gradients to the
parameters.  Samples come from dlbasic's generator (``dlbasic.manual_seed`` makes them
reproducible); they are not the numbers torch draws.
"""
from . import constraints
from .bernoulli import Bernoulli
from .beta import Beta
from .categorical import Categorical
from .distribution import Distribution
from .exponential import Exponential
from .gamma import Gamma
from .independent import Independent
from .kl import kl_divergence, register_kl
from .laplace import Laplace
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .one_hot_categorical import OneHotCategorical
from .uniform import Uniform

__all__ = ["Bernoulli", "Beta", "Categorical", "Distribution", "Exponential", "Gamma",
           "Independent", "Laplace", "MultivariateNormal", "Normal", "OneHotCategorical",
           "Uniform", "constraints", "kl_divergence", "register_kl"]
