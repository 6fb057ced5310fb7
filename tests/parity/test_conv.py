"""conv1d / conv2d / pad against torch: forward, input, weight and bias gradients; bad input."""
import numpy as np
import pytest

from tests.parity.harness import check, check_raises, torch

import torch.nn.functional as F  # noqa: E402  (rebound to dlbasic by the harness)

CONV2D_CASES = [
    # (input shape, weight shape, kwargs)
    ((2, 3, 8, 8), (4, 3, 3, 3), dict(padding=1)),
    ((2, 3, 8, 8), (4, 3, 3, 3), dict()),
    ((2, 3, 9, 7), (5, 3, 3, 3), dict(stride=2, padding=1)),
    ((2, 3, 9, 7), (5, 3, 3, 3), dict(stride=(2, 1), padding=(0, 2))),
    ((1, 2, 10, 11), (3, 2, 3, 3), dict(dilation=2, padding=2)),
    ((1, 2, 10, 11), (3, 2, 3, 2), dict(dilation=(2, 1), stride=(1, 3))),
    ((2, 4, 7, 7), (6, 2, 3, 3), dict(groups=2, padding=1)),
    ((2, 4, 7, 7), (4, 1, 3, 3), dict(groups=4, stride=2)),          # depthwise, strided
    ((2, 6, 6, 5), (4, 3, 1, 1), dict(groups=2)),                    # grouped 1x1
    ((2, 3, 6, 6), (4, 3, 1, 1), dict()),                            # 1x1 = GEMM
    ((2, 3, 7, 7), (4, 3, 1, 1), dict(stride=2)),                    # strided 1x1
    ((2, 3, 6, 6), (4, 3, 1, 1), dict(padding=1)),
    ((2, 3, 8, 9), (4, 3, 2, 4), dict(padding="same")),              # even kernel: asymmetric
    ((2, 3, 8, 9), (4, 3, 3, 2), dict(padding="same", dilation=2)),
    ((2, 3, 8, 9), (4, 3, 3, 3), dict(padding="valid")),
    ((2, 3, 5, 5), (4, 3, 5, 5), dict()),                            # kernel = input
    ((2, 3, 4, 4), (4, 3, 3, 3), dict(padding=4)),                   # padding > d*(k-1)
    ((2, 3, 11, 10), (4, 3, 4, 3), dict(stride=3, padding=(2, 1), dilation=(1, 2))),
    ((3, 8, 8), (4, 3, 3, 3), dict(padding=1)),                      # unbatched
]


