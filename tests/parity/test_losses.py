"""Every loss of the notes, as functions and modules, against torch: each reduction and option
(weight, pos_weight, ignore_index, label_smoothing, class-probability targets, K-dimensional and
unbatched inputs), gradients with respect to input and target, stability for huge logits, the
deprecated size_average/reduce arguments, and torch's exception types and messages."""
import warnings

import numpy as np
import pytest

from tests.parity.harness import check, check_raises, torch

import dlbasic
import dlbasic.nn as dnn
import dlbasic.nn.functional as dF

F = torch.nn.functional
nn = torch.nn

REDUCTIONS = ["none", "mean", "sum"]
rng = np.random.default_rng(7)


def _randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def _probs(*shape, low=0.02, high=0.98):
    return rng.uniform(low, high, shape).astype(np.float32)


def _labels(n, c, shape=None, ignore=None):
    t = rng.integers(0, c, shape if shape is not None else (n,)).astype(np.int64)
    if ignore is not None:
        t.reshape(-1)[::3] = ignore
    return t


# -- regression losses -------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("fn", [
    lambda F, x, y, r: F.l1_loss(x, y, reduction=r),
    lambda F, x, y, r: F.mse_loss(x, y, reduction=r),
    lambda F, x, y, r: F.smooth_l1_loss(x, y, reduction=r),
    lambda F, x, y, r: F.smooth_l1_loss(x, y, reduction=r, beta=0.3),
    lambda F, x, y, r: F.smooth_l1_loss(x, y, reduction=r, beta=0.0),
    lambda F, x, y, r: F.huber_loss(x, y, reduction=r),
    lambda F, x, y, r: F.huber_loss(x, y, reduction=r, delta=0.4),
    lambda F, x, y, r: F.huber_loss(x, y, reduction=r, delta=2.5),
])
def test_regression_losses_match_torch(fn, reduction):
    """Forward and the gradients with respect to both input and target."""
    check(lambda x, y: fn(_lib(x)[1], x, y, reduction), shapes=[(4, 6), (4, 6)], dtype="float32")
    check(lambda x, y: fn(_lib(x)[1], x, y, reduction), shapes=[(3, 2, 5), (3, 2, 5)], dtype="float64")


@pytest.mark.parametrize("fn", [
    lambda x, y: F.l1_loss(x, y, reduction="none"), lambda x, y: F.mse_loss(x, y, reduction="none"),
    lambda x, y: F.smooth_l1_loss(x, y, reduction="none", beta=0.5),
    lambda x, y: F.huber_loss(x, y, reduction="none", delta=0.5)])
def test_regression_losses_at_their_kinks(fn):
    """d = 0 (|d| kink) and |d| = beta (quadratic/linear seam): exact values and gradients."""
    x = np.array([0.0, 0.5, -0.5, 1.0, 2.0, -3.0], np.float32)
    y = np.array([0.0, 0.0, 0.0, 0.5, 1.5, -3.0], np.float32)
    check(fn, inputs=[x, y], atol=0, rtol=1e-7, grad_atol=0, grad_rtol=1e-7)


@pytest.mark.parametrize("module", [
    lambda: nn.L1Loss(), lambda: nn.MSELoss(reduction="sum"), lambda: nn.SmoothL1Loss(beta=0.5),
    lambda: nn.HuberLoss(delta=1.5, reduction="none"), lambda: nn.L1Loss(reduction="none"),
    lambda: nn.SmoothL1Loss(reduction="sum"), lambda: nn.HuberLoss()])
def test_regression_modules_match_torch(module):
    t_mod, d_mod = _build(module)
    check(lambda x, y: _pick(x, t_mod, d_mod)(x, y), shapes=[(5, 3), (5, 3)])


