"""optim.LBFGS against torch: the same parameters after every step (float64), the same
number of function evaluations and iterations, the same state_dict, the same errors."""
import numpy as np
import pytest

from tests.parity.harness import assert_same_error, torch

import dlbasic                                               # noqa: E402
import dlbasic.optim as doptim                               # noqa: E402


def _rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def _least_squares(params, X, Y):
    # a small tanh MLP fitted by squared error; params[4] never enters the loss, so its
    # gradient stays None and LBFGS must treat it as zeros
    # (the small L2 penalty keeps the minimum isolated, so round-off is not amplified)
    W1, b1, W2, b2, _unused = params
    fit = (((X @ W1 + b1).tanh() @ W2 + b2 - Y) ** 2).mean()
    return fit + 0.01 * ((W1 ** 2).sum() + (W2 ** 2).sum())


def _rosen_problem():
    return [np.array([-1.5, 2.0, 0.5, -0.7])], lambda lib, ps: _rosenbrock(ps[0])


def _mlp_problem():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((32, 3)), rng.standard_normal((32, 2))
    arrays = [rng.standard_normal((3, 4)) * 0.5, rng.standard_normal(4) * 0.1,
              rng.standard_normal((4, 2)) * 0.5, rng.standard_normal(2) * 0.1,
              rng.standard_normal((2, 2))]
    return arrays, lambda lib, ps: _least_squares(ps, lib.tensor(X).to(ps[0].dtype),
                                            lib.tensor(Y).to(ps[0].dtype))


def _setup(lib, arrays, loss_fn, opts, dtype=np.float64):
    params = [lib.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    opt = (torch.optim.LBFGS if lib is torch else doptim.LBFGS)(params, **opts)

    def closure():
        opt.zero_grad()
        loss = loss_fn(lib, params)
        loss.backward()
        return loss
    return params, opt, closure


def _run_both(problem, opts, steps, atol=1e-12, rtol=1e-10, dtype=np.float64):
    arrays, loss_fn = problem()
    tp, topt, tclos = _setup(torch, arrays, loss_fn, opts, dtype)
    dp, dopt, dclos = _setup(dlbasic, arrays, loss_fn, opts, dtype)
    for k in range(steps):
        tl, dl = topt.step(tclos), dopt.step(dclos)
        assert float(dl.detach()) == pytest.approx(float(tl.detach()), rel=rtol, abs=atol)
        for a, b in zip(tp, dp):
            np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), atol=atol,
                                       rtol=rtol, err_msg=f"step {k}")
        ts, ds = topt.state[tp[0]], dopt.state[dp[0]]
        assert (ds["func_evals"], ds["n_iter"]) == (ts["func_evals"], ts["n_iter"])
    return (tp, topt, tclos), (dp, dopt, dclos)


CASES = [
    dict(),
    dict(line_search_fn="strong_wolfe"),
    dict(lr=0.1),
    dict(lr=0.3, max_iter=7, history_size=2),
    dict(max_iter=5, history_size=3, line_search_fn="strong_wolfe"),
    dict(max_iter=4, max_eval=6, line_search_fn="strong_wolfe"),
    dict(max_iter=30, history_size=5, tolerance_change=1e-5, line_search_fn="strong_wolfe"),
]


@pytest.mark.parametrize("opts", CASES, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items())
                         or "default")
def test_rosenbrock_trajectory_matches_torch(opts):
    _run_both(_rosen_problem, opts, steps=5)


@pytest.mark.parametrize("opts", CASES, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items())
                         or "default")
def test_mlp_least_squares_trajectory_matches_torch(opts):
    # this problem amplifies round-off: torch against itself with the start scaled by
    # (1 + 1e-15) drifts apart by up to ~1e-7 (relative) in these steps, so that is the bar;
    # the iteration and evaluation counts must still agree exactly
    _run_both(_mlp_problem, opts, steps=4, atol=1e-9, rtol=2e-7)


def test_mlp_float32_stays_close_to_torch():
    (tp, _, _), (dp, _, _) = _run_both(_mlp_problem, dict(line_search_fn="strong_wolfe",
                                                          max_iter=5), steps=2,
                                       atol=1e-4, rtol=1e-3, dtype=np.float32)
    assert all(p.dtype == dlbasic.float32 for p in dp)


def test_lbfgs_minimises_rosenbrock():
    x = dlbasic.tensor([-1.5, 2.0], dtype=dlbasic.float64, requires_grad=True)
    opt = doptim.LBFGS([x], line_search_fn="strong_wolfe", max_iter=100,
                       tolerance_grad=1e-12, tolerance_change=1e-15)

    def closure():
        opt.zero_grad()
        loss = _rosenbrock(x)
        loss.backward()
        return loss
    for _ in range(3):
        opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), [1.0, 1.0], atol=1e-8)


def test_step_returns_at_once_when_the_gradient_is_already_zero():
    x = dlbasic.tensor([1.0, 1.0], dtype=dlbasic.float64, requires_grad=True)
    opt = doptim.LBFGS([x])

    def closure():
        opt.zero_grad()
        loss = _rosenbrock(x)
        loss.backward()
        return loss
    loss = opt.step(closure)
    assert float(loss) == 0.0 and opt.state[x]["func_evals"] == 1
    assert "d" not in opt.state[x]


