"""nn.TransformerEncoderLayer / TransformerEncoder / TransformerDecoderLayer /
TransformerDecoder / Transformer against torch: state_dict layout, torch's weights loaded
strict, values and gradients (eval mode or dropout 0) with every mask, both norm placements
and batch layouts, dropout in training, torch's fast path, errors."""
import copy
import warnings

import numpy as np
import pytest

from tests.parity.harness import assert_close, assert_same_error, to_dlbasic_state, torch
from tests.parity.test_attention import FWD, GRAD, randn, run_module_pair

import dlbasic
import dlbasic.nn as dnn

nn = torch.nn

D, H, FF = 8, 2, 16


def pair(cls_name, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # torch's enable_nested_tensor notice
        torch.manual_seed(0)
        t = getattr(nn, cls_name)(*args, **kwargs)
        d = getattr(dnn, cls_name)(*args, **kwargs)
    return t, d


def seq(N, L, batch_first, seed=0):
    return randn(N, L, D, seed=seed) if batch_first else randn(L, N, D, seed=seed)


def causal(n):
    return np.triu(np.full((n, n), -np.inf, np.float32), 1)


def padding(N, L, seed=0):
    m = np.zeros((N, L), bool)
    m[0, L - 2:] = True                 # right-padded, as a batch of unequal sequences is
    m[-1, L - 1:] = True
    return m


# -- layout ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cls_name, args, kwargs", [
    ("TransformerEncoderLayer", (D, H, FF), {}),
    ("TransformerEncoderLayer", (D, H, FF), dict(bias=False, norm_first=True)),
    ("TransformerDecoderLayer", (D, H, FF), {}),
    ("Transformer", (D, H, 2, 1, FF), {}),
    ("Transformer", (D, H, 1, 2, FF), dict(bias=False)),
])
def test_state_dict_keys_and_shapes_equal_torchs(cls_name, args, kwargs):
    t, d = pair(cls_name, *args, **kwargs)
    t_sd, d_sd = t.state_dict(), d.state_dict()
    assert list(d_sd) == list(t_sd)
    for k in t_sd:
        assert tuple(d_sd[k].shape) == tuple(t_sd[k].shape), k


def test_encoder_state_dict_keys_and_deep_copied_layers():
    t_layer, d_layer = pair("TransformerEncoderLayer", D, H, FF)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = nn.TransformerEncoder(t_layer, 3, norm=nn.LayerNorm(D))
        d = dnn.TransformerEncoder(d_layer, 3, norm=dnn.LayerNorm(D))
    assert list(d.state_dict()) == list(t.state_dict())
    assert d.layers[0] is not d_layer and d.layers[0] is not d.layers[1]
    assert d.layers[0].linear1.weight is not d.layers[1].linear1.weight
    np.testing.assert_array_equal(d.layers[2].linear1.weight.detach().numpy(),
                                  d_layer.linear1.weight.detach().numpy())
    assert len(list(d.parameters())) == len(list(t.parameters()))


def test_encoder_warns_like_torch_when_nested_tensors_cannot_be_used():
    layer = dnn.TransformerEncoderLayer(D, H, FF, norm_first=True)
    with pytest.warns(UserWarning, match="enable_nested_tensor is True, but "
                                         "self.use_nested_tensor is False because "
                                         "encoder_layer.norm_first was True"):
        enc = dnn.TransformerEncoder(layer, 2)
    assert enc.use_nested_tensor is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dnn.TransformerEncoder(dnn.TransformerEncoderLayer(D, H, FF, batch_first=True), 2)


def test_generate_square_subsequent_mask_equals_torchs():
    t = nn.Transformer.generate_square_subsequent_mask(5)
    d = dnn.Transformer.generate_square_subsequent_mask(5)
    assert d.dtype == dlbasic.float32 and tuple(d.shape) == (5, 5)
    np.testing.assert_array_equal(d.numpy(), t.numpy())
    d64 = dnn.Transformer.generate_square_subsequent_mask(3, dtype=dlbasic.float64)
    assert d64.dtype == dlbasic.float64
    assert np.isneginf(d64.numpy()[0, 1]) and d64.numpy()[1, 0] == 0


