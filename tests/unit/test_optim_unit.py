"""Optimizer behaviour without torch: the API contract, in-place float32 updates, hand-computed
first steps, validation errors, state dicts, and schedulers' bookkeeping."""
import warnings

import numpy as np
import pytest

import dlbasic
import dlbasic.optim as optim
from dlbasic.optim import lr_scheduler

ALL = {
    "SGD": lambda ps, **kw: optim.SGD(ps, lr=0.1, momentum=0.9, **kw),
    "Adam": lambda ps, **kw: optim.Adam(ps, lr=0.1, amsgrad=True, **kw),
    "AdamW": lambda ps, **kw: optim.AdamW(ps, lr=0.1, **kw),
    "RMSprop": lambda ps, **kw: optim.RMSprop(ps, lr=0.1, momentum=0.5, centered=True, **kw),
    "Adagrad": lambda ps, **kw: optim.Adagrad(ps, lr=0.5, **kw),
}


def _param(arr, dtype=np.float32):
    return dlbasic.tensor(np.asarray(arr, dtype=dtype), requires_grad=True)


@pytest.mark.parametrize("name", sorted(ALL))
def test_step_updates_in_place_in_float32_and_bumps_version(name):
    p = _param(np.linspace(-1, 1, 12).reshape(3, 4))
    data = p._data
    version = p._version
    opt = ALL[name]([p], weight_decay=0.01)
    for k in range(3):
        p.grad = dlbasic.tensor(np.full((3, 4), 0.5 + k, dtype=np.float32))
        opt.step()
    assert p._data is data                     # the same buffer, written in place
    assert p._version == version + 3
    assert p.dtype == dlbasic.float32 and p.is_leaf and p.grad_fn is None
    assert not np.allclose(p.detach().numpy(), np.linspace(-1, 1, 12).reshape(3, 4))
    for key, v in opt.state[p].items():
        assert isinstance(v, dlbasic.Tensor)
        assert v.dtype == dlbasic.float32, key     # no float64 upcast sneaks into the state


@pytest.mark.parametrize("name", sorted(ALL))
def test_parameters_without_grad_are_skipped(name):
    a, b = _param([1.0, 2.0]), _param([3.0, 4.0])
    opt = ALL[name]([a, b])
    a.grad = dlbasic.tensor(np.ones(2, np.float32))
    opt.step()
    assert b.detach().numpy().tolist() == [3.0, 4.0]
    assert a.detach().numpy().tolist() != [1.0, 2.0]
    if name != "Adagrad":                      # Adagrad creates its state eagerly, like torch
        assert b not in opt.state


@pytest.mark.parametrize("name", sorted(ALL))
def test_minimises_a_quadratic_through_autograd(name):
    target = np.array([1.0, -2.0, 3.0], dtype=np.float32)
    w = _param(np.zeros(3))
    opt = ALL[name]([w])
    t = dlbasic.tensor(target)
    losses = []
    for _ in range(200):
        opt.zero_grad()
        loss = ((w - t) ** 2).sum()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]


def test_sgd_first_momentum_buffer_is_the_gradient_then_accumulates():
    p = _param([1.0, 1.0], np.float64)
    opt = optim.SGD([p], lr=0.5, momentum=0.9, dampening=0.5)
    p.grad = dlbasic.tensor([2.0, -4.0], dtype=dlbasic.float64)
    opt.step()
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"].numpy(), [2.0, -4.0])
    np.testing.assert_allclose(p.detach().numpy(), [0.0, 3.0])
    opt.step()                                    # buf = 0.9 buf + 0.5 g
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"].numpy(), [2.8, -5.6])
    np.testing.assert_allclose(p.detach().numpy(), [-1.4, 5.8])


def test_sgd_nesterov_and_weight_decay_by_hand():
    p = _param([1.0], np.float64)
    opt = optim.SGD([p], lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.1)
    p.grad = dlbasic.tensor([1.0], dtype=dlbasic.float64)
    opt.step()   # g = 1 + 0.1 = 1.1; buf = 1.1; step with g + 0.5 buf = 1.65
    np.testing.assert_allclose(p.detach().numpy(), [1.0 - 0.165])


