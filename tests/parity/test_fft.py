"""dlbasic.fft against torch.fft: values (float32/float64/complex64/complex128 inputs, odd and
even lengths, zero padding and truncation through n/s, every norm, several dims), gradients of
real losses, float64/complex128 gradcheck of every transform, the helpers (fftfreq,
fftshift, ...) and torch's errors."""
import numpy as np
import pytest

from tests.parity.harness import assert_same_error, check, rebind, torch

import dlbasic
from dlbasic.autograd import gradcheck

NORMS = [None, "backward", "ortho", "forward"]
REAL = ["float32", "float64"]
COMPLEX = ["complex64", "complex128"]


def _data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


def _tol(dtype):
    # float32 FFTs of torch (pocketfft/MKL) and NumPy (pocketfft) round differently
    single = dtype in ("float32", "complex64")
    return {"atol": 1e-5, "rtol": 1e-4} if single else {"atol": 1e-12, "rtol": 1e-10}


def _same(fn, a, **tol):
    """``fn(lib, x)`` with lib torch and with lib dlbasic: equal dtype, shape and values."""
    t = fn(torch, torch.tensor(a))
    d = fn(dlbasic, dlbasic.tensor(a))
    assert d.dtype.name == str(t.dtype).split(".")[1], (d.dtype, t.dtype)
    assert tuple(d.shape) == tuple(t.shape)
    np.testing.assert_allclose(d.numpy(), t.resolve_conj().numpy(), **tol)
    return t, d


# -- values ---------------------------------------------------------------------------------

ONE_D = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]
REAL_ONLY = {"rfft", "ihfft"}


@pytest.mark.parametrize("name", ONE_D)
@pytest.mark.parametrize("n", [None, 5, 6, 11, 3])       # 3, 5 truncate; 6, 11 pad (length 7)
@pytest.mark.parametrize("norm", NORMS)
def test_one_dimensional_transforms_match_torch(name, n, norm):
    dtypes = REAL if name in REAL_ONLY else REAL + COMPLEX
    for dtype in dtypes:
        _same(lambda L, x: getattr(L.fft, name)(x, n=n, norm=norm), _data((3, 7), dtype),
              **_tol(dtype))


@pytest.mark.parametrize("name", ONE_D)
def test_one_dimensional_transforms_along_another_dim_and_of_even_lengths(name):
    dtype = "float64"
    for length in (8, 1, 2):
        a = _data((length, 3, 2), dtype)
        if name in ("irfft", "hfft") and length == 1:
            continue               # n defaults to 2 (m - 1) = 0: checked with the errors
        _same(lambda L, x: getattr(L.fft, name)(x, dim=0), a, **_tol(dtype))
        _same(lambda L, x: getattr(L.fft, name)(x, n=4, dim=-2, norm="ortho"), a,
              **_tol(dtype))


MULTI = ["fft2", "ifft2", "rfft2", "irfft2", "hfft2", "ihfft2", "fftn", "ifftn", "rfftn",
         "irfftn", "hfftn", "ihfftn"]


@pytest.mark.parametrize("name", MULTI)
@pytest.mark.parametrize("args", [
    {}, {"s": (4, 5)}, {"s": (2, 9)}, {"dim": (0, 2)}, {"s": (3, 4), "dim": (2, 0)},
    {"dim": 1}, {"s": (-1, 6)}, {"dim": (-1, 0, 1)},
])
@pytest.mark.parametrize("norm", ["backward", "ortho", "forward"])
def test_multi_dimensional_transforms_match_torch(name, args, norm):
    dtypes = REAL if name.startswith("ihfft") or name.startswith("rfft") else REAL + COMPLEX
    for dtype in dtypes:
        _same(lambda L, x: getattr(L.fft, name)(x, **args, norm=norm), _data((3, 4, 5), dtype),
              **_tol(dtype))


def test_fftn_with_only_s_transforms_the_last_dims_and_with_neither_every_dim():
    a = _data((2, 3, 4), "complex128")
    _same(lambda L, x: L.fft.fftn(x, s=(5, 2)), a, **_tol("complex128"))
    _same(lambda L, x: L.fft.fftn(x), a, **_tol("complex128"))
    _same(lambda L, x: L.fft.irfftn(x), a, **_tol("complex128"))
    _same(lambda L, x: L.fft.fftn(x, dim=()), a, **_tol("complex128"))


def test_integer_input_is_transformed_in_the_default_float_dtype():
    a = np.arange(6)
    for name in ("fft", "rfft", "irfft", "ihfft", "fft2"):
        _same(lambda L, x: getattr(L.fft, name)(x.reshape(2, 3)), a, **_tol("float32"))