@pytest.mark.parametrize("xs,ws,kw", CONV2D_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_forward_and_grads_match_torch(xs, ws, kw, bias):
    if bias:
        check(lambda x, w, b: F.conv2d(x, w, b, **kw), shapes=[xs, ws, (ws[0],)])
    else:
        check(lambda x, w: F.conv2d(x, w, **kw), shapes=[xs, ws])


@pytest.mark.parametrize("xs,ws,kw", [
    ((2, 3, 10), (4, 3, 3), dict(padding=1)),
    ((2, 3, 10), (4, 3, 3), dict(stride=2, dilation=2)),
    ((2, 4, 9), (6, 2, 2), dict(groups=2, padding="same")),
    ((3, 10), (4, 3, 5), dict(padding=2)),                           # unbatched
    ((2, 3, 10), (4, 3, 1), dict(stride=3)),
])
def test_conv1d_forward_and_grads_match_torch(xs, ws, kw):
    check(lambda x, w, b: F.conv1d(x, w, b, **kw), shapes=[xs, ws, (ws[0],)])


def test_conv2d_only_weight_requires_grad():
    # the first layer of a network: no input gradient is computed
    check(lambda x, w: F.conv2d(x, w, padding=1), shapes=[(2, 3, 6, 6), (4, 3, 3, 3)],
          requires_grad=[False, True])


def test_conv2d_only_input_requires_grad():
    check(lambda x, w: F.conv2d(x, w, stride=2), shapes=[(2, 3, 7, 7), (4, 3, 3, 3)],
          requires_grad=[True, False])


def test_conv2d_float64_and_noncontiguous_input():
    check(lambda x, w: F.conv2d(x, w, padding=1), shapes=[(2, 3, 6, 5), (4, 3, 3, 3)],
          dtype="float64")
    check(lambda x, w: F.conv2d(x, w, padding=1), shapes=[(2, 5, 6, 3), (4, 3, 3, 3)],
          transform=lambda t: t.transpose(1, 3) if t.ndim == 4 and t.shape[1] == 5 else t)


def test_conv2d_grad_fn_name():
    _, d = check(lambda x, w: F.conv2d(x, w), shapes=[(1, 2, 4, 4), (3, 2, 3, 3)])
    assert d.grad_fn.name() == "ConvolutionBackward0"


def test_conv2d_output_is_contiguous_nchw():
    _, d = check(lambda x, w: F.conv2d(x, w, padding=1), shapes=[(2, 3, 5, 5), (4, 3, 3, 3)])
    assert d.is_contiguous()
    d.view(2, -1)       # works in torch, so it must work here


@pytest.mark.parametrize("fn,shapes", [
    (lambda x, w: F.conv2d(x, w), [(2, 3), (4, 3, 3, 3)]),                          # rank
    (lambda x, w: F.conv2d(x, w), [(2, 3, 8, 8, 1), (4, 3, 3, 3)]),
    (lambda x, w: F.conv2d(x, w), [(2, 5, 8, 8), (4, 3, 3, 3)]),                    # channels
    (lambda x, w: F.conv2d(x, w), [(2, 3, 2, 2), (4, 3, 3, 3)]),                    # kernel > input
    (lambda x, w: F.conv2d(x, w, dilation=2), [(2, 3, 4, 4), (4, 3, 3, 3)]),
    (lambda x, w: F.conv2d(x, w, stride=2, padding="same"), [(2, 3, 8, 8), (4, 3, 3, 3)]),
    (lambda x, w: F.conv2d(x, w, padding="foo"), [(2, 3, 8, 8), (4, 3, 3, 3)]),
    (lambda x, w: F.conv2d(x, w, padding=-1), [(2, 3, 8, 8), (4, 3, 3, 3)]),
    (lambda x, w: F.conv2d(x, w, stride=0), [(2, 3, 8, 8), (4, 3, 3, 3)]),
    (lambda x, w: F.conv2d(x, w, stride=(1, 1, 1)), [(2, 3, 8, 8), (4, 3, 3, 3)]),
    (lambda x, w: F.conv2d(x, w, groups=2), [(2, 3, 8, 8), (4, 3, 3, 3)]),
    (lambda x, w: F.conv2d(x, w, groups=2), [(2, 4, 8, 8), (3, 2, 3, 3)]),
    (lambda x, w: F.conv2d(x, w, groups=0), [(2, 3, 8, 8), (4, 3, 3, 3)]),
    (lambda x, w: F.conv2d(x, w), [(2, 3, 8, 8), (4, 3, 3)]),
    (lambda x, w, b: F.conv2d(x, w, b), [(2, 3, 8, 8), (4, 3, 3, 3), (3,)]),         # bias size
    (lambda x, w: F.conv2d(x, w.double()), [(2, 3, 8, 8), (4, 3, 3, 3)]),           # dtype
    (lambda x, w: F.conv1d(x, w), [(2, 5, 8), (4, 3, 3)]),
    (lambda x, w: F.conv1d(x, w), [(2, 3, 8), (4, 3, 3, 3)]),
])
def test_conv_bad_input_raises_like_torch(fn, shapes):
    check_raises(fn, shapes=shapes)


def test_conv2d_error_messages_name_the_sizes():
    _, e = check_raises(lambda x, w: F.conv2d(x, w), shapes=[(2, 3), (4, 3, 3, 3)])
    assert str(e) == ("Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input "
                      "of size: [2, 3]")
    _, e = check_raises(lambda x, w: F.conv2d(x, w), shapes=[(2, 5, 8, 8), (4, 3, 3, 3)])
    assert str(e) == ("Given groups=1, weight of size [4, 3, 3, 3], expected input[2, 5, 8, 8] "
                      "to have 3 channels, but got 5 channels instead")
    _, e = check_raises(lambda x, w: F.conv2d(x, w), shapes=[(2, 3, 2, 2), (4, 3, 3, 3)])
    assert str(e) == ("Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3). "
                      "Kernel size can't be greater than actual input size")


# -- pad ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,p,kw", [
    ((2, 3, 4), (1, 2), dict()),
    ((2, 3, 4, 5), (1, 0, 2, 1), dict(value=1.5)),
    ((2, 3, 4, 5), (-1, 2, 0, -2), dict()),                          # negative = crop
    ((2, 3, 4), (1, 1, 1, 1, 1, 1), dict()),
    ((2, 3, 4), (2, 3), dict(mode="reflect")),
    ((2, 3, 4, 5), (1, 2, 3, 1), dict(mode="reflect")),
    ((2, 3, 4, 5), (2, 3, 1, 4), dict(mode="replicate")),
    ((2, 3, 4), (4, 1), dict(mode="replicate")),
    ((2, 3, 4, 5), (1, 2, 3, 1), dict(mode="circular")),
])
def test_pad_matches_torch(shape, p, kw):
    check(lambda x: F.pad(x, p, **kw), shapes=[shape])


@pytest.mark.parametrize("shape,p,kw", [
    ((2, 3), (1,), dict()),
    ((2, 3), (1, 1, 1, 1, 1, 1), dict()),
    ((2, 3, 4), (5, 1), dict(mode="reflect")),
    ((3, 4), (1, 1, 1, 1), dict(mode="reflect")),
    ((2, 3, 4), (1, 1), dict(mode="foo")),
    ((2, 3, 4), (1, 1), dict(mode="reflect", value=3)),
])
def test_pad_bad_input_raises_like_torch(shape, p, kw):
    check_raises(lambda x: F.pad(x, p, **kw), shapes=[shape])


