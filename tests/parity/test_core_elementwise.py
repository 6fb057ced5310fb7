"""Parity of the elementwise ops with torch: values, dtypes, gradients, kinks, broadcasting."""
import numpy as np
import pytest
import torch

from tests.parity.harness import check

UNARY = {
    "neg": lambda x: torch.neg(x),
    "neg_op": lambda x: -x,
    "abs": lambda x: torch.abs(x),
    "abs_method": lambda x: x.abs(),
    "exp": lambda x: torch.exp(x),
    "sin": lambda x: torch.sin(x),
    "cos": lambda x: torch.cos(x),
    "tanh": lambda x: torch.tanh(x),
    "sigmoid": lambda x: torch.sigmoid(x),
    "sigmoid_method": lambda x: x.sigmoid(),
    "relu": lambda x: torch.relu(x),
    "expm1": lambda x: torch.expm1(x),
    "square": lambda x: torch.square(x),
    "pow2": lambda x: x ** 2,
    "pow3": lambda x: torch.pow(x, 3),
    "pow_neg": lambda x: x ** -2,
    "rpow": lambda x: 2.0 ** x,
    "atan": lambda x: torch.atan(x),
    "sinh": lambda x: torch.sinh(x),
    "cosh": lambda x: torch.cosh(x),
    "erf": lambda x: torch.erf(x),
    "tan": lambda x: torch.tan(x * 0.3),
    "clamp_both": lambda x: torch.clamp(x, -0.5, 0.5),
    "clamp_min": lambda x: torch.clamp(x, min=0.1),
    "clamp_max": lambda x: x.clamp(max=0.2),
    "clip": lambda x: torch.clip(x, -0.3, 0.4),
    "scalar_add": lambda x: x + 2.5,
    "scalar_radd": lambda x: 2.5 + x,
    "scalar_sub": lambda x: x - 1,
    "scalar_rsub": lambda x: 1 - x,
    "scalar_mul": lambda x: x * 3,
    "scalar_rmul": lambda x: 3.5 * x,
    "scalar_div": lambda x: x / 4,
    "scalar_rdiv": lambda x: 2 / (x + 5),
}

POSITIVE = {
    "log": lambda x: torch.log(x),
    "log1p": lambda x: torch.log1p(x),
    "sqrt": lambda x: torch.sqrt(x),
    "rsqrt": lambda x: torch.rsqrt(x),
    "pow_frac": lambda x: x ** 1.5,
    "reciprocal": lambda x: torch.reciprocal(x),
    "log2": lambda x: torch.log2(x),
    "log10": lambda x: torch.log10(x),
    "asin": lambda x: torch.asin(x * 0.9),
    "acos": lambda x: torch.acos(x * 0.9),
}

BINARY = {
    "add": lambda a, b: a + b,
    "add_fn_alpha": lambda a, b: torch.add(a, b, alpha=2.5),
    "sub": lambda a, b: a - b,
    "sub_alpha": lambda a, b: torch.sub(a, b, alpha=0.5),
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b.abs() + 0.5),
    "maximum": lambda a, b: torch.maximum(a, b),
    "minimum": lambda a, b: torch.minimum(a, b),
    "where": lambda a, b: torch.where(a > b, a, b),
    "where_method": lambda a, b: a.where(a > 0, b),
    "lerp": lambda a, b: torch.lerp(a, b, 0.3),
    "addcmul": lambda a, b: torch.addcmul(a, a, b, value=0.5),
    "pow_tensor": lambda a, b: torch.pow(a.abs() + 0.5, b),
    "clamp_tensor": lambda a, b: torch.clamp(a, min=b - 0.3, max=b + 0.3),
    "clamp_tensor_min": lambda a, b: torch.clamp(a, min=b),
    "clamp_tensor_max": lambda a, b: torch.clamp(a, max=b),
}

SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)),
               ((5, 1), (1, 6))]


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_matches_torch(name):
    check(UNARY[name], shapes=[(3, 4)])


@pytest.mark.parametrize("name", sorted(POSITIVE))
def test_unary_on_positive_inputs_matches_torch(name):
    check(POSITIVE[name], shapes=[(3, 4)], low=0.1, high=1.0)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_float64_keeps_dtype(name):
    check(UNARY[name], shapes=[(2, 3)], dtype="float64")


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
def test_binary_broadcast_matches_torch(name, shapes):
    check(BINARY[name], shapes=list(shapes))


