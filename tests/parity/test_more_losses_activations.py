"""The margin, embedding and likelihood losses and the extra activations against torch:
values and gradients (float32 and float64), every reduction, modules' options and reprs,
float64 gradcheck, and torch's errors."""
import numpy as np
import pytest

from tests.parity.harness import assert_same_error, check, rebind, torch

import dlbasic
import dlbasic.nn as dnn
import dlbasic.nn.functional as dF
from dlbasic.autograd import gradcheck

F = torch.nn.functional
nn = torch.nn

REDUCTIONS = ["none", "mean", "sum"]


def _rng(seed=0):
    return np.random.default_rng(seed)


def randn(*shape, seed=0, dtype=np.float32):
    return _rng(seed).standard_normal(shape).astype(dtype)


def signs(*shape, seed=1, dtype=np.float32):
    return np.where(_rng(seed).random(shape) < 0.5, -1.0, 1.0).astype(dtype)


# -- losses ---------------------------------------------------------------------------------

LOSSES = {
    "margin_ranking": (lambda x1, x2, y, r: F.margin_ranking_loss(x1, x2, y, reduction=r),
                       lambda d: [randn(6, seed=0, dtype=d), randn(6, seed=1, dtype=d),
                                  signs(6, dtype=d)]),
    "margin_ranking_margin": (lambda x1, x2, y, r: F.margin_ranking_loss(x1, x2, y, margin=0.5,
                                                                         reduction=r),
                              lambda d: [randn(3, 4, dtype=d), randn(3, 4, seed=2, dtype=d),
                                         signs(3, 4, dtype=d)]),
    "hinge_embedding": (lambda x, y, r: F.hinge_embedding_loss(x, y, reduction=r),
                        lambda d: [randn(4, 5, dtype=d), signs(4, 5, dtype=d)]),
    "hinge_embedding_other_targets": (
        lambda x, y, r: F.hinge_embedding_loss(x, y, margin=0.3, reduction=r),
        lambda d: [randn(8, dtype=d), np.array([1, -1, 0, 2, 1, -1, 0.5, 1], dtype=d)]),
    "soft_margin": (lambda x, y, r: F.soft_margin_loss(x, y, reduction=r),
                    lambda d: [randn(3, 5, dtype=d), signs(3, 5, dtype=d)]),
    "multilabel_soft_margin": (lambda x, y, r: F.multilabel_soft_margin_loss(x, y, reduction=r),
                               lambda d: [randn(4, 3, dtype=d),
                                          (signs(4, 3, dtype=d) > 0).astype(d)]),
    "multilabel_soft_margin_weight": (
        lambda x, y, w, r: F.multilabel_soft_margin_loss(x, y, weight=w, reduction=r),
        lambda d: [randn(4, 3, dtype=d), (signs(4, 3, dtype=d) > 0).astype(d),
                   np.array([0.5, 1.0, 2.0], dtype=d)]),
    "cosine_embedding": (lambda x1, x2, y, r: F.cosine_embedding_loss(x1, x2, y, reduction=r),
                         lambda d: [randn(5, 4, dtype=d), randn(5, 4, seed=3, dtype=d),
                                    signs(5, dtype=d)]),
    "cosine_embedding_margin_1d": (
        lambda x1, x2, y, r: F.cosine_embedding_loss(x1, x2, y, margin=-0.2, reduction=r),
        lambda d: [randn(4, dtype=d), randn(4, seed=3, dtype=d), np.array(-1.0, dtype=d)]),
    "triplet": (lambda a, p, n, r: F.triplet_margin_loss(a, p, n, reduction=r),
                lambda d: [randn(5, 3, dtype=d), randn(5, 3, seed=1, dtype=d),
                           randn(5, 3, seed=2, dtype=d)]),
    "triplet_p1_swap": (lambda a, p, n, r: F.triplet_margin_loss(a, p, n, margin=2.0, p=1,
                                                                 swap=True, reduction=r),
                        lambda d: [randn(4, 6, dtype=d), randn(4, 6, seed=1, dtype=d),
                                   randn(4, 6, seed=2, dtype=d)]),
    "poisson_log_input": (lambda x, y, r: F.poisson_nll_loss(x, y, reduction=r),
                          lambda d: [randn(4, 3, dtype=d),
                                     _rng(5).poisson(2.0, (4, 3)).astype(d)]),
    "poisson_rate_full": (lambda x, y, r: F.poisson_nll_loss(x, y, log_input=False, full=True,
                                                             reduction=r),
                          lambda d: [_rng(4).uniform(0.5, 3, (4, 3)).astype(d),
                                     _rng(5).poisson(2.0, (4, 3)).astype(d)]),
    "gaussian_nll": (lambda x, y, v, r: F.gaussian_nll_loss(x, y, v, reduction=r),
                     lambda d: [randn(4, 3, dtype=d), randn(4, 3, seed=1, dtype=d),
                                _rng(2).uniform(0.1, 2, (4, 3)).astype(d)]),
    "gaussian_nll_full_one_var_per_sample": (
        lambda x, y, v, r: F.gaussian_nll_loss(x, y, v, full=True, reduction=r),
        lambda d: [randn(4, 3, dtype=d), randn(4, 3, seed=1, dtype=d),
                   _rng(2).uniform(0.1, 2, (4, 1)).astype(d)]),
    "gaussian_nll_var_without_last_dim_clamped": (
        lambda x, y, v, r: F.gaussian_nll_loss(x, y, v, eps=0.5, reduction=r),
        lambda d: [randn(4, 3, dtype=d), randn(4, 3, seed=1, dtype=d),
                   _rng(2).uniform(0.1, 2, (4,)).astype(d)]),
    "pairwise_distance": (lambda x1, x2, r: F.pairwise_distance(x1, x2),
                          lambda d: [randn(4, 3, dtype=d), randn(4, 3, seed=1, dtype=d)]),
    "pairwise_distance_p3_keepdim": (lambda x1, x2, r: F.pairwise_distance(x1, x2, p=3,
                                                                           keepdim=True),
                                     lambda d: [randn(2, 4, 3, dtype=d),
                                                randn(4, 3, seed=1, dtype=d)]),
}