def test_adam_first_step_is_lr_times_sign_and_adamw_decays_weights():
    p = _param([1.0, -1.0, 2.0], np.float64)
    opt = optim.Adam([p], lr=0.01)
    p.grad = dlbasic.tensor([3.0, -0.2, 0.0], dtype=dlbasic.float64)
    opt.step()
    # bias-corrected m / sqrt(v) = sign(g) on the first step (0 stays 0)
    np.testing.assert_allclose(p.detach().numpy(), [0.99, -0.99, 2.0], atol=1e-8)
    assert opt.state[p]["step"].item() == 1.0 and opt.state[p]["step"].dtype == dlbasic.float32
    q = _param([2.0], np.float64)
    optw = optim.AdamW([q], lr=0.1, weight_decay=0.5)
    q.grad = dlbasic.tensor([0.0], dtype=dlbasic.float64)
    optw.step()
    np.testing.assert_allclose(q.detach().numpy(), [2.0 * (1 - 0.1 * 0.5)])
    assert optw.defaults["weight_decay"] == 1e-2 or optw.param_groups[0]["weight_decay"] == 0.5
    assert optim.AdamW([_param([1.0])]).defaults["weight_decay"] == 1e-2


def test_adagrad_first_step_and_lr_decay_by_hand():
    p = _param([0.0, 0.0], np.float64)
    opt = optim.Adagrad([p], lr=1.0, lr_decay=1.0, initial_accumulator_value=1.0, eps=0)
    p.grad = dlbasic.tensor([3.0, 0.0], dtype=dlbasic.float64)
    opt.step()      # sum = 1 + 9 = 10; step -3/sqrt(10)
    np.testing.assert_allclose(p.detach().numpy(), [-3 / np.sqrt(10), 0.0])
    opt.step()      # clr = 1/(1+1) ; sum = 19
    np.testing.assert_allclose(p.detach().numpy(), [-3 / np.sqrt(10) - 0.5 * 3 / np.sqrt(19),
                                                    0.0])


def test_maximize_climbs():
    p = _param([0.0], np.float64)
    opt = optim.SGD([p], lr=0.1, maximize=True)
    p.grad = dlbasic.tensor([1.0], dtype=dlbasic.float64)
    opt.step()
    assert p.item() == pytest.approx(0.1)