@pytest.mark.parametrize("name", ["add", "sub", "mul", "maximum", "minimum"])
def test_binary_only_one_input_requires_grad(name):
    check(BINARY[name], shapes=[(3, 4), (4,)], requires_grad=[False, True])
    check(BINARY[name], shapes=[(3, 4), (4,)], requires_grad=[True, False])


def test_unary_on_zero_dim_and_empty_tensors():
    check(lambda x: torch.exp(x) * 2, shapes=[()])
    check(lambda x: torch.tanh(x) + 1, shapes=[(0, 3)])


def test_large_inputs_sigmoid_does_not_overflow():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=np.float32)
    check(lambda x: torch.sigmoid(x), inputs=[x])


def test_integer_inputs_to_float_functions():
    x = np.array([1, 2, 3], dtype=np.int64)
    for fn in (lambda x: torch.exp(x), lambda x: torch.sqrt(x), lambda x: torch.sigmoid(x),
               lambda x: torch.log(x), lambda x: torch.sin(x), lambda x: x / 2,
               lambda x: x * 2.5, lambda x: x + 1, lambda x: x ** 2, lambda x: torch.abs(-x),
               lambda x: torch.clamp(x, 2), lambda x: torch.clamp(x, 1.5),
               lambda x: torch.maximum(x, torch.tensor(2.0))):
        check(fn, inputs=[x], grad=False)


def test_rounding_and_nondifferentiable_elementwise():
    x = np.array([-2.5, -1.5, -0.4, 0.0, 0.5, 1.5, 2.7], dtype=np.float32)
    for fn in (lambda x: torch.floor(x), lambda x: torch.ceil(x), lambda x: torch.round(x),
               lambda x: torch.trunc(x), lambda x: torch.sign(x), lambda x: torch.frac(x),
               lambda x: x // 1.3, lambda x: x % 1.3, lambda x: torch.fmod(x, 1.3),
               lambda x: torch.remainder(x, -1.3), lambda x: torch.div(x, 2, rounding_mode="floor"),
               lambda x: torch.div(x, 2, rounding_mode="trunc")):
        check(fn, inputs=[x], requires_grad=False)


def test_integer_floor_div_and_remainder():
    a = np.array([-7, -3, 0, 3, 7], dtype=np.int64)
    b = np.array([2, 2, 3, -2, -3], dtype=np.int64)
    for fn in (lambda a, b: a // b, lambda a, b: a % b, lambda a, b: torch.fmod(a, b),
               lambda a, b: torch.div(a, b, rounding_mode="trunc"),
               lambda a, b: torch.div(a, b, rounding_mode="floor"), lambda a, b: a / b,
               lambda a, b: a * b, lambda a, b: a - b, lambda a, b: a ** 2):
        check(fn, inputs=[a, b], grad=False)


# -- kinks: exact values where the derivative is one-sided -------------------------------

def test_relu_at_zero_has_zero_gradient():
    x = np.array([-1.0, 0.0, 0.0, 2.0], dtype=np.float32)
    check(lambda x: torch.relu(x), inputs=[x], grad_atol=0, grad_rtol=0)


def test_abs_at_zero_has_zero_gradient():
    x = np.array([-1.0, 0.0, 3.0], dtype=np.float32)
    check(lambda x: torch.abs(x), inputs=[x], grad_atol=0, grad_rtol=0)


def test_clamp_passes_gradient_on_the_closed_interval():
    x = np.array([-2.0, -1.0, -0.5, 0.0, 1.0, 1.5], dtype=np.float32)
    check(lambda x: torch.clamp(x, -1.0, 1.0), inputs=[x], grad_atol=0, grad_rtol=0)
    check(lambda x: torch.clamp(x, min=-1.0), inputs=[x], grad_atol=0, grad_rtol=0)
    check(lambda x: torch.clamp(x, max=1.0), inputs=[x], grad_atol=0, grad_rtol=0)


def test_clamp_with_tensor_bounds_at_the_bounds():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0], dtype=np.float32)
    lo = np.array([-1.0, -1.0, -1.0, -1.0, -1.0], dtype=np.float32)
    hi = np.array([1.0, 1.0, 1.0, 1.0, 1.0], dtype=np.float32)
    check(lambda x, lo, hi: torch.clamp(x, lo, hi), inputs=[x, lo, hi], grad_atol=0, grad_rtol=0)


def test_clamp_min_greater_than_max_gives_max():
    x = np.array([-2.0, 0.0, 3.0], dtype=np.float32)
    check(lambda x: torch.clamp(x, 1.0, -1.0), inputs=[x], grad_atol=0, grad_rtol=0)


