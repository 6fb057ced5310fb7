"""RMSprop (Hinton's lecture notes; centered variant from Graves, 2013).

For each parameter (torch's order of operations):
    g = -grad if maximize else grad
    g = g + weight_decay * p
    v = alpha * v + (1 - alpha) * g^2
    centered: gbar = lerp(gbar, g, 1 - alpha); avg = sqrt(v - gbar^2)   else avg = sqrt(v)
    avg = avg + eps
    momentum > 0: b = momentum * b + g / avg; p = p - lr * b
    otherwise:    p = p - lr * g / avg

``_rmsprop`` is the update over lists of arrays (torch's ``_single_tensor_rmsprop``), in NumPy.
"""
import numpy as np

from .._tensor import Tensor
from ..backend.updates import effective_grad, lerp_
from .optimizer import Optimizer, _scalar, _step_tensor

__all__ = ["RMSprop"]


def _rmsprop(params, grads, square_avgs, grad_avgs, momentum_buffer_list, state_steps, *, lr,
             alpha, eps, weight_decay, momentum, centered, maximize):
    """RMSprop on the arrays ``params`` and their state in place; ``grad_avgs`` is read only
    when ``centered``, ``momentum_buffer_list`` only with momentum; steps are 0-d arrays."""
    for i, d in enumerate(params):
        state_steps[i] += 1
        g = effective_grad(d, grads[i], maximize, weight_decay)
        v = square_avgs[i]
        v *= alpha
        sq = g * g
        sq *= 1.0 - alpha
        v += sq
        if centered:
            gbar = grad_avgs[i]
            lerp_(gbar, g, 1.0 - alpha)
            avg = np.sqrt(v - gbar * gbar)
        else:
            avg = np.sqrt(v)
        avg += eps
        if momentum > 0:
            b = momentum_buffer_list[i]
            b *= momentum
            b += g / avg
            d -= b * lr
        else:
            upd = g * (-lr)
            upd /= avg
            d += upd


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root-mean-square of recent gradients."""

    _functional = staticmethod(_rmsprop)
    _option_names = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        lr = _scalar(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def _init_group(self, group, params):
        momentum, centered = group["momentum"], group["centered"]
        square_avgs, grad_avgs, momentum_buffer_list, state_steps = [], [], [], []
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                d = p._data
                state["step"] = Tensor._make(np.array(0.0, dtype=np.float32))
                state["square_avg"] = Tensor._make(np.zeros_like(d))
                if momentum > 0:
                    state["momentum_buffer"] = Tensor._make(np.zeros_like(d))
                if centered:
                    state["grad_avg"] = Tensor._make(np.zeros_like(d))
            state_steps.append(_step_tensor(state)._data)
            square_avgs.append(state["square_avg"]._data)
            if momentum > 0:
                momentum_buffer_list.append(state["momentum_buffer"]._data)
            if centered:
                grad_avgs.append(state["grad_avg"]._data)
        return ([p._data for p in params], [p.grad._data for p in params], square_avgs,
                grad_avgs, momentum_buffer_list, state_steps)
