"""nn.init: distributions (mean/std/bounds), fans, gains, in-place and no-graph behaviour."""
import math

import numpy as np
import pytest

import dlbasic
import dlbasic.nn as nn
from dlbasic.nn import init


def big(*shape):
    return nn.Parameter(dlbasic.empty(*shape))


def arr(t):
    return t.detach().numpy()


def test_calculate_gain_table():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_fan_in_fan_out_use_receptive_field():
    assert init._calculate_fan_in_and_fan_out(dlbasic.empty(5, 3)) == (3, 5)
    assert init._calculate_fan_in_and_fan_out(dlbasic.empty(8, 4, 3, 3)) == (36, 72)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(dlbasic.empty(4))


def test_uniform_and_normal_statistics_in_place_without_graph():
    p = big(400, 500)
    data, v0 = p._data, p._version
    out = init.uniform_(p, -2.0, 3.0)
    assert out is p and p._data is data and p._version > v0
    assert p.grad_fn is None and p.requires_grad and p.dtype == dlbasic.float32
    a = arr(p)
    assert a.min() >= -2 and a.max() <= 3
    assert abs(a.mean() - 0.5) < 0.02 and abs(a.std() - 5 / math.sqrt(12)) < 0.02
    init.normal_(p, 1.0, 0.5)
    a = arr(p)
    assert abs(a.mean() - 1.0) < 0.005 and abs(a.std() - 0.5) < 0.005


def test_constant_zeros_ones_eye_dirac():
    p = big(3, 4)
    assert (arr(init.constant_(p, 0.25)) == 0.25).all()
    assert (arr(init.ones_(p)) == 1).all()
    assert (arr(init.zeros_(p)) == 0).all()
    np.testing.assert_array_equal(arr(init.eye_(p)), np.eye(3, 4))
    with pytest.raises(ValueError):
        init.eye_(big(2, 2, 2))
    w = big(4, 2, 3, 3)
    init.dirac_(w)
    a = arr(w)
    assert a[0, 0, 1, 1] == 1 and a[1, 1, 1, 1] == 1 and a.sum() == 2
    w2 = big(4, 2, 3)
    init.dirac_(w2, groups=2)
    assert arr(w2).sum() == 4
    with pytest.raises(ValueError):
        init.dirac_(big(2, 2))


def test_xavier_statistics():
    p = big(300, 500)
    bound = math.sqrt(6 / 800)
    a = arr(init.xavier_uniform_(p))
    assert np.abs(a).max() <= bound and np.abs(a).max() > 0.99 * bound
    assert abs(a.std() - bound / math.sqrt(3)) < 0.01 * bound * 5
    a = arr(init.xavier_normal_(p, gain=2.0))
    assert abs(a.std() - 2 * math.sqrt(2 / 800)) < 0.002


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_statistics_for_conv_weights(mode):
    w = big(64, 32, 3, 3)                       # fan_in 288, fan_out 576
    fan = 288 if mode == "fan_in" else 576
    std = math.sqrt(2) / math.sqrt(fan)
    a = arr(init.kaiming_normal_(w, mode=mode, nonlinearity="relu"))
    assert abs(a.std() - std) < 0.03 * std and abs(a.mean()) < 0.03 * std
    a = arr(init.kaiming_uniform_(w, mode=mode, nonlinearity="relu"))
    bound = math.sqrt(3) * std
    assert np.abs(a).max() <= bound and np.abs(a).max() > 0.99 * bound
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(w, mode="fan_avg")


def test_kaiming_uniform_a_sqrt5_is_linear_default():
    w = big(50, 80)
    a = arr(init.kaiming_uniform_(w, a=math.sqrt(5)))
    assert np.abs(a).max() <= 1 / math.sqrt(80)
    assert np.abs(a).max() > 0.99 / math.sqrt(80)


def test_trunc_normal_respects_bounds():
    p = big(200, 200)
    a = arr(init.trunc_normal_(p, mean=0.0, std=1.0, a=-1.0, b=1.5))
    assert a.min() >= -1.0 and a.max() <= 1.5
    assert a.mean() > 0.05           # asymmetric truncation shifts the mean up
    a = arr(init.trunc_normal_(p, std=0.02))
    assert abs(a.std() - 0.02) < 0.001     # [-2, 2] is 100 std wide: essentially untruncated


def test_orthogonal_rows_and_cols():
    for shape in [(6, 10), (10, 6), (4, 2, 3)]:
        p = big(*shape)
        q = arr(init.orthogonal_(p, gain=2.0)).reshape(shape[0], -1).astype(np.float64)
        if q.shape[0] <= q.shape[1]:
            np.testing.assert_allclose(q @ q.T, 4 * np.eye(q.shape[0]), atol=1e-5)
        else:
            np.testing.assert_allclose(q.T @ q, 4 * np.eye(q.shape[1]), atol=1e-5)
    with pytest.raises(ValueError):
        init.orthogonal_(big(3))


def test_generator_makes_init_reproducible():
    g1 = dlbasic.Generator().manual_seed(7)
    g2 = dlbasic.Generator().manual_seed(7)
    a = arr(init.kaiming_normal_(big(5, 5), generator=g1)).copy()
    b = arr(init.kaiming_normal_(big(5, 5), generator=g2))
    np.testing.assert_array_equal(a, b)
    dlbasic.manual_seed(3)
    c = arr(nn.Linear(4, 4).weight).copy()
    dlbasic.manual_seed(3)
    np.testing.assert_array_equal(c, arr(nn.Linear(4, 4).weight))


def test_init_on_leaf_requiring_grad_keeps_it_a_leaf_and_float64_dtype():
    p = nn.Parameter(dlbasic.empty(3, 3, dtype=dlbasic.float64))
    init.xavier_uniform_(p)
    assert p.is_leaf and p.requires_grad and p.dtype == dlbasic.float64
    y = (p * 2).sum()
    y.backward()
    assert (arr(p.grad) == 2).all()
