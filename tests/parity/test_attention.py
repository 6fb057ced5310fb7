"""F.scaled_dot_product_attention, F.multi_head_attention_forward and nn.MultiheadAttention
against torch: values and gradients for every mask kind, batch layouts, kdim/vdim, the
attention weights, dropout, torch's errors, state_dict layout and float64 gradchecks."""
import math
import warnings

import numpy as np
import pytest

from tests.parity.harness import (assert_close, assert_same_error, check, to_dlbasic_state,
                                  torch)

import dlbasic
import dlbasic.nn as dnn
from dlbasic.autograd import gradcheck

F = torch.nn.functional
nn = torch.nn
dF = dlbasic.nn.functional

FWD = dict(atol=1e-5, rtol=1e-4)
GRAD = dict(atol=1e-4, rtol=1e-3)


def randn(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def bool_mask(shape, seed=0, keep_first=True):
    m = np.random.default_rng(seed).random(shape) > 0.4
    if keep_first:
        m[..., 0] = True
    return m


# -- scaled_dot_product_attention: values and gradients ------------------------------------
SDPA_CASES = {
    "4d": ((2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6), {}),
    "3d": ((3, 4, 8), (3, 6, 8), (3, 6, 5), {}),
    "2d": ((4, 8), (5, 8), (5, 3), {}),
    "broadcast_kv_batch": ((2, 3, 4, 8), (1, 3, 5, 8), (2, 1, 5, 6), {}),
    "causal_square": ((2, 2, 5, 4), (2, 2, 5, 4), (2, 2, 5, 4), dict(is_causal=True)),
    "causal_more_queries": ((2, 6, 4), (2, 3, 4), (2, 3, 4), dict(is_causal=True)),
    "causal_more_keys": ((2, 3, 4), (2, 6, 4), (2, 6, 4), dict(is_causal=True)),
    "scale": ((2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6), dict(scale=0.3)),
}


@pytest.mark.parametrize("case", list(SDPA_CASES))
def test_sdpa_values_and_gradients_equal_torchs(case):
    qs, ks, vs, kw = SDPA_CASES[case]
    out_shape = np.broadcast_shapes(qs[:-2], ks[:-2], vs[:-2]) + (qs[-2], vs[-1])
    w = randn(*out_shape, seed=9)
    check(lambda q, k, v, w: F.scaled_dot_product_attention(q, k, v, **kw) * w,
          inputs=[randn(*qs), randn(*ks, seed=1), randn(*vs, seed=2), w],
          requires_grad=[True, True, True, False], **FWD, grad_atol=1e-4, grad_rtol=1e-3)


@pytest.mark.parametrize("mask_shape", [(4, 5), (1, 5), (3, 4, 5), (2, 3, 4, 5), (2, 1, 4, 5)])
def test_sdpa_bool_mask_true_takes_part_and_broadcasts(mask_shape):
    m = bool_mask(mask_shape)
    check(lambda q, k, v, m, w: F.scaled_dot_product_attention(q, k, v, attn_mask=m) * w,
          inputs=[randn(2, 3, 4, 8), randn(2, 3, 5, 8, seed=1), randn(2, 3, 5, 6, seed=2), m,
                  randn(2, 3, 4, 6, seed=3)],
          requires_grad=[True, True, True, False, False], **FWD)


@pytest.mark.parametrize("mask_shape", [(4, 5), (3, 1, 5), (2, 3, 4, 5)])
def test_sdpa_float_mask_is_added_and_gets_its_gradient(mask_shape):
    check(lambda q, k, v, m, w: F.scaled_dot_product_attention(q, k, v, attn_mask=m) * w,
          inputs=[randn(2, 3, 4, 8), randn(2, 3, 5, 8, seed=1), randn(2, 3, 5, 6, seed=2),
                  randn(*mask_shape, seed=4), randn(2, 3, 4, 6, seed=3)],
          requires_grad=[True, True, True, True, False], **FWD)


def test_sdpa_float64_and_a_float32_mask_with_float64_query():
    check(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
          inputs=[randn(2, 4, 8, dtype=np.float64), randn(2, 5, 8, seed=1, dtype=np.float64),
                  randn(2, 5, 3, seed=2, dtype=np.float64), randn(4, 5, seed=4)],
          requires_grad=[True, True, True, False], **FWD)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_sdpa_fully_masked_row_gives_zeros_and_no_gradient(kind):
    m = np.ones((4, 5), bool)
    m[1] = False
    mask = m if kind == "bool" else np.where(m, 0.0, -np.inf).astype(np.float32)
    t_out, d_out = check(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v,
                                                                           attn_mask=m),
                         inputs=[randn(2, 4, 8), randn(2, 5, 8, seed=1), randn(2, 5, 3, seed=2),
                                 mask], requires_grad=[True, True, True, False], **FWD)
    assert np.all(d_out.detach().numpy()[:, 1] == 0)
    assert np.isfinite(d_out.detach().numpy()).all()


