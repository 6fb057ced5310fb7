"""Padding layers: ``ZeroPad``, ``ConstantPad``, ``ReflectionPad``, ``ReplicationPad``,
``CircularPad`` in 1, 2 and 3 dims, each a stored ``padding`` tuple handed to ``F.pad``.

``padding``: an int (the same width on every side) or a tuple (left, right[, top, bottom[,
front, back]]), the last dim first, as ``F.pad`` reads it.
"""
from collections.abc import Iterable

from .. import functional as F
from .module import Module

__all__ = ["CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d",
           "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
           "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d",
           "ZeroPad2d", "ZeroPad3d"]


def _widths(padding, n):
    """torch's _ntuple: a sequence is kept as it is (F.pad checks it), an int repeated n times."""
    if isinstance(padding, Iterable):
        return tuple(padding)
    return (padding,) * n


class _PadNd(Module):
    """A padding layer: ``F.pad(input, self.padding, mode)``."""
    _mode = "constant"
    _nd = 1

    def __init__(self, padding):
        super().__init__()
        self.padding = _widths(padding, 2 * self._nd)

    def forward(self, input):
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim of (C, W) / (N, C, W) with ``value``."""
    _nd = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dims of (C, H, W) / (N, C, H, W) with ``value``."""
    _nd = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dims of (C, D, H, W) / (N, C, D, H, W) with ``value``."""
    _nd = 3


class ZeroPad1d(ConstantPad1d):
    """``ConstantPad1d(padding, 0.0)``."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """``ConstantPad2d(padding, 0.0)``."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """``ConstantPad3d(padding, 0.0)``."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ReflectionPad1d(_PadNd):
    """Mirror the last dim about its edge values (the edge itself is not repeated)."""
    _mode, _nd = "reflect", 1


class ReflectionPad2d(_PadNd):
    """Mirror the last two dims about their edges."""
    _mode, _nd = "reflect", 2


class ReflectionPad3d(_PadNd):
    """Mirror the last three dims about their edges."""
    _mode, _nd = "reflect", 3


class ReplicationPad1d(_PadNd):
    """Repeat the edge values of the last dim."""
    _mode, _nd = "replicate", 1


class ReplicationPad2d(_PadNd):
    """Repeat the edge values of the last two dims."""
    _mode, _nd = "replicate", 2


class ReplicationPad3d(_PadNd):
    """Repeat the edge values of the last three dims."""
    _mode, _nd = "replicate", 3


class _CircularPadNd(_PadNd):
    _mode = "circular"

    def forward(self, input):
        if input.ndim not in (self._nd + 1, self._nd + 2):
            raise ValueError(f"expected {self._nd + 1}D or {self._nd + 2}D input (got "
                             f"{input.ndim}D input)")
        return F.pad(input, self.padding, "circular")


class CircularPad1d(_CircularPadNd):
    """Wrap the last dim around (periodic boundary)."""
    _nd = 1


class CircularPad2d(_CircularPadNd):
    """Wrap the last two dims around (periodic boundary)."""
    _nd = 2


class CircularPad3d(_CircularPadNd):
    """Wrap the last three dims around (periodic boundary)."""
    _nd = 3
