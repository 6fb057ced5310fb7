"""Batch normalisation as one fused primitive (Ioffe & Szegedy 2015; the notes' BatchNorm).

Per channel c, over the m = N * (spatial size) values of the batch:

    mean = (1/m) sum x        var = (1/m) sum (x - mean)^2          (biased: used to normalise)
    xhat = (x - mean) / sqrt(var + eps)                             y = w * xhat + b

Backward, with g = dL/dy (every sum per channel over the same m values):

    dL/db = sum g      dL/dw = sum g * xhat
    dL/dx = (w / sqrt(var + eps)) * (g - mean(g) - xhat * mean(g * xhat))      (training)
    dL/dx = (w / sqrt(running_var + eps)) * g                                  (eval: stats fixed)

Training mode also updates the running statistics in place, as torch's kernel does:
running_mean <- (1 - momentum) running_mean + momentum mean,
running_var  <- (1 - momentum) running_var  + momentum var * m / (m - 1)   (unbiased).
"""
import numpy as np

from ..autograd.function import Op

__all__ = []


def _per_channel(v, ndim):
    """A (C,) vector shaped to broadcast against (N, C, *spatial)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _channel_sum(a):
    """Sum over every axis but 1 (the channel axis), reducing the contiguous axes first."""
    if a.ndim > 2:
        a = a.reshape(a.shape[0], a.shape[1], -1).sum(2)
    return a.sum(0)


class BatchNorm(Op):
    """y = w * (x - mean) / sqrt(var + eps) + b (see module docstring for the gradients).

    Inputs: x (N, C, *), w (C,), b (C,).  Params: ``training``, ``eps``, and the running
    statistics (ndarrays, updated in place when training) with ``momentum``.
    """
    _torch_name = "NativeBatchNormBackward0"

    def forward(self, x, w, b, *, training, eps, running_mean=None, running_var=None,
                momentum=0.1):
        nd = x.ndim
        if training:
            m = x.size // x.shape[1]
            mean = _channel_sum(x) / x.dtype.type(m)
            xc = x - _per_channel(mean, nd)
            # corrected two-pass: a float32 mean of values far from 0 is off by an ulp of the
            # values; the mean of the (exact) differences xc recovers it to an ulp of xc
            delta = _channel_sum(xc) / x.dtype.type(m)
            var = _channel_sum(xc * xc) / x.dtype.type(m) - delta * delta
            mean += delta
            xc -= _per_channel(delta, nd)
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += (momentum * mean).astype(running_mean.dtype)
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += (momentum * var * (m / max(m - 1, 1))).astype(running_var.dtype)
        else:
            mean, var = running_mean.astype(x.dtype), running_var.astype(x.dtype)
            xc = x - _per_channel(mean, nd)
        rstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
        xhat = xc
        xhat *= _per_channel(rstd, nd)
        y = xhat * _per_channel(w, nd)
        y += _per_channel(b, nd)
        self.training = training
        self.rstd, self.w = rstd, w
        nx, nw = self.needs_input_grad[:2]
        self.xhat = xhat if (nw or (nx and training)) else None
        return y

    def backward(self, g):
        nx, nw, nb = self.needs_input_grad
        nd = g.ndim
        xhat = self.xhat
        db = _channel_sum(g) if (nb or (nx and self.training)) else None
        dw = _channel_sum(g * xhat) if (nw or (nx and self.training)) else None
        dx = None
        if nx:
            scale = _per_channel(self.w * self.rstd, nd)
            if self.training:
                m = g.size // g.shape[1]
                dx = xhat * _per_channel(-dw / m, nd)
                dx += g
                dx -= _per_channel(db / m, nd)
                dx *= scale
            else:
                dx = g * scale
        return dx, (dw if nw else None), (db if nb else None)
