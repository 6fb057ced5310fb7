"""NumPy's words must never reach the user.

Every bad call below (wrong shapes, dtypes, dims, sizes, indices, values ...) is made against
PyTorch 2.13 and against dlbasic.  PyTorch must refuse it (else the case is no probe), dlbasic
must raise the same exception type (or a subclass), and its message must not carry NumPy's
tell-tale phrases, unless PyTorch's own message has the phrase too (torch itself says "numpy()"
and "must have the same number of dimensions" in a few messages).

The second half runs the ops that can make inf/nan (log(0), sqrt(-1), exp(1000), 0/0, ...)
under ``warnings.simplefilter("error")``: PyTorch is silent there and so must we be, with the
same values, NaN and inf in the same places.
"""
import re
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import dlbasic                                      # noqa: E402
import dlbasic.nn as dnn                            # noqa: E402
import dlbasic.nn.functional as dF                  # noqa: E402

NUMPY_PHRASES = ["operands could not be broadcast", "inhomogeneous", "fromnumeric", "numpy",
                 "ndarray", "axis", "must have the same number of dimensions", "zero-size array",
                 "cannot reshape array"]
NUMPY_PATTERNS = [re.compile(r"index .* is out of bounds for axis")]

LIBS = {"torch": dict(L=torch, F=torch.nn.functional, N=torch.nn, np=np),
        "dlbasic": dict(L=dlbasic, F=dF, N=dnn, np=np)}

