"""Functional forms of the basic layers: linear, bilinear, dropout, embedding, one_hot."""
import warnings

import numpy as np

from ..._random import _rng
from ..._dtype import TYPE_SHORT as _SHORT
from ..._tensor import Tensor
from ...autograd.grad_mode import no_grad
from ...ops.linear import LinearBias, LinearNoBias
from ...ops.dropout import NativeDropout, dropout_mask
from ...ops.embedding import Embedding as _EmbeddingOp
from ...ops import movement as _M, reduction as _R
from ...ops.matmul import matmul as _matmul

__all__ = ["linear", "bilinear", "dropout", "dropout1d", "dropout2d", "dropout3d",
           "feature_alpha_dropout", "alpha_dropout", "embedding", "embedding_bag", "one_hot"]


def _check_tensor(x, name, fn):
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' (position 1) must be Tensor, not "
                        f"{type(x).__name__}")


def linear(input, weight, bias=None):
    """y = input @ weight^T + bias over the last dim of ``input`` (any leading dims)."""
    _check_tensor(input, "input", "linear")
    _check_tensor(weight, "weight", "linear")
    xs, ws = input._data.shape, weight._data.shape
    if input._data.ndim == 0 or weight._data.ndim == 0:
        raise RuntimeError(f"both arguments to linear need to be at least 1D, but they are "
                           f"{input._data.ndim}D and {weight._data.ndim}D")
    if weight._data.ndim != 2:
        if weight._data.ndim == 1 and input._data.ndim >= 1 and xs[-1] == ws[0]:
            out = input.matmul(weight)          # torch allows a 1-D weight: a dot product
            return out if bias is None else out + bias
        raise RuntimeError(f"linear(): expected a 2-D weight and an input with at least 1 "
                           f"dim, got weight of shape {list(ws)} and input of shape {list(xs)}")
    if xs[-1] != ws[1]:
        rows = int(np.prod(xs[:-1], dtype=np.int64))
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{xs[-1]} and "
                           f"{ws[1]}x{ws[0]})")
    if input._data.dtype != weight._data.dtype:
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got "
                           f"{_SHORT.get(input.dtype.name)} and {_SHORT.get(weight.dtype.name)}")
    if bias is None:
        return LinearNoBias.apply(input, weight)
    _check_tensor(bias, "bias", "linear")
    if bias._data.shape not in ((ws[0],), (), (1,)):
        # torch adds the bias by expanding it to the output's shape
        out_shape = list(xs[:-1]) + [ws[0]]
        b = list(bias._data.shape)
        if len(b) > len(out_shape):
            raise RuntimeError(f"expand(torch.FloatTensor{{{b}}}, size={out_shape}): the number "
                               f"of sizes provided ({len(out_shape)}) must be greater or equal "
                               f"to the number of dimensions in the tensor ({len(b)})")
        for i in range(1, len(b) + 1):
            if b[-i] not in (1, out_shape[-i]):
                raise RuntimeError(f"The expanded size of the tensor ({out_shape[-i]}) must "
                                   f"match the existing size ({b[-i]}) at non-singleton "
                                   f"dimension {len(out_shape) - i}.  Target sizes: "
                                   f"{out_shape}.  Tensor sizes: {b}")
        return LinearNoBias.apply(input, weight) + bias
    if bias._data.dtype != weight._data.dtype:
        raise RuntimeError(f"expected mat1 and bias to have the same dtype, but got: "
                           f"{input.dtype.name} != {bias.dtype.name}")
    return LinearBias.apply(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    """y_k = x1^T W_k x2 + b_k for x1 (..., in1), x2 (..., in2), W (out, in1, in2)."""
    if weight.dim() != 3:
        raise RuntimeError(f"bilinear(): weight must be 3-D, got shape {list(weight.shape)}")
    out_f, in1, in2 = weight.shape
    if input1.shape[-1] != in1 or input2.shape[-1] != in2:
        raise RuntimeError(f"bilinear(): input1 size {input1.shape[-1]} and input2 size "
                           f"{input2.shape[-1]} must match weight sizes {in1} and {in2}")
    if input1.shape[:-1] != input2.shape[:-1]:
        raise RuntimeError(f"bilinear(): input batch dimensions {list(input1.shape[:-1])} and "
                           f"{list(input2.shape[:-1])} must agree")
    lead = tuple(input1.shape[:-1])
    x1 = input1.reshape(-1, in1)
    x2 = input2.reshape(-1, in2)
    # (x1 @ W viewed as in1 x (out*in2)) then contract in2 against x2
    t = x1.matmul(weight.permute(1, 0, 2).reshape(in1, out_f * in2)).reshape(-1, out_f, in2)
    y = (t * x2.unsqueeze(1)).sum(-1)
    if bias is not None:
        y = y + bias
    return y.reshape(lead + (out_f,))


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _apply_mask(input, mask, inplace):
    if inplace:
        return input._inplace(lambda a: NativeDropout.apply(a, Tensor._make(mask)))
    return NativeDropout.apply(input, Tensor._make(mask))


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1-p) (training only)."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    mask = dropout_mask(input._data.shape, p, input._data.dtype, _rng())
    return _apply_mask(input, mask, inplace)