# -- encoder layer ----------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["relu", "gelu", "callable"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_values_and_gradients(norm_first, batch_first, activation):
    act = {"relu": "relu", "gelu": "gelu"}.get(activation)
    t, d = pair("TransformerEncoderLayer", D, H, FF, dropout=0.1, norm_first=norm_first,
                batch_first=batch_first, activation=act or torch.tanh)
    if act is None:
        d.activation = dlbasic.tanh
    run_module_pair(t, d, [seq(3, 5, batch_first)])         # eval mode: dropout off


@pytest.mark.parametrize("mask_kind", ["causal_float", "bool", "kpm", "kpm_float", "both",
                                       "is_causal"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_masks(mask_kind, norm_first):
    t, d = pair("TransformerEncoderLayer", D, H, FF, dropout=0.0, batch_first=True,
                norm_first=norm_first)
    am_bool = np.triu(np.ones((5, 5), bool), 1)
    kpm = padding(3, 5)
    arrays, names = [seq(3, 5, True)], []
    extra = {}
    if mask_kind in ("causal_float", "is_causal"):
        arrays.append(causal(5))
        names.append("src_mask")
    if mask_kind in ("bool", "both"):
        arrays.append(am_bool)
        names.append("src_mask")
    if mask_kind in ("kpm", "both"):
        arrays.append(kpm)
        names.append("src_key_padding_mask")
    if mask_kind == "kpm_float":
        arrays.append(np.where(kpm, -np.inf, 0).astype(np.float32))
        names.append("src_key_padding_mask")
    if mask_kind == "is_causal":
        extra = dict(is_causal=True)
    grads = [True] + [False] * len(names)
    # train mode (dropout 0): torch's inference fast path stays off
    run_module_pair(t, d, arrays, grad_inputs=grads, train=True, call=lambda m, xs: m(
        xs[0], **dict(zip(names, xs[1:])), **extra))


def test_encoder_layer_unbatched_input():
    t, d = pair("TransformerEncoderLayer", D, H, FF, dropout=0.0)
    run_module_pair(t, d, [randn(5, D), causal(5)], grad_inputs=[True, False],
                    call=lambda m, xs: m(xs[0], src_mask=xs[1]))


def test_encoder_layer_dropout_in_training_drops_and_eval_is_deterministic():
    d = dnn.TransformerEncoderLayer(D, H, FF, dropout=0.5)
    x = dlbasic.tensor(seq(3, 5, False))
    d.train()
    dlbasic.manual_seed(0)
    a = d(x).detach().numpy()
    dlbasic.manual_seed(0)
    b = d(x).detach().numpy()
    dlbasic.manual_seed(1)
    c = d(x).detach().numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    d.eval()
    np.testing.assert_array_equal(d(x).detach().numpy(), d(x).detach().numpy())
    # in eval the layer is the deterministic function torch computes
    t, _ = pair("TransformerEncoderLayer", D, H, FF, dropout=0.5)
    d.load_state_dict(to_dlbasic_state(t), strict=True)
    t.eval()
    with torch.no_grad():
        t_out = t(torch.tensor(x.numpy()))
    assert_close(d(x), t_out, **FWD)


# -- encoder ------------------------------------------------------------------------------
def _encoder_pair(norm_first=False, batch_first=True, num_layers=2):
    t_layer, d_layer = pair("TransformerEncoderLayer", D, H, FF, dropout=0.0,
                            batch_first=batch_first, norm_first=norm_first)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = nn.TransformerEncoder(t_layer, num_layers, norm=nn.LayerNorm(D))
        d = dnn.TransformerEncoder(d_layer, num_layers, norm=dnn.LayerNorm(D))
    return t, d


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("masks", ["none", "causal", "causal_hint", "kpm"])
def test_encoder_values_and_gradients(norm_first, masks):
    t, d = _encoder_pair(norm_first)
    arrays, grads = [seq(3, 6, True)], [True]
    if masks in ("causal", "causal_hint"):
        arrays.append(causal(6))
    if masks == "kpm":
        arrays.append(padding(3, 6))
    grads += [False] * (len(arrays) - 1)

    def call(m, xs):
        if masks == "causal":
            return m(xs[0], mask=xs[1])
        if masks == "causal_hint":
            return m(xs[0], mask=xs[1], is_causal=True)
        if masks == "kpm":
            return m(xs[0], src_key_padding_mask=xs[1])
        return m(xs[0])
    run_module_pair(t, d, arrays, grad_inputs=grads, call=call)


def test_encoder_eval_no_grad_fast_path_agrees_except_torchs_zeros_at_padding():
    """torch's eval-mode, no-grad encoder packs the batch into a nested tensor, so padded
    positions come back as zeros (then through the final norm).  dlbasic computes them like
    every other position; the positions that are not padding agree."""
    t, d = _encoder_pair(num_layers=2)
    t.norm = None
    d.norm = None
    d.load_state_dict(to_dlbasic_state(t), strict=True)
    t.eval()
    d.eval()
    x, kpm = seq(3, 6, True), padding(3, 6)
    with torch.no_grad():
        t_out = t(torch.tensor(x), src_key_padding_mask=torch.tensor(kpm)).numpy()
    with dlbasic.no_grad():
        d_out = d(dlbasic.tensor(x), src_key_padding_mask=dlbasic.tensor(kpm)).numpy()
    assert np.all(t_out[kpm] == 0)                       # torch's nested-tensor padding
    np.testing.assert_allclose(d_out[~kpm], t_out[~kpm], **FWD)
    with torch.no_grad():                                # and with no padding, everywhere
        t_all = t(torch.tensor(x)).numpy()
    with dlbasic.no_grad():
        d_all = d(dlbasic.tensor(x)).numpy()
    np.testing.assert_allclose(d_all, t_all, **FWD)


def test_encoder_layer_eval_no_grad_agrees_with_torchs_fused_layer():
    t, d = pair("TransformerEncoderLayer", D, H, FF, batch_first=True)
    d.load_state_dict(to_dlbasic_state(t), strict=True)
    t.eval()
    d.eval()
    x = seq(3, 5, True)
    with torch.no_grad():
        t_out = t(torch.tensor(x), src_mask=torch.tensor(causal(5)))
    with dlbasic.no_grad():
        d_out = d(dlbasic.tensor(x), src_mask=dlbasic.tensor(causal(5)))
    assert_close(d_out, t_out, **FWD)


# -- decoder ----------------------------------------------------------------------------
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_values_and_gradients_with_masks(norm_first, batch_first):
    t, d = pair("TransformerDecoderLayer", D, H, FF, dropout=0.1, norm_first=norm_first,
                batch_first=batch_first)
    arrays = [seq(3, 4, batch_first), seq(3, 6, batch_first, seed=1),
              np.triu(np.ones((4, 4), bool), 1), padding(3, 4), padding(3, 6, seed=1)]
    run_module_pair(t, d, arrays, grad_inputs=[True, True, False, False, False],
                    call=lambda m, xs: m(xs[0], xs[1], tgt_mask=xs[2],
                                         tgt_key_padding_mask=xs[3],
                                         memory_key_padding_mask=xs[4]))


def test_decoder_layer_memory_mask_and_causal_hint():
    t, d = pair("TransformerDecoderLayer", D, H, FF, dropout=0.0, activation="gelu")
    mem_mask = np.zeros((4, 6), bool)
    mem_mask[:, 4:] = True
    run_module_pair(t, d, [seq(2, 4, False), seq(2, 6, False, seed=1), causal(4), mem_mask],
                    grad_inputs=[True, True, False, False], train=True,
                    call=lambda m, xs: m(xs[0], xs[1], tgt_mask=xs[2], memory_mask=xs[3],
                                         tgt_is_causal=True))


def test_decoder_stack_values_and_gradients():
    t_layer, d_layer = pair("TransformerDecoderLayer", D, H, FF, dropout=0.0)
    t = nn.TransformerDecoder(t_layer, 2, norm=nn.LayerNorm(D))
    d = dnn.TransformerDecoder(d_layer, 2, norm=dnn.LayerNorm(D))
    assert list(d.state_dict()) == list(t.state_dict())
    run_module_pair(t, d, [seq(2, 4, False), seq(2, 6, False, seed=1), causal(4)],
                    grad_inputs=[True, True, False],
                    call=lambda m, xs: m(xs[0], xs[1], tgt_mask=xs[2]))


# -- Transformer ----------------------------------------------------------------------------
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_torch_state_dict_loads_strict_values_and_gradients(norm_first,
                                                                         batch_first):
    t, d = pair("Transformer", D, H, 2, 2, FF, dropout=0.1, norm_first=norm_first,
                batch_first=batch_first)
    src, tgt = seq(3, 6, batch_first), seq(3, 4, batch_first, seed=1)
    arrays = [src, tgt, causal(4), padding(3, 6), padding(3, 6)]
    run_module_pair(t, d, arrays, grad_inputs=[True, True, False, False, False],
                    call=lambda m, xs: m(xs[0], xs[1], tgt_mask=xs[2],
                                         src_key_padding_mask=xs[3],
                                         memory_key_padding_mask=xs[4]))


def test_transformer_init_is_xavier_uniform_for_matrices():
    d = dnn.Transformer(16, 2, 1, 1, 32, batch_first=True)
    w = d.encoder.layers[0].linear1.weight.detach().numpy()         # (32, 16)
    bound = np.sqrt(6 / (16 + 32))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    ow = d.decoder.layers[0].self_attn.out_proj.weight.detach().numpy()
    assert np.abs(ow).max() <= np.sqrt(6 / 32)
    assert np.all(d.encoder.norm.weight.detach().numpy() == 1)


def test_transformer_defaults_match_torchs():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t, d = nn.Transformer(), dnn.Transformer()
    assert (d.d_model, d.nhead, len(d.encoder.layers), len(d.decoder.layers)) == \
        (t.d_model, t.nhead, len(t.encoder.layers), len(t.decoder.layers))
    layer = d.encoder.layers[0]
    assert layer.linear1.out_features == 2048 and layer.dropout.p == 0.1
    assert layer.norm1.eps == 1e-5 and layer.self_attn.batch_first is False
    assert list(d.state_dict()) == list(t.state_dict())


def test_transformer_errors_match_torchs():
    t, d = pair("Transformer", D, H, 1, 1, FF)
    assert_same_error(lambda: t(torch.zeros(5, 2, D), torch.zeros(4, 3, D)),
                      lambda: d(dlbasic.zeros(5, 2, D), dlbasic.zeros(4, 3, D)))
    assert_same_error(lambda: t(torch.zeros(5, 2, D), torch.zeros(4, 2, D + 1)),
                      lambda: d(dlbasic.zeros(5, 2, D), dlbasic.zeros(4, 2, D + 1)))
    assert_same_error(lambda: nn.TransformerEncoderLayer(D, H, activation="tanh"),
                      lambda: dnn.TransformerEncoderLayer(D, H, activation="tanh"))


def test_deepcopy_of_a_layer_is_independent():
    d = dnn.TransformerEncoderLayer(D, H, FF)
    c = copy.deepcopy(d)
    with dlbasic.no_grad():
        c.linear1.weight.add_(1.0)
    assert not np.allclose(c.linear1.weight.detach().numpy(), d.linear1.weight.detach().numpy())
    assert c.activation is d.activation


def test_printed_modules_equal_torchs():
    for args in [("TransformerEncoderLayer", D, H, FF), ("Transformer", D, H, 1, 1, FF)]:
        t, d = pair(*args)
        assert str(d) == str(t)
