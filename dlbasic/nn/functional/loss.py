"""Loss functions (torch.nn.functional), reduction 'none' / 'mean' / 'sum'.

Pointwise losses (L1, MSE, SmoothL1, Huber, BCE, BCE-with-logits) compute a per-element loss and
reduce it with ordinary ops; NLL and cross entropy reduce inside their fused kernel
(``dlbasic/ops/loss.py``) because their 'mean' divides by the summed weights of the targets.
The deprecated ``size_average`` / ``reduce`` arguments are converted as torch converts them.
"""
import warnings

import numpy as np

from ..._dtype import TYPE_SHORT as _TYPE_SHORT
from ..._tensor import Tensor
from ..._tensor_base import size_str as _size
from ...ops import elementwise as E
from ...ops import loss as L
from ...ops._util import promote, broadcast_error, shape_str
from ...autograd.grad_mode import _state
from .activation import log_softmax, logsigmoid

__all__ = ["l1_loss", "mse_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "nll_loss", "cross_entropy", "kl_div",
           "margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss",
           "multilabel_soft_margin_loss", "cosine_embedding_loss", "pairwise_distance",
           "triplet_margin_loss", "multi_margin_loss", "poisson_nll_loss", "gaussian_nll_loss",
           "ctc_loss"]

_REDUCTIONS = ("none", "mean", "sum")


def _legacy_reduction(size_average, reduce, emit_warning=True, stacklevel=3):
    """torch's conversion of the deprecated (size_average, reduce) pair to a reduction."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        ret = "mean"
    elif reduce:
        ret = "sum"
    else:
        ret = "none"
    if emit_warning:
        warnings.warn(f"size_average and reduce args will be deprecated, please use "
                      f"reduction='{ret}' instead.", stacklevel=stacklevel)
    return ret


def _reduction(reduction, size_average=None, reduce=None):
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce, stacklevel=4)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.mean()


def _check_tensors(name, **tensors):
    for arg, t in tensors.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}(): argument '{arg}' must be Tensor, not {type(t).__name__}")


def _warn_size(input, target):
    if target.shape != input.shape:
        warnings.warn(f"Using a target size ({_size(target.shape)}) that is different to the "
                      f"input size ({_size(input.shape)}). This will likely lead to incorrect "
                      "results due to broadcasting. Please ensure they have the same size.",
                      stacklevel=3)


def _not_differentiable(fn, arg, t):
    """torch's fused losses take no gradient for their class/sample weights."""
    if t is not None and t.requires_grad and _state.enabled:
        raise RuntimeError(f"The function '{fn}' is not differentiable with respect to argument "
                           f"'{arg}'. This input cannot have requires_grad True.")


def _weighted(loss, weight, input, reduction, mean_by_weight_sum):
    """The optional elementwise ``weight`` of l1/mse/huber (torch >= 2.6)."""
    if weight.shape != input.shape:
        raise ValueError("Weights and input must have the same size.")
    loss = loss * weight
    if reduction == "mean" and mean_by_weight_sum:
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


# -- regression losses ---------------------------------------------------------------------