def test_the_transform_pairs_invert_each_other_and_convolve():
    x = dlbasic.tensor(_data((4, 9), "float64"))
    for norm in NORMS:
        F = dlbasic.fft
        np.testing.assert_allclose(F.ifft(F.fft(x, norm=norm), norm=norm).real.numpy(),
                                   x.numpy(), atol=1e-12)
        np.testing.assert_allclose(F.irfft(F.rfft(x, norm=norm), n=9, norm=norm).numpy(),
                                   x.numpy(), atol=1e-12)
        np.testing.assert_allclose(F.hfft(F.ihfft(x, norm=norm), n=9, norm=norm).numpy(),
                                   x.numpy(), atol=1e-12)
        np.testing.assert_allclose(F.irfft2(F.rfft2(x, norm=norm), s=(4, 9), norm=norm).numpy(),
                                   x.numpy(), atol=1e-12)
    # a linear convolution through the transforms (zero-padded to the full length)
    a, h = _data(9, "float64"), _data(4, "float64", seed=1)
    n = 9 + 4 - 1
    y = dlbasic.fft.irfft(dlbasic.fft.rfft(dlbasic.tensor(a), n=n) *
                          dlbasic.fft.rfft(dlbasic.tensor(h), n=n), n=n)
    np.testing.assert_allclose(y.numpy(), np.convolve(a, h), atol=1e-12)


# -- gradients ------------------------------------------------------------------------------

