"""Embedding lookup as one primitive: y = W[idx].

Backward scatters the upstream gradient back into the rows that were read, accumulating for
repeated indices: dW[i] = sum over positions p with idx[p] == i of g[p].  The padding row gets
no gradient; with ``scale_grad_by_freq`` each row's gradient is divided by its count.
"""
import numpy as np

from ..autograd.function import Op
from . import _flops

__all__ = []


class Embedding(Op):
    """Inputs: the weight (num_embeddings, dim).  ``indices`` is an integer ndarray."""
    _saved_attrs = ("idx",)
    flops = _flops.no_cost

    _saves = ()

    def forward(self, w, *, indices, padding_idx, scale_grad_by_freq):
        self.idx = indices
        self.num = w.shape[0]
        self.padding_idx = padding_idx
        self.scale = scale_grad_by_freq
        return w[indices]

    def backward(self, g):
        idx = self.idx.reshape(-1)
        g2 = g.reshape(idx.size, -1)
        if self.scale:
            counts = np.bincount(idx, minlength=self.num)
            g2 = g2 / counts[idx][:, None].astype(g2.dtype)
        dw = np.zeros((self.num, g2.shape[1]), dtype=g.dtype)
        np.add.at(dw, idx, g2)
        if self.padding_idx is not None:
            dw[self.padding_idx] = 0
        return dw