def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """mean |x - y| (L1Loss)."""
    _check_tensors("l1_loss", input=input, target=target)
    _warn_size(input, target)
    reduction = _reduction(reduction, size_average, reduce)
    loss = E.abs(E.sub(input, target))
    if weight is not None:
        return _weighted(loss, weight, input, reduction, True)
    return _reduce(loss, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """mean (x - y)^2 (MSELoss)."""
    _check_tensors("mse_loss", input=input, target=target)
    _warn_size(input, target)
    reduction = _reduction(reduction, size_average, reduce)
    d = E.sub(input, target)
    loss = d * d
    if weight is not None:
        return _weighted(loss, weight, input, reduction, True)
    return _reduce(loss, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (d = x - y)."""
    _check_tensors("smooth_l1_loss", input=input, target=target)
    _warn_size(input, target)
    reduction = _reduction(reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    x, y = promote(input, target, "smooth_l1_loss")
    try:
        loss = L.SmoothL1.apply(x, y, beta=float(beta), scale=1.0)
    except ValueError:
        raise broadcast_error(x.shape, y.shape) from None
    return _reduce(loss, reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere; as the notes derive, this
    is delta * smooth_l1_loss(beta=delta)."""
    _check_tensors("huber_loss", input=input, target=target)
    _warn_size(input, target)
    reduction = _reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    x, y = promote(input, target, "huber_loss")
    try:
        loss = L.SmoothL1.apply(x, y, beta=float(delta), scale=float(delta))
    except ValueError:
        raise broadcast_error(x.shape, y.shape) from None
    if weight is not None:
        return _weighted(loss, weight, input, reduction, False)
    return _reduce(loss, reduction)


# -- binary classification -------------------------------------------------------------------

def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """-w (y log x + (1 - y) log(1 - x)), each log clamped at -100 as torch."""
    _check_tensors("binary_cross_entropy", input=input, target=target)
    reduction = _reduction(reduction, size_average, reduce)
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({_size(target.shape)}) that is different to the "
                         f"input size ({_size(input.shape)}) is deprecated. Please ensure they "
                         "have the same size.")
    # one min and one max each: NaN fails both comparisons, so it is refused too (as torch)
    x = input._data
    if x.size and not (x.min() >= 0 and x.max() <= 1):
        raise RuntimeError("all elements of input should be between 0 and 1")
    y = target._data
    if y.size and not (y.min() >= 0 and y.max() <= 1):
        raise RuntimeError("all elements of target should be between 0 and 1")
    _not_differentiable("binary_cross_entropy", "weight", weight)
    if weight is not None and weight.shape != input.shape:
        _check_bce_weight(weight.shape, input.shape)
    if target.dtype is not input.dtype:
        target = target.to(input.dtype)
    loss = L.BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _check_bce_weight(w_shape, shape):
    """torch expands the weight to the target's shape: it must broadcast to it, not beyond."""
    for i in range(1, len(w_shape) + 1):
        w = w_shape[-i]
        s = shape[-i] if i <= len(shape) else 1
        if w != 1 and w != s and i <= len(shape):
            raise RuntimeError(f"Attempting to broadcast a dimension of length {w} at -{i}! "
                               f"Mismatching argument at index 1 had {_size(w_shape)}; but "
                               f"expected shape should be broadcastable to {shape_str(shape)}")
    full = np.broadcast_shapes(w_shape, shape)
    if full != tuple(shape):
        raise RuntimeError(f"output with shape {shape_str(shape)} doesn't match the broadcast "
                           f"shape {shape_str(full)}")


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """BCE(sigmoid(x), y) computed from the logits without overflow; ``pos_weight`` scales the
    positive term: -w (p y log s(x) + (1 - y) log(1 - s(x)))."""
    _check_tensors("binary_cross_entropy_with_logits", input=input, target=target)
    reduction = _reduction(reduction, size_average, reduce)
    if target.shape != input.shape:
        raise ValueError(f"Target size ({_size(target.shape)}) must be the same as input size "
                         f"({_size(input.shape)})")
    _not_differentiable("binary_cross_entropy_with_logits", "weight", weight)
    _not_differentiable("binary_cross_entropy_with_logits", "pos_weight", pos_weight)
    x, y = promote(input, target, "binary_cross_entropy_with_logits")
    if pos_weight is not None:
        pw = pos_weight if pos_weight.dtype is x.dtype else pos_weight.to(x.dtype)
        try:
            loss = L.BinaryCrossEntropyWithLogits.apply(x, y, pw)
        except ValueError:
            raise broadcast_error(pos_weight.shape, input.shape) from None
    else:
        loss = L.BinaryCrossEntropyWithLogits.apply(x, y)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# -- class-index losses ------------------------------------------------------------------------

def _prepare_indexed(name, input, target, weight, ignore_index):
    """Validate as torch does; return (M, C) logits, (M,) targets, the unreduced output shape
    and the weight array."""
    _check_tensors(name, input=input, target=target)
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    t_batch = target.shape[0] if target.ndim >= 1 else 0
    if input.ndim != 1 and input.shape[0] != t_batch:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target "
                         f"batch_size ({t_batch}).")
    if input.ndim <= 2 and target.ndim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if target._data.dtype not in (np.int64, np.uint8):
        tname = _TYPE_SHORT.get(target._data.dtype.name, target._data.dtype.name)
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {tname}")
    if not input.dtype.is_floating_point:
        tname = _TYPE_SHORT.get(input._data.dtype.name, input._data.dtype.name)
        raise NotImplementedError(f'"nll_loss_out_frame" not implemented for \'{tname}\'')
    c = input.shape[1] if input.ndim >= 2 else input.shape[0]
    if input.ndim == 1:
        if target.ndim == 1 and target.shape[0] != 1:
            raise ValueError(f"For 1D input, 1D target must have size 1, but got target size: "
                             f"{target.shape[0]}")
        x2 = input.reshape(1, c)
        out_shape = ()
    elif input.ndim == 2:
        x2 = input
        out_shape = (input.shape[0],)
    else:
        expected = (input.shape[0],) + tuple(input.shape[2:])
        if tuple(target.shape) != expected:
            raise RuntimeError(f"Expected target size {list(expected)}, got "
                               f"{list(target.shape)}")
        x2 = input.movedim(1, -1).reshape(-1, c)
        out_shape = expected
    t = target._data.reshape(-1).astype(np.int64, copy=False)
    bad = (t != ignore_index) & ((t < 0) | (t >= c))
    if bad.any():
        raise IndexError(f"Target {t[bad][0]} is out of bounds.")
    w = None
    if weight is not None:
        _not_differentiable("nll_loss_forward", "weight", weight)
        if weight.ndim != 1 or weight.numel() != c:
            raise RuntimeError(f"weight tensor should be defined either for all {c} classes or "
                               f"no classes but got weight tensor of shape: "
                               f"{list(weight.shape)}")
        w = weight._data.reshape(-1).astype(input._data.dtype, copy=False)
    return x2, Tensor._make(t), out_shape, w


