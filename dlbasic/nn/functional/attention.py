"""Attention (torch.nn.functional): ``scaled_dot_product_attention`` and
``multi_head_attention_forward``, the function behind ``nn.MultiheadAttention``.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(E) + M) V          (Vaswani et al. 2017, eq. 1)

The product, mask, softmax, dropout and second product are one fused op
(``dlbasic/ops/attention.py``, whose docstring has the gradient); multi-head attention is
three projections, a reshape that puts the heads next to the batch, that one op over every
(batch, head) pair at once, and the output projection.
"""
import math
import warnings

import numpy as np

from ..._dtype import C_TYPE_NAMES
from ..._random import _rng
from ..._tensor import Tensor
from ...ops.attention import ScaledDotProductAttention
from ...ops.dropout import dropout_mask
from ...ops.movement import cat
from ...ops._util import broadcast_error
from .linear import linear, dropout

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


def _ctype(t):
    return C_TYPE_NAMES.get(t.dtype.name, t.dtype.name)


def _additive(mask, dtype):
    """A bool mask (True = take part) as the additive mask 0 / -inf, of ``dtype``."""
    return Tensor._make(np.where(mask._data, 0.0, -np.inf).astype(dtype))


def _check_sdpa(query, key, value, attn_mask, dropout_p, is_causal):
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"scaled_dot_product_attention(): argument '{name}' must be "
                            f"Tensor, not {type(t).__name__}")
    if query.dim() < 2 or key.dim() < 2 or value.dim() < 2:
        raise RuntimeError(f"Expected query, key, and value to all be  at least 2 dimensional, "
                           f"but got query.dim: {query.dim()} key.dim: {key.dim()} and "
                           f"value.dim: {value.dim()} instead.")
    if not (query.dtype == key.dtype == value.dtype):
        raise RuntimeError(f"Expected query, key, and value to have the same dtype, but got "
                           f"query.dtype: {_ctype(query)} key.dtype: {_ctype(key)} and "
                           f"value.dtype: {_ctype(value)} instead.")
    if not query.dtype.is_floating_point:
        raise RuntimeError(f"expected scalar type Float but found {query.dtype.name}")
    if attn_mask is not None:
        if attn_mask.dtype.name not in ("bool", "float32", query.dtype.name):
            raise RuntimeError(f"Expected attn_mask dtype to be bool or float or to match "
                               f"query dtype, but got attn_mask.dtype: {_ctype(attn_mask)} and "
                               f" query.dtype: {_ctype(query)} instead.")
        if is_causal:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be "
                               "set when is_causal=True")


