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
from ..backend import kernels
from . import _flops

__all__ = []


class BatchNorm(Op):
    """y = w * (x - mean) / sqrt(var + eps) + b (see module docstring for the gradients).

    Inputs: x (N, C, *), w (C,), b (C,).  Params: ``training``, ``eps``, and the running
    statistics (ndarrays, updated in place when training) with ``momentum``.

    Works on the (N, C, L) view of x (L the flattened spatial size); the passes over it are the
    backend's kernels (``batch_norm_stats``, ``_apply``, ``_grad_sums``, ``_grad_input``).
    y = x * a + c with a = w * rstd, c = b - mean * a; backward recomputes x - mean from the
    saved x instead of keeping a normalised copy.
    """
    _torch_name = "NativeBatchNormBackward0"
    _saved_attrs = ("mean", "rstd", "w", "x3")

    @staticmethod
    def flops(call):
        """eval: y = x * scale + shift, 2 per element (scale and shift folded per channel);
        training: + the batch statistics (mean 1, variance 3 per element) = 6 per element."""
        n = call.in_numel
        ew = (6 if call.params.get("training", False) else 2) * n
        return _flops.cost(elementwise=ew,
                           backward_elementwise=ew * (1 if _flops.n_grads(call, (0,)) else 0))

    def forward(self, x, w, b, *, training, eps, running_mean=None, running_var=None,
                momentum=0.1):
        shape = x.shape
        x3 = np.ascontiguousarray(x).reshape(shape[0], shape[1], -1)
        N, C, L = x3.shape
        if training:
            m = N * L
            mean, var = kernels.batch_norm_stats(x3)
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += (momentum * mean).astype(running_mean.dtype)
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += (momentum * var * (m / max(m - 1, 1))).astype(running_var.dtype)
        else:
            mean, var = running_mean.astype(x.dtype), running_var.astype(x.dtype)
        rstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
        a = w * rstd
        y = self._apply(x3, a, (b - mean * a).astype(x.dtype))
        self.training, self.eps = training, eps   # (eps: the differentiable backward's rstd)
        self.mean, self.rstd, self.w = mean, rstd, w
        nx, nw = self.needs_input_grad[:2]
        self.x3 = x3 if (nw or (nx and training)) else None
        return y.reshape(shape)

    def backward(self, g):
        nx, nw, nb = self.needs_input_grad
        shape = g.shape
        g3 = np.ascontiguousarray(g).reshape(shape[0], shape[1], -1)
        N, C, L = g3.shape
        mean, rstd = self.mean, self.rstd
        stats = nw or (nx and self.training)
        db = dw = None
        if nb or stats:
            db, dot = self._grad_sums(g3, self.x3 if stats else None, mean)
            if stats:
                dw = dot * rstd                            # sum g * xhat
        dx = None
        if nx:
            scale = self.w * rstd
            if self.training:
                # dx = scale * (g - mean(g) - xhat * mean(g * xhat)), xhat = (x - mean) * rstd
                m = N * L
                dx = self._grad_input(g3, self.x3, mean, scale, scale * rstd * dw / m,
                                      scale * db / m)
            else:
                dx = self._grad_input(g3, None, None, scale, None, None)
            dx = dx.reshape(shape)
        return dx, (dw if nw else None), (db if nb else None)

    # the passes over the data, by kernel (BatchNormReLU swaps in its masked ones)
    def _apply(self, x3, a, c):
        return kernels.batch_norm_apply(x3, a, c)

    def _grad_sums(self, g3, x3, mean):
        return kernels.batch_norm_grad_sums(g3, x3, mean)

    def _grad_input(self, g3, x3, mean, s, k, k0):
        return kernels.batch_norm_grad_input(g3, x3, mean, s, k, k0)


class BatchNormReLU(BatchNorm):
    """y = max(0, BatchNorm(x)): the two ops of ``relu(bn(x))`` as one.

    The ReLU costs no pass of its own.  Forward writes max(0, x * a + c) where BatchNorm writes
    x * a + c.  Backward is BatchNorm's with the upstream gradient masked by ReLU's local
    gradient, g' = g * [y > 0] (y the saved output; NaN keeps its gradient, as torch): the same
    sums and the same dx formula with g' for g, the mask applied as each kernel reads g.
    """
    _torch_name = "ReluBackward0"          # the output is the ReLU's, as in torch's graph
    _saved_attrs = BatchNorm._saved_attrs + ("y3",)
    _saves_output = True                   # the mask is read from y: changing y in place is refused

    @staticmethod
    def flops(call):
        """BatchNorm's count plus the ReLU's 1 per element (and 1 per element backward)."""
        bn, n = BatchNorm.flops(call), call.in_numel
        relu_backward = n if _flops.n_grads(call, (0, 1, 2)) else 0
        return _flops.cost(elementwise=bn["elementwise"] + n,
                           backward_elementwise=bn["backward_elementwise"] + relu_backward)

    def _apply(self, x3, a, c):
        self.y3 = kernels.batch_norm_apply_relu(x3, a, c)
        return self.y3

    def _grad_sums(self, g3, x3, mean):
        return kernels.batch_norm_relu_grad_sums(g3, self.y3, x3, mean)

    def _grad_input(self, g3, x3, mean, s, k, k0):
        return kernels.batch_norm_relu_grad_input(g3, self.y3, x3, mean, s, k, k0)

