"""Adamax (Kingma & Ba, 2015, section 7.1): Adam with the infinity norm in place of the RMS.

For each parameter, at step t (torch's order of operations):
    g = -grad if maximize else grad
    g = g + weight_decay * p
    m = beta1 * m + (1 - beta1) * g              (exp_avg)
    u = max(beta2 * u, |g| + eps)                (exp_inf: a decaying max of |g|)
    p = p - lr / (1 - beta1^t) * m / u
"""
import numpy as np

from ..backend.updates import effective_grad, lerp_
from .optimizer import Optimizer, _scalar, _check_adam_options, _zeros_state

__all__ = ["Adamax"]


def _adamax(params, grads, exp_avgs, exp_infs, state_steps, *, lr, betas, eps, weight_decay,
            maximize):
    beta1, beta2 = betas
    for i, d in enumerate(params):
        state_steps[i] += 1
        step = float(state_steps[i])
        g = effective_grad(d, grads[i], maximize, weight_decay)
        lerp_(exp_avgs[i], g, 1 - beta1)
        u = exp_infs[i]
        u *= beta2
        np.maximum(u, np.abs(g) + eps, out=u)
        clr = lr / (1 - beta1 ** step)
        d -= clr * exp_avgs[i] / u


class Adamax(Optimizer):
    """Adamax: Adam's step divided by a decaying maximum of |g| instead of its RMS."""

    _functional = staticmethod(_adamax)
    _option_names = ("lr", "betas", "eps", "weight_decay", "maximize")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 foreach=None, *, maximize=False, differentiable=False, capturable=False):
        lr = _scalar(lr)
        _check_adam_options(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)
        super().__init__(params, defaults)

    def _init_group(self, group, params):
        (exp_avgs, exp_infs), steps = _zeros_state(self.state, params, "exp_avg", "exp_inf")
        return ([p._data for p in params], [p.grad._data for p in params], exp_avgs, exp_infs,
                steps)
