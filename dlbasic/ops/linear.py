"""The fused affine map of ``nn.Linear``: y = x W^T + b.

Local gradients (g = dL/dy, with every leading batch dim folded into the rows of x and g):
dx = g W,  dW = g^T x,  db = sum over rows of g.  One GEMM per gradient, no broadcast copies.
"""

from ..autograd.function import Op

__all__ = []


class LinearBias(Op):
    """y = x W^T + b for x of shape (..., in), W (out, in), b (out,)."""

    _torch_name = "AddmmBackward0"
    _saves = (0, 1)

    def forward(self, x, w, b):
        self.x2 = x2 = x.reshape(-1, x.shape[-1])
        self.w = w
        self.lead = x.shape[:-1]
        y = x2 @ w.T
        y += b
        return y.reshape(self.lead + (w.shape[0],))

    def backward(self, g):
        nx, nw, nb = self.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1])
        dx = (g2 @ self.w).reshape(self.lead + (self.w.shape[1],)) if nx else None
        dw = g2.T @ self.x2 if nw else None
        db = g2.sum(0) if nb else None
        return dx, dw, db


class LinearNoBias(Op):
    """y = x W^T for x of shape (..., in), W (out, in)."""

    _torch_name = "MmBackward0"

    def forward(self, x, w):
        self.x2 = x2 = x.reshape(-1, x.shape[-1])
        self.w = w
        self.lead = x.shape[:-1]
        return (x2 @ w.T).reshape(self.lead + (w.shape[0],))

    def backward(self, g):
        nx, nw = self.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1])
        dx = (g2 @ self.w).reshape(self.lead + (self.w.shape[1],)) if nx else None
        dw = g2.T @ self.x2 if nw else None
        return dx, dw
