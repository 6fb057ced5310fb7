"""NAdam (Dozat, 2016, "Incorporating Nesterov Momentum into Adam"), with the momentum
schedule mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay)) of torch.

For each parameter, at step t (torch's order of operations):
    g = -grad if maximize else grad
    g = g + weight_decay * p        (or p = p * (1 - lr * weight_decay) when decoupled)
    mu_t, mu_{t+1} from the schedule;  prod_t = mu_1 * ... * mu_t   (mu_product)
    m = beta1 * m + (1 - beta1) * g,   v = beta2 * v + (1 - beta2) * g^2
    denom = sqrt(v / (1 - beta2^t)) + eps
    p = p - lr (1 - mu_t) / (1 - prod_t) * g / denom
          - lr mu_{t+1} / (1 - prod_t mu_{t+1}) * m / denom
The second line is the Nesterov look-ahead: the momentum of the *next* step is applied now.
"""
import numpy as np

from .._tensor import Tensor
from ..backend.updates import lerp_
from .optimizer import Optimizer, _scalar, _check_adam_options, _decayed_grad, _zeros_state

__all__ = ["NAdam"]


def _nadam(params, grads, exp_avgs, exp_avg_sqs, mu_products, state_steps, *, lr, betas, eps,
           weight_decay, momentum_decay, decoupled_weight_decay, maximize):
    beta1, beta2 = betas
    for i, d in enumerate(params):
        state_steps[i] += 1
        step = float(state_steps[i])
        g = _decayed_grad(d, grads[i], lr, weight_decay, decoupled_weight_decay, maximize)
        bias2 = 1 - beta2 ** step
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        mu_products[i] *= mu                       # a 0-d float32 array, as torch keeps it
        prod = float(mu_products[i])
        m, v = exp_avgs[i], exp_avg_sqs[i]
        lerp_(m, g, 1 - beta1)
        v *= beta2
        v += g * (1 - beta2) * g
        denom = np.sqrt(v / bias2)
        denom += eps
        d += g * (-lr * (1.0 - mu) / (1.0 - prod)) / denom
        d += m * ((-lr * mu_next) / (1.0 - prod * mu_next)) / denom


class NAdam(Optimizer):
    """Adam with Nesterov momentum and torch's momentum-decay schedule."""

    _functional = staticmethod(_nadam)
    _option_names = ("lr", "betas", "eps", "weight_decay", "momentum_decay",
                     "decoupled_weight_decay", "maximize")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False):
        lr = _scalar(lr)
        _check_adam_options(lr, betas, eps, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _init_group(self, group, params):
        mu_products = []
        for p in params:
            st = self.state[p]
            if "mu_product" not in st:
                st["mu_product"] = Tensor._make(np.array(1.0, dtype=np.float32))
            mu_products.append(st["mu_product"]._data)
        (ms, vs), steps = _zeros_state(self.state, params, "exp_avg", "exp_avg_sq")
        return ([p._data for p in params], [p.grad._data for p in params], ms, vs, mu_products,
                steps)