# ``L`` is the library (torch or dlbasic), ``F`` its nn.functional, ``N`` its nn.
CASES = [
    # -- broadcasting, in every binary op ------------------------------------------------------
    "L.ones(2, 3) + L.ones(4)", "L.ones(2, 3) - L.ones(4)", "L.ones(2, 3) * L.ones(4)",
    "L.ones(2, 3) / L.ones(4)", "L.ones(2, 3) // L.ones(4)", "L.ones(2, 3) % L.ones(4)",
    "L.ones(2, 3) ** L.ones(4)", "L.maximum(L.ones(2, 3), L.ones(4))",
    "L.minimum(L.ones(2, 3), L.ones(4))", "L.ones(2, 3) == L.ones(4)",
    "L.ones(2, 3) < L.ones(4)", "L.ones(2, 3) >= L.ones(4)",
    "L.ones(2, 3, dtype=L.bool) & L.ones(4, dtype=L.bool)",
    "L.ones(2, 3, dtype=L.int64) | L.ones(4, dtype=L.int64)",
    "L.logical_and(L.ones(2, 3), L.ones(4))", "L.logical_xor(L.ones(2, 3), L.ones(4))",
    "L.fmod(L.ones(2, 3), L.ones(4))", "L.remainder(L.ones(2, 3), L.ones(4))",
    "L.where(L.ones(2, 3, dtype=L.bool), L.ones(4), L.ones(3))",
    "L.where(L.ones(4, dtype=L.bool), L.ones(2, 3), 0.0)",
    "L.add(L.ones(2, 3), L.ones(4), alpha=2)", "L.lerp(L.ones(2, 3), L.ones(4), 0.5)",
    "L.clamp(L.ones(2, 3), min=L.ones(4))", "L.isclose(L.ones(2, 3), L.ones(4))",
    "L.allclose(L.ones(2, 3), L.ones(4))", "L.ones(3).add_(L.ones(2, 3))",
    "L.ones(3).mul_(L.ones(4))", "L.ones(2, 3).copy_(L.ones(4))",
    "L.broadcast_tensors(L.ones(2, 3), L.ones(4))", "L.ones(2, 3).expand(4, 4)",
    "L.ones(2, 3).expand(2)", "L.ones(2, 3).expand(-1, 4)",
    "F.cosine_similarity(L.ones(2, 3), L.ones(2, 4))",
    "L.normal(L.zeros(2), L.ones(3))",
    # -- reshape / view to an impossible shape ----------------------------------------------------
    "L.ones(6).reshape(4, 2)", "L.ones(6).view(4, -1)", "L.ones(6).view(-1, -1)",
    "L.ones(6).reshape(-2, 3)", "L.ones(2, 3).t().view(6)", "L.ones(6).unflatten(0, (4, 2))",
    "L.ones(3).unflatten(0, (2, -1))", "L.ones(2, 3).flatten(1, 0)", "L.ones(2, 3).reshape(3, 3)",
    "L.ones(2, 3).view_as(L.ones(4))", "L.ones(3).view(L.float64)",
    "L.ones(4)[::2].view(L.float64)", "L.tensor(1.0).view(L.float64)",
    # -- dims out of range ----------------------------------------------------------------------
    "L.ones(2, 3).sum(2)", "L.ones(2, 3).mean(-3)", "L.ones(2, 3).max(5)",
    "L.ones(2, 3).argmax(2)", "L.ones(2, 3).softmax(2)", "L.ones(2, 3).transpose(0, 2)",
    "L.ones(2, 3).permute(0, 1, 2)", "L.ones(2, 3).permute(0, 0)", "L.ones(2, 3).unsqueeze(4)",
    "L.ones(2, 3).squeeze(3)", "L.ones(2, 3).cumsum(2)", "L.ones(2, 3).flip(2)",
    "L.ones(2, 3).size(2)", "L.ones(2, 3).std(3)", "L.ones(2, 3).var((0, 0))",
    "L.ones(2, 3).topk(4)", "L.ones(3).topk(-1)", "L.ones(2, 3).sort(2)",
    "L.ones(2, 3).narrow(0, 1, 5)", "L.ones(2, 3).select(0, 2)", "L.ones(2, 3).unbind(2)",
    "L.ones(2, 3).chunk(0)", "L.ones(2, 3).split([1, 2])", "L.ones(2, 3).movedim(0, 2)",
    "L.ones(2, 3).diagonal(0, 0, 2)", "L.ones(2, 3).diagonal(dim1=0, dim2=0)",
    "L.ones(2, 3).roll(1, 2)", "L.ones(2, 3).unique(dim=2)", "L.ones(3).unique(dim=-2)",
    "F.softmax(L.ones(2, 3), 2)", "F.log_softmax(L.ones(2, 3), -3)",
    "F.normalize(L.ones(2, 3), dim=3)",
    # -- gather / scatter / index_select / index_add -------------------------------------------
    "L.ones(2, 3).index_select(0, L.tensor([2]))", "L.ones(3).index_select(0, L.tensor([-1]))",
    "L.ones(2, 3).index_select(0, L.tensor([0.0]))",
    "L.ones(3).index_select(0, L.tensor([[0]]))",
    "L.ones(2, 3).gather(1, L.tensor([[3]]))", "L.ones(2, 3).gather(1, L.tensor([[-1]]))",
    "L.ones(2, 3).gather(1, L.tensor([0]))", "L.ones(2, 3).gather(1, L.tensor([[0.0]]))",
    "L.ones(2, 3).gather(1, L.tensor([[0], [0], [0]]))",
    "L.ones(2, 3).scatter(1, L.tensor([[3]]), 1.0)",
    "L.ones(2, 3).scatter(1, L.tensor([[-1]]), 1.0)",
    "L.ones(2, 3).scatter(1, L.tensor([0]), 1.0)",
    "L.ones(3).scatter(0, L.tensor([0.0]), 1.0)",
    "L.ones(3).scatter(0, L.tensor([0]), L.ones(1, 1))",
    "L.ones(3).scatter(0, L.tensor([0]), L.ones(1, dtype=L.float64))",
    "L.ones(2, 3).scatter(1, L.tensor([[0, 1]]), L.ones(1, 1))",
    "L.zeros(3).scatter(0, L.tensor([0]), 2.0, reduce='bad')",
    "L.ones(2, 3).scatter_add(1, L.tensor([[3]]), L.ones(1, 1))",
    "L.ones(3).index_add(0, L.tensor([5]), L.ones(1))",
    "L.ones(3).index_add(0, L.tensor([-1]), L.ones(1))",
    "L.ones(3).index_add(0, L.tensor([0]), L.ones(2))",
    "L.ones(3).index_add(0, L.tensor([0.0]), L.ones(1))",
    "L.ones(3).take_along_dim(L.tensor([[0]]), 0)",
    "L.ones(2, 3).take_along_dim(L.zeros(3, 1, dtype=L.int64), 1)",
    "L.ones(2, 3).take_along_dim(L.tensor([[0]], dtype=L.int32), 1)",
    "L.ones(3).repeat_interleave(L.tensor([1, 2]))",
    "L.ones(3).repeat_interleave(L.tensor([1, -2, 1]))", "L.ones(3).repeat_interleave(-1)",
    "L.ones(2, 3).repeat(2)",
    # -- indexing -------------------------------------------------------------------------------
    "L.ones(3)[3]", "L.ones(3)[-4]", "L.ones(2, 3)[0, 3]", "L.ones(2, 3)[0, 0, 0]",
    "L.ones(2, 3)[:, :, :]", "L.ones(2, 3)[..., 0, 0, 0]", "L.ones(3)[L.tensor([5])]",
    "L.ones(3)[L.tensor([1.0])]", "L.ones(2)[L.tensor([0, 1], dtype=L.int16)]",
    "L.ones(4)[L.tensor([True, False, True])]", "L.ones(4, 2)[L.tensor([True, False, True])]",
    "L.ones(4, 2)[:, L.tensor([True, False, True])]",
    "L.ones(4, 2)[L.ones(4, 3, dtype=L.bool)]", "L.ones(2, 4, 2)[:, L.ones(4, 3, dtype=L.bool)]",
    "L.ones(3)[L.tensor([[True]])]", "L.ones(3)[[0, 5]]", "L.ones(3)[::-1]", "L.ones(3)[0:2:0]",
    "L.ones(3)[slice(0.5, 2)]", "L.ones(3)['a']", "L.ones(3)[1.5]", "L.ones(3)[object()]",
    "L.ones(3).__setitem__(5, 1.0)", "L.ones(3).__setitem__(L.tensor([True, False]), 1.0)",
    "L.ones(3).__setitem__(slice(None), L.ones(4))",
    "L.ones(3).__setitem__(slice(None), L.ones(2, 3))",
    "L.ones(2, 3).__setitem__(0, L.ones(2))",
    "L.ones(2, 3).__setitem__(L.tensor([0, 1]), L.ones(3, 3))",
    "L.ones(3).__setitem__(0, 'a')", "L.ones(3).__setitem__(0, None)",
    "L.ones(4).masked_fill(L.tensor([True, False, True]), 1.0)",
    "L.ones(2, 3).masked_fill(L.ones(4, dtype=L.bool), 1.0)",
    "L.ones(4).masked_fill(L.tensor([1, 0, 1, 0]), 1.0)",
    "L.ones(2).masked_fill(L.ones(2), 1.0)",
    "L.ones(2).masked_fill(L.ones(2, dtype=L.bool), L.ones(2))",
    "L.ones(2, 3).masked_fill_(L.ones(2, 1, 3, dtype=L.bool), 1.0)",
    "L.ones(4).masked_select(L.tensor([True, False, True]))",
    "L.ones(2, 3).masked_select(L.ones(2, 3, dtype=L.uint8))",
    # -- reductions of empty tensors ------------------------------------------------------------
    "L.ones(0).argmax()", "L.ones(0).argmin()", "L.ones(0).max()", "L.ones(0).min()",
    "L.ones(0, 3).argmax(0)", "L.ones(0, 3).argmin(-2)", "L.ones(0, 3).max(0)",
    "L.ones(0, 3).min(0)", "L.ones(0, 3).amax(0)", "L.ones(0, 3).amax(-2)", "L.ones(0, 3).amin()",
    "L.ones(0).amax()", "L.ones(0, 3).median(0)", "L.ones(0, 3).mode(0)", "L.ones(0).aminmax()",
    "L.ones(0, 3).aminmax(dim=0)", "L.ones(0).topk(1)",
    # -- cat / stack ----------------------------------------------------------------------------
    "L.cat([L.ones(2, 3), L.ones(2, 4)])", "L.cat([L.ones(2, 3), L.ones(3)])",
    "L.cat([L.ones(2, 3), L.ones(2, 3)], 2)", "L.cat([])", "L.cat(L.ones(2))",
    "L.cat([L.ones(2), 1.0])", "L.stack([L.ones(2), L.ones(3)])",
    "L.stack([L.ones(2), L.ones(2)], 2)", "L.stack([])", "L.cat([L.tensor(1.0), L.tensor(2.0)])",
    "L.hstack([L.ones(2, 3), L.ones(3, 3)])", "L.vstack([L.ones(2, 3), L.ones(2, 4)])",
    "L.cat([L.ones(1)], out=L.empty(0, dtype=L.int64))",
    "L.stack([L.ones(1)], out=L.empty(0, dtype=L.int64))",
    "L.meshgrid(L.ones(2, 2))",
    # -- matmul and friends ---------------------------------------------------------------------
    "L.ones(2, 3) @ L.ones(4, 2)", "L.ones(3) @ L.ones(4)", "L.ones(2, 3) @ L.ones(4)",
    "L.ones(3) @ L.ones(4, 2)", "L.ones(2, 2, 3) @ L.ones(3, 3, 4)",
    "L.ones(5, 2, 2, 3) @ L.ones(4, 3, 4)", "L.ones(2, 3, 4) @ L.ones(3)",
    "L.ones(3) @ L.ones(2, 4, 2)", "L.ones(2) @ L.tensor(1.0)",
    "L.mm(L.ones(2, 3), L.ones(4, 2))", "L.mm(L.ones(3), L.ones(3, 2))",
    "L.bmm(L.ones(2, 2, 3), L.ones(2, 4, 2))", "L.bmm(L.ones(2, 3), L.ones(3, 2))",
    "L.mv(L.ones(2, 3), L.ones(4))", "L.dot(L.ones(3), L.ones(4))",
    "L.dot(L.ones(3, 1), L.ones(3))", "L.ones(2, 3, dtype=L.float64) @ L.ones(3, 2)",
    "L.ones(3, dtype=L.int64) @ L.ones(3)", "L.outer(L.ones(2, 2), L.ones(3))",
    "L.outer(L.ones(3), L.ones(2, 2))",
    "L.einsum('ij,jk->ik', L.ones(2, 3), L.ones(4, 2))", "L.einsum('ij,jk', L.ones(2, 3))",
    "L.einsum('ijk,jk->ik', L.ones(2, 3), L.ones(3, 2))", "L.einsum('ij->ik', L.ones(2, 3))",
    "L.einsum('ii->i', L.ones(2, 3))",
    "L.matmul(L.ones(2, 2), L.ones(2, 2), out=L.empty(0, dtype=L.int64))",
    # -- creation: negative and wrong sizes, bad ranges, bad data ---------------------------------
    "L.zeros(-1)", "L.ones(2, -3)", "L.empty(-1)", "L.full((-1,), 1.0)", "L.rand(-2)",
    "L.randn(-1, 2)", "L.randint(0, 5, (-1,))", "L.ones([2, -1])", "L.arange(0, 5, 0)",
    "L.arange(5, 0, 1)", "L.arange(0, float('inf'))", "L.linspace(0, 1, -1)", "L.eye(-1)",
    "L.eye(2, -1)", "L.eye(2.5)", "L.randperm(-1)", "L.zeros(2.5)", "L.zeros('a')",
    "L.full(2.5, 1.0)", "L.full((2.5,), 1.0)", "L.randint(5, (2.5,))", "L.randint(5, 1, (2,))",
    "L.rand(2, 3, dtype=L.int64)", "L.randn(2, dtype=L.int64)",
    "L.zeros(3, dtype=L.float32, out=L.empty(0, dtype=L.int64))",
    "L.tensor([[1, 2], [3]])", "L.tensor([[1, 2], 3])", "L.tensor([1, [2, 3]])",
    "L.tensor([[[1], [2]], [[3], [4, 5]]])", "L.tensor([[1, 2], [3, [4]]])",
    "L.tensor([1.5, [2]])", "L.tensor(['a'])", "L.tensor(['a', 1.0])", "L.tensor('a')",
    "L.tensor(b'ab')", "L.tensor([1.0, 'a'])", "L.tensor([1.0, 'a'], dtype=L.float32)",
    "L.tensor([1, 'a'], dtype=L.int64)", "L.tensor(None)", "L.tensor([None])",
    "L.tensor([1, None])", "L.tensor([1, None], dtype=L.float32)", "L.tensor({1: 2})",
    "L.tensor({1, 2})", "L.tensor(object())", "L.tensor(x for x in range(3))",
    "L.tensor(2**64)", "L.tensor(2**63)", "L.tensor([2**63])", "L.tensor([-2**63 - 1])",
    "L.tensor([1, 2**63])", "L.tensor([2.0, 2**64], dtype=L.int64)",
    "L.tensor([300], dtype=L.int8)", "L.tensor([float('nan')], dtype=L.int64)",
    "L.tensor([L.ones(2), L.ones(3)])", "L.tensor([L.ones(2), L.ones(2)])",
    "L.tensor([[1.0], [2.0, 3.0]], dtype=L.float64)", "L.tensor([np.ones(2), np.ones(3)])",
    "L.tensor([[1, 2], np.ones(3)])", "L.tensor([(1, 2), (3,)])", "L.tensor([[1], []])",
    "L.as_tensor([[1, 2], [3]])", "L.Tensor([[1, 2], [3]])", "L.from_numpy([1, 2])",
    "L.ones(2, dtype=L.int64).requires_grad_()",
    # -- dtypes ---------------------------------------------------------------------------------
    "L.ones(2).bitwise_and(L.ones(2))", "~L.ones(2)", "L.ones(2, dtype=L.int64).mean()",
    "L.ones(2, dtype=L.int64).var()", "L.ones(2, dtype=L.int64).norm()",
    "-L.ones(2, dtype=L.bool)", "L.ones(2, dtype=L.bool) - L.ones(2, dtype=L.bool)",
    "L.ones(2, dtype=L.bool) - 1", "L.ones(2, dtype=L.int64) ** -1",
    "L.where(L.ones(2), L.ones(2), L.ones(2))", "L.ones(2).where(L.ones(2), 0)",
    "L.ones(3).gather(0, L.tensor([0], dtype=L.int16))", "L.ones(2) + 'a'",
    "L.ones(2) * None", "L.add(L.ones(2), [1, 2])", "L.logical_and(L.ones(2), 'a')",
    "L.ones(2).isclose(L.ones(2, dtype=L.float64))", "L.ones(3).bincount()",
    "L.tensor([-1, 2]).bincount()", "L.ones(2, 2, dtype=L.int64).bincount()",
    "L.tensor([1, 2]).bincount(minlength=-1)",
    "L.add(L.ones(1), L.ones(1), out=L.zeros(1, dtype=L.int64))",
    "L.add(L.ones(1, dtype=L.int64), 1.5, out=L.zeros(1, dtype=L.int64))",
    "L.add(L.ones(1, dtype=L.int64), L.ones(1, dtype=L.int64), out=L.zeros(1, dtype=L.bool))",
    "L.exp(L.ones(1), out=L.zeros(1, dtype=L.int64))",
    "L.maximum(L.ones(2), L.ones(2), out=L.empty(0, dtype=L.int64))",
    # -- integer division by zero ---------------------------------------------------------------
    "L.tensor([1, 2]) // L.tensor([0, 1])", "L.tensor([1, 2]) // 0", "L.tensor([1, 2]) % 0",
    "L.tensor([1, 2]) % L.tensor([0, 1])", "L.fmod(L.tensor([1, 2]), 0)",
    "L.fmod(L.tensor([1, 2]), L.tensor([0, 1]))",
    "L.div(L.tensor([1, 2]), 0, rounding_mode='trunc')",
    "L.div(L.tensor([1, 2]), 0, rounding_mode='floor')",
    "L.remainder(L.tensor([1, 2]), L.tensor([1, 0]))", "L.remainder(3, L.tensor([0]))",
    "L.tensor([5], dtype=L.int32) // L.tensor([0], dtype=L.int32)",
    "L.tensor([5], dtype=L.uint8) % 0", "L.tensor([3]).fmod_(0)",
    "L.tensor([True]) // L.tensor([True])", "L.tensor([True]) % L.tensor([False])",
    "L.div(L.ones(2), L.ones(2), rounding_mode='bad')",
    # -- random numbers -------------------------------------------------------------------------
    "L.multinomial(L.tensor([-1.0, 2.0]), 1)", "L.multinomial(L.tensor([float('nan'), 2.0]), 1)",
    "L.multinomial(L.tensor([float('inf'), 2.0]), 1)", "L.multinomial(L.tensor([0.0, 0.0]), 1)",
    "L.multinomial(L.tensor([[1.0, 1.0], [0.0, 0.0]]), 1)",
    "L.multinomial(L.tensor([1.0, 1.0]), 3)", "L.multinomial(L.tensor(1.0), 1)",
    "L.multinomial(L.ones(2, 2, 2), 1)", "L.multinomial(L.tensor([1.0, 2.0]), 0)",
    "L.multinomial(L.tensor([1.0, 2.0]), -1)", "L.multinomial(L.tensor([1, 2]), 1)",
    "L.multinomial(L.zeros(2, 0), 1)", "L.multinomial(L.tensor([1.0, 2.0]), 2.5)",
    "L.bernoulli(L.tensor([-0.5, 0.5]))", "L.bernoulli(L.tensor([1.5, 0.5]))",
    "L.bernoulli(L.tensor([float('nan')]))", "L.bernoulli(L.tensor([float('inf'), 0.5]))",
    "L.bernoulli(L.tensor([0.5]), p=1.5)", "L.bernoulli(L.tensor([0.5]), p=float('nan'))",
    "L.bernoulli(L.tensor([1, 0]))", "L.zeros(2).bernoulli_(1.5)", "L.zeros(2).bernoulli_(-0.1)",
    "L.zeros(2).bernoulli_(L.tensor([1.5, 0.2]))", "L.normal(L.zeros(2), L.tensor([-1.0, 1.0]))",
    "L.normal(0.0, -1.0, (2,))", "L.zeros(2).normal_(0, -1)", "L.zeros(2).normal_(0, float('nan'))",
    "L.zeros(2, dtype=L.int64).normal_()", "L.zeros(2).uniform_(1, 0)",
    "L.zeros(2).uniform_(0, float('inf'))", "L.zeros(2, dtype=L.int64).uniform_()",
    "L.zeros(2).exponential_(-1)", "L.zeros(2).exponential_(0)",
    "L.zeros(2, dtype=L.int64).exponential_()", "L.zeros(2).random_(5, 1)",
    "L.zeros(2).random_(0)", "L.poisson(L.tensor([-1.0]))", "L.poisson(L.tensor([float('nan')]))",
    "L.poisson(L.tensor([1], dtype=L.int64))",
    # -- losses ---------------------------------------------------------------------------------
    "F.mse_loss(L.ones(2, 3), L.ones(4))", "F.mse_loss(L.ones(2, 3), L.ones(3, 2))",
    "F.l1_loss(L.ones(2, 3), L.ones(4))", "F.smooth_l1_loss(L.ones(2, 3), L.ones(4))",
    "F.huber_loss(L.ones(2, 3), L.ones(4))", "F.mse_loss(L.ones(2), L.ones(2), reduction='bad')",
    "F.mse_loss(L.ones(2, 3), L.ones(2, 3), weight=L.ones(3))",
    "F.kl_div(L.ones(2, 3), L.ones(4))",
    "F.binary_cross_entropy(L.full((3,), 0.5), L.full((4,), 0.5))",
    "F.binary_cross_entropy(L.full((3,), 0.5), L.tensor([0.0, 2.0, 1.0]))",
    "F.binary_cross_entropy(L.full((3,), 0.5), L.tensor([0.0, -1.0, 1.0]))",
    "F.binary_cross_entropy(L.full((3,), 0.5), L.tensor([0.0, float('nan'), 1.0]))",
    "F.binary_cross_entropy(L.tensor([0.5, 1.5]), L.tensor([0.0, 1.0]))",
    "F.binary_cross_entropy(L.tensor([0.5, float('nan')]), L.tensor([0.0, 1.0]))",
    "F.binary_cross_entropy(L.tensor([1.5]), L.tensor([2.0]))",
    "F.binary_cross_entropy(L.full((3,), 0.5), L.full((3,), 0.5), weight=L.ones(4))",
    "F.binary_cross_entropy(L.full((2, 3), 0.5), L.ones(2, 3), weight=L.ones(2))",
    "F.binary_cross_entropy(L.full((2,), 0.5), L.ones(2), weight=L.ones(3, 1))",
    "N.BCELoss()(L.full((3,), 0.5), L.tensor([0.0, 2.0, 1.0]))",
    "N.BCELoss(weight=L.ones(2))(L.full((2, 3), 0.5), L.ones(2, 3))",
    "F.binary_cross_entropy_with_logits(L.ones(3), L.ones(4))",
    "F.binary_cross_entropy_with_logits(L.ones(3), L.ones(3), pos_weight=L.ones(4))",
    "F.binary_cross_entropy_with_logits(L.ones(2, 3), L.ones(2, 3), pos_weight=L.ones(2))",
    "F.binary_cross_entropy_with_logits(L.ones(2, 3), L.ones(2, 3), weight=L.ones(4))",
    "F.cross_entropy(L.randn(3, 4), L.tensor([0, 1]))",
    "F.cross_entropy(L.randn(3, 4), L.tensor([0, 1, 4]))",
    "F.cross_entropy(L.randn(3, 4), L.tensor([0, 1, -2]))",
    "F.cross_entropy(L.randn(3, 4), L.tensor([0.0, 1.0, 2.0]))",
    "F.cross_entropy(L.randn(3, 4), L.tensor([0, 1, 2], dtype=L.int32))",
    "F.cross_entropy(L.randn(3, 4), L.tensor([0, 1, 2]), weight=L.ones(5))",
    "F.cross_entropy(L.randn(3, 4), L.tensor([0, 1, 2]), weight=L.ones(2, 2))",
    "F.cross_entropy(L.randn(3, 4), L.randn(3, 4).softmax(1), weight=L.ones(2, 2))",
    "F.cross_entropy(L.randn(3, 4), L.randn(3, 5).softmax(1))",
    "F.cross_entropy(L.randn(3, 4), L.tensor([0, 1, 2]), reduction='bad')",
    "F.cross_entropy(L.randn(3, 4, 5), L.zeros(3, 4, dtype=L.int64))",
    "F.cross_entropy(L.randn(3), L.tensor([1, 2]))",
    "F.cross_entropy(L.randn(3, 4), L.tensor([0, 1, 2]), label_smoothing=1.5)",
    "F.nll_loss(L.randn(3, 4), L.tensor([0, 1, 2]), weight=L.ones(3))",
    "F.nll_loss(L.randn(3, 4), L.tensor([0, 1, 2]), weight=L.ones(2, 2))",
    "F.nll_loss(L.randn(3, 4), L.tensor([[0, 1, 2]]))",
    "F.nll_loss(L.randn(3, 4), L.tensor([0, 1, 9]))", "F.nll_loss(L.tensor(1.0), L.tensor(0))",
    "N.NLLLoss(weight=L.ones(2, 2))(L.randn(3, 4), L.tensor([0, 1, 2]))",
    "N.NLLLoss(weight=L.ones(3))(L.randn(3, 4), L.tensor([0, 1, 2]))",
    "N.CrossEntropyLoss(weight=L.ones(3))(L.randn(3, 4), L.tensor([0, 1, 2]))",
    # -- layers: wrong rank, channel count, features ----------------------------------------------
    "F.linear(L.ones(2, 3), L.ones(4, 5))", "F.linear(L.ones(2, 3), L.ones(4, 3), L.ones(5))",
    "F.linear(L.tensor(1.0), L.ones(4, 3))", "N.Linear(3, 4)(L.ones(2, 5))",
    "N.Linear(3, 4)(L.ones(2, 3, dtype=L.float64))",
    "F.conv2d(L.ones(1, 3, 5, 5), L.ones(2, 4, 3, 3))",
    "F.conv2d(L.ones(3, 5), L.ones(2, 3, 3, 3))",
    "F.conv2d(L.ones(1, 3, 2, 2), L.ones(2, 3, 3, 3))",
    "F.conv2d(L.ones(1, 3, 5, 5), L.ones(2, 3, 3, 3), L.ones(3))",
    "F.conv2d(L.ones(1, 3, 5, 5), L.ones(2, 3, 3, 3), stride=0)",
    "F.conv1d(L.ones(1, 3, 5), L.ones(2, 4, 3))", "N.Conv2d(3, 4, 3)(L.ones(1, 2, 5, 5))",
    "N.Conv2d(3, 4, 3)(L.ones(5, 5))", "F.max_pool2d(L.ones(1, 1, 2, 2), 3)",
    "F.max_pool2d(L.ones(2, 2), 2)", "F.avg_pool2d(L.ones(1, 1, 4, 4), 2, padding=2)",
    "F.max_pool2d(L.ones(1, 1, 4, 4), 0)", "N.BatchNorm2d(3)(L.ones(2, 4, 5, 5))",
    "N.BatchNorm1d(3)(L.ones(2, 4))", "N.BatchNorm2d(3)(L.ones(2, 3))",
    "N.LayerNorm(4)(L.ones(2, 3))",
    "F.layer_norm(L.ones(2, 3), (4,))", "F.group_norm(L.ones(2, 6, 3), 4)",
    "N.Embedding(5, 2)(L.tensor([5]))", "N.Embedding(5, 2)(L.tensor([1.0]))",
    "F.embedding(L.tensor([-1]), L.ones(5, 2))", "F.one_hot(L.tensor([3]), 2)",
    "F.one_hot(L.tensor([-1]))", "F.one_hot(L.tensor([1.0]))", "F.dropout(L.ones(2), 1.5)",
    "F.pad(L.ones(2, 3), (1,))", "F.pad(L.ones(2, 3), (1, 1, 1, 1, 1, 1))",
    "F.pad(L.ones(2, 3), (1, 1), mode='bad')",
    # -- misc tensor API ------------------------------------------------------------------------
    "L.ones(2).item()", "L.ones(2, 2).__bool__()", "len(L.tensor(1.0))", "iter(L.tensor(1.0))",
    "L.ones(2, requires_grad=True).numpy()", "L.ones(3).sum(dim='a')", "L.ones(3).fill_(L.ones(2))",
    "L.ones(2, 3, 4).t()", "L.ones(3).split(0)", "L.ones(3, requires_grad=True).add_(1)",
    "L.ones(3).backward()", "L.ones(3, requires_grad=True).sum().backward(L.ones(2))",
    "L.tril(L.ones(3))", "L.ones(3).triu()", "L.diag(L.ones(2, 2, 2))",
    "L.searchsorted(L.ones(2, 2), L.ones(3))", "L.ones(2, 3).clamp(L.ones(4))",
    "L.ones(3).cumsum(dim=None)",
    # -- second pass: layer arguments, dims, sizes and fill values of every kind ------------------
    "F.conv2d(L.ones(1, 4, 5, 5), L.ones(2, 3, 3, 3), groups=2)",
    "F.conv2d(L.ones(1, 4, 5, 5), L.ones(3, 2, 3, 3), groups=2)",
    "F.conv2d(L.ones(1, 3, 5, 5), L.ones(2, 3, 3, 3), padding=-1)",
    "F.conv2d(L.ones(1, 3, 5, 5), L.ones(2, 3, 3, 3), dilation=0)",
    "F.conv2d(L.ones(1, 3, 5, 5), L.ones(2, 3, 3, 3), padding='bad')",
    "F.conv2d(L.ones(1, 3, 5, 5), L.ones(2, 3, 3, 3), stride=2, padding='same')",
    "F.conv2d(L.ones(1, 3, 5, 5), L.ones(2, 3, 3, 3), stride=(1, 1, 1))",
    "F.conv2d(L.ones(1, 3, 5, 5, dtype=L.float64), L.ones(2, 3, 3, 3))",
    "F.conv2d(L.ones(1, 3, 5, 5), L.ones(2, 3, 3))", "F.conv1d(L.ones(1, 3), L.ones(2, 3, 3))",
    "F.max_pool2d(L.ones(1, 1, 4, 4), 2, padding=2)",
    "F.max_pool2d(L.ones(1, 1, 4, 4), 2, stride=0)", "F.avg_pool2d(L.ones(1, 1, 4, 4), 5)",
    "F.max_pool2d(L.ones(1, 1, 4, 4), 2, dilation=0)", "F.max_pool1d(L.ones(2), 2)",
    "F.avg_pool1d(L.ones(1, 1, 4), 0)", "F.adaptive_max_pool2d(L.ones(2), 1)",
    "F.adaptive_avg_pool2d(L.ones(1, 1, 4, 4), -1)", "F.pad(L.ones(2, 3), (-5, 0))",
    "F.pad(L.ones(1, 2, 3), (3, 3), mode='reflect')", "F.pad(L.ones(1, 2, 3), (1, 1), value='a')",
    "F.embedding(L.tensor([0]), L.ones(5))",
    "F.embedding(L.tensor([0]), L.ones(5, 2), padding_idx=7)",
    "F.embedding(L.tensor([5]), L.ones(5, 2))",
    "F.batch_norm(L.ones(2, 3), L.ones(4), L.ones(4))",
    "F.batch_norm(L.ones(2, 3), L.ones(3), L.ones(3), weight=L.ones(4))",
    "N.BatchNorm1d(3)(L.ones(1, 3))", "N.BatchNorm2d(3)(L.ones(1, 3, 1, 1))",
    "F.layer_norm(L.ones(2, 3), (3,), weight=L.ones(4))",
    "F.group_norm(L.ones(2, 6, 3), 3, weight=L.ones(5))",
    "F.instance_norm(L.ones(2, 3, 4), weight=L.ones(4))", "F.dropout(L.ones(2), -0.5)",
    "F.dropout2d(L.ones(2), 0.5)", "F.softmax(L.ones(2, 3), 0, dtype=L.int64)",
    "F.log_softmax(L.ones(2, 3, dtype=L.int64), 0)", "F.softmax(L.ones(2, 3, dtype=L.int64), 0)",
    "F.relu(L.ones(2, dtype=L.bool))", "F.gelu(L.ones(2), approximate='bad')",
    "F.leaky_relu(L.ones(2, dtype=L.int64))", "F.hardtanh(L.ones(2), 2, 1)",
    "F.elu(L.ones(2, dtype=L.int64))", "F.prelu(L.ones(2, 3), L.ones(4))",
    "F.threshold(L.ones(2, dtype=L.bool), 0.5, 0)", "F.one_hot(L.tensor([1, 2]), 0)",
    "F.cosine_similarity(L.ones(2, 3), L.ones(2, 3), dim=3)",
    "F.bilinear(L.ones(2, 3), L.ones(2, 4), L.ones(5, 3, 5))",
    "F.bilinear(L.ones(2, 3), L.ones(3, 4), L.ones(5, 3, 4))",
    "F.kl_div(L.ones(2, 3), L.ones(2, 3), reduction='bad')",
    "F.huber_loss(L.ones(2), L.ones(2), delta=0)",
    "F.smooth_l1_loss(L.ones(2), L.ones(2), beta=-1)",
    "F.cross_entropy(L.ones(2, 3), L.tensor([0, 1]), ignore_index=1.5)",
    "F.nll_loss(L.ones(2, 3, dtype=L.int64), L.tensor([0, 1]))",
    "F.cross_entropy(L.ones(0, 3), L.tensor([0]))", "N.Linear(3, 4)(L.tensor(1.0))",
    "N.Linear(-1, 3)", "N.Conv2d(3, 4, 3, groups=2)", "N.Embedding(-1, 2)", "N.Dropout(1.5)",
    "N.Sequential(N.Linear(2, 3))(L.ones(2, 3))", "N.MaxPool2d(2)(L.ones(2))",
    "N.Flatten(0, 5)(L.ones(2, 3))", "N.Unflatten(1, (2, 2))(L.ones(2, 3))",
    "L.ones(2, 3).flatten(3)", "L.ones(2, 3).unflatten(3, (1, 3))",
    "L.ones(2, 3).squeeze((0, 3))", "L.ones(2, 3).permute(0)", "L.ones(2, 3).permute(0, 3)",
    "L.ones(2, 3).movedim(0, 0).movedim(2, 0)", "L.ones(2, 3).narrow(2, 0, 1)",
    "L.ones(2, 3).narrow(0, 3, 1)", "L.ones(2, 3).narrow(0, 0, -1)", "L.ones(2, 3).split(-1)",
    "L.ones(2, 3).chunk(2, 3)", "L.ones(2, 3).tile((2, -1))", "L.ones(2, 3).repeat(-1, 1)",
    "L.ones(2, 3).expand(2, 3, -1)", "L.ones(2, 3).roll((1, 2), (0,))",
    "L.ones(2, 3).flip((0, 0))", "L.ones(2, 3).tril(0).triu(0).t().reshape(-1, 7)",
    "L.ones(2, 3).cumsum(dim=5)", "L.ones(2, 3).prod(3)", "L.ones(2, 3).logsumexp(3)",
    "L.ones(2, 3).norm(p='bad')", "L.ones(2, 3).norm(dim=3)", "L.ones(2, 3).all(3)",
    "L.ones(2, 3).any(3)", "L.ones(2, 3).count_nonzero(3)", "L.ones(2, 3).median(3)",
    "L.ones(2, 3).mode(3)", "L.ones(2, 3).amax(3)", "L.ones(2, 3).amax((0, 0))",
    "L.ones(2, 3).sum((0, 0))", "L.ones(2, 3).nansum(3)", "L.ones(2, 3).var(3)",
    "L.ones(2, 3).aminmax(dim=3)", "L.ones(2, 3).argsort(3)", "L.ones(2, 3).msort().topk(5, 0)",
    "L.ones(2, 3).min(3)", "L.ones(2, 3).gather(2, L.zeros(2, 3, dtype=L.int64))",
    "L.ones(2, 3).scatter(2, L.zeros(2, 3, dtype=L.int64), 1.0)",
    "L.ones(2, 3).index_select(2, L.tensor([0]))",
    "L.ones(2, 3).index_add(2, L.tensor([0]), L.ones(2, 1))", "L.ones(2, 3).select(2, 0)",
    "L.ones(2, 3).unbind(-3)", "L.ones(2, 3).diagonal(offset=0, dim1=0, dim2=2)",
    "L.ones(2, 3).transpose(-3, 0)", "L.ones(2, 3).swapaxes(0, 2)",
    "L.ones(2, 3).mT.mT.T.unsqueeze(-4)", "L.ones(2, 3).clamp()", "L.ones(2, 3).clamp(min='a')",
    "L.ones(2, 3).masked_fill(L.ones(2, 3, dtype=L.bool), 'a')", "L.ones(2, 3).fill_('a')",
    "L.ones(2, 3).lerp(L.ones(2, 3), L.ones(4))",
    "L.addcmul(L.ones(2, 3), L.ones(4), L.ones(2, 3))",
    "L.addcdiv(L.ones(2, 3), L.ones(2, 3), L.ones(4))",
    "L.addmm(L.ones(2, 2), L.ones(2, 3), L.ones(4, 2))",
    "L.addmm(L.ones(3, 3), L.ones(2, 3), L.ones(3, 2))",
    "L.baddbmm(L.ones(2, 2, 2), L.ones(2, 2, 3), L.ones(2, 4, 2))",
    "L.tensordot(L.ones(2, 3), L.ones(4, 2), dims=1)", "L.inner(L.ones(3), L.ones(4))",
    "L.ones(2, 3).type('torch.BadTensor')", "L.ones(2, 3).new_zeros(-1)",
    "L.ones(2, 3).new_full((2,), 'a')", "L.zeros_like(L.ones(2), dtype='a')",
    "L.full_like(L.ones(2), 'a')", "L.ones(2, 3).view(-1, 4)", "L.ones(2, 3).view(2, 3, -1, -1)",
    "L.ones(2, 3).reshape(0, -1)", "L.ones(0, 3).reshape(-1, 0)",
    "L.ones(2, 3).sum(dtype=L.bool).float().mean(dtype=L.int64)",
    "L.ones(2, 3).mean(dtype=L.int64)", "L.ones(2, 3).cumsum(0, dtype='a')",
    "L.ones(2, 3).topk(1.5)", "L.ones(2, 3).chunk(1.5)", "L.ones(2, 3).split(1.5)",
    "L.ones(2, 3).repeat(1.5, 1)", "L.ones(2, 3).unsqueeze(1.5)", "L.ones(2, 3).sum(1.5)",
    "L.ones(2, 3).transpose(0, 1.5)", "L.ones(2, 3)[L.tensor(1.5)]",
    "L.ones(2, 3).reshape(1.5, 4)", "L.ones(2, 3).view(6.0)", "L.ones(2, 3).expand(2.0, 3)",
    "L.ones(2, 3).permute(0.0, 1)", "L.ones(2, 3).flip(0.5)", "L.ones(2, 3).narrow(0, 0.5, 1)",
    "L.ones(2, 3).select(0, 0.5)", "L.stack([L.ones(2), L.ones(2, dtype=L.int64)], dim=3)",
    "L.cat([L.ones(2, 3), L.ones(2, 3)], dim=-3)", "L.cat([L.ones(2, 3)], dim=1.5)",
    "L.cat([[1, 2]])", "L.stack(L.ones(2))", "L.stack([1.0, 2.0])",
    "L.where(L.ones(2, dtype=L.bool), L.ones(2), 'a')", "L.where(L.ones(2, dtype=L.bool))[5]",
    "L.ones(2).pow('a')", "L.tensor([2]).pow(-1)", "L.tensor(2) ** -1",
    "L.ones(2).__and__(L.ones(2))", "L.ones(2).sqrt_().__iadd__(L.ones(3))",
    "L.ones(2, 3).backward(L.ones(3))",
    "L.autograd.grad(L.ones(2, requires_grad=True).sum(), L.ones(2))", "L.ones(2).grad.zero_()",
    "L.ones(2).register_hook(print)",
]


