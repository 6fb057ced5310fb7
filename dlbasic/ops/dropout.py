"""Dropout as one primitive: y = x * m with a fixed random mask m (0 or 1/(1-p)); dy/dx = m.

The mask may have size-1 dims (Dropout2d drops whole channels: m has shape (N, C, 1, 1)).
"""
import numpy as np

from ..autograd.function import Op
from . import _flops

__all__ = []


class NativeDropout(Op):
    """y = x * mask; dx = g * mask (the mask already carries the 1/(1-p) scale)."""
    _saved_attrs = ("mask",)
    flops = _flops.elementwise(1)

    _saves = ()

    def forward(self, x, mask):
        self.mask = mask
        return x * mask

    def backward(self, g):
        return g * self.mask, None


def dropout_mask(shape, p, dtype, rng):
    """Keep each entry with probability 1-p, scaled by 1/(1-p) so E[y] = x."""
    if p >= 1.0:
        return np.zeros(shape, dtype=dtype)
    keep = rng.random(shape, dtype=np.float32) >= np.float32(p)
    return keep.astype(dtype) * dtype.type(1.0 / (1.0 - p))
