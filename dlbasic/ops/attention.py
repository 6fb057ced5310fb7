"""Scaled dot-product attention as one fused primitive (Vaswani et al. 2017, eq. 1).

For query q (..., L, E), key k (..., S, E), value v (..., S, Ev), additive mask m (broadcast
to (..., L, S)) and a dropout mask d (0 or 1/(1-p)):

    s = scale * q k^T + m,   p = softmax(s) over S,   y = (p * d) v.

A row whose every score is -inf (all keys masked) gets p = 0, so y = 0 there and no gradient
flows through it, as torch's "safe softmax" does.  Backward, with pd = p * d:

    dv = pd^T g,   dp = (g v^T) * d,   ds = p * (dp - sum_S(dp * p)),
    dq = scale * ds k,   dk = scale * ds^T q,   dm = ds.

One op instead of a chain of matmul / add / softmax / dropout / matmul: the (L, S) scores of
every head are made and consumed in one pass per block of the batch, the blocks run on both
cores (``for_ranges``), and backward keeps only p (and d).
"""
import numpy as np

from .._parallel import for_ranges
from ..autograd.function import Op
from . import _flops
from ._flops import SHAPE_ONLY, shape_only_here

__all__ = []


def _attention_flops(call):
    """q k^T and p v: L*S*(E + Ev) multiply-accumulates per batch entry; the softmax ~5
    elementwise ops and one exp per score.  Backward: twice the products (dq, dk, dv, dp)."""
    q, k = call.in_shapes[0], call.in_shapes[1]
    out = call.out_shapes[0]
    L, E, S, Ev = q[-2], q[-1], k[-2], out[-1]
    batch = _flops.numel(out[:-2])
    scores = batch * L * S
    macs = scores * (E + Ev)
    grads = _flops.n_grads(call, range(len(call.in_shapes)))
    return _flops.cost(macs=macs, matmul_flops=2 * macs, elementwise=5 * scores,
                       transcendental=scores, backward=4 * macs if grads else 0,
                       backward_elementwise=6 * scores if grads else 0)


def _swap(a):
    return np.swapaxes(a, -1, -2)


class ScaledDotProductAttention(Op):
    """Inputs q, k, v and, when given, the additive mask m.  Parameters: ``scale``,
    ``causal_bias`` ((L, S) array of 0 / -inf, or None), ``drop`` (the dropout mask of shape
    (..., L, S), or None), ``may_mask_rows`` (a mask may hide every key of a row)."""
    _saved_attrs = ("q", "k", "v", "p", "drop", "m", "causal_bias")
    _saves = (0, 1, 2)
    _torch_name = "ScaledDotProductFlashAttentionForCpuBackward0"
    flops = staticmethod(_attention_flops)

    def forward(self, q, k, v, *mask, scale, causal_bias, drop, may_mask_rows):
        L, S, Ev = q.shape[-2], k.shape[-2], v.shape[-1]
        shapes = [q.shape[:-2], k.shape[:-2], v.shape[:-2]] + [m.shape[:-2] for m in mask]
        batch = np.broadcast_shapes(*shapes)
        dtype = q.dtype
        if SHAPE_ONLY and shape_only_here():
            return np.zeros(batch + (L, Ev), dtype)
        # every operand as a view over the whole batch (no copies); a leading axis of 1 when
        # there is no batch, so that the blocks below always split axis 0
        full = batch if batch else (1,)
        qb = np.broadcast_to(q, full + q.shape[-2:])
        kb = np.broadcast_to(k, full + k.shape[-2:])
        vb = np.broadcast_to(v, full + v.shape[-2:])
        mb = None
        if mask:
            m = mask[0].astype(dtype, copy=False)
            mb = np.broadcast_to(m, full + (L, S))
        db = None if drop is None else drop.reshape(full + (L, S))
        out = np.empty(full + (L, Ev), dtype)
        p = np.empty(full + (L, S), dtype)
        masked = may_mask_rows          # (a causal row always keeps its first key)

        def block(lo, hi):
            s = np.matmul(qb[lo:hi], _swap(kb[lo:hi]), out=p[lo:hi])
            s *= dtype.type(scale)
            if mb is not None:
                s += mb[lo:hi]
            if causal_bias is not None:
                s += causal_bias
            top = s.max(axis=-1, keepdims=True)
            if masked:
                top[~np.isfinite(top)] = 0          # an all -inf row: exp gives 0 everywhere
            s -= top
            np.exp(s, out=s)
            z = s.sum(axis=-1, keepdims=True)
            if masked:
                z[z == 0] = np.inf                  # ... and 0 / inf = 0: the row's p is 0
            s /= z
            pd = s if db is None else s * db[lo:hi]
            np.matmul(pd, vb[lo:hi], out=out[lo:hi])

        n = full[0]
        per_entry = int(np.prod(full[1:], dtype=np.int64)) * L * S * dtype.itemsize
        for_ranges(block, n, 3 * per_entry)
        self.q, self.k, self.v, self.p, self.drop = qb, kb, vb, p, db
        self.scale, self.has_mask, self.nobatch = scale, bool(mask), not batch
        # (kept, not copied, for create_graph=True, which recomputes p from the inputs)
        self.m, self.causal_bias = (mb if mask else None), causal_bias
        return out[0] if not batch else out

    def backward(self, g):
        q, k, v, p, d = self.q, self.k, self.v, self.p, self.drop
        needs = self.needs_input_grad
        if self.nobatch:
            g = g[None]
        dtype = p.dtype
        dq = np.empty(q.shape, dtype) if needs[0] else None
        dk = np.empty(k.shape, dtype) if needs[1] else None
        dv = np.empty(v.shape, dtype) if needs[2] else None
        dm = np.empty(p.shape, dtype) if self.has_mask and needs[3] else None
        scale = dtype.type(self.scale)

        def block(lo, hi):
            pb, gb = p[lo:hi], g[lo:hi]
            db = None if d is None else d[lo:hi]
            if dv is not None:
                pd = pb if db is None else pb * db
                np.matmul(_swap(pd), gb, out=dv[lo:hi])
            ds = np.matmul(gb, _swap(v[lo:hi]))
            if db is not None:
                ds *= db
            ds -= np.einsum("...ij,...ij->...i", ds, pb)[..., None]
            ds *= pb
            if dm is not None:
                dm[lo:hi] = ds
            if dq is not None:
                np.matmul(ds, k[lo:hi], out=dq[lo:hi])
                dq[lo:hi] *= scale
            if dk is not None:
                np.matmul(_swap(ds), q[lo:hi], out=dk[lo:hi])
                dk[lo:hi] *= scale

        per_entry = int(np.prod(p.shape[1:], dtype=np.int64)) * dtype.itemsize
        for_ranges(block, p.shape[0], 4 * per_entry)
        grads = [dq, dk, dv] + ([dm] if self.has_mask else [])
        if self.nobatch:
            grads = [None if x is None else x[0] for x in grads]
        return tuple(grads)