def _raise(lib, expr):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")         # torch's own deprecation warnings
            eval(expr, dict(LIBS[lib]))
    except Exception as e:                          # noqa: BLE001 - any error is the result
        return e
    return None


def numpy_words(msg, torch_msg):
    """NumPy's phrases in ``msg`` that torch's message for the same call does not have."""
    low, tlow = msg.lower(), torch_msg.lower()
    found = [p for p in NUMPY_PHRASES if p in low and p not in tlow]
    found += [p.pattern for p in NUMPY_PATTERNS if p.search(msg) and not p.search(torch_msg)]
    return found


@pytest.mark.parametrize("expr", CASES)
def test_bad_call_raises_torchs_exception_type_in_torchs_words(expr):
    t_err = _raise("torch", expr)
    assert t_err is not None, f"not a bad call for torch 2.13: {expr}"
    d_err = _raise("dlbasic", expr)
    assert d_err is not None, f"dlbasic accepts what torch refuses ({type(t_err).__name__}: " \
                              f"{t_err})"
    assert isinstance(d_err, type(t_err)), (
        f"torch raises {type(t_err).__name__}: {t_err}\n"
        f"dlbasic raises {type(d_err).__name__}: {d_err}")
    leaked = numpy_words(str(d_err), str(t_err))
    assert not leaked, f"NumPy's words {leaked} in: {d_err}"


