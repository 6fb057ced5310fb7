"""What tutorials touch before their first layer, against torch 2.13 (a CPU build):
``torch.device`` objects for devices this machine lacks, the default device,
``torch.accelerator``, ``torch.compile`` (eager here), ``torch.utils.checkpoint``."""
import warnings

import numpy as np
import pytest

from tests.parity.harness import assert_same_error, torch

import dlbasic
import dlbasic.nn as dnn
from dlbasic.utils import checkpoint as d_ckpt
from torch.utils import checkpoint as t_ckpt


# -- device objects ----------------------------------------------------------------------

@pytest.mark.parametrize("args", [("cpu",), ("cuda",), ("cuda:1",), ("cuda", 0), ("mps",),
                                  ("cpu", 0), ("meta",), ("xpu:3",)])
def test_a_device_is_built_like_torchs(args):
    t, d = torch.device(*args), dlbasic.device(*args)
    assert (d.type, d.index) == (t.type, t.index)
    assert str(d) == str(t) and repr(d) == repr(t)
    assert dlbasic.device(d) == d and hash(d) == hash(dlbasic.device(str(d)))


@pytest.mark.parametrize("args", [("gpu",), ("cuda:01",), ("cuda:x",), ("cuda:1", 0),
                                  ("cuda", -1)])
def test_a_bad_device_raises_torchs_error(args):
    assert_same_error(lambda: torch.device(*args), lambda: dlbasic.device(*args))


def test_devices_compare_by_type_and_index():
    assert dlbasic.device("cuda:0") != dlbasic.device("cuda")
    assert dlbasic.device("cuda", 1) == dlbasic.device("cuda:1")
    assert dlbasic.device("cpu") == "cpu" and dlbasic.device("cuda") != "cpu"


# -- placing tensors elsewhere than the CPU --------------------------------------------------

PLACEMENTS = [
    lambda: dlbasic.zeros(2, device="cuda"),
    lambda: dlbasic.tensor([1.0], device=dlbasic.device("cuda", 0)),
    lambda: dlbasic.arange(3, device="cuda:1"),
    lambda: dlbasic.randn(2, device="cuda"),
    lambda: dlbasic.ones(2).to("cuda"),
    lambda: dlbasic.ones(2).to(device="cuda"),
    lambda: dlbasic.ones(2).cuda(),
    lambda: dlbasic.ones(2).cuda(1),
    lambda: dnn.Linear(2, 3, device="cuda"),
    lambda: dnn.Linear(2, 3).to("cuda"),
    lambda: dnn.Linear(2, 3).cuda(),
    lambda: dlbasic.zeros_like(dlbasic.ones(2), device="cuda"),
]


@pytest.mark.parametrize("place", PLACEMENTS)
def test_placing_a_tensor_on_cuda_raises_the_cpu_only_error(place):
    # torch without CUDA raises AssertionError("Torch not compiled with CUDA enabled"); ours is
    # an AssertionError too (scripts catch that) and a RuntimeError, which python -O keeps
    with pytest.raises(AssertionError, match="CPU only .*cannot place a tensor on device "
                                             "'cuda"):
        place()
    with pytest.raises(RuntimeError):
        place()


def test_other_devices_are_refused_by_name():
    with pytest.raises(RuntimeError, match="not linked with support for mps devices"):
        dlbasic.zeros(2, device="mps")
    with pytest.raises(RuntimeError, match="Invalid device, must be cuda device"):
        dlbasic.ones(2).cuda("cpu")


def test_the_cpu_is_accepted_everywhere():
    x = dlbasic.zeros(2, device="cpu:0")
    assert x.device == "cpu" and x.to("cpu") is x
    assert dnn.Linear(2, 3, device=dlbasic.device("cpu")).weight.device == "cpu"


# -- the default device -------------------------------------------------------------------

@pytest.fixture
def restore_default_device():
    yield
    dlbasic.set_default_device(None)


def test_default_device_is_the_cpu_like_torchs():
    assert dlbasic.get_default_device() == dlbasic.device("cpu")
    assert str(dlbasic.get_default_device()) == str(torch.get_default_device())


def test_set_default_device_cpu_changes_nothing(restore_default_device):
    dlbasic.set_default_device("cpu")
    assert dlbasic.zeros(2).device == "cpu"
    assert dlbasic.get_default_device() == "cpu"


