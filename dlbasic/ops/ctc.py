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
occupancies are both 1); we return the same.  The recursions are the kernels
``ctc_forward``/``ctc_backward`` (dlbasic/backend/ctc.py, and a compiled twin); they run in
float64.
"""
import numpy as np

from ..autograd.function import Op
from ..backend import kernels
from . import _flops

__all__ = ["CtcLoss"]


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
        lp = np.ascontiguousarray(log_probs, dtype=np.float64)
        s_idx = np.arange(S)
        valid = s_idx[None, :] < (2 * target_lengths[:, None] + 1)          # (N, S)
        ext = np.full((N, S), blank, np.int64)
        if lmax:
            ext[:, 1::2] = np.where(valid[:, 1::2], targets[:, :lmax], blank)
        skip = np.zeros((N, S), bool)
        if S > 2:
            skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2]) & valid[:, 2:]
        alpha, nll = kernels.ctc_forward(lp, ext, skip, input_lengths, target_lengths)
        self.log_probs, self.alpha, self.ext, self.skip, self.nll = log_probs, alpha, ext, skip, nll
        self.input_lengths, self.target_lengths = input_lengths, target_lengths
        self.zero_infinity = zero_infinity
        if zero_infinity:
            nll = np.where(nll == np.inf, 0.0, nll)
        return nll.astype(log_probs.dtype)

    def backward(self, g):
        lp = np.ascontiguousarray(self.log_probs, dtype=np.float64)
        grad = kernels.ctc_backward(lp, self.alpha, self.ext, self.skip, self.nll,
                                    self.input_lengths, self.target_lengths, self.zero_infinity,
                                    np.asarray(g, np.float64).reshape(-1))
        return grad.astype(self.log_probs.dtype)
