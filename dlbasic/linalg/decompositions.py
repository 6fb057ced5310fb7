"""Matrix factorizations: cholesky, qr, svd / svdvals, eigh / eigvalsh.

Each is one Op on NumPy's LAPACK routines (batched over leading dims) with the standard
matrix-calculus backward.  Notation in the docstrings: g_X is the upstream gradient of the
output X, ^T the matrix transpose, ∘ the elementwise product, sym(M) = (M + M^T)/2,
skew(M) = (M - M^T)/2.

Like torch, the spectral gradients (svd's U, Vh; eigh's eigenvectors) hold only for distinct
singular values / eigenvalues: the formulas divide by s_j^2 - s_i^2 (lambda_j - lambda_i), so
repeated values give inf/nan.  Gradients through the values alone (svdvals, eigvalsh, or svd /
eigh outputs whose vector gradients are zero) have no such limit.
"""
import collections

import numpy as np

from .._tensor_base import TensorBase
from ..ops import _flops
from ..autograd.function import Op, MultiOutputOp
from ..ops._util import quiet
from ..ops.elementwise import where
from ..ops.movement import masked_fill
from ._common import (LinAlgError, mT, check_matrix, batch_prefix, not_pd_minor)

__all__ = ["cholesky", "cholesky_ex", "qr", "svd", "svdvals", "eigh", "eigvalsh"]

# torch.return_types.linalg_*: named tuples, printed and unpacked as torch's
linalg_qr = collections.namedtuple("linalg_qr", ["Q", "R"])
linalg_svd = collections.namedtuple("linalg_svd", ["U", "S", "Vh"])
linalg_eigh = collections.namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
linalg_cholesky_ex = collections.namedtuple("linalg_cholesky_ex", ["L", "info"])


def diag_embed(v):
    """A batch of diagonal matrices with ``v`` (..., k) on their diagonals."""
    k = v.shape[-1]
    out = np.zeros(v.shape + (k,), dtype=v.dtype)
    i = np.arange(k)
    out[..., i, i] = v
    return out


def solve_right(x, r):
    """x r^{-1} for a square invertible r (batched): (r^{-T} x^T)^T."""
    return mT(np.linalg.solve(mT(r), mT(x)))


# -- Cholesky --------------------------------------------------------------------------------

def _not_pd_error(fn, a):
    i, k = not_pd_minor(a)
    return LinAlgError(f"{fn}: {batch_prefix(a, i or 0)}The factorization could not be "
                       "completed because the input is not positive-definite (the leading minor "
                       f"of order {k} is not positive-definite).")


class Cholesky(Op):
    """A = L L^T (L lower triangular; upper=True returns U = L^T), from A's lower triangle.

    Backward (Murray 2016, arXiv:1602.07527): with P = tril(L^T g_L),
        g_A = L^{-T} Φ L^{-1},   Φ = (P + tril(P, -1)^T) / 2,
    a symmetric gradient, as torch's (A is taken to be symmetric).
    """
    flops = _flops.factorization
    _saves = ()
    _saved_attrs = ("L",)
    _torch_name = "LinalgCholeskyExBackward0"

    def forward(self, a, upper):
        try:
            L = np.linalg.cholesky(a)
        except np.linalg.LinAlgError:
            raise _not_pd_error("linalg.cholesky", a) from None
        self.L, self.upper = L, upper
        return np.ascontiguousarray(mT(L)) if upper else L

    def backward(self, g):
        L = self.L
        gL = mT(g) if self.upper else g
        P = np.tril(mT(L) @ gL)
        phi = 0.5 * (P + mT(np.tril(P, -1)))
        return solve_right(np.linalg.solve(mT(L), phi), L)


def cholesky(A, *, upper=False):
    """torch.linalg.cholesky: L with A = L L^T for symmetric positive-definite A (batched).

    A matrix that is not positive-definite raises ``LinAlgError`` naming the leading minor.
    """
    check_matrix(A, "linalg.cholesky", square=True)
    return Cholesky.apply(A, upper=bool(upper))


def cholesky_ex(A, *, upper=False, check_errors=False):
    """torch.linalg.cholesky_ex: (L, info); info is potrf's code (0, or the order of the
    leading minor that is not positive-definite), and L is undefined (nan here) where
    info > 0 unless ``check_errors`` raises."""
    check_matrix(A, "linalg.cholesky_ex", square=True)
    a = A._data
    batch = a.shape[:-2]
    info = np.zeros(batch, np.int32)
    try:
        np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        if check_errors:
            raise _not_pd_error("linalg.cholesky_ex", a) from None
        flat_info = info.reshape(-1)
        for i, m in enumerate(a.reshape((-1,) + a.shape[-2:])):
            flat_info[i] = not_pd_minor(m)[1]
        bad = TensorBase._make(np.broadcast_to((info > 0)[..., None, None], a.shape).copy())
        safe = where(bad, TensorBase._make(np.eye(a.shape[-1], dtype=a.dtype)), A)
        L = Cholesky.apply(safe, upper=bool(upper))
        return linalg_cholesky_ex(masked_fill(L, bad, float("nan")), TensorBase._make(info))
    return linalg_cholesky_ex(Cholesky.apply(A, upper=bool(upper)), TensorBase._make(info))


