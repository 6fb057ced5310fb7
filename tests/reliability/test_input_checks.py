"""Inputs PyTorch refuses must be refused, in PyTorch's words; and a few values that were wrong.

Each test runs the call against torch 2.13 (the reference) and dlbasic and compares the
exception type and message, or the values.
"""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import dlbasic                                      # noqa: E402
import dlbasic.nn as dnn                            # noqa: E402
import dlbasic.nn.functional as dF                  # noqa: E402
from dlbasic.utils.data import default_collate      # noqa: E402

LIBS = {"torch": dict(L=torch, F=torch.nn.functional, N=torch.nn),
        "dlbasic": dict(L=dlbasic, F=dF, N=dnn)}


def _error(lib, expr):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eval(expr, dict(LIBS[lib]))
    except Exception as e:                          # noqa: BLE001
        return e
    return None


def assert_same_error(expr):
    """Both refuse ``expr`` with the same exception type and the same message."""
    t, d = _error("torch", expr), _error("dlbasic", expr)
    assert t is not None, f"torch accepts {expr}"
    assert d is not None, f"dlbasic accepts {expr}; torch: {type(t).__name__}: {t}"
    assert type(d) is type(t), f"{type(d).__name__}: {d}  vs torch {type(t).__name__}: {t}"
    assert str(d) == str(t)


# -- binary cross entropy: probabilities and targets in [0, 1] ----------------------------------

@pytest.mark.parametrize("expr", [
    "F.binary_cross_entropy(L.full((3,), 0.5), L.tensor([0.0, 2.0, 1.0]))",
    "F.binary_cross_entropy(L.full((3,), 0.5), L.tensor([0.0, -0.5, 1.0]))",
    "F.binary_cross_entropy(L.full((3,), 0.5), L.tensor([0.0, float('nan'), 1.0]))",
    "F.binary_cross_entropy(L.full((3,), 0.5), L.tensor([0.0, float('inf'), 1.0]))",
    "N.BCELoss()(L.full((3,), 0.5), L.tensor([0.0, 2.0, 1.0]))",
    "N.BCELoss(reduction='none')(L.full((2,), 0.5), L.tensor([1.0, -1.0]))",
    "F.binary_cross_entropy(L.tensor([0.5, 1.5]), L.tensor([0.0, 1.0]))",
    "F.binary_cross_entropy(L.tensor([-0.1, 0.5]), L.tensor([0.0, 1.0]))",
    "F.binary_cross_entropy(L.tensor([float('nan'), 0.5]), L.tensor([0.0, 1.0]))",
    # both wrong: torch names the input first
    "F.binary_cross_entropy(L.tensor([1.5]), L.tensor([2.0]))",
    "F.binary_cross_entropy(L.full((2, 3), 0.5), L.ones(2, 3), weight=L.ones(2))",
    "F.binary_cross_entropy(L.full((2,), 0.5), L.ones(2), weight=L.ones(3, 1))",
])
def test_binary_cross_entropy_refuses_what_torch_refuses(expr):
    assert_same_error(expr)


def test_binary_cross_entropy_accepts_the_closed_interval_and_a_broadcast_weight():
    p, y = [0.0, 1.0, 0.25, 1.0], [0.0, 1.0, 1.0, 0.0]
    d = dF.binary_cross_entropy(dlbasic.tensor(p), dlbasic.tensor(y), reduction="none")
    t = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(y),
                                                 reduction="none")
    np.testing.assert_allclose(d.numpy(), t.numpy(), rtol=1e-6)
    w = [[2.0], [0.5]]
    d = dF.binary_cross_entropy(dlbasic.full((2, 3), 0.25), dlbasic.ones(2, 3),
                                weight=dlbasic.tensor(w))
    t = torch.nn.functional.binary_cross_entropy(torch.full((2, 3), 0.25), torch.ones(2, 3),
                                                 weight=torch.tensor(w))
    np.testing.assert_allclose(d.numpy(), t.numpy(), rtol=1e-6)


