"""Variable-length sequences for recurrent layers: padding and packing (torch.nn.utils.rnn).

A batch of sequences of lengths ``L_0 >= L_1 >= ... >= L_{B-1}`` is *packed* time step by
time step: step ``t`` holds the ``batch_sizes[t]`` sequences still running at ``t``, so

    data = [x_0[0], x_1[0], ..., x_0[1], x_1[1], ..., x_0[L_0 - 1]]      (sum(L) rows)

and an RNN runs step ``t`` on a batch of ``batch_sizes[t]`` rows, never on padding.  Packing,
padding and unpadding are row gathers (``getitem`` with an index array), so gradients flow
from a padded or packed result back to the sequences it was made of.
"""
from collections.abc import Iterable

import numpy as np

from ..._tensor import Tensor
from ...ops import movement as M
from .._packed_sequence import PackedSequence, invert_permutation

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence",
           "pad_packed_sequence", "pad_sequence", "unpad_sequence", "pack_sequence",
           "unpack_sequence"]


def _long(array):
    return Tensor._make(np.asarray(array, dtype=np.int64))


def _lengths_array(lengths):
    if isinstance(lengths, Tensor):
        return lengths._data.astype(np.int64).reshape(-1)
    return np.asarray(lengths, dtype=np.int64).reshape(-1)


def _step_batch_sizes(lengths):
    """batch_sizes[t] = how many of the (descending) lengths exceed t."""
    steps = np.arange(int(lengths[0]) if lengths.size else 0)
    return (lengths[None, :] > steps[:, None]).sum(axis=1).astype(np.int64)


def _packed_rows(batch_sizes, batch):
    """Row (t * batch + b) of the (T * batch) padded rows for every packed element."""
    return np.concatenate([t * batch + np.arange(bs) for t, bs in enumerate(batch_sizes)])


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded (T, B, *) batch (or (B, T, *) with ``batch_first``) of sequences of the
    given ``lengths``; ``enforce_sorted=False`` sorts the batch by decreasing length first
    and records the order in ``sorted_indices``."""
    lengths = _lengths_array(lengths)
    batch_dim = 0 if batch_first else 1
    sorted_indices = None
    if not enforce_sorted:
        # a stable descending sort, as torch's
        order = np.argsort(-lengths, kind="stable").astype(np.int64)
        lengths = lengths[order]
        sorted_indices = _long(order)
        input = M.index_select(input, batch_dim, sorted_indices)
    if input.numel() == 0:
        raise RuntimeError("Cannot pack empty tensors.")
    if batch_first:
        input = M.transpose(input, 0, 1)
    steps, batch = input.shape[0], input.shape[1]
    if lengths.size != batch:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got "
                           f"{lengths.size} (batch_size={batch})")
    if lengths[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an "
                           "element in 'lengths' that is <= 0")
    if np.any(lengths[1:] > lengths[:-1]):
        raise RuntimeError("`lengths` array must be sorted in decreasing order when "
                           "`enforce_sorted` is True. You can pass `enforce_sorted=False` to "
                           "pack_padded_sequence and/or pack_sequence to sidestep this "
                           "requirement if you do not need ONNX exportability.")
    if lengths[0] > steps:
        raise RuntimeError(f"Expected sequence length to be at most {steps} (the padded "
                           f"length), but got a length of {int(lengths[0])}")
    batch_sizes = _step_batch_sizes(lengths)
    rows = M.reshape(input, (steps * batch,) + tuple(input.shape[2:]))
    data = M.getitem(rows, _long(_packed_rows(batch_sizes, batch)))
    return PackedSequence(data, _long(batch_sizes), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo ``pack_padded_sequence``: (T, B, *) (or (B, T, *)) padded with ``padding_value``,
    and the int64 lengths, both in the batch order the sequences had before packing."""
    batch_sizes = sequence.batch_sizes._data.astype(np.int64).reshape(-1)
    max_seq_length = batch_sizes.size
    if total_length is not None:
        if total_length < max_seq_length:
            raise ValueError("Expected total_length to be at least the length of the longest "
                             f"sequence in input, but got total_length={total_length} and max "
                             f"sequence length being {max_seq_length}")
        max_seq_length = total_length
    data = sequence.data
    batch = int(batch_sizes[0])
    n = data.shape[0]
    # gather every padded cell from data, the padding cells from one extra row of padding
    pad_row = Tensor._make(np.full((1,) + tuple(data.shape[1:]), padding_value,
                                   dtype=data._data.dtype))
    source = np.full(max_seq_length * batch, n, dtype=np.int64)
    source[_packed_rows(batch_sizes, batch)] = np.arange(n)
    padded = M.getitem(M.cat([data, pad_row], 0), _long(source))
    padded = M.reshape(padded, (max_seq_length, batch) + tuple(data.shape[1:]))
    lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(axis=1).astype(np.int64)
    if batch_first:
        padded = M.transpose(padded, 0, 1)
    if sequence.unsorted_indices is not None:
        order = sequence.unsorted_indices
        padded = M.index_select(padded, 0 if batch_first else 1, order)
        lengths = lengths[order._data]
    return padded, _long(lengths)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack sequences of shapes (L_i, *) into (T, B, *) (or (B, T, *)), T = max L_i, filling
    with ``padding_value`` after each sequence (``padding_side='right'``) or before it."""
    if not isinstance(sequences, Iterable):
        raise RuntimeError("pad_sequence: Expected iterable for input sequences, but got arg "
                           f"of type: {type(sequences)}")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got "
                         f"{padding_side}.")
    max_len = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = max_len - s.shape[0]
        if missing:
            pad = Tensor._make(np.full((missing,) + tuple(s.shape[1:]), padding_value,
                                       dtype=s._data.dtype))
            s = M.cat([s, pad] if padding_side == "right" else [pad, s], 0)
        padded.append(s)
    return M.stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """Split a padded batch back into the list of its sequences (the first ``lengths[i]``
    steps of each).  Unlike torch, a time-major input is not transposed in place."""
    if not batch_first:
        padded_sequences = M.transpose(padded_sequences, 0, 1)
    lengths = _lengths_array(lengths)
    if lengths.size != padded_sequences.shape[0]:
        raise ValueError(f"unpad_sequence: got {lengths.size} lengths for a batch of "
                         f"{padded_sequences.shape[0]} sequences")
    return [padded_sequences[i, :int(n)] for i, n in enumerate(lengths)]


def pack_sequence(sequences, enforce_sorted=True):
    """``pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=...)``."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of sequences a PackedSequence holds, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)

