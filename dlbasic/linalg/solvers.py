"""Inverses, determinants and linear solvers: inv, inv_ex, solve, solve_triangular, det,
slogdet, pinv, lstsq, matrix_power, matrix_rank.

Each differentiable one is an Op on NumPy's LAPACK routines, batched over leading dims (with
torch's broadcasting of batch dims between A and B), whose docstring gives its backward.
g_X is the upstream gradient of the output X; ^T the matrix transpose.
"""
import collections
import numbers

import numpy as np

from .._tensor_base import TensorBase
from ..ops import _flops
from ..autograd.function import Op, MultiOutputOp
from ..autograd.graph_engine import differentiable_backward, saved_input, saved_output
from ..ops._util import quiet, broadcast_error
from ..ops.movement import unsqueeze, squeeze, transpose
from ..ops.matmul import matmul
from ..ops.elementwise import mul
from ..ops.reduction import sum as _sum
from ._common import (mT, check_matrix, check_tensor, check_float, check_same_dtype,
                      singular_error, solver_singular_error, first_singular, eps_of)
from .decompositions import diag_embed

__all__ = ["inv", "inv_ex", "solve", "solve_triangular", "det", "slogdet", "pinv", "lstsq",
           "matrix_power", "matrix_rank"]

linalg_inv_ex = collections.namedtuple("linalg_inv_ex", ["inverse", "info"])
linalg_slogdet = collections.namedtuple("linalg_slogdet", ["sign", "logabsdet"])
linalg_lstsq = collections.namedtuple("linalg_lstsq",
                                      ["solution", "residuals", "rank", "singular_values"])


# -- inverse ---------------------------------------------------------------------------------

class Inv(Op):
    """Y = A^{-1}; dY = -Y dA Y, so g_A = -Y^T g_Y Y^T."""
    flops = _flops.factorization
    _saves = ()
    _saved_attrs = ("y",)
    _torch_name = "LinalgInvExBackward0"

    def forward(self, a):
        try:
            y = np.linalg.inv(a)
        except np.linalg.LinAlgError:
            raise singular_error("linalg.inv", a) from None
        self.y = y
        return y

    def backward(self, g):
        yt = mT(self.y)
        return -(yt @ g @ yt)


class InvEx(MultiOutputOp):
    """(Y, info) = (A^{-1}, getrf's code): Inv's gradient g_A = -Y^T g_Y Y^T; info is an
    integer output without a gradient.  Where info > 0 (A singular) Y is nan (torch: undefined)."""
    flops = _flops.factorization
    _saved_attrs = ("y",)

    def name(self):
        return "LinalgInvExBackward0"

    def forward(self, a):
        batch = a.shape[:-2]
        info = np.zeros(batch, np.int32)
        try:
            y = np.linalg.inv(a)
        except np.linalg.LinAlgError:
            flat = a.reshape((-1,) + a.shape[-2:])
            y = np.full(flat.shape, np.nan, dtype=a.dtype)
            flat_info = info.reshape(-1)
            for i, m in enumerate(flat):
                try:
                    y[i] = np.linalg.inv(m)
                except np.linalg.LinAlgError:
                    flat_info[i] = first_singular(m)[1]
            y = y.reshape(a.shape)
        self.y = y
        return y, info

    def backward(self, g, g_info):
        yt = mT(self.y)
        return -(yt @ g @ yt)


def inv(A):
    """torch.linalg.inv: A^{-1}; a singular matrix raises ``LinAlgError`` naming the zero
    diagonal element of its LU factor, as torch."""
    check_matrix(A, "linalg.inv", square=True)
    return Inv.apply(A)


def inv_ex(A, *, check_errors=False):
    """torch.linalg.inv_ex: (inverse, info) without raising for singular matrices (unless
    ``check_errors``); info (int32, batch shape) is 0 or the first zero pivot of LU."""
    check_matrix(A, "linalg.inv_ex", square=True)
    if check_errors:
        try:
            np.linalg.inv(A._data)
        except np.linalg.LinAlgError:
            raise singular_error("linalg.inv_ex", A._data) from None
    y, info = InvEx.apply(A)
    return linalg_inv_ex(y, info.detach())


