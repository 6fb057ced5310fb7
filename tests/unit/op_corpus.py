"""One small call for every primitive op of dlbasic, run with gradients recorded.

``run_corpus()`` returns ``[(op class, inputs, params, outputs)]`` for every primitive that ran
(caught through ``autograd.function._observers``, as the profiler sees them).  The op-metadata
tests check each op's FLOP rule, grad_fn name and saved attributes on these real calls, and that
the corpus reaches every primitive the package defines.
"""
import numpy as np

import dlbasic
from dlbasic.autograd import function as _function
from dlbasic.nn import functional as F


def _t(*shape, seed=0, positive=False, grad=True, dtype=np.float64):
    rng = np.random.default_rng(seed + len(shape) * 7 + sum(shape))
    a = rng.standard_normal(shape).astype(dtype)
    if positive:
        a = np.abs(a) + 0.5
    return dlbasic.tensor(a, requires_grad=grad)


def _calls():
    x, y = _t(3, 4), _t(3, 4, seed=1)
    p = _t(3, 4, positive=True)
    u = dlbasic.tensor(np.linspace(-0.9, 0.9, 12).reshape(3, 4), requires_grad=True)
    c = _t(3, 4, grad=False)
    img = _t(2, 3, 6, 6)
    seq = _t(2, 3, 8)
    idx = dlbasic.tensor([[0, 2, 1, 0], [1, 0, 2, 2], [2, 1, 0, 1]])
    target = dlbasic.tensor([1, 0, 3])
    sq = dlbasic.tensor(np.random.default_rng(5).standard_normal((3, 3)) + 3 * np.eye(3),
                        requires_grad=True)
    spd = dlbasic.tensor(np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]]),
                         requires_grad=True)
    L = dlbasic.linalg
    return {
        # elementwise
        "add": lambda: x + y, "add_alpha": lambda: dlbasic.add(x, y, alpha=2),
        "sub": lambda: x - y, "rsub_numpy_scalar": lambda: dlbasic.sub(np.float64(2.0), x),
        "mul": lambda: x * y, "mul_saves_a": lambda: c * x, "mul_saves_b": lambda: x * c,
        "div": lambda: x / p, "div_saves_b": lambda: x / c.abs().add(1),
        "add_number": lambda: x + 1.5, "sub_number": lambda: x - 1.5,
        "rsub_number": lambda: 1.5 - x, "mul_number": lambda: x * 2.0,
        "div_number": lambda: x / 2.0, "reciprocal_number": lambda: 2.0 / p,
        "neg": lambda: -x, "pow_scalar": lambda: x ** 2, "pow_tensor": lambda: p ** y,
        "pow_number_base": lambda: 2.0 ** x, "reciprocal": lambda: p.reciprocal(),
        "rounded_div": lambda: dlbasic.div(x, p, rounding_mode="floor"),
        "remainder": lambda: x % 2.0, "remainder_tensor": lambda: dlbasic.remainder(x, p),
        "fmod": lambda: dlbasic.fmod(x, 2.0), "fmod_tensor": lambda: dlbasic.fmod(x, p),
        "exp": lambda: x.exp(), "log": lambda: p.log(), "log1p": lambda: p.log1p(),
        "expm1": lambda: x.expm1(), "sqrt": lambda: p.sqrt(), "rsqrt": lambda: p.rsqrt(),
        "sin": lambda: x.sin(), "cos": lambda: x.cos(), "tan": lambda: u.tan(),
        "tanh": lambda: x.tanh(), "sigmoid": lambda: x.sigmoid(), "atan": lambda: x.atan(),
        "asin": lambda: u.asin(), "acos": lambda: u.acos(), "sinh": lambda: x.sinh(),
        "cosh": lambda: x.cosh(), "erf": lambda: x.erf(), "erfc": lambda: x.erfc(),
        "lgamma": lambda: p.lgamma(), "digamma": lambda: p.digamma(),
        "polygamma": lambda: p.polygamma(2), "erfinv": lambda: u.erfinv(),
        "igamma": lambda: dlbasic.igamma(c.abs() + 0.5, p),
        "igammac": lambda: dlbasic.igammac(c.abs() + 0.5, p),
        "standard_gamma": lambda: dlbasic.ops.special.StandardGamma.apply(
            p, rng=np.random.default_rng(0)),
        "abs": lambda: x.abs(), "cast": lambda: x.float(), "relu": lambda: x.relu(),
        "sign": lambda: x.sign(), "floor": lambda: x.floor(), "ceil": lambda: x.ceil(),
        "trunc": lambda: x.trunc(), "round": lambda: x.round(), "frac": lambda: x.frac(),
        "maximum": lambda: dlbasic.maximum(x, y), "minimum": lambda: dlbasic.minimum(x, y),
        "clamp_scalar": lambda: x.clamp(-0.5, 0.5), "clamp_tensor": lambda: x.clamp(min=y),
        "where": lambda: dlbasic.where(c > 0, x, y),
        # activations
        "elu": lambda: F.elu(x), "gelu": lambda: F.gelu(x), "hardsigmoid": lambda: F.hardsigmoid(x),
        "hardswish": lambda: F.hardswish(x), "hardtanh": lambda: F.hardtanh(x),
        "leaky_relu": lambda: F.leaky_relu(x, 0.1), "logsigmoid": lambda: F.logsigmoid(x),
        "log_softmax": lambda: F.log_softmax(x, 1), "mish": lambda: F.mish(x),
        "prelu": lambda: F.prelu(img, _t(3)), "rrelu": lambda: F.rrelu(x, training=True),
        "silu": lambda: F.silu(x), "softmax": lambda: F.softmax(x, 1),
        "softplus": lambda: F.softplus(x), "threshold": lambda: F.threshold(x, 0.1, 2.0),
        # layers
        "batch_norm": lambda: F.batch_norm(img, None, None, _t(3), _t(3, seed=2),
                                           training=True),
        "batch_norm_relu": lambda: dlbasic.nn.functional.batchnorm.batch_norm_relu(
            img, None, None, _t(3), _t(3, seed=2), training=True),
        "conv2d": lambda: F.conv2d(img, _t(4, 3, 3, 3), _t(4), padding=1),
        "conv1d": lambda: F.conv1d(seq, _t(5, 3, 3)),
        "conv_transpose2d": lambda: F.conv_transpose2d(img, _t(3, 2, 3, 3), _t(2), stride=2,
                                                       padding=1, output_padding=1),
        # (ConvWeightGrad: the weight gradient as an op, recorded by create_graph=True)
        "conv2d_double_backward": lambda: dlbasic.autograd.grad(
            F.conv2d(img, _t(4, 3, 3, 3, seed=4), padding=1).pow(2).sum(), img,
            create_graph=True)[0],
        # (LinearBackward: a pooling's backward as an op, both directions)
        "pool_double_backward": lambda: dlbasic.autograd.grad(
            dlbasic.autograd.grad(F.max_pool2d(img, 2).pow(2).sum(), img,
                                  create_graph=True)[0].pow(2).sum(), img,
            create_graph=True)[0],
        "dropout": lambda: F.dropout(x, 0.5, training=True),
        "embedding": lambda: F.embedding(dlbasic.tensor([1, 0, 2]), _t(4, 3)),
        "linear": lambda: F.linear(x, _t(5, 4), _t(5)),
        "linear_no_bias": lambda: F.linear(x, _t(5, 4)),
        "layer_norm": lambda: F.layer_norm(x, (4,), _t(4), _t(4, seed=3)),
        "scaled_dot_product_attention": lambda: F.scaled_dot_product_attention(
            _t(2, 3, 4), _t(2, 5, 4, seed=1), _t(2, 5, 3, seed=2), attn_mask=_t(3, 5, seed=3)),
        "pad_constant": lambda: F.pad(img, (1, 1)),
        "pad_reflect": lambda: F.pad(img, (1, 1, 1, 1), mode="reflect"),
        "interpolate": lambda: F.interpolate(img, scale_factor=1.5, mode="bicubic"),
        "unfold": lambda: F.unfold(img, 3, padding=1, stride=2),
        "fold": lambda: F.fold(_t(2, 12, 9), (4, 4), 2),
        "max_pool": lambda: F.max_pool2d(img, 2), "avg_pool": lambda: F.avg_pool2d(img, 2),
        "adaptive_avg_pool": lambda: F.adaptive_avg_pool2d(img, 4),
        "adaptive_max_pool": lambda: F.adaptive_max_pool2d(img, 2),
        # losses
        "bce": lambda: F.binary_cross_entropy(x.sigmoid(), c.gt(0).double()),
        "bce_logits": lambda: F.binary_cross_entropy_with_logits(x, c.gt(0).double()),
        "cross_entropy": lambda: F.cross_entropy(x, target),
        "nll": lambda: F.nll_loss(F.log_softmax(x, 1), target),
        "smooth_l1": lambda: F.smooth_l1_loss(x, c),
        "ctc_loss": lambda: F.ctc_loss(_t(5, 2, 4).log_softmax(2),
                                       dlbasic.tensor([[1, 2], [3, 3]]), (5, 4), (2, 2),
                                       reduction="none"),
        # optional arguments that make an op keep more arrays
        "cross_entropy_weighted": lambda: F.cross_entropy(x, target, weight=_t(4, grad=False,
                                                                                positive=True)),
        "bce_logits_weighted": lambda: F.binary_cross_entropy_with_logits(
            x, c.gt(0).double(), weight=_t(4, grad=False), pos_weight=_t(4, grad=False)),
        "gelu_tanh": lambda: F.gelu(x, approximate="tanh"),
        "getitem_slice_and_list": lambda: x[:, [0, 2]],
        # products
        "bmm": lambda: dlbasic.bmm(_t(2, 3, 4), _t(2, 4, 5)), "mm": lambda: dlbasic.mm(x, _t(4, 2)),
        "matmul": lambda: _t(2, 3, 4) @ _t(4, 5), "mv": lambda: dlbasic.mv(x, _t(4)),
        "einsum": lambda: dlbasic.einsum("ij,jk->ik", x, _t(4, 2)),
        # movement
        "cat": lambda: dlbasic.cat([x, y]), "stack": lambda: dlbasic.stack([x, y]),
        "clone": lambda: x.clone(), "expand": lambda: x[:1].expand(3, 4), "flip": lambda: x.flip(0),
        "gather": lambda: x.gather(1, idx), "getitem": lambda: x[[0, 2]],
        "getitem_view": lambda: x[0],
        "permute": lambda: x.permute(1, 0), "repeat": lambda: x.repeat(2, 1),
        "reshape": lambda: x.reshape(4, 3), "scatter": lambda: x.scatter(1, idx, y),
        "split": lambda: x.split(2, 1), "transpose": lambda: x.transpose(0, 1), "t": lambda: x.t(),
        "tril": lambda: x.tril(), "squeeze_all": lambda: x[None].squeeze(),
        "squeeze_dim": lambda: x[None].squeeze(0), "squeeze_dims": lambda: x[None].squeeze((0,)),
        "unsqueeze": lambda: x.unsqueeze(0), "setitem": _setitem(x, y),
        # reductions
        "amax": lambda: x.amax(1), "cumsum": lambda: x.cumsum(1),
        "cumprod": lambda: x.cumprod(1),
        "logsumexp": lambda: x.logsumexp(1),
        "max_all": lambda: x.max(), "max_dim": lambda: x.max(1)[0], "mean": lambda: x.mean(),
        "norm": lambda: x.norm(), "prod": lambda: x.prod(1), "std": lambda: x.std(1),
        "sum": lambda: x.sum(), "var": lambda: x.var(1),
        # complex numbers and the FFT
        "real": lambda: dlbasic.complex(x, y).real, "imag": lambda: dlbasic.complex(x, y).imag,
        "conj": lambda: dlbasic.complex(x, y).conj(), "angle": lambda: dlbasic.complex(x, y).angle(),
        "sgn": lambda: dlbasic.complex(x, y).sgn(),
        "view_as_real": lambda: dlbasic.view_as_real(dlbasic.complex(x, y)),
        "view_as_complex": lambda: dlbasic.view_as_complex(x.reshape(3, 2, 2)),
        "polar": lambda: dlbasic.polar(p, x),
        "fft": lambda: dlbasic.fft.fft(dlbasic.complex(x, y), n=6),
        "rfft": lambda: dlbasic.fft.rfft2(x), "irfft": lambda: dlbasic.fft.irfft(
            dlbasic.complex(x, y), norm="ortho"),
        # linear algebra
        "vector_norm": lambda: L.vector_norm(x, 3), "inv": lambda: L.inv(sq),
        "inv_ex": lambda: L.inv_ex(sq).inverse, "solve": lambda: L.solve(sq, x),
        "solve_triangular": lambda: L.solve_triangular(sq.triu(), x, upper=True),
        "det": lambda: L.det(sq), "slogdet": lambda: L.slogdet(sq).logabsdet,
        "pinv": lambda: L.pinv(x), "lstsq": lambda: L.lstsq(_t(5, 3), _t(5, 2)).solution,
        "cholesky": lambda: L.cholesky(spd), "qr": lambda: L.qr(x.t()),
        "svd": lambda: L.svd(x, full_matrices=False), "svdvals": lambda: L.svdvals(x),
        "eigh": lambda: L.eigh(spd), "eigvalsh": lambda: L.eigvalsh(spd),
    }


def _setitem(x, y):
    def run():
        z = x * 1.0
        z[0] = y[1]
        return z
    return run


def run_corpus(names=None):
    """Run the corpus under an observer; return [(op class, inputs, params, outputs)]."""
    seen = []

    def observe(cls, inputs, params, outputs):
        seen.append((cls, inputs, params, outputs))

    calls = _calls()
    _function._observers.append(observe)
    try:
        for name in (names or calls):
            calls[name]()
    finally:
        _function._observers.remove(observe)
    return seen


def primitive_ops():
    """Every primitive op class of dlbasic that computes (defines or inherits a forward):
    what the corpus must reach."""
    import dlbasic.nn.functional      # noqa: F401  (defines the padding ops)
    out, todo = set(), [_function.Op]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("dlbasic.") and sub.forward is not _function.Op.forward:
                out.add(sub)
    return out