# -- integer division by zero ---------------------------------------------------------------------

@pytest.mark.parametrize("expr", [
    "L.tensor([1, 2]) // L.tensor([0, 1])", "L.tensor([1, 2]) // 0",
    "L.tensor([1, 2]) % L.tensor([1, 0])", "L.tensor([1, 2]) % 0",
    "L.div(L.tensor([1, 2]), L.tensor([0, 1]), rounding_mode='floor')",
    "L.div(L.tensor([1, 2]), 0, rounding_mode='trunc')",
    "L.remainder(L.tensor([1, 2]), 0)", "L.remainder(3, L.tensor([0]))",
    "L.fmod(L.tensor([1, 2]), 0)", "L.fmod(L.tensor([1, 2]), L.tensor([0, 1]))",
    "L.tensor([5], dtype=L.int32) // L.tensor([0], dtype=L.int32)",
    "L.tensor([5], dtype=L.uint8) % 0", "L.tensor([3]).fmod_(0)",
    "L.tensor([3]).floor_divide_(0)", "L.tensor([3]).remainder_(L.tensor([0]))",
    "L.tensor([True]) // L.tensor([True])", "L.tensor([True]) % L.tensor([False])",
    "L.fmod(L.tensor([True]), L.tensor([False]))",
    "L.div(L.tensor([True]), L.tensor([True]), rounding_mode='trunc')",
    "L.div(L.ones(2), L.ones(2), rounding_mode='bad')",
])
def test_integer_division_by_zero_is_refused_as_torch_refuses_it(expr):
    assert_same_error(expr)


def test_integer_division_by_nonzero_and_float_division_by_zero_still_work():
    for expr in ["L.tensor([7, -7]) // L.tensor([2, 2])", "L.tensor([7, -7]) % L.tensor([3, 3])",
                 "L.fmod(L.tensor([7, -7]), 3)",
                 "L.div(L.tensor([7, -7]), 2, rounding_mode='trunc')",
                 "L.tensor([3.0, -3.0, 0.0]) // 0.0", "L.tensor([3.0, 0.0]) % 0.0",
                 "L.div(L.tensor([1, 0]), 0)"]:
        d = eval(expr, dict(LIBS["dlbasic"]))
        t = eval(expr, dict(LIBS["torch"]))
        np.testing.assert_array_equal(d.numpy(), t.numpy())
        assert str(d.dtype).split(".")[1] == str(t.dtype).split(".")[1]


# -- probabilities of multinomial / bernoulli ------------------------------------------------------

@pytest.mark.parametrize("expr", [
    "L.multinomial(L.tensor([-1.0, 2.0]), 1)", "L.multinomial(L.tensor([float('nan'), 1.0]), 1)",
    "L.multinomial(L.tensor([float('inf'), 1.0]), 1)", "L.multinomial(L.tensor([0.0, 0.0]), 1)",
    "L.multinomial(L.tensor([[1.0, 1.0], [0.0, 0.0]]), 1)",
    "L.multinomial(L.tensor([1.0, 1.0]), 3)", "L.multinomial(L.tensor(1.0), 1)",
    "L.multinomial(L.ones(2, 2, 2), 1)", "L.multinomial(L.tensor([1.0, 2.0]), 0)",
    "L.multinomial(L.tensor([1.0, 2.0]), -1)", "L.multinomial(L.tensor([1, 2]), 1)",
    "L.bernoulli(L.tensor([-0.5, 0.5]))", "L.bernoulli(L.tensor([1.5, 0.5]))",
    "L.bernoulli(L.tensor([float('nan'), 0.5]))", "L.bernoulli(L.tensor([0.5]), p=1.5)",
    "L.bernoulli(L.tensor([0.5]), p=-0.5)", "L.bernoulli(L.tensor([1, 0]))",
    "L.zeros(2).bernoulli_(1.5)", "L.zeros(2).bernoulli_(L.tensor([1.5, 0.2]))",
    "L.normal(L.zeros(2), L.tensor([-1.0, 1.0]))", "L.normal(0.0, -1.0, (2,))",
    "L.zeros(2).normal_(0, -1)", "L.zeros(2).uniform_(1, 0)", "L.zeros(2).exponential_(-1)",
    "L.zeros(2).random_(5, 1)", "L.zeros(2, dtype=L.int64).uniform_()",
    "L.poisson(L.tensor([-1.0]))",
])
def test_bad_probabilities_and_distribution_parameters_are_refused(expr):
    assert_same_error(expr)


