"""Parity of shape/movement ops and indexing (getitem and setitem) with torch."""
import numpy as np
import pytest
import torch

import dlbasic
from tests.parity.harness import assert_same_error, check, check_raises

MOVEMENT = {
    "reshape": lambda x: x.reshape(4, 6),
    "reshape_tuple_infer": lambda x: torch.reshape(x, (-1, 3)),
    "view": lambda x: x.view(2, 12),
    "view_infer": lambda x: x.view(-1),
    "flatten": lambda x: x.flatten(),
    "flatten_range": lambda x: torch.flatten(x, 1),
    "flatten_mid": lambda x: x.flatten(0, 1),
    "unflatten": lambda x: x.unflatten(2, (2, 2)),
    "squeeze": lambda x: x.reshape(2, 1, 3, 1, 4).squeeze(),
    "squeeze_dim": lambda x: x.reshape(2, 1, 3, 1, 4).squeeze(1),
    "squeeze_noop": lambda x: x.squeeze(0),
    "squeeze_dims": lambda x: x.reshape(2, 1, 3, 1, 4).squeeze((1, 3)),
    "unsqueeze": lambda x: x.unsqueeze(0),
    "unsqueeze_neg": lambda x: torch.unsqueeze(x, -1),
    "permute": lambda x: x.permute(2, 0, 1),
    "permute_tuple": lambda x: torch.permute(x, (1, 2, 0)),
    "transpose": lambda x: x.transpose(0, 2),
    "transpose_neg": lambda x: torch.transpose(x, -1, -2),
    "swapaxes": lambda x: x.swapaxes(0, 1),
    "movedim": lambda x: torch.movedim(x, 0, -1),
    "T2d": lambda x: x[0].T,
    "t": lambda x: x[0].t(),
    "t_1d": lambda x: x[0, 0].t(),
    "mT": lambda x: x.mT,
    "expand": lambda x: x[:, :1].expand(2, 5, 4),
    "expand_new_dims": lambda x: x[0, 0].expand(3, 2, 4),
    "expand_minus1": lambda x: x[:, :1].expand(-1, 3, -1),
    "expand_as": lambda x: x[0:1].expand_as(x),
    "broadcast_to": lambda x: torch.broadcast_to(x[:, :1], (2, 3, 4)),
    "repeat": lambda x: x.repeat(2, 1, 3),
    "repeat_more_dims": lambda x: x.repeat(2, 1, 1, 2),
    "tile": lambda x: torch.tile(x, (2,)),
    "repeat_interleave": lambda x: torch.repeat_interleave(x, 2, dim=1),
    "flip": lambda x: x.flip(0),
    "flip_dims": lambda x: torch.flip(x, (0, 2)),
    "narrow": lambda x: x.narrow(1, 1, 2),
    "narrow_neg": lambda x: torch.narrow(x, -1, -3, 2),
    "select": lambda x: x.select(1, -1),
    "roll": lambda x: torch.roll(x, 1, 2),
    "roll_flat": lambda x: torch.roll(x, 5),
    "tril": lambda x: torch.tril(x),
    "triu_k": lambda x: x.triu(1),
    "clone": lambda x: x.clone() * 2,
    "contiguous": lambda x: x.transpose(0, 1).contiguous(),
    "split": lambda x: torch.split(x, 2, dim=2),
    "split_sizes": lambda x: x.split([1, 2], dim=1),
    "split_uneven": lambda x: torch.split(x, 3, dim=-1),
    "chunk": lambda x: torch.chunk(x, 2, dim=2),
    "chunk_uneven": lambda x: x.chunk(2, dim=1),
    "unbind": lambda x: torch.unbind(x, 1),
    "split_use_one": lambda x: torch.split(x, 1, dim=0)[1] * 3,
    "gather": lambda x: torch.gather(x, 2, torch.tensor([[[0, 0], [1, 3], [2, 2]],
                                                         [[3, 3], [0, 1], [1, 1]]])),
    "index_select": lambda x: x.index_select(1, torch.tensor([2, 0, 2])),
    "masked_fill": lambda x: x.masked_fill(x > 0, 0.5),
    "masked_select": lambda x: torch.masked_select(x, x > 0),
    "diagonal": lambda x: torch.diagonal(x[0]),
    "diagonal_off": lambda x: x.diagonal(1, 1, 2),
    "scatter": lambda x: torch.zeros(2, 3, 4).scatter(2, torch.tensor([[[0], [1], [2]],
                                                                       [[3], [1], [0]]]),
                                                x[:, :, :1]),
    "scatter_add": lambda x: x.scatter_add(1, torch.tensor([[[0, 1, 0, 1]], [[2, 2, 2, 2]]]),
                                           x[:, :1] * 2),
    "index_add": lambda x: x.index_add(1, torch.tensor([0, 0, 2]), x),
}


