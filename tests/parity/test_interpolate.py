"""F.interpolate (nearest, nearest-exact, linear, bilinear, bicubic, trilinear, area; and
antialiased bilinear, bicubic, lanczos), its
deprecated aliases and nn.Upsample / UpsamplingNearest2d / UpsamplingBilinear2d against torch:
values and gradients for up and down scaling, odd sizes, size vs scale_factor,
recompute_scale_factor, align_corners, float32 and float64; an index sweep over many sizes;
float64 gradcheck of every mode; torch's errors and messages."""
import warnings

import numpy as np
import pytest

from tests.parity.harness import assert_same_error, check, torch

import dlbasic
import dlbasic.nn as dnn
from dlbasic.autograd import gradcheck

F = torch.nn.functional
nn = torch.nn

F64 = dict(atol=1e-12, rtol=1e-10, grad_atol=1e-11, grad_rtol=1e-10)

# (input shape, mode, interpolate keyword arguments)
CASES = [
    ((2, 3, 7), "nearest", dict(size=12)),
    ((2, 3, 7), "nearest", dict(scale_factor=0.6)),
    ((2, 3, 5, 6), "nearest", dict(scale_factor=(1.7, 0.5))),
    ((2, 3, 5, 6), "nearest", dict(scale_factor=2)),
    ((1, 2, 3, 4, 5), "nearest", dict(size=(5, 3, 8))),
    ((2, 3, 7), "nearest-exact", dict(scale_factor=1.6)),
    ((2, 3, 5, 6), "nearest-exact", dict(size=(9, 4))),
    ((1, 2, 3, 4, 5), "nearest-exact", dict(scale_factor=(2, 0.7, 1.3))),
    ((2, 3, 7), "linear", dict(size=12)),
    ((2, 3, 7), "linear", dict(scale_factor=0.45)),
    ((2, 3, 7), "linear", dict(scale_factor=1.7, recompute_scale_factor=True)),
    ((2, 3, 5, 6), "bilinear", dict(size=(9, 4))),
    ((2, 3, 5, 6), "bilinear", dict(scale_factor=(1.5, 2.3))),
    ((2, 3, 5, 6), "bilinear", dict(scale_factor=0.7)),
    ((1, 2, 9, 7), "bilinear", dict(size=(2, 3))),
    ((2, 3, 5, 6), "bicubic", dict(size=(9, 4))),
    ((2, 3, 5, 6), "bicubic", dict(scale_factor=(1.5, 2.3))),
    ((1, 2, 9, 7), "bicubic", dict(scale_factor=0.4)),
    ((1, 2, 3, 4, 5), "trilinear", dict(size=(5, 3, 8))),
    ((1, 2, 3, 4, 5), "trilinear", dict(scale_factor=(2, 0.7, 1.3))),
    ((2, 3, 7), "area", dict(size=3)),
    ((2, 3, 5, 6), "area", dict(scale_factor=0.5)),
    ((1, 2, 5, 4, 6), "area", dict(size=(2, 3, 4))),
    ((1, 2, 2, 3), "bilinear", dict(size=(40, 5))),           # large enlargement: the
    ((1, 2, 3), "nearest", dict(scale_factor=17)),           # backward scatters
    ((1, 1, 2, 3), "bicubic", dict(size=(30, 4))),
    ((1, 1, 40, 4), "bilinear", dict(size=(3, 2))),          # strong reduction
    ((2, 3, 9, 7), "bilinear", dict(size=(4, 3), antialias=True)),
    ((2, 3, 5, 6), "bilinear", dict(scale_factor=(1.5, 0.4), antialias=True)),
    ((2, 3, 9, 7), "bicubic", dict(scale_factor=0.35, antialias=True)),
    ((1, 2, 4, 5), "bicubic", dict(size=(7, 9), antialias=True)),
    ((2, 2, 11, 8), "lanczos", dict(size=(4, 5), antialias=True)),
    ((1, 2, 4, 5), "lanczos", dict(scale_factor=1.7, antialias=True)),
]


def _align_options(mode):
    return [None] if mode in ("nearest", "nearest-exact", "area") else \
        [False] if mode == "lanczos" else [False, True]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, mode, kw", CASES)
def test_interpolate_matches_torch(shape, mode, kw, dtype):
    tol = {} if dtype == "float32" else F64
    for ac in _align_options(mode):
        check(lambda x: F.interpolate(x, mode=mode, align_corners=ac, **kw), shapes=[shape],
              dtype=dtype, **tol)