def test_multinomial_without_replacement_takes_zero_probability_classes_last():
    # torch: with more samples than nonzero classes, the zero-probability ones come after
    for _ in range(20):
        s = dlbasic.multinomial(dlbasic.tensor([1.0, 0.0, 3.0]), 3).tolist()
        assert sorted(s) == [0, 1, 2] and s[2] == 1


def test_random_without_bounds_draws_torchs_range():
    f = dlbasic.zeros(1000).random_()
    assert f.min().item() >= 0 and f.max().item() <= 2 ** 24 and f.max().item() > 2 ** 20
    b = dlbasic.zeros(100, dtype=dlbasic.uint8).random_()
    assert b.dtype is dlbasic.uint8 and b.max().item() > 128


# -- class weights of NLL / cross entropy ------------------------------------------------------

@pytest.mark.parametrize("expr", [
    "F.nll_loss(L.randn(3, 4), L.tensor([0, 1, 2]), weight=L.ones(3))",
    "F.nll_loss(L.randn(3, 4), L.tensor([0, 1, 2]), weight=L.ones(2, 2))",
    "F.nll_loss(L.randn(3, 4), L.tensor([0, 1, 2]), weight=L.ones(4, 1))",
    "F.cross_entropy(L.randn(3, 4), L.tensor([0, 1, 2]), weight=L.ones(5))",
    "F.cross_entropy(L.randn(3, 4), L.tensor([0, 1, 2]), weight=L.ones(2, 2))",
    "F.cross_entropy(L.randn(3, 4), L.randn(3, 4).softmax(1), weight=L.ones(2, 2))",
    "N.NLLLoss(weight=L.ones(2, 2))(L.randn(3, 4), L.tensor([0, 1, 2]))",
    "N.CrossEntropyLoss(weight=L.ones(1, 4))(L.randn(3, 4), L.tensor([0, 1, 2]))",
])
def test_class_weight_of_the_wrong_shape_is_refused(expr):
    assert_same_error(expr)


# -- out= -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("expr", [
    "L.add(L.ones(1), L.ones(1), out=L.zeros(1, dtype=L.int64))",
    "L.add(L.ones(1, dtype=L.int64), 1.5, out=L.zeros(1, dtype=L.int64))",
    "L.add(L.ones(1, dtype=L.int64), L.ones(1, dtype=L.int64), out=L.zeros(1, dtype=L.bool))",
    "L.mul(L.ones(1), 2.0, out=L.zeros(1, dtype=L.bool))",
    "L.exp(L.ones(1), out=L.zeros(1, dtype=L.int64))",
    "L.maximum(L.ones(2), L.ones(2), out=L.empty(0, dtype=L.int64))",
    "L.cat([L.ones(1)], out=L.empty(0, dtype=L.int64))",
    "L.stack([L.ones(1)], out=L.empty(0, dtype=L.int64))",
    "L.zeros(3, dtype=L.float32, out=L.empty(0, dtype=L.int64))",
    "L.arange(3, out=L.empty(0, dtype=L.int64), dtype=L.float32)",
])
def test_out_of_a_dtype_the_result_cannot_be_cast_to_is_refused(expr):
    assert_same_error(expr)