def test_catalogue_is_large_and_without_duplicates():
    assert len(CASES) >= 80
    assert len(set(CASES)) == len(CASES)


# -- where dlbasic differs from torch on purpose ------------------------------------------------

@pytest.mark.parametrize("expr, dl_type, torch_type, why", [
    # torch's IndexError comes from computing the output size (a dim -2 on a 1-d tensor); the
    # clearer refusal says which inputs the op takes
    ("F.adaptive_avg_pool2d(L.ones(2), 1)", RuntimeError, IndexError, "clearer"),
    # torch raises AssertionError("Torch not compiled with CUDA enabled"); dlbasic's error is
    # that class too and also a RuntimeError, raised explicitly so ``python -O`` keeps it
    ("L.ones(2).to('cuda')", RuntimeError, AssertionError, "no assert for a user error"),
    # torch's dim>0 kernel answers with RuntimeError("INDICES element is out of DATA bounds");
    # its dim 0 kernel (and dlbasic, for every dim) with IndexError("index out of range in self")
    ("L.ones(2, 3).index_select(1, L.tensor([3]))", IndexError, RuntimeError, "one kernel"),
])
def test_deliberate_differences_still_speak_torchs_language(expr, dl_type, torch_type, why):
    t_err, d_err = _raise("torch", expr), _raise("dlbasic", expr)
    assert isinstance(t_err, torch_type)
    assert isinstance(d_err, dl_type)
    assert not numpy_words(str(d_err), str(t_err))


