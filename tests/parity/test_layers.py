"""Basic layers against torch with copied weights: forward, input grad, every parameter grad."""
import numpy as np
import pytest

from tests.parity.harness import assert_close, check, check_raises, to_dlbasic_state, torch

import dlbasic
import dlbasic.nn as dnn
import dlbasic.nn.functional as dF

nn = torch.nn
F = torch.nn.functional


def run_pair(t_mod, d_mod, inputs, train=True, atol=1e-5, rtol=1e-4, grad_atol=1e-4,
             grad_rtol=1e-3, int_inputs=False):
    """Copy torch's weights into ours, run both on the same inputs, compare out and grads."""
    d_mod.load_state_dict(to_dlbasic_state(t_mod), strict=True)
    t_mod.train(train)
    d_mod.train(train)
    t_in, d_in = [], []
    for a in inputs:
        rg = a.dtype.kind == "f" and not int_inputs
        t_in.append(torch.tensor(a, requires_grad=rg))
        d_in.append(dlbasic.tensor(a, requires_grad=rg))
    t_out = t_mod(*t_in)
    d_out = d_mod(*d_in)
    assert d_out.dtype.name == str(t_out.dtype).split(".")[-1]
    assert_close(d_out, t_out, atol, rtol, "forward")
    w = np.random.default_rng(1).standard_normal(tuple(t_out.shape)).astype(np.float32)
    (t_out * torch.tensor(w)).sum().backward()
    (d_out * dlbasic.tensor(w)).sum().backward()
    for i, (t, d) in enumerate(zip(t_in, d_in)):
        if t.requires_grad:
            assert_close(d.grad, t.grad, grad_atol, grad_rtol, f"grad of input {i}")
    t_params = dict(t_mod.named_parameters())
    d_params = dict(d_mod.named_parameters())
    assert list(t_params) == list(d_params)
    for name, tp in t_params.items():
        dp = d_params[name]
        if tp.grad is None:
            assert dp.grad is None or not np.any(dp.grad.numpy()), name
        else:
            assert_close(dp.grad, tp.grad, grad_atol, grad_rtol, f"grad of {name}")
    return t_out, d_out


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# -- Linear -------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,), (2, 1, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch_for_any_leading_dims(shape, bias):
    run_pair(nn.Linear(4, 3, bias=bias), dnn.Linear(4, 3, bias=bias), [randn(*shape)])


def test_linear_eval_mode_and_float64():
    t = nn.Linear(6, 2).double()
    d = dnn.Linear(6, 2).double()
    _, out = run_pair(t, d, [randn(3, 6).astype(np.float64)], train=False)
    assert out.dtype == dlbasic.float64


def test_functional_linear_matches_torch():
    check(lambda x, w, b: F.linear(x, w, b), shapes=[(2, 5, 3), (4, 3), (4,)])
    check(lambda x, w: F.linear(x, w), shapes=[(7, 3), (2, 3)])


def test_functional_linear_grad_fn_name_matches_torch():
    x = dlbasic.randn(2, 3, requires_grad=True)
    w = dlbasic.randn(4, 3, requires_grad=True)
    b = dlbasic.randn(4, requires_grad=True)
    assert dF.linear(x, w, b).grad_fn.name() == "AddmmBackward0"


def test_functional_linear_shape_mismatch_message_matches_torch():
    t_err, d_err = check_raises(lambda x, w: F.linear(x, w), shapes=[(2, 3), (4, 5)])
    assert "mat1 and mat2 shapes cannot be multiplied (2x3 and 5x4)" in str(d_err)
    assert str(t_err) == str(d_err)
    t_err, d_err = check_raises(lambda x, w: F.linear(x, w), shapes=[(2, 5, 3), (4, 5)])
    assert str(t_err) == str(d_err) == "mat1 and mat2 shapes cannot be multiplied (10x3 and 5x4)"


