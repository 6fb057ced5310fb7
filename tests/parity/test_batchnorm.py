"""batch_norm / BatchNorm1d / BatchNorm2d against torch: outputs, gradients, running stats."""
import numpy as np
import pytest

from tests.parity.harness import assert_close, check, check_raises, to_dlbasic_state, torch

import torch.nn.functional as F  # noqa: E402  (rebound to dlbasic by the harness)
import dlbasic                    # noqa: E402
import dlbasic.nn as dnn          # noqa: E402


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (4, 3, 5, 6)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training_matches_torch(shape, affine):
    C = shape[1]
    rm, rv = np.zeros(C, np.float32), np.ones(C, np.float32)
    if affine:
        check(lambda x, w, b: F.batch_norm(x, torch.tensor(rm), torch.tensor(rv), w, b,
                                           training=True),
              shapes=[shape, (C,), (C,)])
    else:
        check(lambda x: F.batch_norm(x, None, None, training=True), shapes=[shape])


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 6)])
def test_batch_norm_eval_uses_running_stats(shape):
    C = shape[1]
    rng = np.random.default_rng(1)
    rm = rng.standard_normal(C).astype(np.float32)
    rv = rng.uniform(0.5, 2, C).astype(np.float32)
    check(lambda x, w, b, m, v: F.batch_norm(x, m, v, w, b, training=False, eps=1e-3),
          inputs=[rng.standard_normal(shape).astype(np.float32),
                  rng.standard_normal(C).astype(np.float32),
                  rng.standard_normal(C).astype(np.float32), rm, rv],
          requires_grad=[True, True, True, False, False])


def test_batch_norm_updates_running_stats_in_place_like_torch():
    x = np.random.default_rng(2).standard_normal((6, 4, 3, 3)).astype(np.float32)
    t_rm, t_rv = torch.zeros(4), torch.ones(4)
    d_rm, d_rv = dlbasic.zeros(4), dlbasic.ones(4)
    torch.nn.functional.batch_norm(torch.tensor(x), t_rm, t_rv, training=True, momentum=0.3)
    F_d = __import__("dlbasic.nn.functional", fromlist=["batch_norm"])
    F_d.batch_norm(dlbasic.tensor(x), d_rm, d_rv, training=True, momentum=0.3)
    assert_close(d_rm, t_rm, 1e-6, 1e-5)
    assert_close(d_rv, t_rv, 1e-6, 1e-5)


def test_batch_norm_extreme_offset_is_stable():
    # a large common offset must not destroy the variance (two-pass statistics)
    x = (1000.0 + np.random.default_rng(3).standard_normal((16, 3, 4, 4))).astype(np.float32)
    check(lambda t: F.batch_norm(t, None, None, training=True), inputs=[x], atol=1e-4,
          grad_atol=1e-3)


def _pair(cls_name, *args, **kwargs):
    t = getattr(torch.nn, cls_name)(*args, **kwargs)
    d = getattr(dnn, cls_name)(*args, **kwargs)
    return t, d