@pytest.mark.parametrize("delta", [0.25, 1.0, 3.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_huber_is_delta_times_smooth_l1_with_beta_delta(delta, reduction):
    """The notes' identity: HuberLoss(delta) == delta * SmoothL1Loss(beta=delta)."""
    x = dlbasic.tensor(_randn(6, 7) * 3, requires_grad=True)
    y = dlbasic.tensor(_randn(6, 7))
    h = dnn.HuberLoss(reduction=reduction, delta=delta)(x, y)
    s = dnn.SmoothL1Loss(reduction=reduction, beta=delta)(x, y)
    np.testing.assert_allclose(h.detach().numpy(), delta * s.detach().numpy(), rtol=1e-6,
                               atol=1e-7)
    gh, = dlbasic.autograd.grad(h.sum(), x)
    gs, = dlbasic.autograd.grad((delta * s).sum(), x)
    np.testing.assert_allclose(gh.numpy(), gs.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("fn", [
    lambda x, y: F.mse_loss(x, y), lambda x, y: F.l1_loss(x, y, reduction="sum"),
    lambda x, y: F.smooth_l1_loss(x, y), lambda x, y: F.huber_loss(x, y, reduction="none")])
def test_mismatched_shapes_broadcast_with_a_user_warning(fn):
    with pytest.warns(UserWarning, match="Using a target size") as rec:
        check(fn, shapes=[(4, 5), (5,)])
    d_msgs = [str(w.message) for w in rec]
    assert any("torch.Size([5])" in m and "torch.Size([4, 5])" in m for m in d_msgs)


def test_mse_loss_shapes_that_do_not_broadcast_raise_like_torch():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_exc, d_exc = check_raises(lambda x, y: F.mse_loss(x, y), shapes=[(3, 5), (4,)])
    assert str(d_exc) == str(t_exc)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("fn", [
    lambda F, x, y, w, r: F.mse_loss(x, y, reduction=r, weight=w),
    lambda F, x, y, w, r: F.l1_loss(x, y, reduction=r, weight=w),
    lambda F, x, y, w, r: F.huber_loss(x, y, reduction=r, delta=0.7, weight=w)])
def test_elementwise_weight_of_regression_losses(fn, reduction):
    w = _probs(4, 6)
    check(lambda x, y, w: fn(_lib(x)[1], x, y, w, reduction), inputs=[_randn(4, 6), _randn(4, 6), w],
          requires_grad=[True, True, False])


def test_mixed_dtypes_promote_like_torch():
    check(lambda x, y: F.mse_loss(x, y), inputs=[_randn(3, 4), _randn(3, 4).astype(np.float64)])
    check(lambda x, y: F.l1_loss(x, y), inputs=[_randn(3), np.array([1, 2, 3], np.int64)])


# -- deprecated size_average / reduce ------------------------------------------------------

@pytest.mark.parametrize("size_average,reduce", [(None, False), (False, None), (True, True),
                                                 (False, True), (True, False), (None, True)])
def test_size_average_and_reduce_convert_like_torch(size_average, reduce):
    x, y = _randn(4, 3), _randn(4, 3)
    t = _labels(4, 3)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for fn in [lambda x, y: F.mse_loss(x, y, size_average=size_average, reduce=reduce),
                   lambda x, y: F.l1_loss(x, y, size_average, reduce),
                   lambda x, y: F.smooth_l1_loss(x, y, size_average, reduce)]:
            check(fn, inputs=[x, y])
        check(lambda x, t: F.cross_entropy(x, t, size_average=size_average, reduce=reduce),
              inputs=[x, t])
        check(lambda x, t: F.nll_loss(x, t, None, size_average, -100, reduce), inputs=[x, t])
        check(lambda x, y: F.binary_cross_entropy_with_logits(x, y, size_average=size_average,
                                                              reduce=reduce), inputs=[x, y])
        t_mod = nn.MSELoss(size_average, reduce)
        d_mod = dnn.MSELoss(size_average, reduce)
        assert d_mod.reduction == t_mod.reduction
        t_mod = nn.CrossEntropyLoss(None, size_average, -100, reduce)
        d_mod = dnn.CrossEntropyLoss(None, size_average, -100, reduce)
        assert d_mod.reduction == t_mod.reduction
    msgs = [str(w.message) for w in rec if "size_average" in str(w.message)]
    assert any(f"reduction='{d_mod.reduction}'" in m for m in msgs)


# -- binary cross entropy -----------------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_matches_torch(reduction, weighted):
    x, y = _probs(5, 4), _probs(5, 4, low=0, high=1)
    if weighted:
        check(lambda x, y, w: F.binary_cross_entropy(x, y, w, reduction=reduction),
              inputs=[x, y, _probs(4)], requires_grad=[True, True, False])
        check(lambda x, y, w: nn.BCELoss(w, reduction=reduction)(x, y),
              inputs=[x, y, _probs(5, 1)], requires_grad=[True, True, False])
    else:
        check(lambda x, y: F.binary_cross_entropy(x, y, reduction=reduction), inputs=[x, y])
        check(lambda x, y: nn.BCELoss(reduction=reduction)(x, y), inputs=[x, y])


def test_bce_log_is_clamped_at_minus_100():
    """Inputs exactly 0 and 1: torch clamps log at -100, so the loss is finite (100)."""
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 1e-30], np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0], np.float32)
    t_out, d_out = check(lambda x, y: F.binary_cross_entropy(x, y, reduction="none"),
                         inputs=[x, y], atol=0, rtol=1e-6)
    np.testing.assert_allclose(d_out.detach().numpy()[:2], [100.0, 100.0])
    assert np.isfinite(d_out.detach().numpy()).all()