def test_linear_dtype_mismatch_raises_runtime_error_like_torch():
    check_raises(lambda x, w: F.linear(x, w.double()), shapes=[(2, 3), (4, 3)])


def test_bilinear_matches_torch():
    run_pair(nn.Bilinear(3, 4, 5), dnn.Bilinear(3, 4, 5), [randn(6, 3), randn(6, 4, seed=1)])
    run_pair(nn.Bilinear(3, 4, 2, bias=False), dnn.Bilinear(3, 4, 2, bias=False),
             [randn(2, 6, 3), randn(2, 6, 4, seed=1)])


# -- Flatten / Unflatten / Identity ---------------------------------------------------------
def test_flatten_unflatten_identity_match_torch():
    run_pair(nn.Flatten(), dnn.Flatten(), [randn(2, 3, 4, 5)])
    run_pair(nn.Flatten(0, 2), dnn.Flatten(0, 2), [randn(2, 3, 4, 5)])
    run_pair(nn.Unflatten(1, (2, 6)), dnn.Unflatten(1, (2, 6)), [randn(3, 12)])
    run_pair(nn.Identity(54, foo=1), dnn.Identity(54, foo=1), [randn(3, 2)])


# -- LayerNorm --------------------------------------------------------------------------------
@pytest.mark.parametrize("ns,shape", [(8, (4, 8)), ((3, 4), (2, 5, 3, 4)), (6, (6,))])
def test_layernorm_matches_torch_with_random_affine(ns, shape):
    t = nn.LayerNorm(ns)
    with torch.no_grad():
        t.weight.normal_()
        t.bias.normal_()
    run_pair(t, dnn.LayerNorm(ns), [randn(*shape) * 3 + 1])


@pytest.mark.parametrize("kw", [dict(elementwise_affine=False), dict(bias=False),
                                dict(eps=1e-2)])
def test_layernorm_options_match_torch(kw):
    run_pair(nn.LayerNorm(5, **kw), dnn.LayerNorm(5, **kw), [randn(3, 5)], train=False)


def test_functional_layer_norm_matches_torch():
    check(lambda x, w, b: F.layer_norm(x, (4,), w, b), shapes=[(3, 2, 4), (4,), (4,)])
    check(lambda x: F.layer_norm(x, (2, 4)), shapes=[(3, 2, 4)])


def test_layer_norm_bad_shape_raises_like_torch():
    t_err, d_err = check_raises(lambda x: F.layer_norm(x, (4,)), shapes=[(2, 3)])
    assert str(t_err) == str(d_err)


def test_group_norm_matches_torch():
    t = nn.GroupNorm(2, 6)
    with torch.no_grad():
        t.weight.normal_()
        t.bias.normal_()
    run_pair(t, dnn.GroupNorm(2, 6), [randn(3, 6, 4, 2)])


def test_normalize_matches_torch():
    check(lambda x: F.normalize(x), shapes=[(3, 5)])
    check(lambda x: F.normalize(x, p=1.0, dim=0), shapes=[(3, 5)])


# -- Embedding --------------------------------------------------------------------------------
def test_embedding_matches_torch_with_repeated_indices():
    idx = np.array([[0, 2, 2, 4], [4, 4, 1, 0]], dtype=np.int64)
    run_pair(nn.Embedding(6, 3), dnn.Embedding(6, 3), [idx], int_inputs=True)


def test_embedding_padding_idx_gets_no_gradient_like_torch():
    idx = np.array([[0, 2, 2, 1], [1, 1, 3, 0]], dtype=np.int64)
    t = nn.Embedding(5, 3, padding_idx=1)
    d = dnn.Embedding(5, 3, padding_idx=1)
    assert not d.weight.detach().numpy()[1].any()
    run_pair(t, d, [idx], int_inputs=True)
    assert not d.weight.grad.numpy()[1].any()