# -- no RuntimeWarning where torch is silent ------------------------------------------------------

SPECIAL = [0.0, -0.0, -1.0, 1.0, -2.0, 2.0, 0.5, -0.5, 100.0, -100.0, 1000.0, -1000.0, 1e30,
           -1e30, float("inf"), float("-inf"), float("nan")]
# trigonometric functions: no 1e30 (the two libraries reduce huge arguments differently)
SPECIAL_SMALL = [v for v in SPECIAL if not abs(v) == 1e30]

# Not here: the plain arithmetic (add, sub, mul, square = x*x, sum, mean) of finite values that
# overflow to inf.  Those still let NumPy warn: they are the hottest ops, and silencing NumPy
# costs ~0.3 us a call (ops/_util.quiet), which is ~12% of a small add.
UNARY = ["log", "log1p", "log2", "log10", "sqrt", "rsqrt", "exp", "expm1", "exp2",
         "reciprocal", "acos", "asin", "atan", "sinh", "cosh", "sigmoid", "abs", "sign", "frac"]
TRIG = ["sin", "cos", "tan"]


def _same_values(d, t, rtol):
    d, t = np.asarray(d, dtype=np.float64), np.asarray(t, dtype=np.float64)
    assert d.shape == t.shape
    np.testing.assert_array_equal(np.isnan(d), np.isnan(t), err_msg="NaN in other places")
    np.testing.assert_array_equal(np.isposinf(d), np.isposinf(t), err_msg="+inf elsewhere")
    np.testing.assert_array_equal(np.isneginf(d), np.isneginf(t), err_msg="-inf elsewhere")
    fin = np.isfinite(t)
    np.testing.assert_allclose(d[fin], t[fin], rtol=rtol, atol=1e-30)