def test_sdpa_grouped_query_attention_repeats_key_value_heads():
    check(lambda q, k, v, w: F.scaled_dot_product_attention(q, k, v, enable_gqa=True) * w,
          inputs=[randn(2, 4, 3, 8), randn(2, 2, 5, 8, seed=1), randn(2, 1, 5, 6, seed=2),
                  randn(2, 4, 3, 6, seed=3)], requires_grad=[True, True, True, False], **FWD)


def test_sdpa_default_scale_is_one_over_sqrt_of_the_query_size():
    q, k, v = (dlbasic.tensor(randn(2, 4, 9, seed=s)) for s in range(3))
    a = dF.scaled_dot_product_attention(q, k, v)
    b = dF.scaled_dot_product_attention(q, k, v, scale=1 / 3)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.grad_fn is None
    # torch's name for its CPU kernel's node (4-D inputs without a mask take that kernel)
    q4 = dlbasic.randn(1, 2, 4, 9, requires_grad=True)
    assert dF.scaled_dot_product_attention(q4, q4, q4).grad_fn.name() == \
        F.scaled_dot_product_attention(*[torch.randn(1, 2, 4, 9, requires_grad=True)] * 3
                                       ).grad_fn.name()


# -- dropout ----------------------------------------------------------------------------------
def test_sdpa_dropout_drops_weights_and_rescales_the_rest():
    """Equal scores (q = 0) give weights 1/S; with v = I the output row is the weight row, so
    every entry is 0 (dropped) or 1/(S(1-p))."""
    S, p = 8, 0.25
    q = dlbasic.zeros(4, 64, 3)
    k = dlbasic.tensor(randn(4, S, 3))
    v = dlbasic.tensor(np.broadcast_to(np.eye(S, dtype=np.float32), (4, S, S)).copy())
    dlbasic.manual_seed(0)
    out = dF.scaled_dot_product_attention(q, k, v, dropout_p=p).numpy()
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / (S * (1 - p)), rtol=1e-6)
    assert abs((~kept).mean() - p) < 0.04
    assert abs(out.sum(-1).mean() - 1.0) < 0.04             # E[y] = the undropped output
    dlbasic.manual_seed(0)
    again = dF.scaled_dot_product_attention(q, k, v, dropout_p=p).numpy()
    np.testing.assert_array_equal(out, again)                # the seed fixes the mask
    np.testing.assert_array_equal(dF.scaled_dot_product_attention(q, k, v,
                                                                  dropout_p=1.0).numpy(), 0)


def test_sdpa_dropout_gradient_uses_the_same_mask():
    def f(q, k, v):
        dlbasic.manual_seed(3)
        return dF.scaled_dot_product_attention(q, k, v, dropout_p=0.3)
    args = [dlbasic.tensor(randn(2, 3, 4, seed=s, dtype=np.float64), requires_grad=True)
            for s in range(3)]
    assert gradcheck(f, args)