@pytest.mark.parametrize("expr", [
    "L.add(L.tensor([1]), L.tensor([2]), out=L.zeros(1))",
    "L.add(L.tensor([1.5]), L.tensor([2.0]), out=L.zeros(1, dtype=L.float64))",
    "L.add(L.tensor([1], dtype=L.int64), L.tensor([2]), out=L.zeros(1, dtype=L.int32))",
    "L.eq(L.ones(2), L.ones(2), out=L.empty(0))",
    "L.zeros(3, out=L.empty(0, dtype=L.int64))", "L.ones(2, 2, out=L.empty(5))",
    "L.full((2,), 1.5, out=L.empty(0, dtype=L.int64))", "L.arange(3, out=L.empty(0))",
    "L.linspace(0, 1, 3, out=L.empty(0, dtype=L.int64))",
    "L.eye(2, out=L.empty(0, dtype=L.int64))",
])
def test_out_of_a_castable_dtype_receives_the_result(expr):
    d = eval(expr, dict(LIBS["dlbasic"]))
    t = eval(expr, dict(LIBS["torch"]))
    np.testing.assert_array_equal(d.numpy(), t.numpy())
    assert d.dtype.name == str(t.dtype).split(".")[1]


def test_creation_with_out_writes_into_out_and_returns_it():
    out = dlbasic.empty(0, dtype=dlbasic.int64)
    r = dlbasic.zeros(2, 3, out=out)
    assert r is out and out.shape == (2, 3) and out.dtype is dlbasic.int64
    r = dlbasic.randn(4, out=dlbasic.empty(0, dtype=dlbasic.float64))
    assert r.dtype is dlbasic.float64 and r.shape == (4,)
    with pytest.raises(NotImplementedError, match="normal_kernel_cpu"):
        dlbasic.randn(2, out=dlbasic.empty(0, dtype=dlbasic.int64))


# -- abs and sign at NaN and 0 -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_abs_gradient_is_zero_at_nan_and_at_zero_as_torch(dtype):
    vals = [float("nan"), 0.0, -0.0, -2.0, 3.0, float("inf"), float("-inf")]
    x = dlbasic.tensor(vals, dtype=getattr(dlbasic, dtype), requires_grad=True)
    x.abs().sum().backward()
    tx = torch.tensor(vals, dtype=getattr(torch, dtype), requires_grad=True)
    tx.abs().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 0, -1, 1, 1, -1])


def test_sign_of_nan_is_zero_as_torch():
    vals = [float("nan"), 0.0, -0.0, -2.0, 3.0]
    np.testing.assert_array_equal(dlbasic.sign(dlbasic.tensor(vals)).numpy(),
                                  torch.sign(torch.tensor(vals)).numpy())
    np.testing.assert_array_equal(dlbasic.tensor([-3, 0, 2]).sign().numpy(), [-1, 0, 1])


# -- values that were wrong ----------------------------------------------------------------------

def test_scatter_takes_a_0d_index_into_a_1d_tensor():
    for value in (dict(value=1.0), dict(src=dlbasic.tensor(5.0))):
        d = dlbasic.zeros(4).scatter(0, dlbasic.tensor(2), **value)
        tv = {k: (torch.tensor(v.item()) if isinstance(v, dlbasic.Tensor) else v)
              for k, v in value.items()}
        t = torch.zeros(4).scatter(0, torch.tensor(2), **tv)
        np.testing.assert_array_equal(d.numpy(), t.numpy())
    x = dlbasic.zeros(4)
    x.scatter_(0, dlbasic.tensor(2), value=1)
    np.testing.assert_array_equal(x.numpy(), [0, 0, 1, 0])
    np.testing.assert_array_equal(
        dlbasic.zeros(4).scatter_add(0, dlbasic.tensor(1), dlbasic.tensor(3.0)).numpy(),
        [0, 3, 0, 0])


