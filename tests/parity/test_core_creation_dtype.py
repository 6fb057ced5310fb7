"""Creation functions, dtypes and torch's type-promotion rules."""
import numpy as np
import pytest
import torch

import dlbasic
from tests.parity.harness import check, assert_close


def both(fn):
    """Run a torch-written zero-argument lambda on both libraries; compare shape/dtype/values."""
    from tests.parity.harness import rebind
    t, d = fn(), rebind(fn)()
    assert str(t.dtype).split(".")[-1] == d.dtype.name, f"{d.dtype} != {t.dtype}"
    assert tuple(d.shape) == tuple(t.shape)
    return t, d


@pytest.mark.parametrize("fn", [
    lambda: torch.tensor([1.0, 2.0]),
    lambda: torch.tensor([1, 2]),
    lambda: torch.tensor([True, False]),
    lambda: torch.tensor(3.5),
    lambda: torch.tensor(3),
    lambda: torch.tensor([[1, 2.5], [3, 4]]),
    lambda: torch.tensor([1, 2], dtype=torch.float64),
    lambda: torch.tensor(np.arange(3, dtype=np.int32)),
    lambda: torch.tensor(np.arange(3.0)),
    lambda: torch.tensor([]),
    lambda: torch.tensor([torch.tensor(1.0), torch.tensor(2.0)]),
    lambda: torch.as_tensor([1, 2, 3]),
    lambda: torch.as_tensor(np.ones(2, np.float32), dtype=torch.float64),
    lambda: torch.from_numpy(np.ones((2, 2), np.uint8)),
    lambda: torch.zeros(2, 3),
    lambda: torch.zeros((2, 3), dtype=torch.int64),
    lambda: torch.ones(4),
    lambda: torch.ones([2, 1], dtype=torch.bool),
    lambda: torch.empty(2, 5),
    lambda: torch.full((2, 3), 7),
    lambda: torch.full((2, 3), 7.5),
    lambda: torch.full((2,), True),
    lambda: torch.full((2, 3), 7, dtype=torch.float32),
    lambda: torch.arange(5),
    lambda: torch.arange(1, 4),
    lambda: torch.arange(0, 1, 0.1),
    lambda: torch.arange(5.0),
    lambda: torch.arange(0, 10, 3),
    lambda: torch.arange(10, 0, -3),
    lambda: torch.arange(5, dtype=torch.float32),
    lambda: torch.arange(0, 2.5, 0.5, dtype=torch.float64),
    lambda: torch.linspace(0, 1, 5),
    lambda: torch.linspace(-2, 2, 7, dtype=torch.float64),
    lambda: torch.linspace(0, 1, 1),
    lambda: torch.eye(3),
    lambda: torch.eye(2, 4),
    lambda: torch.eye(3, dtype=torch.int64),
    lambda: torch.zeros(0, 3),
    lambda: torch.zeros(()),
])
def test_creation_values_shapes_dtypes(fn):
    t, d = both(fn)
    if fn.__code__.co_names[-1:] != ("empty",):
        assert_close(d, t, 1e-6, 1e-6)


@pytest.mark.parametrize("fn", [
    lambda: torch.rand(3, 4), lambda: torch.randn(2, 3),
    lambda: torch.randn(5, dtype=torch.float64), lambda: torch.rand((2, 2)),
    lambda: torch.randint(0, 10, (3, 4)), lambda: torch.randint(5, (6,)),
    lambda: torch.randint(3, 6, (2,), dtype=torch.int32), lambda: torch.randperm(5),
    lambda: torch.randn(()),
])
def test_random_creation_shapes_and_dtypes(fn):
    both(fn)


def test_random_value_ranges():
    r = dlbasic.rand(1000)
    assert 0 <= r.min().item() and r.max().item() < 1
    i = dlbasic.randint(3, 7, (1000,))
    assert i.min().item() == 3 and i.max().item() == 6
    n = dlbasic.randn(20000, dtype=dlbasic.float64)
    assert abs(n.mean().item()) < 0.05 and abs(n.std().item() - 1) < 0.05
    assert sorted(dlbasic.randperm(6).tolist()) == list(range(6))


