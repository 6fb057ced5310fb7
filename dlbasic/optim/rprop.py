"""Rprop (Riedmiller & Braun, 1993): resilient backpropagation, steps from gradient signs only.

Each coordinate keeps its own step size.  When its gradient keeps its sign the step grows
(times etaplus), when the sign flips the last step overshot: the step shrinks (times
etaminus) and that coordinate skips this update.  For each parameter (torch's order):

    g = -grad if maximize else grad
    s = sign(g * prev):  etaplus where > 0, etaminus where < 0, 1 where 0
    step_size = clamp(step_size * s, step_size_min, step_size_max)
    g = 0 where s == etaminus
    p = p - sign(g) * step_size;   prev = g
"""
import numpy as np

from .._tensor import Tensor
from .optimizer import Optimizer, _scalar, _step_tensor

__all__ = ["Rprop"]


def _rprop(params, grads, prevs, step_sizes, state_steps, *, etas, step_sizes_range,
           maximize):
    etaminus, etaplus = etas
    lo, hi = step_sizes_range
    for i, d in enumerate(params):
        state_steps[i] += 1
        g = np.array(grads[i], copy=True)            # an array also for a 0-d parameter
        if maximize:
            np.negative(g, out=g)
        sign = np.sign(g * prevs[i])
        factor = np.where(sign > 0, etaplus, np.where(sign < 0, etaminus, 1.0)).astype(d.dtype)
        size = step_sizes[i]
        size *= factor
        np.clip(size, lo, hi, out=size)
        g[factor == etaminus] = 0
        d -= np.sign(g) * size
        prevs[i][...] = g


class Rprop(Optimizer):
    """Resilient backpropagation: per-coordinate step sizes adapted by gradient signs."""

    _functional = staticmethod(_rprop)
    _option_names = ("etas", "step_sizes", "maximize")

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        lr = _scalar(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes),
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)
        super().__init__(params, defaults)

    def _options(self, group):
        options = super()._options(group)
        options["step_sizes_range"] = options.pop("step_sizes")
        return options

    def _init_group(self, group, params):
        prevs, sizes, steps = [], [], []
        for p in params:
            st = self.state[p]
            if "prev" not in st:
                st["prev"] = Tensor._make(np.zeros_like(p._data))
                st["step_size"] = Tensor._make(np.full_like(p.grad._data, group["lr"]))
            prevs.append(st["prev"]._data)
            sizes.append(st["step_size"]._data)
            steps.append(_step_tensor(st)._data)
        return [p._data for p in params], [p.grad._data for p in params], prevs, sizes, steps
