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

from .._parallel import for_blocks
from ..autograd.function import Op

__all__ = []


def _rows_dot(a, b):
    """Per-(sample, channel) sum of a * b over (n, C, L) blocks, without the product temporary."""
    return np.einsum("ncl,ncl->nc", a, b)


class BatchNorm(Op):
    """y = w * (x - mean) / sqrt(var + eps) + b (see module docstring for the gradients).

    Inputs: x (N, C, *), w (C,), b (C,).  Params: ``training``, ``eps``, and the running
    statistics (ndarrays, updated in place when training) with ``momentum``.

    Works on the (N, C, L) view of x (L the flattened spatial size), a few samples at a time
    (``for_blocks``: blocks spread over threads, each small enough that its temporaries stay in
    cache).  Per-sample partial sums are combined afterwards.  y = x * a + c with a = w * rstd,
    c = b - mean * a; backward recomputes x - mean from the saved x block by block instead of
    keeping a normalised copy.
    """
    _torch_name = "NativeBatchNormBackward0"

    def forward(self, x, w, b, *, training, eps, running_mean=None, running_var=None,
                momentum=0.1):
        shape = x.shape
        x3 = np.ascontiguousarray(x).reshape(shape[0], shape[1], -1)
        N, C, L = x3.shape
        row_bytes = C * L * x3.itemsize
        one = x.dtype.type
        if training:
            m = N * L
            part = np.empty((3, N, C), x.dtype)
            for_blocks(lambda s: x3[s].sum(2, out=part[0, s]), N, row_bytes)
            mean = part[0].sum(0) / one(m)

            def centred_sums(s):
                xc = x3[s] - mean[:, None]
                xc.sum(2, out=part[1, s])
                part[2, s] = _rows_dot(xc, xc)
            for_blocks(centred_sums, N, row_bytes)
            # corrected two-pass: a float32 mean of values far from 0 is off by an ulp of the
            # values; the mean of the (exact) differences x - mean recovers it to an ulp of those
            delta = part[1].sum(0) / one(m)
            var = part[2].sum(0) / one(m) - delta * delta
            mean += delta
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += (momentum * mean).astype(running_mean.dtype)
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += (momentum * var * (m / max(m - 1, 1))).astype(running_var.dtype)
        else:
            mean, var = running_mean.astype(x.dtype), running_var.astype(x.dtype)
        rstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
        a = (w * rstd)[:, None]
        c = (b - mean * a[:, 0])[:, None]
        y = np.empty_like(x3)

        def affine(s):
            ys = np.multiply(x3[s], a, out=y[s])
            ys += c
        for_blocks(affine, N, row_bytes)
        self.training = training
        self.mean, self.rstd, self.w = mean, rstd, w
        nx, nw = self.needs_input_grad[:2]
        self.x3 = x3 if (nw or (nx and training)) else None
        return y.reshape(shape)

    def backward(self, g):
        nx, nw, nb = self.needs_input_grad
        shape = g.shape
        g3 = np.ascontiguousarray(g).reshape(shape[0], shape[1], -1)
        N, C, L = g3.shape
        row_bytes = 2 * C * L * g3.itemsize
        x3, mean, rstd = self.x3, self.mean[:, None], self.rstd
        stats = nw or (nx and self.training)
        db = dw = None
        if nb or stats:
            part = np.empty((2, N, C), g.dtype)

            def sums(s):
                g3[s].sum(2, out=part[0, s])
                if stats:
                    part[1, s] = _rows_dot(g3[s], x3[s] - mean)
            for_blocks(sums, N, row_bytes)
            db = part[0].sum(0)
            if stats:
                dw = part[1].sum(0) * rstd                 # sum g * xhat
        dx = None
        if nx:
            scale = self.w * rstd
            dx = np.empty_like(g3)
            sc = scale[:, None]
            if self.training:
                # dx = scale * (g - mean(g) - xhat * mean(g * xhat)), xhat = (x - mean) * rstd
                m = N * L
                k = (scale * rstd * dw / m)[:, None]
                k0 = (scale * db / m)[:, None]

                def grad_input(s):
                    xc = x3[s] - mean
                    xc *= k
                    d = np.multiply(g3[s], sc, out=dx[s])
                    d -= xc
                    d -= k0
            else:
                def grad_input(s):
                    np.multiply(g3[s], sc, out=dx[s])
            for_blocks(grad_input, N, row_bytes)
            dx = dx.reshape(shape)
        return dx, (dw if nw else None), (db if nb else None)