def test_manual_seed_gives_the_same_numbers():
    dlbasic.manual_seed(123)
    a = (dlbasic.rand(5), dlbasic.randn(3, 2), dlbasic.randint(0, 100, (4,)), dlbasic.randperm(7))
    dlbasic.manual_seed(123)
    b = (dlbasic.rand(5), dlbasic.randn(3, 2), dlbasic.randint(0, 100, (4,)), dlbasic.randperm(7))
    for x, y in zip(a, b):
        assert np.array_equal(x.numpy(), y.numpy())
    dlbasic.manual_seed(124)
    assert not np.array_equal(dlbasic.rand(5).numpy(), a[0].numpy())


def test_generator_objects_are_independent_and_seedable():
    g1 = dlbasic.Generator().manual_seed(7)
    g2 = dlbasic.Generator().manual_seed(7)
    assert np.array_equal(dlbasic.randn(4, generator=g1).numpy(),
                          dlbasic.randn(4, generator=g2).numpy())
    dlbasic.manual_seed(0)
    s = dlbasic.get_rng_state()
    x = dlbasic.rand(3)
    dlbasic.set_rng_state(s)
    assert np.array_equal(x.numpy(), dlbasic.rand(3).numpy())


@pytest.mark.parametrize("name", ["zeros_like", "ones_like", "empty_like", "rand_like",
                                  "randn_like"])
@pytest.mark.parametrize("dtype", [None, "float64"])
def test_like_functions_keep_shape_and_dtype(name, dtype):
    for src in (torch.ones(2, 3), torch.ones(4, dtype=torch.float64)):
        kw = {} if dtype is None else {"dtype": getattr(torch, dtype)}
        dkw = {} if dtype is None else {"dtype": getattr(dlbasic, dtype)}
        t = getattr(torch, name)(src, **kw)
        d = getattr(dlbasic, name)(dlbasic.tensor(src.numpy()), **dkw)
        assert str(t.dtype).split(".")[-1] == d.dtype.name
        assert tuple(t.shape) == tuple(d.shape)
        if name in ("zeros_like", "ones_like"):
            assert np.array_equal(t.numpy(), d.numpy())


def test_full_like_and_randint_like():
    for lib in (torch, dlbasic):
        x = lib.zeros(2, 3, dtype=lib.int64)
        f = lib.full_like(x, 4)
        assert f.dtype == lib.int64 and f.tolist() == [[4] * 3] * 2
        r = lib.randint_like(x, 10)
        assert r.dtype == lib.int64 and r.shape == (2, 3)
    assert dlbasic.full_like(dlbasic.ones(2), 2.5).tolist() == [2.5, 2.5]


def test_like_functions_requires_grad():
    x = dlbasic.ones(2)
    assert dlbasic.zeros_like(x, requires_grad=True).requires_grad
    assert dlbasic.zeros(2, requires_grad=True).is_leaf


def test_tensor_copies_and_from_numpy_shares():
    a = np.ones(3, dtype=np.float32)
    t = dlbasic.tensor(a)
    f = dlbasic.from_numpy(a)
    s = dlbasic.as_tensor(a)
    a[0] = 5
    assert t[0].item() == 1 and f[0].item() == 5 and s[0].item() == 5


def test_unsupported_numpy_dtype_raises_typeerror():
    with pytest.raises(TypeError):
        torch.from_numpy(np.ones(2, dtype=np.complex64).astype(object))
    with pytest.raises(TypeError):
        dlbasic.from_numpy(np.ones(2, dtype=object))
    for lib in (torch, dlbasic):                 # torch: "too many dimensions 'str'"
        with pytest.raises(ValueError, match="too many dimensions 'str'"):
            lib.tensor(["a", "b"])


def test_negative_size_raises_runtimeerror():
    for lib in (torch, dlbasic):
        with pytest.raises(RuntimeError):
            lib.zeros(2, -1)


def test_requires_grad_on_integer_tensor_raises():
    for lib in (torch, dlbasic):
        with pytest.raises(RuntimeError):
            lib.tensor([1, 2], requires_grad=True)
        with pytest.raises(RuntimeError):
            lib.arange(3).requires_grad_()


# -- promotion -----------------------------------------------------------------------------

PROMO = [
    ("float32", "int64"), ("int64", "float32"), ("float32", "float64"), ("int32", "int64"),
    ("uint8", "int32"), ("bool", "int64"), ("bool", "float32"), ("uint8", "bool"),
    ("int64", "float64"), ("int32", "float32"), ("bool", "bool"), ("uint8", "uint8"),
]


