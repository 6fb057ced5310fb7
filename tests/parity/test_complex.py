"""Complex tensors against torch: dtypes and promotion, creation, printing, the parts of a
complex tensor (views), arithmetic and reductions, gradients through real losses (torch's
convention: the gradient of z is dL/dRe z + i dL/dIm z), complex128 gradcheck, and torch's
errors for the ops that complex numbers have no meaning for (order, max, relu, ...)."""
import numpy as np
import pytest

from tests.parity.harness import assert_same_error, check, torch

import dlbasic
from dlbasic.autograd import gradcheck

CDTYPES = ["complex64", "complex128"]


def _z(*shape, seed=0, dtype=np.complex128):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


# -- dtypes ---------------------------------------------------------------------------------

def test_complex_dtypes_and_their_aliases_match_torch():
    assert dlbasic.cfloat is dlbasic.complex64 and dlbasic.cdouble is dlbasic.complex128
    for name in CDTYPES + ["float32", "int64", "bool"]:
        d, t = getattr(dlbasic, name), getattr(torch, name)
        assert d.is_complex == t.is_complex and d.is_floating_point == t.is_floating_point
        assert d.itemsize == t.itemsize and d.is_signed == t.is_signed
    z = dlbasic.tensor([1 + 2j])
    assert z.is_complex() and not z.is_floating_point() and dlbasic.is_complex(z)
    assert not dlbasic.ones(2).is_complex()


NAMES = ["bool", "uint8", "int32", "int64", "float16", "float32", "float64", "complex64",
         "complex128"]


@pytest.mark.parametrize("a", NAMES)
def test_promote_types_with_complex_matches_torch(a):
    for b in CDTYPES:
        if a == "float16" and b == "complex64":
            continue                    # torch: complex32 (ComplexHalf), which dlbasic lacks
        want = str(torch.promote_types(getattr(torch, a), getattr(torch, b))).split(".")[1]
        assert dlbasic.promote_types(getattr(dlbasic, a), getattr(dlbasic, b)).name == want
        assert dlbasic.promote_types(getattr(dlbasic, b), getattr(dlbasic, a)).name == want


@pytest.mark.parametrize("dt", ["int64", "float32", "float64", "complex64", "complex128"])
def test_result_type_of_tensors_numbers_and_zero_dim_tensors_matches_torch(dt):
    cases = [lambda L: (L.ones(2, dtype=getattr(L, dt)), 1j),
             lambda L: (L.ones(2, dtype=getattr(L, dt)), 2.5),
             lambda L: (L.ones(2, dtype=getattr(L, dt)), L.tensor(1j)),
             lambda L: (L.ones(2, dtype=getattr(L, dt)), L.tensor(1j, dtype=L.complex128)),
             lambda L: (L.ones(2, dtype=getattr(L, dt)), L.tensor(1.0, dtype=L.float64)),
             lambda L: (L.ones((), dtype=getattr(L, dt)), L.ones(2, dtype=L.complex64)),
             lambda L: (L.ones((), dtype=getattr(L, dt)), L.ones(2, dtype=L.float64))]
    for case in cases:
        want = str(torch.result_type(*case(torch))).split(".")[1]
        assert dlbasic.result_type(*case(dlbasic)).name == want
        # the arithmetic follows the same rule
        t_a, t_b = case(torch)
        d_a, d_b = case(dlbasic)
        assert (d_a + d_b).dtype.name == str((t_a + t_b).dtype).split(".")[1]
        assert (d_b * d_a).dtype.name == str((t_b * t_a).dtype).split(".")[1]


# -- creation, conversion, printing ---------------------------------------------------------

