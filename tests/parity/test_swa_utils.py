"""optim.swa_utils against torch: AveragedModel's averaged weights (SWA and EMA, buffers
averaged or copied), SWALR's learning-rate sequence, update_bn's running statistics, and
the state_dicts and errors."""
import warnings

import numpy as np
import pytest

from tests.parity.harness import assert_same_error, to_dlbasic_state, torch

import dlbasic                                               # noqa: E402
import dlbasic.optim.swa_utils as dswa                       # noqa: E402
import torch.optim.swa_utils as tswa                         # noqa: E402


def _model(lib):
    return lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.BatchNorm1d(4), lib.nn.ReLU(),
                             lib.nn.Linear(4, 2)).double()


def _pair():
    tm = _model(torch)
    dm = _model(dlbasic)
    dm.load_state_dict(to_dlbasic_state(tm), strict=True)
    return tm, dm


AVERAGERS = {
    "swa-default": lambda sw: {},
    "swa-multi": lambda sw: {"multi_avg_fn": sw.get_swa_multi_avg_fn()},
    "swa-single": lambda sw: {"avg_fn": sw.get_swa_avg_fn()},
    "ema-multi": lambda sw: {"multi_avg_fn": sw.get_ema_multi_avg_fn(0.7)},
    "ema-single": lambda sw: {"avg_fn": sw.get_ema_avg_fn(0.7)},
}


def _train_and_average(tm, dm, ta, da, updates=4, seed=1):
    """Move both models' weights the same way, run a batch (BatchNorm's buffers change),
    and fold the models into their averages."""
    rng = np.random.default_rng(seed)
    for _ in range(updates):
        for tp, dp in zip(tm.parameters(), dm.parameters()):
            delta = rng.standard_normal(tuple(tp.shape))
            with torch.no_grad():
                tp.add_(torch.tensor(delta))
            with dlbasic.no_grad():
                dp.add_(dlbasic.tensor(delta))
        x = rng.standard_normal((6, 3))
        tm(torch.tensor(x))
        dm(dlbasic.tensor(x))
        ta.update_parameters(tm)
        da.update_parameters(dm)


@pytest.mark.parametrize("use_buffers", [False, True])
@pytest.mark.parametrize("name", [n for n in AVERAGERS if n != "swa-multi"])
def test_averaged_weights_match_torch(name, use_buffers):
    tm, dm = _pair()
    ta = tswa.AveragedModel(tm, use_buffers=use_buffers, **AVERAGERS[name](tswa))
    da = dswa.AveragedModel(dm, use_buffers=use_buffers, **AVERAGERS[name](dswa))
    _train_and_average(tm, dm, ta, da)
    ts, ds = ta.state_dict(), da.state_dict()
    assert list(ds) == list(ts)                 # n_averaged, module.0.weight, ...
    for key in ts:
        assert ds[key].dtype == getattr(dlbasic, str(ts[key].dtype).split(".")[1]), key
        np.testing.assert_allclose(ds[key].numpy(), ts[key].numpy(), rtol=1e-12, atol=1e-13,
                                   err_msg=key)
    assert int(da.n_averaged) == 4
    x = np.random.default_rng(5).standard_normal((3, 3))
    ta.eval()
    da.eval()
    np.testing.assert_allclose(da(dlbasic.tensor(x)).detach().numpy(),
                               ta(torch.tensor(x)).detach().numpy(), rtol=1e-12, atol=1e-13)


def test_swa_multi_matches_torch_on_parameters_and_refuses_integer_buffers():
    tm, dm = _pair()
    ta = tswa.AveragedModel(tm, multi_avg_fn=tswa.get_swa_multi_avg_fn())
    da = dswa.AveragedModel(dm, multi_avg_fn=dswa.get_swa_multi_avg_fn())
    _train_and_average(tm, dm, ta, da)
    ts, ds = ta.state_dict(), da.state_dict()
    for key in ts:
        np.testing.assert_allclose(ds[key].numpy(), ts[key].numpy(), rtol=1e-12, atol=1e-13,
                                   err_msg=key)
    # with use_buffers the integer num_batches_tracked reaches torch's addcdiv, which refuses
    tm, dm = _pair()
    ta = tswa.AveragedModel(tm, multi_avg_fn=tswa.get_swa_multi_avg_fn(), use_buffers=True)
    da = dswa.AveragedModel(dm, multi_avg_fn=dswa.get_swa_multi_avg_fn(), use_buffers=True)
    ta.update_parameters(tm)
    da.update_parameters(dm)
    assert_same_error(lambda: ta.update_parameters(tm), lambda: da.update_parameters(dm))