# -- solve -----------------------------------------------------------------------------------

class Solve(Op):
    """X = A^{-1} B (B a batch of matrices; batch dims broadcast).

    Backward: g_B = A^{-T} g_X, g_A = -g_B X^T (the engine sums broadcast batch dims back).
    """
    flops = _flops.factorization
    _saved_attrs = ("a", "x")
    _torch_name = "LinalgSolveExBackward0"

    def forward(self, a, b):
        try:
            x = np.linalg.solve(a, b)
        except np.linalg.LinAlgError:
            raise solver_singular_error("dlbasic.linalg.solve", a) from None
        self.a, self.x = a, x
        return x

    def backward(self, g):
        gb = np.linalg.solve(mT(self.a), g)
        ga = -(gb @ mT(self.x)) if self.needs_input_grad[0] else None
        return ga, (gb if self.needs_input_grad[1] else None)


def _is_vector_rhs(A, B):
    """torch's rule: B is a (batch of) vector(s) when 1-D, or when B.shape == A.shape[:-1]."""
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


def _batch_shape(A, B, fn):
    try:
        return np.broadcast_shapes(tuple(A.shape[:-2]), tuple(B.shape[:-2]))
    except ValueError:
        raise broadcast_error(tuple(A.shape[:-2]), tuple(B.shape[:-2])) from None


def solve(A, B, *, left=True):
    """torch.linalg.solve: X with AX = B (left=True) or XA = B (left=False); batched with
    broadcasting; B may be a vector (or batch of vectors) when left=True."""
    fn = "linalg.solve"
    check_matrix(A, fn, square=True)
    check_tensor(B, fn, "B", 2)
    check_same_dtype(A, B, fn)
    vector = _is_vector_rhs(A, B)
    if vector and not left:
        raise RuntimeError("linalg.solve: Vector broadcasting of the left hand side is not "
                           "supported for left=False. In this case linalg.solve is equivalent "
                           "to B / A.squeeze(-1)")
    B2 = unsqueeze(B, -1) if vector else B
    if B2.ndim < 2:
        raise RuntimeError(f"{fn}: The input tensor B must have at least 2 dimensions.")
    n = A.shape[-1]
    rows = B2.shape[-2] if left else B2.shape[-1]
    if rows != n:
        eq = "AX = B" if left else "XA = B"
        raise RuntimeError(f"{fn}: Incompatible shapes of A and B for the equation {eq} "
                           f"({A.shape[-2]}x{A.shape[-1]} and {B2.shape[-2]}x{B2.shape[-1]})")
    _batch_shape(A, B2, fn)
    if left:
        X = Solve.apply(A, B2)
    else:                                   # XA = B  <=>  A^T X^T = B^T
        X = transpose(Solve.apply(transpose(A, -2, -1), transpose(B2, -2, -1)), -2, -1)
    return squeeze(X, -1) if vector else X


@quiet
def _triangular_solve(t, b, upper):
    """X = T^{-1} B by substitution, row by row (vectorized over batch and columns); a zero
    on T's diagonal gives inf/nan, as LAPACK trsm."""
    batch = np.broadcast_shapes(t.shape[:-2], b.shape[:-2])
    t = np.broadcast_to(t, batch + t.shape[-2:])
    b = np.broadcast_to(b, batch + b.shape[-2:])
    n = t.shape[-1]
    x = np.zeros(b.shape, dtype=np.result_type(t, b))
    for i in (range(n - 1, -1, -1) if upper else range(n)):
        done = slice(i + 1, n) if upper else slice(0, i)
        acc = b[..., i, :] - (t[..., i:i + 1, done] @ x[..., done, :])[..., 0, :]
        x[..., i, :] = acc / t[..., i, i, None]
    return x