def test_maximum_minimum_split_ties_half_half():
    a = np.array([1.0, 2.0, 3.0, -1.0], dtype=np.float32)
    b = np.array([1.0, 1.0, 4.0, -1.0], dtype=np.float32)
    check(lambda a, b: torch.maximum(a, b), inputs=[a, b], grad_atol=0, grad_rtol=0)
    check(lambda a, b: torch.minimum(a, b), inputs=[a, b], grad_atol=0, grad_rtol=0)


def test_maximum_ties_with_broadcasting():
    a = np.array([[1.0, 2.0], [2.0, 2.0]], dtype=np.float32)
    b = np.array([2.0, 2.0], dtype=np.float32)
    check(lambda a, b: torch.maximum(a, b), inputs=[a, b], grad_atol=0, grad_rtol=0)


def test_pow_at_zero_base():
    x = np.array([0.0, 1.0, 2.0], dtype=np.float32)
    check(lambda x: x ** 2, inputs=[x], grad_atol=0, grad_rtol=0)
    check(lambda x: x ** 0, inputs=[x], grad_atol=0, grad_rtol=0)
    check(lambda x: x ** 1, inputs=[x], grad_atol=0, grad_rtol=0)
    e = np.array([2.0, 0.0, 3.0], dtype=np.float32)
    check(lambda x, e: torch.pow(x, e), inputs=[x, e])


def test_where_with_scalar_branches_and_broadcast_condition():
    x = np.array([[-1.0, 2.0, 0.5], [3.0, -4.0, 0.0]], dtype=np.float32)
    check(lambda x: torch.where(x > 0, x, 0.0), inputs=[x])
    check(lambda x: torch.where(x > 0, 1.0, x), inputs=[x])
    check(lambda x: torch.where(torch.tensor([True, False, True]), x, -x), inputs=[x])


def test_where_with_mixed_dtypes_promotes():
    x = np.array([1.0, -2.0], dtype=np.float32)
    y = np.array([3, 4], dtype=np.int64)
    check(lambda x, y: torch.where(x > 0, x, y), inputs=[x, y])
    check(lambda x, y: torch.where(x > 0, y, 2.5), inputs=[x, y])


def test_clamp_out_argument():
    def fn(x):
        out = torch.empty(3)
        r = torch.clamp(x, -0.5, 0.5, out=out)
        assert r is out
        return out
    check(fn, inputs=[np.array([-1.0, 0.2, 3.0], dtype=np.float32)], requires_grad=False)


def test_out_argument_with_grad_raises_like_torch():
    from tests.parity.harness import check_raises

    def fn(x):
        x.requires_grad_()
        return torch.exp(x, out=torch.empty(3))
    check_raises(fn, inputs=[np.ones(3, dtype=np.float32)])


def test_chain_of_elementwise_ops():
    check(lambda x, y: torch.tanh(x * y + torch.sigmoid(x) - y / 3) ** 2 * torch.exp(-x.abs()),
          shapes=[(4, 5), (5,)])


def test_same_tensor_used_twice():
    check(lambda x: x * x + x / (x.abs() + 1) - torch.maximum(x, x), shapes=[(3, 3)])


@pytest.mark.parametrize("fn", [
    lambda x: torch.floor(x), lambda x: torch.ceil(x), lambda x: torch.round(x),
    lambda x: torch.round(x, decimals=1), lambda x: torch.trunc(x), lambda x: torch.sign(x),
    lambda x: torch.frac(x), lambda x: torch.fmod(x, 0.7), lambda x: torch.remainder(x, 0.7),
    lambda x: x % -0.6, lambda x: torch.fmod(x, x.abs() + 0.3),
    lambda x: torch.remainder(x, x.abs() + 0.3),
])
def test_step_functions_are_recorded_with_torch_gradients(fn):
    # torch records floor/round/... with a zero gradient and fmod/remainder with dy/da = 1
    x = np.array([[-2.3, -1.2, -0.4, 0.3], [0.9, 1.6, 2.2, 3.7]], dtype=np.float32)
    check(fn, inputs=[x])


def test_step_functions_grad_fn_names():
    for name in ("floor", "ceil", "round", "trunc", "sign"):
        t = getattr(torch, name)(torch.ones(2, requires_grad=True))
        import dlbasic
        d = getattr(dlbasic, name)(dlbasic.ones(2, requires_grad=True))
        assert d.grad_fn.name() == t.grad_fn.name()


