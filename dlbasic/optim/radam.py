"""RAdam (Liu et al., 2020, "On the Variance of the Adaptive Learning Rate and Beyond").

Adam's adaptive step has a large variance in the first steps, when v rests on few gradients.
RAdam measures it through rho_t, the length of the simple moving average that v approximates,
and until rho_t > 5 takes plain momentum steps; after that, Adam's step times a rectification
factor r_t that grows towards 1.  For each parameter, at step t (torch's order):

    g = -grad if maximize else grad
    g = g + weight_decay * p        (or p = p * (1 - lr * weight_decay) when decoupled)
    m = beta1 * m + (1 - beta1) * g,   v = beta2 * v + (1 - beta2) * g^2
    m_hat = m / (1 - beta1^t)
    rho_inf = 2 / (1 - beta2) - 1,     rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
    rho_t > 5:  r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                p = p - lr * m_hat * r_t * sqrt(1 - beta2^t) / (sqrt(v) + eps)
    otherwise:  p = p - lr * m_hat
"""
import math

import numpy as np

from ..backend.updates import lerp_
from .optimizer import Optimizer, _scalar, _check_adam_options, _decayed_grad, _zeros_state

__all__ = ["RAdam"]


def _radam(params, grads, exp_avgs, exp_avg_sqs, state_steps, *, lr, betas, eps, weight_decay,
           decoupled_weight_decay, maximize):
    beta1, beta2 = betas
    for i, d in enumerate(params):
        state_steps[i] += 1
        step = float(state_steps[i])
        g = _decayed_grad(d, grads[i], lr, weight_decay, decoupled_weight_decay, maximize)
        m, v = exp_avgs[i], exp_avg_sqs[i]
        lerp_(m, g, 1 - beta1)
        v *= beta2
        v += g * (1 - beta2) * g
        bias1 = 1 - beta1 ** step
        bias2 = 1 - beta2 ** step
        m_hat = m / bias1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2 ** step) / bias2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                             / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            adaptive = math.sqrt(bias2) / (np.sqrt(v) + eps)
            d -= m_hat * lr * adaptive * rect
        else:
            d -= m_hat * lr


class RAdam(Optimizer):
    """Rectified Adam: momentum steps while v is unreliable, then rectified Adam steps."""

    _functional = staticmethod(_radam)
    _option_names = ("lr", "betas", "eps", "weight_decay", "decoupled_weight_decay",
                     "maximize")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False,
                 capturable=False, differentiable=False):
        lr = _scalar(lr)
        _check_adam_options(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _init_group(self, group, params):
        (ms, vs), steps = _zeros_state(self.state, params, "exp_avg", "exp_avg_sq")
        return [p._data for p in params], [p.grad._data for p in params], ms, vs, steps
