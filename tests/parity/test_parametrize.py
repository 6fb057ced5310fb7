"""nn.utils.parametrize / parametrizations and the older weight_norm / spectral_norm hooks
against torch: state_dict keys, a torch state_dict loading strict, outputs and gradients of
the originals (Linear, Conv2d), spectral norm's power iteration on u and v over several
training-mode forwards, remove_* leaving the right plain weight, the class swap, caching,
right_inverse, and torch's errors."""
import copy
import pickle
import warnings

import numpy as np
import pytest

from tests.parity.harness import assert_close, assert_same_error, torch, to_dlbasic_state

import dlbasic
import dlbasic.nn as dnn
from dlbasic.nn.utils import parametrize as DP, parametrizations as DPZ

tnn = torch.nn
TP = torch.nn.utils.parametrize
TPZ = torch.nn.utils.parametrizations


def _pair(make, seed=0, dtype="float32"):
    """The same layer in both libraries: torch's init, copied into dlbasic by state_dict."""
    torch.manual_seed(seed)
    t, d = make(tnn), make(dnn)
    if dtype == "float64":
        t, d = t.double(), d.double()
    return t, d


def _load(d, t):
    """torch's state_dict into the dlbasic module, strict; keys must be equal too."""
    assert list(d.state_dict()) == list(t.state_dict())
    d.load_state_dict(to_dlbasic_state(t), strict=True)


def _inputs(shape, seed=1, dtype="float32"):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return torch.tensor(x, requires_grad=True), dlbasic.tensor(x, requires_grad=True)


def _compare_forward_backward(t, d, shape, tol=1e-5):
    xt, xd = _inputs(shape, dtype=str(t.bias.dtype).split(".")[-1])
    yt, yd = t(xt), d(xd)
    assert_close(yd, yt, tol, 1e-4, "output")
    (yt * yt).sum().backward()
    (yd * yd).sum().backward()
    assert_close(xd.grad, xt.grad, tol, 1e-4, "input grad")
    tp, dp = dict(t.named_parameters()), dict(d.named_parameters())
    assert list(tp) == list(dp)
    for name in tp:
        assert_close(dp[name].grad, tp[name].grad, tol, 1e-4, f"grad of {name}")


LAYERS = [(lambda m: m.Linear(5, 4), (3, 5)),
          (lambda m: m.Conv2d(3, 4, 3, padding=1), (2, 3, 5, 5))]


# -- parametrizations.weight_norm -------------------------------------------------------------

@pytest.mark.parametrize("make, shape", LAYERS)
@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_parametrization_loads_torch_state_and_matches(make, shape, dim):
    t, d = _pair(make)
    TPZ.weight_norm(t, dim=dim)
    DPZ.weight_norm(d, dim=dim)
    _load(d, t)
    pt, pd = t.parametrizations.weight, d.parametrizations.weight
    assert pd.original0.shape == tuple(pt.original0.shape)      # g: the norms, v: the direction
    assert_close(d.weight, t.weight, 1e-6, 1e-5, "weight")
    _compare_forward_backward(t, d, shape)


def test_weight_norm_parametrization_splits_a_fresh_weight_like_torch():
    t, d = _pair(lambda m: m.Linear(5, 4))
    d.load_state_dict(to_dlbasic_state(t))
    TPZ.weight_norm(t)
    DPZ.weight_norm(d)
    for k, v in t.state_dict().items():
        assert_close(d.state_dict()[k], v, 1e-6, 1e-5, k)
    assert type(d).__name__ == "ParametrizedLinear"
    assert d.weight.grad_fn is not None
    assert repr(d) == repr(t)