# -- QR ----------------------------------------------------------------------------------------

_QR_MODE_R = ("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
              "Please use linalg.qr(A, mode='reduced') if you are going to differentiate "
              "through linalg.qr.")
_QR_COMPLETE = ("The QR decomposition is not differentiable when mode='complete' and "
                "nrows > ncols.")


def _qr_grad(q, r, gq, gr):
    """g_A for A = QR with Q^T Q = I and R square invertible (A of m >= n columns).

    With N = g_R R^T - Q^T g_Q and K its upper triangle copied to the lower one
    (K = triu(N) + triu(N, 1)^T):  g_A = (g_Q + Q K) R^{-T}.
    (From Q^T dQ skew and dR R^{-1} upper triangular; Walter & Lehmann 2018, Liao et al. 2019.)
    """
    n_ = gr @ mT(r) - mT(q) @ gq
    k = np.triu(n_) + mT(np.triu(n_, 1))
    return solve_right(gq + q @ k, mT(r))


class Qr(MultiOutputOp):
    """A = Q R (Householder, LAPACK geqrf/orgqr: the same signs as torch).

    Backward, m >= n (reduced, or complete when square): g_A = (g_Q + Q K) R^{-T} with K the
    symmetric matrix whose upper triangle is that of g_R R^T - Q^T g_Q.
    Wide m < n: split A = [X | Y], R = [U | V] (X = QU, V = Q^T Y); then g_X is the square
    formula with g_Q + Y g_V^T and g_U, and g_Y = Q g_V.
    mode='r' (no Q) and mode='complete' with m > n are not differentiable (torch's errors).
    """
    flops = _flops.factorization
    _saved_attrs = ("a", "q", "r")

    def name(self):
        return "LinalgQrBackward0"

    def forward(self, a, mode):
        self.mode = mode
        if mode == "r":
            r = np.linalg.qr(a, mode="r")
            q = np.zeros((0,), dtype=a.dtype)
        else:
            q, r = np.linalg.qr(a, mode=mode)
        self.a, self.q, self.r = a, q, r
        return q, r

    def backward(self, gq, gr):
        a, q, r, mode = self.a, self.q, self.r, self.mode
        m, n = a.shape[-2:]
        if mode == "r":
            raise RuntimeError(_QR_MODE_R)
        if mode == "complete" and m > n:
            raise RuntimeError(_QR_COMPLETE)
        if m >= n:
            return _qr_grad(q, r, gq, gr)
        u, gu, gv = r[..., :m], gr[..., :m], gr[..., m:]
        y = a[..., m:]
        gx = _qr_grad(q, u, gq + y @ mT(gv), gu)
        return np.concatenate([gx, q @ gv], axis=-1)


def qr(A, mode="reduced"):
    """torch.linalg.qr: (Q, R) with A = QR; mode 'reduced' (default), 'complete' or 'r'."""
    check_matrix(A, "linalg.qr")
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of "
                           "'reduced' (default), 'r', or 'complete'")
    return linalg_qr(*Qr.apply(A, mode=mode))


# -- SVD -------------------------------------------------------------------------------------

@quiet
def _svd_grad(u, s, vh, gu, gs, gvh):
    """g_A for the reduced SVD A = U diag(s) V^T (U m x k, V n x k, k = min(m, n)).

    With X = U^T g_U, Y = V^T g_V (g_V = g_Vh^T), F_ij = 1/(s_j^2 - s_i^2) (0 on the diagonal):
        g_A = U [diag(g_s) + (F ∘ (X - X^T)) S + S (F ∘ (Y - Y^T))] V^T
              + (I - U U^T) g_U S^{-1} V^T + U S^{-1} g_Vh (I - V V^T).
    The last two terms vanish for square A.  Valid for distinct, non-zero singular values
    (for g_U, g_Vh): F and S^{-1} are inf otherwise.  Only g_s: g_A = U diag(g_s) V^T.
    """
    m, n, k = u.shape[-2], vh.shape[-1], s.shape[-1]
    core = diag_embed(gs)
    has_u, has_v = bool(np.any(gu)), bool(np.any(gvh))
    if has_u or has_v:
        s2 = s * s
        e = s2[..., None, :] - s2[..., :, None]
        i = np.arange(k)
        e[..., i, i] = 1
        f = 1 / e
        f[..., i, i] = 0
        if has_u:
            x = mT(u) @ gu
            core = core + (f * (x - mT(x))) * s[..., None, :]
        if has_v:
            y = vh @ mT(gvh)
            core = core + s[..., :, None] * (f * (y - mT(y)))
    ga = u @ core @ vh
    if has_u and m > k:
        ga = ga + ((gu - u @ (mT(u) @ gu)) / s[..., None, :]) @ vh
    if has_v and n > k:
        ga = ga + u @ ((gvh - (gvh @ mT(vh)) @ vh) / s[..., :, None])
    return ga