def _feature_dropout(input, p, training, inplace, batched_ndim, name):
    _check_p(p)
    nd = input.dim()
    if nd not in (batched_ndim, batched_ndim - 1):
        warnings.warn(f"{name}: Received a {nd}-D input to {name}(), which is deprecated and "
                      f"will result in an error in a future release. Expected a "
                      f"{batched_ndim}-D (batched) or {batched_ndim - 1}-D (unbatched) input.",
                      stacklevel=3)
    if not training or p == 0.0:
        return input
    shape = input._data.shape
    if nd < 2:
        raise RuntimeError(f"{name}: feature dropout requires at least 2 dimensions in the "
                           f"input, got {nd}")
    if nd == batched_ndim - 1 and name != "dropout2d":
        mask_shape = shape[:1] + (1,) * (nd - 1)          # unbatched: (C, 1, ...)
    else:
        mask_shape = shape[:2] + (1,) * (nd - 2)          # (N, C, 1, ...)
    mask = dropout_mask(mask_shape, p, input._data.dtype, _rng())
    return _apply_mask(input, mask, inplace)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) / (C, L) inputs."""
    return _feature_dropout(input, p, training, inplace, 3, "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels (N, C, H, W): a (N, C, 1, 1) mask scaled by 1/(1-p)."""
    if input.dim() == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that "
                      "channel-wise 1D dropout behavior is desired - input is interpreted as "
                      "shape (N, C, L), where C is the channel dim. This behavior will change "
                      "in a future release to interpret the input as one without a batch "
                      "dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise "
                      "dropout behavior, please switch to using dropout1d instead.",
                      stacklevel=2)
    return _feature_dropout(input, p, training, inplace, 4, "dropout2d")


def dropout3d(input, p=0.5, training=True, inplace=False):
    return _feature_dropout(input, p, training, inplace, 5, "dropout3d")


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    raise NotImplementedError("alpha_dropout is not implemented in dlbasic")


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    raise NotImplementedError("feature_alpha_dropout is not implemented in dlbasic")