def test_remove_weight_norm_parametrization_leaves_the_weight():
    t, d = _pair(lambda m: m.Linear(5, 4))
    TPZ.weight_norm(t)
    DPZ.weight_norm(d)
    _load(d, t)
    TP.remove_parametrizations(t, "weight")
    DP.remove_parametrizations(d, "weight")
    assert type(d) is dnn.Linear and list(d.state_dict()) == list(t.state_dict())
    assert isinstance(d.weight, dnn.Parameter) and d.weight.requires_grad
    assert_close(d.weight, t.weight, 1e-6, 1e-5, "weight")
    TPZ.weight_norm(t)
    DPZ.weight_norm(d)              # g and v cannot be left as one original
    assert_same_error(lambda: TP.remove_parametrizations(t, "weight", leave_parametrized=False),
                      lambda: DP.remove_parametrizations(d, "weight", leave_parametrized=False))


# -- parametrizations.spectral_norm -----------------------------------------------------------

@pytest.mark.parametrize("make, shape", LAYERS + [
    (lambda m: m.ConvTranspose2d(3, 4, 3), (2, 3, 4, 4))])
def test_spectral_norm_parametrization_power_iteration_matches_torch(make, shape):
    t, d = _pair(make)
    TPZ.spectral_norm(t, n_power_iterations=2)
    DPZ.spectral_norm(d, n_power_iterations=2)
    assert d.parametrizations.weight[0].dim == t.parametrizations.weight[0].dim
    _load(d, t)                                  # the same u, v (drawn from each library's RNG)
    for step in range(3):                        # training mode: u, v move on every forward
        _compare_forward_backward(t, d, shape)
        for b in ("_u", "_v"):
            assert_close(getattr(d.parametrizations.weight[0], b),
                         getattr(t.parametrizations.weight[0], b), 1e-6, 1e-4, f"{b} @{step}")
        t.zero_grad()
        d.zero_grad()
    t.eval()
    d.eval()
    u = d.parametrizations.weight[0]._u.numpy().copy()
    _compare_forward_backward(t, d, shape)
    np.testing.assert_array_equal(d.parametrizations.weight[0]._u.numpy(), u)   # eval: frozen


def test_spectral_norm_parametrization_normalizes_the_top_singular_value():
    d = dnn.Linear(6, 5)
    DPZ.spectral_norm(d)
    for _ in range(20):
        w = d.weight
    assert abs(np.linalg.svd(w.detach().numpy(), compute_uv=False)[0] - 1) < 1e-4
    # registering ran 15 power steps; u and v are unit vectors
    assert abs(np.linalg.norm(d.parametrizations.weight[0]._u.numpy()) - 1) < 1e-6


def test_spectral_norm_parametrization_errors_match_torch():
    for kw in (dict(dim=2), dict(n_power_iterations=0)):
        assert_same_error(lambda: TPZ.spectral_norm(tnn.Linear(3, 2), **kw),
                          lambda: DPZ.spectral_norm(dnn.Linear(3, 2), **kw))
    assert_same_error(lambda: TPZ.spectral_norm(tnn.Linear(3, 2), "foo"),
                      lambda: DPZ.spectral_norm(dnn.Linear(3, 2), "foo"), same_message=False)


# -- the older hooks: nn.utils.weight_norm / spectral_norm ------------------------------------

