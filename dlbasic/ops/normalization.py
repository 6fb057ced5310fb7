"""Layer normalisation as one fused primitive.

Over the last N = prod(normalized_shape) elements of each row:
    xhat = (x - mean) * rstd,  rstd = 1/sqrt(var + eps)  (biased variance),  y = xhat * w + b.
Backward, with gw = g * w:
    dx = (rstd / N) * (N * gw - sum(gw) - xhat * sum(gw * xhat)),
    dw = sum over rows of g * xhat,  db = sum over rows of g.
"""
import numpy as np

from ..autograd.function import Op
from . import _flops

__all__ = []


class NativeLayerNorm(Op):
    """Inputs: x, then weight if ``affine_w``, then bias if ``affine_b``."""
    _saved_attrs = ("xhat", "rstd", "w")
    # mean 1, variance 3, normalise 2, affine 2 per element
    flops = _flops.elementwise(8, on="in")

    _torch_name = "NativeLayerNormBackward0"
    _saves = ()

    def forward(self, x, *wb, n_norm, eps, affine_w, affine_b):
        shape = x.shape
        rows = x.reshape(-1, int(np.prod(shape[len(shape) - n_norm:], dtype=np.int64)))
        # float16 computes its statistics in float32, as torch does
        work = rows.astype(np.float32) if rows.dtype == np.float16 else rows
        mean = work.mean(axis=1, keepdims=True)
        xc = work - mean
        var = np.einsum("ij,ij->i", xc, xc)[:, None] / xc.shape[1]
        rstd = 1.0 / np.sqrt(var + eps)
        xhat = xc
        xhat *= rstd
        self.xhat, self.rstd = xhat, rstd
        self.affine_w, self.affine_b = affine_w, affine_b
        self.eps = eps                  # (the differentiable backward recomputes rstd)
        self.shape = shape
        self.wshape = shape[len(shape) - n_norm:]
        y = xhat.reshape(shape)
        if affine_w:
            self.w = wb[0]
            y = y * wb[0]
        if affine_b:
            y = y + wb[-1]
        elif not affine_w:
            y = y.copy()
        return y.astype(x.dtype, copy=False)

    def backward(self, g):
        needs = self.needs_input_grad
        xhat, rstd = self.xhat, self.rstd
        n = xhat.shape[1]
        g2 = g.reshape(xhat.shape)
        if g2.dtype != xhat.dtype:
            g2 = g2.astype(xhat.dtype)
        gw = g2 * self.w.reshape(1, n) if self.affine_w else g2
        out = []
        if needs[0]:
            s1 = gw.sum(axis=1, keepdims=True)
            s2 = np.einsum("ij,ij->i", gw, xhat)[:, None]
            dx = gw * n
            dx -= s1
            dx -= xhat * s2
            dx *= rstd / n
            out.append(dx.reshape(self.shape))
        else:
            out.append(None)
        k = 1
        if self.affine_w:
            out.append((g2 * xhat).sum(axis=0).reshape(self.wshape) if needs[k] else None)
            k += 1
        if self.affine_b:
            out.append(g2.sum(axis=0).reshape(self.wshape) if needs[k] else None)
        return tuple(out)