# -- gradchecks -----------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{}, dict(is_causal=True), dict(scale=0.7)])
def test_sdpa_gradcheck_float64(kw):
    args = [dlbasic.tensor(randn(2, 3, 4, 5, seed=s, dtype=np.float64), requires_grad=True)
            for s in range(3)]
    assert gradcheck(lambda q, k, v: dF.scaled_dot_product_attention(q, k, v, **kw), args)


def test_sdpa_gradcheck_float64_with_float_mask_and_broadcast_key():
    q = dlbasic.tensor(randn(2, 3, 4, 5, dtype=np.float64), requires_grad=True)
    k = dlbasic.tensor(randn(1, 3, 6, 5, seed=1, dtype=np.float64), requires_grad=True)
    v = dlbasic.tensor(randn(2, 1, 6, 2, seed=2, dtype=np.float64), requires_grad=True)
    m = dlbasic.tensor(randn(4, 6, seed=3, dtype=np.float64), requires_grad=True)
    assert gradcheck(lambda q, k, v, m: dF.scaled_dot_product_attention(q, k, v, attn_mask=m),
                     [q, k, v, m])


# -- errors ---------------------------------------------------------------------------------
def _sdpa_pair(shapes, dtypes=None, **kw):
    dtypes = dtypes or ["float32"] * len(shapes)
    arrays = [np.ones(s, dtype=d) if d == "bool" else randn(*s).astype(d)
              for s, d in zip(shapes, dtypes)]
    names = ["query", "key", "value", "attn_mask"]

    def call(lib, fn):
        t = [lib.tensor(a) for a in arrays]
        return lambda: fn(*t[:3], **dict(zip(names[3:], t[3:])), **kw)
    return (call(torch, F.scaled_dot_product_attention),
            call(dlbasic, dF.scaled_dot_product_attention))


@pytest.mark.parametrize("shapes, dtypes, kw", [
    ([(2, 4, 8), (2, 5, 8), (2, 5, 6), (4, 5)], ["float32"] * 3 + ["bool"],
     dict(is_causal=True)),
    ([(2, 4, 8), (2, 5, 8), (2, 5, 6), (4, 5)], ["float32"] * 3 + ["int64"], {}),
    ([(2, 4, 8), (2, 5, 8), (2, 5, 6), (4, 5)], ["float32"] * 3 + ["float64"], {}),
    ([(2, 4, 8), (2, 5, 8), (2, 5, 6), (4, 6)], None, {}),
    ([(2, 4, 8), (2, 5, 8), (2, 5, 6), (7, 2, 4, 5)], None, {}),
    ([(2, 4, 8), (2, 5, 7), (2, 5, 6)], None, {}),
    ([(2, 4, 8), (2, 5, 8), (2, 4, 6)], None, {}),
    ([(3, 4, 8), (2, 5, 8), (2, 5, 6)], None, {}),
    ([(4,), (5,), (5,)], None, {}),
    ([(2, 4, 8), (2, 5, 8), (2, 5, 6)], ["float64", "float32", "float32"], {}),
    ([(2, 4, 8), (2, 5, 8), (2, 5, 6)], None, dict(dropout_p=1.5)),
    ([(2, 4, 8), (2, 5, 7), (2, 5, 6)], None, dict(dropout_p=2.0)),
    ([(2, 4, 8), (2, 5, 7), (2, 5, 6), (4, 5)], ["float32"] * 3 + ["bool"],
     dict(is_causal=True)),
    ([(2, 3, 4, 8), (2, 2, 5, 8), (2, 2, 5, 6)], None, dict(enable_gqa=True)),
])
def test_sdpa_errors_match_torchs(shapes, dtypes, kw):
    t_call, d_call = _sdpa_pair(shapes, dtypes, **kw)
    assert_same_error(t_call, d_call)


