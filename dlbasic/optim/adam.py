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

The update itself is the backend kernel ``adam_update`` (one pass per parameter when compiled).
"""
import numpy as np

from .._tensor import Tensor
from ..autograd import no_grad
from ..backend import kernels
from .optimizer import Optimizer, _scalar, _bump, _step_tensor

__all__ = ["Adam"]


class Adam(Optimizer):
    """Adam; ``weight_decay`` is an L2 penalty added to the gradient (see AdamW)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        lr = _scalar(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
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

    def step(self, closure=None):
        """Perform a single optimization step; returns the closure's loss if one is given."""
        loss = self._run_closure(closure)
        self._pre_step()
        with no_grad():
            for group in self.param_groups:
                lr = float(_scalar(group["lr"]))
                beta1, beta2 = (float(_scalar(b)) for b in group["betas"])
                eps = float(group["eps"])
                weight_decay = float(group["weight_decay"])
                amsgrad = group["amsgrad"]
                maximize = group["maximize"]
                decoupled = group.get("decoupled_weight_decay", False)
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    d = p._data
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = Tensor._make(np.array(0.0, dtype=np.float32))
                        state["exp_avg"] = Tensor._make(np.zeros_like(d))
                        state["exp_avg_sq"] = Tensor._make(np.zeros_like(d))
                        if amsgrad:
                            state["max_exp_avg_sq"] = Tensor._make(np.zeros_like(d))
                    step_t = _step_tensor(state)
                    step_t._data += 1
                    step = float(step_t._data)
                    # Adam folds weight decay into the gradient (L2); AdamW decays the weights
                    vmax = state["max_exp_avg_sq"]._data if amsgrad else None
                    kernels.adam_update(d, p.grad._data, state["exp_avg"]._data,
                                        state["exp_avg_sq"]._data, vmax, lr, beta1, beta2, eps,
                                        weight_decay, decoupled, maximize,
                                        lr / (1 - beta1 ** step), (1 - beta2 ** step) ** 0.5)
                    _bump(p)
        self._post_step()
        return loss
