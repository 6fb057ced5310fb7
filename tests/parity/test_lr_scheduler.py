"""Learning-rate schedulers against torch: the same lr (and momentum) sequence, step by step."""
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import dlbasic                                              # noqa: E402
import dlbasic.optim as doptim                              # noqa: E402
from dlbasic.optim import lr_scheduler as dsched            # noqa: E402

STEPS = 25


def _optimizer(lib, kind="SGD"):
    optim = torch.optim if lib is torch else doptim
    ps = [lib.zeros(2, requires_grad=True), lib.zeros(3, requires_grad=True)]
    groups = [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.5}]
    if kind == "SGD":
        opt = optim.SGD(groups, lr=0.1, momentum=0.9)
    else:
        opt = optim.Adam(groups, lr=0.1)
    for p in ps:
        p.grad = lib.ones(p.shape)
    return opt


def _momenta(opt):
    return [g["betas"][0] if "betas" in g else g.get("momentum") for g in opt.param_groups]


# each factory builds the same scheduler for either library: (module, optimizer) -> scheduler
SCHEDULERS = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=4, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[3, 7, 7, 15], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "CosineAnnealingLR-no-min": lambda m, o: m.CosineAnnealingLR(o, T_max=10),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lr_lambda=lambda e: 1.0 / (1 + e)),
    "LambdaLR-per-group": lambda m, o: m.LambdaLR(o, [lambda e: 0.9 ** e, lambda e: 1 + e]),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lr_lambda=lambda e: 0.95),
    "LinearLR": lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=8),
    "LinearLR-default": lambda m, o: m.LinearLR(o),
    "LinearLR-decay": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.1,
                                              total_iters=10),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=4),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=10, power=2.0),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=STEPS + 1),
    "OneCycleLR-linear-3phase": lambda m, o: m.OneCycleLR(
        o, max_lr=[1.0, 0.3], epochs=2, steps_per_epoch=13, pct_start=0.25,
        anneal_strategy="linear", three_phase=True, base_momentum=0.8, max_momentum=0.9,
        div_factor=10.0, final_div_factor=100.0),
    "OneCycleLR-no-momentum": lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=30,
                                                        cycle_momentum=False),
    "SequentialLR-warmup-cosine": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=12)],
        milestones=[5]),
    "SequentialLR-three": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.5, total_iters=3), m.ExponentialLR(o, gamma=0.8),
            m.StepLR(o, step_size=3, gamma=0.5)], milestones=[4, 11]),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3,
                                                                              T_mult=2,
                                                                              eta_min=0.01),
    "CosineAnnealingWarmRestarts-T_mult1": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=4),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler(
        [m.ExponentialLR(o, gamma=0.95), m.StepLR(o, step_size=3, gamma=0.5)]),
}


def _run(sched, opt, steps):
    lrs, moms = [], []
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(list(sched.get_last_lr()))
        assert [g["lr"] for g in opt.param_groups] == lrs[-1]
        moms.append(_momenta(opt))
    return lrs, moms


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_lr_sequence_matches_torch(name, optimizer):
    opt_t, opt_d = _optimizer(torch, optimizer), _optimizer(dlbasic, optimizer)
    st = SCHEDULERS[name](torch.optim.lr_scheduler, opt_t)
    sd = SCHEDULERS[name](dsched, opt_d)
    # construction already set step 0's rates
    assert sd.get_last_lr() == pytest.approx(st.get_last_lr(), rel=1e-12, abs=1e-15)
    assert _momenta(opt_d) == pytest.approx(_momenta(opt_t), rel=1e-12)
    assert [g.get("initial_lr") for g in opt_d.param_groups] == \
        pytest.approx([g.get("initial_lr") for g in opt_t.param_groups])
    lrs_t, moms_t = _run(st, opt_t, STEPS)
    lrs_d, moms_d = _run(sd, opt_d, STEPS)
    np.testing.assert_allclose(lrs_d, lrs_t, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(moms_d, moms_t, rtol=1e-12)


def test_cosine_annealing_beyond_t_max_follows_torch_recursion():
    opt_t, opt_d = _optimizer(torch), _optimizer(dlbasic)
    st = torch.optim.lr_scheduler.CosineAnnealingLR(opt_t, T_max=3, eta_min=0.01)
    sd = dsched.CosineAnnealingLR(opt_d, T_max=3, eta_min=0.01)
    lrs_t, _ = _run(st, opt_t, 20)
    lrs_d, _ = _run(sd, opt_d, 20)
    np.testing.assert_allclose(lrs_d, lrs_t, rtol=1e-12, atol=1e-15)
    # past T_max the rate climbs back up (a cosine with period 2 T_max), as in torch
    assert lrs_d[5][0] > lrs_d[3][0]


def test_one_cycle_lr_stepping_past_total_steps_raises_like_torch():
    for lib, m in ((torch, torch.optim.lr_scheduler), (dlbasic, dsched)):
        opt = _optimizer(lib)
        s = m.OneCycleLR(opt, max_lr=1.0, total_steps=5)
        for _ in range(5):
            opt.step()
            s.step()
        with pytest.raises(ValueError, match="Tried to step 6 times"):
            s.step()


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(mode="max", factor=0.5, patience=2, threshold=0.1, threshold_mode="abs"),
    dict(patience=1, cooldown=2, min_lr=[0.02, 0.2]),
    dict(factor=0.5, patience=0, threshold_mode="abs", min_lr=0.03, eps=1e-3),
])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    rng = np.random.default_rng(0)
    metrics = list(np.round(rng.uniform(0.5, 1.5, 40), 2)) + [1.0] * 15 + [0.2, 0.1]
    opt_t, opt_d = _optimizer(torch), _optimizer(dlbasic)
    st = torch.optim.lr_scheduler.ReduceLROnPlateau(opt_t, **kwargs)
    sd = dsched.ReduceLROnPlateau(opt_d, **kwargs)
    for k, m in enumerate(metrics):
        opt_t.step()
        opt_d.step()
        st.step(m)
        sd.step(dlbasic.tensor(m) if k % 2 else m)   # a 0-d tensor metric works too
        assert sd.get_last_lr() == pytest.approx(st.get_last_lr(), rel=1e-12), k
        assert (sd.num_bad_epochs, sd.cooldown_counter, sd.best) == \
            (st.num_bad_epochs, st.cooldown_counter, pytest.approx(st.best))


