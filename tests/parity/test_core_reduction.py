"""Parity of reductions with torch: sum, mean, prod, var/std, max/min, amax/amin, logsumexp,
norm, and the non-differentiable ones (argmax, all/any, sort, topk ...)."""
import numpy as np
import pytest
import torch

from tests.parity.harness import check

REDUCTIONS = {
    "sum": lambda x: x.sum(),
    "sum_dim": lambda x: x.sum(1),
    "sum_neg_dim_keep": lambda x: torch.sum(x, -1, keepdim=True),
    "sum_dims": lambda x: x.sum((0, 2)),
    "sum_dims_keep": lambda x: x.sum(dim=(0, 2), keepdim=True),
    "sum_dtype": lambda x: x.sum(dtype=torch.float64),
    "mean": lambda x: x.mean(),
    "mean_dim": lambda x: torch.mean(x, 0),
    "mean_dims_keep": lambda x: x.mean((1, 2), keepdim=True),
    "prod": lambda x: x.prod(),
    "prod_dim": lambda x: torch.prod(x, 1),
    "prod_dim_keep": lambda x: x.prod(-1, keepdim=True),
    "var": lambda x: x.var(),
    "var_dim": lambda x: torch.var(x, 1),
    "var_biased": lambda x: x.var(1, unbiased=False),
    "var_correction": lambda x: torch.var(x, dim=(0, 2), correction=0, keepdim=True),
    "var_correction2": lambda x: torch.var(x, dim=2, correction=2),
    "var_positional_unbiased": lambda x: torch.var(x, False),
    "std": lambda x: x.std(),
    "std_dim": lambda x: torch.std(x, 0, keepdim=True),
    "std_biased": lambda x: x.std(dim=-1, unbiased=False),
    "std_correction": lambda x: torch.std(x, dim=1, correction=0),
    "max_all": lambda x: x.max(),
    "min_all": lambda x: torch.min(x),
    "max_dim": lambda x: x.max(1),
    "max_dim_keep": lambda x: torch.max(x, -1, keepdim=True),
    "min_dim": lambda x: torch.min(x, 0),
    "max_dim_values": lambda x: x.max(dim=2).values,
    "min_dim_indices_float": lambda x: x.min(dim=1)[0] * 2,
    "amax": lambda x: x.amax(),
    "amax_dim": lambda x: torch.amax(x, 1),
    "amax_dims": lambda x: torch.amax(x, (0, 2), keepdim=True),
    "amin": lambda x: torch.amin(x, -1),
    "logsumexp": lambda x: torch.logsumexp(x, 1),
    "logsumexp_dims_keep": lambda x: torch.logsumexp(x, (0, 2), keepdim=True),
    "logsumexp_method": lambda x: x.logsumexp(-1),
    "norm": lambda x: x.norm(),
    "norm_dim": lambda x: torch.norm(x, dim=1),
    "norm_p1": lambda x: torch.norm(x, p=1, dim=-1),
    "norm_p3": lambda x: x.norm(p=3),
    "norm_inf": lambda x: torch.norm(x, p=float("inf"), dim=1),
    "norm_keep": lambda x: x.norm(dim=(1, 2), keepdim=True),
    "cumsum": lambda x: torch.cumsum(x, 1),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_matches_torch(name):
    check(REDUCTIONS[name], shapes=[(2, 3, 4)])


@pytest.mark.parametrize("name", ["sum", "mean", "prod", "var", "std", "max_all", "amax",
                                  "norm", "sum_dims_keep"])
def test_reduction_float64(name):
    check(REDUCTIONS[name], shapes=[(2, 3, 4)], dtype="float64")


def test_reductions_of_zero_dim_tensor():
    for fn in (lambda x: x.sum(), lambda x: x.mean(), lambda x: x.prod(), lambda x: x.max(),
               lambda x: x.amax(), lambda x: x.sum(0), lambda x: x.norm(),
               lambda x: torch.logsumexp(x, 0)):
        check(fn, shapes=[()])


def test_reductions_with_empty_dim_list():
    check(lambda x: x.sum(dim=()), shapes=[(2, 3)])
    check(lambda x: x.mean(dim=[]), shapes=[(2, 3)])


def test_sum_of_integer_and_bool_tensors_is_int64():
    x = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32)
    b = np.array([True, False, True])
    check(lambda x: x.sum(), inputs=[x], grad=False)
    check(lambda x: x.sum(1), inputs=[x], grad=False)
    check(lambda x: x.prod(), inputs=[x], grad=False)
    check(lambda b: b.sum(), inputs=[b], grad=False)
    check(lambda x: torch.cumsum(x, 0), inputs=[x], grad=False)
    check(lambda x: x.max(), inputs=[x], grad=False)
    check(lambda x: x.max(1), inputs=[x], grad=False)
    check(lambda x: x.amin(0), inputs=[x], grad=False)


