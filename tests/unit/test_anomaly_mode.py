"""Anomaly mode (dlbasic.autograd.detect_anomaly / set_detect_anomaly): the NaN check, the
forward traceback of a failing node, the warnings, and the mode's state.

The expected messages were checked against torch 2.13; the last test re-checks the NaN cases
against torch where it is installed."""
import inspect
import os
import threading
import warnings

import numpy as np
import pytest

import dlbasic
from dlbasic import autograd
from dlbasic.autograd import Function

ENABLED_MSG = ("Anomaly Detection has been enabled. This mode will increase the runtime and "
               "should only be enabled for debugging.")
PACKAGE_DIR = os.path.dirname(dlbasic.__file__) + os.sep


@pytest.fixture(autouse=True)
def _anomaly_off_after_each_test():
    yield
    autograd.set_anomaly_enabled(False, True)


def _line_of(fn, text):
    """(file, line number) of the source line of ``fn`` that contains ``text``."""
    lines, start = inspect.getsourcelines(fn)
    for i, line in enumerate(lines):
        if text in line:
            return inspect.getsourcefile(fn), start + i
    raise AssertionError(text)


def _run_recording(fn):
    """Run ``fn``; return (exception raised or None, messages of the UserWarnings given)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error = None
        try:
            fn()
        except Exception as e:     # noqa: BLE001 - the test inspects it
            error = e
    return error, [str(w.message) for w in caught if w.category is UserWarning]


def _warns_failed(name):
    return pytest.warns(UserWarning, match=f"^Error detected in {name}. Traceback of forward call")


def _enabled(check_nan=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return autograd.detect_anomaly(check_nan=check_nan)


# -- the mode's state ------------------------------------------------------------------------

def test_mode_is_off_by_default_with_check_nan_on():
    assert autograd.is_anomaly_enabled() is False
    assert autograd.is_anomaly_check_nan_enabled() is True


def test_detect_anomaly_warns_with_torch_message_when_created():
    with pytest.warns(UserWarning, match="^" + ENABLED_MSG.replace(".", r"\.") + "$") as rec:
        mode = autograd.detect_anomaly()
    assert rec[0].filename == __file__            # the warning points at the user's line
    assert not autograd.is_anomaly_enabled()      # created, not yet entered
    with mode:
        assert autograd.is_anomaly_enabled()
        assert autograd.is_anomaly_check_nan_enabled()


def test_detect_anomaly_restores_the_previous_state_on_exit():
    autograd.set_detect_anomaly(True, check_nan=False)
    with _enabled(check_nan=True):
        assert autograd.is_anomaly_enabled() and autograd.is_anomaly_check_nan_enabled()
    assert autograd.is_anomaly_enabled() and not autograd.is_anomaly_check_nan_enabled()
    autograd.set_detect_anomaly(False)
    with _enabled(check_nan=False):
        assert autograd.is_anomaly_enabled() and not autograd.is_anomaly_check_nan_enabled()
    assert not autograd.is_anomaly_enabled() and autograd.is_anomaly_check_nan_enabled()


def test_detect_anomaly_restores_the_state_when_the_block_raises():
    with pytest.raises(KeyError):
        with _enabled():
            raise KeyError("x")
    assert not autograd.is_anomaly_enabled()


def test_detect_anomaly_as_decorator_enables_the_mode_only_during_each_call():
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        @autograd.detect_anomaly(check_nan=False)
        def probe(value):
            return value, autograd.is_anomaly_enabled(), autograd.is_anomaly_check_nan_enabled()

    assert probe.__name__ == "probe"
    assert not autograd.is_anomaly_enabled()
    assert probe(3) == (3, True, False)
    assert not autograd.is_anomaly_enabled() and autograd.is_anomaly_check_nan_enabled()
    autograd.set_detect_anomaly(True)             # the state at call time is what comes back
    assert probe(4) == (4, True, False)
    assert autograd.is_anomaly_enabled() and autograd.is_anomaly_check_nan_enabled()


def test_set_detect_anomaly_sets_now_and_restores_as_a_context_manager():
    autograd.set_detect_anomaly(True, check_nan=False)   # function form: takes effect at once
    assert autograd.is_anomaly_enabled() and not autograd.is_anomaly_check_nan_enabled()
    with autograd.set_detect_anomaly(False):
        assert not autograd.is_anomaly_enabled() and autograd.is_anomaly_check_nan_enabled()
    assert autograd.is_anomaly_enabled() and not autograd.is_anomaly_check_nan_enabled()


def test_set_detect_anomaly_gives_no_warning():
    error, messages = _run_recording(lambda: autograd.set_detect_anomaly(True))
    assert error is None and messages == []


def test_set_detect_anomaly_as_decorator_sets_the_mode_around_each_call():
    @autograd.set_detect_anomaly(True, check_nan=False)
    def probe():
        return autograd.is_anomaly_enabled(), autograd.is_anomaly_check_nan_enabled()

    assert not autograd.is_anomaly_enabled()      # decorating changes nothing
    assert probe() == (True, False)
    assert not autograd.is_anomaly_enabled() and autograd.is_anomaly_check_nan_enabled()


def test_anomaly_mode_is_global_not_per_thread():
    seen = []
    with _enabled():
        t = threading.Thread(target=lambda: seen.append(autograd.is_anomaly_enabled()))
        t.start()
        t.join()
    assert seen == [True]


@pytest.mark.parametrize("args, msg", [
    ((1,), "set_anomaly_enabled(): argument 'enabled' (position 1) must be bool, not int"),
    ((None,), "set_anomaly_enabled(): argument 'enabled' (position 1) must be bool, not "
              "NoneType"),
    ((True, "x"), "set_anomaly_enabled(): argument 'check_nan' (position 2) must be bool, not "
                  "str"),
])
def test_set_detect_anomaly_rejects_non_bool_flags_with_torch_message(args, msg):
    with pytest.raises(TypeError) as e:
        autograd.set_detect_anomaly(*args)
    assert str(e.value) == msg
    assert not autograd.is_anomaly_enabled()


# -- the NaN check ---------------------------------------------------------------------------

def _sqrt_at_zero_times_zero():
    x = dlbasic.tensor([0.0], requires_grad=True)
    (x.sqrt() * 0).sum().backward()            # d sqrt/dx at 0 is inf; inf * 0 = nan
    return x


def test_nan_check_names_the_node_that_returned_nan():
    with _enabled():
        error, messages = _run_recording(_sqrt_at_zero_times_zero)
    assert isinstance(error, RuntimeError)
    assert str(error) == "Function 'SqrtBackward0' returned nan values in its 0th output."
    assert messages[0].startswith("Error detected in SqrtBackward0. Traceback of forward call "
                                  "that caused the error:\n")


def test_nan_check_index_is_the_forward_input_position():
    inf = dlbasic.tensor([float("inf")])
    w = dlbasic.tensor([1.0], requires_grad=True)
    with _enabled(), np.errstate(invalid="ignore"), _warns_failed("MulBackward0"):
        with pytest.raises(RuntimeError) as e:
            (inf * w * 0).sum().backward()     # d/dw (inf * w) = inf, times 0: nan for input 1
    assert str(e.value) == "Function 'MulBackward0' returned nan values in its 1th output."
    assert w.grad is None


def test_nan_check_looks_at_the_gradient_after_broadcast_reduction():
    a = dlbasic.tensor([1.0], requires_grad=True)
    with _enabled(), np.errstate(invalid="ignore"), _warns_failed("ExpandBackward0"):
        b = a.expand(2) * dlbasic.tensor([1.0, 1.0])
        with pytest.raises(RuntimeError) as e:
            b.backward(dlbasic.tensor([float("inf"), -float("inf")]))   # inf + -inf = nan
    assert str(e.value) == "Function 'ExpandBackward0' returned nan values in its 0th output."


def test_nan_check_covers_multi_output_ops():
    x = dlbasic.tensor([1.0, 2.0], requires_grad=True)
    with _enabled(), _warns_failed("SplitBackward0"):
        parts = x.split(1)
        with pytest.raises(RuntimeError) as e:
            parts[1].backward(dlbasic.tensor([float("nan")]))
    assert str(e.value) == "Function 'SplitBackward0' returned nan values in its 0th output."


class _NanGrad(Function):
    @staticmethod
    def forward(ctx, x, y):
        return x * y

    @staticmethod
    def backward(ctx, g):
        return g, g * float("nan")


def test_nan_check_covers_user_defined_functions():
    x = dlbasic.tensor([1.0], requires_grad=True)
    y = dlbasic.tensor([2.0], requires_grad=True)
    with _enabled(), _warns_failed("_NanGradBackward"):
        with pytest.raises(RuntimeError) as e:
            _NanGrad.apply(x, y).sum().backward()
    assert str(e.value) == "Function '_NanGradBackward' returned nan values in its 1th output."


def test_nan_check_ignores_gradients_of_inputs_that_need_none():
    x = dlbasic.tensor([1.0])                  # no gradient flows to x: its nan is not looked at
    y = dlbasic.tensor([2.0], requires_grad=True)
    with _enabled():
        _NanGrad.apply(y, x).sum().backward()
    assert y.grad.tolist() == [1.0]


def test_nan_check_applies_to_autograd_grad():
    x = dlbasic.tensor([0.0], requires_grad=True)
    with _enabled(), np.errstate(invalid="ignore", divide="ignore"), \
            _warns_failed("SqrtBackward0"):
        y = (x.sqrt() * 0).sum()
        with pytest.raises(RuntimeError, match="Function 'SqrtBackward0' returned nan values"):
            autograd.grad(y, x)


def test_check_nan_false_lets_nan_through_silently():
    with _enabled(check_nan=False), np.errstate(invalid="ignore", divide="ignore"):
        error, messages = _run_recording(_sqrt_at_zero_times_zero)
    assert error is None and messages == []


def test_nan_check_is_read_when_backward_runs():
    x = dlbasic.tensor([0.0], requires_grad=True)
    with _enabled(), np.errstate(invalid="ignore", divide="ignore"):
        y = (x.sqrt() * 0).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        y.backward()                           # mode off by now: no check
    assert np.isnan(x.grad.item())


# -- the forward traceback of a failing node -------------------------------------------------

def _modified_in_place():
    x = dlbasic.tensor([1.0], requires_grad=True)
    z = x * 1
    y = z.sin()                                # the op whose backward fails
    z.add_(1)
    y.sum().backward()


def test_failing_backward_warns_with_the_user_line_that_created_the_node():
    with _enabled():
        error, messages = _run_recording(_modified_in_place)
    assert isinstance(error, RuntimeError)
    assert str(error).endswith("Hint: the backtrace further above shows the operation that "
                               "failed to compute its gradient. The variable in question was "
                               "changed in there or anywhere later. Good luck!")
    (msg,) = messages
    path, line = _line_of(_modified_in_place, "y = z.sin()")
    assert msg.startswith("Error detected in SinBackward0. Traceback of forward call that "
                          "caused the error:\n")
    # the traceback ends at the user's line, with its source, as torch's does
    assert msg.endswith(f'  File "{path}", line {line}, in _modified_in_place\n'
                        "    y = z.sin()                                # the op whose "
                        "backward fails\n")
    assert PACKAGE_DIR not in msg


def test_version_error_hint_without_anomaly_mode_points_to_it():
    with pytest.raises(RuntimeError) as e:
        _modified_in_place()
    assert str(e.value).endswith("Hint: enable anomaly detection to find the operation that "
                                 "failed to compute its gradient, with "
                                 "dlbasic.autograd.set_detect_anomaly(True, check_nan=False).")


class _Boom(Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        raise ValueError("Some error in backward")


def _boom_helper(a):
    out = _Boom.apply(a)
    return out.sum()


def test_user_function_error_keeps_its_type_and_warns_with_the_whole_forward_stack():
    def run():
        a = dlbasic.rand(3, requires_grad=True)
        out = _boom_helper(a)
        out.backward()

    with _enabled():
        error, messages = _run_recording(run)
    assert type(error) is ValueError and str(error) == "Some error in backward"
    (msg,) = messages
    assert msg.startswith("Error detected in _BoomBackward. Traceback of forward call")
    path, outer = _line_of(run, "out = _boom_helper(a)")
    _, inner = _line_of(_boom_helper, "out = _Boom.apply(a)")
    assert f'File "{path}", line {outer}, in run\n' in msg
    assert msg.endswith(f'File "{path}", line {inner}, in _boom_helper\n'
                        "    out = _Boom.apply(a)\n")


def test_traceback_goes_through_module_calls_to_the_users_forward():
    class Model(dlbasic.nn.Module):
        def forward(self, x):
            h = x * 1
            return h.sin(), h

    def run():
        x = dlbasic.tensor([1.0], requires_grad=True)
        y, h = Model()(x)
        h.add_(1)
        y.sum().backward()

    with _enabled():
        error, messages = _run_recording(run)
    assert isinstance(error, RuntimeError)
    path, forward_line = _line_of(Model.forward, "return h.sin(), h")
    _, call_line = _line_of(run, "y, h = Model()(x)")
    (msg,) = messages
    assert f'line {call_line}, in run\n' in msg
    assert msg.endswith(f'File "{path}", line {forward_line}, in forward\n'
                        "    return h.sin(), h\n")


def test_forward_outside_the_mode_gives_no_forward_information():
    x = dlbasic.tensor([0.0], requires_grad=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = (x.sqrt() * 0).sum()
        with autograd.set_detect_anomaly(True):
            error, messages = _run_recording(y.backward)
    assert str(error) == "Function 'SqrtBackward0' returned nan values in its 0th output."
    assert messages == ["Error detected in SqrtBackward0. No forward pass information "
                        "available. Enable detect anomaly during forward pass for more "
                        "information."]


def test_error_in_a_leaf_hook_blames_accumulate_grad():
    def run():
        x = dlbasic.tensor([1.0], requires_grad=True)
        x.register_hook(lambda g: 1 / 0)
        y = (x * 2).sum()
        y.backward()

    with _enabled():
        error, messages = _run_recording(run)
    assert type(error) is ZeroDivisionError
    (msg,) = messages
    _, line = _line_of(run, "y = (x * 2).sum()")
    assert msg.startswith("Error detected in torch::autograd::AccumulateGrad. Traceback of "
                          "forward call that caused the error:\n")
    assert f"line {line}, in run\n" in msg


def test_error_in_a_non_leaf_hook_blames_the_node_it_feeds():
    def run():
        x = dlbasic.tensor([1.0], requires_grad=True)
        h = x.exp()
        h.register_hook(lambda g: 1 / 0)
        h.sum().backward()

    with _enabled():
        error, messages = _run_recording(run)
    assert type(error) is ZeroDivisionError
    (msg,) = messages
    assert msg.startswith("Error detected in ExpBackward0.")


def test_the_warning_points_at_the_users_backward_call():
    with _enabled():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(RuntimeError):
                _modified_in_place()
    (w,) = [w for w in caught if w.category is UserWarning]
    assert (w.filename, w.lineno) == _line_of(_modified_in_place, "y.sum().backward()")


# -- nothing changes while the mode is off ---------------------------------------------------

def test_mode_off_records_no_traceback_and_warns_nothing():
    x = dlbasic.tensor([1.0, 2.0], requires_grad=True)
    y = x.sin()
    parts = y.split(1)
    z = _Boom.apply(parts[0])
    for node in (y.grad_fn, parts[0].grad_fn, z.grad_fn):
        assert node._anomaly_stack is None
    error, messages = _run_recording(lambda: z.sum().backward())
    assert type(error) is ValueError and messages == []
    with np.errstate(invalid="ignore", divide="ignore"):
        error, messages = _run_recording(_sqrt_at_zero_times_zero)
    assert error is None and messages == []


def test_gradients_in_the_mode_equal_those_without_it():
    def grads():
        dlbasic.manual_seed(0)
        w = dlbasic.randn(3, 4, requires_grad=True)
        b = dlbasic.randn(4, requires_grad=True)
        x = dlbasic.randn(5, 3)
        ((x @ w + b).relu() ** 2).mean().backward()
        return w.grad.numpy(), b.grad.numpy()

    plain = grads()
    with _enabled():
        checked = grads()
    for p, c in zip(plain, checked):
        np.testing.assert_array_equal(p, c)


def test_exports():
    from dlbasic.autograd import anomaly_mode
    assert autograd.detect_anomaly is anomaly_mode.detect_anomaly
    assert autograd.set_detect_anomaly is anomaly_mode.set_detect_anomaly
    assert {"detect_anomaly", "set_detect_anomaly"} <= set(autograd.__all__)
    for name in ("is_anomaly_enabled", "is_anomaly_check_nan_enabled", "set_anomaly_enabled"):
        assert callable(getattr(autograd, name))


# -- against torch ---------------------------------------------------------------------------

def _nan_cases(lib):
    """(forward-and-backward thunk) per case, written once for dlbasic and torch alike."""
    def sqrt_at_zero():
        x = lib.tensor([0.0], requires_grad=True)
        (x.sqrt() * 0).sum().backward()

    def mul_second_input():
        (lib.tensor([float("inf")]) * lib.tensor([1.0], requires_grad=True) * 0).sum().backward()

    def expand_reduction():
        a = lib.tensor([1.0], requires_grad=True)
        (a.expand(2) * lib.tensor([1.0, 1.0])).backward(
            lib.tensor([float("inf"), -float("inf")]))

    def log_at_zero():
        x = lib.tensor([0.0, 1.0], requires_grad=True)
        (x.log() * 0).sum().backward()

    def div_by_zero():
        x = lib.tensor([0.0], requires_grad=True)
        y = lib.tensor([0.0], requires_grad=True)
        (x / y).sum().backward()

    def chunk():
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        x.chunk(2)[1].backward(lib.tensor([float("nan")]))

    return [sqrt_at_zero, mul_second_input, expand_reduction, log_at_zero, div_by_zero, chunk]


@pytest.mark.parametrize("case", range(6))
def test_nan_messages_match_torch(case):
    torch = pytest.importorskip("torch")
    results = []
    for lib in (dlbasic, torch):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with lib.autograd.detect_anomaly(), np.errstate(all="ignore"):
                error, _ = _run_recording(_nan_cases(lib)[case])
        results.append((type(error), str(error)))
    assert results[0] == results[1]
    assert "returned nan values" in results[0][1]
