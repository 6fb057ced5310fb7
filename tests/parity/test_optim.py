"""Optimizers and gradient clipping against torch: same parameters, same gradient sequence,
same trajectory, for every option combination."""
import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import dlbasic                                               # noqa: E402
import dlbasic.optim as doptim                               # noqa: E402
from dlbasic.nn.utils import clip_grad_norm_, clip_grad_value_  # noqa: E402

SHAPES = [(3, 4), (5,), (2, 2), ()]
STEPS = 20


def _grid(**options):
    names = list(options)
    return [dict(zip(names, values)) for values in itertools.product(*options.values())]


SGD_CASES = [c for c in _grid(momentum=[0, 0.9], dampening=[0, 0.1], weight_decay=[0, 0.01],
                              nesterov=[False, True], maximize=[False, True])
             if not (c["nesterov"] and (c["momentum"] == 0 or c["dampening"] != 0))]
ADAM_CASES = _grid(betas=[(0.9, 0.999), (0.3, 0.5)], weight_decay=[0, 0.1],
                   amsgrad=[False, True], maximize=[False, True])
ADAMW_CASES = _grid(betas=[(0.9, 0.999), (0.3, 0.5)], weight_decay=[0.01, 0.5],
                    amsgrad=[False, True], maximize=[False, True])
RMSPROP_CASES = _grid(momentum=[0, 0.9], centered=[False, True], weight_decay=[0, 0.1],
                      maximize=[False, True], alpha=[0.99, 0.3])
ADAGRAD_CASES = _grid(lr_decay=[0, 0.05], weight_decay=[0, 0.1],
                      initial_accumulator_value=[0, 0.1], maximize=[False, True])
ADADELTA_CASES = _grid(rho=[0.9, 0.5], eps=[1e-6, 1e-3], weight_decay=[0, 0.1],
                       maximize=[False, True])
ADAMAX_CASES = _grid(betas=[(0.9, 0.999), (0.3, 0.5)], weight_decay=[0, 0.1],
                     maximize=[False, True])
NADAM_CASES = _grid(betas=[(0.9, 0.999), (0.3, 0.5)], weight_decay=[0, 0.1],
                    momentum_decay=[4e-3, 0.1], decoupled_weight_decay=[False, True],
                    maximize=[False, True])
RADAM_CASES = _grid(betas=[(0.9, 0.999), (0.3, 0.5)], weight_decay=[0, 0.1],
                    decoupled_weight_decay=[False, True], maximize=[False, True])
ASGD_CASES = _grid(lambd=[1e-4, 0.1], alpha=[0.75, 0.5], t0=[1e6, 5], weight_decay=[0, 0.1],
                   maximize=[False, True])
RPROP_CASES = _grid(etas=[(0.5, 1.2), (0.3, 1.5)], step_sizes=[(1e-6, 50), (1e-3, 0.02)],
                    maximize=[False, True])

ALL_CASES = ([("SGD", c) for c in SGD_CASES] + [("Adam", c) for c in ADAM_CASES]
             + [("AdamW", c) for c in ADAMW_CASES] + [("RMSprop", c) for c in RMSPROP_CASES]
             + [("Adagrad", c) for c in ADAGRAD_CASES]
             + [("Adadelta", c) for c in ADADELTA_CASES]
             + [("Adamax", c) for c in ADAMAX_CASES] + [("NAdam", c) for c in NADAM_CASES]
             + [("RAdam", c) for c in RADAM_CASES] + [("ASGD", c) for c in ASGD_CASES]
             + [("Rprop", c) for c in RPROP_CASES])


def _case_id(case):
    name, opts = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in opts.items())


def _problem(dtype, seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(2 * STEPS)]
    return params, grads


def _groups(lib, tensors, lr):
    # two groups with their own learning rates: the per-group options must be honoured
    return [{"params": tensors[:2]}, {"params": tensors[2:], "lr": lr * 0.5}]