def test_swa_weight_is_a_float32_number_as_in_torch():
    # with a Tensor count the lerp weight 1/(n+1) is computed in float32
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(7), rng.standard_normal(7)
    ta, da = [torch.tensor(a)], [dlbasic.tensor(a)]
    tswa.get_swa_multi_avg_fn()(ta, [torch.tensor(b)], torch.tensor(2))
    dswa.get_swa_multi_avg_fn()(da, [dlbasic.tensor(b)], dlbasic.tensor(2))
    np.testing.assert_allclose(da[0].numpy(), ta[0].numpy(), rtol=1e-15, atol=1e-16)
    exact = a + (b - a) / 3
    assert np.abs(da[0].numpy() - exact).max() > 1e-9     # float32's 1/3, not the exact one


def test_a_torch_averaged_model_state_dict_loads():
    tm, dm = _pair()
    ta = tswa.AveragedModel(tm)
    da = dswa.AveragedModel(dm)
    ta.update_parameters(tm)
    ta.update_parameters(tm)
    da.load_state_dict(to_dlbasic_state(ta), strict=True)
    assert int(da.n_averaged) == 2 and da.n_averaged.dtype == dlbasic.int64
    assert da.module is not dm and da.module[0].weight is not dm[0].weight


def test_single_functions_match_torch():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    for name in ("get_ema_avg_fn", "get_swa_avg_fn"):
        t = getattr(tswa, name)()(torch.tensor(a), torch.tensor(b), torch.tensor(3))
        d = getattr(dswa, name)()(dlbasic.tensor(a), dlbasic.tensor(b), dlbasic.tensor(3))
        np.testing.assert_allclose(d.numpy(), t.numpy(), rtol=1e-15)


def test_averaging_errors_match_torch():
    assert_same_error(lambda: tswa.get_ema_avg_fn(1.5), lambda: dswa.get_ema_avg_fn(1.5))
    assert_same_error(lambda: tswa.get_ema_multi_avg_fn(-0.1),
                      lambda: dswa.get_ema_multi_avg_fn(-0.1))
    assert_same_error(
        lambda: tswa.AveragedModel(torch.nn.Linear(1, 1), avg_fn=tswa.get_swa_avg_fn(),
                                   multi_avg_fn=tswa.get_swa_multi_avg_fn()),
        lambda: dswa.AveragedModel(dlbasic.nn.Linear(1, 1), avg_fn=dswa.get_swa_avg_fn(),
                                   multi_avg_fn=dswa.get_swa_multi_avg_fn()))


# -- SWALR ------------------------------------------------------------------------------------

def _optimizer(lib, lrs=(0.1, 0.03)):
    params = [lib.zeros(2, requires_grad=True) for _ in lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs)]
    return lib.optim.SGD(groups, lr=0.5)


@pytest.mark.parametrize("swa_lr", [0.05, [0.01, 0.2]], ids=["scalar", "per-group"])
@pytest.mark.parametrize("anneal_epochs", [0, 1, 4, 10])
@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_swalr_lr_sequence_matches_torch(strategy, anneal_epochs, swa_lr):
    topt, dopt = _optimizer(torch), _optimizer(dlbasic)
    ts = tswa.SWALR(topt, swa_lr=swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    ds = dswa.SWALR(dopt, swa_lr=swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    assert ds.get_last_lr() == ts.get_last_lr()
    for _ in range(14):
        topt.step()
        dopt.step()
        ts.step()
        ds.step()
        assert ds.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-15, abs=1e-17)
        assert [g["lr"] for g in dopt.param_groups] == ds.get_last_lr()
        assert [g["swa_lr"] for g in dopt.param_groups] == [g["swa_lr"]
                                                            for g in topt.param_groups]


def test_swalr_after_another_scheduler_matches_torch():
    topt, dopt = _optimizer(torch), _optimizer(dlbasic)
    tcos = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=10)
    dcos = dlbasic.optim.lr_scheduler.CosineAnnealingLR(dopt, T_max=10)
    tswalr = tswa.SWALR(topt, swa_lr=0.02, anneal_epochs=3)
    dswalr = dswa.SWALR(dopt, swa_lr=0.02, anneal_epochs=3)
    for epoch in range(12):
        topt.step()
        dopt.step()
        if epoch >= 5:
            tswalr.step()
            dswalr.step()
        else:
            tcos.step()
            dcos.step()
        assert [g["lr"] for g in dopt.param_groups] == pytest.approx(
            [g["lr"] for g in topt.param_groups], rel=1e-15)