LOSSES = {
    "fft_abs": (lambda x: torch.fft.fft(x).abs().sum(), REAL + COMPLEX),
    "fft_n_ortho": (lambda x: (torch.fft.fft(x, n=10, norm="ortho") * (1 + 2j)).real.sum(),
                    REAL + COMPLEX),
    "fft_truncated": (lambda x: torch.fft.fft(x, n=4, norm="forward").abs().pow(2).sum(),
                      REAL + COMPLEX),
    "ifft": (lambda x: torch.fft.ifft(x, dim=0).imag.pow(2).sum(), REAL + COMPLEX),
    "rfft_real_sq": (lambda x: torch.fft.rfft(x).real.pow(2).sum(), REAL),
    "rfft_even_n": (lambda x: torch.fft.rfft(x, n=8).abs().sum(), REAL),
    "rfft_odd_n_imag": (lambda x: torch.fft.rfft(x, n=5, norm="ortho").imag.pow(3).sum(),
                        REAL),
    "rfft_forward": (lambda x: (torch.fft.rfft(x, norm="forward") *
                                torch.arange(4.0)).abs().sum(), REAL),
    "irfft": (lambda x: (torch.fft.irfft(x) * torch.arange(12.0)).sum(), COMPLEX + REAL),
    "irfft_odd": (lambda x: torch.fft.irfft(x, n=11, norm="ortho").pow(2).sum(), COMPLEX),
    "irfft_short": (lambda x: torch.fft.irfft(x, n=5, norm="forward").sin().sum(), COMPLEX),
    "hfft": (lambda x: torch.fft.hfft(x, n=9).pow(2).sum(), COMPLEX),
    "ihfft": (lambda x: torch.fft.ihfft(x).abs().sum(), REAL),
    "fft2": (lambda x: torch.fft.fft2(x.reshape(2, 7, 1).expand(2, 7, 3)).abs().sum(),
             REAL + COMPLEX),
    "rfft2_s": (lambda x: torch.fft.rfft2(x.reshape(2, 7), s=(3, 6)).abs().sum(), REAL),
    "irfftn": (lambda x: torch.fft.irfftn(x.reshape(7, 2, 1) * torch.ones(3), s=(5, 4, 6),
                                          norm="ortho").pow(2).sum(), COMPLEX),
    "fftshift": (lambda x: (torch.fft.fftshift(torch.fft.fft(x)) *
                            torch.arange(7.0)).real.sum(), REAL + COMPLEX),
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_gradients_of_real_losses_through_the_transforms_match_torch(name):
    fn, dtypes = LOSSES[name]
    for dtype in dtypes:
        tol = _tol(dtype)
        check(fn, shapes=[(2, 7)], dtype=dtype, atol=tol["atol"], rtol=tol["rtol"],
              grad_atol=10 * tol["atol"], grad_rtol=10 * tol["rtol"])


def test_gradient_of_a_filter_through_rfft_and_irfft_matches_torch():
    # y = irfft(rfft(x) * h): a circular convolution, with a learnable complex response h
    def conv(x, hr, hi):
        return (torch.fft.irfft(torch.fft.rfft(x) * torch.complex(hr, hi), n=8) *
                torch.linspace(-1, 1, 8)).pow(2).sum()
    for dtype in REAL:
        check(conv, shapes=[(3, 8), (5,), (5,)], dtype=dtype)


def test_values_of_complex_outputs_and_their_gradients_match_torch():
    # the harness's loss of a complex output is Re(sum) + 0.5 Im(sum)
    for name in ("fft", "ifft", "fft2", "ifftn", "hfft", "irfft"):
        check(lambda x: getattr(torch.fft, name)(x, norm="ortho"), shapes=[(4, 6)],
              dtype="complex128", atol=1e-12, grad_atol=1e-10)
    check(lambda x: torch.fft.rfft(x, n=9), shapes=[(4, 6)], dtype="float64", atol=1e-12,
          grad_atol=1e-10)
    check(lambda x: torch.fft.ihfft(x, n=4), shapes=[(4, 6)], dtype="float64", atol=1e-12,
          grad_atol=1e-10)


def _c(shape, seed=0):
    return dlbasic.tensor(_data(shape, "complex128", seed), requires_grad=True)


def _r(shape, seed=0):
    return dlbasic.tensor(_data(shape, "float64", seed), requires_grad=True)


F = dlbasic.fft
GRADCHECKS = {
    "fft": (lambda z: F.fft(z), _c), "fft_pad": (lambda z: F.fft(z, n=7, norm="ortho"), _c),
    "fft_trunc": (lambda z: F.fft(z, n=3, norm="forward"), _c),
    "fft_real_input": (lambda x: F.fft(x, n=6), _r),
    "ifft": (lambda z: F.ifft(z, dim=0), _c), "ifft_pad": (lambda z: F.ifft(z, n=6), _c),
    "rfft": (lambda x: F.rfft(x), _r), "rfft_even": (lambda x: F.rfft(x, n=6), _r),
    "rfft_trunc": (lambda x: F.rfft(x, n=4, norm="ortho"), _r),
    "rfft_forward": (lambda x: F.rfft(x, n=7, norm="forward"), _r),
    "irfft": (lambda z: F.irfft(z), _c), "irfft_odd": (lambda z: F.irfft(z, n=7), _c),
    "irfft_short": (lambda z: F.irfft(z, n=3, norm="ortho"), _c),
    "irfft_long": (lambda z: F.irfft(z, n=12, norm="forward"), _c),
    "hfft": (lambda z: F.hfft(z), _c), "hfft_odd": (lambda z: F.hfft(z, n=5, norm="ortho"), _c),
    "ihfft": (lambda x: F.ihfft(x), _r), "ihfft_n": (lambda x: F.ihfft(x, n=6), _r),
    "fft2": (lambda z: F.fft2(z), _c), "ifft2_s": (lambda z: F.ifft2(z, s=(3, 3)), _c),
    "rfft2": (lambda x: F.rfft2(x), _r), "rfft2_s": (lambda x: F.rfft2(x, s=(2, 6)), _r),
    "irfft2": (lambda z: F.irfft2(z), _c),
    "irfft2_s": (lambda z: F.irfft2(z, s=(4, 5), norm="ortho"), _c),
    "fftn": (lambda z: F.fftn(z, dim=(1, 0)), _c), "ifftn": (lambda z: F.ifftn(z), _c),
    "rfftn": (lambda x: F.rfftn(x, dim=(1, 0)), _r),
    "irfftn": (lambda z: F.irfftn(z, dim=(1, 0), s=(3, 4)), _c),
    "hfftn": (lambda z: F.hfftn(z), _c), "ihfftn": (lambda x: F.ihfftn(x), _r),
    "fftshift": (lambda z: F.ifftshift(F.fftshift(z) * 2, dim=0), _c),
}


@pytest.mark.parametrize("name", list(GRADCHECKS))
def test_gradcheck_of_every_transform(name):
    fn, make = GRADCHECKS[name]
    assert gradcheck(fn, (make((3, 4)),))


def test_gradcheck_would_catch_a_wrong_rfft_backward():
    # without halving the bins that stand for two, rfft's gradient is off: the check sees it
    from dlbasic.ops import spectral
    x = _r((2, 6))
    original = spectral._hermitian_weights
    spectral._hermitian_weights = lambda m, n, dtype: np.ones(m, dtype)
    try:
        assert not gradcheck(lambda t: F.rfft(t), (x,), raise_exception=False)
        assert not gradcheck(lambda t: F.irfft(t.to(dlbasic.complex128)), (x,),
                             raise_exception=False)
    finally:
        spectral._hermitian_weights = original
    assert gradcheck(lambda t: F.rfft(t), (x,))


def test_the_recorded_grad_fns_are_torchs():
    z, x = _c((4,)), _r((4,))
    assert F.fft(z).grad_fn.name() == "FftC2CBackward0"
    assert F.rfft(x).grad_fn.name() == "FftR2CBackward0"
    assert F.irfft(z).grad_fn.name() == "FftC2RBackward0"


# -- helpers --------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 4, 5, 8])
def test_fftfreq_and_rfftfreq_match_torch(n):
    for d in (1.0, 0.5, 3):
        for name in ("fftfreq", "rfftfreq"):
            t = getattr(torch.fft, name)(n, d)
            r = getattr(dlbasic.fft, name)(n, d)
            assert r.dtype is dlbasic.float32
            np.testing.assert_allclose(r.numpy(), t.numpy(), rtol=1e-7)
    t = torch.fft.fftfreq(n, dtype=torch.float64, requires_grad=True)
    r = dlbasic.fft.fftfreq(n, dtype=dlbasic.float64, requires_grad=True)
    assert r.requires_grad and r.dtype is dlbasic.float64
    np.testing.assert_array_equal(r.detach().numpy(), t.detach().numpy())


@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1), (-1,), [1, 0]])
def test_fftshift_and_ifftshift_match_torch(dim):
    for shape in ((4, 5), (3, 6)):
        a = np.arange(np.prod(shape)).reshape(shape)
        for name in ("fftshift", "ifftshift"):
            t, d = _same(lambda L, x: getattr(L.fft, name)(x, dim=dim), a)
            np.testing.assert_array_equal(d.numpy(), t.numpy())
        back = dlbasic.fft.ifftshift(dlbasic.fft.fftshift(dlbasic.tensor(a), dim), dim)
        np.testing.assert_array_equal(back.numpy(), a)


