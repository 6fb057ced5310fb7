"""Parity of matmul / mm / bmm (and mv, dot, outer, einsum) with torch, every rank case."""
import numpy as np
import pytest
import torch

from tests.parity.harness import check, check_raises

MATMUL_SHAPES = [
    ((3,), (3,)),              # dot -> 0-dim
    ((3,), (3, 4)),            # vector @ matrix
    ((2, 3), (3,)),            # matrix @ vector
    ((2, 3), (3, 4)),          # matrix @ matrix
    ((5, 2, 3), (3, 4)),       # batched @ matrix
    ((2, 3), (5, 3, 4)),       # matrix @ batched
    ((5, 2, 3), (5, 3, 4)),    # batched @ batched
    ((5, 1, 2, 3), (4, 3, 2)),  # broadcast batch dims
    ((1, 2, 3), (6, 3, 4)),    # broadcast batch of size 1
    ((3,), (5, 3, 4)),         # vector @ batched
    ((5, 2, 3), (3,)),         # batched @ vector
    ((2, 5, 2, 3), (3,)),      # 4-D @ vector
    ((3,), (2, 5, 3, 4)),      # vector @ 4-D
    ((1, 3), (3, 1)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_matches_torch(shapes):
    check(lambda a, b: torch.matmul(a, b), shapes=list(shapes))
    check(lambda a, b: a @ b, shapes=list(shapes), dtype="float64")


@pytest.mark.parametrize("shapes", MATMUL_SHAPES[:5], ids=str)
def test_matmul_one_side_requires_grad(shapes):
    check(lambda a, b: a @ b, shapes=list(shapes), requires_grad=[True, False])
    check(lambda a, b: a.matmul(b), shapes=list(shapes), requires_grad=[False, True])


def test_mm_bmm_mv_dot_outer():
    check(lambda a, b: torch.mm(a, b), shapes=[(2, 3), (3, 4)])
    check(lambda a, b: a.mm(b), shapes=[(1, 3), (3, 1)])
    check(lambda a, b: torch.bmm(a, b), shapes=[(4, 2, 3), (4, 3, 5)])
    check(lambda a, b: a.bmm(b), shapes=[(1, 2, 3), (1, 3, 1)])
    check(lambda a, b: torch.mv(a, b), shapes=[(2, 3), (3,)])
    check(lambda a, b: torch.dot(a, b), shapes=[(4,), (4,)])
    check(lambda a, b: torch.outer(a, b), shapes=[(4,), (3,)])
    check(lambda a, b, c: torch.addmm(c, a, b, beta=0.5, alpha=2.0),
          shapes=[(2, 3), (3, 4), (4,)])
    check(lambda a, b, c: torch.baddbmm(c, a, b), shapes=[(2, 2, 3), (2, 3, 4), (2, 4)])


def test_matmul_integer_tensors():
    a = np.arange(6).reshape(2, 3)
    b = np.arange(12).reshape(3, 4)
    check(lambda a, b: a @ b, inputs=[a, b], grad=False)
    check(lambda a, b: torch.mm(a, b), inputs=[a, b], grad=False)


def test_matmul_of_noncontiguous_inputs():
    check(lambda a, b: a.t() @ b[::2], shapes=[(3, 2), (6, 4)])
    check(lambda a, b: torch.bmm(a.transpose(1, 2), b.transpose(1, 2)),
          shapes=[(4, 3, 2), (4, 5, 3)])


def test_matmul_chain_with_shared_weight():
    check(lambda x, w: torch.tanh(x @ w) @ w.t(), shapes=[(5, 3), (3, 3)])


def test_einsum_and_tensordot():
    check(lambda a, b: torch.einsum("ij,jk->ik", a, b), shapes=[(2, 3), (3, 4)])
    check(lambda a, b: torch.einsum("bij,bjk->bik", a, b), shapes=[(2, 2, 3), (2, 3, 4)])
    check(lambda a: torch.einsum("ii->i", a), shapes=[(3, 3)])
    check(lambda a, b: torch.einsum("i,j->ij", a, b), shapes=[(3,), (2,)])
    check(lambda a, b: torch.einsum("ij,ij->", a, b), shapes=[(2, 3), (2, 3)])
    check(lambda a, b: torch.einsum("ij,jk", a, b), shapes=[(2, 3), (3, 4)])
    check(lambda a, b: torch.tensordot(a, b, dims=([1], [0])), shapes=[(2, 3), (3, 4)])
    check(lambda a, b: torch.tensordot(a, b, dims=2), shapes=[(2, 3, 4), (3, 4, 5)])


@pytest.mark.parametrize("fn,shapes", [
    (lambda a, b: a @ b, [(2, 3), (4, 5)]),
    (lambda a, b: a @ b, [(3,), (4,)]),
    (lambda a, b: a @ b, [(2, 3), (4,)]),
    (lambda a, b: a @ b, [(4,), (3, 5)]),
    (lambda a, b: a @ b, [(2, 2, 3), (3, 3, 4)]),
    (lambda a, b: a @ b, [(), (3,)]),
    (lambda a, b: torch.mm(a, b), [(2, 3), (2, 3)]),
    (lambda a, b: torch.mm(a, b), [(2, 3, 1), (3, 4)]),
    (lambda a, b: torch.bmm(a, b), [(2, 3, 4), (3, 4, 2)]),
    (lambda a, b: torch.bmm(a, b), [(2, 3, 4), (2, 3, 4)]),
    (lambda a, b: torch.bmm(a, b), [(3, 4), (4, 3)]),
    (lambda a, b: torch.dot(a, b), [(3,), (4,)]),
    (lambda a, b: torch.mv(a, b), [(2, 3), (4,)]),
])
def test_matmul_shape_mismatch_raises_runtimeerror(fn, shapes):
    check_raises(fn, shapes=shapes)


def test_matmul_mismatch_message_names_both_shapes():
    import dlbasic
    with pytest.raises(RuntimeError, match=r"\(2x3 and 4x5\)"):
        dlbasic.randn(2, 3) @ dlbasic.randn(4, 5)
    with pytest.raises(RuntimeError, match=r"\(2x3 and 2x3\)"):
        dlbasic.mm(dlbasic.randn(2, 3), dlbasic.randn(2, 3))
    with pytest.raises(RuntimeError) as t:
        torch.randn(2, 3) @ torch.randn(4, 5)
    with pytest.raises(RuntimeError) as d:
        dlbasic.randn(2, 3) @ dlbasic.randn(4, 5)
    assert str(t.value) == str(d.value)


def test_matmul_dtype_mismatch_raises_runtimeerror():
    check_raises(lambda a, b: a @ b, inputs=[np.ones((2, 3), np.float32),
                                             np.ones((3, 2), np.float64)])
    check_raises(lambda a, b: torch.mm(a, b), inputs=[np.ones((2, 3), np.float32),
                                                      np.ones((3, 2), np.int64)])


def test_einsum_repeated_labels_gradient_lands_on_diagonal():
    check(lambda a: torch.einsum("ii->i", a), shapes=[(3, 3)])
    check(lambda a: torch.einsum("ii", a), shapes=[(3, 3)])
    check(lambda a, b: torch.einsum("iij,j->i", a, b), shapes=[(3, 3, 2), (2,)])