def _make(lib, name, arrays, opts, lr=0.05):
    if lib is torch:
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        opt = getattr(torch.optim, name)(_groups(torch, ts, lr), lr=lr, **opts)
    else:
        ts = [dlbasic.tensor(a, requires_grad=True) for a in arrays]
        opt = getattr(doptim, name)(_groups(dlbasic, ts, lr), lr=lr, **opts)
    return ts, opt


def _feed(lib, ts, grads_k, k):
    for j, (t, g) in enumerate(zip(ts, grads_k)):
        # parameter 1 gets no gradient on some steps: the optimizer must skip it
        if j == 1 and k % 4 == 3:
            t.grad = None
        else:
            t.grad = lib.tensor(g.copy())


def _run(ts_t, opt_t, ts_d, opt_d, grads, steps, atol, rtol):
    for k in steps:
        _feed(torch, ts_t, grads[k], k)
        _feed(dlbasic, ts_d, grads[k], k)
        opt_t.step()
        opt_d.step()
        for a, b in zip(ts_t, ts_d):
            np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), atol=atol,
                                       rtol=rtol, err_msg=f"step {k}")


@pytest.mark.parametrize("case", ALL_CASES, ids=_case_id)
def test_trajectory_matches_torch_float64(case):
    name, opts = case
    params, grads = _problem(np.float64)
    ts_t, opt_t = _make(torch, name, params, opts)
    ts_d, opt_d = _make(dlbasic, name, params, opts)
    _run(ts_t, opt_t, ts_d, opt_d, grads, range(STEPS), atol=1e-6, rtol=1e-9)
    # and the state the algorithm keeps agrees too
    for pt, pd in zip(ts_t, ts_d):
        st, sd = opt_t.state[pt], opt_d.state[pd]
        assert set(st) == set(sd)
        for key in st:
            if isinstance(st[key], torch.Tensor):
                np.testing.assert_allclose(sd[key].numpy(), st[key].numpy(), atol=1e-6)


@pytest.mark.parametrize("name,opts", [
    ("SGD", dict(momentum=0.9, nesterov=True, weight_decay=1e-4)),
    ("Adam", dict(amsgrad=True, weight_decay=1e-3)),
    ("AdamW", dict()),
    ("RMSprop", dict(momentum=0.5, centered=True)),
    ("Adagrad", dict(lr_decay=0.01)),
    ("Adadelta", dict(weight_decay=1e-3)),
    ("Adamax", dict(weight_decay=1e-3)),
    ("NAdam", dict(decoupled_weight_decay=True, weight_decay=1e-2)),
    ("RAdam", dict(weight_decay=1e-3)),
    ("ASGD", dict(t0=3)),
    ("Rprop", dict()),
])
def test_trajectory_matches_torch_float32_and_stays_float32(name, opts):
    params, grads = _problem(np.float32, seed=1)
    ts_t, opt_t = _make(torch, name, params, opts, lr=0.01)
    ts_d, opt_d = _make(dlbasic, name, params, opts, lr=0.01)
    _run(ts_t, opt_t, ts_d, opt_d, grads, range(STEPS), atol=1e-6, rtol=1e-5)
    for p in ts_d:
        assert p.dtype == dlbasic.float32
        for key, v in opt_d.state[p].items():
            if key != "step":
                assert v.dtype == dlbasic.float32, key


