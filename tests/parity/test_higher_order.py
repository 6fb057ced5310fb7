"""Higher-order gradients (create_graph=True) against torch: second derivatives of every
covered op, gradgradcheck in float64, WGAN-GP, a physics-informed d2u/dx2, a MAML step,
autograd.functional's hessian / hvp / vhp, and the clear error for an op not covered."""
import warnings

import numpy as np
import pytest

from tests.parity.harness import torch, rebind, make_inputs

import torch.nn.functional as F                     # noqa: E402  (rebound to dlbasic's)

import dlbasic                                      # noqa: E402
import dlbasic.nn.functional as dF                  # noqa: E402
from dlbasic.autograd import gradgradcheck          # noqa: E402

TF = torch.autograd.functional
# (torch's notes on padding="same" with an even kernel, which a case below uses on purpose,
# and on a broadcast target, which the smooth_l1 case uses on purpose)
pytestmark = [pytest.mark.filterwarnings("ignore:Using padding='same'"),
              pytest.mark.filterwarnings("ignore:Using a target size")]
DF = dlbasic.autograd.functional


def _np(t):
    return np.zeros(()) if t is None else t.detach().numpy()


def _second(lib, f, arrays, seed=1):
    """(f's outputs, first derivatives with a random upstream v, second derivatives of
    sum_i <w_i, first_i> with respect to the inputs and v) -- everything a double backward
    touches, as NumPy arrays; None (an unused input) counts as 0."""
    xs = [lib.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = f(*xs)
    rng = np.random.default_rng(seed)
    v = lib.tensor(rng.standard_normal(tuple(out.shape)).astype(arrays[0].dtype),
                   requires_grad=True)
    diff = [x for x in xs if x.requires_grad]
    firsts = lib.autograd.grad(out, diff, v, create_graph=True, allow_unused=True)
    loss = 0
    for g, x in zip(firsts, diff):
        if g is not None:
            w = lib.tensor(rng.standard_normal(tuple(x.shape)).astype(arrays[0].dtype))
            loss = loss + (g * w).sum()
    seconds = [None] * (len(diff) + 1)
    if isinstance(loss, (lib.Tensor,)) and loss.requires_grad:
        seconds = lib.autograd.grad(loss, diff + [v], allow_unused=True)
    return [_np(out)] + [_np(g) for g in firsts] + [_np(s) for s in seconds]


POS = "pos"      # inputs drawn from [0.5, 2]
ZEROS = "zeros"  # inputs with some entries exactly 0

# (id, torch-written f, input shapes or arrays, domain)
CASES = [
    ("add", lambda a, b: (a + b) * a, [(3, 4), (4,)], None),
    ("add_scaled", lambda a, b: torch.add(a, b, alpha=2.5) ** 2, [(3, 4), (3, 4)], None),
    ("sub", lambda a, b: (a - b) * (b - 1.5), [(3, 4), (3, 4)], None),
    ("rsub", lambda a: (2.0 - a) ** 3, [(5,)], None),
    ("mul", lambda a, b: a * b * a, [(3, 4), (1, 4)], None),
    ("mul_number", lambda a: (a * 3.0) ** 2 + a / 4.0, [(5,)], None),
    ("div", lambda a, b: a / b, [(3, 4), (3, 4)], POS),
    ("neg", lambda a: (-a) ** 3, [(5,)], None),
    ("pow_scalars", lambda a: a ** 3 + a ** 2 + a ** 0.5 + a ** -1.5 + a ** 1, [(6,)], POS),
    ("pow_tensor", lambda a, b: a ** b, [(3, 4), (3, 4)], POS),
    ("pow_number_base", lambda a: 2.0 ** a, [(5,)], None),
    ("exp", lambda a: a.exp(), [(5,)], None),
    ("expm1_log1p", lambda a: a.expm1() * a.log1p(), [(5,)], POS),
    ("log", lambda a: a.log(), [(5,)], POS),
    ("sqrt", lambda a: a.sqrt(), [(5,)], POS),
    ("rsqrt", lambda a: a.rsqrt(), [(5,)], POS),
    ("sin_cos", lambda a: a.sin() * a.cos(), [(5,)], None),
    ("tan_atan", lambda a: torch.tan(a * 0.5) + torch.atan(a), [(5,)], None),
    ("sinh_cosh", lambda a: torch.sinh(a) * torch.cosh(a), [(5,)], None),
    ("erf", lambda a: torch.erf(a) * a, [(5,)], None),
    ("tanh", lambda a: a.tanh(), [(5,)], None),
    ("sigmoid", lambda a: a.sigmoid(), [(5,)], None),
    ("relu", lambda a: F.relu(a) * a, [(6,)], None),
    ("leaky_relu", lambda a: F.leaky_relu(a, 0.1) * a, [(6,)], None),
    ("elu", lambda a: F.elu(a, 0.7), [(6,)], None),
    ("selu_celu", lambda a: F.selu(a) + F.celu(a, 1.5), [(6,)], None),
    ("gelu", lambda a: F.gelu(a), [(6,)], None),
    ("gelu_tanh", lambda a: F.gelu(a, approximate="tanh"), [(6,)], None),
    ("softplus", lambda a: F.softplus(a, beta=2.0, threshold=1.0) + F.softplus(a), [(6,)],
     None),
    ("silu", lambda a: F.silu(a), [(6,)], None),
    ("logsigmoid", lambda a: F.logsigmoid(a), [(6,)], None),
    ("abs", lambda a: a.abs() * a, [(6,)], None),
    ("mish_hardswish", lambda a: F.mish(a) + F.hardswish(a * 4) * a, [(8,)], None),
    ("prelu", lambda a, w: F.prelu(a, w) ** 2 + F.prelu(a, w[:1]).sin(), [(2, 3, 2), (3,)],
     None),
    ("hardtanh_threshold", lambda a: F.hardtanh(a, -0.5, 0.5) * a + F.threshold(a, 0.1, 2.0)
     * a, [(8,)], None),
    ("clone", lambda a: a.clone() ** 3, [(5,)], None),
    ("setitem", lambda a, b: _put(a.clone(), b.sin()) ** 2, [(3, 4), (4,)], None),
    ("clamp", lambda a: a.clamp(-0.5, 0.7) * a + a.clamp(min=0.1) ** 2, [(8,)], None),
    ("clamp_tensor", lambda a, lo: torch.clamp(a, min=lo) * a, [(8,), (8,)], None),
    ("maximum_minimum", lambda a, b: torch.maximum(a, b) * torch.minimum(a, b) * a,
     [(6,), (6,)], None),
    ("where", lambda a, b: torch.where(a > 0, a * a, b.exp()) * b, [(3, 4), (3, 4)], None),
    ("matmul", lambda a, b: (a @ b).tanh(), [(3, 4), (4, 2)], None),
    ("matmul_batched_broadcast", lambda a, b: (a @ b) ** 2, [(2, 3, 4), (4, 2)], None),
    ("matvec", lambda a, b: (a @ b).sin(), [(3, 4), (4,)], None),
    ("vecmat", lambda a, b: (a @ b).sin(), [(4,), (2, 4, 3)], None),
    ("dot", lambda a, b: torch.dot(a, b) ** 2, [(4,), (4,)], None),
    ("mm_bmm", lambda a, b: torch.bmm(a, b).sum(0).sin() + torch.mm(a[0], b[1]) ** 2,
     [(2, 3, 3), (2, 3, 3)], None),
    ("linear", lambda x, w, b: F.linear(x, w, b).tanh(), [(2, 3, 4), (5, 4), (5,)], None),
    ("linear_no_bias", lambda x, w: F.linear(x, w) ** 2, [(3, 4), (5, 4)], None),
    ("sum", lambda a: a.sum(1).sin() * a.sum(0, keepdim=True).sum(), [(3, 4)], None),
    ("mean", lambda a: a.mean((0, 2)).exp() + a.mean() ** 2, [(2, 3, 2)], None),
    ("reshape_view", lambda a: a.reshape(6, 2).sin() * a.view(-1, 3).sum() , [(3, 4)], None),
    ("transpose_permute", lambda a: a.transpose(0, 1).sin() @ a.permute(0, 1), [(3, 3)],
     None),
    ("t", lambda a: a.t().exp() * a, [(3, 3)], None),
    ("expand", lambda a: a.expand(3, 4).sin() * a, [(1, 4)], None),
    ("squeeze_unsqueeze", lambda a: a.squeeze(1).unsqueeze(0).sin() ** 2, [(3, 1, 2)], None),
    ("getitem_basic", lambda a: a[1:, ::2].exp() * a[0, 1], [(3, 4)], None),
    ("getitem_advanced", lambda a: a[[0, 2, 0]].sin() ** 2, [(3, 4)], None),
    ("cat", lambda a, b: torch.cat([a, b, a], 1).sin() ** 2, [(2, 3), (2, 2)], None),
    ("stack", lambda a, b: torch.stack([a, b * a], 1).tanh(), [(2, 3), (2, 3)], None),
    ("split_chunk", lambda a: a.split(2, 1)[1].exp() * a.chunk(2, 0)[0].sum(), [(4, 4)],
     None),
    ("max_min_all", lambda a: a.max() * a + a.min() ** 2, [(3, 4)], None),
    ("max_dim", lambda a: a.max(1)[0].exp() + a.min(0, keepdim=True)[0].sin().sum(), [(3, 4)],
     None),
    ("amax", lambda a: a.amax(1) ** 2, [(3, 4)], None),
    ("norm", lambda a: a.norm(2, dim=1) ** 3 + a.norm(), [(3, 4)], None),
    ("softmax", lambda a: F.softmax(a, 1) * a, [(3, 4)], None),
    ("log_softmax", lambda a: F.log_softmax(a, 0) ** 2, [(3, 4)], None),
    ("cross_entropy", lambda a: F.cross_entropy(a, torch.tensor([1, 0, 3])), [(3, 4)], None),
    ("cross_entropy_options", lambda a, w: F.cross_entropy(
        a * w.sum(), torch.tensor([1, -100, 3]), weight=torch.tensor([1.0, 2.0, 0.5, 1.5],
                                                                      dtype=torch.float64),
        label_smoothing=0.2, reduction="none"), [(3, 4), (4,)], None),
    ("nll_loss", lambda a: F.nll_loss(F.log_softmax(a, 1), torch.tensor([1, 0, 3]),
                                      reduction="sum"), [(3, 4)], None),
    ("mse_loss", lambda a, b: F.mse_loss(a.sin(), b), [(3, 4), (3, 4)], None),
    ("l1_loss", lambda a, b: F.l1_loss(a * a, b, reduction="sum"), [(3, 4), (3, 4)], None),
    ("layer_norm", lambda x, w, b: F.layer_norm(x, (2, 4), w, b).sin(),
     [(3, 2, 4), (2, 4), (2, 4)], None),
    ("layer_norm_plain_and_group_norm", lambda x: F.layer_norm(x, (4,)) ** 3
     + F.group_norm(x.reshape(3, 2, 2, 2), 2).reshape(3, 2, 4).sin(), [(3, 2, 4)], None),
    ("batch_norm_train", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)
     ** 3, [(4, 3, 2), (3,), (3,)], None),
    ("batch_norm_eval", lambda x, w, b: F.batch_norm(
        x, torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64),
        torch.tensor([0.5, 1.5, 2.0], dtype=torch.float64), w, b, training=False) ** 3,
     [(4, 3, 2), (3,), (3,)], None),
    ("logsumexp", lambda a: torch.logsumexp(a, 1) ** 2 + torch.logsumexp(a, (0, 1), True),
     [(3, 4)], None),
    ("var_std", lambda a: a.var(1) ** 2 + a.std(0, keepdim=True).sin().sum() + a.std(),
     [(3, 4)], None),
    ("bce", lambda a, t: F.binary_cross_entropy(a, t), [(3, 4), (3, 4)], "unit"),
    ("bce_with_logits", lambda a, t: F.binary_cross_entropy_with_logits(a, t.sigmoid())
     + F.binary_cross_entropy_with_logits(a, t.sigmoid(), pos_weight=torch.tensor(
         [1.0, 2.0, 0.5, 3.0], dtype=torch.float64), reduction="sum"), [(3, 4), (3, 4)],
     None),
    ("smooth_l1_huber", lambda a, t: F.smooth_l1_loss(a * a, t, beta=0.8)
     + F.huber_loss(a, t, delta=0.5, reduction="sum") + F.smooth_l1_loss(a.sin(), t, beta=0.0),
     [(3, 4), (4,)], None),
    ("reciprocal_steps", lambda a: a.reciprocal() ** 2 + a.floor() * a + a.sign() * a.ceil()
     + a.round() * a.trunc() * a + a.frac() ** 2, [(6,)], POS),
    ("erfc_asin_acos", lambda a: torch.erfc(a) * torch.asin(a) + torch.acos(a) ** 2, [(6,)],
     "unit"),
    ("flip_tril_triu", lambda a: a.flip(0).sin() * a.tril(-1) + a.triu(1) ** 2, [(3, 3)],
     None),
    ("cumsum", lambda a: a.cumsum(1).sin() ** 2, [(3, 4)], None),
    ("repeat", lambda a: a.repeat(2, 1, 3).sin() ** 2, [(2, 2)], None),
    ("gather", lambda a: a.gather(1, torch.tensor([[0, 2, 2], [1, 1, 0], [3, 0, 1]])) ** 3,
     [(3, 4)], None),
    ("embedding", lambda w: F.embedding(torch.tensor([[1, 0, 3], [3, 3, 2]]), w,
                                        padding_idx=2).tanh(), [(4, 3)], None),
    ("max_pool2d", lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True) ** 2, [(1, 2, 5, 5)],
     None),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False) ** 2
     + F.avg_pool2d(x, 2).sin().sum(), [(1, 2, 5, 5)], None),
    ("adaptive_pools", lambda x: F.adaptive_avg_pool2d(x, (2, 3)) ** 2
     + F.adaptive_max_pool2d(x, 2).sum() ** 2, [(1, 2, 5, 5)], None),
    ("pools_1d", lambda x: F.max_pool1d(x, 2) ** 2 + F.avg_pool1d(x, 2).sin()
     + F.adaptive_avg_pool1d(x, 2) ** 3, [(2, 3, 4)], None),
    ("conv2d", lambda x, w, b: F.conv2d(x, w, b, padding=1).tanh(),
     [(2, 2, 4, 4), (3, 2, 3, 3), (3,)], None),
    ("conv2d_stride_dilation_groups", lambda x, w: F.conv2d(
        x, w, stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2) ** 2,
     [(1, 4, 5, 6), (4, 2, 2, 2)], None),
    ("conv2d_same", lambda x, w: F.conv2d(x, w, padding="same").sin(),
     [(1, 2, 4, 4), (2, 2, 2, 2)], None),
    ("conv1d_unbatched", lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=2) ** 2,
     [(3, 7), (2, 3, 3), (2,)], None),
    ("conv_transpose2d", lambda x, w, b: F.conv_transpose2d(
        x, w, b, stride=2, padding=1, output_padding=1).sin(),
     [(1, 2, 3, 3), (2, 3, 3, 3), (3,)], None),
    ("conv_transpose1d", lambda x, w: F.conv_transpose1d(x, w, stride=2) ** 2,
     [(1, 2, 4), (2, 2, 3)], None),
    ("pad_constant_and_crop", lambda x: F.pad(x, (1, 2, -1, 1), value=0.5).sin() ** 2,
     [(2, 3, 4, 5)], None),
    ("pad_reflect_replicate_circular", lambda x: F.pad(x, (2, 1, 1, 2), mode="reflect") ** 3
     + F.pad(x, (2, 3, 0, 1), mode="replicate").sin().sum()
     + (F.pad(x, (1, 2, 2, 1), mode="circular") ** 2).sum(), [(2, 3, 4, 5)], None),
    ("pad_1d_3d", lambda x, y: F.pad(x, (2, 1), mode="reflect").tanh().sum()
     + F.pad(y, (1, 1, 0, 2, 1, 0), mode="replicate").pow(3).sum(),
     [(2, 3, 4), (1, 2, 3, 3, 4)], None),
    ("interpolate_nearest_bilinear", lambda x: (F.interpolate(x, size=(5, 7)).sin() ** 2).sum()
     + F.interpolate(x, size=(3, 6), mode="bilinear", align_corners=True).tanh().sum()
     + (F.interpolate(x, size=(7, 4), mode="bilinear") ** 3).sum(), [(2, 3, 4, 5)], None),
    ("interpolate_bicubic_area_aa", lambda x: F.interpolate(x, size=(6, 3), mode="bicubic")
     .sin().sum() + (F.interpolate(x, size=(3, 2), mode="area") ** 2).sum()
     + (F.interpolate(x, size=(3, 3), mode="bilinear", antialias=True) ** 3).sum(),
     [(1, 2, 5, 6)], None),
    ("interpolate_linear_1d", lambda x: F.interpolate(x, size=9, mode="linear") ** 2,
     [(2, 3, 4)], None),
    ("unfold_fold", lambda x, c: F.unfold(x, 2, padding=1, stride=2).sin() ** 2
     + F.fold(c, (4, 5), 2, padding=1, stride=2).tanh().sum(), [(2, 3, 4, 5), (2, 12, 9)],
     None),
    ("prod", lambda a: a.prod(1) ** 2 + a.prod(0, keepdim=True).sum() + a.prod(), [(3, 4)],
     None),
    ("prod_with_zeros", lambda a: a.prod(1) ** 2 + a.prod(0, keepdim=True).sum() + a.prod(),
     [(3, 4)], ZEROS),
    ("cumprod", lambda a: a.cumprod(1).sin() + a.cumprod(0) ** 2, [(3, 4)], None),
    ("cumprod_with_zeros", lambda a: a.cumprod(1).sin() + a.cumprod(0) ** 2, [(3, 4)], ZEROS),
    ("sdpa", lambda q, k, v: F.scaled_dot_product_attention(q, k, v).sin(),
     [(2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 4)], None),
    ("sdpa_causal_scale_unbatched", lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, is_causal=True, scale=0.4) ** 2, [(4, 5), (6, 5), (6, 3)], None),
    ("sdpa_float_mask_broadcast", lambda q, k, v, m: F.scaled_dot_product_attention(
        q, k, v, attn_mask=m).tanh(), [(2, 1, 4, 5), (1, 3, 6, 5), (2, 3, 6, 4), (4, 6)],
     None),
    ("sdpa_bool_mask_with_a_hidden_row", lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, attn_mask=torch.tensor([[True, False, True], [False, False, False],
                                         [True, True, False]])) ** 2,
     [(2, 3, 4), (2, 3, 4), (2, 3, 2)], None),
    ("scatter_and_scatter_add", lambda x, s: x.scatter(
        1, torch.tensor([[0, 2], [3, 1], [2, 0]]), s).sin() ** 2
     + x.scatter_add(1, torch.tensor([[0, 2], [3, 3], [1, 0]]), s * s) ** 2, [(3, 4), (3, 2)],
     None),
    ("linalg_inv_solve", lambda a, b: torch.linalg.inv(
        a + 3 * torch.eye(3, dtype=a.dtype)).sin().sum()
     + (torch.linalg.solve(a + 3 * torch.eye(3, dtype=a.dtype), b) ** 2).sum(),
     [(2, 3, 3), (2, 3, 2)], None),
    ("linalg_det_slogdet", lambda a: torch.linalg.det(a + 2 * torch.eye(3, dtype=a.dtype)) ** 2
     + torch.linalg.slogdet(a - 2 * torch.eye(3, dtype=a.dtype))[1] * 3, [(2, 3, 3)], None),
    ("einsum_contractions", lambda a, b, c: torch.einsum("ij,jk,kl->il", a, b, c).sin().sum()
     + (torch.einsum("ij,kl->il", a, c.t()) ** 2).sum(), [(2, 3), (3, 4), (4, 2)], None),
    ("einsum_batched_broadcast_sum", lambda a, b: torch.einsum("bij,bjk->bik", a, b) ** 2
     + torch.einsum("ijk,ik->j", a, b[:, :, 0]).sin().sum() + torch.einsum("bij->", a ** 3),
     [(2, 3, 4), (2, 4, 2)], None),
]


