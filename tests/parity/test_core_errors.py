"""Bad input raises the exception type torch raises, with a message naming what is wrong."""
import pytest
import torch

import dlbasic
from tests.parity.harness import check_raises

BROADCAST = [((3, 4), (5,)), ((2, 3), (3, 2)), ((4, 1, 3), (2, 4)), ((3,), (4,))]


@pytest.mark.parametrize("shapes", BROADCAST, ids=str)
@pytest.mark.parametrize("fn", [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b,
    lambda a, b: a ** b, lambda a, b: torch.maximum(a, b), lambda a, b: torch.minimum(a, b),
    lambda a, b: torch.where(a > 0, a, b), lambda a, b: a == b, lambda a, b: a < b,
    lambda a, b: torch.clamp(a, min=b), lambda a, b: torch.add(a, b, alpha=2),
    lambda a, b: torch.lerp(a, b, 0.5),
])
def test_broadcast_mismatch_raises_runtimeerror(fn, shapes):
    check_raises(fn, shapes=list(shapes))


@pytest.mark.parametrize("shapes", BROADCAST, ids=str)
def test_broadcast_message_names_the_sizes_like_torch(shapes):
    t, d = check_raises(lambda a, b: a + b, shapes=list(shapes))
    assert str(d) == str(t)
    t, d = check_raises(lambda a, b: a * b, shapes=list(shapes))
    assert str(d) == str(t)


@pytest.mark.parametrize("fn,shape", [
    (lambda x: x.sum(2), (2, 3)), (lambda x: x.sum((0, 5)), (2, 3)),
    (lambda x: x.mean(-3), (2, 3)), (lambda x: x.max(2), (2, 3)), (lambda x: x.amax(4), (2, 3)),
    (lambda x: x.var(3), (2, 3)), (lambda x: x.prod(2), (2, 3)),
    (lambda x: torch.logsumexp(x, 2), (2, 3)), (lambda x: x.argmax(2), (2, 3)),
    (lambda x: x.unsqueeze(4), (2, 3)),
    (lambda x: x.transpose(0, 2), (2, 3)), (lambda x: x.permute(0, 2), (2, 3)),
    (lambda x: x.squeeze(3), (2, 3)), (lambda x: x.flatten(0, 3), (2, 3)),
    (lambda x: torch.cat([x, x], 2), (2, 3)), (lambda x: torch.stack([x, x], 4), (2, 3)),
    (lambda x: x.split(1, 2), (2, 3)), (lambda x: x.chunk(2, -3), (2, 3)),
    (lambda x: x.flip(2), (2, 3)), (lambda x: x.narrow(2, 0, 1), (2, 3)),
    (lambda x: x.size(2), (2, 3)), (lambda x: x.cumsum(2), (2, 3)),
    (lambda x: x.select(2, 0), (2, 3)), (lambda x: x.index_select(2, torch.tensor([0])), (2, 3)),
    (lambda x: x.sort(2), (2, 3)), (lambda x: x.topk(1, 2), (2, 3)),
    (lambda x: x.movedim(0, 3), (2, 3)), (lambda x: x.norm(dim=2), (2, 3)),
])
def test_bad_dim_raises_indexerror(fn, shape):
    t, d = check_raises(fn, shapes=[shape])
    assert isinstance(t, IndexError) and isinstance(d, IndexError)


def test_bad_dim_message_like_torch():
    t, d = check_raises(lambda x: x.sum(2), shapes=[(2, 3)])
    assert str(d) == str(t)


