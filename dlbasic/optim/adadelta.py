"""Adadelta (Zeiler, 2012, "ADADELTA: An Adaptive Learning Rate Method").

For each parameter (torch's order of operations):
    g = -grad if maximize else grad
    g = g + weight_decay * p                     (L2 penalty)
    v = rho * v + (1 - rho) * g^2                (square_avg: running mean of g^2)
    delta = sqrt(u + eps) / sqrt(v + eps) * g    (u: acc_delta, running mean of delta^2)
    u = rho * u + (1 - rho) * delta^2
    p = p - lr * delta

The ratio of the two running RMS values gives each coordinate a step in the units of the
parameter itself, so ``lr=1.0`` is the paper's method.  ``_adadelta`` is the update over lists
of arrays (torch's ``_single_tensor_adadelta``), in NumPy.
"""
import numpy as np

from .._tensor import Tensor
from ..backend.updates import effective_grad
from .optimizer import Optimizer, _scalar, _step_tensor

__all__ = ["Adadelta"]


def _adadelta(params, grads, square_avgs, acc_deltas, state_steps, *, lr, rho, eps,
              weight_decay, maximize):
    """Adadelta on the arrays ``params`` and their state in place; steps are 0-d arrays."""
    for i, d in enumerate(params):
        state_steps[i] += 1
        g = effective_grad(d, grads[i], maximize, weight_decay)
        v, u = square_avgs[i], acc_deltas[i]
        v *= rho
        v += g * (1.0 - rho) * g                 # addcmul: value * t1 * t2, torch's order
        std = np.sqrt(v + eps)
        delta = np.sqrt(u + eps)
        delta /= std
        delta *= g
        u *= rho
        u += delta * (1.0 - rho) * delta
        d += delta * (-lr)


class Adadelta(Optimizer):
    """Adadelta: steps scaled by the ratio of running RMS of updates and of gradients."""

    _functional = staticmethod(_adadelta)
    _option_names = ("lr", "rho", "eps", "weight_decay", "maximize")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        lr = _scalar(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in (("foreach", None), ("maximize", False),
                               ("differentiable", False), ("capturable", False)):
                group.setdefault(key, value)

    def _init_group(self, group, params):
        square_avgs, acc_deltas, state_steps = [], [], []
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = Tensor._make(np.array(0.0, dtype=np.float32))
                state["square_avg"] = Tensor._make(np.zeros_like(p._data))
                state["acc_delta"] = Tensor._make(np.zeros_like(p._data))
            square_avgs.append(state["square_avg"]._data)
            acc_deltas.append(state["acc_delta"]._data)
            state_steps.append(_step_tensor(state)._data)
        return ([p._data for p in params], [p.grad._data for p in params], square_avgs,
                acc_deltas, state_steps)