def _put(t, v):
    t[1] = v * 2                          # an index assignment, recorded
    t[:, 0] = v[:3]
    return t


def _arrays(shapes, domain, dtype="float64"):
    if domain == POS:
        return make_inputs(shapes, dtype, low=0.5, high=2.0)
    if domain == "unit":                           # probabilities
        return make_inputs(shapes, dtype, low=0.1, high=0.9)
    if domain == ZEROS:                            # a few exact zeros (one row with two)
        arrays = make_inputs(shapes, dtype)
        for a in arrays:
            flat = a.reshape(-1)
            flat[[1, 2, 5]] = 0.0
        return arrays
    return make_inputs(shapes, dtype)


@pytest.mark.parametrize("name,f,shapes,domain", CASES, ids=[c[0] for c in CASES])
def test_second_derivative_matches_torch(name, f, shapes, domain):
    arrays = _arrays(shapes, domain)
    t_res = _second(torch, f, arrays)
    d_res = _second(dlbasic, rebind(f), arrays)
    assert len(t_res) == len(d_res)
    for i, (d, t) in enumerate(zip(d_res, t_res)):
        np.testing.assert_allclose(d, np.broadcast_to(t, d.shape) if t.ndim == 0 else t,
                                   rtol=1e-7, atol=1e-9, err_msg=f"{name}: result {i}")