class SolveTriangular(Op):
    """X = T^{-1} B, T = triu(A) (upper) or tril(A), with a unit diagonal if unitriangular.

    Backward: g_B = T^{-T} g_X, g_A = -(g_B X^T) restricted to T's triangle (without the
    diagonal when it is taken to be one).
    """
    flops = _flops.factorization
    _saved_attrs = ("t", "x")
    _torch_name = "LinalgSolveTriangularBackward0"

    def forward(self, a, b, upper, unitriangular):
        t = np.triu(a) if upper else np.tril(a)
        if unitriangular:
            t = t.copy()
            i = np.arange(t.shape[-1])
            t[..., i, i] = 1
        x = _triangular_solve(t, b, upper)
        self.t, self.x, self.upper, self.unit = t, x, upper, unitriangular
        return x

    def backward(self, g):
        gb = _triangular_solve(mT(self.t), g, not self.upper)
        ga = None
        if self.needs_input_grad[0]:
            full = -(gb @ mT(self.x))
            k = 1 if self.unit else 0
            ga = np.triu(full, k) if self.upper else np.tril(full, -k)
        return ga, (gb if self.needs_input_grad[1] else None)


def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    """torch.linalg.solve_triangular: X with AX = B (or XA = B) for triangular A."""
    fn = "linalg.solve_triangular"
    check_matrix(A, fn, square=True)
    check_matrix(B, fn, "B")
    check_same_dtype(A, B, fn)
    n = A.shape[-1]
    if (B.shape[-2] if left else B.shape[-1]) != n:
        eq = "AX = B" if left else "XA = B"
        raise RuntimeError(f"{fn}: Incompatible shapes of A and B for the equation {eq} "
                           f"({A.shape[-2]}x{A.shape[-1]} and {B.shape[-2]}x{B.shape[-1]})")
    _batch_shape(A, B, fn)
    if left:
        return SolveTriangular.apply(A, B, upper=bool(upper), unitriangular=bool(unitriangular))
    # XA = B  <=>  A^T X^T = B^T, and A^T is triangular the other way
    X = SolveTriangular.apply(transpose(A, -2, -1), transpose(B, -2, -1), upper=not upper,
                              unitriangular=bool(unitriangular))
    return transpose(X, -2, -1)


# -- determinants ----------------------------------------------------------------------------

def _exclusive_products(s):
    """p_i = prod_{j != i} s_j along the last axis, without dividing (zeros allowed)."""
    ones = np.ones(s.shape[:-1] + (1,), dtype=s.dtype)
    left = np.cumprod(np.concatenate([ones, s[..., :-1]], axis=-1), axis=-1)
    right = np.flip(np.cumprod(np.flip(np.concatenate([s[..., 1:], ones], axis=-1), -1), -1), -1)
    return left * right


class Det(Op):
    """y = det(A); dy/dA = adj(A)^T (= det(A) A^{-T} when A is invertible).

    Formed from the SVD A = U S V^T as det(U) det(V) U diag(prod_{j != i} s_j) V^T, so that a
    singular matrix gets its finite gradient too (non-zero when its rank is n - 1).
    """
    flops = _flops.factorization
    _saved_attrs = ("a",)
    _torch_name = "LinalgDetBackward0"

    def forward(self, a):
        self.a = a
        return np.asarray(np.linalg.det(a))

    def backward(self, g):
        a = self.a
        if a.shape[-1] == 0:
            return np.zeros_like(a)
        u, s, vh = np.linalg.svd(a)
        sign = np.linalg.det(u) * np.linalg.det(vh)
        adj_t = (u * _exclusive_products(s)[..., None, :]) @ vh
        return (g * sign)[..., None, None] * adj_t


def det(A):
    """torch.linalg.det: the determinant of each square matrix."""
    check_matrix(A, "linalg.det", square=True)
    return Det.apply(A)


class Slogdet(MultiOutputOp):
    """(sign, log|det A|); d log|det A| / dA = A^{-T} (the sign is piecewise constant: no
    gradient).  A singular A gives logabsdet = -inf and an inf/nan gradient."""
    flops = _flops.factorization
    _saved_attrs = ("a",)

    def name(self):
        return "LinalgSlogdetBackward0"

    def forward(self, a):
        self.a = a
        sign, logabs = np.linalg.slogdet(a)
        return np.asarray(sign), np.asarray(logabs)

    @quiet
    def backward(self, g_sign, g_log):
        a = self.a
        try:
            inv_t = mT(np.linalg.inv(a))
        except np.linalg.LinAlgError:           # A^{-T} = U diag(1/s) V^T: inf where s = 0
            u, s, vh = np.linalg.svd(a)
            inv_t = (u / s[..., None, :]) @ vh
        return g_log[..., None, None] * inv_t


