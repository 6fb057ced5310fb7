"""torch.linalg: norms, decompositions, inverses and solvers, with gradients.

Each differentiable function is an Op on NumPy's LAPACK routines (float32 and float64,
batched over leading dimensions) whose docstring gives its backward, or a composition of
differentiable ops (``matrix_norm``, ``matrix_power``, ``cross``).  A singular or
non-positive-definite input raises ``LinAlgError`` (a RuntimeError) with torch's message.

Not here: complex inputs, ``eig``/``eigvals`` (general, complex eigenvalues), ``lu`` and
``lu_factor``, ``matrix_exp``, ``householder_product``, ``tensorinv``/``tensorsolve``.
"""
from .._tensor_base import TensorBase
from ..ops import elementwise as _E
from ..ops.reduction import sum as _sum
from ..ops.movement import broadcast_tensors as _broadcast_tensors, roll as _roll
from ..ops._util import wrap_dim as _wrap_dim
from ._common import LinAlgError
from .norms import *                                                    # noqa: F401,F403
from .decompositions import *                                           # noqa: F401,F403
from .solvers import *                                                  # noqa: F401,F403
from . import norms as _norms, decompositions as _decompositions, solvers as _solvers

__all__ = (["LinAlgError", "cross", "vecdot"] + _norms.__all__ + _decompositions.__all__
           + _solvers.__all__)


def cross(input, other, *, dim=-1):
    """torch.linalg.cross: the cross product of 3-vectors along ``dim`` (the inputs
    broadcast).  With ``roll`` moving component k+1 to k:

        a x b = roll(a, -1) * roll(b, -2) - roll(a, -2) * roll(b, -1)

    a composition of differentiable ops, so its gradient is theirs."""
    for name, t, pos in (("input", input, 1), ("other", other, 2)):
        if not isinstance(t, TensorBase):
            raise TypeError(f"linalg_cross(): argument '{name}' (position {pos}) must be "
                            f"Tensor, not {type(t).__name__}")
    if input.ndim != other.ndim:
        raise RuntimeError(f"linalg.cross: inputs must have the same number of dimensions. "
                           f"Got {input.ndim} and {other.ndim}")
    d = _wrap_dim(dim, input.ndim)
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                           f"{input.shape[d]} and {other.shape[d]}")
    a, b = _broadcast_tensors(input, other)
    return _E.sub(_E.mul(_roll(a, -1, d), _roll(b, -2, d)),
                  _E.mul(_roll(a, -2, d), _roll(b, -1, d)))


def vecdot(x, y, *, dim=-1):
    """torch.linalg.vecdot: sum(x * y) along ``dim`` (real inputs; the inputs broadcast)."""
    return _sum(_E.mul(x, y), dim)