# targets without a gradient: torch refuses one for soft_margin_loss, and its gradient of the
# full Poisson loss with respect to the counts is nan wherever a count is <= 1
NO_TARGET_GRAD = {"soft_margin", "poisson_rate_full"}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_matches_torch(name, reduction, dtype):
    fn, make = LOSSES[name]
    tol = {} if dtype == "float32" else dict(atol=1e-12, rtol=1e-10, grad_atol=1e-10,
                                             grad_rtol=1e-9)
    arrays = make(dtype)
    rg = [not (name in NO_TARGET_GRAD and i == len(arrays) - 1) for i in range(len(arrays))]
    check(fn, inputs=arrays + [reduction], requires_grad=rg + [False], **tol)


def test_soft_margin_loss_refuses_a_target_gradient_like_torch():
    for lib, F_ in ((torch, F), (dlbasic, dF)):
        with pytest.raises(RuntimeError, match="not differentiable with respect to argument "
                                               "'target'"):
            F_.soft_margin_loss(lib.ones(2), lib.ones(2, requires_grad=True))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_loss_matches_torch(p, reduction):
    x = randn(5, 4)
    y = np.array([0, 3, 1, 1, 2])
    w = np.array([1.0, 0.5, 2.0, 1.5], dtype=np.float32)
    check(lambda x, y: F.multi_margin_loss(x, y, p=p, reduction=reduction), inputs=[x, y])
    check(lambda x, y, w: F.multi_margin_loss(x, y, p=p, margin=0.7, weight=w,
                                              reduction=reduction),
          inputs=[x, y, w], requires_grad=[True, False, False])
    check(lambda x, y: F.multi_margin_loss(x, y, reduction=reduction),
          inputs=[randn(4), np.array(2)])


# losses whose last input is a label used in a comparison (y == 1, y > 1): not differentiable
LABEL_LAST = {"hinge_embedding", "hinge_embedding_other_targets", "cosine_embedding",
              "cosine_embedding_margin_1d", "poisson_rate_full", "soft_margin"}


