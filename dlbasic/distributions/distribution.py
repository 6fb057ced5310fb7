"""The Distribution base class (torch.distributions.Distribution).

A distribution has a ``batch_shape`` (independent, differently parameterized copies) and an
``event_shape`` (the shape of one draw); a sample of ``sample_shape`` has shape
``sample_shape + batch_shape + event_shape`` and ``log_prob`` of it has shape
``sample_shape + batch_shape``.  With ``validate_args`` (the default, as torch) the
parameters are checked against ``arg_constraints`` when the distribution is made and every
value given to ``log_prob``/``cdf`` against ``support``, raising ValueError with torch's
wording.
"""
import numbers
import warnings

import numpy as np

from .._tensor_base import TensorBase, Size
from ..autograd.grad_mode import no_grad
from ..ops import elementwise as E
from . import constraints
from .constraints import _fmt
from .utils import broadcast_all, lazy_property

__all__ = ["Distribution"]


def _as_size(shape):
    if isinstance(shape, Size):
        return shape
    if isinstance(shape, int):
        return Size((shape,))
    return Size(tuple(shape))


def _all_true(mask):
    return bool(np.all(mask._data)) if isinstance(mask, TensorBase) else bool(mask)


def _shape_str(value):
    return str(tuple(value.shape))


class Distribution:
    """Abstract base: batch_shape, event_shape, sample/rsample, log_prob, entropy, moments."""
    has_rsample = False
    has_enumerate_support = False
    _validate_args = True            # torch: __debug__, True unless python -O

    @staticmethod
    def set_default_validate_args(value):
        """Turn argument and sample validation on or off for every distribution."""
        if value not in [True, False]:
            raise ValueError
        Distribution._validate_args = value

    def __init__(self, batch_shape=Size(), event_shape=Size(), validate_args=None):
        self._batch_shape = _as_size(batch_shape)
        self._event_shape = _as_size(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            try:
                arg_constraints = self.arg_constraints
            except NotImplementedError:
                arg_constraints = {}
                warnings.warn(f"{self.__class__} does not define `arg_constraints`. Please set "
                              "`arg_constraints = {}` or initialize the distribution with "
                              "`validate_args=False` to turn off validation.", stacklevel=2)
            for param, constraint in arg_constraints.items():
                if constraints.is_dependent(constraint):
                    continue
                if param not in self.__dict__ and isinstance(getattr(type(self), param, None),
                                                             lazy_property):
                    continue            # a lazily derived parameter is valid if its source is
                value = getattr(self, param)
                if not _all_true(constraint.check(value)):
                    raise ValueError(
                        f"Expected parameter {param} ({type(value).__name__} of shape "
                        f"{_shape_str(value)}) of distribution {self!r} to satisfy the "
                        f"constraint {constraint!r}, but found invalid values:\n{_fmt(value)}")

    def expand(self, batch_shape, _instance=None):
        """A copy with the parameters expanded (not copied) to ``batch_shape``."""
        raise NotImplementedError

    @property
    def batch_shape(self):
        return self._batch_shape

    @property
    def event_shape(self):
        return self._event_shape

    @property
    def arg_constraints(self):
        raise NotImplementedError

    @property
    def support(self):
        raise NotImplementedError

    @property
    def mean(self):
        raise NotImplementedError

    @property
    def mode(self):
        raise NotImplementedError(f"{self.__class__} does not implement mode")

    @property
    def variance(self):
        raise NotImplementedError

    @property
    def stddev(self):
        return self.variance.sqrt()

    def sample(self, sample_shape=Size()):
        """A draw of shape ``sample_shape + batch_shape + event_shape``, outside the graph."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=Size()):
        """A reparameterized draw: differentiable with respect to the parameters."""
        raise NotImplementedError

    def sample_n(self, n):
        warnings.warn("`sample_n(n)` will be deprecated. Use `sample((n,))` instead.",
                      FutureWarning, stacklevel=2)
        return self.sample(Size((n,)))

    def log_prob(self, value):
        raise NotImplementedError

    def cdf(self, value):
        raise NotImplementedError

    def icdf(self, value):
        raise NotImplementedError

    def enumerate_support(self, expand=True):
        raise NotImplementedError

    def entropy(self):
        raise NotImplementedError

    def perplexity(self):
        return E.exp(self.entropy())

    def _extended_shape(self, sample_shape=Size()):
        return Size(tuple(_as_size(sample_shape)) + tuple(self._batch_shape) +
                    tuple(self._event_shape))

    def _validate_sample(self, value):
        """The rightmost dims of ``value`` match the event shape and broadcast with the batch
        shape, and every entry lies in the support."""
        if not isinstance(value, TensorBase):
            raise ValueError("The value argument to log_prob must be a Tensor")
        start = value.dim() - len(self._event_shape)
        if tuple(value.shape[start:]) != tuple(self._event_shape):
            raise ValueError(f"The right-most size of value must match event_shape: "
                             f"{value.size()!r} vs {self._event_shape!r}.")
        actual = value.size()
        expected = self._extended_shape()
        for i, j in zip(reversed(actual), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: "
                                 f"{actual!r} vs {expected!r}.")
        try:
            support = self.support
        except NotImplementedError:
            warnings.warn(f"{self.__class__} does not define `support` to enable sample "
                          "validation. Please initialize the distribution with "
                          "`validate_args=False` to turn off validation.", stacklevel=2)
            return
        if not _all_true(support.check(value)):
            raise ValueError(
                f"Expected value argument ({type(value).__name__} of shape "
                f"{_shape_str(value)}) to be within the support ({support!r}) of the "
                f"distribution {self!r}, but found invalid values:\n{_fmt(value)}")

    def _get_checked_instance(self, cls, _instance=None):
        if _instance is None and type(self).__init__ != cls.__init__:
            raise NotImplementedError(
                f"Subclass {self.__class__.__name__} of {cls.__name__} that defines a custom "
                "__init__ method must also define a custom .expand() method.")
        return self.__new__(type(self)) if _instance is None else _instance

    # A distribution whose parameters broadcast together elementwise (Normal(loc, scale),
    # Gamma(concentration, rate), ...) names them in ``_elementwise_params``; its __init__
    # and expand are then one call each.
    _elementwise_params = ()

    def _init_elementwise(self, values, validate_args):
        """Keep ``values`` (numbers or tensors) broadcast together under the names in
        ``_elementwise_params``; the batch shape is theirs, () when all are numbers."""
        tensors = broadcast_all(*values)
        for name, t in zip(self._elementwise_params, tensors):
            setattr(self, name, t)
        all_numbers = all(isinstance(v, numbers.Number) for v in values)
        Distribution.__init__(self, Size() if all_numbers else tensors[0].size(),
                              validate_args=validate_args)

    def _expand_elementwise(self, cls, batch_shape, _instance):
        """expand() for an elementwise-parameterized ``cls``: every parameter expanded (a
        view, not a copy) to ``batch_shape``."""
        new = self._get_checked_instance(cls, _instance)
        batch_shape = Size(tuple(batch_shape))
        for name in self._elementwise_params:
            setattr(new, name, getattr(self, name).expand(batch_shape))
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def __repr__(self):
        try:
            names = [k for k in self.arg_constraints if k in self.__dict__]
        except NotImplementedError:
            names = []
        parts = []
        for p in names:
            v = self.__dict__[p]
            if v.numel() == 1:
                # torch formats a one-element tensor with format(): 0-dim ones as the number
                parts.append(f"{p}: {_fmt(v)}")
            else:
                parts.append(f"{p}: {v.size()!r}")
        return f"{type(self).__name__}({', '.join(parts)})"