# -- MultiheadAttention ---------------------------------------------------------------------
def _weighted_loss(outs, rng, lib):
    loss = 0
    for o in outs:
        if o is None:
            continue
        w = rng.standard_normal(tuple(o.shape)).astype(np.float32)
        loss = loss + (o * lib.tensor(w)).sum()
    return loss


def _as_list(out):
    return list(out) if isinstance(out, tuple) else [out]


def run_module_pair(t_mod, d_mod, arrays, call=None, train=False, fwd=FWD, grad=GRAD,
                    grad_inputs=None):
    """Load torch's state_dict into ours (strict), run both on the same leaves, and compare
    every output, the input gradients and every parameter's gradient of a random weighting
    of the outputs.  ``call(mod, tensors)`` runs the module (default: ``mod(*tensors)``)."""
    result = d_mod.load_state_dict(to_dlbasic_state(t_mod), strict=True)
    assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []
    t_mod.train(train)
    d_mod.train(train)
    call = call or (lambda mod, xs: mod(*xs))
    grad_inputs = grad_inputs if grad_inputs is not None else \
        [a.dtype.kind == "f" for a in arrays]
    t_in = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grad_inputs)]
    d_in = [dlbasic.tensor(a, requires_grad=g) for a, g in zip(arrays, grad_inputs)]
    t_out, d_out = _as_list(call(t_mod, t_in)), _as_list(call(d_mod, d_in))
    assert len(t_out) == len(d_out)
    for i, (t, d) in enumerate(zip(t_out, d_out)):
        if t is None:
            assert d is None, f"output {i}: expected None"
            continue
        assert tuple(d.shape) == tuple(t.shape), f"output {i}: {d.shape} != {t.shape}"
        assert_close(d, t, what=f"output {i}", **fwd)
    _weighted_loss(t_out, np.random.default_rng(7), torch).backward()
    _weighted_loss(d_out, np.random.default_rng(7), dlbasic).backward()
    for i, (t, d) in enumerate(zip(t_in, d_in)):
        if t.requires_grad:
            assert_close(d.grad, t.grad, what=f"grad of input {i}", **grad)
    t_params, d_params = dict(t_mod.named_parameters()), dict(d_mod.named_parameters())
    assert list(d_params) == list(t_params)
    for name, tp in t_params.items():
        if tp.grad is None:
            assert d_params[name].grad is None, name
            continue
        assert_close(d_params[name].grad, tp.grad, what=f"grad of {name}", **grad)
    return t_out, d_out


def mha_pair(*args, **kwargs):
    torch.manual_seed(0)
    return nn.MultiheadAttention(*args, **kwargs), dnn.MultiheadAttention(*args, **kwargs)


MHA_CONFIGS = {
    "default": {},
    "batch_first": dict(batch_first=True),
    "no_bias": dict(bias=False),
    "kdim_vdim": dict(kdim=5, vdim=7),
    "bias_kv_zero_attn": dict(add_bias_kv=True, add_zero_attn=True),
}