def test_embedding_scale_grad_by_freq_matches_torch():
    idx = np.array([0, 2, 2, 2, 3], dtype=np.int64)
    run_pair(nn.Embedding(4, 2, scale_grad_by_freq=True),
             dnn.Embedding(4, 2, scale_grad_by_freq=True), [idx], int_inputs=True)


def test_embedding_max_norm_renormalises_rows_like_torch():
    idx = np.array([0, 1, 1], dtype=np.int64)
    t = nn.Embedding(3, 4, max_norm=1.0)
    d = dnn.Embedding(3, 4, max_norm=1.0)
    run_pair(t, d, [idx], int_inputs=True)
    assert_close(d.weight.detach(), t.weight.detach(), 1e-5, 1e-4, "renormalised weight")


def test_embedding_from_pretrained_matches_torch():
    w = randn(4, 3)
    t = nn.Embedding.from_pretrained(torch.tensor(w))
    d = dnn.Embedding.from_pretrained(dlbasic.tensor(w))
    assert d.weight.requires_grad is False
    idx = np.array([3, 0], dtype=np.int64)
    assert_close(d(dlbasic.tensor(idx)), t(torch.tensor(idx)), 0, 0, "lookup")
    d2 = dnn.Embedding.from_pretrained(dlbasic.tensor(w), freeze=False, padding_idx=0)
    assert d2.weight.requires_grad and d2.padding_idx == 0


def test_embedding_bad_indices_raise_like_torch():
    w = randn(4, 3)
    check_raises(lambda i, w: F.embedding(i, w), inputs=[np.array([4]), w])
    check_raises(lambda i, w: F.embedding(i, w), inputs=[np.array([-1]), w])
    check_raises(lambda i, w: F.embedding(i, w), inputs=[np.array([1.0], np.float32), w])


def test_one_hot_matches_torch():
    idx = np.array([[0, 3], [2, 1]], dtype=np.int64)
    check(lambda i: F.one_hot(i), inputs=[idx], grad=False)
    check(lambda i: F.one_hot(i, 6), inputs=[idx], grad=False)
    check_raises(lambda i: F.one_hot(i, 2), inputs=[idx])
    check_raises(lambda i: F.one_hot(i), inputs=[np.array([-1])])


# -- Dropout ----------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_statistics_match_torch(p):
    x = np.ones((200, 250), dtype=np.float32)
    t_out = nn.Dropout(p)(torch.tensor(x)).numpy()
    d_out = dnn.Dropout(p)(dlbasic.tensor(x)).numpy()
    for out in (t_out, d_out):
        zero_frac = (out == 0).mean()
        assert abs(zero_frac - p) < 0.01
        np.testing.assert_allclose(out[out != 0], 1 / (1 - p), rtol=1e-6)


def test_dropout_backward_uses_the_same_mask_and_scale():
    x = dlbasic.ones(50, 40, requires_grad=True)
    y = dnn.Dropout(0.3)(x)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.detach().numpy())
    assert y.grad_fn.name() == "NativeDropoutBackward0"


def test_dropout_eval_and_p0_are_identity_like_torch():
    x = dlbasic.randn(4, 5)
    m = dnn.Dropout(0.5).eval()
    assert m(x) is x or np.array_equal(m(x).numpy(), x.numpy())
    assert np.array_equal(dnn.Dropout(0.0)(x).numpy(), x.numpy())
    assert not dnn.Dropout(1.0)(x).numpy().any()
    t = nn.Dropout(1.0)(torch.ones(3))
    assert not t.numpy().any()


def test_dropout_bad_p_message_matches_torch():
    with pytest.raises(ValueError) as t_exc:
        nn.Dropout(1.5)
    with pytest.raises(ValueError) as d_exc:
        dnn.Dropout(1.5)
    assert str(d_exc.value) == str(t_exc.value) == \
        "dropout probability has to be between 0 and 1, but got 1.5"
    check_raises(lambda x: F.dropout(x, -0.1), shapes=[(2,)])
    check_raises(lambda x: F.dropout2d(x, 2.0), shapes=[(2, 2, 2, 2)])


