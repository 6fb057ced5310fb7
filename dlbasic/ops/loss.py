"""Fused loss primitives.  Each docstring gives the per-element loss and its local gradients.

The reductions ('none' / 'mean' / 'sum') of the pointwise losses are ordinary differentiable
ops applied afterwards (see ``dlbasic/nn/functional/loss.py``); the class-index losses reduce
inside the kernel, because their 'mean' divides by the summed weights of the targets.
"""
import numpy as np

from ..autograd.function import Op
from ._util import quiet
from . import _flops
from . import _special

__all__ = []


def _reduce_indexed(loss, denom, reduction):
    """Reduce per-sample losses: 'mean' divides by ``denom`` (the summed target weights)."""
    if reduction == "none":
        return loss
    total = loss.sum(dtype=loss.dtype)
    if reduction == "sum":
        return np.asarray(total, dtype=loss.dtype)
    return np.asarray(total / denom, dtype=loss.dtype)


def _upstream(g, denom, reduction, shape, dtype):
    """The upstream gradient of each sample's loss, of ``shape``."""
    if reduction == "none":
        return g
    if reduction == "mean":
        # every target ignored: the loss is 0/0 = nan, but no sample gets a gradient (as torch)
        g = g / denom if denom != 0 else g * 0
    return np.broadcast_to(np.asarray(g, dtype=dtype), shape)


class NllLoss(Op):
    """l_i = -w_{t_i} * x[i, t_i] (0 where t_i == ignore_index); 'mean' divides the sum by
    sum_i w_{t_i}.  dl_i/dx[i, c] = -w_{t_i} [c == t_i].

    ``x`` is (M, C) with the class axis last; ``target`` (M,) holds class indexes."""
    _saves = ()
    _saved_attrs = ("t", "w_t")
    flops = _flops.loss(1)

    @quiet
    def forward(self, x, target, weight, ignore_index, reduction):
        m, c = x.shape
        valid = target != ignore_index
        t = np.where(valid, target, 0)
        w_t = (weight[t] if weight is not None else np.ones(m, x.dtype)) * valid
        w_t = w_t.astype(x.dtype, copy=False)
        self.t, self.w_t, self.shape, self.reduction = t, w_t, x.shape, reduction
        self.denom = w_t.sum(dtype=x.dtype)
        loss = -w_t * x[np.arange(m), t]
        return _reduce_indexed(loss, self.denom, reduction)

    def backward(self, g):
        m = self.shape[0]
        gi = _upstream(g, self.denom, self.reduction, (m,), self.w_t.dtype)
        gx = np.zeros(self.shape, self.w_t.dtype)
        gx[np.arange(m), self.t] = -self.w_t * gi
        return gx, None, None


class CrossEntropy(Op):
    """log_softmax + nll (+ label smoothing eps) in one pass.  With p = softmax(x), logp = log p:
    l_i = (1 - eps) * (-w_t logp_t) + eps/C * (-sum_c w_c logp_c)   (0 for ignored samples);
    dl_i/dx_c = (1 - eps) * w_t * (p_c - [c == t]) + eps/C * (p_c * sum_k w_k - w_c).
    Without weights w = 1, so the gradient is softmax - onehot (smoothed)."""
    _saves = ()
    _torch_name = "NllLossBackward0"
    _saved_attrs = ("logp", "t", "w_t", "valid", "weight")
    flops = _flops.loss(3, 1)

    @quiet
    def forward(self, x, target, weight, ignore_index, reduction, label_smoothing):
        m, c = x.shape
        dt = x.dtype
        valid = target != ignore_index
        t = np.where(valid, target, 0)
        w_t = ((weight[t] if weight is not None else np.ones(m, dt)) * valid).astype(dt)
        s = x - x.max(axis=1, keepdims=True) if x.size else x
        lse = np.log(np.exp(s).sum(axis=1, keepdims=True))
        logp = s - lse
        rows = np.arange(m)
        loss = -w_t * logp[rows, t]
        eps = label_smoothing
        if eps > 0:
            smooth = -(logp * weight).sum(axis=1) if weight is not None else -logp.sum(axis=1)
            loss = (1 - eps) * loss + (eps / c) * (smooth * valid)
        self.logp, self.t, self.w_t, self.valid = logp, t, w_t, valid
        self.weight, self.eps, self.reduction = weight, eps, reduction
        self.denom = w_t.sum(dtype=dt)
        return _reduce_indexed(loss.astype(dt, copy=False), self.denom, reduction)

    @quiet
    def backward(self, g):
        logp, t, w_t = self.logp, self.t, self.w_t
        m, c = logp.shape
        rows = np.arange(m)
        gi = _upstream(g, self.denom, self.reduction, (m,), logp.dtype)
        p = np.exp(logp)
        eps = self.eps
        # (1 - eps) * w_t * (p - onehot)
        d = p * ((1 - eps) * w_t)[:, None]
        d[rows, t] -= (1 - eps) * w_t
        if eps > 0:
            wsum = self.weight.sum() if self.weight is not None else c
            wvec = self.weight if self.weight is not None else 1
            d += (eps / c) * (p * wsum - wvec) * self.valid[:, None]
        return (d * gi[:, None]).astype(logp.dtype, copy=False), None