def test_conv2d_large_layer_matches_torch():
    # the benchmark's layer shape, smaller batch: catches layout/aliasing paths (32x32 planes).
    # Each output sums 144 float32 products of size ~1: allow float32 rounding in atol.
    check(lambda x, w, b: F.conv2d(x, w, b, padding=1), shapes=[(2, 16, 32, 32), (16, 16, 3, 3),
                                                             (16,)],
          atol=5e-5, grad_atol=1e-3)


# -- modules -------------------------------------------------------------------------------

import dlbasic                                     # noqa: E402
import dlbasic.nn as dnn                          # noqa: E402
from tests.parity.harness import assert_close, to_dlbasic_state   # noqa: E402

CONV_MODULES = [
    ("Conv2d", (3, 16, 3), dict(padding=1, bias=False)),
    ("Conv2d", (3, 16, 3), dict()),
    ("Conv2d", (4, 6, (3, 2)), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
    ("Conv2d", (3, 4, 3), dict(padding="same")),
    ("Conv2d", (3, 4, 2), dict(padding="same", dilation=2)),
    ("Conv2d", (3, 4, 3), dict(padding="valid")),
    ("Conv2d", (4, 8, 1), dict(stride=2, bias=False)),
    ("Conv1d", (3, 5, 3), dict(stride=2, padding=1)),
    ("Conv1d", (4, 4, 3), dict(groups=4, padding="same", bias=False)),
]


@pytest.mark.parametrize("name,args,kwargs", CONV_MODULES)
def test_conv_module_repr_state_dict_and_outputs_match_torch(name, args, kwargs):
    t = getattr(torch.nn, name)(*args, **kwargs)
    d = getattr(dnn, name)(*args, **kwargs)
    assert repr(d) == repr(t)
    assert list(d.state_dict().keys()) == list(t.state_dict().keys())
    assert d.weight.shape == t.weight.shape
    d.load_state_dict(to_dlbasic_state(t), strict=True)
    shape = (2, args[0], 9, 8) if name == "Conv2d" else (2, args[0], 11)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    tx, dx = torch.tensor(x, requires_grad=True), dlbasic.tensor(x, requires_grad=True)
    ty, dy = t(tx), d(dx)
    assert_close(dy, ty, 1e-5, 1e-4, "output")
    ty.square().sum().backward()
    dy.square().sum().backward()
    assert_close(dx.grad, tx.grad, 1e-4, 1e-3, "input grad")
    for pname, tp in t.named_parameters():
        assert_close(getattr(d, pname).grad, tp.grad, 1e-4, 1e-3, pname)


def test_conv2d_repr_examples():
    assert repr(dnn.Conv2d(3, 16, 3, padding=1, bias=False)) == \
        "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)"
    assert repr(dnn.Conv2d(3, 16, 3, padding="same")) == \
        "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=same)"


def test_conv_default_init_is_uniform_with_torch_bounds():
    dlbasic.manual_seed(0)
    m = dnn.Conv2d(8, 32, 3, groups=2)
    bound = 1 / np.sqrt(8 / 2 * 9)                   # fan_in = in/groups * kh * kw
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    assert w.dtype == np.float32 and np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # uniform on [-bound, bound]: std = bound / sqrt(3), and the range is nearly covered
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound
    assert np.abs(w).max() > 0.95 * bound
    assert m.weight.requires_grad and m.bias.requires_grad


@pytest.mark.parametrize("fn", [
    lambda: nn.Conv2d(3, 4, 3, groups=2),
    lambda: nn.Conv2d(4, 3, 3, groups=2),
    lambda: nn.Conv2d(3, 4, 3, groups=0),
    lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"),
    lambda: nn.Conv2d(3, 4, 3, padding="full"),
    lambda: nn.Conv2d(3, 4, 3, padding_mode="foo"),
])
def test_conv_module_bad_arguments_raise_like_torch(fn):
    check_raises(fn, inputs=[])


def test_conv_module_bad_input_raises_like_torch():
    check_raises(lambda x: nn.Conv2d(3, 4, 3)(x), shapes=[(2, 5, 8, 8)])
    check_raises(lambda x: nn.Conv2d(3, 4, 3)(x), shapes=[(5, 8)])
    check_raises(lambda x: nn.Conv1d(3, 4, 3)(x), shapes=[(2, 3, 2)])


nn = torch.nn   # rebound to dlbasic.nn inside harness lambdas


def test_conv_padding_mode_other_than_zeros_is_a_clear_not_implemented_error():
    with pytest.raises(NotImplementedError, match="padding_mode='reflect'"):
        dnn.Conv2d(3, 4, 3, padding_mode="reflect")
