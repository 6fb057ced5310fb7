"""SGD: stochastic gradient descent with optional momentum, Nesterov momentum and L2 decay.

For each parameter (torch's order of operations):
    g = -grad if maximize else grad
    g = g + weight_decay * p                          (L2 penalty)
    b = g.clone() on the first step, else b = momentum * b + (1 - dampening) * g
    g = g + momentum * b if nesterov else b
    p = p - lr * g

``_sgd`` is the update over lists of arrays (torch's ``_single_tensor_sgd``); each parameter's
arithmetic is the backend kernel ``sgd_update`` (one pass per parameter when compiled).
"""
import numpy as np

from .._tensor import Tensor
from ..backend import kernels
from .optimizer import Optimizer, _scalar

__all__ = ["SGD"]


def _sgd(params, grads, momentum_buffer_list, *, lr, weight_decay, momentum, dampening,
         nesterov, maximize):
    """SGD on the arrays ``params`` in place.  With momentum, a ``None`` in
    ``momentum_buffer_list`` (the first step) becomes a new buffer holding the gradient."""
    for i, d in enumerate(params):
        buf = momentum_buffer_list[i]
        first = momentum != 0 and buf is None
        if first:
            buf = momentum_buffer_list[i] = np.empty_like(d)
        kernels.sgd_update(d, grads[i], buf, first, lr, weight_decay, momentum, dampening,
                           nesterov, maximize)


class SGD(Optimizer):
    """Stochastic gradient descent (optionally with momentum)."""

    _functional = staticmethod(_sgd)
    _option_names = ("lr", "weight_decay", "momentum", "dampening", "nesterov", "maximize")

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

    def _init_group(self, group, params):
        if group["momentum"] != 0:
            bufs = []
            for p in params:
                buf = self.state[p].get("momentum_buffer")
                if buf is None:                 # step 1: _sgd makes it from the gradient
                    bufs.append(None)
                else:
                    buf._vbox[0] += 1           # _sgd writes it in place
                    bufs.append(buf._data)
        else:
            bufs = [None] * len(params)
        return [p._data for p in params], [p.grad._data for p in params], bufs

    def _save_group_state(self, params, lists):
        for p, buf in zip(params, lists[2]):
            if buf is not None:
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = Tensor._make(buf)