def _train_steps(t, d, shape, steps=5, seed=0):
    """Run ``steps`` forward/backward passes on identical batches; compare every output/grad."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
        tx, dx = torch.tensor(x, requires_grad=True), dlbasic.tensor(x, requires_grad=True)
        ty, dy = t(tx), d(dx)
        assert_close(dy, ty, 1e-5, 1e-4, "output")
        (ty * ty).sum().backward()
        (dy * dy).sum().backward()
        assert_close(dx.grad, tx.grad, 1e-4, 1e-3, "input grad")
        for name, tp in t.named_parameters():
            assert_close(dict(d.named_parameters())[name].grad, tp.grad, 1e-4, 1e-3,
                         f"grad of {name}")
            tp.grad = None
            dict(d.named_parameters())[name].grad = None


def _compare_state(t, d):
    ts, ds = t.state_dict(), d.state_dict()
    assert list(ds.keys()) == list(ts.keys())
    for k in ts:
        assert str(ts[k].dtype).split(".")[-1] == ds[k].dtype.name, k
        assert_close(ds[k], ts[k], 1e-6, 1e-5, k)


@pytest.mark.parametrize("cls_name,shape", [("BatchNorm2d", (4, 3, 5, 5)),
                                            ("BatchNorm1d", (8, 3)),
                                            ("BatchNorm1d", (4, 3, 7))])
@pytest.mark.parametrize("momentum", [0.1, None, 0.5])
def test_batchnorm_module_running_stats_after_5_steps_match_torch(cls_name, shape, momentum):
    t, d = _pair(cls_name, 3, momentum=momentum)
    d.load_state_dict(to_dlbasic_state(t))
    _train_steps(t, d, shape)
    _compare_state(t, d)
    assert d.num_batches_tracked.item() == 5 and d.num_batches_tracked.dtype.name == "int64"
    # eval: running statistics, same outputs and gradients
    t.eval()
    d.eval()
    _train_steps(t, d, shape, steps=2, seed=9)
    _compare_state(t, d)                     # eval leaves the statistics alone


@pytest.mark.parametrize("kwargs", [dict(affine=False), dict(track_running_stats=False),
                                    dict(bias=False),
                                    dict(affine=False, track_running_stats=False),
                                    dict(eps=1e-3, momentum=0.2)])
def test_batchnorm2d_options_match_torch(kwargs):
    t, d = _pair("BatchNorm2d", 3, **kwargs)
    d.load_state_dict(to_dlbasic_state(t))
    _train_steps(t, d, (4, 3, 4, 4), steps=3)
    _compare_state(t, d)
    t.eval()
    d.eval()
    # track_running_stats=False keeps using batch statistics in eval mode
    _train_steps(t, d, (4, 3, 4, 4), steps=2, seed=5)
    assert repr(d) == repr(t)


def test_batchnorm_state_dict_keys_and_repr_match_torch():
    for args, kwargs in [((16,), {}), ((4,), dict(affine=False)),
                         ((4,), dict(track_running_stats=False)), ((8,), dict(momentum=None))]:
        for cls_name in ("BatchNorm1d", "BatchNorm2d"):
            t, d = _pair(cls_name, *args, **kwargs)
            assert list(d.state_dict().keys()) == list(t.state_dict().keys())
            assert repr(d) == repr(t)
            assert [n for n, _ in d.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert repr(dnn.BatchNorm2d(16)) == ("BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True,"
                                         " bias=True, track_running_stats=True)")
    t, d = _pair("BatchNorm2d", 4, bias=False)             # torch 2.13's keyword-only bias
    assert repr(d) == repr(t)
    assert list(d.state_dict().keys()) == list(t.state_dict().keys())


def test_batchnorm_default_init_and_torch_checkpoint_loads():
    t = torch.nn.BatchNorm2d(3)
    t.train()
    t(torch.randn(4, 3, 2, 2))                        # non-trivial running stats
    d = dnn.BatchNorm2d(3)
    np.testing.assert_array_equal(d.weight.detach().numpy(), np.ones(3, np.float32))
    np.testing.assert_array_equal(d.bias.detach().numpy(), np.zeros(3, np.float32))
    d.load_state_dict(to_dlbasic_state(t), strict=True)
    _compare_state(t, d)
    # a pre-version-2 checkpoint without num_batches_tracked still loads strictly
    sd = to_dlbasic_state(t)
    del sd["num_batches_tracked"]
    from collections import OrderedDict
    sd = OrderedDict(sd)
    sd._metadata = OrderedDict({"": {"version": 1}})
    dnn.BatchNorm2d(3).load_state_dict(sd, strict=True)


def test_batchnorm_one_value_per_channel_raises_value_error():
    e_t, e_d = check_raises(lambda x: nn.BatchNorm1d(4)(x), shapes=[(1, 4)])
    assert str(e_d) == ("Expected more than 1 value per channel when training, got input size "
                        "torch.Size([1, 4])")
    check_raises(lambda x: F.batch_norm(x, None, None, training=True), shapes=[(1, 4, 1, 1)])
    # eval mode is fine with one sample
    check(lambda x: nn.BatchNorm1d(4).eval()(x), shapes=[(1, 4)])


nn = torch.nn   # rebound to dlbasic.nn inside harness lambdas


@pytest.mark.parametrize("fn,shape", [
    (lambda x: nn.BatchNorm2d(4)(x), (2, 4)),                    # wrong rank -> ValueError
    (lambda x: nn.BatchNorm1d(4)(x), (2, 4, 3, 3)),
    (lambda x: nn.BatchNorm2d(4)(x), (2, 5, 3, 3)),              # wrong channel count
    (lambda x: F.batch_norm(x, torch.zeros(4), torch.ones(4)), (2, 5, 3, 3)),
    (lambda x: F.batch_norm(x, None, None, training=False), (2, 3, 3, 3)),
    (lambda x: F.batch_norm(x, torch.zeros(3), torch.ones(3), momentum=None), (2, 3)),
    (lambda x: nn.BatchNorm2d(3)(x.double()), (2, 3, 4, 4)),     # mixed dtypes
])
def test_batchnorm_bad_input_raises_like_torch(fn, shape):
    check_raises(fn, shapes=[shape])


def test_batchnorm_grad_fn_name():
    _, d = check(lambda x: nn.BatchNorm2d(2)(x), shapes=[(3, 2, 2, 2)])
    assert d.grad_fn.name() == "NativeBatchNormBackward0"


def test_batchnorm_float64_module_after_double():
    t, d = _pair("BatchNorm2d", 3)
    t.double()
    d.double()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 3, 3))
    ty, dy = t(torch.tensor(x)), d(dlbasic.tensor(x))
    assert dy.dtype.name == "float64"
    assert_close(dy, ty, 1e-10, 1e-8)
    _compare_state(t, d)