def test_bce_input_outside_0_1_raises_runtime_error():
    for bad in [1.5, -0.1]:
        t_exc, d_exc = check_raises(lambda x, y: F.binary_cross_entropy(x, y),
                                    inputs=[np.array([0.5, bad], np.float32),
                                            np.array([0.0, 1.0], np.float32)])
        assert str(d_exc) == str(t_exc) == "all elements of input should be between 0 and 1"


def test_bce_target_size_mismatch_raises_value_error():
    t_exc, d_exc = check_raises(lambda x, y: F.binary_cross_entropy(x, y),
                                inputs=[_probs(2), _probs(3)])
    assert str(d_exc) == str(t_exc)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", ["plain", "weight", "pos_weight", "both"])
def test_bce_with_logits_matches_torch(reduction, options):
    x, y = _randn(6, 4) * 3, _probs(6, 4, low=0, high=1)
    w, pw = _probs(6, 4), _probs(4, low=0.5, high=3.0)
    fns = {
        "plain": lambda x, y, w, pw: F.binary_cross_entropy_with_logits(x, y,
                                                                        reduction=reduction),
        "weight": lambda x, y, w, pw: F.binary_cross_entropy_with_logits(x, y, w,
                                                                         reduction=reduction),
        "pos_weight": lambda x, y, w, pw: F.binary_cross_entropy_with_logits(
            x, y, reduction=reduction, pos_weight=pw),
        "both": lambda x, y, w, pw: nn.BCEWithLogitsLoss(w, reduction=reduction,
                                                         pos_weight=pw)(x, y),
    }
    # gradients with respect to logits and targets
    check(fns[options], inputs=[x, y, w, pw], requires_grad=[True, True, False, False])


def test_bce_with_logits_stable_for_huge_logits():
    x = np.array([-1000.0, -100.0, -20.0, 0.0, 20.0, 100.0, 1000.0], np.float32)
    for y in [np.zeros(7, np.float32), np.ones(7, np.float32), np.full(7, 0.3, np.float32)]:
        pw = np.array([2.5], np.float32)
        t_out, d_out = check(lambda x, y, pw: F.binary_cross_entropy_with_logits(
            x, y, reduction="none", pos_weight=pw), inputs=[x, y, pw],
            requires_grad=[True, True, False])
        assert np.isfinite(d_out.detach().numpy()).all()
        check(lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction="sum"),
              inputs=[x, y])


def test_bce_with_logits_equals_bce_of_sigmoid():
    x = dlbasic.tensor(_randn(50))
    y = dlbasic.tensor(_probs(50))
    a = dF.binary_cross_entropy_with_logits(x, y)
    b = dF.binary_cross_entropy(dlbasic.sigmoid(x), y)
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-5)


def test_bce_with_logits_size_mismatch_raises_value_error():
    t_exc, d_exc = check_raises(lambda x, y: F.binary_cross_entropy_with_logits(x, y),
                                inputs=[_randn(2), _randn(3)])
    assert str(d_exc) == str(t_exc)


