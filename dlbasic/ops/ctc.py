"""Connectionist temporal classification loss (Graves et al., 2006), one primitive.

The target l (length L) is extended with blanks, l' = (b, l1, b, l2, ..., lL, b) of length
S = 2L + 1.  With y_t(c) = log_probs[t, c] the forward (alpha) and backward (beta) variables,
in log space, are

    alpha_t(s) = lse(alpha_{t-1}(s), alpha_{t-1}(s-1), alpha_{t-1}(s-2)*) + y_t(l'_s)
    beta_t(s)  = lse(beta_{t+1}(s),  beta_{t+1}(s+1),  beta_{t+1}(s+2)*)  + y_t(l'_s)

(* only when l'_s is not blank and differs from l'_{s-2}: a repeated label needs a blank
between its copies), started from alpha_0(0..1) and beta_{T-1}(S-2..S-1).  The loss is
nll = -lse(alpha_{T-1}(S-1), alpha_{T-1}(S-2)), and alpha_t(s) + beta_t(s) - y_t(l'_s) is the
log probability of all paths through state s at time t, so

    dnll/dy_t(c) = -exp(lse_{s: l'_s = c}(alpha_t(s) + beta_t(s)) + nll - y_t(c)).

torch returns exp(y_t(c)) + that, the gradient with respect to the logits when ``log_probs`` is
a log_softmax output (its Jacobian then adds nothing: the row sums of exp(y) and of the
occupancies are both 1); we return the same.  Both recursions are vectorized over the batch
and the extended-label axis and loop over time only; they run in float64.
"""
import numpy as np

from ..autograd.function import Op
from . import _flops

__all__ = ["CtcLoss"]

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


class CtcLoss(Op):
    """nll_n = -log sum over the alignments of target n of prod_t exp(y_t); see the module
    docstring for the recursion and dnll/dy_t(c) (torch's: exp(y_t(c)) - occupancy_t(c)).

    ``log_probs`` is (T, N, C); ``targets`` (N, Lmax) int64, padded; the lengths (N,) int64.
    With ``zero_infinity`` an impossible alignment (nll = inf) gives loss 0 and gradient 0."""
    _saves = (0,)
    _saved_attrs = ("log_probs", "alpha", "ext", "skip", "nll", "input_lengths",
                    "target_lengths")
    flops = _flops.loss(6, 3)

    def forward(self, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
        T, N, C = log_probs.shape
        lmax = int(target_lengths.max()) if N else 0
        S = 2 * lmax + 1
        lp = log_probs.astype(np.float64, copy=False)
        s_idx = np.arange(S)
        valid = s_idx[None, :] < (2 * target_lengths[:, None] + 1)          # (N, S)
        ext = np.full((N, S), blank, np.int64)
        if lmax:
            ext[:, 1::2] = np.where(valid[:, 1::2], targets[:, :lmax], blank)
        skip = np.zeros((N, S), bool)
        if S > 2:
            skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2]) & valid[:, 2:]
        lpe = np.take_along_axis(lp, np.broadcast_to(ext[None], (T, N, S)), axis=2)
        alpha = np.full((T, N, S), _NEG_INF)
        if T:
            start = (s_idx[None, :] < np.where(target_lengths > 0, 2, 1)[:, None])
            alpha[0] = np.where(start & (input_lengths[:, None] > 0), lpe[0], _NEG_INF)
        for t in range(1, T):
            a = alpha[t - 1]
            step = _lse(a, _shift(a, 1), np.where(skip, _shift(a, 2), _NEG_INF)) + lpe[t]
            alpha[t] = np.where(valid & (t < input_lengths[:, None]), step, _NEG_INF)
        n_idx = np.arange(N)
        last_t = np.maximum(input_lengths - 1, 0)
        end = alpha[last_t, n_idx]                                            # (N, S)
        a_end = end[n_idx, 2 * target_lengths]
        a_pre = np.where(target_lengths > 0,
                         end[n_idx, np.maximum(2 * target_lengths - 1, 0)], _NEG_INF)
        nll = -_lse(a_end, a_pre)
        # no input frames: only the empty target has an (empty) alignment
        nll = np.where(input_lengths == 0, np.where(target_lengths == 0, -0.0, np.inf), nll)
        self.log_probs, self.alpha, self.ext, self.skip, self.nll = log_probs, alpha, ext, skip, nll
        self.input_lengths, self.target_lengths = input_lengths, target_lengths
        self.zero_infinity = zero_infinity
        if zero_infinity:
            nll = np.where(nll == np.inf, 0.0, nll)
        return nll.astype(log_probs.dtype)

    def _beta(self, lp):
        T, N, _ = lp.shape
        ext, skip, il, tl = self.ext, self.skip, self.input_lengths, self.target_lengths
        S = ext.shape[1]
        lpe = np.take_along_axis(lp, np.broadcast_to(ext[None], (T, N, S)), axis=2)
        s_idx = np.arange(S)[None, :]
        # beta_{T_n - 1} starts in the last two states of target n
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

    def backward(self, g):
        log_probs = self.log_probs
        lp = log_probs.astype(np.float64, copy=False)
        T, N, C = lp.shape
        ab = self.alpha + self._beta(lp)                                     # (T, N, S)
        S = ab.shape[2]
        m = ab.max(axis=2) if S else np.full((T, N), _NEG_INF)
        m = np.where(np.isfinite(m), m, 0.0)
        e = np.exp(ab - m[..., None])
        # sum the occupancies of the states that carry the same label: one bincount
        flat = ((np.arange(T)[:, None, None] * N + np.arange(N)[None, :, None]) * C
                + self.ext[None])
        occ = np.bincount(flat.ravel(), weights=e.ravel(), minlength=T * N * C)
        occ = occ.reshape(T, N, C)
        nll = self.nll
        with np.errstate(over="ignore", invalid="ignore"):
            grad = np.exp(lp) - occ * np.exp(m[..., None] + nll[None, :, None] - lp)
        keep = np.arange(T)[:, None] < self.input_lengths[None, :]               # (T, N)
        if self.zero_infinity:
            keep = keep & (nll != np.inf)[None, :]
        grad = np.where(keep[..., None], grad, 0.0)
        grad *= np.asarray(g, np.float64)[None, :, None]
        return grad.astype(log_probs.dtype)