def test_prod_with_zeros_has_correct_gradient():
    x = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 5.0]], dtype=np.float32)
    check(lambda x: x.prod(), inputs=[x])
    check(lambda x: x.prod(1), inputs=[x])
    check(lambda x: x.prod(0, keepdim=True), inputs=[x])
    y = np.array([0.5, 0.0, 3.0], dtype=np.float32)
    check(lambda x: x.prod(), inputs=[y])


def test_logsumexp_is_stable_for_large_values():
    x = np.array([[1000.0, 1000.0, -1000.0], [-5.0, 3.0, 1.0]], dtype=np.float32)
    check(lambda x: torch.logsumexp(x, 1), inputs=[x])


def test_logsumexp_with_minus_inf():
    x = np.array([[-np.inf, 0.0, 1.0]], dtype=np.float32)
    check(lambda x: torch.logsumexp(x, 1), inputs=[x])


def test_norm_at_zero_has_zero_gradient():
    x = np.zeros((2, 3), dtype=np.float32)
    check(lambda x: x.norm(), inputs=[x], grad_atol=0)
    check(lambda x: x.norm(dim=1), inputs=[x], grad_atol=0)


# -- ties: amax spreads, max(dim) picks the returned index, max() spreads ------------------

TIES = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, -1.0], [5.0, 1.0, 5.0, 5.0]],
                dtype=np.float32)


@pytest.mark.parametrize("fn", [
    lambda x: torch.amax(x, 1), lambda x: torch.amin(x, 1), lambda x: x.amax(),
    lambda x: x.amax((0, 1)), lambda x: x.max(), lambda x: x.min(),
    lambda x: x.max(1), lambda x: x.min(1), lambda x: x.max(0, keepdim=True),
    lambda x: torch.maximum(x, x.flip(1)), lambda x: torch.norm(x, p=float("inf"), dim=1),
], ids=["amax1", "amin1", "amax", "amax01", "max", "min", "max1", "min1", "max0keep",
        "maximum", "norm_inf"])
def test_ties_distribute_gradient_like_torch(fn):
    check(fn, inputs=[TIES], grad_atol=0, grad_rtol=1e-6)


def test_max_dim_returns_named_tuple_with_first_index_of_ties():
    _, d = check(lambda x: torch.max(x, 1), inputs=[TIES])
    assert d.indices.tolist() == [1, 0, 0]
    assert d.values.tolist() == [3.0, 2.0, 5.0]
    v, i = d
    assert v is d.values and i is d.indices
    _, d = check(lambda x: x.min(dim=1, keepdim=True), inputs=[TIES])
    assert d.indices.shape == (3, 1)


def test_max_with_other_tensor_is_maximum():
    check(lambda a, b: torch.max(a, b), shapes=[(3, 4), (4,)])
    check(lambda a, b: torch.min(a, b), shapes=[(3, 4), (4,)])


def test_aminmax_var_mean_std_mean():
    check(lambda x: torch.aminmax(x, dim=1), shapes=[(3, 4)], grad=False)
    check(lambda x: torch.var_mean(x, 1), shapes=[(3, 4)])
    check(lambda x: torch.std_mean(x, dim=0, unbiased=False), shapes=[(3, 4)])


# -- non-differentiable reductions and sorting ---------------------------------------------

X = np.array([[3.0, 1.0, 2.0, 1.0], [0.5, -1.0, 7.0, 7.0], [2.0, 2.0, 2.0, 2.0]],
             dtype=np.float32)


