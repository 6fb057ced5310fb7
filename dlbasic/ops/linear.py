"""The fused affine map of ``nn.Linear``: y = x W^T + b.

Local gradients (g = dL/dy, with every leading batch dim folded into the rows of x and g):
dx = g W,  dW = g^T x,  db = sum over rows of g.  One GEMM per gradient, no broadcast copies.
(Complex x or W: their conjugates, ``elementwise._conj``.)
"""

from ..autograd.function import Op
from . import _flops
from .elementwise import _conj
from ._flops import SHAPE_ONLY, shape_only_here, zeros_like_product

__all__ = []


def _linear_flops(call):
    """Every output is a dot product over in_features inputs (+ the bias)."""
    k = call.in_shapes[1][-1]                 # W: (out_features, in_features)
    has_bias = len(call.in_shapes) > 2 and _flops.numel(call.in_shapes[2]) > 0
    return _flops.matmul_like(call, call.out_numel * k, k, has_bias)


def _linear_shape(x, w):
    return x.shape[:-1] + (w.shape[0],)


class LinearBias(Op):
    """y = x W^T + b for x of shape (..., in), W (out, in), b (out,)."""

    _torch_name = "AddmmBackward0"
    _saves = (0, 1)
    _saved_attrs = ("x2", "w")
    flops = _linear_flops

    def forward(self, x, w, b):
        if SHAPE_ONLY and shape_only_here():        # the profiler counting without computing
            return zeros_like_product(_linear_shape(x, w), x, w, b)
        self.x2 = x2 = x.reshape(-1, x.shape[-1])
        self.w = w
        self.lead = x.shape[:-1]
        y = x2 @ w.T
        y += b
        return y.reshape(self.lead + (w.shape[0],))

    def backward(self, g):
        nx, nw, nb = self.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1])
        dx = (g2 @ _conj(self.w)).reshape(self.lead + (self.w.shape[1],)) if nx else None
        dw = g2.T @ _conj(self.x2) if nw else None
        db = g2.sum(0) if nb else None
        return dx, dw, db


class LinearNoBias(Op):
    """y = x W^T for x of shape (..., in), W (out, in)."""

    _torch_name = "MmBackward0"
    _saved_attrs = ("x2", "w")
    flops = _linear_flops

    def forward(self, x, w):
        if SHAPE_ONLY and shape_only_here():        # the profiler counting without computing
            return zeros_like_product(_linear_shape(x, w), x, w)
        self.x2 = x2 = x.reshape(-1, x.shape[-1])
        self.w = w
        self.lead = x.shape[:-1]
        return (x2 @ w.T).reshape(self.lead + (w.shape[0],))

    def backward(self, g):
        nx, nw = self.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1])
        dx = (g2 @ _conj(self.w)).reshape(self.lead + (self.w.shape[1],)) if nx else None
        dw = g2.T @ _conj(self.x2) if nw else None
        return dx, dw