def slogdet(A):
    """torch.linalg.slogdet: (sign, logabsdet) with det(A) = sign * exp(logabsdet)."""
    check_matrix(A, "linalg.slogdet", square=True)
    sign, logabs = Slogdet.apply(A)
    return linalg_slogdet(sign, logabs)


# -- pseudoinverse, least squares, rank --------------------------------------------------------

def _pinv_grad(g, x, a):
    """g_A for X = A^+ (Golub & Pereyra 1973; constant rank):
        g_A = -X^T g X^T + (I - A X) g^T X X^T + X^T X g^T (I - X A)."""
    xt, gt = mT(x), mT(g)
    p = gt @ x @ xt
    q = xt @ x @ gt
    return -(xt @ g @ xt) + (p - a @ (x @ p)) + (q - (q @ x) @ a)


def _tolerances(A, atol, rtol):
    """torch's (atol, rtol) as arrays over A's batch: rtol defaults to eps * max(m, n), or to
    0 where an atol > 0 is given."""
    dt = A._data.dtype
    default_rtol = eps_of(dt) * max(A.shape[-2], A.shape[-1])

    def arr(v):
        return np.asarray(v._data if isinstance(v, TensorBase) else v, dtype=dt)
    a = np.zeros((), dt) if atol is None else arr(atol)
    if rtol is not None:
        r = arr(rtol)
    elif atol is not None:
        r = np.where(a > 0, 0, default_rtol).astype(dt)
    else:
        r = np.asarray(default_rtol, dtype=dt)
    return a, r


def _pinv_array(a, atol, rtol, hermitian):
    """A^+ from the SVD (or eigh when hermitian), dropping values <= max(atol, rtol * s_max)."""
    if hermitian:
        w, v = np.linalg.eigh(a, UPLO="L")
        s = np.abs(w)
        tol = np.maximum(atol[..., None], rtol[..., None] * s.max(-1, keepdims=True))
        with np.errstate(divide="ignore"):
            inv_w = np.where(s > tol, 1 / np.where(s > tol, w, 1), 0)
        return (v * inv_w[..., None, :]) @ mT(v)
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    smax = s[..., :1] if s.shape[-1] else np.zeros(s.shape[:-1] + (1,), s.dtype)
    tol = np.maximum(atol[..., None], rtol[..., None] * smax)
    inv_s = np.where(s > tol, 1 / np.where(s > tol, s, 1), 0)
    return mT(vh) @ (inv_s[..., :, None] * mT(u))


class Pinv(Op):
    """X = A^+ (Moore-Penrose); backward: see ``_pinv_grad`` (valid while the rank, the number
    of values above the tolerance, does not change)."""
    flops = _flops.factorization
    _saves = (0,)
    _saved_attrs = ("a", "x")
    _torch_name = "LinalgPinvBackward0"

    def forward(self, a, atol, rtol, hermitian):
        x = _pinv_array(a, atol, rtol, hermitian)
        self.a, self.x = a, x
        return x

    def backward(self, g):
        return _pinv_grad(g, self.x, self.a)


def pinv(A, rcond=None, hermitian=False, *, atol=None, rtol=None):
    """torch.linalg.pinv: the pseudoinverse; ``rcond`` is NumPy's (deprecated) name of rtol."""
    check_matrix(A, "linalg.pinv")
    if rcond is not None:
        if rtol is not None:
            raise RuntimeError("linalg.pinv: rcond and rtol cannot both be given")
        rtol = rcond
    a, r = _tolerances(A, atol, rtol)
    return Pinv.apply(A, atol=a, rtol=r, hermitian=bool(hermitian))