class BinaryCrossEntropy(Op):
    """l = -(y log x + (1 - y) log(1 - x)), each log clamped at -100 (as torch);
    dl/dx = (x - y) / max(x(1 - x), 1e-12), dl/dy = log(1 - x) - log x."""
    _saved_attrs = ("x", "y", "log_x", "log_1mx")
    flops = _flops.loss(4, 2)

    @quiet
    def forward(self, x, y):
        log_x = np.maximum(np.log(x), -100)
        log_1mx = np.maximum(np.log1p(-x), -100)
        self.x, self.y, self.log_x, self.log_1mx = x, y, log_x, log_1mx
        return (-(y * log_x + (1 - y) * log_1mx)).astype(x.dtype, copy=False)

    @quiet
    def backward(self, g):
        x, y = self.x, self.y
        gx = gy = None
        if self.needs_input_grad[0]:
            gx = g * (x - y) / np.maximum(x * (1 - x), x.dtype.type(1e-12))
        if self.needs_input_grad[1]:
            # unclamped, as torch: +-inf where x is exactly 0 or 1
            gy = g * (np.log1p(-x) - np.log(x))
        return gx, gy


class BinaryCrossEntropyWithLogits(Op):
    """sigmoid + BCE in one stable step, with pos_weight p (1 when absent):
    l = (1 - y) x + (1 + (p - 1) y) * softplus(-x);
    dl/dx = (1 - y) - (1 + (p - 1) y) sigmoid(-x), dl/dy = -x + (p - 1) softplus(-x).
    (torch takes no gradient for pos_weight; neither do we.)"""
    _saved_attrs = ("x", "y", "sp", "lw", "pw")
    flops = _flops.loss(5, 2)

    @quiet
    def forward(self, x, y, pos_weight=None):
        sp = _special.softplus(-x)               # = -log sigmoid(x), finite for any x
        lw = 1 if pos_weight is None else 1 + (pos_weight - 1) * y
        self.x, self.y, self.sp, self.lw, self.pw = x, y, sp, lw, pos_weight
        return ((1 - y) * x + lw * sp).astype(x.dtype, copy=False)

    @quiet
    def backward(self, g):
        x, y, sp, lw, pw = self.x, self.y, self.sp, self.lw, self.pw
        need = self.needs_input_grad
        gx = g * ((1 - y) - lw * _special.sigmoid(-x)) if need[0] else None
        gy = None
        if need[1]:
            gy = g * (-x if pw is None else -x + (pw - 1) * sp)
        return (gx, gy) if pw is None else (gx, gy, None)


class SmoothL1(Op):
    """d = x - y; l = 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta (beta = 0: |d|);
    dl/dx = clip(d / beta, -1, 1) = -dl/dy.  Huber(delta) = delta * SmoothL1(beta=delta)."""
    _saves = ()
    _saved_attrs = ("slope",)
    flops = _flops.loss(4)

    @quiet
    def forward(self, x, y, beta, scale):
        self.beta, self.scale = beta, scale       # (for the differentiable backward)
        d = x - y
        ad = np.abs(d)
        if beta == 0:
            loss = ad
            self.slope = np.sign(d)
        else:
            loss = np.where(ad < beta, 0.5 * d * d / beta, ad - 0.5 * beta)
            self.slope = np.clip(d / beta, -1, 1)
        if scale != 1:
            loss = loss * scale
            self.slope = self.slope * scale
        return loss.astype(d.dtype, copy=False)

    def backward(self, g):
        gd = g * self.slope
        return gd, (-gd if self.needs_input_grad[1] else None)