@pytest.mark.parametrize("mode, nd, aa", [("nearest", 1, False), ("nearest", 2, False),
                                          ("nearest", 3, False), ("nearest-exact", 1, False),
                                          ("nearest-exact", 2, False), ("linear", 1, False),
                                          ("bilinear", 2, False), ("bicubic", 2, False),
                                          ("trilinear", 3, False), ("area", 1, False),
                                          ("area", 2, False), ("bilinear", 2, True),
                                          ("bicubic", 2, True), ("lanczos", 2, True)])
def test_every_size_and_scale_gives_torchs_values(mode, nd, aa):
    # the source index is where implementations differ (1/scale_factor vs in/out, float32
    # rounding, torch's shortcuts for unchanged and doubled sizes): sweep many sizes
    rng = np.random.default_rng(0)
    sizes = [1, 2, 3, 5, 7] if nd < 3 else [1, 2, 3]
    for n_in in sizes:
        x = rng.standard_normal((1, 2) + (n_in,) * nd).astype(np.float32)
        tx, dx = torch.tensor(x), dlbasic.tensor(x)
        options = [dict(size=m) for m in (1, 2, 3, 4, 6, 9, 11)] + \
            [dict(scale_factor=s) for s in (0.7, 1.1, 1.5, 2, 2.1, 3.3)] + \
            [dict(scale_factor=1.7, recompute_scale_factor=True)]
        for kw in options:
            if "scale_factor" in kw and int(n_in * kw["scale_factor"]) < 1:
                continue
            for ac in _align_options(mode):
                t = F.interpolate(tx, mode=mode, align_corners=ac, antialias=aa, **kw).numpy()
                d = dnn.functional.interpolate(dx, mode=mode, align_corners=ac, antialias=aa,
                                               **kw).numpy()
                assert d.shape == t.shape, (n_in, kw)
                # float32 cubic weights round differently in the last bits (~1e-6 here)
                np.testing.assert_allclose(d, t, atol=5e-6, rtol=1e-5, err_msg=str((n_in, kw)))


def test_scale_factor_sets_the_source_step_unless_recomputed():
    # in = 5, scale 1.7: out = 8, but the source step is 1/1.7, not 5/8
    x = np.arange(5, dtype=np.float64).reshape(1, 1, 5)
    d = dnn.functional.interpolate(dlbasic.tensor(x), scale_factor=1.7, mode="linear")
    r = dnn.functional.interpolate(dlbasic.tensor(x), scale_factor=1.7, mode="linear",
                                   recompute_scale_factor=True)
    src = np.clip((np.arange(8) + 0.5) / 1.7 - 0.5, 0, 4)
    np.testing.assert_allclose(d.numpy()[0, 0], src, rtol=1e-12)
    np.testing.assert_allclose(r.numpy()[0, 0], np.clip((np.arange(8) + 0.5) * 5 / 8 - 0.5,
                                                        0, 4), rtol=1e-12)


def test_bicubic_clamps_the_border_taps_and_overshoots_like_torch():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1:3, 1:3] = 1.0
    check(lambda x: F.interpolate(x, scale_factor=3, mode="bicubic"), inputs=[x], **F64)
    out = dnn.functional.interpolate(dlbasic.tensor(x), scale_factor=3, mode="bicubic").numpy()
    assert out.max() > 1.0 and out.min() < 0.0          # Keys' kernel (A = -0.75) rings


def test_integer_sizes_from_numpy_and_tensors_and_uint8_nearest():
    x = np.random.default_rng(1).integers(0, 255, (1, 2, 3, 5)).astype(np.uint8)
    t = F.interpolate(torch.tensor(x), size=(np.int64(4), torch.tensor(7)))
    d = dnn.functional.interpolate(dlbasic.tensor(x), size=(np.int64(4), dlbasic.tensor(7)))
    assert d.dtype == dlbasic.uint8
    np.testing.assert_array_equal(d.numpy(), t.numpy())


@pytest.mark.parametrize("mode, shape, kw", [
    ("nearest", (1, 2, 4, 5), dict(scale_factor=1.6)),
    ("nearest", (1, 2, 5), dict(scale_factor=1.1)),          # see the next test
    ("nearest-exact", (1, 2, 3, 4, 2), dict(size=(4, 3, 3))),
    ("linear", (2, 2, 5), dict(scale_factor=1.7)),
    ("bilinear", (1, 2, 4, 5), dict(size=(7, 3))),
    ("bicubic", (1, 2, 4, 5), dict(scale_factor=(1.5, 0.6))),
    ("bicubic", (1, 1, 5, 5), dict(scale_factor=1.1)),       # see the next test
    ("trilinear", (1, 1, 3, 2, 4), dict(scale_factor=(1.5, 2, 0.8))),
    ("area", (1, 2, 5, 7), dict(size=(3, 4))),
    ("bilinear", (1, 1, 2, 3), dict(size=(25, 4))),
    ("bilinear", (1, 2, 7, 5), dict(size=(3, 8), antialias=True)),
    ("bicubic", (1, 1, 8, 6), dict(scale_factor=(0.4, 1.5), antialias=True)),
    ("lanczos", (1, 1, 9, 4), dict(size=(4, 6), antialias=True)),
])
def test_gradcheck_float64(mode, shape, kw):
    x = dlbasic.tensor(np.random.default_rng(2).standard_normal(shape), requires_grad=True)
    for ac in _align_options(mode):
        assert gradcheck(lambda x: dnn.functional.interpolate(x, mode=mode, align_corners=ac,
                                                              **kw), (x,))