def _to_dlbasic(obj):
    if isinstance(obj, torch.Tensor):
        return dlbasic.tensor(obj.detach().numpy().copy())
    if isinstance(obj, dict):
        return {k: _to_dlbasic(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_dlbasic(v) for v in obj]
    return obj


@pytest.mark.parametrize("name,opts", [
    ("SGD", dict(momentum=0.9, dampening=0.1)),
    ("Adam", dict(amsgrad=True)),
    ("AdamW", dict(weight_decay=0.1)),
    ("RMSprop", dict(momentum=0.9, centered=True)),
    ("Adagrad", dict(initial_accumulator_value=0.1)),
    ("Adadelta", dict(rho=0.5)),
    ("Adamax", dict()),
    ("NAdam", dict()),
    ("RAdam", dict(decoupled_weight_decay=True, weight_decay=0.1)),
    ("ASGD", dict(t0=4)),
    ("Rprop", dict(etas=(0.4, 1.3))),
])
def test_state_dict_round_trip_mid_training_continues_identically(name, opts, tmp_path):
    params, grads = _problem(np.float64, seed=2)
    ts_t, opt_t = _make(torch, name, params, opts)
    ts_d, opt_d = _make(dlbasic, name, params, opts)
    _run(ts_t, opt_t, ts_d, opt_d, grads, range(10), atol=1e-6, rtol=1e-9)

    sd = opt_d.state_dict()
    sd_t = opt_t.state_dict()
    # torch's structure: integer ids, same group keys, same state keys
    assert sorted(sd["state"]) == sorted(sd_t["state"])
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in sd_t["param_groups"]]
    for g, gt in zip(sd["param_groups"], sd_t["param_groups"]):
        assert set(g) == set(gt)
        assert g["lr"] == gt["lr"]
    for i in sd_t["state"]:
        assert set(sd["state"][i]) == set(sd_t["state"][i])
        assert all(isinstance(v, dlbasic.Tensor) for v in sd["state"][i].values())

    # through a checkpoint file, into a fresh optimizer over fresh (copied) parameters
    dlbasic.save(sd, tmp_path / "opt.pt")
    loaded = dlbasic.load(tmp_path / "opt.pt")
    ts_new = [dlbasic.tensor(p.detach().numpy().copy(), requires_grad=True) for p in ts_d]
    opt_new = getattr(doptim, name)(_groups(dlbasic, ts_new, 1.0), lr=1.0, **opts)
    opt_new.load_state_dict(loaded)
    assert opt_new.param_groups[0]["lr"] == 0.05 and opt_new.param_groups[1]["lr"] == 0.025
    _run(ts_t, opt_t, ts_new, opt_new, grads, range(10, 20), atol=1e-6, rtol=1e-9)

    # a torch state dict (converted to dlbasic tensors) loads too and continues identically
    ts_x = [dlbasic.tensor(p.detach().numpy().copy(), requires_grad=True) for p in ts_t]
    opt_x = getattr(doptim, name)(_groups(dlbasic, ts_x, 1.0), lr=1.0, **opts)
    opt_x.load_state_dict(_to_dlbasic(opt_t.state_dict()))
    _run(ts_t, opt_t, ts_x, opt_x, grads, range(20, 30), atol=1e-6, rtol=1e-9)


def test_lr_changed_through_param_groups_is_used():
    params, grads = _problem(np.float64, seed=3)
    ts_t, opt_t = _make(torch, "Adam", params, {})
    ts_d, opt_d = _make(dlbasic, "Adam", params, {})
    for k in range(8):
        for opt in (opt_t, opt_d):
            for g in opt.param_groups:
                g["lr"] = 0.1 / (k + 1)
        _run(ts_t, opt_t, ts_d, opt_d, grads, [k], atol=1e-6, rtol=1e-9)


def test_add_param_group_mid_training_matches_torch():
    params, grads = _problem(np.float64, seed=4)
    ts_t = [torch.tensor(a, requires_grad=True) for a in params]
    ts_d = [dlbasic.tensor(a, requires_grad=True) for a in params]
    opt_t = torch.optim.SGD(ts_t[:2], lr=0.1, momentum=0.9)
    opt_d = doptim.SGD(ts_d[:2], lr=0.1, momentum=0.9)
    _run(ts_t, opt_t, ts_d, opt_d, grads, range(3), atol=1e-6, rtol=1e-9)
    opt_t.add_param_group({"params": ts_t[2:], "lr": 0.01, "nesterov": True})
    opt_d.add_param_group({"params": ts_d[2:], "lr": 0.01, "nesterov": True})
    _run(ts_t, opt_t, ts_d, opt_d, grads, range(3, 10), atol=1e-6, rtol=1e-9)