def test_scatter_with_an_index_smaller_than_self_writes_only_the_indexed_rows():
    idx = [[0]]
    d = dlbasic.zeros(2, 3).scatter(1, dlbasic.tensor(idx), 1.0)
    t = torch.zeros(2, 3).scatter(1, torch.tensor(idx), 1.0)
    np.testing.assert_array_equal(d.numpy(), t.numpy())
    src = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = dlbasic.tensor(src, requires_grad=True)
    s = dlbasic.full((1, 2), 7.0, requires_grad=True)
    y = x.scatter(1, dlbasic.tensor([[2, 0]]), s)
    y.backward(dlbasic.tensor(src))
    tx = torch.tensor(src, requires_grad=True)
    ts = torch.full((1, 2), 7.0, requires_grad=True)
    ty = tx.scatter(1, torch.tensor([[2, 0]]), ts)
    ty.backward(torch.tensor(src))
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_array_equal(s.grad.numpy(), ts.grad.numpy())
    d = dlbasic.ones(3).scatter(0, dlbasic.tensor([0, 0]), 2.0, reduce="multiply")
    np.testing.assert_array_equal(d.numpy(), [4, 1, 1])


def test_take_along_dim_broadcasts_input_and_indices_as_torch():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    d = dlbasic.take_along_dim(dlbasic.tensor(x), dlbasic.tensor([[0]]), 1)
    t = torch.take_along_dim(torch.tensor(x), torch.tensor([[0]]), 1)
    np.testing.assert_array_equal(d.numpy(), t.numpy())
    d = dlbasic.take_along_dim(dlbasic.tensor(x), dlbasic.tensor([5, 0]))
    np.testing.assert_array_equal(d.numpy(), [5, 0])


def test_index_select_takes_no_negative_index():
    assert_same_error("L.ones(3).index_select(0, L.tensor([-1]))")
    assert_same_error("L.ones(3).index_select(0, L.tensor([0.0]))")


def test_default_collate_of_numbers_follows_every_sample():
    for batch in ([1, 2.5], [True, False], [1, 2], [1.0, 2.0]):
        d, t = default_collate(batch), torch.utils.data.default_collate(batch)
        assert d.dtype.name == str(t.dtype).split(".")[1]
        np.testing.assert_array_equal(d.numpy(), t.numpy())


@pytest.mark.parametrize("batch", [
    "[1.0, L.tensor([2.0, 3.0])]", "[L.tensor([2.0, 3.0]), 1.0]", "[1, [2, 3]]",
    "[(1.0, L.ones(2)), (L.ones(2), 1.0)]", "[1.0, 'a']", "[1.0, None]",
])
def test_default_collate_of_mixed_samples_is_refused_in_torchs_words(batch):
    from torch.utils.data import default_collate as torch_collate
    fns = {"torch": torch_collate, "dlbasic": default_collate}
    errs = {}
    for lib in ("torch", "dlbasic"):
        try:
            fns[lib](eval(batch, dict(LIBS[lib])))
        except Exception as e:                      # noqa: BLE001
            errs[lib] = e
    assert type(errs["dlbasic"]) is type(errs["torch"])
    assert str(errs["dlbasic"]) == str(errs["torch"])


# -- tensor() of bad data ---------------------------------------------------------------------

@pytest.mark.parametrize("expr", [
    "L.tensor([[1, 2], [3]])", "L.tensor([[1.0], [2.0, 3.0]], dtype=L.float64)",
    "L.tensor([[[1], [2]], [[3], [4, 5]]])", "L.tensor([[1, 2], 3])", "L.tensor([1, [2, 3]])",
    "L.tensor([1.5, [2]])", "L.tensor([(1, 2), (3,)])", "L.tensor([[1], []])",
    "L.tensor('a')", "L.tensor([1.0, 'a'])", "L.tensor([1.0, 'a'], dtype=L.float32)",
    "L.tensor([1, 'a'], dtype=L.int64)", "L.tensor(None)", "L.tensor([None])",
    "L.tensor([1, None])", "L.tensor([1, None], dtype=L.float32)", "L.tensor({1: 2})",
    "L.tensor(object())", "L.tensor(2**64)", "L.tensor(2**63)", "L.tensor([2**63])",
    "L.tensor([-2**63 - 1])", "L.tensor([2.0, 2**64], dtype=L.int64)",
    "L.tensor([300], dtype=L.int8)", "L.tensor([float('nan')], dtype=L.int64)",
    "L.tensor([L.ones(2), L.ones(2)])", "L.tensor([L.tensor(1.0)], dtype=L.int64)",
    "L.as_tensor([[1, 2], [3]])", "L.Tensor([[1, 2], [3]])",
])
def test_tensor_of_bad_data_is_refused_in_torchs_words(expr):
    assert_same_error(expr)