# -- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name, call", [
    ("bad_norm", lambda x: torch.fft.fft(x, norm="bad")),
    ("bad_norm_rfft", lambda x: torch.fft.rfft2(x, norm="Ortho")),
    ("rfft_complex", lambda x: torch.fft.rfft(x.to(torch.complex64))),
    ("ihfft_complex", lambda x: torch.fft.ihfft(x.to(torch.complex64))),
    ("rfftn_complex", lambda x: torch.fft.rfftn(x.to(torch.complex128))),
    ("rfft2_complex", lambda x: torch.fft.rfft2(x.to(torch.complex128))),
    ("ihfft2_complex", lambda x: torch.fft.ihfft2(x.to(torch.complex64))),
    ("n_zero", lambda x: torch.fft.fft(x, n=0)), ("n_negative", lambda x: torch.fft.ifft(x, n=-1)),
    ("irfft_one_bin", lambda x: torch.fft.irfft(x[:, :1])),
    ("s_zero", lambda x: torch.fft.fftn(x, s=(0, 2))),
    ("dim_out_of_range", lambda x: torch.fft.fft(x, dim=3)),
    ("fft2_of_1d", lambda x: torch.fft.fft2(x[0])),
    ("s_too_long", lambda x: torch.fft.fftn(x, s=(2, 2, 2))),
    ("s_and_dim_lengths", lambda x: torch.fft.fftn(x, s=(2,), dim=(0, 1))),
    ("dims_repeat", lambda x: torch.fft.fftn(x, dim=(0, 0))),
    ("dims_repeat_negative", lambda x: torch.fft.rfftn(x, dim=(1, -1))),
    ("half", lambda x: torch.fft.fft(x.half())),
    ("zero_dim", lambda x: torch.fft.fft(x[0, 0])),
    ("dim_tuple", lambda x: torch.fft.fft(x, dim=(0,))),
    ("n_float", lambda x: torch.fft.fft(x, n=2.5)),
    ("fftfreq_int", lambda x: torch.fft.fftfreq(4, dtype=torch.int64)),
])
def test_bad_arguments_raise_torchs_errors(name, call):
    x = _data((3, 4), "float32")
    assert_same_error(lambda: call(torch.tensor(x)), lambda: rebind(call)(dlbasic.tensor(x)))


def test_a_frequency_response_learned_by_gradient_descent_matches_torch():
    # the example of docs/beyond-the-basics.md: a complex parameter trained through rfft/irfft
    x = _data((8, 64), "float32")
    results = []
    for lib in (torch, dlbasic):
        xs = lib.tensor(x)
        keep = (lib.fft.rfftfreq(64) < 0.1).to(lib.complex64)
        y = lib.fft.irfft(lib.fft.rfft(xs) * keep, n=64)
        h = lib.zeros(33, dtype=lib.complex64, requires_grad=True)
        for _ in range(100):
            loss = (lib.fft.irfft(lib.fft.rfft(xs) * h, n=64) - y).pow(2).mean()
            loss.backward()
            with lib.no_grad():
                h -= 5 * h.grad
            h.grad = None
        results.append((h.detach().numpy().copy(), keep.numpy()))
    (t_h, keep), (d_h, _) = results
    np.testing.assert_allclose(d_h, t_h, atol=1e-5)
    assert np.abs(d_h - keep).max() < 1e-3              # it learned the low-pass mask