class Lstsq(Op):
    """X = A^+ B, the minimum-norm least-squares solution (from the SVD of A, values
    <= rcond * s_max dropped).

    Backward, as torch's (the gradient of pinv(A) @ B with pinv's default tolerance):
        g_B = (A^+)^T g_X,   g_A = pinv's backward for g_{A^+} = g_X B^T.
    """
    flops = _flops.factorization
    _saved_attrs = ("a", "b", "p")
    _torch_name = "LinalgLstsqBackward0"

    def forward(self, a, b, u, s, vh, rcond):
        keep = s > rcond * s[..., :1]
        inv_s = np.where(keep, 1 / np.where(keep, s, 1), 0)
        x = mT(vh) @ (inv_s[..., :, None] * (mT(u) @ b))
        if True in self.needs_input_grad:
            default = eps_of(a.dtype) * max(a.shape[-2:])
            kp = s > default * s[..., :1]
            p = mT(vh) @ (np.where(kp, 1 / np.where(kp, s, 1), 0)[..., :, None] * mT(u))
            self.a, self.b, self.p = a, b, p
        return x

    def backward(self, g):
        na, nb = self.needs_input_grad
        ga = _pinv_grad(g @ mT(self.b), self.p, self.a) if na else None
        gb = mT(self.p) @ g if nb else None
        return ga, gb


_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(A, B, rcond=None, *, driver=None):
    """torch.linalg.lstsq: (solution, residuals, rank, singular_values) of min ||AX - B||_F.

    Every driver is computed here from the SVD (what 'gelsd' / 'gelss' do); ``driver`` decides,
    as in torch, which of rank and singular_values are filled (the others are empty).
    residuals: ||AX - B||^2 per column when m > n and every matrix has full rank, else empty.
    """
    fn = "torch.linalg.lstsq"
    check_matrix(A, "torch.linalg.lstsq", arg="input")
    check_tensor(B, "linalg.lstsq", "b", 2)
    check_same_dtype(A, B, "torch.linalg.lstsq", "input", "other")
    if driver is None:
        driver = "gelsy"
    if driver not in _DRIVERS:
        raise RuntimeError(f"{fn}: parameter `driver` should be one of "
                           "(gels, gelsy, gelsd, gelss)")
    if not (A.ndim >= B.ndim and A.ndim - B.ndim <= 1):
        raise RuntimeError(f"{fn}: input.dim() must be greater or equal to other.dim() and "
                           "(input.dim() - other.dim()) <= 1")
    vector = B.ndim == A.ndim - 1
    B2 = unsqueeze(B, -1) if vector else B
    m, n = A.shape[-2:]
    if B2.shape[-2] != m:
        what = "input.size(-1) == other.size(-1)" if vector else "input.size(-2) == other.size(-2)"
        raise RuntimeError(f"{fn}: Incompatible shapes of A and B for the equation AX = B "
                           f"({m}x{n} and {B2.shape[-2]}x{B2.shape[-1]})")
    batch = _batch_shape(A, B2, fn)
    a = A._data
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    dt = a.dtype
    rc = eps_of(dt) * max(m, n) if rcond is None else float(rcond)
    X = Lstsq.apply(A, B2, u=u, s=s, vh=vh, rcond=rc)
    rank = (s > rc * s[..., :1]).sum(-1).astype(np.int64) if s.shape[-1] else \
        np.zeros(a.shape[:-2], np.int64)
    full_rank = driver == "gels" or bool(np.all(rank == n))
    empty = TensorBase._make(np.zeros((0,), dt))
    if m > n and full_rank and driver != "gelsy":     # torch: no residuals from gelsy
        r = matmul(A, X) - B2
        residuals = _sum(mul(r, r), -2)
        residuals = residuals.detach()
        if residuals.shape != batch + (B2.shape[-1],):
            residuals = residuals.expand(*batch, B2.shape[-1])
    else:
        residuals = empty
    rank_t = TensorBase._make(np.broadcast_to(rank, batch).copy()) if driver != "gels" \
        else TensorBase._make(np.zeros((0,), np.int64))
    sv = TensorBase._make(np.broadcast_to(s, batch + s.shape[-1:]).copy()) \
        if driver in ("gelsd", "gelss") else empty
    return linalg_lstsq(squeeze(X, -1) if vector else X, residuals, rank_t, sv)