# -- NLL and cross entropy ------------------------------------------------------------------------

CE_OPTIONS = {
    "plain": {},
    "weight": {"weight": True},
    "ignore": {"ignore_index": 2},
    "ignore_default": {"ignore_default": True},
    "smoothing": {"label_smoothing": 0.2},
    "weight_ignore_smoothing": {"weight": True, "ignore_index": 1, "label_smoothing": 0.35},
    "weight_smoothing": {"weight": True, "label_smoothing": 1.0},
}


def _targets(shape, c, opts):
    t = rng.integers(0, c, shape).astype(np.int64)
    if "ignore_index" in opts:
        t.reshape(-1)[::3] = opts["ignore_index"]
    if opts.get("ignore_default"):
        t.reshape(-1)[1::3] = -100
    return t


_CE_CASES = [(loss, opt) for loss in ("cross_entropy", "nll_loss") for opt in CE_OPTIONS
             if not (loss == "nll_loss" and "label_smoothing" in CE_OPTIONS[opt])]


@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 5, 2), (5,)],
                         ids=["NC", "NCd1d2", "unbatched"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss,opt", _CE_CASES)
def test_cross_entropy_and_nll_match_torch(loss, opt, reduction, shape):
    opts = CE_OPTIONS[opt]
    c = shape[1] if len(shape) > 1 else shape[0]
    t_shape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    x = _randn(*shape) * 2
    t = _targets(t_shape, c, opts)
    if len(shape) == 1 and ("ignore_index" in opts or opts.get("ignore_default")):
        t = np.array(0 if "ignore_index" not in opts else opts["ignore_index"], np.int64)
    w = _probs(c, low=0.2, high=3.0)
    nll = loss == "nll_loss"
    check(lambda x, t, w: _ce_case(x, t, w, reduction, opts, nll), inputs=[x, t, w],
          requires_grad=[True, False, False])
    if reduction == "none":
        # a weighted upstream gradient, so the per-sample gradients are all distinct
        g = _probs(*t_shape) if t_shape else np.array(1.7, np.float32)
        check(lambda x, t, w: _ce_case(x, t, w, reduction, opts, nll, g), inputs=[x, t, w],
              requires_grad=[True, False, False])


def _lib(x):
    """(library, its functional) for x: check() runs a lambda once per library."""
    return (torch, F) if type(x).__module__.startswith("torch") else (dlbasic, dF)


def _ce_case(x, t, w, reduction, opts, nll, g=None):
    lib, lib_F = _lib(x)
    kw = {"reduction": reduction}
    if opts.get("weight"):
        kw["weight"] = w
    if "ignore_index" in opts:
        kw["ignore_index"] = opts["ignore_index"]
    if nll:
        out = lib_F.nll_loss(lib_F.log_softmax(x, 0 if x.ndim == 1 else 1), t, **kw)
    else:
        if "label_smoothing" in opts:
            kw["label_smoothing"] = opts["label_smoothing"]
        out = lib_F.cross_entropy(x, t, **kw)
    if g is not None:
        out = out * lib.tensor(g)
    return out


@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 5, 2), (5,)], ids=["NC", "NCd1d2", "C"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opts", [{}, {"weight": True}, {"label_smoothing": 0.3},
                                  {"weight": True, "label_smoothing": 0.15}],
                         ids=["plain", "weight", "smoothing", "weight_smoothing"])
def test_cross_entropy_with_class_probabilities(shape, reduction, opts):
    """Soft targets (same shape as input): the gradient flows to input and target."""
    x = _randn(*shape)
    class_dim = 0 if len(shape) == 1 else 1
    p = rng.uniform(0, 1, shape).astype(np.float32)
    p = p / p.sum(axis=class_dim, keepdims=True)
    c = shape[class_dim]
    w = _probs(c, low=0.2, high=2.0)

    def fn(x, p, w):
        kw = {"reduction": reduction}
        if opts.get("weight"):
            kw["weight"] = w
        if "label_smoothing" in opts:
            kw["label_smoothing"] = opts["label_smoothing"]
        out = F.cross_entropy(x, p, **kw)
        return out * torch.ones_like(out) * 1.3
    check(fn, inputs=[x, p, w], requires_grad=[True, True, False])