@pytest.mark.parametrize("data", [
    [1 + 2j, -0.5j, 3.25], [[1.5 + 2j, 3], [4, 5]], 1 + 2j, [1j, 2j, 3e5j], [1e-5 + 1j, 2],
    [float("nan") + 1j, float("inf") - 2j], [True, 2, 3.5, 1j], [[0j, 1], [2, 3]],
])
def test_tensor_from_python_complex_numbers_matches_torch_and_prints_alike(data):
    t, d = torch.tensor(data), dlbasic.tensor(data)
    assert d.dtype.name == str(t.dtype).split(".")[1] and tuple(d.shape) == tuple(t.shape)
    np.testing.assert_array_equal(d.numpy(), t.numpy())
    assert repr(d) == repr(t).replace("torch.", "dlbasic.")
    for dt in CDTYPES:
        t2, d2 = t.to(getattr(torch, dt)), d.to(getattr(dlbasic, dt))
        assert repr(d2) == repr(t2).replace("torch.", "dlbasic.")
    tg = torch.tensor(data, requires_grad=True)
    dg = dlbasic.tensor(data, requires_grad=True)
    assert repr(dg) == repr(tg).replace("torch.", "dlbasic.")
    assert repr(dg * 2) == repr(tg * 2).replace("torch.", "dlbasic.")


def test_a_long_complex_tensor_is_summarised_as_torch_does():
    a = _z(3000, dtype=np.complex64)
    assert repr(dlbasic.tensor(a)) == repr(torch.tensor(a))
    b = _z(4, 5, dtype=np.complex64) * 1000          # widths differ between the parts
    assert repr(dlbasic.tensor(b)) == repr(torch.tensor(b))


def test_numpy_complex_arrays_and_scalars_convert_both_ways():
    for dt in (np.complex64, np.complex128):
        a = _z(2, 3, dtype=dt)
        d = dlbasic.tensor(a)
        assert d.dtype.name == np.dtype(dt).name and d.numpy().dtype == dt
        np.testing.assert_array_equal(d.numpy(), a)
        assert dlbasic.tensor([dt(1j), 2]).dtype.name == str(
            torch.tensor([dt(1j), 2]).dtype).split(".")[1]
    assert dlbasic.tensor([1, 2.5], dtype=dlbasic.complex64).tolist() == [1 + 0j, 2.5 + 0j]
    item = dlbasic.tensor(1 + 2j).item()
    assert type(item) is complex and item == 1 + 2j
    assert dlbasic.tensor([[1 + 1j]]).tolist() == torch.tensor([[1 + 1j]]).tolist()


def test_complex_data_into_a_real_dtype_raises_as_torch():
    assert_same_error(lambda: torch.tensor([1j], dtype=torch.float32),
                      lambda: dlbasic.tensor([1j], dtype=dlbasic.float32))
    assert_same_error(lambda: torch.tensor([1j, 2], dtype=torch.int64),
                      lambda: dlbasic.tensor([1j, 2], dtype=dlbasic.int64))
    assert_same_error(lambda: float(torch.tensor(1j)), lambda: float(dlbasic.tensor(1j)))


def test_casting_complex_to_real_keeps_the_real_part_and_warns_like_torch():
    a = _z(4, dtype=np.complex64)
    with pytest.warns(UserWarning, match="discards the imaginary part"):
        r = dlbasic.tensor(a).to(dlbasic.float32)
    np.testing.assert_array_equal(r.numpy(), a.real)
    # the gradient of a real input cast to complex is the real part of the complex gradient
    check(lambda x: (x.to(torch.complex64) * (2 - 3j)).imag.sum(), shapes=[(5,)])


def test_only_floating_and_complex_tensors_may_require_grad():
    assert dlbasic.tensor([1j], requires_grad=True).requires_grad
    assert_same_error(lambda: torch.tensor([1, 2], requires_grad=True),
                      lambda: dlbasic.tensor([1, 2], requires_grad=True), same_message=False)


# -- the parts of a complex tensor ----------------------------------------------------------