@pytest.mark.parametrize("make, shape", LAYERS)
def test_weight_norm_hook_loads_torch_state_matches_and_removes(make, shape):
    t, d = _pair(make)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.nn.utils.weight_norm(t)
    with pytest.warns(FutureWarning, match="deprecated"):
        dnn.utils.weight_norm(d)
    assert list(d.state_dict()) == ["bias", "weight_g", "weight_v"]
    _load(d, t)
    _compare_forward_backward(t, d, shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        assert_same_error(lambda: torch.nn.utils.weight_norm(t),
                          lambda: dnn.utils.weight_norm(d))
    torch.nn.utils.remove_weight_norm(t)
    dnn.utils.remove_weight_norm(d)
    assert list(d.state_dict()) == list(t.state_dict()) == ["bias", "weight"]
    assert isinstance(d.weight, dnn.Parameter)
    assert_close(d.weight, t.weight, 1e-6, 1e-5, "weight")
    assert_same_error(lambda: torch.nn.utils.remove_weight_norm(t),
                      lambda: dnn.utils.remove_weight_norm(d), same_message=False)


@pytest.mark.parametrize("make, shape", LAYERS)
def test_spectral_norm_hook_power_iteration_matches_torch_and_removes(make, shape):
    t, d = _pair(make)
    torch.nn.utils.spectral_norm(t)
    dnn.utils.spectral_norm(d)
    assert list(d.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    _load(d, t)
    for step in range(3):
        _compare_forward_backward(t, d, shape)
        for b in ("weight_u", "weight_v"):
            assert_close(getattr(d, b), getattr(t, b), 1e-6, 1e-4, f"{b} @{step}")
        t.zero_grad()
        d.zero_grad()
    torch.nn.utils.remove_spectral_norm(t)
    dnn.utils.remove_spectral_norm(d)
    assert list(d.state_dict()) == list(t.state_dict())
    assert_close(d.weight, t.weight, 1e-6, 1e-4, "weight")
    assert_same_error(lambda: torch.nn.utils.remove_spectral_norm(t),
                      lambda: dnn.utils.remove_spectral_norm(d), same_message=False)


def test_spectral_norm_hook_leaves_buffers_in_eval():
    d = dnn.Linear(4, 3)
    dnn.utils.spectral_norm(d)
    d.eval()
    u = d.weight_u.numpy().copy()
    d(dlbasic.randn(2, 4))
    np.testing.assert_array_equal(d.weight_u.numpy(), u)


# -- register_parametrization -----------------------------------------------------------------

def _symmetric(m):
    class Symmetric(m.Module):
        def forward(self, x):
            return x.triu() + x.triu(1).transpose(0, 1)

        def right_inverse(self, a):
            return a.triu()
    return Symmetric


def _scale(m):
    class Scale(m.Module):
        def forward(self, x):
            return 2.0 * x
    return Scale


def test_register_parametrization_chains_and_matches_torch():
    t, d = _pair(lambda m: m.Linear(4, 4))
    for lib, P, mod in ((tnn, TP, t), (dnn, DP, d)):
        P.register_parametrization(mod, "weight", _symmetric(lib)())
        P.register_parametrization(mod, "weight", _scale(lib)())
    _load(d, t)
    assert list(d.state_dict()) == ["bias", "parametrizations.weight.original"]
    assert repr(d) == repr(t).replace("torch", "dlbasic")
    w = d.weight.detach().numpy()
    np.testing.assert_allclose(w, w.T)
    _compare_forward_backward(t, d, (3, 4))
    assert DP.is_parametrized(d) and DP.is_parametrized(d, "weight")
    assert not DP.is_parametrized(d, "bias") and not DP.is_parametrized(dnn.Linear(2, 2))
    assert DP.type_before_parametrizations(d) is dnn.Linear
    assert type(d).__mro__[1] is dnn.Linear
    assert dnn.Linear.__dict__.get("weight") is None        # the property is on the subclass


def test_assigning_a_parametrized_tensor_runs_right_inverse():
    d = dnn.Linear(3, 3)
    DP.register_parametrization(d, "weight", _symmetric(dnn)())
    original = d.parametrizations.weight.original
    a = dlbasic.tensor(np.arange(9.0, dtype=np.float32).reshape(3, 3))
    d.weight = a
    assert d.parametrizations.weight.original is original          # the same Parameter
    np.testing.assert_array_equal(original.detach().numpy(), np.triu(a.numpy()))
    np.testing.assert_array_equal(d.weight.detach().numpy(),
                                  np.triu(a.numpy()) + np.triu(a.numpy(), 1).T)


def test_remove_parametrizations_leave_false_restores_the_original():
    d = dnn.Linear(3, 3)
    w0 = d.weight.detach().numpy().copy()
    DP.register_parametrization(d, "weight", _scale(dnn)())
    DP.remove_parametrizations(d, "weight", leave_parametrized=False)
    assert type(d) is dnn.Linear and not hasattr(d, "parametrizations")
    np.testing.assert_array_equal(d.weight.detach().numpy(), w0)
    DP.register_parametrization(d, "weight", _scale(dnn)())
    DP.remove_parametrizations(d, "weight")
    np.testing.assert_array_equal(d.weight.detach().numpy(), 2 * w0)


def test_parametrized_buffer_and_tuple_right_inverse_layout():
    class Split(dnn.Module):
        def forward(self, a, b):
            return a + b

        def right_inverse(self, x):
            return x * 0.25, x * 0.75

    m = dnn.BatchNorm1d(3)
    DP.register_parametrization(m, "running_mean", _scale(dnn)())
    assert "parametrizations.running_mean.original" in m.state_dict()
    assert not m.parametrizations.running_mean.original.requires_grad
    lin = dnn.Linear(2, 2)
    w = lin.weight.detach().numpy().copy()
    DP.register_parametrization(lin, "weight", Split())
    assert list(lin.state_dict())[1:] == ["parametrizations.weight.original0",
                                          "parametrizations.weight.original1"]
    np.testing.assert_allclose(lin.weight.detach().numpy(), w, rtol=1e-6)
    lin(dlbasic.ones(1, 2)).sum().backward()
    assert lin.parametrizations.weight.original0.grad is not None


def test_cached_computes_each_parametrized_tensor_once():
    calls = []

    class Counting(dnn.Module):
        def forward(self, x):
            calls.append(1)
            return x * 1.0

    d = dnn.Linear(3, 3)
    DP.register_parametrization(d, "weight", Counting())
    calls.clear()
    with DP.cached():
        a, b = d.weight, d.weight
    assert a is b and len(calls) == 1
    d.weight
    assert len(calls) == 2


def test_optimizer_updates_the_original():
    d = dnn.Linear(3, 2)
    DPZ.weight_norm(d)
    v = d.parametrizations.weight.original1
    before = v.detach().numpy().copy()
    opt = dlbasic.optim.SGD(d.parameters(), lr=0.1)
    d(dlbasic.randn(4, 3)).pow(2).sum().backward()
    opt.step()
    assert not np.allclose(v.detach().numpy(), before)


def test_parametrized_modules_deepcopy_but_refuse_pickle():
    d = dnn.Linear(3, 2)
    DPZ.weight_norm(d)
    c = copy.deepcopy(d)
    assert type(c).__name__ == "ParametrizedLinear"
    np.testing.assert_array_equal(c.weight.detach().numpy(), d.weight.detach().numpy())
    with pytest.raises(RuntimeError, match="state_dict"):
        pickle.dumps(d)


def test_register_parametrization_errors_match_torch():
    def shrink(m):
        class Shrink(m.Module):
            def forward(self, x):
                return x[:2]
        return Shrink()

    assert_same_error(lambda: TP.register_parametrization(tnn.Linear(3, 3), "weight",
                                                          shrink(tnn)),
                      lambda: DP.register_parametrization(dnn.Linear(3, 3), "weight",
                                                          shrink(dnn)), same_message=False)
    assert_same_error(lambda: TP.register_parametrization(tnn.Linear(3, 3), "foo", shrink(tnn)),
                      lambda: DP.register_parametrization(dnn.Linear(3, 3), "foo", shrink(dnn)),
                      same_message=False)
    assert_same_error(lambda: TP.remove_parametrizations(tnn.Linear(3, 3), "weight"),
                      lambda: DP.remove_parametrizations(dnn.Linear(3, 3), "weight"),
                      same_message=False)
    with pytest.raises(NotImplementedError):
        DPZ.orthogonal(dnn.Linear(3, 3))