def _unflatten(loss, reduction, out_shape):
    if reduction == "none" and tuple(loss.shape) != tuple(out_shape):
        return loss.reshape(out_shape)
    return loss


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """-w_t * input[t] per sample (input holds log-probabilities); 'mean' divides by the sum of
    the target weights.  Input (C,), (N, C) or (N, C, d1, ...)."""
    reduction = _reduction(reduction, size_average, reduce)
    x2, t, out_shape, w = _prepare_indexed("nll_loss", input, target, weight, ignore_index)
    loss = L.NllLoss.apply(x2, t, weight=w, ignore_index=ignore_index, reduction=reduction)
    return _unflatten(loss, reduction, out_shape)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """nll_loss(log_softmax(input, 1), target) in one fused pass (gradient softmax - onehot);
    also class-probability targets (same shape as input) and label smoothing."""
    _check_tensors("cross_entropy", input=input, target=target)
    reduction = _reduction(reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if input.ndim >= 1 and tuple(target.shape) == tuple(input.shape):
        return _cross_entropy_probs(input, target, weight, ignore_index, reduction,
                                    label_smoothing)
    if not isinstance(ignore_index, int):
        raise TypeError(f"cross_entropy_loss(): argument 'ignore_index' (position 5) must be int, "
                        f"not {type(ignore_index).__name__}")
    x2, t, out_shape, w = _prepare_indexed("cross_entropy", input, target, weight, ignore_index)
    loss = L.CrossEntropy.apply(x2, t, weight=w, ignore_index=ignore_index, reduction=reduction,
                                label_smoothing=float(label_smoothing))
    return _unflatten(loss, reduction, out_shape)


def _cross_entropy_probs(input, target, weight, ignore_index, reduction, label_smoothing):
    """-sum_c w_c y_c log softmax(x)_c per sample; 'mean' divides by the number of samples."""
    if not target.dtype.is_floating_point:
        raise RuntimeError(f"Expected floating point type for target with class probabilities, "
                           f"got {_TYPE_SHORT.get(target._data.dtype.name)}")
    if ignore_index != -100:
        raise RuntimeError("ignore_index is not supported for floating point target")
    class_dim = 0 if input.ndim == 1 else 1
    c = input.shape[class_dim]
    logp = log_softmax(input, class_dim)
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / c
    prod = logp * target
    if weight is not None:
        if weight.ndim != 1 or weight.numel() != c:
            raise RuntimeError(f"cross_entropy: weight tensor should be defined either for all "
                               f"{c} classes or no classes but got weight tensor of shape: "
                               f"{list(weight.shape)}")
        shape = [1] * input.ndim
        shape[class_dim] = c
        prod = prod * weight.reshape(shape)
    loss = -prod.sum(class_dim)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    n = input.numel() // c if c else 0
    if n == 0:
        return loss.sum() * float("nan")
    return loss.sum() / n


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || q) pointwise, with ``input`` = log q: target (log target - input).

    Where target = 0 the term is 0 (x log x -> 0).  'batchmean' divides the sum by the batch
    size and is the true KL divergence; 'mean' divides by the number of elements, as torch.
    """
    _check_tensors("kl_div", input=input, target=target)
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    if reduction not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.", stacklevel=2)
    if log_target:
        loss = E.exp(target) * (target - input)
    else:
        positive = target > 0
        safe = E.where(positive, target, 1.0)          # log(1) = 0 keeps the gradient finite
        loss = E.where(positive, target * E.log(safe), 0.0) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


# -- margin, embedding and likelihood losses: compositions of differentiable ops ---------------

def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                        reduction="mean"):
    """max(0, -y (x1 - x2) + margin): y = 1 asks x1 to rank above x2, y = -1 below."""
    _check_tensors("margin_ranking_loss", input1=input1, input2=input2, target=target)
    reduction = _reduction(reduction, size_average, reduce)
    if not (input1.ndim == input2.ndim == target.ndim):
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension "
                           f"but got sizes: input1: {_size(input1.shape)}, input2: "
                           f"{_size(input2.shape)}, target: {_size(target.shape)} ")
    loss = (-target * (input1 - input2) + margin).clamp(min=0)
    return _reduce(loss, reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """x where y = 1, max(0, margin - x) where y = -1 (torch adds both terms for any other y)."""
    _check_tensors("hinge_embedding_loss", input=input, target=target)
    reduction = _reduction(reduction, size_average, reduce)
    zeros = E.mul(input, 0.0)
    margin_term = E.where(target != 1, (margin - input).clamp(min=0), zeros)
    self_term = E.where(target != -1, input, zeros)
    return _reduce(margin_term + self_term, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-y x)), y in {1, -1}."""
    _check_tensors("soft_margin_loss", input=input, target=target)
    _not_differentiable("soft_margin_loss", "target", target)          # as torch 2.13
    reduction = _reduction(reduction, size_average, reduce)
    return _reduce(-logsigmoid(target * input), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """Per sample: mean over the C classes of -(y log sigmoid(x) + (1 - y) log sigmoid(-x))."""
    _check_tensors("multilabel_soft_margin_loss", input=input, target=target)
    reduction = _reduction(reduction, size_average, reduce)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.ndim - 1
    loss = loss.sum(dim=class_dim) / input.shape[class_dim]
    return _reduce(loss, reduction)


_EPSILON = 1e-12          # torch's cosine_embedding_loss adds it to both squared magnitudes


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1."""
    _check_tensors("cosine_embedding_loss", input1=input1, input2=input2, target=target)
    reduction = _reduction(reduction, size_average, reduce)
    if target.ndim not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    want = 2 if target.ndim == 1 else 1
    if input1.ndim != want or input2.ndim != want:
        raise RuntimeError(f"{target.ndim}D target tensor expects {want}D input tensors, but "
                           f"found inputs with sizes {_size(input1.shape)} and "
                           f"{_size(input2.shape)}.")
    dim = target.ndim
    prod = (input1 * input2).sum(dim)
    mag1 = (input1 * input1).sum(dim) + _EPSILON
    mag2 = (input2 * input2).sum(dim) + _EPSILON
    cos = prod / E.sqrt(mag1 * mag2)
    zeros = E.mul(cos, 0.0)
    pos = E.where(target == 1, 1 - cos, zeros)
    neg = E.where(target == -1, (cos - margin).clamp(min=0), zeros)
    return _reduce(pos + neg, reduction)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dimension (eps keeps the gradient finite at 0)."""
    _check_tensors("pairwise_distance", x1=x1, x2=x2)
    dim = max(x1.ndim, x2.ndim) - 1
    return (x1 - x2 + eps).norm(p, dim if dim >= 0 else None, keepdim)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """max(0, margin + d(a, p) - d(a, n)) with d the pairwise p-norm distance; ``swap`` uses
    min(d(a, n), d(p, n)) as the negative's distance."""
    _check_tensors("triplet_margin_loss", anchor=anchor, positive=positive, negative=negative)
    reduction = _reduction(reduction, size_average, reduce)
    a, pos, neg = anchor.ndim, positive.ndim, negative.ndim
    if not (a == pos == neg):
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have "
                           f"the same number of dimensions, but got: anchor {a}D, positive "
                           f"{pos}D, and negative {neg}D inputs")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = E.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    loss = (margin + d_pos - d_neg).clamp(min=0)
    return _reduce(loss, reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None,
                      reduce=None, reduction="mean"):
    """Multi-class hinge: per sample, sum over i != y of w_y max(0, margin - x_y + x_i)^p / C."""
    _check_tensors("multi_margin_loss", input=input, target=target)
    reduction = _reduction(reduction, size_average, reduce)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.ndim != 1:
        raise ValueError("weight must be one-dimensional")
    if input.ndim > 2 or (input.ndim == 2 and target.ndim != 1) or target.ndim > 1:
        raise RuntimeError(f"inconsistent target size, expected {_size(input.shape[:1])} but "
                           f"got {_size(target.shape)}")
    x = input if input.ndim == 2 else input.reshape(1, -1)
    y = target.reshape(-1)
    n, c = x.shape
    if y.shape[0] != n:
        raise RuntimeError(f"inconsistent target size, expected {n} but got "
                           f"{_size(target.shape)}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= c):
        raise RuntimeError("target out of range")
    x_y = x.gather(1, y.reshape(-1, 1))
    terms = (margin - x_y + x).clamp(min=0)
    if p == 2:
        terms = terms * terms
    if weight is not None:
        terms = terms * weight[y].reshape(-1, 1)
    other = Tensor._make(np.arange(c)[None, :] != y.numpy()[:, None])
    loss = E.where(other, terms, 0.0).sum(1) / c
    if input.ndim < 2:
        loss = loss.reshape(target.shape) if target.ndim else loss.reshape(())
    return _reduce(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """Poisson negative log likelihood of ``target`` counts: exp(x) - y x when ``input`` is the
    log rate (``log_input``), else x - y log(x + eps); ``full`` adds Stirling's approximation
    y log y - y + log(2 pi y) / 2 of log(y!) where y > 1."""
    _check_tensors("poisson_nll_loss", input=input, target=target)
    reduction = _reduction(reduction, size_average, reduce)
    if log_input:
        loss = E.exp(input) - target * input
    else:
        loss = input - target * E.log(input + eps)
    if full:
        safe = E.where(target > 1, target, 1.0)
        stirling = safe * E.log(safe) - safe + 0.5 * E.log(2 * np.pi * safe)
        loss = loss + E.where(target > 1, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Gaussian negative log likelihood: (log(var) + (x - y)^2 / var) / 2 (+ log(2 pi) / 2 when
    ``full``).  ``var`` has the input's shape, or lacks its last dimension, or has 1 there
    (one variance per sample); it is clamped to at least ``eps`` for the value while its
    gradient passes unchanged, as torch's in-place clamp under no_grad does."""
    _check_tensors("gaussian_nll_loss", input=input, target=target)
    if not isinstance(var, Tensor):
        var = E.mul(input.detach(), 0.0) + float(var)
    if var.shape != input.shape:
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.shape[-1] == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    if bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    var = var + (var.detach().clamp(min=eps) - var.detach())
    d = input - target
    loss = 0.5 * (E.log(var) + d * d / var)
    if full:
        loss = loss + 0.5 * float(np.log(2 * np.pi))
    return _reduce(loss, reduction)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    """Connectionist temporal classification: -log of the summed probability of every alignment
    of each target to its input frames (the alpha-beta recursion, ``dlbasic/ops/ctc.py``).
    ``log_probs`` (T, N, C) or unbatched (T, C); ``targets`` padded (N, S) or concatenated;
    'mean' divides each loss by its target length (at least 1) and averages over the batch."""
    from ._ctc import ctc_per_sample
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    batched = log_probs.ndim == 3
    loss, tl = ctc_per_sample(log_probs if batched else log_probs.unsqueeze(1), targets,
                              input_lengths, target_lengths, blank, zero_infinity)
    if reduction == "mean":
        lengths = Tensor._make(np.maximum(tl, 1).astype(loss._data.dtype))
        return (loss / lengths).mean()
    if reduction == "sum":
        return loss.sum()
    return loss if batched else loss.squeeze(0)