def _state_arrays(value):
    if isinstance(value, (list, tuple)):
        return [_state_arrays(v) for v in value]
    if hasattr(value, "detach"):
        return np.asarray(value.detach().numpy())
    return value


def _assert_state_close(ours, theirs):
    assert set(ours) == set(theirs)
    for key in theirs:
        a, b = _state_arrays(ours[key]), _state_arrays(theirs[key])
        if isinstance(b, list):
            assert len(a) == len(b), key
            for x, y in zip(a, b):
                if y is None:
                    assert x is None
                else:
                    np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12, err_msg=key)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_state_dict_matches_torch_and_round_trips(line_search_fn):
    opts = dict(max_iter=4, history_size=3, line_search_fn=line_search_fn)
    (tp, topt, tclos), (dp, dopt, dclos) = _run_both(_mlp_problem, opts, steps=2)
    tsd, dsd = topt.state_dict(), dopt.state_dict()
    assert dsd["param_groups"] == tsd["param_groups"]
    assert set(dsd["state"]) == set(tsd["state"]) == {0}
    _assert_state_close(dsd["state"][0], tsd["state"][0])

    # ours -> a fresh optimizer over copies of the parameters: it continues the same way
    copies = [dlbasic.tensor(p.detach().numpy(), requires_grad=True) for p in dp]
    arrays, loss_fn = _mlp_problem()
    opt2 = doptim.LBFGS(copies, **opts)
    opt2.load_state_dict(dsd)

    def closure2():
        opt2.zero_grad()
        loss = loss_fn(dlbasic, copies)
        loss.backward()
        return loss

    # torch's state -> ours (tensors converted through NumPy): continues as torch does
    copies3 = [dlbasic.tensor(p.detach().numpy(), requires_grad=True) for p in tp]
    opt3 = doptim.LBFGS(copies3, **opts)

    def convert(v):
        if isinstance(v, list):
            return [convert(x) for x in v]
        return dlbasic.tensor(v.numpy()) if isinstance(v, torch.Tensor) else v
    opt3.load_state_dict({"state": {0: {k: convert(v) for k, v in tsd["state"][0].items()}},
                          "param_groups": tsd["param_groups"]})

    def closure3():
        opt3.zero_grad()
        loss = loss_fn(dlbasic, copies3)
        loss.backward()
        return loss

    for _ in range(2):
        topt.step(tclos)
        dopt.step(dclos)
        opt2.step(closure2)
        opt3.step(closure3)
    for a, b, c, e in zip(tp, dp, copies, copies3):
        np.testing.assert_array_equal(c.detach().numpy(), b.detach().numpy())
        np.testing.assert_allclose(e.detach().numpy(), a.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)


def test_defaults_and_param_group_match_torch():
    t = torch.optim.LBFGS([torch.zeros(2, requires_grad=True)], max_iter=8)
    d = doptim.LBFGS([dlbasic.zeros(2, requires_grad=True)], max_iter=8)
    tg = {k: v for k, v in t.param_groups[0].items() if k != "params"}
    dg = {k: v for k, v in d.param_groups[0].items() if k != "params"}
    assert dg == tg and dg["max_eval"] == 10


def test_errors_match_torch():
    def two_groups(lib):
        a, b = lib.zeros(2, requires_grad=True), lib.zeros(2, requires_grad=True)
        return [{"params": [a]}, {"params": [b], "lr": 0.1}]
    assert_same_error(lambda: torch.optim.LBFGS(two_groups(torch)),
                      lambda: doptim.LBFGS(two_groups(dlbasic)))
    assert_same_error(lambda: torch.optim.LBFGS([torch.zeros(1, requires_grad=True)], lr=-1),
                      lambda: doptim.LBFGS([dlbasic.zeros(1, requires_grad=True)], lr=-1))

    # an unknown line search is reported when the step first needs it (torch's behaviour)
    def bad_line_search(lib, optim):
        x = lib.tensor([0.5, 0.5], dtype=lib.float64, requires_grad=True)
        opt = optim.LBFGS([x], line_search_fn="backtracking")

        def closure():
            opt.zero_grad()
            loss = _rosenbrock(x)
            loss.backward()
            return loss
        return lambda: opt.step(closure)
    assert_same_error(bad_line_search(torch, torch.optim), bad_line_search(dlbasic, doptim))


def test_complex_parameter_is_optimised_as_its_real_and_imaginary_parts():
    c = np.array([1 + 2j, -0.5 + 0.3j, 2 - 1j])

    def run(lib, optim):
        z = lib.zeros(3, dtype=lib.complex128, requires_grad=True)
        w = lib.tensor([0.3, -0.2], dtype=lib.float64, requires_grad=True)
        opt = optim.LBFGS([w, z], max_iter=5, line_search_fn="strong_wolfe")
        target = lib.tensor(c)

        def closure():
            opt.zero_grad()
            # polynomial in the real and imaginary parts (no abs/hypot, whose float64 result
            # varies with torch's SIMD path, and no flat quartic that would amplify it)
            d = z - target
            loss = (d * d.conj()).real.sum() * (1 + (w ** 2).sum()) + ((w - 0.1) ** 2).sum()
            loss.backward()
            return loss
        for _ in range(3):
            opt.step(closure)
        return z.detach().numpy(), w.detach().numpy()
    for a, b in zip(run(torch, torch.optim), run(dlbasic, doptim)):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