class Svd(MultiOutputOp):
    """A = U diag(S) V^T (LAPACK gesdd, as torch on the CPU); see ``_svd_grad`` for g_A.

    full_matrices=True: as torch, the gradients with respect to U[..., :, k:] and
    Vh[..., k:, :] are ignored (those columns are an arbitrary basis of the complement).
    """
    flops = _flops.factorization
    _saved_attrs = ("u", "s", "vh")

    def name(self):
        return "LinalgSvdBackward0"

    def forward(self, a, full_matrices):
        u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
        self.u, self.s, self.vh = u, s, vh
        return u, s, vh

    def backward(self, gu, gs, gvh):
        k = self.s.shape[-1]
        return _svd_grad(self.u[..., :k], self.s, self.vh[..., :k, :], gu[..., :k], gs,
                         gvh[..., :k, :])


def _check_driver(driver, fn):
    if driver is not None:
        raise RuntimeError(f"{fn}: keyword argument `driver=` is only supported on CUDA inputs "
                           "with cuSOLVER backend.")


def svd(A, full_matrices=True, *, driver=None):
    """torch.linalg.svd: (U, S, Vh), S descending, A = U diag(S) Vh."""
    check_matrix(A, "linalg.svd")
    _check_driver(driver, "torch.linalg.svd")
    return linalg_svd(*Svd.apply(A, full_matrices=bool(full_matrices)))


class Svdvals(Op):
    """s = singular values of A; g_A = U diag(g_s) V^T (stable for repeated values too)."""
    flops = _flops.factorization
    _saves = ()
    _saved_attrs = ("u", "vh")
    _torch_name = "LinalgSvdBackward0"

    def forward(self, a):
        if not self.needs_input_grad[0]:
            return np.linalg.svd(a, compute_uv=False)
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        self.u, self.vh = u, vh
        return s

    def backward(self, g):
        return self.u @ (g[..., :, None] * self.vh)


def svdvals(A, *, driver=None):
    """torch.linalg.svdvals: the singular values of A, descending."""
    check_matrix(A, "linalg.svdvals")
    _check_driver(driver, "torch.linalg.svdvals")
    return Svdvals.apply(A)


# -- symmetric eigendecomposition ------------------------------------------------------------

def _check_uplo(UPLO):
    if not isinstance(UPLO, str) or UPLO.upper() not in ("L", "U") or len(UPLO) != 1:
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    return UPLO.upper()


class Eigh(MultiOutputOp):
    """A = V diag(w) V^T for symmetric A (read from the UPLO triangle; LAPACK syevd).

    Backward, with F_ij = 1/(w_j - w_i) (0 on the diagonal):
        g_A = V [diag(g_w) + F ∘ skew(V^T g_V)] V^T,
    symmetric, as torch's.  Valid for distinct eigenvalues when g_V is non-zero.
    """
    flops = _flops.factorization
    _saved_attrs = ("w", "v")

    def name(self):
        return "LinalgEighBackward0"

    def forward(self, a, uplo):
        w, v = np.linalg.eigh(a, UPLO=uplo)
        self.w, self.v = w, v
        return w, v

    @quiet
    def backward(self, gw, gv):
        w, v = self.w, self.v
        core = diag_embed(gw)
        if np.any(gv):
            x = mT(v) @ gv
            e = w[..., None, :] - w[..., :, None]
            i = np.arange(w.shape[-1])
            e[..., i, i] = 1
            core = core + 0.5 * (x - mT(x)) / e
        return v @ core @ mT(v)


def eigh(A, UPLO="L"):
    """torch.linalg.eigh: (eigenvalues ascending, eigenvectors as columns) of symmetric A."""
    check_matrix(A, "linalg.eigh", square=True)
    return linalg_eigh(*Eigh.apply(A, uplo=_check_uplo(UPLO)))


class Eigvalsh(Op):
    """w = eigenvalues of symmetric A; g_A = V diag(g_w) V^T."""
    flops = _flops.factorization
    _saves = ()
    _saved_attrs = ("v",)
    _torch_name = "LinalgEighBackward0"

    def forward(self, a, uplo):
        if not self.needs_input_grad[0]:
            return np.linalg.eigvalsh(a, UPLO=uplo)
        w, v = np.linalg.eigh(a, UPLO=uplo)
        self.v = v
        return w

    def backward(self, g):
        v = self.v
        return v @ (g[..., :, None] * mT(v))


def eigvalsh(A, UPLO="L"):
    """torch.linalg.eigvalsh: the eigenvalues of symmetric A, ascending."""
    check_matrix(A, "linalg.eigvalsh", square=True)
    return Eigvalsh.apply(A, uplo=_check_uplo(UPLO))