def test_closure_is_evaluated_and_its_loss_returned_like_torch():
    w0 = np.array([1.5, -2.0])
    wt = torch.tensor(w0, requires_grad=True)
    wd = dlbasic.tensor(w0, requires_grad=True)
    opt_t = torch.optim.SGD([wt], lr=0.1)
    opt_d = doptim.SGD([wd], lr=0.1)

    def closure_for(lib, w, opt):
        def closure():
            opt.zero_grad()
            loss = (w * w).sum()
            loss.backward()
            return loss
        return closure

    for _ in range(5):
        lt = opt_t.step(closure_for(torch, wt, opt_t))
        ld = opt_d.step(closure_for(dlbasic, wd, opt_d))
        assert ld.item() == pytest.approx(lt.item(), rel=1e-12)
    np.testing.assert_allclose(wd.detach().numpy(), wt.detach().numpy(), rtol=1e-12)


# -- gradient clipping ---------------------------------------------------------------------
@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf"), 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype):
    rng = np.random.default_rng(5)
    grads = [rng.standard_normal(s).astype(dtype) for s in [(30, 20), (20,), (7, 3, 2)]]
    ps_t, ps_d = [], []
    for g in grads:
        pt = torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype, requires_grad=True)
        pt.grad = torch.tensor(g)
        pd = dlbasic.zeros(*g.shape, dtype=dlbasic._dtype.from_numpy_dtype(g.dtype),
                           requires_grad=True)
        pd.grad = dlbasic.tensor(g)
        ps_t.append(pt)
        ps_d.append(pd)
    # a parameter without gradient is ignored
    ps_t.append(torch.zeros(3, requires_grad=True))
    ps_d.append(dlbasic.zeros(3, requires_grad=True))
    nt = torch.nn.utils.clip_grad_norm_(ps_t, max_norm, norm_type=norm_type)
    nd = clip_grad_norm_(ps_d, max_norm, norm_type=norm_type)
    assert isinstance(nd, dlbasic.Tensor) and nd.dim() == 0
    assert nd.dtype == dlbasic._dtype.from_numpy_dtype(np.dtype(dtype))
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    assert nd.item() == pytest.approx(nt.item(), rel=rtol)
    for a, b in zip(ps_t[:-1], ps_d[:-1]):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=rtol * 4, atol=1e-7)
    assert ps_d[-1].grad is None
    if max_norm < nt.item():      # clipping happened: the new norm is max_norm
        new = torch.nn.utils.get_total_norm([p.grad for p in ps_t[:-1]], norm_type)
        assert new.item() == pytest.approx(max_norm, rel=1e-4)


def test_clip_grad_norm_nonfinite_matches_torch():
    for lib, clip in ((torch, torch.nn.utils.clip_grad_norm_), (dlbasic, clip_grad_norm_)):
        p = lib.zeros(3, requires_grad=True)
        p.grad = lib.tensor([1.0, float("inf"), 2.0])
        with pytest.raises(RuntimeError, match="non-finite"):
            clip(p, 1.0, error_if_nonfinite=True)
        n = clip(p, 1.0)
        assert np.isinf(n.item())
    assert clip_grad_norm_([], 1.0).item() == torch.nn.utils.clip_grad_norm_([], 1.0).item()


def test_clip_grad_value_matches_torch():
    g = np.random.default_rng(6).standard_normal((4, 5)).astype(np.float32) * 3
    pt = torch.zeros(4, 5, requires_grad=True)
    pt.grad = torch.tensor(g)
    pd = dlbasic.zeros(4, 5, requires_grad=True)
    pd.grad = dlbasic.tensor(g)
    torch.nn.utils.clip_grad_value_(pt, 1.25)
    assert clip_grad_value_(pd, 1.25) is None
    np.testing.assert_array_equal(pd.grad.numpy(), pt.grad.numpy())


def test_parameters_to_vector_round_trip_matches_torch():
    from dlbasic.nn.utils import parameters_to_vector, vector_to_parameters
    arrays = [np.arange(6.0).reshape(2, 3), np.arange(4.0)]
    vt = torch.nn.utils.parameters_to_vector([torch.tensor(a) for a in arrays])
    ps = [dlbasic.tensor(a) for a in arrays]
    vd = parameters_to_vector(ps)
    np.testing.assert_array_equal(vd.numpy(), vt.numpy())
    vector_to_parameters(vd * 2, ps)
    np.testing.assert_array_equal(ps[0].numpy(), arrays[0] * 2)
    np.testing.assert_array_equal(ps[1].numpy(), arrays[1] * 2)