def test_tensor_of_a_list_of_strings_raises_torchs_valueerror():
    # torch: ValueError("too many dimensions 'str'") (dlbasic raised TypeError before)
    with pytest.raises(ValueError, match="too many dimensions 'str'"):
        dlbasic.tensor(["a", "b"])


@pytest.mark.parametrize("data", [
    "[1, 2.0, True]", "[True, 1]", "[[], []]", "[[], [1]]", "[]", "[2.0, 2**64]",
    "[-2**63]", "2**63 - 1", "[L.tensor(1.0), L.tensor(2.0)]", "[[L.tensor(1.0)], [2.0]]",
    "[L.tensor(1, dtype=L.int32), 2]", "range(3)", "[range(2), range(2)]",
    "[[1, 2], (3, 4)]", "[1, float('nan')]",
])
def test_tensor_of_good_data_has_torchs_values_and_dtype(data):
    d = dlbasic.tensor(eval(data, dict(LIBS["dlbasic"])))
    t = torch.tensor(eval(data, dict(LIBS["torch"])))
    assert d.dtype.name == str(t.dtype).split(".")[1]
    assert tuple(d.shape) == tuple(t.shape)
    np.testing.assert_array_equal(d.numpy(), t.numpy())


# -- indexing, masks, empty reductions -------------------------------------------------------------

@pytest.mark.parametrize("expr", [
    "L.zeros(4)[L.tensor([True, False, True])]",
    "L.zeros(4, 2)[L.tensor([True, False, True])]",
    "L.zeros(4, 2)[:, L.tensor([True, False, True])]",
    "L.zeros(4, 2)[L.ones(3, 2, dtype=L.bool)]", "L.zeros(4, 2)[L.ones(4, 3, dtype=L.bool)]",
    "L.zeros(3).__setitem__(L.tensor([True, False]), 1.0)",
    "L.zeros(4).masked_fill(L.tensor([True, False, True]), 1.0)",
    "L.zeros(2, 3).masked_fill(L.ones(4, dtype=L.bool), 1.0)",
    "L.zeros(4).masked_fill(L.tensor([1, 0, 1, 0]), 1.0)",
    "L.zeros(4).masked_select(L.tensor([True, False, True]))",
    "L.argmax(L.zeros(0))", "L.argmin(L.zeros(0))", "L.zeros(0).max()", "L.zeros(0).min()",
    "L.zeros(0, 3).argmax(0)", "L.zeros(0, 3).amax(0)", "L.zeros(0).amin()",
    "L.zeros(0, 3).median(0)", "L.zeros(0, 3).mode(0)", "L.zeros(0).aminmax()",
])
def test_bad_masks_and_empty_reductions_are_refused_in_torchs_words(expr):
    assert_same_error(expr)


def test_reductions_of_nothing_that_torch_allows_give_torchs_values():
    for expr in ["L.zeros(0).median()", "L.zeros(0, 3).logsumexp(0)", "L.zeros(0, 3).logsumexp(1)",
                 "L.zeros(0, 3).argmax(1)", "L.zeros(0).mean()", "L.zeros(0, 2).mode(1).values"]:
        d = eval(expr, dict(LIBS["dlbasic"]))
        t = eval(expr, dict(LIBS["torch"]))
        np.testing.assert_array_equal(d.numpy(), t.numpy())


def test_boolean_mask_after_an_ellipsis_indexes_the_last_dims():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    m = np.array([[True, False, True, False]] * 3)
    d = dlbasic.tensor(x)[..., dlbasic.tensor(m)]
    t = torch.tensor(x)[..., torch.tensor(m)]
    np.testing.assert_array_equal(d.numpy(), t.numpy())