# (gaussian_nll_var_without_last_dim_clamped is left out: where var is clamped to eps, torch's
# gradient passes through the clamp unchanged by design, which is not the derivative; the
# parity test above checks that gradient against torch's)
@pytest.mark.parametrize("name", sorted(set(LOSSES)
                                        - {"gaussian_nll_var_without_last_dim_clamped"}))
def test_loss_gradcheck_float64(name):
    fn, make = LOSSES[name]
    arrays = make("float64")
    inputs = [dlbasic.tensor(a, requires_grad=not (name in LABEL_LAST and i == len(arrays) - 1))
              for i, a in enumerate(arrays)]
    loss = rebind(fn)
    assert gradcheck(lambda *a: loss(*a, "sum"), inputs, eps=1e-6, atol=1e-5)


MODULES = [
    ("MarginRankingLoss", dict(margin=0.2), 3),
    ("HingeEmbeddingLoss", dict(margin=0.5, reduction="sum"), 2),
    ("SoftMarginLoss", dict(), 2),
    ("MultiLabelSoftMarginLoss", dict(reduction="none"), 2),
    ("CosineEmbeddingLoss", dict(margin=0.1), 3),
    ("TripletMarginLoss", dict(margin=0.5, p=1.0, swap=True), 3),
    ("PoissonNLLLoss", dict(log_input=True, full=True), 2),
    ("GaussianNLLLoss", dict(full=True, eps=1e-3), 3),
    ("PairwiseDistance", dict(p=1.5, keepdim=True), 2),
]


@pytest.mark.parametrize("cls, kwargs, n", MODULES)
def test_loss_modules_match_torch(cls, kwargs, n):
    t, d = getattr(nn, cls)(**kwargs), getattr(dnn, cls)(**kwargs)
    assert repr(d) == repr(t)
    x = [randn(4, 3, seed=i) for i in range(n)]
    if cls in ("MarginRankingLoss", "SoftMarginLoss", "HingeEmbeddingLoss"):
        x[-1] = signs(4, 3)
    if cls == "CosineEmbeddingLoss":
        x[-1] = signs(4)
    if cls == "MultiLabelSoftMarginLoss":
        x[-1] = (signs(4, 3) > 0).astype(np.float32)
    if cls == "PoissonNLLLoss":
        x[-1] = _rng(5).poisson(2.0, (4, 3)).astype(np.float32)
    if cls == "GaussianNLLLoss":
        x[-1] = _rng(2).uniform(0.1, 2, (4, 3)).astype(np.float32)
    # labels (the last input of these) get no gradient
    labels = cls in ("HingeEmbeddingLoss", "SoftMarginLoss", "CosineEmbeddingLoss",
                     "MultiLabelSoftMarginLoss", "PoissonNLLLoss")
    rg = [not (labels and i == n - 1) for i in range(n)]
    tt = [torch.tensor(a, requires_grad=r) for a, r in zip(x, rg)]
    dd = [dlbasic.tensor(a, requires_grad=r) for a, r in zip(x, rg)]
    to, do = t(*tt), d(*dd)
    np.testing.assert_allclose(do.detach().numpy(), to.detach().numpy(), atol=1e-5, rtol=1e-5)
    to.sum().backward()
    do.sum().backward()
    for a, b in zip(tt, dd):
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None:
            np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), atol=1e-5, rtol=1e-4)


def test_multi_margin_loss_module_with_weight_keeps_it_as_a_buffer():
    w = np.array([1.0, 2.0, 0.5], dtype=np.float32)
    t = nn.MultiMarginLoss(p=2, weight=torch.tensor(w))
    d = dnn.MultiMarginLoss(p=2, weight=dlbasic.tensor(w))
    assert list(d.state_dict()) == list(t.state_dict()) == ["weight"]
    x, y = randn(4, 3), np.array([0, 2, 1, 2])
    np.testing.assert_allclose(d(dlbasic.tensor(x), dlbasic.tensor(y)).item(),
                               t(torch.tensor(x), torch.tensor(y)).item(), rtol=1e-6)