def _arr(dtype, shape=(3,)):
    if dtype == "bool":
        return np.array([True, False, True][:shape[0]] if shape else True)
    return (np.arange(1, 1 + int(np.prod(shape))).reshape(shape)).astype(dtype)


@pytest.mark.parametrize("da,db", PROMO)
@pytest.mark.parametrize("op", ["add", "mul", "div", "maximum", "where", "eq", "sub"])
def test_tensor_tensor_promotion(da, db, op):
    fns = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
           "maximum": lambda a, b: torch.maximum(a, b), "eq": lambda a, b: a == b,
           "where": lambda a, b: torch.where(a > 1, a, b), "sub": lambda a, b: a - b}
    if op == "sub" and "bool" in (da, db):
        from tests.parity.harness import check_raises
        check_raises(fns[op], inputs=[_arr(da), _arr(db)])
        check_raises(lambda a: a - True, inputs=[_arr(da)])
        return
    check(fns[op], inputs=[_arr(da), _arr(db)], grad=False)


@pytest.mark.parametrize("dt", ["float32", "float64", "int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("scalar", [2, 2.5, True])
def test_python_scalar_never_upcasts_within_category(dt, scalar):
    x = _arr(dt)
    for fn in (lambda x: x + scalar, lambda x: scalar * x, lambda x: x / scalar,
               lambda x: x * scalar, lambda x: torch.maximum(x, torch.tensor(scalar))):
        check(fn, inputs=[x], grad=False)


@pytest.mark.parametrize("dt", ["float32", "float64", "int64", "int32", "bool"])
def test_zero_dim_tensor_vs_dimensioned_tensor_priority(dt):
    x = _arr(dt)
    for zdt in ("float64", "int64", "float32", "int32", "bool"):
        z = _arr(zdt, ()) if zdt != "bool" else np.array(True)
        check(lambda x, z: x + z, inputs=[x, z], grad=False)
        check(lambda x, z: z * x, inputs=[x, z], grad=False)


def test_int_division_gives_float32():
    check(lambda a, b: a / b, inputs=[np.array([1, 2, 3]), np.array([2, 2, 2])], grad=False)
    check(lambda a: a / 2, inputs=[np.array([1, 2, 3], dtype=np.int32)], grad=False)
    check(lambda a: 1 / a, inputs=[np.array([1, 2, 4])], grad=False)
    check(lambda a: torch.true_divide(a, a), inputs=[np.array([1, 2])], grad=False)


def test_promote_types_and_result_type():
    pairs = [(torch.int64, torch.float32), (torch.uint8, torch.int8), (torch.bool, torch.int32),
             (torch.float32, torch.float64), (torch.int32, torch.int64),
             (torch.uint8, torch.bool), (torch.int16, torch.float16)]
    for a, b in pairs:
        t = torch.promote_types(a, b)
        d = dlbasic.promote_types(getattr(dlbasic, str(a)[6:]), getattr(dlbasic, str(b)[6:]))
        assert str(t)[6:] == d.name
    t = torch.result_type(torch.tensor([1]), 2.5)
    assert dlbasic.result_type(dlbasic.tensor([1]), 2.5).name == str(t)[6:]


def test_gradient_dtype_follows_input_through_promotion():
    check(lambda a, b: a * b, inputs=[np.ones(3, np.float32), np.ones(3, np.float64)])
    check(lambda a, b: a + b, inputs=[np.ones(3, np.float32), np.arange(3)])


def test_default_dtype_can_be_changed():
    dlbasic.set_default_dtype(dlbasic.float64)
    try:
        assert dlbasic.tensor([1.5]).dtype is dlbasic.float64
        assert dlbasic.zeros(2).dtype is dlbasic.float64
        assert (dlbasic.tensor([1]) / 2).dtype is dlbasic.float64
    finally:
        dlbasic.set_default_dtype(dlbasic.float32)
    assert dlbasic.tensor([1.5]).dtype is dlbasic.float32
    with pytest.raises(TypeError):
        dlbasic.set_default_dtype(dlbasic.int64)


def test_dtype_objects():
    assert dlbasic.float32.is_floating_point and not dlbasic.int64.is_floating_point
    assert repr(dlbasic.float64) == "dlbasic.float64"
    assert dlbasic.float is dlbasic.float32 and dlbasic.double is dlbasic.float64
    assert dlbasic.long is dlbasic.int64 and dlbasic.int is dlbasic.int32
    assert dlbasic.bool.name == "bool"
    assert dlbasic.float32.itemsize == 4
