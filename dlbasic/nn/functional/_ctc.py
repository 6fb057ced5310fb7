"""The arguments of F.ctc_loss, checked and converted as torch checks them (its messages, in
its order), for the one CTC primitive in ``dlbasic/ops/ctc.py``."""
from collections.abc import Sequence

import numpy as np

from ..._dtype import TYPE_SHORT as _TYPE_SHORT
from ..._tensor import Tensor
from ...ops.ctc import CtcLoss

__all__ = []

_WHERE = " (while checking arguments for ctc_loss_allocate_outputs)"


def _lengths(name, value):
    if isinstance(value, Tensor):
        if value.dtype.is_floating_point or value.dtype.is_complex or value.dtype.name == "bool":
            raise RuntimeError(f"{name} must be integral")
        return value._data.astype(np.int64).reshape(-1)
    return np.asarray([int(v) for v in value], dtype=np.int64).reshape(-1)


def _is_int_sequence(value):
    return isinstance(value, Sequence) and not isinstance(value, str) and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)


def ctc_per_sample(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
    """The unreduced loss (N,) of the (T, N, C) ``log_probs`` (unsqueezed from (T, C) by the
    caller), the target lengths as an int64 array, for 'mean'."""
    both_tensors = isinstance(input_lengths, Tensor) and isinstance(target_lengths, Tensor)
    both_ints = _is_int_sequence(input_lengths) and _is_int_sequence(target_lengths)
    if not (both_tensors or both_ints):
        raise TypeError("ctc_loss(): input_lengths and target_lengths must both be Tensors or "
                        "both be tuples of ints, got "
                        f"{type(input_lengths).__name__} and {type(target_lengths).__name__}")
    il = _lengths("input_lengths", input_lengths)
    tl = _lengths("target_lengths", target_lengths)
    if not isinstance(targets, Tensor):
        raise TypeError(f"ctc_loss(): argument 'targets' must be Tensor, not "
                        f"{type(targets).__name__}")
    if log_probs.dtype.name not in ("float32", "float64"):
        raise NotImplementedError(f'"ctc_loss_cpu" not implemented for '
                                  f"'{_TYPE_SHORT.get(log_probs.dtype.name, log_probs.dtype)}'")
    if log_probs.ndim != 3:
        raise RuntimeError(f"Expected 3-dimensional tensor, but got {log_probs.ndim}-dimensional "
                           f"tensor for argument #1 'log_probs'{_WHERE}")
    if not 1 <= targets.ndim <= 2:
        raise RuntimeError(f"Expected 1 to 2 dimensions, but got {targets.ndim}-dimensional "
                           f"tensor for argument #2 'targets'{_WHERE}")
    T, N, C = log_probs.shape
    if not 0 <= blank < C:
        raise RuntimeError("blank must be in label range")
    if il.size != N:
        raise RuntimeError("input_lengths must be of size batch_size")
    if tl.size != N:
        raise RuntimeError("target_lengths must be of size batch_size")
    for v in tl:
        if v < 0:
            raise RuntimeError(f"Expected target_lengths to have value at least 0, but got "
                               f"value {v}{_WHERE}")
    tg = targets._data.astype(np.int64)
    lmax = int(tl.max()) if N else 0
    if tg.ndim == 1:                    # concatenated: target n is the next tl[n] labels
        if tg.shape[0] != int(tl.sum()):
            raise RuntimeError(f"Expected tensor to have size {int(tl.sum())} at dimension 0, "
                               f"but got size {tg.shape[0]} for argument #2 'targets'{_WHERE}")
        padded = np.zeros((N, lmax), np.int64)
        offsets = np.concatenate([[0], np.cumsum(tl)])
        for n in range(N):
            padded[n, :tl[n]] = tg[offsets[n]:offsets[n + 1]]
        tg = padded
    else:
        if tg.shape[0] != N:
            raise RuntimeError(f"Expected tensor to have size {N} at dimension 0, but got size "
                               f"{tg.shape[0]} for argument #2 'targets'{_WHERE}")
        if tg.shape[1] < lmax:
            raise RuntimeError(f"Expected tensor to have size at least {lmax} at dimension 1, "
                               f"but got size {tg.shape[1]} for argument #2 'targets'{_WHERE}")
    for v in il:
        if v < 0:
            raise RuntimeError(f"Expected input_lengths to have value at least 0, but got value "
                               f"{v}{_WHERE}")
        if v > T:
            raise RuntimeError(f"Expected input_lengths to have value at most {T}, but got value "
                               f"{v}{_WHERE}")
    used = tg[:, :lmax][np.arange(lmax)[None, :] < tl[:, None]]
    if used.size and (used.min() < 0 or used.max() >= C):
        # torch reads out of bounds here; an error is better than a wrong number
        raise IndexError(f"ctc_loss(): target labels must be in [0, {C}), got "
                         f"{int(used.min()) if used.min() < 0 else int(used.max())}")
    loss = CtcLoss.apply(log_probs, targets=tg, input_lengths=il, target_lengths=tl,
                         blank=int(blank), zero_infinity=bool(zero_infinity))
    return loss, tl