def _repeat_heads(query, key, value):
    """Grouped-query attention: each key/value head serves Hq / Hkv query heads."""
    if query.dim() < 3 or key.dim() < 3 or value.dim() < 3:
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[-{min(query.dim(), key.dim(), value.dim())}, "
                         f"{min(query.dim(), key.dim(), value.dim()) - 1}], but got -3)")
    hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
    if hq % hk or hq % hv:
        raise RuntimeError("Number of heads in key and value must divide the number of heads in ")
    if hk != hq:
        key = key.repeat_interleave(hq // hk, dim=-3)
    if hv != hq:
        value = value.repeat_interleave(hq // hv, dim=-3)
    return key, value


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value, with dropout on the attention weights.

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); the batch dims
    broadcast.  ``attn_mask``: bool (True = may attend) or float (added to the scores),
    broadcastable to (..., L, S); ``is_causal``: query i attends keys j <= i (top-left
    aligned); ``scale`` defaults to 1/sqrt(E).  A query row with no key left gives zeros.
    """
    _check_sdpa(query, key, value, attn_mask, dropout_p, is_causal)
    if enable_gqa:
        key, value = _repeat_heads(query, key, value)
    L, E = query.shape[-2:]
    S, Ek = key.shape[-2:]
    Sv = value.shape[-2]
    qb, kb = tuple(query.shape[:-2]), tuple(key.shape[:-2])
    try:
        score_batch = np.broadcast_shapes(qb, kb)
    except ValueError:
        raise broadcast_error(qb, kb) from None
    flat = int(np.prod(score_batch, dtype=np.int64))
    if Ek != E:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{flat}, {E}] but got: [{flat}, {Ek}].")
    try:
        np.broadcast_shapes(score_batch, tuple(value.shape[:-2]))
    except ValueError:
        raise broadcast_error(score_batch, tuple(value.shape[:-2])) from None
    if Sv != S:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{flat}, {S}] but got: [{flat}, {Sv}].")
    dtype = query._data.dtype
    inputs = [query, key, value]
    if attn_mask is not None:
        if attn_mask.dim() < 2:
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[-{max(attn_mask.dim(), 1)}, {max(attn_mask.dim(), 1) - 1}], "
                             f"but got -2)")
        scores = score_batch + (L, S)
        mshape = tuple(attn_mask.shape)
        try:
            full = np.broadcast_shapes(scores, mshape)
        except ValueError:
            raise broadcast_error(scores, mshape) from None
        if full != scores:
            raise RuntimeError(f"output with shape {list(scores)} doesn't match the broadcast "
                               f"shape {list(full)}")
        inputs.append(_additive(attn_mask, dtype) if attn_mask.dtype.name == "bool"
                      else attn_mask)
    if dropout_p > 1.0:                  # (torch checks it when it reaches the dropout)
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got "
                           f"{dropout_p:g}")
    causal_bias = None
    if is_causal:
        causal_bias = np.triu(np.full((L, S), -np.inf, dtype), 1)
    drop = None
    if dropout_p > 0.0:
        batch = np.broadcast_shapes(score_batch, tuple(value.shape[:-2]),
                                    *([tuple(attn_mask.shape[:-2])] if attn_mask is not None
                                      else []))
        drop = dropout_mask(batch + (L, S), float(dropout_p), dtype, _rng())
    sc = 1.0 / math.sqrt(E) if scale is None else float(scale)
    return ScaledDotProductAttention.apply(*inputs, scale=sc, causal_bias=causal_bias,
                                           drop=drop, may_mask_rows=attn_mask is not None)


# -- multi-head attention ---------------------------------------------------------------------

def _none_or_dtype(input):
    if input is None:
        return None
    if isinstance(input, Tensor):
        return input.dtype
    raise RuntimeError("input to _none_or_dtype() must be None or torch.Tensor")


def _canonical_mask(mask, mask_name, other_type, other_name, target_type, check_other=True):
    """A bool mask (True = masked out, torch's convention for these masks) as an additive
    float mask of ``target_type`` (-inf where True); a float mask is returned as it is."""
    if mask is None:
        return None
    is_float = mask.dtype.is_floating_point
    if mask.dtype.name != "bool" and not is_float:
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. "
                      "Use same type for both instead.", stacklevel=3)
    if not is_float:
        return Tensor._make(np.where(mask._data, -np.inf, 0.0).astype(target_type.name))
    return mask


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
    """True for a batched (3-D) query, False for an unbatched (2-D) one; torch's messages
    when key, value or a mask does not fit it."""
    nd = query.dim()
    if nd not in (2, 3):
        raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received "
                             f"{nd}-D query tensor")
    which = "batched (3-D)" if nd == 3 else "unbatched (2-D)"
    if key.dim() != nd or value.dim() != nd:
        raise AssertionError(f"For {which} `query`, expected `key` and `value` to be {nd}-D "
                             f"but found {key.dim()}-D and {value.dim()}-D tensors respectively")
    if key_padding_mask is not None and key_padding_mask.dim() != nd - 1:
        raise AssertionError(f"For {which} `query`, expected `key_padding_mask` to be `None` "
                             f"or {nd - 1}-D but found {key_padding_mask.dim()}-D tensor instead")
    if attn_mask is not None:
        if attn_mask.dim() not in (2, 3):
            raise AssertionError(f"For {which} `query`, expected `attn_mask` to be `None`, 2-D "
                                 f"or 3-D but found {attn_mask.dim()}-D tensor instead")
        expected = (num_heads, query.shape[0], key.shape[0])
        if nd == 2 and attn_mask.dim() == 3 and tuple(attn_mask.shape) != expected:
            raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got "
                                 f"{attn_mask.shape}")
    return nd == 3


def _in_projection(query, key, value, w, b, separate):
    """q, k, v = x W_q^T + b_q, ... ; one GEMM (and one weight-gradient GEMM) when query, key
    and value are the same tensor, as in self-attention."""
    E = query.shape[-1]
    if separate is None:
        if query is key and key is value:
            qkv = linear(query, w, b)
            return qkv.chunk(3, -1)
        w_q, w_k, w_v = w.chunk(3)
        b_q, b_k, b_v = (None,) * 3 if b is None else b.chunk(3)
        if key is value:
            kv = linear(key, w[E:], None if b is None else b[E:])
            k, v = kv.chunk(2, -1)
            return linear(query, w_q, b_q), k, v
    else:
        w_q, w_k, w_v = separate
        b_q, b_k, b_v = (None,) * 3 if b is None else b.chunk(3)
    return linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                                 dropout_p, out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False):
    """Multi-head attention on (L, N, E) inputs (sequence first; (L, E) unbatched).

    head_i = Attention(Q W_q_i, K W_k_i, V W_v_i); out = concat(head_1..head_h) W_o + b_o.
    Masks follow torch's MultiheadAttention convention: a bool ``True`` is *masked out*; a
    float mask is added to the scores.  Returns (out, weights or None).
    """
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask",
                                       _none_or_dtype(attn_mask), "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the "
                           "Transformer module method `generate_square_subsequent_mask` to "
                           "create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None             # the hint alone drives the fused op's causal mask
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype,
                                    check_other=False)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but "
                             f"got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(f"key's sequence and batch dims {key.shape[:2]} do not match "
                                 f"value's {value.shape[:2]}")
        for name, w in (("q", q_proj_weight), ("k", k_proj_weight), ("v", v_proj_weight)):
            if w is None:
                raise AssertionError(f"use_separate_proj_weight is True but {name}_proj_weight "
                                     f"is None")
        q, k, v = _in_projection(query, key, value, None, in_proj_bias,
                                 (q_proj_weight, k_proj_weight, v_proj_weight))
    else:
        if key.shape != value.shape:
            raise AssertionError(f"key shape {key.shape} does not match value shape "
                                 f"{value.shape}")
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        q, k, v = _in_projection(query, key, value, in_proj_weight, in_proj_bias, None)

    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but "
                                   f"should be {(tgt_len, src_len)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.dim() == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(f"The shape of the 3D attn_mask is {attn_mask.shape}, but "
                                   f"should be {(bsz * num_heads, tgt_len, src_len)}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")

    if bias_k is not None and bias_v is not None:
        if static_k is not None:
            raise AssertionError("bias cannot be added to static key.")
        if static_v is not None:
            raise AssertionError("bias cannot be added to static value.")
        k = cat([k, bias_k.repeat(1, bsz, 1)], 0)
        v = cat([v, bias_v.repeat(1, bsz, 1)], 0)
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    elif bias_k is not None:
        raise AssertionError("bias_k is set but bias_v is None")
    elif bias_v is not None:
        raise AssertionError("bias_v is set but bias_k is None")

    # (len, N, E) -> (N, heads, len, head_dim): the heads become a batch dim of the one op
    q = q.reshape(tgt_len, bsz, num_heads, head_dim).permute(1, 2, 0, 3)
    k = _heads(k, static_k, bsz, num_heads, head_dim, "k")
    v = _heads(v, static_v, bsz, num_heads, head_dim, "v")
    if add_zero_attn:
        zeros = Tensor._make(np.zeros((bsz, num_heads, 1, head_dim), k._data.dtype))
        k = cat([k, zeros], 2)
        v = cat([v, zeros], 2)
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    src_len = k.shape[2]

    mask = None               # additive, broadcast to (N, heads, L, S)
    if attn_mask is not None:
        mask = attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1 else \
            attn_mask.reshape(bsz, num_heads, tgt_len, src_len)
    if key_padding_mask is not None:
        if key_padding_mask.shape[0] != bsz:
            raise AssertionError(f"Expected key_padded_mask.shape[0] to be {bsz}, but got "
                                 f"{key_padding_mask.shape[0]}")
        if key_padding_mask.shape[1] != src_len:
            raise AssertionError(f"Expected key_padded_mask.shape[1] to be {src_len}, but got "
                                 f"{key_padding_mask.shape[1]}")
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len)
        mask = kpm if mask is None else mask + kpm
    if not training:
        dropout_p = 0.0

    if need_weights:
        if is_causal and mask is None:
            raise AssertionError("FIXME: is_causal not implemented for need_weights")
        # the weights are wanted, so they are formed in the open (as torch does here)
        scores = (q * math.sqrt(1.0 / head_dim)).matmul(k.transpose(-2, -1))
        if mask is not None:
            scores = scores + mask
        weights = scores.softmax(-1)
        if dropout_p > 0.0:
            weights = dropout(weights, p=dropout_p)
        out = weights.matmul(v)
        if average_attn_weights:
            weights = weights.mean(1)
    else:
        weights = None
        out = _sdpa_additive(q, k, v, mask, dropout_p, is_causal and mask is None)
    out = out.permute(2, 0, 1, 3).reshape(tgt_len, bsz, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias)
    if not is_batched:
        out = out.squeeze(1)
        if weights is not None:
            weights = weights.squeeze(0)
    return out, weights


def _sdpa_additive(q, k, v, mask, dropout_p, is_causal):
    """The fused op with an additive float mask (already of q's dtype)."""
    L, E = q.shape[-2:]
    S = k.shape[-2]
    drop = None
    if dropout_p > 0.0:
        drop = dropout_mask(tuple(q.shape[:-2]) + (L, S), float(dropout_p), q._data.dtype, _rng())
    causal_bias = np.triu(np.full((L, S), -np.inf, q._data.dtype), 1) if is_causal else None
    inputs = (q, k, v) if mask is None else (q, k, v, mask)
    return ScaledDotProductAttention.apply(*inputs, scale=1.0 / math.sqrt(E),
                                           causal_bias=causal_bias, drop=drop,
                                           may_mask_rows=mask is not None)


def _heads(x, static, bsz, num_heads, head_dim, name):
    if static is None:
        return x.reshape(x.shape[0], bsz, num_heads, head_dim).permute(1, 2, 0, 3)
    if static.shape[0] != bsz * num_heads:
        raise AssertionError(f"expecting static_{name}.size(0) of {bsz * num_heads}, but got "
                             f"{static.shape[0]}")
    if static.shape[2] != head_dim:
        raise AssertionError(f"expecting static_{name}.size(2) of {head_dim}, but got "
                             f"{static.shape[2]}")
    return static.reshape(bsz, num_heads, static.shape[1], head_dim)


def _pad_last(mask):
    """One more key (bias_k or the zero key) that every query may attend: a 0 column."""
    if mask is None:
        return None
    zeros = Tensor._make(np.zeros(tuple(mask.shape[:-1]) + (1,), mask._data.dtype))
    return cat([mask, zeros], -1)