def test_a_cuda_default_device_is_accepted_and_refused_when_a_tensor_is_made(
        restore_default_device):
    dlbasic.set_default_device("cuda")
    assert dlbasic.get_default_device() == dlbasic.device("cuda")
    for make in (lambda: dlbasic.zeros(2), lambda: dlbasic.tensor([1.0]),
                 lambda: dlbasic.arange(3), lambda: dnn.Linear(2, 2)):
        with pytest.raises(AssertionError, match="cannot place a tensor on device 'cuda'"):
            make()
    # the *_like functions follow their input's device, as torch's do
    dlbasic.set_default_device(None)
    x = dlbasic.ones(2)
    dlbasic.set_default_device("cuda")
    assert dlbasic.zeros_like(x).device == "cpu"
    dlbasic.set_default_device(None)
    assert dlbasic.zeros(2).device == "cpu"


def test_device_as_a_context_manager_sets_the_default_inside_only():
    with dlbasic.device("cuda"):
        with pytest.raises(AssertionError):
            dlbasic.zeros(1)
        with dlbasic.device("cpu"):
            assert dlbasic.zeros(1).device == "cpu"
        with pytest.raises(AssertionError):
            dlbasic.zeros(1)
    assert dlbasic.zeros(1).device == "cpu"
    assert dlbasic.get_default_device() == "cpu"


# -- torch.accelerator ---------------------------------------------------------------------

def test_accelerator_answers_as_torch_on_a_machine_without_one():
    assert dlbasic.accelerator.is_available() is torch.accelerator.is_available() is False
    assert dlbasic.accelerator.current_accelerator() is None
    assert torch.accelerator.current_accelerator() is None
    assert dlbasic.accelerator.device_count() == torch.accelerator.device_count() == 0
    with pytest.raises(RuntimeError, match="none is available"):
        dlbasic.accelerator.current_device_index()


def test_the_device_agnostic_idiom_picks_the_cpu():
    device = dlbasic.accelerator.current_accelerator() or dlbasic.device("cpu")
    assert dlbasic.ones(2, device=device).device == "cpu"


# -- torch.compile -------------------------------------------------------------------------

def test_compile_returns_the_model_itself_and_never_changes_results():
    model = dnn.Sequential(dnn.Linear(3, 4), dnn.ReLU())
    x = dlbasic.randn(2, 3)
    before = model(x).detach().numpy()
    compiled = dlbasic.compile(model)
    assert compiled is model
    np.testing.assert_array_equal(compiled(x).detach().numpy(), before)
    assert list(compiled.state_dict()) == ["0.weight", "0.bias"]


def test_compile_as_a_decorator_with_and_without_options():
    @dlbasic.compile
    def f(x):
        return x * 2

    @dlbasic.compile(mode="max-autotune", fullgraph=True)
    def g(x):
        return x + 1

    assert f(dlbasic.tensor(2.0)).item() == 4.0 and g(dlbasic.tensor(2.0)).item() == 3.0


def test_compile_checks_mode_and_options_as_torch_does():
    for kwargs in (dict(mode="fastest"), dict(mode="default", options={})):
        assert_same_error(lambda: torch.compile(lambda x: x, **kwargs),
                          lambda: dlbasic.compile(lambda x: x, **kwargs))
    with pytest.raises(AssertionError, match="A callable function is expected"):
        dlbasic.compile(3)


# -- torch.utils.checkpoint -----------------------------------------------------------------

def _pair_mlp(seed=0, dropout=0.0):
    t = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Dropout(dropout),
                            torch.nn.Linear(8, 3))
    d = dnn.Sequential(dnn.Linear(4, 8), dnn.Tanh(), dnn.Dropout(dropout), dnn.Linear(8, 3))
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for tp, dp in zip(t.parameters(), d.parameters()):
            a = rng.standard_normal(tuple(tp.shape))
            tp.copy_(torch.tensor(a))
            dp.data = dlbasic.tensor(a.astype(np.float32))
    return t, d


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_checkpoint_gives_torchs_values_and_gradients(use_reentrant):
    t, d = _pair_mlp()
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    tx, dx = torch.tensor(x, requires_grad=True), dlbasic.tensor(x, requires_grad=True)
    to = t_ckpt.checkpoint(t, tx, use_reentrant=use_reentrant)
    do = d_ckpt.checkpoint(d, dx, use_reentrant=use_reentrant)
    np.testing.assert_allclose(do.detach().numpy(), to.detach().numpy(), atol=1e-5)
    (to ** 2).sum().backward()
    (do ** 2).sum().backward()
    np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), atol=1e-4, rtol=1e-4)
    for tp, dp in zip(t.parameters(), d.parameters()):
        np.testing.assert_allclose(dp.grad.numpy(), tp.grad.numpy(), atol=1e-4, rtol=1e-4)