def test_cross_entropy_stable_for_huge_logits():
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0],
                  [5.0, 1000.0, 999.0]], np.float32)
    t = np.array([1, 0, 2], np.int64)
    for red in REDUCTIONS:
        t_out, d_out = check(lambda x, t: F.cross_entropy(x, t, reduction=red,
                                                          label_smoothing=0.1), inputs=[x, t])
        assert np.isfinite(d_out.detach().numpy()).all()
    check(lambda x, t: F.nll_loss(F.log_softmax(x, 1), t), inputs=[x, t])


def test_cross_entropy_all_targets_ignored_gives_nan_mean_and_zero_sum():
    x = _randn(3, 4)
    t = np.full(3, -100, np.int64)
    for red in REDUCTIONS:
        check(lambda x, t: F.cross_entropy(x, t, reduction=red), inputs=[x, t], grad=False)
        check(lambda x, t: F.nll_loss(x, t, reduction=red), inputs=[x, t], grad=False)


def test_uint8_targets_are_accepted():
    x = _randn(4, 3)
    t = np.array([0, 2, 1, 1], np.uint8)
    check(lambda x, t: F.cross_entropy(x, t), inputs=[x, t])
    check(lambda x, t: F.nll_loss(x, t, reduction="none"), inputs=[x, t])


def test_fused_cross_entropy_equals_log_softmax_then_nll():
    """The composed version is the oracle of the fused kernel."""
    x = dlbasic.tensor(_randn(7, 5), requires_grad=True)
    t = dlbasic.tensor(_labels(7, 5, ignore=-100))
    w = dlbasic.tensor(_probs(5))
    a = dF.cross_entropy(x, t, w)
    ga, = dlbasic.autograd.grad(a, x)
    b = dF.nll_loss(dF.log_softmax(x, 1), t, w)
    gb, = dlbasic.autograd.grad(b, x)
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-6)
    np.testing.assert_allclose(ga.numpy(), gb.numpy(), rtol=1e-5, atol=1e-7)


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    x = dlbasic.tensor(_randn(4, 6), requires_grad=True)
    t = _labels(4, 6)
    dF.cross_entropy(x, dlbasic.tensor(t), reduction="sum").backward()
    p = dF.softmax(x.detach(), 1).numpy()
    onehot = np.eye(6, dtype=np.float32)[t]
    np.testing.assert_allclose(x.grad.numpy(), p - onehot, atol=1e-6)


@pytest.mark.parametrize("module", [
    lambda w: nn.CrossEntropyLoss(), lambda w: nn.CrossEntropyLoss(w, reduction="sum"),
    lambda w: nn.CrossEntropyLoss(ignore_index=1, label_smoothing=0.1),
    lambda w: nn.CrossEntropyLoss(weight=w, label_smoothing=0.2, reduction="none"),
    lambda w: nn.NLLLoss(), lambda w: nn.NLLLoss(w, ignore_index=0),
    lambda w: nn.NLLLoss(weight=w, reduction="none")])
def test_nll_and_cross_entropy_modules_match_torch(module):
    w = _probs(4, low=0.3, high=2.0)
    t_mod = module(torch.tensor(w))
    g = dict(module.__globals__)
    g["nn"] = dnn
    import types
    d_mod = types.FunctionType(module.__code__, g)(dlbasic.tensor(w))
    assert repr(d_mod) == repr(t_mod)
    assert list(d_mod.state_dict()) == list(t_mod.state_dict())
    for k in ("reduction", "ignore_index", "label_smoothing"):
        assert getattr(d_mod, k, None) == getattr(t_mod, k, None)
    check(lambda x, t: _pick(x, t_mod, d_mod)(x, t),
          inputs=[_randn(6, 4), _labels(6, 4)])
    check(lambda x, t: _pick(x, t_mod, d_mod)(x, t),
          inputs=[_randn(2, 4, 3, 3), _labels(2, 4, (2, 3, 3))])


