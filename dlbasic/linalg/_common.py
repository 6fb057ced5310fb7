"""What every linalg function shares: input checks with torch's messages, the LinAlgError
that a singular or indefinite matrix raises, and small array helpers (a matrix transpose, the
lower/upper copies of a symmetric gradient).

torch's LAPACK wrappers report *which* step failed (``info`` from getrf / potrf); NumPy only
says "Singular matrix".  On that (rare) error path we recompute the failing step ourselves so
the message names the same diagonal element or leading minor as torch's.
"""
import numpy as np

from .._dtype import TYPE_SHORT
from .._tensor_base import TensorBase

__all__ = ["LinAlgError"]


class LinAlgError(RuntimeError):
    """torch.linalg.LinAlgError: a matrix is singular, not positive-definite, or a LAPACK
    routine did not converge.  A RuntimeError, as in torch."""


def mT(a):
    """The matrix transpose of an array (the last two axes swapped)."""
    return np.swapaxes(a, -1, -2)


def sym(a):
    """(a + a^T) / 2: the symmetric part, the gradient of a function of a symmetric matrix."""
    return 0.5 * (a + mT(a))


def dtype_name(t):
    return TYPE_SHORT.get(t.dtype.name, t.dtype.name)


def check_tensor(A, fn, arg="A", position=1):
    if not isinstance(A, TensorBase):
        raise TypeError(f"{fn}(): argument '{arg}' (position {position}) must be Tensor, not "
                        f"{type(A).__name__}")


def check_float(A, fn):
    """torch: only floating (and complex) inputs; dlbasic has float32 and float64 kernels."""
    if not A.dtype.is_floating_point:
        raise RuntimeError(f"{fn}: Expected a floating point or complex tensor as input. Got "
                           f"{dtype_name(A)}")
    if A.dtype.name == "float16":
        raise NotImplementedError(f"{fn}: dlbasic's NumPy linear algebra supports float32 and "
                                  f"float64 inputs, got Half")


def check_matrix(A, fn, arg="A", square=False, position=1, floating=True):
    """A batch of matrices (at least 2 dims, square when asked) of a floating dtype."""
    check_tensor(A, fn.replace("torch.", ""), arg, position)
    if A.ndim < 2:
        raise RuntimeError(f"{fn}: The input tensor {arg} must have at least 2 dimensions.")
    if square and A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{fn}: {arg} must be batches of square matrices, but they are "
                           f"{A.shape[-2]} by {A.shape[-1]} matrices")
    if floating:
        check_float(A, fn)


def check_same_dtype(A, B, fn, a="A", b="B"):
    if A.dtype is not B.dtype:
        raise RuntimeError(f"{fn}: Expected {a} and {b} to have the same dtype, but found {a} of "
                           f"type {dtype_name(A)} and {b} of type {dtype_name(B)} instead")


def batch_prefix(a, flat_index):
    """torch names the failing batch element when the input has batch dimensions."""
    return f"(Batch element {flat_index}): " if a.ndim > 2 else ""


# -- error paths: which step of the factorization failed ----------------------------------

def lu_zero_pivot(a):
    """1-based index of the first zero pivot of LU with partial pivoting (LAPACK getrf's
    ``info``), or 0 when every pivot is non-zero.  ``a``: one square matrix."""
    u = np.array(a, dtype=np.float64)
    n = u.shape[0]
    first = 0
    for j in range(n):
        p = j + int(np.argmax(np.abs(u[j:, j])))
        if u[p, j] == 0:
            first = first or j + 1         # getrf records the first and goes on
            continue
        u[[j, p]] = u[[p, j]]
        u[j + 1:, j:] -= np.outer(u[j + 1:, j] / u[j, j], u[j, j:])
    return first


def first_singular(a):
    """(flat batch index, getrf info) of the first batch element with a zero LU pivot."""
    flat = a.reshape((-1,) + a.shape[-2:])
    for i, m in enumerate(flat):
        info = lu_zero_pivot(m)
        if info:
            return i, info
    return None, 0


def not_pd_minor(a):
    """(flat batch index, order of the first leading minor that is not positive-definite),
    LAPACK potrf's ``info``: Cholesky's first k steps are the Cholesky of the k x k leading
    block, so the first k whose block fails is where the factorization stopped."""
    flat = a.reshape((-1,) + a.shape[-2:])
    for i, m in enumerate(flat):
        for k in range(1, m.shape[0] + 1):
            try:
                np.linalg.cholesky(m[:k, :k])
            except np.linalg.LinAlgError:
                return i, k
    return None, 0


def singular_error(fn, a):
    """torch's LinAlgError for an inverse whose LU has a zero on the diagonal of U."""
    i, info = first_singular(a)
    if i is None:                          # NumPy failed for another reason: say so plainly
        return LinAlgError(f"{fn}: the input matrix is singular.")
    return LinAlgError(f"{fn}: {batch_prefix(a, i)}The diagonal element {info} is zero, the "
                       "inversion could not be completed because the input matrix is singular.")


def solver_singular_error(fn, a):
    i, _ = first_singular(a)
    return LinAlgError(f"{fn}: {batch_prefix(a, i or 0)}The solver failed because the input "
                       "matrix is singular.")


def eps_of(dtype_np):
    return float(np.finfo(dtype_np).eps)
