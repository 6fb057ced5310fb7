"""F.rms_norm / nn.RMSNorm, F.local_response_norm / nn.LocalResponseNorm,
F.channel_shuffle / nn.ChannelShuffle and nn.CosineSimilarity against torch: values and
gradients in float32 and float64, module repr and state_dict, float64 gradcheck, errors."""
import numpy as np
import pytest

from tests.parity.harness import assert_same_error, check, to_dlbasic_state, torch

import dlbasic
import dlbasic.nn as dnn
from dlbasic.autograd import gradcheck

F = torch.nn.functional
nn = torch.nn

F64 = dict(atol=1e-12, rtol=1e-10, grad_atol=1e-11, grad_rtol=1e-10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, ns, eps", [((2, 3, 4), (4,), None), ((2, 3, 4), (3, 4), 1e-3),
                                            ((5, 6), [6], 1e-6)])
def test_rms_norm_matches_torch(shape, ns, eps, dtype):
    tol = {} if dtype == "float32" else F64
    wshape = tuple(ns)
    check(lambda x, w: F.rms_norm(x, ns, w, eps), shapes=[shape, wshape], dtype=dtype, **tol)
    check(lambda x: F.rms_norm(x, ns, eps=eps), shapes=[shape], dtype=dtype, **tol)


def test_rms_norm_module_matches_torch():
    for args, kw in (((4,), {}), (((3, 4),), dict(eps=1e-3, elementwise_affine=False))):
        t, d = nn.RMSNorm(*args, **kw), dnn.RMSNorm(*args, **kw)
        assert repr(d) == repr(t)
        assert list(d.state_dict()) == list(t.state_dict())
        with torch.no_grad():
            if t.weight is not None:
                t.weight.uniform_(0.5, 1.5)
        d.load_state_dict(to_dlbasic_state(t), strict=True)
        x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
        np.testing.assert_allclose(d(dlbasic.tensor(x)).detach().numpy(),
                                   t(torch.tensor(x)).detach().numpy(), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, size, kw", [
    ((2, 6, 5), 3, {}), ((2, 6, 5), 4, dict(alpha=0.1, beta=0.5, k=2.0)),
    ((1, 7, 3, 4), 5, dict(alpha=1.0)), ((1, 5, 2, 3, 2), 2, dict(alpha=0.5, beta=1.0)),
    ((2, 3, 4), 9, dict(alpha=0.3)),
])
def test_local_response_norm_matches_torch(shape, size, kw, dtype):
    tol = {} if dtype == "float32" else F64
    check(lambda x: F.local_response_norm(x, size, **kw), shapes=[shape], dtype=dtype, **tol)
    check(lambda x: nn.LocalResponseNorm(size, **kw)(x), shapes=[shape], dtype=dtype, **tol)
    assert repr(dnn.LocalResponseNorm(size, **kw)) == repr(nn.LocalResponseNorm(size, **kw))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, groups", [((2, 6, 3), 2), ((2, 6, 3, 2), 3), ((1, 4, 2), 4),
                                           ((0, 6, 2), 2), ((2, 8, 1, 2, 2), 2)])
def test_channel_shuffle_matches_torch(shape, groups, dtype):
    check(lambda x: F.channel_shuffle(x, groups), shapes=[shape], dtype=dtype)
    check(lambda x: nn.ChannelShuffle(groups)(x), shapes=[shape], dtype=dtype)
    assert repr(dnn.ChannelShuffle(groups)) == repr(nn.ChannelShuffle(groups))


@pytest.mark.parametrize("dim, eps", [(1, 1e-8), (-1, 0.5)])
def test_cosine_similarity_module_matches_torch(dim, eps):
    check(lambda a, b: nn.CosineSimilarity(dim, eps)(a, b), shapes=[(3, 4, 5), (3, 4, 5)])
    assert repr(dnn.CosineSimilarity(dim, eps)) == repr(nn.CosineSimilarity(dim, eps))


def test_gradcheck_float64():
    rng = np.random.default_rng(1)
    x = dlbasic.tensor(rng.standard_normal((2, 5, 3, 2)), requires_grad=True)
    w = dlbasic.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    fn = dnn.functional
    assert gradcheck(lambda x, w: fn.rms_norm(x, (3, 2), w), (x, w))
    assert gradcheck(lambda x: fn.local_response_norm(x, 3, alpha=0.5, beta=0.8), (x,))
    assert gradcheck(lambda x: fn.channel_shuffle(x[:, :4], 2), (x,))


@pytest.mark.parametrize("call", [
    lambda F, T: F.channel_shuffle(T.zeros(2, 6, 3), 4),
    lambda F, T: F.channel_shuffle(T.zeros(2, 6, 3), 0),
    lambda F, T: F.channel_shuffle(T.zeros(6), 0),
    lambda F, T: F.channel_shuffle(T.zeros(6, 5), 2),
    lambda F, T: F.channel_shuffle(T.zeros(2, 6, 3), 2.0),
    lambda F, T: F.rms_norm(T.zeros(2, 3), (4,)),
    lambda F, T: F.rms_norm(T.zeros(2, 3), (3,), T.ones(4)),
    lambda F, T: F.rms_norm(T.zeros(2, 3), ()),
    lambda F, T: F.rms_norm(T.zeros(2, 3), 3),
    lambda F, T: F.local_response_norm(T.zeros(2, 3), 2),
])
def test_errors_match_torch(call):
    assert_same_error(lambda: call(F, torch), lambda: call(dnn.functional, dlbasic))