@pytest.mark.parametrize("factory", [
    lambda: nn.L1Loss(), lambda: nn.MSELoss(), lambda: nn.SmoothL1Loss(beta=0.5),
    lambda: nn.HuberLoss(delta=2.0), lambda: nn.BCELoss(), lambda: nn.BCEWithLogitsLoss(),
    lambda: nn.NLLLoss(), lambda: nn.CrossEntropyLoss(label_smoothing=0.1)])
def test_loss_module_repr_and_attributes_equal_torch(factory):
    t_mod, d_mod = _build(factory)
    assert repr(d_mod) == repr(t_mod)
    for k in ("reduction", "beta", "delta", "ignore_index", "label_smoothing"):
        assert getattr(d_mod, k, None) == getattr(t_mod, k, None)
    assert list(d_mod.state_dict()) == list(t_mod.state_dict())


def test_bce_with_logits_module_buffers_like_torch():
    w, pw = _probs(3), _probs(3)
    t_mod = nn.BCEWithLogitsLoss(torch.tensor(w), pos_weight=torch.tensor(pw))
    d_mod = dnn.BCEWithLogitsLoss(dlbasic.tensor(w), pos_weight=dlbasic.tensor(pw))
    assert list(d_mod.state_dict()) == list(t_mod.state_dict()) == ["weight", "pos_weight"]
    check(lambda x, y: _pick(x, t_mod, d_mod)(x, y), inputs=[_randn(5, 3), _probs(5, 3)])


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fn,inputs", [
    (lambda x, t: F.cross_entropy(x, t), [_randn(3, 5), np.array([1, 2], np.int64)]),
    (lambda x, t: F.nll_loss(x, t), [_randn(3, 5), np.array([1, 2], np.int64)]),
    (lambda x, t: F.cross_entropy(x, t), [_randn(3, 5), np.array([1, 2, 5], np.int64)]),
    (lambda x, t: F.nll_loss(x, t), [_randn(3, 5), np.array([1, -1, 0], np.int64)]),
    (lambda x, t: F.cross_entropy(x, t, ignore_index=4),
     [_randn(3, 4), np.array([4, 7, 0], np.int64)]),
    (lambda x, t: F.nll_loss(x, t), [_randn(3, 5), np.array([1.0, 2.0, 3.0], np.float32)]),
    (lambda x, t: F.cross_entropy(x, t), [_randn(3, 5), np.array([1.0, 2.0, 3.0], np.float32)]),
    (lambda x, t: F.cross_entropy(x, t), [_randn(3, 5), np.array([1, 2, 3], np.int32)]),
    (lambda x, t: F.nll_loss(x, t), [_randn(3, 5, 2), np.array([1, 2, 3], np.int64)]),
    (lambda x, t: F.cross_entropy(x, t, torch.ones(4)), [_randn(3, 5), _labels(3, 5)]),
    (lambda x, t: F.cross_entropy(x, t, reduction="avg"), [_randn(3, 5), _labels(3, 5)]),
    (lambda x, t: F.mse_loss(x, t, reduction="foo"), [_randn(3), _randn(3)]),
    (lambda x, t: F.cross_entropy(x, t, label_smoothing=1.5), [_randn(3, 5), _labels(3, 5)]),
    (lambda x, t: F.cross_entropy(x, t), [_randn(3, 5), _probs(3, 4)]),
    (lambda x, t: F.cross_entropy(x, t, ignore_index=1), [_randn(3, 5), _probs(3, 5)]),
    (lambda x, t: F.cross_entropy(x, t), [_randn(3, 5), _labels(3, 5).astype(np.int64)[:, None]
                                          .repeat(5, 1)]),
    (lambda x, t: F.smooth_l1_loss(x, t, beta=-1.0), [_randn(3), _randn(3)]),
    (lambda x, t: F.huber_loss(x, t, delta=0.0), [_randn(3), _randn(3)]),
    (lambda x, t: F.mse_loss(x, t, weight=torch.ones(2)), [_randn(3), _randn(3)]),
])
def test_bad_input_raises_like_torch(fn, inputs):
    t_exc, d_exc = check_raises(fn, inputs=inputs)
    assert str(d_exc) == str(t_exc)


