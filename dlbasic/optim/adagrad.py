"""Adagrad (Duchi, Hazan & Singer, 2011): per-coordinate steps scaled by accumulated g^2.

For each parameter, at step t (torch's order of operations):
    g = -grad if maximize else grad
    g = g + weight_decay * p
    clr = lr / (1 + (t - 1) * lr_decay)
    s = s + g^2
    p = p - clr * g / (sqrt(s) + eps)
"""
import numpy as np

from .._tensor import Tensor
from ..autograd import no_grad
from .optimizer import Optimizer, _scalar, _bump, _effective_grad, _step_tensor

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad; its state (``sum``, ``step``) is created for every parameter at construction."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0,
                 initial_accumulator_value=0, eps=1e-10, foreach=None, *, maximize=False,
                 differentiable=False, fused=None):
        lr = _scalar(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = Tensor._make(np.array(0.0, dtype=np.float32))
                state["sum"] = Tensor._make(
                    np.full_like(p._data, group["initial_accumulator_value"]))

    def share_memory(self):
        """Accepted for compatibility: state already lives in ordinary process memory."""

    def step(self, closure=None):
        """Perform a single optimization step; returns the closure's loss if one is given."""
        loss = self._run_closure(closure)
        self._pre_step()
        with no_grad():
            for group in self.param_groups:
                lr = float(_scalar(group["lr"]))
                lr_decay = float(group["lr_decay"])
                eps = float(group["eps"])
                weight_decay = float(group["weight_decay"])
                maximize = group["maximize"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    d = p._data
                    state = self.state[p]
                    if "sum" not in state:
                        state["sum"] = Tensor._make(
                            np.full_like(d, group["initial_accumulator_value"]))
                    step_t = _step_tensor(state)
                    step_t._data += 1
                    step = float(step_t._data)
                    g = _effective_grad(p, maximize, weight_decay)
                    clr = lr / (1 + (step - 1) * lr_decay)
                    s = state["sum"]._data
                    s += g * g
                    std = np.sqrt(s)
                    std += eps
                    upd = g * (-clr)
                    upd /= std
                    d += upd
                    _bump(p)
        self._post_step()
        return loss