@pytest.mark.parametrize("make", [
    lambda F, T: F.margin_ranking_loss(T(np.ones(3)), T(np.ones(3)), T(np.ones((3, 1)))),
    lambda F, T: F.cosine_embedding_loss(T(np.ones((2, 3))), T(np.ones((2, 3))),
                                         T(np.ones((2, 1)))),
    lambda F, T: F.cosine_embedding_loss(T(np.ones(3)), T(np.ones(3)), T(np.ones(2))),
    lambda F, T: F.triplet_margin_loss(T(np.ones((2, 3))), T(np.ones(3)), T(np.ones((2, 3)))),
    lambda F, T: F.multi_margin_loss(T(np.ones((2, 3))), T(np.array([0, 1])), p=3),
    lambda F, T: F.multi_margin_loss(T(np.ones((2, 3))), T(np.array([0, 3]))),
    lambda F, T: F.gaussian_nll_loss(T(np.ones((2, 3))), T(np.ones((2, 3))),
                                     T(np.ones((3, 2)))),
    lambda F, T: F.gaussian_nll_loss(T(np.ones((2, 3))), T(np.ones((2, 3))),
                                     T(-np.ones((2, 3)))),
    lambda F, T: F.gaussian_nll_loss(T(np.ones(2)), T(np.ones(2)), T(np.ones(2)),
                                     reduction="avg"),
    lambda F, T: F.soft_margin_loss(T(np.ones(2)), T(np.ones(2)), reduction="avg"),
])
def test_loss_errors_match_torch(make):
    assert_same_error(lambda: make(F, torch.tensor), lambda: make(dF, dlbasic.tensor),
                      same_message=False)


def test_triplet_module_refuses_a_non_positive_margin_like_torch():
    assert_same_error(lambda: nn.TripletMarginLoss(margin=0),
                      lambda: dnn.TripletMarginLoss(margin=0))


# -- activations ----------------------------------------------------------------------------

ACTIVATIONS = [
    lambda x: F.glu(x),
    lambda x: F.glu(x, dim=0),
    lambda x: F.softsign(x),
    lambda x: F.tanhshrink(x),
    lambda x: F.softshrink(x),
    lambda x: F.softshrink(x, 1.2),
    lambda x: F.hardshrink(x),
    lambda x: F.hardshrink(x, 0.1),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fn", ACTIVATIONS)
def test_activation_matches_torch(fn, dtype):
    x = randn(4, 6, dtype=dtype) * 2
    tol = {} if dtype == "float32" else dict(atol=1e-12, rtol=1e-10)
    check(fn, inputs=[x], **tol)


@pytest.mark.parametrize("fn", [lambda x: dF.glu(x), lambda x: dF.softsign(x),
                                lambda x: dF.tanhshrink(x), lambda x: dF.softshrink(x, 0.3),
                                lambda x: dF.hardshrink(x, 0.3)])
def test_activation_gradcheck_float64(fn):
    x = np.linspace(-2.05, 2.35, 12).reshape(3, 4)    # no point on a kink (0, +-0.3)
    assert gradcheck(fn, [dlbasic.tensor(x, requires_grad=True)])


@pytest.mark.parametrize("cls, args", [("GLU", (0,)), ("Softsign", ()), ("Tanhshrink", ()),
                                       ("Softshrink", (0.7,)), ("Hardshrink", (0.2,)),
                                       ("Softmax2d", ())])
def test_activation_modules_match_torch(cls, args):
    t, d = getattr(nn, cls)(*args), getattr(dnn, cls)(*args)
    assert repr(d) == repr(t)
    x = randn(2, 4, 3, 2)
    np.testing.assert_allclose(d(dlbasic.tensor(x)).numpy(), t(torch.tensor(x)).numpy(),
                               atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda F, nn, T: F.glu(T(np.ones((2, 3)))),
    lambda F, nn, T: F.glu(T(np.array(1.0))),
    lambda F, nn, T: nn.Softmax2d()(T(np.ones((2, 3)))),
    lambda F, nn, T: F.softshrink(T(np.ones(2)), -1.0),
])
def test_activation_errors_match_torch(make):
    assert_same_error(lambda: make(F, nn, torch.tensor), lambda: make(dF, dnn, dlbasic.tensor),
                      same_message=False)