# torch has no double backward for these ("derivative for aten::hardsigmoid_backward is not
# implemented"): checked against finite differences only
OURS_ONLY = [
    ("hardsigmoid", lambda a: F.hardsigmoid(a * 4) * a, [(6,)], None),
]


@pytest.mark.parametrize("name,f,shapes,domain", CASES + OURS_ONLY,
                         ids=[c[0] for c in CASES + OURS_ONLY])
def test_gradgradcheck_float64(name, f, shapes, domain):
    arrays = _arrays(shapes, domain)
    xs = [dlbasic.tensor(a, requires_grad=True) for a in arrays]
    assert gradgradcheck(rebind(f), xs)


def test_second_derivative_float32_mlp_matches_torch():
    arrays = make_inputs([(4, 3), (5, 3), (5,), (2, 5)], "float32")
    # (.double(): a cast, whose gradient the engine casts back to float32)
    f = lambda x, w1, b1, w2: F.linear(F.silu(F.linear(x, w1, b1)), w2).tanh().double() \
        * x.sum()  # noqa: E731
    for d, t in zip(_second(dlbasic, rebind(f), arrays), _second(torch, f, arrays)):
        np.testing.assert_allclose(d, t, rtol=1e-4, atol=1e-5)


def test_dropout_double_backward_uses_the_same_mask():
    def f(a):
        dlbasic.manual_seed(0)                 # the same mask on every call
        return dF.dropout(a, 0.5, training=True) ** 3
    x = dlbasic.randn(8, dtype=dlbasic.float64, requires_grad=True)
    assert gradgradcheck(f, (x,))
    g, = dlbasic.autograd.grad(f(x).sum(), x, create_graph=True)
    h, = dlbasic.autograd.grad(g.sum(), x)
    mask = f(dlbasic.ones(8, dtype=dlbasic.float64)).numpy() ** (1 / 3)   # 0 or 2
    np.testing.assert_allclose(h.numpy(), 6 * mask ** 3 * x.detach().numpy())