def test_real_and_imag_are_views_that_write_through():
    for lib in (torch, dlbasic):
        z = lib.tensor(_z(2, 3))
        z.real[0, 1] = 7.0
        z.imag.mul_(2)
        z.real.t()[2, 1] = -1
        if lib is torch:
            want = z.numpy().copy()
        else:
            np.testing.assert_array_equal(z.numpy(), want)
    z = dlbasic.tensor(_z(3))
    assert z.real._base is z and z.imag._base is z
    assert dlbasic.real(dlbasic.ones(2)).tolist() == [1.0, 1.0]
    x = dlbasic.ones(2)
    assert x.conj() is x and dlbasic.real(x) is x


def test_view_as_real_and_view_as_complex_share_memory():
    z = dlbasic.tensor(_z(3, 2, dtype=np.complex64))
    r = dlbasic.view_as_real(z)
    assert r.shape == (3, 2, 2) and r.dtype is dlbasic.float32
    r[1, 0, 1] = 42.0
    assert z[1, 0].item().imag == 42.0
    back = dlbasic.view_as_complex(r)
    back[0, 0] = 5 - 5j
    assert z[0, 0].item() == 5 - 5j
    # a transposed complex tensor still views as real (torch keeps its strides)
    zt = dlbasic.tensor(_z(2, 3)).t()
    np.testing.assert_array_equal(dlbasic.view_as_real(zt).numpy(),
                                  torch.view_as_real(torch.tensor(_z(2, 3)).t()).numpy())
    assert dlbasic.view_as_complex(dlbasic.ones(2)).shape == ()


@pytest.mark.parametrize("dtype", CDTYPES)
@pytest.mark.parametrize("name, fn", [
    ("real", lambda z: z.real * 1), ("imag", lambda z: z.imag * 1),
    ("conj", lambda z: z.conj()), ("torch.conj", lambda z: torch.conj(z)),
    ("abs", lambda z: z.abs()), ("torch.abs", lambda z: torch.abs(z)),
    ("angle", lambda z: z.angle()), ("torch.real", lambda z: torch.real(z) + 0),
    ("torch.imag", lambda z: torch.imag(z) + 0), ("sgn", lambda z: z.sgn()),
    ("view_as_real", lambda z: torch.view_as_real(z) * 1),
    ("add", lambda z: z + z * 1j), ("sub", lambda z: z - 2.5), ("rsub", lambda z: 1 - z),
    ("mul", lambda z: z * z), ("mul_conj", lambda z: z * z.conj()),
    ("div", lambda z: z / (z + 3)), ("rdiv", lambda z: 2 / z), ("neg", lambda z: -z),
    ("exp", lambda z: z.exp()), ("pow2", lambda z: z ** 2), ("pow3", lambda z: z.pow(3)),
    ("pow_half", lambda z: z ** 0.5), ("sum", lambda z: z.sum()),
    ("pow_tensor", lambda z: z ** (z * 0.5)), ("rpow", lambda z: 2 ** z),
    ("sum_dim", lambda z: z.sum(1, keepdim=True)), ("mean", lambda z: z.mean(0)),
    ("reshape", lambda z: z.reshape(3, 2) * (1 + 1j)), ("index", lambda z: z[1, [0, 2, 2]]),
    ("slice", lambda z: z[:, 1:] * 2), ("cat", lambda z: torch.cat([z, z.conj()], 1)),
    ("stack", lambda z: torch.stack([z, z * 2j])), ("transpose", lambda z: z.t() * 1),
    ("broadcast", lambda z: z * z[:1]), ("log", lambda z: z.log()),
    ("sqrt", lambda z: z.sqrt()), ("sin", lambda z: z.sin()), ("tanh", lambda z: z.tanh()),
    ("sigmoid", lambda z: z.sigmoid()), ("reciprocal", lambda z: z.reciprocal()),
    ("prod", lambda z: z.prod(1)), ("cumsum", lambda z: z.cumsum(1)),
    ("cos", lambda z: z.cos()), ("tan", lambda z: z.tan()), ("sinh", lambda z: z.sinh()),
    ("cosh", lambda z: z.cosh()), ("atan", lambda z: z.atan()), ("asin", lambda z: z.asin()),
    ("acos", lambda z: z.acos()), ("log1p", lambda z: z.log1p()), ("expm1", lambda z: z.expm1()),
    ("rsqrt", lambda z: z.rsqrt()), ("square", lambda z: z.square()),
    ("matmul", lambda z: z @ z.t()), ("mm", lambda z: torch.mm(z.t(), z)),
    ("mv", lambda z: torch.mv(z, z[0])), ("dot", lambda z: torch.dot(z[0], z[1])),
    ("bmm", lambda z: torch.bmm(z[None], z.t()[None])),
    ("einsum", lambda z: torch.einsum("ij,kj->ik", z, z * 1j)),
    ("linear", lambda z: torch.nn.functional.linear(z, z * (1 - 1j), z[0, :2])),
    ("norm", lambda z: z.norm()), ("vector_norm_1", lambda z: torch.linalg.vector_norm(z, 1)),
    ("vector_norm_3_dim", lambda z: torch.linalg.vector_norm(z, 3, dim=1)),
    ("vector_norm_inf", lambda z: torch.linalg.vector_norm(z, float("inf"))),
    ("where", lambda z: torch.where(z.real > 0, z, z * 2j)),
    ("masked_fill", lambda z: z.masked_fill(z.imag > 0, 0) * 1),
    ("flip_roll", lambda z: z.flip(0).roll(1, 1) * 1), ("gather", lambda z: z.gather(
        1, torch.tensor([[0, 2], [1, 1]]))), ("lerp", lambda z: torch.lerp(z, z * 1j, 0.3)),
])
def test_complex_ops_values_and_gradients_match_torch(name, fn, dtype):
    # the harness's loss of a complex output is Re(sum) + 0.5 Im(sum): seed 1 + 0.5i
    tol = {"atol": 1e-5, "rtol": 1e-4} if dtype == "complex64" else {"atol": 1e-10,
                                                                     "rtol": 1e-9}
    check(fn, shapes=[(2, 3)], dtype=dtype, grad_atol=10 * tol["atol"], **tol)


