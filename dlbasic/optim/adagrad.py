"""Adagrad (Duchi, Hazan & Singer, 2011): per-coordinate steps scaled by accumulated g^2.

For each parameter, at step t (torch's order of operations):
    g = -grad if maximize else grad
    g = g + weight_decay * p
    clr = lr / (1 + (t - 1) * lr_decay)
    s = s + g^2
    p = p - clr * g / (sqrt(s) + eps)

``_adagrad`` is the update over lists of arrays (torch's ``_single_tensor_adagrad``), in NumPy.
"""
import numpy as np

from .._tensor import Tensor
from ..backend.updates import effective_grad
from .optimizer import Optimizer, _scalar, _step_tensor

__all__ = ["Adagrad"]


def _adagrad(params, grads, state_sums, state_steps, *, lr, weight_decay, lr_decay, eps,
             maximize):
    """Adagrad on the arrays ``params`` and ``state_sums`` in place; steps are 0-d arrays."""
    for i, d in enumerate(params):
        step_t = state_steps[i]
        step_t += 1
        step = float(step_t)
        g = effective_grad(d, grads[i], maximize, weight_decay)
        clr = lr / (1 + (step - 1) * lr_decay)
        s = state_sums[i]
        s += g * g
        std = np.sqrt(s)
        std += eps
        upd = g * (-clr)
        upd /= std
        d += upd


class Adagrad(Optimizer):
    """Adagrad; its state (``sum``, ``step``) is created for every parameter at construction."""

    _functional = staticmethod(_adagrad)
    _option_names = ("lr", "weight_decay", "lr_decay", "eps", "maximize")

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

    def _init_group(self, group, params):
        state_sums, state_steps = [], []
        for p in params:
            state = self.state[p]
            if "sum" not in state:
                state["sum"] = Tensor._make(
                    np.full_like(p._data, group["initial_accumulator_value"]))
            state_sums.append(state["sum"]._data)
            state_steps.append(_step_tensor(state)._data)
        return [p._data for p in params], [p.grad._data for p in params], state_sums, state_steps