def test_sdpa_dropout_double_backward_uses_the_forwards_mask():
    # the same seed before every forward gives the same dropout mask, so finite differences
    # of the first derivative see the mask the recorded backward used
    rng = np.random.default_rng(0)
    q, k, v = (dlbasic.tensor(rng.standard_normal(s), requires_grad=True)
               for s in ((2, 4, 3), (2, 5, 3), (2, 5, 2)))

    def f(q, k, v):
        dlbasic.manual_seed(7)
        return dF.scaled_dot_product_attention(q, k, v, dropout_p=0.3)
    assert gradgradcheck(f, (q, k, v))


def test_third_derivative():
    for lib in (torch, dlbasic):
        x = lib.tensor([0.5, -1.5, 2.0], dtype=lib.float64, requires_grad=True)
        g1, = lib.autograd.grad((x ** 4).sum(), x, create_graph=True)
        g2, = lib.autograd.grad(g1.sum(), x, create_graph=True)
        g3, = lib.autograd.grad((g2 * x.sin()).sum(), x)
        if lib is torch:
            want = g3.numpy()
        else:
            np.testing.assert_allclose(g3.numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(want, 24 * x.detach().numpy() * np.sin(x.detach().numpy())
                               + 12 * x.detach().numpy() ** 2 * np.cos(x.detach().numpy()))


def test_a_deep_graph_double_backward_needs_no_recursion():
    results = []
    for lib in (torch, dlbasic):
        x = lib.tensor([0.3], dtype=lib.float64, requires_grad=True)
        y = x
        for _ in range(3000):
            y = (y * 0.999).sin()
        g, = lib.autograd.grad(y.sum(), x, create_graph=True)
        h, = lib.autograd.grad(g.sum(), x)
        results.append((g.detach().numpy(), h.numpy()))
    for d, t in zip(results[1], results[0]):
        np.testing.assert_allclose(d, t, rtol=1e-9)


def test_gradgradcheck_catches_a_wrong_double_backward():
    class Square(dlbasic.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * x.detach() * 2        # detached: the second derivative is lost
    x = dlbasic.randn(4, dtype=dlbasic.float64, requires_grad=True)
    assert dlbasic.autograd.gradcheck(Square.apply, (x,))
    assert not gradgradcheck(Square.apply, (x,), raise_exception=False)
    with pytest.raises(dlbasic.autograd.GradcheckError):
        gradgradcheck(Square.apply, (x,))


def test_user_function_with_a_differentiable_backward():
    def program(lib):
        class Cube(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x ** 3

            @staticmethod
            def backward(ctx, g):
                x, = ctx.saved_tensors
                return g * 3 * x * x
        x = lib.tensor([0.5, -2.0, 1.5], dtype=lib.float64, requires_grad=True)
        g, = lib.autograd.grad(Cube.apply(x).sum(), x, create_graph=True)
        h, = lib.autograd.grad(g.sum(), x)
        return g.detach().numpy(), h.numpy()
    for d, t in zip(program(dlbasic), program(torch)):
        np.testing.assert_allclose(d, t)


# -- the engine's API ----------------------------------------------------------------------

def test_grad_create_graph_api_follows_torch():
    for lib in (torch, dlbasic):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        unused = lib.tensor([3.0], requires_grad=True)
        y = (x ** 2).sum()
        g, none = lib.autograd.grad(y, (x, unused), create_graph=True, allow_unused=True)
        assert none is None
        assert g.requires_grad and g.grad_fn is not None
        # retain_graph defaults to create_graph: the graph is still there
        g_again, = lib.autograd.grad(y, x, create_graph=True)
        np.testing.assert_allclose(g_again.detach().numpy(), [2.0, 4.0])
        with pytest.raises(RuntimeError, match="appears to not have been used"):
            lib.autograd.grad((x ** 2).sum(), (x, unused), create_graph=True)
        # a gradient that does not depend on anything requiring grad has no history
        c, = lib.autograd.grad((x * 3).sum(), x, create_graph=True)
        assert not c.requires_grad
        # grad_outputs that require grad: the result depends on them
        v = lib.tensor([0.5, -1.0], requires_grad=True)
        gv, = lib.autograd.grad(x * x, x, v, create_graph=True)
        dv, = lib.autograd.grad(gv.sum(), v)
        np.testing.assert_allclose(dv.numpy(), [2.0, 4.0])


def test_backward_create_graph_makes_grad_a_graph_tensor_and_warns():
    results = []
    for lib in (torch, dlbasic):
        x = lib.tensor([0.5, 1.5], dtype=lib.float64, requires_grad=True)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            (x ** 3).sum().backward(create_graph=True)
        assert any("reference cycle" in str(m.message) for m in w)
        assert x.grad.requires_grad and x.grad.grad_fn is not None
        first = x.grad
        h, = lib.autograd.grad(first.sum(), x)
        # a second backward accumulates out of place
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (x * x).sum().backward(create_graph=True)
        results.append((first.detach().numpy(), h.numpy(), x.grad.detach().numpy()))
    for d, t in zip(results[1], results[0]):
        np.testing.assert_allclose(d, t)


def test_create_graph_false_is_unchanged():
    x = dlbasic.tensor([1.0, 2.0], requires_grad=True)
    (x ** 3).sum().backward()
    assert x.grad.grad_fn is None and not x.grad.requires_grad
    g, = dlbasic.autograd.grad((x ** 3).sum(), x)
    assert g.grad_fn is None and not g.requires_grad


def test_uncovered_op_raises_a_clear_error():
    x = dlbasic.randn(3, 4, requires_grad=True)
    y = x.lgamma().sum()
    with pytest.raises(RuntimeError, match="double backward through LgammaBackward0 is not "
                                           "supported by dlbasic yet"):
        dlbasic.autograd.grad(y, x, create_graph=True)
    # the first-order gradient is still there without create_graph
    g, = dlbasic.autograd.grad(x.lgamma().sum(), x)
    assert g.shape == x.shape


def test_einsum_with_a_repeated_label_refuses_double_backward():
    x = dlbasic.randn(3, 3, requires_grad=True)
    y = (dlbasic.einsum("ii->i", x) ** 2).sum()
    with pytest.raises(RuntimeError, match="double backward through EinsumBackward0 with a "
                                           "repeated label \\('ii'\\) is not supported"):
        dlbasic.autograd.grad(y, x, create_graph=True)


def test_det_of_a_singular_matrix_refuses_double_backward():
    a = dlbasic.tensor([[1.0, 2.0], [2.0, 4.0]], requires_grad=True)
    with pytest.raises(RuntimeError, match="double backward through LinalgDetBackward0 of a "
                                           "singular matrix is not supported"):
        dlbasic.autograd.grad(dlbasic.linalg.det(a), a, create_graph=True)
    g, = dlbasic.autograd.grad(dlbasic.linalg.det(a), a)     # the first order still works
    np.testing.assert_allclose(g.numpy(), [[4.0, -2.0], [-2.0, 1.0]], atol=1e-6)


def test_complex_double_backward_refuses():
    z = dlbasic.tensor([1 + 2j, 0.5 - 1j], requires_grad=True)
    with pytest.raises(RuntimeError, match="double backward through AbsBackward0 with "
                                           "complex tensors is not supported"):
        dlbasic.autograd.grad(z.abs().sum(), z, create_graph=True)


def test_scaled_embedding_gradient_refuses_double_backward():
    w = dlbasic.randn(4, 3, requires_grad=True)
    y = dF.embedding(dlbasic.tensor([1, 1, 3]), w, scale_grad_by_freq=True).pow(3).sum()
    with pytest.raises(RuntimeError, match="scale_grad_by_freq=True is not supported"):
        dlbasic.autograd.grad(y, w, create_graph=True)


def test_third_order_through_a_convolution():
    rng = np.random.default_rng(7)
    xa, wa = rng.standard_normal((1, 1, 5, 5)), rng.standard_normal((2, 1, 3, 3))
    results = []
    for lib, conv in ((torch, F.conv2d), (dlbasic, dF.conv2d)):
        x, w = lib.tensor(xa, requires_grad=True), lib.tensor(wa, requires_grad=True)
        g, = lib.autograd.grad(conv(x, w, padding=1).pow(3).sum(), x, create_graph=True)
        h, = lib.autograd.grad(g.pow(2).sum(), w, create_graph=True)
        k, = lib.autograd.grad(h.sum(), x)
        results.append(k.numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-10)


# -- what higher-order gradients are for ---------------------------------------------------

def _mlp(lib, seed, sizes, act):
    lib.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [lib.nn.Linear(a, b), act(lib)]
    return lib.nn.Sequential(*layers[:-1])


def _copy_params(src, dst):
    dst.load_state_dict({k: dlbasic.tensor(v.detach().numpy()) for k, v in
                         src.state_dict().items()}, strict=True)


def test_wgan_gp_penalty_and_parameter_gradients():
    def program(lib, D, real, fake, eps):
        real, fake = lib.tensor(real), lib.tensor(fake)
        alpha = lib.tensor(eps)
        x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        out = D(x_hat)
        grads, = lib.autograd.grad(out, x_hat, grad_outputs=lib.ones_like(out),
                                   create_graph=True, retain_graph=True)
        gp = ((grads.norm(2, dim=1) - 1) ** 2).mean()
        loss = D(fake).mean() - D(real).mean() + 10 * gp
        loss.backward()
        return [gp.detach().numpy(), loss.detach().numpy()] + \
            [p.grad.numpy() for p in D.parameters()]
    rng = np.random.default_rng(0)
    real = rng.standard_normal((6, 4)).astype(np.float32)
    fake = rng.standard_normal((6, 4)).astype(np.float32)
    eps = rng.uniform(size=(6, 1)).astype(np.float32)
    tD = _mlp(torch, 0, [4, 16, 16, 1], lambda lib: lib.nn.LeakyReLU(0.2))
    dD = _mlp(dlbasic, 0, [4, 16, 16, 1], lambda lib: lib.nn.LeakyReLU(0.2))
    _copy_params(tD, dD)
    for d, t in zip(program(dlbasic, dD, real, fake, eps), program(torch, tD, real, fake, eps)):
        np.testing.assert_allclose(d, t, rtol=1e-4, atol=1e-5)


def test_gradient_penalty_through_a_transformer_encoder_layer():
    # d/dparams of ||d out / d x||^2 through attention, layer norm and the feed-forward block
    def program(lib, layer, x):
        x = lib.tensor(x, requires_grad=True)
        out = layer(x, src_mask=lib.nn.Transformer.generate_square_subsequent_mask(
            x.shape[1], dtype=lib.float64))
        g, = lib.autograd.grad((out ** 2).sum(), x, create_graph=True)
        penalty = (g ** 2).sum()
        penalty.backward()
        return [penalty.detach().numpy()] + [p.grad.numpy() for p in layer.parameters()]
    torch.manual_seed(0)
    t = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                         dtype=torch.float64)
    d = dlbasic.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                           dtype=dlbasic.float64)
    _copy_params(t, d)
    x = np.random.default_rng(0).standard_normal((2, 5, 8))
    # (torch's fused CPU attention kernel has no double backward; its math one does)
    from torch.nn.attention import SDPBackend, sdpa_kernel
    with sdpa_kernel(SDPBackend.MATH):
        want = program(torch, t, x)
    for a, b in zip(program(dlbasic, d, x), want):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_physics_informed_second_derivative_of_a_tanh_mlp():
    def program(lib, u, xs):
        x = lib.tensor(xs, requires_grad=True)
        y = u(x)
        du, = lib.autograd.grad(y.sum(), x, create_graph=True)
        d2u, = lib.autograd.grad(du.sum(), x, create_graph=True)
        residual = d2u + (np.pi ** 2) * y          # u'' + pi^2 u = 0
        loss = (residual ** 2).mean()
        loss.backward()
        return [d2u.detach().numpy(), loss.detach().numpy()] + \
            [p.grad.numpy() for p in u.parameters()]
    xs = np.linspace(-1, 1, 9, dtype=np.float64).reshape(-1, 1)
    tu = _mlp(torch, 1, [1, 12, 12, 1], lambda lib: lib.nn.Tanh()).double()
    du = _mlp(dlbasic, 1, [1, 12, 12, 1], lambda lib: lib.nn.Tanh()).double()
    _copy_params(tu, du)
    for d, t in zip(program(dlbasic, du, xs), program(torch, tu, xs)):
        np.testing.assert_allclose(d, t, rtol=1e-9, atol=1e-12)


def test_maml_inner_step_then_outer_gradient():
    def program(lib, params, data):
        w1, b1, w2, b2 = [lib.tensor(p, requires_grad=True) for p in params]
        xs, ys, xq, yq = [lib.tensor(a) for a in data]

        def net(x, w1, b1, w2, b2):
            return F.linear(F.relu(F.linear(x, w1, b1)), w2, b2)
        inner = F.mse_loss(net(xs, w1, b1, w2, b2), ys)
        grads = lib.autograd.grad(inner, (w1, b1, w2, b2), create_graph=True)
        fast = [p - 0.1 * g for p, g in zip((w1, b1, w2, b2), grads)]
        outer = F.cross_entropy(net(xq, *fast), yq.long())
        outer.backward()
        return [outer.detach().numpy()] + [p.grad.numpy() for p in (w1, b1, w2, b2)]
    rng = np.random.default_rng(3)
    params = [rng.standard_normal(s) * 0.5 for s in [(8, 3), (8,), (3, 8), (3,)]]
    data = [rng.standard_normal((5, 3)), rng.standard_normal((5, 3)),
            rng.standard_normal((7, 3)), rng.integers(0, 3, 7).astype(np.float64)]
    d = rebind(program)(dlbasic, params, data)         # (F inside is dlbasic's)
    t = program(torch, params, data)
    for a, b in zip(d, t):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# -- autograd.functional -------------------------------------------------------------------

def f_scalar(x):
    return (x.sin() * x.exp()).sum() + (x ** 3).sum() ** 2


def f_two(x, y):
    return (x.tanh() @ y).sum() + (x * x).sum() * y.sum()


def test_hessian_hvp_vhp_match_torch():
    rng = np.random.default_rng(5)
    xa, ya, va = rng.standard_normal(4), rng.standard_normal((4, 2)), rng.standard_normal(4)
    vya = rng.standard_normal((4, 2))
    for create_graph in (False, True):
        tx, ty, tv, tvy = (torch.tensor(a) for a in (xa, ya, va, vya))
        dx, dy, dv, dvy = (dlbasic.tensor(a) for a in (xa, ya, va, vya))
        pairs = [
            (TF.hessian(f_scalar, tx, create_graph=create_graph),
             DF.hessian(f_scalar, dx, create_graph=create_graph)),
            (TF.hessian(f_two, (tx, ty), create_graph=create_graph),
             DF.hessian(f_two, (dx, dy), create_graph=create_graph)),
            (TF.hvp(f_scalar, tx, tv, create_graph=create_graph),
             DF.hvp(f_scalar, dx, dv, create_graph=create_graph)),
            (TF.vhp(f_scalar, tx, tv, create_graph=create_graph),
             DF.vhp(f_scalar, dx, dv, create_graph=create_graph)),
            (TF.hvp(f_two, (tx, ty), (tv, tvy), create_graph=create_graph),
             DF.hvp(f_two, (dx, dy), (dv, dvy), create_graph=create_graph)),
            (TF.vhp(f_two, (tx, ty), (tv, tvy), create_graph=create_graph),
             DF.vhp(f_two, (dx, dy), (dv, dvy), create_graph=create_graph)),
        ]
        for t, d in pairs:
            t_flat, d_flat = _flat(t), _flat(d)
            assert len(t_flat) == len(d_flat)
            for a, b in zip(d_flat, t_flat):
                assert a.shape == b.shape
                np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(),
                                           rtol=1e-10, atol=1e-12)


