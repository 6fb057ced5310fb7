"""ASGD: averaged stochastic gradient descent (Polyak & Juditsky, 1992), as torch implements it.

SGD with a decaying step size eta_t and a shrinkage term, plus a running average ``ax`` of the
iterates that starts after ``t0`` steps (the averaged point is what converges; torch leaves the
parameters themselves at the last iterate and keeps the average in the state).  For each
parameter, at step t (torch's order of operations):

    g = -grad if maximize else grad
    g = g + weight_decay * p
    p = p * (1 - lambd * eta);  p = p - eta * g
    ax = ax + mu * (p - ax)     (ax = p while mu = 1)
    eta = lr / (1 + lambd * lr * t)^alpha;   mu = 1 / max(1, t - t0)

eta and mu are 0-d float32 tensors in the state (torch's scalar dtype), so the update uses
their float32 values.
"""
import numpy as np

from .._tensor import Tensor
from ..backend.updates import effective_grad
from .optimizer import Optimizer, _scalar, _zeros_state

__all__ = ["ASGD"]


def _asgd(params, grads, axs, mus, etas, state_steps, *, lr, lambd, alpha, t0, weight_decay,
          maximize):
    for i, d in enumerate(params):
        state_steps[i] += 1
        step = float(state_steps[i])
        g = effective_grad(d, grads[i], maximize, weight_decay)
        eta = float(etas[i])
        d *= 1 - lambd * eta
        d -= eta * g
        if float(mus[i]) != 1:
            axs[i] += (d - axs[i]) * mus[i]
        else:
            axs[i][...] = d
        etas[i][...] = lr / ((1 + lambd * lr * step) ** alpha)
        mus[i][...] = 1 / max(1, step - t0)


class ASGD(Optimizer):
    """Averaged SGD: the state's ``ax`` is the running average of the iterates."""

    _functional = staticmethod(_asgd)
    _option_names = ("lr", "lambd", "alpha", "t0", "weight_decay", "maximize")

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0,
                 foreach=None, maximize=False, differentiable=False, capturable=False):
        lr = _scalar(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)
        super().__init__(params, defaults)

    def _init_group(self, group, params):
        etas, mus = [], []
        for p in params:
            st = self.state[p]
            if "eta" not in st:
                st["eta"] = Tensor._make(np.array(group["lr"], dtype=np.float32))
                st["mu"] = Tensor._make(np.array(1.0, dtype=np.float32))
            etas.append(st["eta"]._data)
            mus.append(st["mu"]._data)
        (axs,), steps = _zeros_state(self.state, params, "ax")
        return [p._data for p in params], [p.grad._data for p in params], axs, mus, etas, steps