@pytest.mark.parametrize("fn,shapes", [
    (lambda x: x.reshape(4, 2), [(2, 3)]), (lambda x: x.view(-1, 4), [(2, 3)]),
    (lambda x: x.view(-1, -1), [(2, 3)]), (lambda x: x.t().view(6), [(2, 3)]),
    (lambda x: x.expand(3, 3), [(2, 3)]), (lambda x: x.expand(3), [(2, 3)]),
    (lambda x: x.repeat(2), [(2, 3)]), (lambda x: x.permute(0, 0), [(2, 3)]),
    (lambda x: x.permute(0), [(2, 3)]),
    (lambda x, y: torch.cat([x, y]), [(2, 3), (2, 4)]),
    (lambda x, y: torch.cat([x, y]), [(2, 3), (3,)]),
    (lambda x, y: torch.stack([x, y]), [(2, 3), (3, 2)]),
    (lambda x: torch.stack([]), [(2,)]), (lambda x: x.split([1, 1]), [(3, 2)]),
    (lambda x: x.narrow(0, 1, 5), [(2, 3)]), (lambda x: x.chunk(0), [(2, 3)]),
    (lambda x: x.t(), [(2, 3, 4)]), (lambda x: x.flatten(1, 0), [(2, 3)]),
    (lambda x: x.item(), [(2, 3)]), (lambda x: bool(x), [(2, 3)]),
    (lambda x: torch.clamp(x), [(2, 3)]), (lambda x: x.long().mean(), [(2, 3)]),
    (lambda x: x.long().var(), [(2, 3)]), (lambda x: x.long().norm(), [(2, 3)]),
    (lambda x: x.bool() - x.bool(), [(2, 3)]), (lambda x: -x.bool(), [(2, 3)]),
    (lambda x: x.long() ** -1, [(2, 3)]),
    (lambda x: torch.where(x, x, x), [(2, 3)]),
    (lambda x: x.max(), [(0, 3)]),
    (lambda x: x.long() & 1.5, [(2, 3)]), (lambda x: x & x, [(2, 3)]),
    (lambda x: x.topk(4), [(2, 3)]),
    (lambda x: x.gather(1, torch.tensor([[0.0], [1.0]])), [(2, 3)]),
    (lambda x: x.gather(1, torch.tensor([0, 1])), [(2, 3)]),
])
def test_bad_arguments_raise_runtimeerror(fn, shapes):
    t, d = check_raises(fn, shapes=shapes)
    assert isinstance(t, RuntimeError)


@pytest.mark.parametrize("fn,shapes", [
    (lambda x: x + "a", [(2,)]), (lambda x: torch.cat(x), [(2, 3)]),
    (lambda x: x[torch.tensor([0.5])], [(2, 3)]), (lambda x: x[1.5], [(2, 3)]),
    (lambda x: len(x.sum()), [(2,)]), (lambda x: torch.tensor([x, "a"]), [(2,)]),
    (lambda x: x.copy_("a"), [(2,)]), (lambda x: x.to("float99"), [(2,)]),
    (lambda x: torch.cat([]), [(2,)]), (lambda x: ~x, [(2,)]),
])
def test_wrong_types_raise_like_torch(fn, shapes):
    check_raises(fn, shapes=shapes)


def test_backward_errors_like_torch():
    for lib in (torch, dlbasic):
        x = lib.ones(2, 3, requires_grad=True)
        with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
            (x * 2).backward()
        with pytest.raises(RuntimeError):
            lib.ones(2).sum().backward()
        with pytest.raises(RuntimeError):
            (x * 2).backward(lib.ones(3, 2))
    for lib in (torch, dlbasic):
        with pytest.raises(RuntimeError, match="only Tensors of floating point"):
            lib.ones(2, dtype=lib.int64).requires_grad_()


def test_grad_shape_mismatch_message_like_torch():
    msgs = []
    for lib in (torch, dlbasic):
        x = lib.ones(2, 3, requires_grad=True)
        with pytest.raises(RuntimeError) as e:
            (x * 2).backward(lib.ones(3, 2))
        msgs.append(str(e.value).replace("torch.", "").replace("dlbasic.", ""))
    assert msgs[0] == msgs[1]


def test_no_op_silently_returns_wrong_shape():
    # a (3,) + (3, 1) broadcast is legal and must give (3, 3), never (3,)
    assert (dlbasic.ones(3) + dlbasic.ones(3, 1)).shape == (3, 3)
    assert dlbasic.matmul(dlbasic.ones(3), dlbasic.ones(3)).shape == ()
    with pytest.raises(RuntimeError):
        dlbasic.ones(3) @ dlbasic.ones(4)


def test_accepted_variants_torch_allows():
    from tests.parity.harness import check
    check(lambda x: x.gather(1, torch.tensor([[0], [2]], dtype=torch.int32)), shapes=[(2, 3)])
    check(lambda x: x.clone().copy_(3.0), shapes=[(2, 3)], requires_grad=False)