def test_reduce_lr_on_plateau_state_dict_round_trip(tmp_path):
    opt_t, opt_d = _optimizer(torch), _optimizer(dlbasic)
    st = torch.optim.lr_scheduler.ReduceLROnPlateau(opt_t, patience=1)
    sd = dsched.ReduceLROnPlateau(opt_d, patience=1)
    metrics = [1.0, 0.9, 0.95, 0.97, 0.99, 0.8, 0.85, 0.9, 0.95, 0.7]
    for m in metrics[:5]:
        st.step(m)
        sd.step(m)
    dlbasic.save(sd.state_dict(), tmp_path / "s.pt")
    opt_d2 = _optimizer(dlbasic)
    opt_d2.load_state_dict(opt_d.state_dict())
    sd2 = dsched.ReduceLROnPlateau(opt_d2)
    sd2.load_state_dict(dlbasic.load(tmp_path / "s.pt"))
    for m in metrics[5:]:
        st.step(m)
        sd2.step(m)
        assert sd2.get_last_lr() == pytest.approx(st.get_last_lr(), rel=1e-12)


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "CosineAnnealingLR", "OneCycleLR",
                                  "LinearLR", "SequentialLR-warmup-cosine", "LambdaLR",
                                  "ChainedScheduler"])
def test_state_dict_round_trip_mid_schedule_continues_like_torch(name, tmp_path):
    opt_t, opt_d = _optimizer(torch), _optimizer(dlbasic)
    st = SCHEDULERS[name](torch.optim.lr_scheduler, opt_t)
    sd = SCHEDULERS[name](dsched, opt_d)
    _run(st, opt_t, 10)
    _run(sd, opt_d, 10)
    # torch's resume recipe: optimizer state, then a fresh scheduler loads the scheduler state
    state = sd.state_dict()
    assert "optimizer" not in state
    dlbasic.save({"opt": opt_d.state_dict(), "sched": state}, tmp_path / "ckpt.pt")
    ckpt = dlbasic.load(tmp_path / "ckpt.pt")
    opt_d2 = _optimizer(dlbasic)
    sd2 = SCHEDULERS[name](dsched, opt_d2)
    opt_d2.load_state_dict(ckpt["opt"])
    sd2.load_state_dict(ckpt["sched"])
    lrs_t, moms_t = _run(st, opt_t, 10)
    lrs_d, moms_d = _run(sd2, opt_d2, 10)
    np.testing.assert_allclose(lrs_d, lrs_t, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(moms_d, moms_t, rtol=1e-12)


def test_closed_form_step_with_epoch_matches_torch():
    for name in ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR"]:
        opt_t, opt_d = _optimizer(torch), _optimizer(dlbasic)
        st = SCHEDULERS[name](torch.optim.lr_scheduler, opt_t)
        sd = SCHEDULERS[name](dsched, opt_d)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for epoch in [3, 9, 4, 17]:
                opt_t.step()
                opt_d.step()
                st.step(epoch)
                sd.step(epoch)
                assert sd.get_last_lr() == pytest.approx(st.get_last_lr(), rel=1e-12), name


def test_warm_restarts_with_fractional_epochs_match_torch():
    opt_t, opt_d = _optimizer(torch), _optimizer(dlbasic)
    st = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt_t, T_0=2, T_mult=3)
    sd = dsched.CosineAnnealingWarmRestarts(opt_d, T_0=2, T_mult=3)
    for epoch in np.arange(0, 12, 0.25):
        st.step(float(epoch))
        sd.step(float(epoch))
        assert sd.get_last_lr() == pytest.approx(st.get_last_lr(), rel=1e-12), epoch


def test_warns_like_torch_when_scheduler_steps_before_optimizer():
    opt = _optimizer(dlbasic)
    s = dsched.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        s.step()


def test_errors_match_torch():
    for lib, m in ((torch, torch.optim.lr_scheduler), (dlbasic, dsched)):
        opt = _optimizer(lib)
        with pytest.raises(TypeError, match="is not an Optimizer"):
            m.StepLR(object(), 3)
        with pytest.raises(ValueError, match="Factor should be < 1.0."):
            m.ReduceLROnPlateau(opt, factor=1.5)
        with pytest.raises(ValueError, match="mode bad is unknown!"):
            m.ReduceLROnPlateau(opt, mode="bad")
        with pytest.raises(ValueError, match="Starting multiplicative factor"):
            m.LinearLR(opt, start_factor=0)
        with pytest.raises(ValueError, match="You must define either total_steps"):
            m.OneCycleLR(opt, max_lr=1.0)
        with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
            m.LambdaLR(opt, [lambda e: 1.0])
        with pytest.raises(ValueError, match="Sequential Schedulers expects"):
            m.SequentialLR(opt, [m.ExponentialLR(opt, 0.9)], milestones=[3])
        with pytest.raises(KeyError):
            m.StepLR(_optimizer(lib), 3, last_epoch=5)
    assert math.isclose(dsched.OneCycleLR._annealing_cos(1.0, 0.0, 0.5), 0.5)