@pytest.mark.parametrize("name, fn", [
    ("abs_sum", lambda z: z.abs().sum()), ("abs_sq", lambda z: (z.abs() ** 2).sum()),
    ("real_sq", lambda z: z.real.pow(2).sum()), ("imag_cubed", lambda z: z.imag.pow(3).sum()),
    ("angle", lambda z: z.angle().sum()),
    ("energy", lambda z: (z * z.conj()).real.sum()),
    ("view_as_real", lambda z: (torch.view_as_real(z) * torch.arange(2.0)).sum()),
    ("holomorphic", lambda z: (z.exp() * z).abs().sum()),
])
def test_gradients_of_real_losses_of_complex_inputs_match_torch(name, fn):
    check(fn, shapes=[(4, 3)], dtype="complex64")
    check(fn, shapes=[(4, 3)], dtype="complex128", atol=1e-10, grad_atol=1e-10)


@pytest.mark.parametrize("name, fn", [
    ("complex", lambda a, b: torch.complex(a, b).abs().sum()),
    ("complex_values", lambda a, b: torch.complex(a, b) * (1 - 2j)),
    ("polar", lambda a, b: (torch.polar(a.abs() + 0.5, b) * (2 + 1j)).real.sum()),
    ("polar_values", lambda a, b: torch.polar(a.abs(), b)),   # (abs < 0: undefined in torch)
    ("view_as_complex", lambda a, b: (torch.view_as_complex(torch.stack([a, b], -1)) ** 2)),
    ("real_times_complex", lambda a, b: (a * torch.complex(b, a)).imag.sum()),
    ("real_plus_imaginary_number", lambda a, b: ((a + 1j) * b).abs().sum()),
    ("int_and_complex", lambda a, b: (a * (torch.arange(4) + 2j)).real),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_complex_tensors_built_from_real_ones_pass_real_gradients_back(name, fn, dtype):
    # a complex gradient reaching a real input keeps its real part (torch's rule)
    check(fn, shapes=[(3, 4), (3, 4)], dtype=dtype)


def test_a_complex_scalar_cannot_start_backward():
    assert_same_error(lambda: torch.ones(2, dtype=torch.complex64, requires_grad=True).sum()
                      .backward(),
                      lambda: dlbasic.ones(2, dtype=dlbasic.complex64, requires_grad=True).sum()
                      .backward())


@pytest.mark.parametrize("name, fn", [
    ("mul", lambda a, b: a * b), ("div", lambda a, b: a / b), ("add", lambda a, b: a + 2 * b),
    ("exp", lambda a, b: a.exp() - b), ("pow", lambda a, b: a ** 3 + b ** 0.5),
    ("abs", lambda a, b: (a * b).abs()), ("angle", lambda a, b: a.angle()),
    ("real_imag", lambda a, b: a.real * b.imag), ("conj", lambda a, b: a.conj() * b),
    ("view_as_real", lambda a, b: dlbasic.view_as_real(a * b)),
    ("sgn", lambda a, b: a.sgn()), ("sum_mean", lambda a, b: (a * b).sum() + b.mean()),
    ("index_cat", lambda a, b: dlbasic.cat([a[1:], b[[0, 0]]])),
    ("log_sqrt_tanh", lambda a, b: a.log() + b.sqrt() + a.tanh()),
    ("trig", lambda a, b: a.cos() + b.tan() + a.sinh() * b.cosh() + (a * 0.3).asin()),
    ("matmul", lambda a, b: a[:, None] @ b[None, :] @ a),
    ("norm", lambda a, b: a.norm() + dlbasic.linalg.vector_norm(b, 3)),
])
def test_gradcheck_of_complex_ops_in_complex128(name, fn):
    a = dlbasic.tensor(_z(4, seed=1), requires_grad=True)
    b = dlbasic.tensor(_z(4, seed=2), requires_grad=True)
    assert gradcheck(fn, (a, b))


def test_gradcheck_of_complex_from_real_parts_in_float64():
    rng = np.random.default_rng(3)
    r = dlbasic.tensor(rng.uniform(0.5, 2.0, 5), requires_grad=True)
    t = dlbasic.tensor(rng.standard_normal(5), requires_grad=True)
    assert gradcheck(dlbasic.polar, (r, t))
    assert gradcheck(dlbasic.complex, (r, t))
    pairs = dlbasic.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    assert gradcheck(lambda p: dlbasic.view_as_complex(p) ** 2, (pairs,))
    assert gradcheck(lambda x: (x * (1 + 2j)).exp(), (t,))


def test_gradcheck_catches_a_gradient_that_is_not_conjugated():
    # the check looks at both real coordinates: z * conj(w) without the conjugate in backward
    # would pass a real-only check but not this one
    class WrongMul(dlbasic.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            return z * (2 + 1j)

        @staticmethod
        def backward(ctx, g):
            return g * (2 + 1j)              # should be g * (2 - 1j)

    z = dlbasic.tensor(_z(3), requires_grad=True)
    assert not gradcheck(WrongMul.apply, (z,), raise_exception=False)


# -- what complex numbers have no meaning for -----------------------------------------------

@pytest.mark.parametrize("name, fn", [
    ("lt", lambda z: z < z), ("gt", lambda z: z > 0), ("le", lambda z: torch.le(z, z)),
    ("max", lambda z: z.max()), ("min", lambda z: z.min()), ("max_dim", lambda z: z.max(0)),
    ("min_dim", lambda z: z.min(dim=0)), ("amax", lambda z: z.amax()),
    ("amin", lambda z: z.amin()), ("argmax", lambda z: z.argmax()),
    ("argmin", lambda z: z.argmin()), ("relu", lambda z: torch.relu(z)),
    ("clamp", lambda z: z.clamp(0, 1)), ("clamp_min", lambda z: z.clamp(min=0)),
    ("maximum", lambda z: torch.maximum(z, z)), ("minimum", lambda z: torch.minimum(z, z)),
    ("sort", lambda z: z.sort()), ("sign", lambda z: z.sign()), ("floor", lambda z: z.floor()),
    ("ceil", lambda z: z.ceil()), ("floor_divide", lambda z: z // 2),
    ("median", lambda z: z.median()), ("median_dim", lambda z: z.median(0)),
    ("mode", lambda z: z.mode()), ("topk", lambda z: z.topk(1)),
    ("imag_of_real", lambda z: z.real.imag),
    ("view_as_real_of_real", lambda z: torch.view_as_real(z.real)),
    ("view_as_complex_bad_shape", lambda z: torch.view_as_complex(z.real)),
    ("view_as_complex_int", lambda z: torch.view_as_complex(torch.ones(3, 2, dtype=torch.int64))),
    ("view_as_complex_strides", lambda z: torch.view_as_complex(torch.ones(3, 3)[:, :2])),
    ("complex_mixed_dtypes", lambda z: torch.complex(z.real, z.imag.double())),
    ("complex_ints", lambda z: torch.complex(torch.ones(2, dtype=torch.int64),
                                             torch.ones(2, dtype=torch.int64))),
    ("complex_shapes", lambda z: torch.complex(torch.ones(2), torch.ones(3))),
    ("polar_mixed", lambda z: torch.polar(z.real.double(), z.imag)),
])
def test_ops_complex_numbers_have_no_meaning_for_raise_torchs_error(name, fn):
    z = _z(2, 3, dtype=np.complex64)
    same = name not in ("view_as_complex_int",)          # torch also names Half there
    assert_same_error(lambda: fn(torch.tensor(z)), lambda: rebound(fn)(dlbasic.tensor(z)),
                      same_message=same)


def rebound(fn):
    from tests.parity.harness import rebind
    return rebind(fn)


def test_eq_and_ne_compare_complex_values():
    a, b = _z(5, dtype=np.complex64), _z(5, dtype=np.complex64)
    b[::2] = a[::2]
    for op in ("__eq__", "__ne__"):
        t = getattr(torch.tensor(a), op)(torch.tensor(b)).numpy()
        d = getattr(dlbasic.tensor(a), op)(dlbasic.tensor(b)).numpy()
        np.testing.assert_array_equal(d, t)


def test_creation_functions_with_complex_dtypes_and_fills_match_torch():
    for make in (lambda L: L.zeros(2, 3, dtype=L.complex64), lambda L: L.ones(2, dtype=L.cdouble),
                 lambda L: L.full((2,), 1j), lambda L: L.full((3,), 2.5, dtype=L.complex128),
                 lambda L: L.zeros_like(L.ones(2, dtype=L.complex64)),
                 lambda L: L.tensor([1 + 1j, 2]).new_ones(3),
                 lambda L: L.tensor([1 + 1j, 2]).clone().add_(1j),
                 lambda L: L.tensor(1 + 1j) + L.ones(2, dtype=L.float64)):
        t, d = make(torch), make(dlbasic)
        assert d.dtype.name == str(t.dtype).split(".")[1]
        np.testing.assert_array_equal(d.numpy(), t.numpy())
    # an in-place op cannot put a complex result into a real tensor
    assert_same_error(lambda: torch.ones(2).add_(1j), lambda: dlbasic.ones(2).add_(1j))


@pytest.mark.parametrize("name, fn", [
    ("logsumexp", lambda z: z.logsumexp(0)), ("cumprod", lambda z: z.cumprod(0)),
    ("erf", lambda z: z.erf()), ("var", lambda z: z.var()), ("randn", lambda z: dlbasic.randn(
        2, dtype=dlbasic.complex64)),
])
def test_complex_ops_dlbasic_lacks_refuse_instead_of_dropping_the_imaginary_part(name, fn):
    z = dlbasic.tensor(_z(2, 3, dtype=np.complex64))
    with pytest.raises((NotImplementedError, RuntimeError), match="omplex"):
        fn(z)