def matrix_rank(A, tol=None, hermitian=False, *, atol=None, rtol=None):
    """torch.linalg.matrix_rank: the number of singular values (|eigenvalues| when
    hermitian) above max(atol, rtol * s_max); ``tol`` is NumPy's name of atol (rtol = 0)."""
    check_matrix(A, "linalg.matrix_rank")
    if tol is not None:
        if atol is not None or rtol is not None:
            raise RuntimeError("linalg.matrix_rank: tol cannot be given with atol or rtol")
        atol, rtol = tol, 0.0
    a_tol, r_tol = _tolerances(A, atol, rtol)
    a = A._data
    s = np.abs(np.linalg.eigvalsh(a)) if hermitian else np.linalg.svd(a, compute_uv=False)
    if s.shape[-1] == 0:
        return TensorBase._make(np.zeros(a.shape[:-2], np.int64))
    smax = s.max(-1, keepdims=True)
    thr = np.maximum(a_tol[..., None], r_tol[..., None] * smax)
    return TensorBase._make(np.asarray((s > thr).sum(-1), dtype=np.int64))


def matrix_power(A, n):
    """torch.linalg.matrix_power: A^n by repeated squaring (n < 0: inv(A)^{-n}; n = 0: I).

    A composition of matmul (and inv), so its gradient is theirs."""
    fn = "linalg.matrix_power"
    check_tensor(A, fn)
    if A.ndim < 2:
        raise RuntimeError(f"{fn}: The input tensor A must have at least 2 dimensions.")
    if A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{fn}: A must be batches of square matrices, but they are "
                           f"{A.shape[-2]} by {A.shape[-1]} matrices")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"linalg_matrix_power(): argument 'n' (position 2) must be int, not "
                        f"{type(n).__name__}")
    n = int(n)
    if n == 0:
        eye = TensorBase._make(np.broadcast_to(np.eye(A.shape[-1], dtype=A._data.dtype),
                                               A.shape).copy())
        return A * 0 + eye if A.requires_grad else eye
    if n < 0:
        check_float(A, fn)
        A = inv(A)
        n = -n
    result, base = None, A
    while True:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if not n:
            return result
        base = matmul(base, base)


# -- create_graph=True: the gradients above written with differentiable ops ------------------

def _t(x):
    return transpose(x, -1, -2)


@differentiable_backward(Inv)
def _inv_backward(node, g):
    yt = _t(saved_output(node, node.y))
    return -matmul(matmul(yt, g), yt)


@differentiable_backward(InvEx)
def _inv_ex_backward(node, g, g_info):
    if g is None:
        return None
    yt = _t(saved_output(node, node.y, 0))
    return -matmul(matmul(yt, g), yt)


@differentiable_backward(Solve)
def _solve_backward(node, g):
    a = saved_input(node, 0, node.a)
    gb = Solve.apply(_t(a), g)
    ga = -matmul(gb, _t(saved_output(node, node.x))) if node.needs_input_grad[0] else None
    return ga, (gb if node.needs_input_grad[1] else None)


def _invertible_for_double_backward(node, a):
    if a.shape[-1] and np.any(np.linalg.matrix_rank(a) < a.shape[-1]):
        raise RuntimeError(f"double backward through {node.name()} of a singular matrix is not "
                           "supported by dlbasic yet")


@differentiable_backward(Det)
def _det_backward(node, g):
    # d det/dA = det(A) A^{-T} for an invertible A
    _invertible_for_double_backward(node, node.a)
    a = saved_input(node, 0, node.a)
    if node.a.shape[-1] == 0:
        return a * 0
    d = Det.apply(a)
    return unsqueeze(unsqueeze(mul(g, d), -1), -1) * _t(Inv.apply(a))


@differentiable_backward(Slogdet)
def _slogdet_backward(node, g_sign, g_log):
    # d log|det A| / dA = A^{-T}; the sign has no gradient
    if g_log is None:
        return None
    _invertible_for_double_backward(node, node.a)
    a = saved_input(node, 0, node.a)
    return unsqueeze(unsqueeze(g_log, -1), -1) * _t(Inv.apply(a))