def test_checkpoint_repeats_dropout_masks_so_gradients_equal_the_plain_model():
    _, d = _pair_mlp(dropout=0.5)
    x = dlbasic.tensor(np.random.default_rng(2).standard_normal((6, 4)).astype(np.float32))
    dlbasic.manual_seed(7)
    plain = d(x)
    (plain ** 2).sum().backward()
    want = [p.grad.numpy().copy() for p in d.parameters()]
    d.zero_grad()
    dlbasic.manual_seed(7)
    out = d_ckpt.checkpoint(d, x, use_reentrant=False)
    np.testing.assert_array_equal(out.detach().numpy(), plain.detach().numpy())
    (out ** 2).sum().backward()
    for w, p in zip(want, d.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), w, rtol=1e-6, atol=1e-7)


def test_checkpoint_without_use_reentrant_warns_like_torch():
    _, d = _pair_mlp()
    x = dlbasic.ones(2, 4, requires_grad=True)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed"):
        d_ckpt.checkpoint(d, x)


def test_reentrant_checkpoint_refuses_keyword_arguments_like_torch():
    assert_same_error(
        lambda: t_ckpt.checkpoint(lambda a, b=1: a * b, torch.ones(2, requires_grad=True),
                                  b=2, use_reentrant=True),
        lambda: d_ckpt.checkpoint(lambda a, b=1: a * b, dlbasic.ones(2, requires_grad=True),
                                  b=2, use_reentrant=True))


def test_non_reentrant_checkpoint_trains_parameters_when_the_input_needs_no_gradient():
    t, d = _pair_mlp()
    x = np.ones((3, 4), np.float32)
    to = t_ckpt.checkpoint(t, torch.tensor(x), use_reentrant=False)
    do = d_ckpt.checkpoint(d, dlbasic.tensor(x), use_reentrant=False)
    to.sum().backward()
    do.sum().backward()
    for tp, dp in zip(t.parameters(), d.parameters()):
        np.testing.assert_allclose(dp.grad.numpy(), tp.grad.numpy(), atol=1e-4, rtol=1e-4)


def test_checkpoint_sequential_matches_torch():
    t, d = _pair_mlp()
    x = np.random.default_rng(3).standard_normal((4, 4)).astype(np.float32)
    tx, dx = torch.tensor(x, requires_grad=True), dlbasic.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        to = t_ckpt.checkpoint_sequential(t, 2, tx, use_reentrant=False)
        do = d_ckpt.checkpoint_sequential(d, 2, dx, use_reentrant=False)
    np.testing.assert_allclose(do.detach().numpy(), to.detach().numpy(), atol=1e-5)
    to.sum().backward()
    do.sum().backward()
    np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), atol=1e-4, rtol=1e-4)


def test_an_input_changed_in_place_after_a_checkpoint_raises_in_backward():
    _, d = _pair_mlp()
    x = dlbasic.ones(2, 4, requires_grad=True)
    h = x * 1.0
    out = d_ckpt.checkpoint(d, h, use_reentrant=False)
    h.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


# -- integer division by zero --------------------------------------------------------------

def test_integer_division_by_zero_raises_like_torch_except_for_an_empty_result():
    assert_same_error(lambda: torch.tensor([4, 2]) // torch.tensor([2, 0]),
                      lambda: dlbasic.tensor([4, 2]) // dlbasic.tensor([2, 0]))
    t = torch.tensor([], dtype=torch.int64) // torch.tensor(0)
    d = dlbasic.tensor([], dtype=dlbasic.int64) // dlbasic.tensor(0)
    assert tuple(d.shape) == tuple(t.shape) == (0,) and d.dtype == dlbasic.int64