def test_the_gradient_is_the_forwards_adjoint_where_torchs_backward_shortcut_is_not():
    # torch 2.13: with a scale factor whose output size equals the input size (5 * 1.1 -> 5),
    # 1-D nearest reads floor(o / 1.1) forwards but copies backwards; bicubic likewise.  Its
    # gradient then fails its own gradcheck; ours is the adjoint of the forward torch computes.
    x = np.arange(5.0).reshape(1, 1, 5)
    t = torch.tensor(x, requires_grad=True)
    d = dlbasic.tensor(x, requires_grad=True)
    ty, dy = F.interpolate(t, scale_factor=1.1), dnn.functional.interpolate(d, scale_factor=1.1)
    np.testing.assert_array_equal(dy.detach().numpy(), ty.detach().numpy())   # [0 0 1 2 3]
    w = np.arange(1.0, 6.0)
    (ty * torch.tensor(w)).sum().backward()
    (dy * dlbasic.tensor(w)).sum().backward()
    assert d.grad.numpy().ravel().tolist() == [3.0, 3.0, 4.0, 5.0, 0.0]
    assert t.grad.numpy().ravel().tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]    # torch's copy


def test_deprecated_aliases_warn_and_match_interpolate():
    x = np.random.default_rng(3).standard_normal((1, 2, 3, 4)).astype(np.float32)
    for name, kw in (("upsample", dict(scale_factor=2, mode="bilinear")),
                     ("upsample_nearest", dict(size=(5, 2))),
                     ("upsample_bilinear", dict(scale_factor=1.5))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = getattr(F, name)(torch.tensor(x), **kw)
        with pytest.warns(UserWarning, match=f"nn.functional.{name}` is deprecated"):
            d = getattr(dnn.functional, name)(dlbasic.tensor(x), **kw)
        np.testing.assert_allclose(d.numpy(), t.numpy(), atol=1e-6)


@pytest.mark.parametrize("cls, kw, shape", [
    ("Upsample", dict(scale_factor=2), (1, 2, 3, 4)),
    ("Upsample", dict(size=(5, 3), mode="bilinear"), (1, 2, 3, 4)),
    ("Upsample", dict(scale_factor=(1.5, 2.0), mode="bicubic", align_corners=True),
     (1, 2, 3, 4)),
    ("Upsample", dict(scale_factor=1.5, mode="trilinear", recompute_scale_factor=True),
     (1, 1, 2, 3, 4)),
    ("Upsample", dict(size=7, mode="linear"), (2, 3, 4)),
    ("UpsamplingNearest2d", dict(scale_factor=3), (1, 2, 3, 4)),
    ("UpsamplingBilinear2d", dict(size=(6, 7)), (1, 2, 3, 4)),
])
def test_modules_match_torch(cls, kw, shape):
    t, d = getattr(nn, cls)(**kw), getattr(dnn, cls)(**kw)
    assert repr(d) == repr(t)
    assert list(d.state_dict()) == list(t.state_dict()) == []
    d.load_state_dict({k: dlbasic.tensor(v.numpy()) for k, v in t.state_dict().items()},
                      strict=True)
    assert (d.size, d.scale_factor, d.mode, d.align_corners, d.recompute_scale_factor) == \
        (t.size, t.scale_factor, t.mode, t.align_corners, t.recompute_scale_factor)
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(d(dlbasic.tensor(x)).numpy(), t(torch.tensor(x)).numpy(),
                               atol=3e-6, rtol=1e-5)


def test_grad_fn_names_match_torch():
    for shape, mode in (((1, 1, 4), "nearest"), ((1, 1, 4, 4), "nearest-exact"),
                        ((1, 1, 4), "linear"), ((1, 1, 4, 4), "bilinear"),
                        ((1, 1, 4, 4), "bicubic"), ((1, 1, 2, 2, 2), "trilinear"),
                        ((1, 1, 2, 2, 2), "nearest")):
        t = F.interpolate(torch.zeros(shape, requires_grad=True), scale_factor=2, mode=mode)
        d = dnn.functional.interpolate(dlbasic.zeros(shape, requires_grad=True),
                                       scale_factor=2, mode=mode)
        assert d.grad_fn.name() == t.grad_fn.name()
    for mode in ("bilinear", "bicubic", "lanczos"):
        t = F.interpolate(torch.zeros(1, 1, 6, 6, requires_grad=True), size=3, mode=mode,
                          antialias=True)
        d = dnn.functional.interpolate(dlbasic.zeros(1, 1, 6, 6, requires_grad=True), size=3,
                                       mode=mode, antialias=True)
        assert d.grad_fn.name() == t.grad_fn.name()


X3, X4, X5 = (2, 3, 5), (1, 2, 3, 4), (1, 2, 3, 4, 5)


@pytest.mark.parametrize("shape, kw", [
    (X4, dict(size=3, mode="nearest", align_corners=True)),
    (X4, dict(size=3, mode="area", align_corners=False)),
    (X4, dict()),
    (X4, dict(size=3, scale_factor=2)),
    (X3, dict(size=(3, 3))),
    (X3, dict(scale_factor=(2, 2))),
    (X4, dict(size=(2.0, 3))),
    (X3, dict(size=3, recompute_scale_factor=True)),
    (X3, dict(size=3, mode="linear", antialias=True)),
    (X5, dict(size=3, mode="bicubic")),
    (X3, dict(scale_factor=2, mode="bicubic")),
    (X3, dict(size=3, mode="bilinear")), (X3, dict(size=3, mode="trilinear")),
    (X4, dict(size=3, mode="linear")), (X4, dict(size=3, mode="trilinear")),
    (X5, dict(size=3, mode="linear")), (X5, dict(size=3, mode="bilinear")),
    (X4, dict(size=3, mode="cubic")),
    ((3, 4), dict(size=3)),
    (X4, dict(size=3, mode="lanczos")),
    (X4, dict(size=3, mode="lanczos", align_corners=True)),
    (X4, dict(size=3, mode="nearest", antialias=True)),
    (X5, dict(size=3, mode="trilinear", antialias=True)),
    (X3, dict(size=3, mode="lanczos", antialias=True)),
    (X3, dict(size=0)), (X4, dict(scale_factor=0.2)), (X5, dict(size=(2, 0, 3))),
    (X4, dict(scale_factor=-1.5, mode="bilinear")),
    ((1, 0, 3, 3), dict(size=2)), ((1, 0, 3), dict(size=2, mode="linear")),
    ((1, 2, 0, 3), dict(size=(3, 3))),
])
def test_errors_match_torch(shape, kw):
    x = np.zeros(shape, np.float32)
    assert_same_error(lambda: F.interpolate(torch.tensor(x), **kw),
                      lambda: dnn.functional.interpolate(dlbasic.tensor(x), **kw))


def test_integer_inputs_raise_torchs_error_type():
    x = np.zeros((1, 2, 3), np.int64)
    for mode in ("nearest", "linear"):
        assert_same_error(lambda: F.interpolate(torch.tensor(x), size=4, mode=mode),
                          lambda: dnn.functional.interpolate(dlbasic.tensor(x), size=4,
                                                             mode=mode))
    assert_same_error(lambda: F.interpolate(torch.zeros(1, 1, 3, 3).long(), size=4,
                                            mode="bicubic"),
                      lambda: dnn.functional.interpolate(dlbasic.zeros(1, 1, 3, 3).long(),
                                                         size=4, mode="bicubic"))
    assert_same_error(lambda: F.interpolate(torch.zeros(1, 1, 3, 3), size=2.0),
                      lambda: dnn.functional.interpolate(dlbasic.zeros(1, 1, 3, 3), size=2.0),
                      same_message=False)


def test_antialias_averages_when_shrinking():
    # a 1-pixel checkerboard shrunk 16 -> 5: plain bilinear reads 2x2 pixels per output
    # (values far from the mean 0.5); antialiased, each output averages a ~3x3 window
    x = dlbasic.tensor((np.indices((16, 16)).sum(0) % 2).astype(np.float64)[None, None])
    plain = dnn.functional.interpolate(x, size=5, mode="bilinear").numpy()
    smooth = dnn.functional.interpolate(x, size=5, mode="bilinear", antialias=True).numpy()
    assert np.abs(smooth - 0.5).max() < 0.01 < 0.3 < np.abs(plain - 0.5).max()
    with pytest.raises(NotImplementedError, match="uint8"):
        dnn.functional.interpolate(x.to(dlbasic.uint8), size=4, mode="bilinear",
                                   antialias=True)