CMP = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    "eq_fn": lambda a, b: torch.eq(a, b), "ne_fn": lambda a, b: torch.ne(a, b),
    "lt_fn": lambda a, b: torch.lt(a, b), "le_fn": lambda a, b: a.le(b),
    "gt_fn": lambda a, b: torch.gt(a, b), "ge_fn": lambda a, b: a.ge(b),
    "scalar": lambda a, b: a > 0.5, "rscalar": lambda a, b: 0.5 < a,
    "and": lambda a, b: torch.logical_and(a > 0, b > 0), "or": lambda a, b: (a > 0) | (b > 0),
    "xor": lambda a, b: torch.logical_xor(a > 0, b), "not": lambda a, b: torch.logical_not(a),
    "invert": lambda a, b: ~(a > b), "band": lambda a, b: (a > 0) & (b < 0),
    "isnan": lambda a, b: torch.isnan(a / b), "isfinite": lambda a, b: torch.isfinite(a / b),
    "isinf": lambda a, b: torch.isinf(a / b), "equal": lambda a, b: torch.tensor(
        [torch.equal(a, a), torch.equal(a, b)]),
    "allclose": lambda a, b: torch.tensor(torch.allclose(a, a + 1e-9)),
    "isclose": lambda a, b: torch.isclose(a, b, atol=0.5),
    "where_cond_only": lambda a, b: torch.where(a > b),
    "nonzero": lambda a, b: torch.nonzero(a > b),
}


@pytest.mark.parametrize("name", sorted(CMP))
def test_comparisons_and_logical_ops_match_torch(name):
    a = np.array([[0.0, 1.0, -2.0, 3.0], [np.nan, 0.5, 0.5, -1.0]], dtype=np.float32)
    b = np.array([0.0, 2.0, -2.0, 0.0], dtype=np.float32)
    check(CMP[name], inputs=[a, b], requires_grad=False)


def test_comparisons_of_mixed_dtypes_and_integer_bitwise():
    check(lambda a, b: a < b, inputs=[np.array([1, 2, 3]), np.array([1.5, 2.0, 2.5],
                                                                    dtype=np.float32)])
    i = np.array([5, 3, 12], dtype=np.int64)
    j = np.array([1, 6, 10], dtype=np.int64)
    for fn in (lambda a, b: a & b, lambda a, b: a | b, lambda a, b: a ^ b, lambda a, b: ~a,
               lambda a, b: torch.bitwise_and(a, b), lambda a, b: a & 4):
        check(fn, inputs=[i, j], grad=False)


def test_comparison_results_do_not_require_grad():
    import dlbasic
    x = dlbasic.ones(3, requires_grad=True)
    for r in (x > 0, x == x, torch_free_isnan(x), x.argmax()):
        assert not r.requires_grad and r.grad_fn is None


def torch_free_isnan(x):
    import dlbasic
    return dlbasic.isnan(x)


def test_where_with_two_python_numbers():
    x = np.array([1.0, -2.0, 3.0], dtype=np.float32)
    check(lambda x: torch.where(x > 0, 1.0, 0.0), inputs=[x], grad=False)
    check(lambda x: torch.where(x > 0, 1, 0), inputs=[x], grad=False)
    check(lambda x: torch.where(x > 0, True, False), inputs=[x], grad=False)


@pytest.mark.parametrize("fn", [
    lambda x: torch.div(x, 0.7, rounding_mode="floor") * x,
    lambda x: torch.div(x, x.abs() + 0.2, rounding_mode="trunc") * x,
])
def test_rounded_division_is_recorded_with_zero_gradient(fn):
    x = np.array([[-2.3, -1.2, -0.4, 0.3], [0.9, 1.6, 2.2, 3.7]], dtype=np.float32)
    check(fn, inputs=[x])
    # torch records floor_divide but has no derivative for it: compare the forward only
    check(lambda x: x // 0.7, inputs=[x], grad=False)


def test_inplace_rounded_division_on_nonleaf_gives_torch_gradient():
    def fn(x):
        y = x * 2
        y.div_(2, rounding_mode="floor")
        return y * 3 + x
    check(fn, inputs=[np.array([1.5, 2.5, -0.7], dtype=np.float32)])


def test_integer_trunc_division_is_exact_for_large_values():
    a = np.array([2 ** 62 + 1, -(2 ** 62) - 1, -7, 7], dtype=np.int64)
    b = np.array([3, 3, 2, -2], dtype=np.int64)
    check(lambda a, b: torch.div(a, b, rounding_mode="trunc"), inputs=[a, b], grad=False)