def test_hessian_of_a_linear_function_is_zero_and_strict_refuses():
    for lib, fn in ((torch, TF), (dlbasic, DF)):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64)
        h = fn.hessian(lambda t: (t * 3).sum(), x)
        np.testing.assert_array_equal(h.numpy(), np.zeros((2, 2)))
        with pytest.raises(RuntimeError, match="jacobian of the user-provided function with "
                                               "respect to input 0 is independent"):
            fn.hessian(lambda t: (t * 3).sum(), x, strict=True)
        with pytest.raises(RuntimeError, match="should contain a single element"):
            fn.vhp(lambda t: t * t, x, x)


def test_create_graph_results_are_differentiable_wrt_the_inputs():
    results = []
    for lib, fn in ((torch, TF), (dlbasic, DF)):
        x = lib.tensor([0.3, -0.7, 1.1], dtype=lib.float64, requires_grad=True)
        v = lib.tensor([1.0, 0.5, -2.0], dtype=lib.float64)
        _, hv = fn.hvp(f_scalar, x, v, create_graph=True)
        _, vjp = fn.vjp(lambda t: t.sin() * t, x, v, create_graph=True)
        _, jvp = fn.jvp(lambda t: t.exp() * t, x, v, create_graph=True)
        (hv.sum() + vjp.sum() + jvp.sum()).backward()
        results.append(x.grad.numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-10)


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [out]