@pytest.mark.parametrize("fn", [
    lambda x, y, w: F.binary_cross_entropy(torch.sigmoid(x), y, w),
    lambda x, y, w: F.binary_cross_entropy_with_logits(x, y, w),
    lambda x, y, w: F.binary_cross_entropy_with_logits(x, y, pos_weight=w),
    lambda x, y, w: F.nll_loss(x, (y[:, 0] * 3).long(), w),
    lambda x, y, w: F.cross_entropy(x, (y[:, 0] * 3).long(), w)])
def test_weights_that_require_grad_raise_like_torch(fn):
    x, y, w = (torch.tensor(_randn(3, 3)), torch.tensor(_probs(3, 3)),
               torch.tensor(_probs(3), requires_grad=True))
    with pytest.raises(RuntimeError) as t_exc:
        fn(x, y, w)
    from tests.parity.harness import rebind
    with pytest.raises(RuntimeError) as d_exc:
        rebind(fn)(dlbasic.tensor(x.numpy()), dlbasic.tensor(y.numpy()),
                   dlbasic.tensor(w.detach().numpy(), requires_grad=True))
    assert str(d_exc.value) == str(t_exc.value)
    with dlbasic.no_grad():
        rebind(fn)(dlbasic.tensor(x.numpy()), dlbasic.tensor(y.numpy()),
                   dlbasic.tensor(w.detach().numpy(), requires_grad=True))


@pytest.mark.parametrize("target", [np.array(1), np.array([1]), np.array([1, 2]),
                                    np.array([[1]])])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_unbatched_input_target_shapes_like_torch(target, reduction):
    fn = lambda x, t: F.nll_loss(x, t, reduction=reduction)       # noqa: E731
    if target.size != 1 or target.ndim > 1:
        t_exc, d_exc = check_raises(fn, inputs=[_randn(5), target])
        assert str(d_exc) == str(t_exc)
    else:
        # target [1]: torch's forward works, its backward raises "size mismatch" (a torch bug)
        grad = target.ndim == 0
        check(fn, inputs=[_randn(5), target], grad=grad)
        ce = lambda x, t: F.cross_entropy(x, t, reduction=reduction)     # noqa: E731
        check(ce, inputs=[_randn(5), target], grad=grad)
        if grad:
            check(lambda x, t: F.cross_entropy(x, t, reduction=reduction, label_smoothing=0.1),
                  inputs=[_randn(5), target])


def test_zero_dim_target_with_batched_input_raises_like_torch():
    t_exc, d_exc = check_raises(lambda x, t: F.cross_entropy(x, t),
                                inputs=[_randn(3, 4), np.array(1)])
    assert str(d_exc) == str(t_exc)


def test_empty_batch_like_torch():
    for red in REDUCTIONS:
        check(lambda x, t: F.cross_entropy(x, t, reduction=red),
              inputs=[np.zeros((0, 4), np.float32), np.zeros(0, np.int64)])


def test_out_of_bounds_message_names_the_target():
    t_exc, d_exc = check_raises(lambda x, t: F.cross_entropy(x, t),
                                inputs=[_randn(3, 5), np.array([1, 2, 5], np.int64)])
    assert isinstance(d_exc, IndexError) and str(d_exc) == "Target 5 is out of bounds."
    t_exc, d_exc = check_raises(lambda x, t: F.nll_loss(x, t),
                                inputs=[_randn(3, 5), np.array([1, 2], np.int64)])
    assert isinstance(d_exc, ValueError)
    assert str(d_exc) == "Expected input batch_size (3) to match target batch_size (2)."


# -- helpers -------------------------------------------------------------------------------

def _pick(x, t_mod, d_mod):
    """The module of x's library (check() rebinds ``torch``, so test the type)."""
    return t_mod if type(x).__module__.startswith("torch") else d_mod


def _build(factory):
    import types
    t_mod = factory()
    g = dict(factory.__globals__)
    g["nn"] = dnn
    return t_mod, types.FunctionType(factory.__code__, g)()