def _silently(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", UNARY + TRIG)
def test_unary_op_at_zeros_negatives_and_huge_values_is_silent_and_matches_torch(name, dtype):
    vals = SPECIAL_SMALL if name in TRIG else SPECIAL
    x = dlbasic.tensor(vals, dtype=getattr(dlbasic, dtype), requires_grad=True)
    y = _silently(lambda: getattr(dlbasic, name)(x))
    _silently(lambda: y.backward(dlbasic.ones_like(y)))
    tx = torch.tensor(vals, dtype=getattr(torch, dtype), requires_grad=True)
    ty = getattr(torch, name)(tx)
    ty.backward(torch.ones_like(ty))
    # float32 transcendental bits depend on torch's SIMD kernel: compare loosely there
    rtol = 1e-10 if dtype == "float64" else 1e-5
    _same_values(y.detach().numpy(), ty.detach().numpy(), rtol)
    _same_values(x.grad.numpy(), tx.grad.numpy(), rtol)


# fmod and remainder leave out the 1e300 / 1e-300 pair (index 5): torch computes
# a - trunc(a/b)*b there, which is nan once a/b overflows; NumPy's (and so ours) is exact
_NO_HUGE_RATIO = [0, 1, 2, 3, 4, 6, 7, 8, 9]
BINARY = [
    ("div", lambda L, a, b: L.div(a, b)),
    ("true_divide", lambda L, a, b: a / b),
    ("div by number 0", lambda L, a, b: a / 0.0),
    ("div by tiny number", lambda L, a, b: a / 1e-300),
    ("rdiv", lambda L, a, b: 1.0 / b),
    ("pow", lambda L, a, b: L.pow(a, b)),
    ("pow -1", lambda L, a, b: a ** -1),
    ("pow 0.5", lambda L, a, b: a ** 0.5),
    ("pow 1000", lambda L, a, b: a ** 1000.0),
    ("rpow", lambda L, a, b: 2.0 ** a),
    ("fmod", lambda L, a, b: L.fmod(a[_NO_HUGE_RATIO], b[_NO_HUGE_RATIO])),
    ("remainder", lambda L, a, b: L.remainder(a[_NO_HUGE_RATIO], b[_NO_HUGE_RATIO])),
    ("floor_divide", lambda L, a, b: L.floor_divide(a, b)),
    ("div trunc", lambda L, a, b: L.div(a, b, rounding_mode="trunc")),
    ("div floor", lambda L, a, b: L.div(a, b, rounding_mode="floor")),
]


@pytest.mark.parametrize("name, fn", BINARY, ids=[b[0] for b in BINARY])
def test_binary_op_with_zero_divisors_and_overflow_is_silent_and_matches_torch(name, fn):
    a = [0.0, 1.0, -1.0, 0.0, float("inf"), 1e300, 2.0, -8.0, 3.0, -2.0]
    b = [0.0, 0.0, -0.0, -1.0, float("inf"), 1e-300, 1e300, 1 / 3, 0.5, 0.5]
    x = dlbasic.tensor(a, dtype=dlbasic.float64, requires_grad=True)
    w = dlbasic.tensor(b, dtype=dlbasic.float64, requires_grad=True)
    y = _silently(lambda: fn(dlbasic, x, w))
    tx = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    tw = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    ty = fn(torch, tx, tw)
    _same_values(y.detach().numpy(), ty.detach().numpy(), 1e-10)
    if ty.requires_grad:
        _silently(lambda: y.backward(dlbasic.ones_like(y)))


REDUCTIONS_AND_FRIENDS = [
    ("logsumexp with inf", lambda L, x: L.logsumexp(x, 0)),
    ("softmax with -inf and inf", lambda L, x: L.softmax(x, 0)),
    ("log_softmax with -inf and inf", lambda L, x: L.log_softmax(x, 0)),
    ("norm of huge values", lambda L, x: x.norm()),
    ("std", lambda L, x: x.std()),
    ("var", lambda L, x: x.var()),
    ("prod", lambda L, x: x.prod()),
    ("cumsum", lambda L, x: x.cumsum(0)),
    ("mean of empty", lambda L, x: x[:0].mean()),
    ("var of empty", lambda L, x: x[:0].var(correction=0)),
    ("logsumexp of empty", lambda L, x: L.logsumexp(x[:0], 0)),
    ("median of empty", lambda L, x: x[:0].median()),
]


@pytest.mark.parametrize("name, fn", REDUCTIONS_AND_FRIENDS,
                         ids=[r[0] for r in REDUCTIONS_AND_FRIENDS])
def test_reduction_of_inf_nan_or_nothing_is_silent_and_matches_torch(name, fn):
    vals = [1e300, -1e300, float("inf"), float("-inf"), 0.0, 1.0]
    x = dlbasic.tensor(vals, dtype=dlbasic.float64)
    y = _silently(lambda: fn(dlbasic, x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # torch warns about var of nothing itself
        ty = fn(torch, torch.tensor(vals, dtype=torch.float64))
    _same_values(y.numpy(), ty.numpy(), 1e-10)


def test_losses_at_probabilities_0_and_1_and_infinite_logits_are_silent_and_match_torch():
    p = [0.0, 1.0, 0.0, 1.0, 0.5]
    y = [0.0, 1.0, 1.0, 0.0, 1.0]
    for reduction in ("none", "mean"):
        d = _silently(lambda: dF.binary_cross_entropy(
            dlbasic.tensor(p, dtype=dlbasic.float64, requires_grad=True),
            dlbasic.tensor(y, dtype=dlbasic.float64), reduction=reduction))
        t = torch.nn.functional.binary_cross_entropy(torch.tensor(p, dtype=torch.float64),
                                                     torch.tensor(y, dtype=torch.float64),
                                                     reduction=reduction)
        _same_values(d.detach().numpy(), t.numpy(), 1e-10)
    logits = [[float("inf"), 0.0, -1.0], [1e300, -1e300, 0.0], [0.0, 0.0, float("-inf")]]
    target = [0, 1, 2]
    for loss in ("cross_entropy", "binary_cross_entropy_with_logits"):
        tl = torch.tensor(logits, dtype=torch.float64)
        dl = dlbasic.tensor(logits, dtype=dlbasic.float64)
        if loss == "cross_entropy":
            dt, tt = dlbasic.tensor(target), torch.tensor(target)
        else:
            dt, tt = dlbasic.ones(3, 3, dtype=dlbasic.float64), torch.ones(3, 3,
                                                                          dtype=torch.float64)
        d = _silently(lambda: getattr(dF, loss)(dl, dt, reduction="none"))
        t = getattr(torch.nn.functional, loss)(tl, tt, reduction="none")
        _same_values(d.numpy(), t.numpy(), 1e-10)


def test_activations_at_infinities_are_silent():
    vals = [float("inf"), float("-inf"), float("nan"), 1e30, -1e30, 0.0]
    for name in ("silu", "mish", "hardswish", "elu", "selu", "softplus", "logsigmoid",
                 "leaky_relu", "relu", "hardtanh", "sigmoid"):
        x = dlbasic.tensor(vals, dtype=dlbasic.float64, requires_grad=True)
        y = _silently(lambda: getattr(dF, name)(x))
        _silently(lambda: y.backward(dlbasic.ones_like(y)))
        ty = getattr(torch.nn.functional, name)(torch.tensor(vals, dtype=torch.float64))
        _same_values(y.detach().numpy(), ty.numpy(), 1e-10)