@pytest.mark.parametrize("name", sorted(MOVEMENT))
def test_movement_matches_torch(name):
    check(MOVEMENT[name], shapes=[(2, 3, 4)])


def test_split_chunk_views_and_results_count():
    t, d = check(lambda x: torch.chunk(x, 4, dim=0), shapes=[(6, 2)])
    assert len(d) == len(t) == 3
    t, d = check(lambda x: torch.split(x, [2, 0, 4]), shapes=[(6, 2)])
    assert [p.shape[0] for p in d] == [2, 0, 4]


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_and_stack(dim):
    check(lambda a, b, c: torch.cat([a, b, c], dim=dim), shapes=[(2, 3), (2, 3), (2, 3)])
    check(lambda a, b, c: torch.stack((a, b, c), dim), shapes=[(2, 3), (2, 3), (2, 3)])


def test_cat_different_sizes_and_dtypes():
    check(lambda a, b: torch.cat([a, b], 1), shapes=[(2, 3), (2, 5)])
    check(lambda a, b: torch.cat([a, b]), inputs=[np.ones((2, 2), np.float32),
                                                  np.arange(4).reshape(2, 2)])
    check(lambda a, b: torch.cat([a, b]), inputs=[np.ones((2, 2), np.float32),
                                                  np.zeros((0,), np.float32)])
    check(lambda a, b: torch.hstack([a, b]), shapes=[(2, 3), (2, 1)])
    check(lambda a, b: torch.vstack([a, b]), shapes=[(3,), (3,)])
    check(lambda a, b: torch.concat([a, b], dim=-1), shapes=[(2, 3), (2, 3)])


def test_scatter_add_reads_leading_block_of_larger_src():
    idx = np.array([[0, 1, 0], [2, 2, 1]])
    check(lambda x, s: x.scatter_add(1, torch.tensor(idx), s), shapes=[(2, 3), (3, 4)],
          grad=False)
    check(lambda x, s: torch.cat([x, s, x]), inputs=[np.ones((2, 2), np.float32),
                                                     np.zeros((0,), np.float32)])


@pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter")
def test_scatter_multiply_has_no_gradient_as_in_torch():
    def run(lib):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        s = lib.tensor([5.0, 7.0], requires_grad=True)
        y = lib.scatter(x, 0, lib.tensor([0, 2]), s, reduce="multiply")
        return lambda: y.sum().backward()
    assert_same_error(run(torch), run(dlbasic))


def test_stack_of_same_tensor_accumulates():
    check(lambda a: torch.stack([a, a * 2, a], 1), shapes=[(3, 2)])
    check(lambda a: torch.cat([a, a], 0), shapes=[(3, 2)])


# -- indexing ------------------------------------------------------------------------------

INDEXING = {
    "int": lambda x: x[1],
    "neg_int": lambda x: x[-1, 2],
    "slice": lambda x: x[1:3],
    "slice_step": lambda x: x[::2, 1::2],
    "slice_neg": lambda x: x[-3:-1, :-1],
    "none": lambda x: x[None],
    "none_mid": lambda x: x[:, None, 1],
    "ellipsis": lambda x: x[..., 1],
    "ellipsis_none": lambda x: x[..., None, :2],
    "ellipsis_first": lambda x: x[1, ...],
    "int_tensor": lambda x: x[torch.tensor([0, 2, 3])],
    "int_tensor_2d": lambda x: x[torch.tensor([[0, 1], [3, 3]])],
    "int_list": lambda x: x[[0, 2]],
    "int_tensor_dim1": lambda x: x[:, torch.tensor([4, 0])],
    "repeated": lambda x: x[torch.tensor([1, 1, 1, 0])],
    "repeated_pairs": lambda x: x[torch.tensor([0, 0, 2]), torch.tensor([1, 1, 3])],
    "advanced_sep": lambda x: x[torch.tensor([0, 1]), :, torch.tensor([1, 2])],
    "bool_mask": lambda x: x[x > 0],
    "bool_row_mask": lambda x: x[torch.tensor([True, False, True, False])],
    "bool_mask_dim1": lambda x: x[:, torch.tensor([True, False, True, True, False])],
    "bool_scalar": lambda x: x[True],
    "neg_tensor_idx": lambda x: x[torch.tensor([-1, -4])],
    "mixed": lambda x: x[1:, torch.tensor([0, 2]), None],
    "zero_dim_idx": lambda x: x[torch.tensor(2)],
    "list_of_lists": lambda x: x[[[0, 1], [2, 2]]],
    "list_with_slice": lambda x: x[[slice(1, 3), 0]],
    "list_of_tensors": lambda x: x[[torch.tensor([0, 3]), torch.tensor([1, 1])]],
}


