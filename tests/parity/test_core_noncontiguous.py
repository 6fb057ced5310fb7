"""Non-contiguous inputs (transposed, strided slices, expanded) through many ops."""
import pytest
import torch

from tests.parity.harness import check

TRANSFORMS = {
    "transposed": (lambda t: t.t(), (4, 3)),
    "sliced": (lambda t: t[::2, 1:], (6, 5)),
    "expanded": (lambda t: t[:1].expand(3, 4), (2, 4)),
    "permuted_3d": (lambda t: t.permute(2, 0, 1)[0], (3, 4, 2)),
    "flipped": (lambda t: t.flip(1), (3, 4)),
}

OPS = {
    "exp": lambda x: torch.exp(x), "tanh": lambda x: x.tanh(), "sigmoid": lambda x: x.sigmoid(),
    "relu": lambda x: x.relu(), "abs": lambda x: x.abs(), "pow": lambda x: x ** 3,
    "mul_self": lambda x: x * x, "add_row": lambda x: x + x[0], "div": lambda x: x / 3,
    "clamp": lambda x: x.clamp(-0.5, 0.5), "maximum": lambda x: torch.maximum(x, x.flip(0)),
    "where": lambda x: torch.where(x > 0, x, x * 2), "sum": lambda x: x.sum(0),
    "mean": lambda x: x.mean(1, keepdim=True), "var": lambda x: x.var(0), "std": lambda x: x.std(),
    "prod": lambda x: x.prod(1), "max": lambda x: x.max(1), "amax": lambda x: x.amax(0),
    "logsumexp": lambda x: torch.logsumexp(x, 1), "norm": lambda x: x.norm(dim=0),
    "reshape": lambda x: x.reshape(-1), "flatten": lambda x: x.flatten(),
    "contiguous_view": lambda x: x.contiguous().view(-1),
    "matmul": lambda x: x @ x.t(), "matmul_t": lambda x: x.t() @ x,
    "cat": lambda x: torch.cat([x, x], 1), "stack": lambda x: torch.stack([x, x]),
    "getitem": lambda x: x[1:, torch.tensor([0, 0, 2])], "mask": lambda x: x[x > 0],
    "split": lambda x: x.split(1, 1), "repeat": lambda x: x.repeat(2, 1),
    "unsqueeze_expand": lambda x: x.unsqueeze(0).expand(2, -1, -1),
    "transpose_back": lambda x: x.t(), "clone": lambda x: x.clone(),
    "setitem": lambda x: (lambda y: (y.__setitem__((0, slice(None)), 1.0), y)[1])(x * 1),
    "inplace": lambda x: (x * 1).mul_(x).add_(1),
    "sort": lambda x: x.sort(1).values, "cumsum": lambda x: x.cumsum(0),
    "gather": lambda x: x.gather(1, torch.zeros(x.shape[0], 2, dtype=torch.int64)),
}


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("kind", sorted(TRANSFORMS))
def test_noncontiguous_input(op, kind):
    transform, shape = TRANSFORMS[kind]
    check(OPS[op], shapes=[shape], transform=transform)


@pytest.mark.parametrize("kind", sorted(TRANSFORMS))
def test_noncontiguous_binary_broadcast(kind):
    transform, shape = TRANSFORMS[kind]
    check(lambda a, b: a * b + a / (b.abs() + 1) - torch.minimum(a, b), shapes=[shape, shape],
          transform=transform)


def test_view_of_noncontiguous_raises_like_torch():
    from tests.parity.harness import check_raises
    check_raises(lambda x: x.t().view(-1), shapes=[(3, 4)])
    check_raises(lambda x: x[:, :2].view(-1), shapes=[(3, 4)])
    check(lambda x: x[:, ::2].view(-1), shapes=[(3, 4)])
    check(lambda x: x[::2].view(2, 1, 3), shapes=[(4, 3)])
    check_raises(lambda x: x[::2].view(-1), shapes=[(4, 3)])
    check(lambda x: x.t().reshape(4, 3), shapes=[(3, 4)])
