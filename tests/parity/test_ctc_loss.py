"""F.ctc_loss / nn.CTCLoss against torch: values and gradients (through log_softmax, and
directly w.r.t. log_probs, where torch returns exp(log_probs) - occupancy) in float32 and
float64, every reduction, repeated labels, blank != 0, padded and concatenated targets,
lengths as tensors or tuples, unbatched input, impossible alignments with and without
zero_infinity, empty targets and inputs; float64 gradcheck; torch's errors."""
import numpy as np
import pytest

from tests.parity.harness import assert_close, assert_same_error, check, torch

import dlbasic
import dlbasic.nn as dnn
from dlbasic.autograd import gradcheck

F = torch.nn.functional
nn = torch.nn

T, N, C, S = 9, 3, 6, 4


def _case(blank=0, seed=0):
    rng = np.random.default_rng(seed)
    labels = [c for c in range(C) if c != blank]
    targets = rng.choice(labels, (N, S))
    targets[0, :3] = [labels[1], labels[1], labels[2]]        # a repeated label
    targets[1, :] = [labels[0], labels[0], labels[0], labels[3]]
    input_lengths = np.array([9, 8, 6])
    target_lengths = np.array([3, 4, 2])
    return targets, input_lengths, target_lengths


def _tols(dtype):
    return {} if dtype == "float32" else dict(atol=1e-12, rtol=1e-10, grad_atol=1e-12,
                                              grad_rtol=1e-10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("blank", [0, 3])
def test_ctc_loss_through_log_softmax_matches_torch(dtype, reduction, blank):
    tg, il, tl = _case(blank)
    check(lambda x, tg, il, tl: F.ctc_loss(x.log_softmax(2), tg, il, tl, blank=blank,
                                           reduction=reduction),
          inputs=[np.random.default_rng(1).standard_normal((T, N, C)).astype(dtype),
                  tg, il, tl], dtype=dtype, **_tols(dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_loss_gradient_wrt_log_probs_is_torchs(dtype, reduction):
    # torch's gradient w.r.t. log_probs is exp(log_probs) - occupancy, not the true partial
    tg, il, tl = _case()
    lp = torch.randn(T, N, C, dtype=getattr(torch, dtype)).log_softmax(2).numpy()
    check(lambda lp, tg, il, tl: F.ctc_loss(lp, tg, il, tl, reduction=reduction),
          inputs=[lp, tg, il, tl], dtype=dtype, **_tols(dtype))


def test_ctc_loss_targets_concatenated_and_lengths_as_tuples():
    tg, il, tl = _case()
    flat = np.concatenate([tg[n, :tl[n]] for n in range(N)])
    x = np.random.default_rng(2).standard_normal((T, N, C)).astype("float32")
    check(lambda x, tg: F.ctc_loss(x.log_softmax(2), tg, tuple(il.tolist()),
                                   tuple(tl.tolist()), reduction="none"), inputs=[x, flat])
    check(lambda x, tg: F.ctc_loss(x.log_softmax(2), tg, list(il.tolist()), list(tl.tolist())),
          inputs=[x, tg])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_loss_unbatched_input(reduction):
    x = np.random.default_rng(3).standard_normal((T, C)).astype("float64")
    tg = np.array([1, 2, 2, 4])
    check(lambda x, tg, il, tl: F.ctc_loss(x.log_softmax(1), tg, il, tl, reduction=reduction),
          inputs=[x, tg, np.array(7), np.array(4)], dtype="float64", **_tols("float64"))
    check(lambda x, tg: F.ctc_loss(x.log_softmax(1), tg, (7,), (4,), reduction=reduction),
          inputs=[x, tg[None]], dtype="float64", **_tols("float64"))


def test_ctc_loss_impossible_alignment_is_inf_with_nan_gradient_like_torch():
    # target 0 needs 3 frames for [a, a] (a blank between the copies) but has 2
    tg = np.array([[1, 1], [2, 3]])
    lp = torch.randn(4, 2, C, dtype=torch.float64).log_softmax(2)
    t_lp, d_lp = lp.clone().requires_grad_(), dlbasic.tensor(lp.numpy(), requires_grad=True)
    args = (np.array([2, 4]), np.array([2, 2]))
    lt = F.ctc_loss(t_lp, torch.tensor(tg), *map(torch.tensor, args), reduction="none")
    ld = dnn.functional.ctc_loss(d_lp, dlbasic.tensor(tg), *map(dlbasic.tensor, args),
                                 reduction="none")
    assert np.isinf(ld[0].item()) and ld[0].item() == lt[0].item()
    assert_close(ld, lt, 1e-12, 1e-10)
    lt.sum().backward()
    ld.sum().backward()
    assert_close(d_lp.grad, t_lp.grad, 1e-12, 1e-10, "grad")        # nan frames 0..1, then 0
    assert np.isnan(d_lp.grad.numpy()[:2, 0]).all() and not d_lp.grad.numpy()[2:, 0].any()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_loss_zero_infinity_zeroes_loss_and_gradient(reduction):
    tg = np.array([[1, 1], [2, 3]])
    x = np.random.default_rng(4).standard_normal((4, 2, C)).astype("float32")
    t, d = check(lambda x, tg, il, tl: F.ctc_loss(x.log_softmax(2), tg, il, tl,
                                                  reduction=reduction, zero_infinity=True),
                 inputs=[x, tg, np.array([2, 4]), np.array([2, 2])])
    assert np.isfinite(d.detach().numpy()).all()


def test_ctc_loss_empty_targets_and_empty_inputs():
    x = np.random.default_rng(5).standard_normal((5, 3, C)).astype("float64")
    tg = np.array([[1, 2], [3, 3], [1, 1]])
    check(lambda x, tg, il, tl: F.ctc_loss(x.log_softmax(2), tg, il, tl, reduction="none"),
          inputs=[x, tg, np.array([5, 0, 0]), np.array([0, 0, 1])], dtype="float64",
          **_tols("float64"))


def test_ctc_loss_module_matches_the_function():
    for kw in ({}, dict(blank=2, reduction="sum", zero_infinity=True)):
        t, d = nn.CTCLoss(**kw), dnn.CTCLoss(**kw)
        assert repr(d) == repr(t) and d.state_dict() == {} == dict(t.state_dict())
        assert (d.blank, d.reduction, d.zero_infinity) == (t.blank, t.reduction,
                                                            t.zero_infinity)
    tg, il, tl = _case(blank=2)
    check(lambda x, tg, il, tl: nn.CTCLoss(blank=2, reduction="sum")(x.log_softmax(2), tg, il,
                                                                       tl),
          inputs=[np.random.default_rng(6).standard_normal((T, N, C)).astype("float32"),
                  tg, il, tl])


def test_ctc_loss_gradcheck_float64():
    tg, il, tl = _case()
    rng = np.random.default_rng(7)
    x = dlbasic.tensor(rng.standard_normal((6, N, C)), requires_grad=True)
    il = np.minimum(il, 6)
    args = dlbasic.tensor(tg), dlbasic.tensor(il), dlbasic.tensor(tl)
    for red in ("none", "mean"):
        assert gradcheck(lambda x: dnn.functional.ctc_loss(x.log_softmax(2), *args,
                                                           reduction=red), [x])
    assert gradcheck(lambda x: dnn.functional.ctc_loss(x.log_softmax(2), *args, blank=5,
                                                       reduction="sum"), [x])


def _both(call, lp, tg, il, tl, **kw):
    """``call`` with torch's and with dlbasic's F.ctc_loss, for assert_same_error."""
    def run(lib, f):
        wrap = lib.tensor if lib is torch else dlbasic.tensor
        args = [wrap(a) if isinstance(a, np.ndarray) else a for a in (lp, tg, il, tl)]
        return call(f, *args, **kw)
    return (lambda: run(torch, F.ctc_loss), lambda: run(dlbasic, dnn.functional.ctc_loss))


ERRORS = [
    # (what, log_probs shape, targets, input_lengths, target_lengths, kwargs)
    ("input too long", (6, 2, 5), np.ones((2, 3), np.int64), np.array([7, 5]),
     np.array([3, 2]), {}),
    ("negative input", (6, 2, 5), np.ones((2, 3), np.int64), np.array([-1, 5]),
     np.array([3, 2]), {}),
    ("negative target", (6, 2, 5), np.ones((2, 3), np.int64), np.array([6, 5]),
     np.array([-1, 2]), {}),
    ("input_lengths size", (6, 2, 5), np.ones((2, 3), np.int64), np.array([6, 5, 4]),
     np.array([3, 2]), {}),
    ("target_lengths size", (6, 2, 5), np.ones((2, 3), np.int64), np.array([6, 5]),
     np.array([3]), {}),
    ("target longer than padded", (6, 2, 5), np.ones((2, 3), np.int64), np.array([6, 5]),
     np.array([4, 2]), {}),
    ("batch of targets", (6, 2, 5), np.ones((1, 3), np.int64), np.array([6, 5]),
     np.array([3, 2]), {}),
    ("concatenated too short", (6, 2, 5), np.ones(3, np.int64), np.array([6, 5]),
     np.array([3, 2]), {}),
    ("blank out of range", (6, 2, 5), np.ones((2, 3), np.int64), np.array([6, 5]),
     np.array([3, 2]), dict(blank=5)),
    ("negative blank", (6, 2, 5), np.ones((2, 3), np.int64), np.array([6, 5]),
     np.array([3, 2]), dict(blank=-1)),
    ("4-D log_probs", (1, 6, 2, 5), np.ones((2, 3), np.int64), np.array([6, 5]),
     np.array([3, 2]), {}),
    ("1-D log_probs", (6,), np.ones((2, 3), np.int64), np.array([6, 5]),
     np.array([3, 2]), {}),
    ("3-D targets", (6, 2, 5), np.ones((1, 2, 3), np.int64), np.array([6, 5]),
     np.array([3, 2]), {}),
    ("float lengths", (6, 2, 5), np.ones((2, 3), np.int64), np.array([6.0, 5.0]),
     np.array([3, 2]), {}),
    ("bad reduction", (6, 2, 5), np.ones((2, 3), np.int64), np.array([6, 5]),
     np.array([3, 2]), dict(reduction="foo")),
]


@pytest.mark.parametrize("what, shape, tg, il, tl, kw", ERRORS, ids=[e[0] for e in ERRORS])
def test_ctc_loss_errors_match_torch(what, shape, tg, il, tl, kw):
    lp = np.random.default_rng(0).standard_normal(shape).astype("float32")
    assert_same_error(*_both(lambda f, *a, **k: f(*a, **k), lp, tg, il, tl, **kw))


def test_ctc_loss_argument_type_errors():
    lp = np.zeros((6, 2, 5), np.float32)
    tg, il, tl = np.ones((2, 3), np.int64), np.array([6, 5]), np.array([3, 2])
    # lengths: both tensors or both tuples of ints
    assert_same_error(*_both(lambda f, lp, tg, il, tl: f(lp, tg, il, (3, 2)), lp, tg, il, tl),
                      same_message=False)
    assert_same_error(*_both(lambda f, lp, tg, il, tl: f(lp, tg, 6, 3), lp, tg, il, tl),
                      same_message=False)
    # integer log_probs: torch's kernel is not implemented for Long
    assert_same_error(*_both(lambda f, *a: f(*a), lp.astype(np.int64), tg, il, tl))
    with pytest.raises(IndexError, match="target labels"):       # torch reads out of bounds
        dnn.functional.ctc_loss(dlbasic.tensor(lp), dlbasic.tensor(np.full((2, 3), 7)),
                                dlbasic.tensor(il), dlbasic.tensor(tl))