def _embedding_renorm(weight, idx, max_norm, norm_type):
    """Rescale (in place, outside autograd) the rows that are read so their norm <= max_norm."""
    rows = np.unique(idx)
    w = weight._data
    sub = w[rows].astype(np.float64)
    norms = np.sum(np.abs(sub) ** norm_type, axis=1) ** (1.0 / norm_type)
    scale = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
    with no_grad():
        w[rows] = (sub * scale[:, None]).astype(w.dtype)
        weight._vbox[0] += 1


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` picked by the integer tensor ``input``: out[...] = weight[input[...]]."""
    if not isinstance(input, Tensor):
        raise TypeError(f"embedding(): argument 'indices' (position 1) must be Tensor, not "
                        f"{type(input).__name__}")
    idx = input._data
    if idx.dtype.kind not in "iu" or idx.dtype == np.uint8:
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the "
                           "following scalar types: Long, Int; but got "
                           f"torch.{_SHORT.get(input.dtype.name, input.dtype.name)}Tensor "
                           "instead (while checking arguments for embedding)")
    if weight.dim() != 2:
        raise RuntimeError("'weight' must be 2-D")
    if sparse:
        raise NotImplementedError("dlbasic has no sparse gradients; use sparse=False")
    num = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        raise IndexError("index out of range in self")
    if padding_idx is not None:
        if padding_idx > 0:
            if padding_idx >= num:
                raise AssertionError("Padding_idx must be within num_embeddings")
        elif padding_idx < 0:
            if padding_idx < -num:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = num + padding_idx
    if max_norm is not None:
        _embedding_renorm(weight, idx, max_norm, norm_type)
    return _EmbeddingOp.apply(weight, indices=idx, padding_idx=padding_idx,
                                          scale_grad_by_freq=scale_grad_by_freq)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,
                  mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False,
                  padding_idx=None):
    """Sums, means or maxima of bags of embeddings, without materialising the bags' indices
    as a padded batch.  A 2-D ``input`` (B, N) is B bags of N indices; a 1-D ``input`` is cut
    into bags at ``offsets`` (bag b = input[offsets[b]:offsets[b+1]]).  ``per_sample_weights``
    (mode 'sum') weights each index; ``padding_idx`` entries are left out of every bag (and of
    its count, for the mean); an empty bag gives zeros.

    sum / mean: out = A @ embedding(input), A[b, i] = w_i (or 1 / |bag b|) for i in bag b --
    one matrix product, so the gradient reaches both the weight and per_sample_weights.
    max: the elementwise maximum of each bag (the gradient goes to the maxima)."""
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated "
                             "is a mini-batch of fixed length sequences. However, found "
                             f"offsets of type {type(offsets)}")
        bags, n = input.shape
        starts = np.arange(bags) * n
        flat = input.reshape(-1)
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        starts = offsets._data.astype(np.int64)
        if include_last_offset:
            starts = starts[:-1]
        flat = input
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension "
                         f"{input.ndim}")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(
                "embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                f"supported for mode='sum' (got mode='{mode}'). Please open a feature request "
                "on GitHub.")
        if tuple(per_sample_weights.shape) != tuple(flat.shape):
            raise ValueError(f"embedding_bag: If per_sample_weights "
                             f"({per_sample_weights.shape}) is not None, then it must "
                             f"have the same shape as the input ({input.shape})")
    m = flat.shape[0]
    ends = np.append(starts[1:], m) if not include_last_offset or input.ndim == 2 \
        else offsets._data.astype(np.int64)[1:]
    if starts.size and (starts[0] != 0 and input.ndim == 1):
        raise RuntimeError("offsets[0] has to be 0, i.e., the first sequence in the mini-batch "
                           "has to start from position 0. However, got " + str(int(starts[0])))
    rows = embedding(flat, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse)
    idx = flat._data
    keep = np.ones(m, bool) if padding_idx is None else \
        idx != (padding_idx if padding_idx >= 0 else weight.shape[0] + padding_idx)
    n_bags = len(starts)
    if mode == "max":
        outs = []
        for b in range(n_bags):
            members = np.flatnonzero(keep[starts[b]:ends[b]]) + starts[b]
            if members.size:
                outs.append(_R.amax(rows[Tensor._make(members)], 0))
            else:
                outs.append(Tensor._make(np.zeros(weight.shape[1], weight._data.dtype)))
        if not outs:
            return Tensor._make(np.zeros((0, weight.shape[1]), weight._data.dtype))
        return _M.stack(outs)
    a = np.zeros((n_bags, m), weight._data.dtype)
    for b in range(n_bags):
        members = np.flatnonzero(keep[starts[b]:ends[b]]) + starts[b]
        if members.size:
            a[b, members] = 1.0 / members.size if mode == "mean" else 1.0
    a = Tensor._make(a)
    if per_sample_weights is not None:
        a = a * per_sample_weights.reshape(1, -1)
    return _matmul(a, rows)


def one_hot(tensor, num_classes=-1):
    """An int64 tensor of shape (*, num_classes) with a 1 at each index."""
    idx = tensor._data
    if idx.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if idx.size and idx.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if num_classes == -1:
        if idx.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(idx.max()) + 1
    elif idx.size and idx.max() >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    out = np.zeros(idx.shape + (num_classes,), dtype=np.int64)
    np.put_along_axis(out, idx[..., None], 1, axis=-1)
    return Tensor._make(out)
