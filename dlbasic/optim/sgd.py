"""SGD: stochastic gradient descent with optional momentum, Nesterov momentum and L2 decay.

For each parameter (torch's order of operations):
    g = -grad if maximize else grad
    g = g + weight_decay * p                          (L2 penalty)
    b = g.clone() on the first step, else b = momentum * b + (1 - dampening) * g
    g = g + momentum * b if nesterov else b
    p = p - lr * g

The update itself is the backend kernel ``sgd_update`` (one pass per parameter when compiled).
"""
import numpy as np

from .._tensor import Tensor
from ..autograd import no_grad
from ..backend import kernels
from .optimizer import Optimizer, _scalar, _bump

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent (optionally with momentum)."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        lr = _scalar(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        foreach=foreach, differentiable=differentiable, fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)

    def step(self, closure=None):
        """Perform a single optimization step; returns the closure's loss if one is given."""
        loss = self._run_closure(closure)
        self._pre_step()
        with no_grad():
            for group in self.param_groups:
                lr = float(_scalar(group["lr"]))
                momentum = float(group["momentum"])
                dampening = float(group["dampening"])
                weight_decay = float(group["weight_decay"])
                nesterov = group["nesterov"]
                maximize = group["maximize"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    buf, first = None, False
                    if momentum != 0:
                        state = self.state[p]
                        buf_t = state.get("momentum_buffer")
                        if buf_t is None:          # step 1: the buffer takes the gradient
                            buf_t = Tensor._make(np.empty_like(p._data))
                            state["momentum_buffer"] = buf_t
                            first = True
                        else:
                            buf_t._vbox[0] += 1
                        buf = buf_t._data
                    kernels.sgd_update(p._data, p.grad._data, buf, first, lr, weight_decay,
                                       momentum, dampening, nesterov, maximize)
                    _bump(p)
        self._post_step()
        return loss