def test_dropout_inplace_modifies_the_input():
    x = dlbasic.ones(100, 10)
    y = dnn.Dropout(0.5, inplace=True)(x)
    assert y is x
    assert (x.numpy() == 0).any() and (x.numpy() == 2).any()


def test_dropout2d_zeroes_whole_channels_with_torch_statistics():
    p = 0.4
    x = np.ones((64, 32, 3, 3), dtype=np.float32)
    for out in (nn.Dropout2d(p)(torch.tensor(x)).numpy(),
                dnn.Dropout2d(p)(dlbasic.tensor(x)).numpy()):
        per_channel = out.reshape(64, 32, 9)
        assert (per_channel.min(-1) == per_channel.max(-1)).all()   # whole channels
        zero_frac = (per_channel[..., 0] == 0).mean()
        assert abs(zero_frac - p) < 0.05
        np.testing.assert_allclose(out[out != 0], 1 / (1 - p), rtol=1e-6)
    d = dnn.Dropout2d(p).eval()
    xd = dlbasic.tensor(x)
    assert np.array_equal(d(xd).numpy(), x)


def test_dropout2d_grad_matches_mask():
    x = dlbasic.randn(4, 6, 2, 2, requires_grad=True)
    y = dF.dropout2d(x, 0.5)
    y.sum().backward()
    kept = y.detach().numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, 2.0, 0.0))


# -- default initialisation follows torch's distributions ---------------------------------------
def _stats(a):
    a = np.asarray(a, dtype=np.float64)
    return np.percentile(a, 1), np.percentile(a, 99), a.mean(), a.std()


@pytest.mark.parametrize("make", [
    lambda lib: lib.nn.Linear(256, 300),
    lambda lib: lib.nn.Bilinear(40, 30, 50),
    lambda lib: lib.nn.Embedding(500, 64),
    lambda lib: lib.nn.LayerNorm((4, 5)),
])
def test_default_init_distribution_matches_torch(make):
    torch.manual_seed(0)
    t, d = make(torch), make(dlbasic)
    for (tn, tp), (dn, dp) in zip(t.named_parameters(), d.named_parameters()):
        assert tn == dn and tuple(tp.shape) == tuple(dp.shape)
        assert str(tp.dtype).split(".")[-1] == dp.dtype.name
        ts, ds = _stats(tp.detach().numpy()), _stats(dp.detach().numpy())
        spread = max(ts[3], 1e-3)
        n = tp.numel()
        # sampling error: ~std/sqrt(n) for the mean, ~std/sqrt(2n) for the std; tails vary more
        tols = {"q01": 0.15, "q99": 0.15, "mean": 6 / np.sqrt(n), "std": 6 / np.sqrt(2 * n)}
        for what, a, b in zip(("q01", "q99", "mean", "std"), ds, ts):
            assert abs(a - b) <= tols[what] * spread, \
                f"{tn} {what}: {a} (dlbasic) vs {b} (torch)"


def test_factory_kwargs_dtype_and_device():
    m = dnn.Linear(3, 2, dtype=dlbasic.float64, device="cpu")
    assert m.weight.dtype == dlbasic.float64 and m.bias.dtype == dlbasic.float64
    t = nn.Linear(3, 2, dtype=torch.float64)
    _, out = run_pair(t, m, [randn(4, 3).astype(np.float64)])
    assert out.dtype == dlbasic.float64
    with pytest.raises(RuntimeError):
        dnn.Linear(3, 2, device="cuda")
    assert dnn.LayerNorm(3, dtype=dlbasic.float64).weight.dtype == dlbasic.float64
    assert dnn.Embedding(3, 2, dtype=dlbasic.float64).weight.dtype == dlbasic.float64
