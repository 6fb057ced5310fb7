"""PackedSequence, the packed batch of variable-length sequences (torch.nn.utils.rnn's).

It lives below nn.modules so the recurrent layers can recognise it without importing
nn.utils (which builds on nn.modules); nn.utils.rnn exports it under torch's name.
"""
from collections import namedtuple

import numpy as np

from .. import _dtype
from .._tensor import Tensor

__all__ = ["PackedSequence", "invert_permutation"]


_PackedSequenceFields = namedtuple("PackedSequence_",
                                   ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


class PackedSequence(_PackedSequenceFields):
    """A packed batch: ``data`` (sum of lengths, *), ``batch_sizes`` (int64, one per step),
    ``sorted_indices`` (the batch order packing used, or None when the input was already
    sorted) and ``unsorted_indices`` (its inverse).  Made by ``pack_padded_sequence`` /
    ``pack_sequence``; unpacks like a tuple: ``data, batch_sizes, s, u = packed``."""

    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            # torch also accepts PackedSequence((data, batch_sizes))
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise AssertionError("Expected data to be a list or tuple of length 2")
            data, batch_sizes = data
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """``data.to(...)``; returns ``self`` when nothing changes (the indices stay int64)."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def cpu(self, *args, **kwargs):
        return self.to("cpu")

    def double(self):
        return self.to(dtype=_dtype.float64)

    def float(self):
        return self.to(dtype=_dtype.float32)

    def half(self):
        return self.to(dtype=_dtype.float16)

    def long(self):
        return self.to(dtype=_dtype.int64)

    def int(self):
        return self.to(dtype=_dtype.int32)

    def short(self):
        return self.to(dtype=_dtype.int16)

    def char(self):
        return self.to(dtype=_dtype.int8)

    def byte(self):
        return self.to(dtype=_dtype.uint8)

    @property
    def is_cuda(self):
        return self.data.is_cuda


def invert_permutation(permutation):
    """The inverse permutation: ``out[permutation[i]] = i`` (None stays None)."""
    if permutation is None:
        return None
    perm = permutation._data.reshape(-1)
    out = np.empty_like(perm)
    out[perm] = np.arange(perm.size, dtype=perm.dtype)
    return Tensor._make(out)
