"""RMSprop (Hinton's lecture notes; centered variant from Graves, 2013).

For each parameter (torch's order of operations):
    g = -grad if maximize else grad
    g = g + weight_decay * p
    v = alpha * v + (1 - alpha) * g^2
    centered: gbar = lerp(gbar, g, 1 - alpha); avg = sqrt(v - gbar^2)   else avg = sqrt(v)
    avg = avg + eps
    momentum > 0: b = momentum * b + g / avg; p = p - lr * b
    otherwise:    p = p - lr * g / avg
"""
import numpy as np

from .._tensor import Tensor
from ..autograd import no_grad
from ..backend.updates import _lerp_
from .optimizer import Optimizer, _scalar, _bump, _effective_grad, _step_tensor

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root-mean-square of recent gradients."""

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

    def step(self, closure=None):
        """Perform a single optimization step; returns the closure's loss if one is given."""
        loss = self._run_closure(closure)
        self._pre_step()
        with no_grad():
            for group in self.param_groups:
                lr = float(_scalar(group["lr"]))
                alpha = float(group["alpha"])
                eps = float(group["eps"])
                weight_decay = float(group["weight_decay"])
                momentum = float(group["momentum"])
                centered = group["centered"]
                maximize = group["maximize"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    d = p._data
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = Tensor._make(np.array(0.0, dtype=np.float32))
                        state["square_avg"] = Tensor._make(np.zeros_like(d))
                        if momentum > 0:
                            state["momentum_buffer"] = Tensor._make(np.zeros_like(d))
                        if centered:
                            state["grad_avg"] = Tensor._make(np.zeros_like(d))
                    step_t = _step_tensor(state)
                    step_t._data += 1
                    g = _effective_grad(p, maximize, weight_decay)
                    v = state["square_avg"]._data
                    v *= alpha
                    sq = g * g
                    sq *= 1.0 - alpha
                    v += sq
                    if centered:
                        gbar = state["grad_avg"]._data
                        _lerp_(gbar, g, 1.0 - alpha)
                        avg = np.sqrt(v - gbar * gbar)
                    else:
                        avg = np.sqrt(v)
                    avg += eps
                    if momentum > 0:
                        b = state["momentum_buffer"]._data
                        b *= momentum
                        b += g / avg
                        d -= b * lr
                    else:
                        upd = g * (-lr)
                        upd /= avg
                        d += upd
                    _bump(p)
        self._post_step()
        return loss