def test_swalr_state_dict_matches_torch_and_round_trips():
    topt, dopt = _optimizer(torch), _optimizer(dlbasic)
    ts = tswa.SWALR(topt, swa_lr=0.05, anneal_epochs=5, anneal_strategy="linear")
    ds = dswa.SWALR(dopt, swa_lr=0.05, anneal_epochs=5, anneal_strategy="linear")
    for _ in range(2):
        topt.step()
        dopt.step()
        ts.step()
        ds.step()
    tsd, dsd = ts.state_dict(), ds.state_dict()
    assert set(dsd) == set(tsd)
    for key in ("_anneal_strategy", "anneal_epochs", "base_lrs", "last_epoch", "_step_count"):
        assert dsd[key] == tsd[key], key
    ds2 = dswa.SWALR(_optimizer(dlbasic), swa_lr=0.3)      # cos: replaced by the loaded one
    ds2.load_state_dict(tsd)
    assert ds2.anneal_func is dswa.SWALR._linear_anneal
    assert ds2.state_dict().keys() == dsd.keys()


def test_get_lr_outside_step_warns_as_torch():
    ds = dswa.SWALR(_optimizer(dlbasic), swa_lr=0.05)
    with pytest.warns(UserWarning, match="get_last_lr"):
        ds.get_lr()


@pytest.mark.parametrize("kwargs", [dict(swa_lr=[0.1, 0.2, 0.3]),
                                    dict(swa_lr=0.1, anneal_strategy="exp"),
                                    dict(swa_lr=0.1, anneal_epochs=-1),
                                    dict(swa_lr=0.1, anneal_epochs=2.0)])
def test_swalr_errors_match_torch(kwargs):
    assert_same_error(lambda: tswa.SWALR(_optimizer(torch), **kwargs),
                      lambda: dswa.SWALR(_optimizer(dlbasic), **kwargs))


# -- update_bn --------------------------------------------------------------------------------

def _bn_net(lib):
    return lib.nn.Sequential(lib.nn.Conv2d(2, 3, 3), lib.nn.BatchNorm2d(3, momentum=0.3),
                             lib.nn.Flatten(), lib.nn.Linear(12, 4), lib.nn.BatchNorm1d(4),
                             ).double()


@pytest.mark.parametrize("batched_as", ["tensor", "tuple"])
def test_update_bn_gives_torch_running_stats(batched_as):
    tm = _bn_net(torch)
    dm = _bn_net(dlbasic)
    dm.load_state_dict(to_dlbasic_state(tm), strict=True)
    rng = np.random.default_rng(3)
    batches = [rng.standard_normal((n, 2, 4, 4)) for n in (5, 3, 7)]

    def loader(lib):
        for b in batches:
            x = lib.tensor(b)
            yield x if batched_as == "tensor" else (x, lib.zeros(len(b)))
    tm.eval()
    dm.eval()
    tswa.update_bn(loader(torch), tm)
    dswa.update_bn(loader(dlbasic), dm)
    ts, ds = tm.state_dict(), dm.state_dict()
    for key in ts:
        np.testing.assert_allclose(ds[key].numpy(), ts[key].numpy(), rtol=1e-12, atol=1e-13,
                                   err_msg=key)
    assert int(ds["1.num_batches_tracked"]) == 3
    assert not dm.training                              # the mode is restored
    assert dm[1].momentum == 0.3 and dm[4].momentum == 0.1


def test_update_bn_leaves_a_model_without_batchnorm_alone():
    model = dlbasic.nn.Linear(2, 2)
    before = model.weight.detach().numpy().copy()
    calls = []

    def loader():
        calls.append(1)
        yield dlbasic.zeros(1, 2)
    dswa.update_bn(loader(), model)
    assert calls == [] and np.array_equal(model.weight.detach().numpy(), before)


def test_swa_utils_is_reachable_as_an_attribute():
    assert dlbasic.optim.swa_utils.AveragedModel is dswa.AveragedModel
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dswa.SWALR(_optimizer(dlbasic), swa_lr=0.1)
