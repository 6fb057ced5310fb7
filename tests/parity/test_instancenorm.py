"""InstanceNorm1d/2d/3d and F.instance_norm against torch: values, gradients (input, weight,
bias), running statistics, eval with them, unbatched inputs, reprs, state_dict keys, errors."""
import warnings

import numpy as np
import pytest

from tests.parity.harness import check, torch

import dlbasic
import dlbasic.nn as dnn
from dlbasic.autograd import gradcheck

nn = torch.nn
F = torch.nn.functional


def randn(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 2, 2)])
def test_functional_matches_torch(shape, dtype):
    c = shape[1]
    tol = {} if dtype == "float32" else dict(atol=1e-12, rtol=1e-10, grad_atol=1e-10,
                                             grad_rtol=1e-9)
    check(lambda x: F.instance_norm(x), shapes=[shape], dtype=dtype, **tol)
    check(lambda x, w, b: F.instance_norm(x, weight=w, bias=b, eps=1e-3),
          shapes=[shape, (c,), (c,)], dtype=dtype, **tol)


@pytest.mark.parametrize("cls, shape", [("InstanceNorm1d", (4, 3, 6)),
                                        ("InstanceNorm2d", (4, 3, 5, 5)),
                                        ("InstanceNorm3d", (2, 3, 2, 3, 4)),
                                        ("InstanceNorm2d", (3, 5, 5))])
@pytest.mark.parametrize("affine, track", [(False, False), (True, False), (True, True),
                                           (False, True)])
def test_modules_match_torch_in_train_and_eval(cls, shape, affine, track):
    t = getattr(nn, cls)(3, affine=affine, track_running_stats=track, momentum=0.3)
    d = getattr(dnn, cls)(3, affine=affine, track_running_stats=track, momentum=0.3)
    assert repr(d) == repr(t)
    assert list(d.state_dict()) == list(t.state_dict())
    if affine:
        w, b = randn(3, seed=1), randn(3, seed=2)
        with torch.no_grad():
            t.weight.copy_(torch.tensor(w))
            t.bias.copy_(torch.tensor(b))
        d.weight.data = dlbasic.tensor(w)
        d.bias.data = dlbasic.tensor(b)
    for step in range(2):
        x = randn(*shape, seed=10 + step)
        tx, dx = torch.tensor(x, requires_grad=True), dlbasic.tensor(x, requires_grad=True)
        to, do = t(tx), d(dx)
        np.testing.assert_allclose(do.detach().numpy(), to.detach().numpy(), atol=1e-5)
        (to * to).sum().backward()
        (do * do).sum().backward()
        np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), atol=1e-4)
    if affine:
        np.testing.assert_allclose(d.weight.grad.numpy(), t.weight.grad.numpy(), atol=1e-4)
        np.testing.assert_allclose(d.bias.grad.numpy(), t.bias.grad.numpy(), atol=1e-4)
    for k, v in t.state_dict().items():
        np.testing.assert_allclose(d.state_dict()[k].detach().numpy(), v.numpy(), atol=1e-6,
                                   err_msg=k)
    t.eval()
    d.eval()
    x = randn(*shape, seed=20)
    np.testing.assert_allclose(d(dlbasic.tensor(x)).detach().numpy(),
                               t(torch.tensor(x)).detach().numpy(), atol=1e-5)


def test_gradcheck_float64():
    x = dlbasic.tensor(randn(2, 3, 4, dtype=np.float64), requires_grad=True)
    w = dlbasic.tensor(randn(3, seed=1, dtype=np.float64), requires_grad=True)
    b = dlbasic.tensor(randn(3, seed=2, dtype=np.float64), requires_grad=True)
    assert gradcheck(lambda x, w, b: dnn.functional.instance_norm(x, weight=w, bias=b),
                     [x, w, b])


def test_errors_and_warnings_match_torch():
    for lib, mod in ((torch, nn), (dlbasic, dnn)):
        with pytest.raises(ValueError, match=r"expected 3D or 4D input \(got 2D input\)"):
            mod.InstanceNorm2d(3)(lib.zeros(3, 4))
        with pytest.raises(ValueError, match="to match num_features"):
            mod.InstanceNorm1d(3, affine=True)(lib.zeros(2, 4, 5))
        with pytest.warns(UserWarning, match="does not match num_features"):
            mod.InstanceNorm1d(3)(lib.ones(2, 4, 5))
        # torch's Python check says "spatial element"; its C++ batch norm (which some of its
        # paths reach first) says "value per channel" of the (1, N*C, L) view
        with pytest.raises(ValueError, match=r"Expected more than 1 (spatial element|value per "
                                             r"channel) when training"):
            mod.InstanceNorm1d(3)(lib.ones(2, 3, 1))
    with pytest.raises(ValueError, match=r"more than 1 spatial element when training, got "
                                         r"input size torch.Size\(\[2, 3, 1\]\)"):
        dnn.InstanceNorm1d(3)(dlbasic.ones(2, 3, 1))


# -- pixel shuffle (the other per-pixel rearrangement of image models) -----------------------