@pytest.mark.parametrize("fn", [
    lambda x: torch.argmax(x), lambda x: torch.argmax(x, 1), lambda x: x.argmin(0),
    lambda x: x.argmax(dim=1, keepdim=True),
    lambda x: (x > 1).all(), lambda x: (x > 1).any(1), lambda x: torch.all(x > 0, dim=0),
    lambda x: torch.any(x > 6, dim=1, keepdim=True),
    lambda x: torch.count_nonzero(x - 2), lambda x: torch.count_nonzero(x - 2, dim=1),
    lambda x: torch.sort(x, 1), lambda x: torch.sort(x, 0, descending=True),
    lambda x: x.sort(descending=True, stable=True), lambda x: torch.argsort(x, 1),
    lambda x: torch.argsort(x, dim=1, descending=True, stable=True),
    lambda x: torch.median(x),
])
def test_nondifferentiable_reductions_match_torch(fn):
    check(fn, inputs=[X], requires_grad=False)


def test_topk_without_ties_matches_torch():
    # torch leaves the order of tied elements in topk unspecified: use distinct values
    for fn in (lambda x: torch.topk(x, 2), lambda x: torch.topk(x, 2, dim=0, largest=False),
               lambda x: x.topk(1, dim=1).values, lambda x: x.topk(3, sorted=True)):
        check(fn, shapes=[(3, 5)], requires_grad=False)


def test_sort_and_topk_values_are_differentiable():
    check(lambda x: torch.sort(x, 1).values * 2, inputs=[X])
    check(lambda x: torch.topk(x, 2).values, shapes=[(3, 5)])
    check(lambda x: torch.sort(x, dim=0, descending=True)[0], shapes=[(4, 3)])


def test_bool_reductions_on_bool_tensor():
    b = np.array([[True, False], [True, True]])
    check(lambda b: b.all(), inputs=[b], grad=False)
    check(lambda b: b.any(dim=0), inputs=[b], grad=False)
    check(lambda b: b.all(dim=1), inputs=[b], grad=False)


def test_dim_reductions_accept_dim_zero_on_zero_dim_tensors():
    for fn in (lambda x: x.sum(0), lambda x: x.mean(-1), lambda x: x.prod(0),
               lambda x: x.amax(0), lambda x: torch.cumsum(x, 0), lambda x: x.max(0),
               lambda x: torch.logsumexp(x, -1), lambda x: x.norm(dim=0),
               lambda x: torch.sum(x, 0, keepdim=True)):
        check(fn, shapes=[()])
    check(lambda x: torch.argmax(x, 0), shapes=[()], grad=False)
    check(lambda x: torch.cumsum(x, 0), inputs=[np.array(3, dtype=np.int64)], grad=False)


# -- edge values: NaN, infinities, zeros, empty and constant inputs ------------------------
nan = np.nan