@pytest.mark.parametrize("name", sorted(INDEXING))
def test_getitem_matches_torch(name):
    check(INDEXING[name], shapes=[(4, 5, 3)] if name in ("advanced_sep", "ellipsis_none",
                                                         "none_mid", "mixed")
          else [(4, 5)])


def test_repeated_indices_accumulate_in_backward():
    x = np.arange(5, dtype=np.float32)
    t, d = check(lambda x: x[torch.tensor([1, 1, 1, 4, 4])] * torch.tensor([1., 2, 3, 4, 5]),
                 inputs=[x])


def test_getitem_of_nonleaf_and_chained():
    check(lambda x: (x * 2)[1:][:, torch.tensor([0, 0])][..., None].sum(-1), shapes=[(4, 5)])


def test_getitem_with_numpy_int():
    check(lambda x: x[np.int64(2)], shapes=[(4, 5)])


# -- setitem ------------------------------------------------------------------------------

def _setitem(key, value_fn):
    def fn(x, v):
        y = x * 1.0
        y[key] = value_fn(v)
        return y * 2
    return fn


SETITEM = {
    "int": (1, (5,)),
    "slice": ((slice(1, 3),), (2, 5)),
    "slice_broadcast": ((slice(1, 3),), (5,)),
    "scalar_tensor": ((0, 1), ()),
    "col": ((slice(None), 2), (4,)),
    "ellipsis": ((Ellipsis, 0), (4,)),
    "step": ((slice(None, None, 2),), (1, 5)),
}


@pytest.mark.parametrize("name", sorted(SETITEM))
def test_setitem_on_nonleaf_with_autograd(name):
    key, vshape = SETITEM[name]
    check(_setitem(key, lambda v: v), shapes=[(4, 5), vshape])


def test_setitem_with_python_scalar_value():
    def fn(x):
        y = x * 2
        y[1:3, 2] = 0.5
        y[0] = 7
        return y
    check(fn, shapes=[(4, 5)])


def test_setitem_with_int_tensor_and_mask():
    def fn(x, v):
        y = x + 0
        y[torch.tensor([0, 3])] = v
        return y

    def fn_mask(x):
        y = x * 3
        y[y > 0] = 0.0
        return y

    def fn_mask_tensor(x, v):
        y = x * 3
        y[torch.tensor([True, False, True, False])] = v
        return y
    check(fn, shapes=[(4, 5), (2, 5)])
    check(fn_mask, shapes=[(4, 5)])
    check(fn_mask_tensor, shapes=[(4, 5), (5,)])


def test_setitem_value_used_after_and_before():
    def fn(x, v):
        a = x.sin()
        b = a * 2          # uses a before the write (Mul saves a? no: saves x*2 operands)
        a[0] = v * v
        return a.sum() + b.sum()
    check(fn, shapes=[(3, 4), (4,)])


def test_setitem_on_tensor_without_grad_with_grad_value():
    def fn(v):
        y = torch.zeros(3, 4)
        y[1] = v
        return y * torch.arange(12.0).reshape(3, 4)
    check(fn, shapes=[(4,)])


def test_setitem_converts_dtype():
    def fn(x):
        y = torch.zeros(3, dtype=torch.int64)
        y[1] = 2.7
        y[2] = x[0]
        return y
    check(fn, inputs=[np.array([5.9], dtype=np.float32)], requires_grad=False)


def test_setitem_no_autograd_plain_tensor():
    def fn(x):
        x[0, :2] = torch.tensor([10.0, 20.0])
        x[:, -1] = 3
        return x
    check(fn, shapes=[(3, 4)], requires_grad=False)


def test_index_out_of_range_raises_indexerror():
    check_raises(lambda x: x[5], shapes=[(4, 5)])
    check_raises(lambda x: x[0, 7], shapes=[(4, 5)])
    check_raises(lambda x: x[torch.tensor([0, 9])], shapes=[(4, 5)])
    check_raises(lambda x: x[0, 0, 0], shapes=[(4, 5)])
    check_raises(lambda x: x[torch.tensor([0.0])], shapes=[(4, 5)])