# -- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize("make,message", [
    (lambda ps: optim.SGD(ps, lr=-1), "Invalid learning rate: -1"),
    (lambda ps: optim.SGD(ps, momentum=-0.5), "Invalid momentum value: -0.5"),
    (lambda ps: optim.SGD(ps, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda ps: optim.SGD(ps, nesterov=True), "Nesterov momentum requires a momentum and zero "
                                              "dampening"),
    (lambda ps: optim.SGD(ps, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (lambda ps: optim.Adam(ps, lr=-0.1), "Invalid learning rate: -0.1"),
    (lambda ps: optim.Adam(ps, eps=-1), "Invalid epsilon value: -1"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda ps: optim.AdamW(ps, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda ps: optim.RMSprop(ps, alpha=-1), "Invalid alpha value: -1"),
    (lambda ps: optim.RMSprop(ps, momentum=-1), "Invalid momentum value: -1"),
    (lambda ps: optim.Adagrad(ps, lr_decay=-1), "Invalid lr_decay value: -1"),
    (lambda ps: optim.Adagrad(ps, initial_accumulator_value=-1),
     "Invalid initial_accumulator_value value: -1"),
])
def test_invalid_options_raise_torch_value_errors(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make([_param([1.0])])


def test_param_list_errors_match_torch():
    p = _param([1.0])
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts, but got "
                                        "dlbasic.Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors, but one of the "
                                        "params is"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([p * 2], lr=0.1)
    q = _param([2.0])
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter "
                                         "group"):
        opt.add_param_group({"params": [q, p]})
    with pytest.raises(TypeError, match="param_group must be a dict"):
        opt.add_param_group([q])
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([q, q], lr=0.1)


def test_required_option_must_be_given_by_every_group():
    from dlbasic.optim.optimizer import Optimizer, required

    class Custom(Optimizer):
        def __init__(self, params, lr=required):
            super().__init__(params, dict(lr=lr))

    with pytest.raises(ValueError, match="parameter group didn't specify a value of required "
                                         "optimization parameter lr"):
        Custom([_param([1.0])])
    assert Custom([{"params": [_param([1.0])], "lr": 0.1}]).param_groups[0]["lr"] == 0.1


# -- groups, zero_grad, state dicts ---------------------------------------------------------
def test_param_groups_take_defaults_and_their_own_options():
    a, b = _param([1.0]), _param([2.0])
    opt = optim.SGD([{"params": a}, {"params": [b], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert opt.param_groups[0]["params"] == [a] and opt.param_groups[0]["lr"] == 0.1
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0.9
    assert opt.param_groups[0]["momentum"] == 0
    assert repr(opt).startswith("SGD (\nParameter Group 0\n    dampening: 0\n")


def test_zero_grad_sets_none_or_zeros():
    p = _param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1)
    p.grad = dlbasic.tensor([3.0, 4.0])
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and g.numpy().tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert p.grad is None


def test_state_dict_structure_and_load_errors():
    a, b, c = _param([1.0]), _param([2.0, 3.0]), _param([4.0])
    opt = optim.Adam([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1)
    for p in (a, c):
        p.grad = dlbasic.ones_like(p)
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sorted(sd["state"]) == [0, 2]             # b had no gradient: no state
    assert list(sd["state"][0]) == ["step", "exp_avg", "exp_avg_sq"]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["betas"] == (0.9, 0.999)

    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.Adam([a, b, c]).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        optim.Adam([{"params": [a]}, {"params": [b, c]}]).load_state_dict(sd)

    # loading copies: stepping the new optimizer leaves the dict (and the old one) alone
    a2, b2, c2 = _param([1.0]), _param([2.0, 3.0]), _param([4.0])
    opt2 = optim.Adam([{"params": [a2, b2]}, {"params": [c2]}], lr=1.0)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[1]["lr"] == 0.5 and opt2.param_groups[0]["params"] == [a2, b2]
    before = sd["state"][0]["exp_avg"].numpy().copy()
    a2.grad = dlbasic.ones_like(a2)
    opt2.step()
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"].numpy(), before)
    assert opt2.state[a2]["step"].item() == 2.0


def test_loaded_state_is_cast_to_the_parameter_dtype_except_step():
    p = _param([1.0, 2.0], np.float64)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    state = {"state": {0: {"momentum_buffer": dlbasic.tensor(np.ones(2, np.float32))}},
             "param_groups": [dict(opt.state_dict()["param_groups"][0])]}
    opt.load_state_dict(state)
    assert opt.state[p]["momentum_buffer"].dtype == dlbasic.float64


def test_step_hooks_run_around_step():
    p = _param([1.0])
    opt = optim.SGD([p], lr=0.1)
    calls = []
    h = opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    opt.step()
    h.remove()
    opt.step()
    assert calls == ["pre", "post", "post"]


# -- schedulers' bookkeeping ---------------------------------------------------------------
def test_scheduler_sets_initial_lr_and_get_last_lr():
    opt = optim.SGD([_param([1.0])], lr=0.1)
    s = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    assert opt.param_groups[0]["initial_lr"] == 0.1
    assert s.get_last_lr() == [0.1] and s.last_epoch == 0
    lrs = []
    for _ in range(5):
        opt.step()
        s.step()
        lrs.append(s.get_last_lr()[0])
    assert lrs == pytest.approx([0.1, 0.05, 0.05, 0.025, 0.025])
    sd = s.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 5 and sd["base_lrs"] == [0.1]


def test_get_lr_outside_step_warns():
    opt = optim.SGD([_param([1.0])], lr=0.1)
    s = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    with pytest.warns(UserWarning, match="get_last_lr"):
        s.get_lr()


def test_cosine_annealing_reaches_eta_min_at_t_max():
    opt = optim.SGD([_param([1.0])], lr=1.0)
    s = lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(10):
            s.step()
    assert s.get_last_lr()[0] == pytest.approx(0.1)


def test_one_cycle_peaks_at_max_lr_and_cycles_momentum_inversely():
    opt = optim.SGD([_param([1.0])], lr=0.1, momentum=0.9)
    s = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=100)
    lrs, moms = [s.get_last_lr()[0]], [opt.param_groups[0]["momentum"]]
    for _ in range(99):
        opt.step()
        s.step()
        lrs.append(s.get_last_lr()[0])
        moms.append(opt.param_groups[0]["momentum"])
    peak = int(np.argmax(lrs))
    assert lrs[peak] == pytest.approx(1.0) and peak == 29
    assert lrs[0] == pytest.approx(1.0 / 25) and lrs[-1] == pytest.approx(1.0 / 25 / 1e4)
    assert moms[peak] == pytest.approx(0.85) and moms[0] == pytest.approx(0.95)


def test_a_custom_optimizer_written_as_in_torch_docs_works():
    class PlainSGD(optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, dict(lr=lr))

        @dlbasic.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self.state[p]["n"] = self.state[p].get("n", 0) + 1
                        p.add_(p.grad, alpha=-group["lr"])

    p = _param([1.0, 2.0])
    opt = PlainSGD([p], lr=0.5)
    p.grad = dlbasic.tensor([1.0, 1.0])
    opt.step()
    assert p.detach().numpy().tolist() == [0.5, 1.5]
    assert opt.state_dict()["state"] == {0: {"n": 1}}
    s = lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
    opt.step()
    s.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)


def test_lr_given_as_a_tensor_is_accepted():
    p = _param([1.0])
    opt = optim.SGD([p], lr=dlbasic.tensor(0.5))
    p.grad = dlbasic.tensor([1.0])
    opt.step()
    assert p.item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        optim.Adam([p], lr=dlbasic.tensor([0.1, 0.2]))