@pytest.mark.parametrize("config", list(MHA_CONFIGS))
def test_mha_state_dict_keys_and_shapes_equal_torchs(config):
    t, d = mha_pair(8, 2, **MHA_CONFIGS[config])
    t_sd, d_sd = t.state_dict(), d.state_dict()
    assert list(d_sd) == list(t_sd)
    for k in t_sd:
        assert tuple(d_sd[k].shape) == tuple(t_sd[k].shape), k
    assert type(d.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    assert isinstance(d.out_proj, dnn.Linear)


def _mha_inputs(config, L=4, S=6, N=3, E=8):
    kw = MHA_CONFIGS[config]
    bf = kw.get("batch_first", False)
    shape = (lambda n, l, e: (n, l, e)) if bf else (lambda n, l, e: (l, n, e))
    return (randn(*shape(N, L, E)), randn(*shape(N, S, kw.get("kdim", E)), seed=1),
            randn(*shape(N, S, kw.get("vdim", E)), seed=2))


@pytest.mark.parametrize("need_weights, average", [(True, True), (True, False),
                                                   (False, True)])
@pytest.mark.parametrize("config", list(MHA_CONFIGS))
def test_mha_cross_attention_values_weights_and_gradients(config, need_weights, average):
    t, d = mha_pair(8, 2, **MHA_CONFIGS[config])
    run_module_pair(t, d, _mha_inputs(config), call=lambda m, xs: m(
        *xs, need_weights=need_weights, average_attn_weights=average))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
def test_mha_self_attention_with_one_tensor(batch_first, need_weights):
    t, d = mha_pair(8, 4, batch_first=batch_first)
    run_module_pair(t, d, [randn(5, 3, 8)],
                    call=lambda m, xs: m(xs[0], xs[0], xs[0], need_weights=need_weights))


def _masks(kind, N=3, H=2, L=4, S=6):
    """(attn_mask, key_padding_mask) arrays; bool True = masked out (MHA's convention)."""
    rng = np.random.default_rng(5)
    kpm = rng.random((N, S)) > 0.7
    kpm[:, 0] = False
    am2 = rng.random((L, S)) > 0.7
    am2[:, 0] = False
    am3 = rng.random((N * H, L, S)) > 0.7
    am3[..., 0] = False

    def fl(m):
        return np.where(m, -1e9, 0).astype(np.float32) + rng.standard_normal(m.shape).astype(
            np.float32) * 0.1
    return {"kpm_bool": (None, kpm), "kpm_float": (None, fl(kpm)),
            "attn2d_bool": (am2, None), "attn2d_float": (fl(am2), None),
            "attn3d_bool": (am3, None), "attn3d_float": (fl(am3), None),
            "both_bool": (am2, kpm), "both_float": (fl(am3), fl(kpm))}[kind]


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("kind", ["kpm_bool", "kpm_float", "attn2d_bool", "attn2d_float",
                                  "attn3d_bool", "attn3d_float", "both_bool", "both_float"])
def test_mha_masks_values_and_gradients(kind, need_weights):
    am, kpm = _masks(kind)
    t, d = mha_pair(8, 2)
    arrays = list(_mha_inputs("default"))
    idx = {}
    for name, m in (("attn_mask", am), ("key_padding_mask", kpm)):
        if m is not None:
            idx[name] = len(arrays)
            arrays.append(m)
    grads = [True, True, True] + [False] * len(idx)
    run_module_pair(t, d, arrays, grad_inputs=grads, call=lambda m, xs: m(
        *xs[:3], need_weights=need_weights, **{n: xs[i] for n, i in idx.items()}))


@pytest.mark.parametrize("need_weights", [False, True])
def test_mha_is_causal_hint_with_the_causal_mask(need_weights):
    t, d = mha_pair(8, 2, batch_first=True)
    mask = np.triu(np.full((5, 5), -np.inf, np.float32), 1)
    run_module_pair(t, d, [randn(3, 5, 8), mask], grad_inputs=[True, False],
                    call=lambda m, xs: m(xs[0], xs[0], xs[0], attn_mask=xs[1], is_causal=True,
                                         need_weights=need_weights))


def test_mha_unbatched_inputs_with_masks():
    t, d = mha_pair(8, 2)
    kpm = np.array([False, False, True, False, True, False])
    am = bool_mask((2, 4, 6), seed=3, keep_first=False)
    am[..., 0] = False
    run_module_pair(t, d, [randn(4, 8), randn(6, 8, seed=1), randn(6, 8, seed=2), kpm, am],
                    grad_inputs=[True, True, True, False, False],
                    call=lambda m, xs: m(*xs[:3], key_padding_mask=xs[3], attn_mask=xs[4],
                                         average_attn_weights=False))


def test_mha_eval_without_grad_agrees_with_torchs_fast_path():
    """torch answers eval-mode, no-grad self-attention with its fused native kernel."""
    t, d = mha_pair(8, 2, batch_first=True)
    d.load_state_dict(to_dlbasic_state(t), strict=True)
    t.eval()
    d.eval()
    x = randn(3, 5, 8)
    kpm = np.zeros((3, 5), bool)
    kpm[1, 3:] = True
    with torch.no_grad():
        tx = torch.tensor(x)
        t_out, t_w = t(tx, tx, tx, key_padding_mask=torch.tensor(kpm))
    with dlbasic.no_grad():
        dx = dlbasic.tensor(x)
        d_out, d_w = d(dx, dx, dx, key_padding_mask=dlbasic.tensor(kpm))
    assert_close(d_out, t_out, **FWD)
    assert_close(d_w, t_w, **FWD)


def test_mha_dropout_in_training_only():
    t, d = mha_pair(8, 2, dropout=0.5)
    x = dlbasic.tensor(randn(4, 3, 8))
    d.train()
    dlbasic.manual_seed(0)
    a = d(x, x, x)
    dlbasic.manual_seed(1)
    b = d(x, x, x)
    assert not np.allclose(a[0].detach().numpy(), b[0].detach().numpy())
    w = a[1].detach().numpy()           # dropped weights: the rows no longer sum to 1
    assert not np.allclose(w.sum(-1), 1.0)
    fused = [d(x, x, x, need_weights=False)[0].detach().numpy() for _ in range(2)]
    assert not np.allclose(fused[0], fused[1])     # the fused op drops too
    d.eval()
    e1, e2 = d(x, x, x), d(x, x, x)
    np.testing.assert_array_equal(e1[0].detach().numpy(), e2[0].detach().numpy())
    np.testing.assert_allclose(e1[1].detach().numpy().sum(-1), 1.0, rtol=1e-5)


def test_mha_torch_state_dict_loads_strict_and_gives_equal_outputs():
    torch.manual_seed(3)
    t = nn.MultiheadAttention(12, 3, kdim=5, vdim=4, batch_first=True)
    d = dnn.MultiheadAttention(12, 3, kdim=5, vdim=4, batch_first=True)
    d.load_state_dict(to_dlbasic_state(t), strict=True)
    q, k, v = randn(2, 4, 12), randn(2, 3, 5, seed=1), randn(2, 3, 4, seed=2)
    t_out, t_w = t(torch.tensor(q), torch.tensor(k), torch.tensor(v))
    d_out, d_w = d(dlbasic.tensor(q), dlbasic.tensor(k), dlbasic.tensor(v))
    assert_close(d_out, t_out, **FWD)
    assert_close(d_w, t_w, **FWD)


def test_mha_init_is_xavier_uniform_with_zero_biases():
    d = dnn.MultiheadAttention(64, 4, add_bias_kv=True)
    bound = math.sqrt(6 / (64 + 3 * 64))                    # xavier on the (3E, E) weight
    w = d.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.all(d.in_proj_bias.detach().numpy() == 0)
    assert np.all(d.out_proj.bias.detach().numpy() == 0)
    assert d.bias_k.shape == (1, 1, 64) and np.abs(d.bias_k.detach().numpy()).max() > 0
    s = dnn.MultiheadAttention(8, 2, kdim=3)
    assert s.in_proj_weight is None and s.k_proj_weight.shape == (8, 3)
    assert np.abs(s.k_proj_weight.detach().numpy()).max() <= math.sqrt(6 / (8 + 3))


# (query, key/value, key_padding_mask, attn_mask) shapes that F.multi_head_attention_forward's
# rank check refuses; None: no mask
MHA_RANK_ERRORS = {
    "4-D query": ((2, 4, 3, 8), (2, 4, 3, 8), None, None),
    "batched query, 2-D key": ((4, 3, 8), (4, 8), None, None),
    "unbatched query, 3-D key": ((4, 8), (4, 3, 8), None, None),
    "batched query, 1-D key_padding_mask": ((4, 3, 8), (4, 3, 8), (4,), None),
    "unbatched query, 2-D key_padding_mask": ((4, 8), (4, 8), (1, 4), None),
    "batched query, 4-D attn_mask": ((4, 3, 8), (4, 3, 8), None, (1, 6, 4, 4)),
    "unbatched query, 1-D attn_mask": ((4, 8), (4, 8), None, (4,)),
    "unbatched query, 3-D attn_mask of the wrong shape": ((4, 8), (4, 8), None, (3, 4, 4)),
}


@pytest.mark.parametrize("q_shape, kv_shape, kpm_shape, mask_shape", MHA_RANK_ERRORS.values(),
                         ids=list(MHA_RANK_ERRORS))
def test_mha_rank_errors_match_torchs(q_shape, kv_shape, kpm_shape, mask_shape):
    t, d = mha_pair(8, 2)
    q, kv = randn(*q_shape), randn(*kv_shape, seed=1)

    def call(lib, module):
        kw = {}
        if kpm_shape is not None:
            kw["key_padding_mask"] = lib.tensor(np.zeros(kpm_shape, bool))
        if mask_shape is not None:
            kw["attn_mask"] = lib.tensor(np.zeros(mask_shape, bool))
        return lambda: module(lib.tensor(q), lib.tensor(kv), lib.tensor(kv), **kw)
    assert_same_error(call(torch, t), call(dlbasic, d))


def test_mha_errors_match_torchs():
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        dnn.MultiheadAttention(10, 3)
    assert_same_error(lambda: nn.MultiheadAttention(0, 2), lambda: dnn.MultiheadAttention(0, 2))
    t, d = mha_pair(8, 2)
    x = randn(4, 3, 8)
    tx, dx = torch.tensor(x), dlbasic.tensor(x)
    assert_same_error(lambda: t(tx, tx, tx, is_causal=True),
                      lambda: d(dx, dx, dx, is_causal=True))
    bad = np.zeros((4, 5), bool)
    assert_same_error(lambda: t(tx, tx, tx, attn_mask=torch.tensor(bad)),
                      lambda: d(dx, dx, dx, attn_mask=dlbasic.tensor(bad)))
    bad3 = np.zeros((5, 4, 4), bool)
    assert_same_error(lambda: t(tx, tx, tx, attn_mask=torch.tensor(bad3)),
                      lambda: d(dx, dx, dx, attn_mask=dlbasic.tensor(bad3)))
    kpm = np.zeros((3, 5), bool)
    assert_same_error(lambda: t(tx, tx, tx, key_padding_mask=torch.tensor(kpm)),
                      lambda: d(dx, dx, dx, key_padding_mask=dlbasic.tensor(kpm)))
    ikpm = np.zeros((3, 4), np.int64)
    assert_same_error(lambda: t(tx, tx, tx, key_padding_mask=torch.tensor(ikpm)),
                      lambda: d(dx, dx, dx, key_padding_mask=dlbasic.tensor(ikpm)))
    x4 = randn(1, 4, 3, 8)
    assert_same_error(lambda: t(torch.tensor(x4), tx, tx),
                      lambda: d(dlbasic.tensor(x4), dx, dx))


def test_mha_mismatched_mask_types_warn_like_torch():
    t, d = mha_pair(8, 2)
    x = randn(4, 3, 8)
    kpm = np.zeros((3, 4), bool)
    am = np.zeros((4, 4), np.float32)
    with pytest.warns(UserWarning, match="Support for mismatched key_padding_mask and "
                                         "attn_mask is deprecated"):
        dx = dlbasic.tensor(x)
        d(dx, dx, dx, key_padding_mask=dlbasic.tensor(kpm), attn_mask=dlbasic.tensor(am))


def test_multi_head_attention_forward_gradcheck_float64():
    rng = np.random.default_rng(0)
    E, H = 6, 2

    def t(*shape):
        return dlbasic.tensor(rng.standard_normal(shape) * 0.5, requires_grad=True)
    q, k = t(3, 2, E), t(4, 2, E)
    w_in, b_in, w_out, b_out = t(3 * E, E), t(3 * E), t(E, E), t(E)
    kpm = dlbasic.tensor(np.array([[False, False, True, False], [False, True, False, False]]))

    def f(q, k, w_in, b_in, w_out, b_out):
        out, w = dF.multi_head_attention_forward(
            q, k, k, E, H, w_in, b_in, None, None, False, 0.0, w_out, b_out,
            key_padding_mask=kpm, need_weights=True)
        return out, w
    assert gradcheck(f, [q, k, w_in, b_in, w_out, b_out])

    def g(q, k, w_in, b_in, w_out, b_out):
        return dF.multi_head_attention_forward(
            q, k, k, E, H, w_in, b_in, None, None, False, 0.0, w_out, b_out,
            key_padding_mask=kpm, need_weights=False)[0]
    assert gradcheck(g, [q, k, w_in, b_in, w_out, b_out])


def test_small_multihead_attention_module_gradcheck_float64():
    d = dnn.MultiheadAttention(4, 2, kdim=3, vdim=5).double()
    rng = np.random.default_rng(1)
    q = dlbasic.tensor(rng.standard_normal((3, 2, 4)), requires_grad=True)
    k = dlbasic.tensor(rng.standard_normal((5, 2, 3)), requires_grad=True)
    v = dlbasic.tensor(rng.standard_normal((5, 2, 5)), requires_grad=True)
    assert gradcheck(lambda q, k, v: d(q, k, v)[0], [q, k, v])


def test_functional_mha_forward_equals_torchs():
    rng = np.random.default_rng(2)
    E, H = 8, 4
    arrs = [rng.standard_normal(s).astype(np.float32) for s in
            [(5, 2, E), (3 * E, E), (3 * E,), (E, E), (E,)]]
    am = np.triu(np.ones((5, 5), bool), 1)

    def run(lib, fn):
        x, w_in, b_in, w_out, b_out = (lib.tensor(a) for a in arrs)
        return fn(x, x, x, E, H, w_in, b_in, None, None, False, 0.0, w_out, b_out,
                  training=False, attn_mask=lib.tensor(am), average_attn_weights=False)
    t_out, t_w = run(torch, F.multi_head_attention_forward)
    d_out, d_w = run(dlbasic, dF.multi_head_attention_forward)
    assert_close(d_out, t_out, **FWD)
    assert_close(d_w, t_w, **FWD)


def test_mha_needs_weights_is_causal_without_mask_raises_like_torch():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t, d = mha_pair(8, 2)
    x = randn(4, 3, 8)
    assert_same_error(lambda: t(torch.tensor(x), torch.tensor(x), torch.tensor(x),
                                is_causal=True, need_weights=False),
                      lambda: d(dlbasic.tensor(x), dlbasic.tensor(x), dlbasic.tensor(x),
                                is_causal=True, need_weights=False))


@pytest.mark.parametrize("need_weights", [False, True])
def test_functional_mha_static_key_and_value_equal_torchs(need_weights):
    rng = np.random.default_rng(4)
    E, H, N = 8, 2, 3
    arrs = [rng.standard_normal(s).astype(np.float32) for s in
            [(5, N, E), (3 * E, E), (3 * E,), (E, E), (E,), (N * H, 6, E // H),
             (N * H, 6, E // H)]]

    def run(lib, fn):
        x, w_in, b_in, w_out, b_out, sk, sv = (lib.tensor(a, requires_grad=True) for a in arrs)
        out, _ = fn(x, x, x, E, H, w_in, b_in, None, None, False, 0.0, w_out, b_out,
                    need_weights=need_weights, static_k=sk, static_v=sv)
        out.sum().backward()
        return out, x.grad, sk.grad, sv.grad
    for t, d in zip(run(torch, F.multi_head_attention_forward),
                    run(dlbasic, dF.multi_head_attention_forward)):
        assert_close(d, t, **FWD)