@pytest.mark.parametrize("shape, r", [((1, 8, 3, 2), 2), ((2, 2, 9, 2, 3), 3), ((4, 2, 2), 2)])
def test_pixel_shuffle_and_unshuffle_match_torch(shape, r):
    check(lambda x: F.pixel_shuffle(x, r), shapes=[shape])
    *b, c, h, w = shape
    check(lambda x: F.pixel_unshuffle(x, r), shapes=[tuple(b) + (c // (r * r), h * r, w * r)])
    x = dlbasic.tensor(randn(*shape))
    y = dnn.PixelUnshuffle(r)(dnn.PixelShuffle(r)(x))
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    assert repr(dnn.PixelShuffle(r)) == repr(nn.PixelShuffle(r))
    assert repr(dnn.PixelUnshuffle(r)) == repr(nn.PixelUnshuffle(r))


@pytest.mark.parametrize("call", [
    lambda F, T: F.pixel_shuffle(T(np.ones((2, 5, 3, 3))), 2),
    lambda F, T: F.pixel_shuffle(T(np.ones((4, 4))), 2),
    lambda F, T: F.pixel_unshuffle(T(np.ones((1, 2, 5, 4))), 2),
    lambda F, T: F.pixel_unshuffle(T(np.ones((1, 2, 4, 5))), 2),
])
def test_pixel_shuffle_errors_match_torch(call):
    from tests.parity.harness import assert_same_error
    assert_same_error(lambda: call(F, torch.tensor),
                      lambda: call(dnn.functional, dlbasic.tensor))


# -- EmbeddingBag -----------------------------------------------------------------------------

def _bag_pair(mode, padding_idx=None, include_last_offset=False):
    t = nn.EmbeddingBag(10, 4, mode=mode, padding_idx=padding_idx,
                        include_last_offset=include_last_offset)
    d = dnn.EmbeddingBag(10, 4, mode=mode, padding_idx=padding_idx,
                         include_last_offset=include_last_offset)
    d.weight.data = dlbasic.tensor(t.weight.detach().numpy().copy())
    assert repr(d) == repr(t)
    return t, d


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 2])
@pytest.mark.parametrize("layout", ["2d", "offsets", "last_offset"])
def test_embedding_bag_matches_torch(mode, padding_idx, layout):
    t, d = _bag_pair(mode, padding_idx, layout == "last_offset")
    if layout == "2d":
        idx = np.array([[1, 2, 4], [4, 3, 2], [2, 2, 2]])
        t_args, d_args = (torch.tensor(idx),), (dlbasic.tensor(idx),)
    else:
        idx = np.array([1, 2, 4, 5, 4, 3, 2, 9, 2])
        off = np.array([0, 2, 2, 6] + ([9] if layout == "last_offset" else []))
        t_args = (torch.tensor(idx), torch.tensor(off))
        d_args = (dlbasic.tensor(idx), dlbasic.tensor(off))
    to, do = t(*t_args), d(*d_args)
    np.testing.assert_allclose(do.detach().numpy(), to.detach().numpy(), atol=1e-6)
    g = randn(*to.shape, seed=3)
    (to * torch.tensor(g)).sum().backward()
    (do * dlbasic.tensor(g)).sum().backward()
    np.testing.assert_allclose(d.weight.grad.numpy(), t.weight.grad.numpy(), atol=1e-6)


def test_embedding_bag_per_sample_weights_get_gradients_like_torch():
    t, d = _bag_pair("sum")
    idx, off = np.array([1, 2, 4, 5, 4]), np.array([0, 3])
    w = randn(5, seed=4)
    tw, dw = torch.tensor(w, requires_grad=True), dlbasic.tensor(w, requires_grad=True)
    to = t(torch.tensor(idx), torch.tensor(off), per_sample_weights=tw)
    do = d(dlbasic.tensor(idx), dlbasic.tensor(off), per_sample_weights=dw)
    np.testing.assert_allclose(do.detach().numpy(), to.detach().numpy(), atol=1e-6)
    (to ** 2).sum().backward()
    (do ** 2).sum().backward()
    np.testing.assert_allclose(dw.grad.numpy(), tw.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(d.weight.grad.numpy(), t.weight.grad.numpy(), atol=1e-5)


@pytest.mark.parametrize("call", [
    lambda F, T: F.embedding_bag(T(np.array([[1, 2]])), T(np.ones((4, 2), np.float32)),
                                 T(np.array([0]))),
    lambda F, T: F.embedding_bag(T(np.array([1, 2])), T(np.ones((4, 2), np.float32))),
    lambda F, T: F.embedding_bag(T(np.array([1, 2])), T(np.ones((4, 2), np.float32)),
                                 T(np.array([0])), mode="median"),
    lambda F, T: F.embedding_bag(T(np.array([1, 2])), T(np.ones((4, 2), np.float32)),
                                 T(np.array([0])), per_sample_weights=T(np.ones(2, np.float32))),
])
def test_embedding_bag_errors_match_torch(call):
    from tests.parity.harness import assert_same_error
    assert_same_error(lambda: call(F, torch.tensor),
                      lambda: call(dnn.functional, dlbasic.tensor), same_message=False)