EDGE = [
    (lambda x: x.max(), [np.array([1.0, nan, 2.0], np.float32)]),
    (lambda x: x.amax(), [np.array([1.0, nan, 2.0], np.float32)]),
    (lambda x: x.max(0), [np.array([[1.0, nan], [2.0, 0.0]], np.float32)]),
    (lambda x, y: torch.maximum(x, y),
     [np.array([1.0, nan], np.float32), np.array([nan, 0.0], np.float32)]),
    (lambda x, y: torch.minimum(x, y),
     [np.array([1.0, nan, 2.0], np.float32), np.array([nan, 0.0, 2.0], np.float32)]),
    (lambda x: x.clamp(0, 1), [np.array([nan, 0.5], np.float32)]),
    (lambda x: x.relu(), [np.array([nan, -0.0, 0.5], np.float32)]),
    (lambda x: x.abs(), [np.array([-0.0, 0.0], np.float32)]),
    (lambda x: x.sqrt(), [np.array([0.0, 4.0], np.float32)]),
    (lambda x: x.var(0), [np.array([[1.0, 2.0]], np.float32)]),
    (lambda x: x.std(), [np.array([1.0], np.float32)]),
    (lambda x: x.norm(), [np.array([0.0, 0.0], np.float32)]),
    (lambda x: x.std(0), [np.array([[1.0, 2.0], [1.0, 2.0]], np.float32)]),
    (lambda x: x.prod(), [np.array([0.0, 0.0, 2.0], np.float32)]),
    (lambda x: torch.logsumexp(x, 0), [np.array([-np.inf, -np.inf], np.float32)]),
    (lambda x: x.log(), [np.array([0.0, 1.0], np.float32)]),
    (lambda x: x ** 0.5, [np.array([0.0, 1.0], np.float32)]),
    (lambda x, y: x ** y,
     [np.array([0.0, 0.0, 2.0], np.float32), np.array([0.0, 2.0, 0.0], np.float32)]),
    (lambda x, y: x ** y, [np.array([-2.0, 2.0], np.float32), np.array([2.0, 0.5], np.float32)]),
    (lambda x: x.sum(0), [np.zeros((0, 3), np.float32)]),
    (lambda x: x.mean(0), [np.zeros((0, 3), np.float32)]),
    (lambda x: x.mean(), [np.zeros((0,), np.float32)]),
    (lambda x: x[x > 5], [np.arange(4, dtype=np.float32)]),
    (lambda x: x.sigmoid(), [np.array([-100.0, 100.0], np.float32)]),
    (lambda x: x.tanh(), [np.array([-100.0, 100.0], np.float32)]),
    (lambda x: torch.exp(x), [np.array([100.0], np.float32)]),
    (lambda x, y: x / y, [np.array([1.0, 0.0], np.float32), np.array([0.0, 0.0], np.float32)]),
    (lambda x: x.rsqrt(), [np.array([0.0, 4.0], np.float32)]),
    (lambda x: x.sort(0).values, [np.array([2.0, 1.0, 2.0], np.float32)]),
    (lambda x: x.topk(2).values, [np.array([2.0, 1.0, 3.0], np.float32)]),
    (lambda x: x.median(), [np.array([2.0, 1.0, 3.0, 0.0], np.float32)]),
    (lambda x: x.median(0), [np.array([[2.0], [1.0], [3.0], [0.0]], np.float32)]),
    (lambda x: x.cumsum(0), [np.array([2.0, 1.0], np.float32)]),
    (lambda x: x.min(), [np.array([2.0, 1.0, 1.0], np.float32)]),
    (lambda x: x.amin(0), [np.array([[1.0, 1.0], [1.0, 2.0]], np.float32)]),
    (lambda x: x.norm(p=float("inf")), [np.array([-2.0, 2.0, 1.0], np.float32)]),
    (lambda x: x.norm(p=0), [np.array([-2.0, 0.0, 1.0], np.float32)]),
    (lambda x: x.norm(p=1), [np.array([-2.0, 0.0, 1.0], np.float32)]),
    (lambda x: x.sign(), [np.array([-2.0, 0.0, 1.0], np.float32)]),
    (lambda x: torch.erf(x), [np.array([-2.0, 0.0, 1.0], np.float32)]),
    (lambda x: torch.atan(x), [np.array([-2.0, 0.0, 1.0], np.float32)]),
    (lambda x: torch.log1p(x), [np.array([-1.0, 0.0, 1.0], np.float32)]),
    (lambda x: x.sinh() + x.cosh(), [np.array([-1.0, 0.0, 1.0], np.float32)]),
    (lambda x: torch.asin(x), [np.array([-1.0, 0.0, 0.5], np.float32)]),
    (lambda x: x.clamp(min=0.5, max=0.5), [np.array([-1.0, 0.5, 1.0], np.float32)]),
    (lambda x: x.aminmax(), [np.array([-1.0, 0.5, 1.0], np.float32)]),
    (lambda x: torch.addcdiv(x, x, x + 2, value=2), [np.array([-1.0, 0.5, 1.0], np.float32)]),
    (lambda x: x.log2() + x.log10(), [np.array([1.0, 0.5, 2.0], np.float32)]),
    (lambda x: x.square(), [np.array([1.0, 0.5, 2.0], np.float32)]),
    (lambda x: x.masked_fill(x > 0.7, float("-inf")), [np.array([1.0, 0.5, 2.0], np.float32)]),
    (lambda x: x.unbind(0), [np.array([[1.0, 0.5], [2.0, 3.0]], np.float32)]),
    (lambda x: x.index_select(0, torch.tensor([1, 1, 0])),
     [np.array([[1.0, 0.5], [2.0, 3.0]], np.float32)]),
    (lambda x: x.view(torch.int32), [np.array([1.0, 0.5], np.float32)]),
]


@pytest.mark.parametrize("i", range(len(EDGE)))
def test_edge_values_match_torch(i):
    fn, inputs = EDGE[i]
    check(fn, inputs=inputs)
