"""Anomaly mode: detect_anomaly, set_detect_anomaly (torch.autograd.anomaly_mode).

While the mode is on:
  - every node recorded by a forward call keeps the Python stack of that call, so that when
    its backward fails the engine can warn with the user's line that created it;
  - with ``check_nan`` (the default), a node whose backward returns a gradient containing NaN
    makes backward raise ``RuntimeError``, naming the node and the index of the gradient.

The mode is one process-wide switch, as in torch (not per thread like grad mode).  When it is
off, recording an op costs one attribute check and backward costs nothing more.
"""
import functools
import os
import sys
import traceback
import warnings

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled", "set_anomaly_enabled"]


class _AnomalyState:
    """Global (not thread-local): torch's AnomalyMode is a process-wide flag.

    Slots set on the instance: every recorded op reads ``enabled``, and this is the cheapest
    attribute read (a class attribute read through an instance costs about three times more).
    """

    __slots__ = ("enabled", "check_nan")

    def __init__(self):
        self.enabled = False
        self.check_nan = True


_anomaly = _AnomalyState()

# dlbasic's op dispatch and engine: the layer torch runs in C++, so its frames never show in
# torch's tracebacks.  Python layers above it (nn.functional, nn.Module) show, as in torch.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_DISPATCH_FILES = tuple(_PACKAGE_DIR + p for p in (
    "autograd" + os.sep, "ops" + os.sep, "_tensor.py", "_tensor_base.py"))


def is_anomaly_enabled():
    """True while anomaly detection is on (torch.is_anomaly_enabled)."""
    return _anomaly.enabled


def is_anomaly_check_nan_enabled():
    """True when anomaly detection checks backward outputs for NaN
    (torch.is_anomaly_check_nan_enabled)."""
    return _anomaly.check_nan


def _type_name(value):
    cls = type(value)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"


def set_anomaly_enabled(enabled, check_nan=True):
    """Switch anomaly detection on or off (torch.set_anomaly_enabled); both flags are bools."""
    for position, (arg, value) in enumerate((("enabled", enabled), ("check_nan", check_nan)), 1):
        if type(value) is not bool:
            raise TypeError(f"set_anomaly_enabled(): argument '{arg}' (position {position}) "
                            f"must be bool, not {_type_name(value)}")
    _anomaly.enabled = enabled
    _anomaly.check_nan = check_nan


def _run_in_mode(fn, mode, check_nan):
    """``fn`` wrapped to run with anomaly detection set to ``mode``, restoring the state found
    at each call."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        prev = (_anomaly.enabled, _anomaly.check_nan)
        set_anomaly_enabled(mode, check_nan)
        try:
            return fn(*args, **kwargs)
        finally:
            set_anomaly_enabled(*prev)
    return wrapper


class detect_anomaly:
    """Context manager (and decorator) that turns anomaly detection on.

    - A forward run inside it lets a failing backward warn with the traceback of the forward
      call that created the failing node.
    - With ``check_nan=True``, a backward that produces NaN raises ``RuntimeError``.

    As in torch, the previous state is read when the object is made and the warning is given
    then; ``__exit__`` restores that state.  Enable it only for debugging: it slows every op.
    """

    def __init__(self, check_nan=True):
        self.prev = _anomaly.enabled
        self.check_nan = check_nan
        self.prev_check_nan = _anomaly.check_nan
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", UserWarning, stacklevel=2)

    def __enter__(self):
        set_anomaly_enabled(True, self.check_nan)

    def __exit__(self, *exc):
        set_anomaly_enabled(self.prev, self.prev_check_nan)
        return False

    def __call__(self, fn):
        # torch's detect_anomaly is not a decorator; dlbasic's is, as no_grad is in both
        return _run_in_mode(fn, True, self.check_nan)


class set_detect_anomaly:
    """Set anomaly detection on or off now (function form); restore it on exit (context form).

    Used as a decorator, it undoes the change made when it was created and sets ``mode``
    around each call instead, as ``set_grad_enabled`` does.
    """

    def __init__(self, mode, check_nan=True):
        self.prev = _anomaly.enabled
        self.prev_check_nan = _anomaly.check_nan
        set_anomaly_enabled(mode, check_nan)
        self.mode = mode
        self.check_nan = check_nan

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        set_anomaly_enabled(self.prev, self.prev_check_nan)
        return False

    def __call__(self, fn):
        set_anomaly_enabled(self.prev, self.prev_check_nan)
        return _run_in_mode(fn, self.mode, self.check_nan)


# -- used by function.py (forward) and engine.py (backward) ---------------------------------

def _outside_dispatch(frame):
    """The first frame, from ``frame`` outwards, that is not in dlbasic's dispatch layer (or
    ``frame`` itself if there is none), and how many frames were passed over to reach it."""
    f = frame
    skipped = 0
    while f is not None and f.f_code.co_filename.startswith(_DISPATCH_FILES):
        f = f.f_back
        skipped += 1
    return (frame, 0) if f is None else (f, skipped)


def _forward_stack():
    """The stack of the forward call now recording a node, outermost frame first.

    The innermost frames (``apply``, the op function, the tensor method) are left out, so the
    traceback ends at the line that called the op, as torch's does.  Source lines are looked
    up only if the traceback is ever shown.
    """
    frame, _ = _outside_dispatch(sys._getframe(1))
    stack = traceback.StackSummary.extract(traceback.walk_stack(frame), lookup_lines=False)
    stack.reverse()
    return stack


def _warn_failed_node(name, stack):
    """Warn, as torch does, with the forward traceback of the node whose backward failed."""
    if stack is None:
        msg = (f"Error detected in {name}. No forward pass information available. Enable detect "
               "anomaly during forward pass for more information.")
    else:
        msg = (f"Error detected in {name}. Traceback of forward call that caused the error:\n"
               + "".join(stack.format()))
    # point the warning at the line that called backward(), not into the engine
    _, skipped = _outside_dispatch(sys._getframe(1))
    warnings.warn(msg, UserWarning, stacklevel=2 + skipped)


def _nan_error(name, index):
    return RuntimeError(f"Function '{name}' returned nan values in its {index}th output.")