@pytest.mark.parametrize("name,opts", [("SGD", dict(momentum=0.9, nesterov=True)),
                                       ("Adam", dict(weight_decay=1e-4)),
                                       ("AdamW", dict())])
def test_mlp_training_loop_with_clipping_and_scheduler_matches_torch(name, opts):
    """End to end: forward, backward, clip_grad_norm_, step, scheduler, as a user writes it."""
    import dlbasic.nn as dnn
    import dlbasic.nn.functional as dF
    torch.manual_seed(0)
    net_t = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(),
                                torch.nn.Linear(32, 5))
    net_d = dnn.Sequential(dnn.Linear(20, 32), dnn.ReLU(), dnn.Linear(32, 5))
    net_d.load_state_dict({k: dlbasic.tensor(v.numpy()) for k, v in net_t.state_dict().items()})
    opt_t = getattr(torch.optim, name)(net_t.parameters(), lr=0.05, **opts)
    opt_d = getattr(doptim, name)(net_d.parameters(), lr=0.05, **opts)
    sch_t = torch.optim.lr_scheduler.OneCycleLR(opt_t, max_lr=0.1, total_steps=12)
    sch_d = doptim.lr_scheduler.OneCycleLR(opt_d, max_lr=0.1, total_steps=12)
    rng = np.random.default_rng(7)
    for step in range(12):
        x = rng.standard_normal((16, 20)).astype(np.float32)
        y = rng.integers(0, 5, 16)
        losses = []
        for lib, F, net, opt, sch in ((torch, torch.nn.functional, net_t, opt_t, sch_t),
                                      (dlbasic, dF, net_d, opt_d, sch_d)):
            opt.zero_grad()
            loss = F.cross_entropy(net(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            clip = torch.nn.utils.clip_grad_norm_ if lib is torch else clip_grad_norm_
            norm = clip(net.parameters(), max_norm=1.0)
            opt.step()
            sch.step()
            losses.append((loss.item(), norm.item()))
        assert losses[1] == pytest.approx(losses[0], rel=1e-4, abs=1e-5), step
    for (k, a), b in zip(net_t.state_dict().items(), net_d.state_dict().values()):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=2e-5, rtol=1e-4, err_msg=k)


@pytest.mark.parametrize("name, kwargs", [
    ("Adadelta", dict(rho=1.5)), ("Adadelta", dict(eps=-1.0)),
    ("Adamax", dict(betas=(1.0, 0.9))), ("Adamax", dict(lr=-1.0)),
    ("NAdam", dict(momentum_decay=-1.0)), ("NAdam", dict(betas=(0.9, 1.0))),
    ("RAdam", dict(weight_decay=-1.0)), ("RAdam", dict(eps=-1e-8)),
    ("ASGD", dict(lr=-0.1)), ("ASGD", dict(weight_decay=-0.1)),
    ("Rprop", dict(etas=(1.5, 1.2))), ("Rprop", dict(lr=-1.0)),
])
def test_bad_options_raise_torchs_error(name, kwargs):
    with pytest.raises(ValueError) as t_err:
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError) as d_err:
        getattr(doptim, name)([dlbasic.zeros(2, requires_grad=True)], **kwargs)
    assert str(d_err.value) == str(t_err.value)


@pytest.mark.parametrize("name", ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"])
def test_defaults_and_param_group_keys_match_torch(name):
    t = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)])
    d = getattr(doptim, name)([dlbasic.zeros(2, requires_grad=True)])
    t_group = {k: v for k, v in t.param_groups[0].items() if k != "params"}
    d_group = {k: v for k, v in d.param_groups[0].items() if k != "params"}
    assert sorted(d_group) == sorted(t_group)
    for k, v in t_group.items():
        assert d_group[k] == v, k
