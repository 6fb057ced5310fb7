"""The NumPy CTC kernels: the alpha (forward) and beta (backward) recursions in log space.

The math is in ``dlbasic/ops/ctc.py`` (the ``CtcLoss`` op); this file is how it is computed.
``lp`` is (T, N, C) float64 log-probabilities; ``ext`` (N, S) the blank-extended targets
l' = (b, l1, b, l2, ..., b), padded with blanks to S = 2 max(L) + 1; ``skip`` (N, S) whether
state s may be entered from s - 2 (l'_s is a label that differs from l'_{s-2}); the lengths
are (N,) int64.  Both recursions are vectorized over the batch and the states and loop over
time only:

    ctc_forward(lp, ext, skip, input_lengths, target_lengths)  -> (alpha (T, N, S), nll (N,))
    ctc_backward(lp, alpha, ext, skip, nll, input_lengths, target_lengths, zero_infinity, g)
        -> dnll/dlp (T, N, C), scaled by the upstream gradient g (N,)

alpha_t(s) is -inf outside sample n's frames (t >= T_n) and states (s > 2 L_n); nll is inf for
a target no alignment reaches (and -0.0 for an empty target with no frames).
"""
import numpy as np

__all__ = ["ctc_forward", "ctc_backward"]

_NEG_INF = -np.inf


def _lse(*terms):
    """Elementwise log(sum(exp(terms))), -inf where every term is -inf."""
    m = terms[0]
    for t in terms[1:]:
        m = np.maximum(m, t)
    safe = np.where(np.isfinite(m), m, 0.0)
    acc = np.zeros_like(safe)
    for t in terms:
        acc += np.exp(t - safe)
    with np.errstate(divide="ignore"):
        return np.log(acc) + safe


def _shift(a, k, fill=_NEG_INF):
    """a shifted right by k along the last axis (k < 0: left), padded with ``fill``."""
    out = np.full_like(a, fill)
    if k > 0:
        out[..., k:] = a[..., :-k]
    else:
        out[..., :k] = a[..., -k:]
    return out


def _label_log_probs(lp, ext):
    """lpe[t, n, s] = lp[t, n, l'_s]: each state's log-probability at each frame."""
    T, N, _ = lp.shape
    return np.take_along_axis(lp, np.broadcast_to(ext[None], (T, N, ext.shape[1])), axis=2)


def ctc_forward(lp, ext, skip, input_lengths, target_lengths):
    """alpha_t(s) = lse(alpha_{t-1}(s), alpha_{t-1}(s-1), alpha_{t-1}(s-2) if skip) + y_t(l'_s),
    and nll = -lse(alpha_{T_n-1}(2 L_n), alpha_{T_n-1}(2 L_n - 1))."""
    T, N, _ = lp.shape
    S = ext.shape[1]
    s_idx = np.arange(S)
    valid = s_idx[None, :] < (2 * target_lengths[:, None] + 1)          # (N, S)
    lpe = _label_log_probs(lp, ext)
    alpha = np.full((T, N, S), _NEG_INF)
    if T:
        start = (s_idx[None, :] < np.where(target_lengths > 0, 2, 1)[:, None])
        alpha[0] = np.where(start & (input_lengths[:, None] > 0), lpe[0], _NEG_INF)
    for t in range(1, T):
        a = alpha[t - 1]
        step = _lse(a, _shift(a, 1), np.where(skip, _shift(a, 2), _NEG_INF)) + lpe[t]
        alpha[t] = np.where(valid & (t < input_lengths[:, None]), step, _NEG_INF)
    n_idx = np.arange(N)
    if T:
        end = alpha[np.maximum(input_lengths - 1, 0), n_idx]                # (N, S)
    else:
        end = np.full((N, S), _NEG_INF)
    a_end = end[n_idx, 2 * target_lengths]
    a_pre = np.where(target_lengths > 0,
                     end[n_idx, np.maximum(2 * target_lengths - 1, 0)], _NEG_INF)
    nll = -_lse(a_end, a_pre)
    # no input frames: only the empty target has an (empty) alignment
    return alpha, np.where(input_lengths == 0, np.where(target_lengths == 0, -0.0, np.inf), nll)


def _beta(lp, ext, skip, input_lengths, target_lengths):
    """beta_t(s) = lse(beta_{t+1}(s), beta_{t+1}(s+1), beta_{t+1}(s+2) if skip[s+2])
    + y_t(l'_s), started in the last two states at t = T_n - 1."""
    T, N, _ = lp.shape
    il, tl = input_lengths, target_lengths
    S = ext.shape[1]
    lpe = _label_log_probs(lp, ext)
    s_idx = np.arange(S)[None, :]
    start = (s_idx == 2 * tl[:, None]) | ((s_idx == 2 * tl[:, None] - 1) & (tl[:, None] > 0))
    skip_from = _shift(skip, -2, False)          # s -> s + 2 allowed when skip[s + 2]
    beta = np.full((T, N, S), _NEG_INF)
    nxt = np.full((N, S), _NEG_INF)
    for t in range(T - 1, -1, -1):
        step = _lse(nxt, _shift(nxt, -1), np.where(skip_from, _shift(nxt, -2), _NEG_INF))
        cur = np.where(t == il[:, None] - 1, np.where(start, lpe[t], _NEG_INF),
                       np.where(t < il[:, None] - 1, step + lpe[t], _NEG_INF))
        beta[t] = nxt = cur
    return beta


def ctc_backward(lp, alpha, ext, skip, nll, input_lengths, target_lengths, zero_infinity, g):
    """g_n (exp(y_t(c)) - exp(lse_{s: l'_s = c}(alpha_t(s) + beta_t(s)) + nll - y_t(c))),
    zero for t >= T_n (and, with ``zero_infinity``, for an impossible target)."""
    T, N, C = lp.shape
    ab = alpha + _beta(lp, ext, skip, input_lengths, target_lengths)       # (T, N, S)
    m = ab.max(axis=2)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(ab - m[..., None])
    # sum the occupancies of the states that carry the same label: one bincount
    flat = ((np.arange(T)[:, None, None] * N + np.arange(N)[None, :, None]) * C + ext[None])
    occ = np.bincount(flat.ravel(), weights=e.ravel(), minlength=T * N * C).reshape(T, N, C)
    with np.errstate(over="ignore", invalid="ignore"):
        grad = np.exp(lp) - occ * np.exp(m[..., None] + nll[None, :, None] - lp)
    keep = np.arange(T)[:, None] < input_lengths[None, :]                    # (T, N)
    if zero_infinity:
        keep = keep & (nll != np.inf)[None, :]
    grad = np.where(keep[..., None], grad, 0.0)
    grad *= g[None, :, None]
    return grad
