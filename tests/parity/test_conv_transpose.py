"""ConvTranspose1d/2d and F.conv_transpose1d/2d against torch: values and gradients (input,
weight, bias) for stride, padding, output_padding, dilation, groups, unbatched inputs, 1x1
kernels; float64 gradcheck; modules' weight shape, init, repr, output_size; errors."""
import numpy as np
import pytest

from tests.parity.harness import check, torch

import dlbasic
import dlbasic.nn as dnn
from dlbasic.autograd import gradcheck

F = torch.nn.functional
nn = torch.nn

CASES_2D = [
    # (input shape, weight shape, stride, padding, output_padding, groups, dilation)
    ((2, 4, 5, 6), (4, 6, 3, 3), 1, 0, 0, 1, 1),
    ((2, 4, 5, 6), (4, 6, 3, 3), 2, 1, 1, 1, 1),
    ((1, 4, 4, 4), (4, 2, 2, 2), 2, 0, 0, 2, 1),
    ((2, 2, 5, 5), (2, 3, 3, 3), 3, 1, 2, 1, 1),
    ((2, 2, 5, 5), (2, 3, 3, 3), 1, 1, 1, 1, 2),
    ((1, 3, 4, 3), (3, 2, 1, 1), 2, 0, 1, 1, 1),
    ((2, 6, 3, 4), (6, 3, 3, 3), (2, 1), (2, 0), (0, 0), 3, (2, 1)),
    ((3, 5, 5), (3, 2, 3, 2), 2, 1, 0, 1, 1),                     # unbatched
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("x, w, s, p, op, g, d", CASES_2D)
def test_conv_transpose2d_matches_torch(x, w, s, p, op, g, d, dtype):
    tol = {} if dtype == "float32" else dict(atol=1e-10, rtol=1e-9, grad_atol=1e-9,
                                             grad_rtol=1e-9)
    out = w[1] * g
    check(lambda x, w, b: F.conv_transpose2d(x, w, b, s, p, op, g, d),
          shapes=[x, w, (out,)], dtype=dtype, **tol)
    check(lambda x, w: F.conv_transpose2d(x, w, None, s, p, op, g, d), shapes=[x, w],
          dtype=dtype, **tol)


@pytest.mark.parametrize("x, w, s, p, op, g, d", [
    ((2, 4, 7), (4, 3, 3), 1, 0, 0, 1, 1), ((2, 4, 7), (4, 3, 3), 2, 1, 1, 2, 1),
    ((4, 6), (4, 2, 2), 3, 0, 2, 1, 1), ((1, 2, 5), (2, 2, 3), 1, 2, 1, 1, 3)])
def test_conv_transpose1d_matches_torch(x, w, s, p, op, g, d):
    check(lambda x, w, b: F.conv_transpose1d(x, w, b, s, p, op, g, d),
          shapes=[x, w, (w[1] * g,)])


@pytest.mark.parametrize("x, w, s, p, op, g, d", CASES_2D[:5])
def test_gradcheck_float64(x, w, s, p, op, g, d):
    rng = np.random.default_rng(0)
    xs = [dlbasic.tensor(rng.standard_normal(shape), requires_grad=True)
          for shape in ((1,) + tuple(x[1:]), w, (w[1] * g,))]
    assert gradcheck(lambda x, w, b: dnn.functional.conv_transpose2d(x, w, b, s, p, op, g, d),
                     xs)


def test_conv_transpose_is_the_gradient_of_conv():
    # <conv_transpose(y, W), x> = <y, conv(x, W)>: the adjoint identity
    rng = np.random.default_rng(1)
    x = dlbasic.tensor(rng.standard_normal((2, 3, 9, 9)))
    w = dlbasic.tensor(rng.standard_normal((4, 3, 3, 3)))
    y = dlbasic.tensor(rng.standard_normal((2, 4, 4, 4)))
    cx = dnn.functional.conv2d(x, w, stride=2)
    ty = dnn.functional.conv_transpose2d(y, w, stride=2)
    np.testing.assert_allclose((ty * x).sum().item(), (y * cx).sum().item(), rtol=1e-10)


@pytest.mark.parametrize("cls, args, kwargs, shape", [
    ("ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1), (2, 4, 5, 5)),
    ("ConvTranspose2d", (4, 6, (3, 2)), dict(groups=2, bias=False, dilation=2), (1, 4, 4, 3)),
    ("ConvTranspose1d", (3, 5, 4), dict(stride=3), (2, 3, 6)),
])
def test_modules_match_torch(cls, args, kwargs, shape):
    t, d = getattr(nn, cls)(*args, **kwargs), getattr(dnn, cls)(*args, **kwargs)
    assert repr(d) == repr(t)
    assert [(k, tuple(v.shape)) for k, v in d.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in t.state_dict().items()]
    # torch's init bounds: U(+-1/sqrt(fan_in)), fan_in = weight.size(1) * prod(kernel)
    fan_in = t.weight.shape[1] * int(np.prod(t.weight.shape[2:]))
    assert np.abs(d.weight.detach().numpy()).max() <= 1 / np.sqrt(fan_in) + 1e-7
    d.load_state_dict({k: dlbasic.tensor(v.detach().numpy()) for k, v in
                       t.state_dict().items()})
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(d(dlbasic.tensor(x)).detach().numpy(),
                               t(torch.tensor(x)).detach().numpy(), atol=1e-5)


def test_output_size_picks_the_output_padding_like_torch():
    t = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    d = dnn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    d.load_state_dict({k: dlbasic.tensor(v.detach().numpy()) for k, v in
                       t.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((1, 2, 4, 4)).astype(np.float32)
    for size in ([7, 7], [8, 8], [7, 8], (1, 3, 8, 7)):
        to = t(torch.tensor(x), output_size=size)
        do = d(dlbasic.tensor(x), output_size=size)
        assert tuple(do.shape) == tuple(to.shape)
        np.testing.assert_allclose(do.detach().numpy(), to.detach().numpy(), atol=1e-5)
    for lib, mod in ((torch, t), (dlbasic, d)):
        with pytest.raises(ValueError, match="output size"):
            mod(lib.tensor(x), output_size=[10, 10])


def test_an_upsampling_decoder_trains():
    torch_ = dlbasic
    torch_.manual_seed(0)
    net = dnn.Sequential(dnn.ConvTranspose2d(4, 8, 4, stride=2, padding=1), dnn.ReLU(),
                         dnn.ConvTranspose2d(8, 1, 4, stride=2, padding=1))
    z = dlbasic.randn(8, 4, 7, 7)
    target = dlbasic.randn(8, 1, 28, 28) * 0.1
    opt = dlbasic.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = ((net(z) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert tuple(net(z).shape) == (8, 1, 28, 28)
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("call", [
    lambda F, T: F.conv_transpose2d(T(np.ones((1, 3, 4, 4))), T(np.ones((4, 2, 3, 3)))),
    lambda F, T: F.conv_transpose2d(T(np.ones((1, 4, 4, 4))), T(np.ones((4, 2, 3, 3))),
                                    stride=1, output_padding=1),
    lambda F, T: F.conv_transpose2d(T(np.ones((1, 4, 4))), T(np.ones((4, 2, 3, 3))),
                                    T(np.ones(3))),
])
def test_errors_match_torch(call):
    from tests.parity.harness import assert_same_error
    assert_same_error(lambda: call(F, torch.tensor),
                      lambda: call(dnn.functional, dlbasic.tensor), same_message=False)
