"""Adam (Kingma & Ba, 2015) and, with decoupled weight decay, AdamW (Loshchilov & Hutter).

For each parameter, at step t (torch's order of operations):
    g = -grad if maximize else grad
    Adam:  g = g + weight_decay * p            (L2 penalty folded into the gradient)
    AdamW: p = p * (1 - lr * weight_decay)     (decoupled decay, applied to the weights)
    m = lerp(m, g, 1 - beta1)                  m <- beta1 m + (1 - beta1) g
    v = beta2 v + (1 - beta2) g^2
    vhat = max(vhat, v) if amsgrad else v
    denom = sqrt(vhat) / sqrt(1 - beta2^t) + eps
    p = p - lr / (1 - beta1^t) * m / denom

``_adam`` is the update over lists of arrays (torch's ``_single_tensor_adam``); each
parameter's arithmetic is the backend kernel ``adam_update``.
"""
import numpy as np

from .._tensor import Tensor
from ..backend import kernels
from .optimizer import Optimizer, _scalar, _step_tensor, _check_adam_options

__all__ = ["Adam"]


def _adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, amsgrad,
          beta1, beta2, lr, weight_decay, eps, maximize, decoupled_weight_decay):
    """Adam (AdamW with ``decoupled_weight_decay``) on the arrays ``params`` and their moments
    in place; ``state_steps`` are 0-d arrays counting steps, incremented here.
    ``max_exp_avg_sqs`` is read only with ``amsgrad``."""
    for i, d in enumerate(params):
        step_t = state_steps[i]
        step_t += 1
        step = float(step_t)
        kernels.adam_update(d, grads[i], exp_avgs[i], exp_avg_sqs[i],
                            max_exp_avg_sqs[i] if amsgrad else None, lr, beta1, beta2, eps,
                            weight_decay, decoupled_weight_decay, maximize,
                            lr / (1 - beta1 ** step), (1 - beta2 ** step) ** 0.5)


class Adam(Optimizer):
    """Adam; ``weight_decay`` is an L2 penalty added to the gradient (see AdamW)."""

    _functional = staticmethod(_adam)
    _option_names = ("amsgrad", "betas", "lr", "weight_decay", "eps", "maximize",
                     "decoupled_weight_decay")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        lr = _scalar(lr)
        _check_adam_options(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("decoupled_weight_decay", False)

    def _options(self, group):
        options = super()._options(group)
        options["beta1"], options["beta2"] = options.pop("betas")
        return options

    def _init_group(self, group, params):
        amsgrad = group["amsgrad"]
        exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps = [], [], [], []
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                d = p._data
                state["step"] = Tensor._make(np.array(0.0, dtype=np.float32))
                state["exp_avg"] = Tensor._make(np.zeros_like(d))
                state["exp_avg_sq"] = Tensor._make(np.zeros_like(d))
                if amsgrad:
                    state["max_exp_avg_sq"] = Tensor._make(np.zeros_like(d))
            exp_avgs.append(state["exp_avg"]._data)
            exp_avg_sqs.append(state["exp_avg_sq"]._data)
            if amsgrad:
                max_exp_avg_sqs.append(state["max_exp_avg_sq"]._data)
            state_steps.append(_step_tensor(state)._data)
        return ([p._data for p in params], [p.grad._data for p in params], exp_avgs,
                exp_avg_sqs, max_exp_avg_sqs, state_steps)
