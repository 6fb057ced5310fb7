"""Counting FLOPs and MACs at the level of primitive ops.

The notes (DL_basic.md, "FLOPs"): one output of a convolution costs ``kh*kw*cin`` multiplies
and ``kh*kw*cin - 1`` additions (``+1`` with a bias), so a convolution costs about
``2*kh*kw*cin*cout*Hout*Wout`` FLOPs -- FLOPs = 2 x MACs.  (FLOPs count work; FLOPS, per
second, measure a machine.)

How counting works: while a count runs, ``dlbasic.autograd.function._observers`` holds a
callback that every primitive ``Op`` calls after its forward with ``(op_class, inputs, params,
outputs)``; forward pre-hooks / hooks on every submodule keep a stack of the module path that is
running, and each primitive's cost is charged to the innermost module on that stack.  Functional
calls and ``@`` are therefore counted, a module that calls another is never counted twice.

Each op states its own cost: ``op_class.flops(call)`` (next to its gradient; the vocabulary and
the cost buckets are in ``dlbasic/ops/_flops.py``).  An op without a rule is reported by class
name ("uncounted ops") rather than silently costing zero.
"""
import threading
import time
import weakref

import numpy as np

from .._creation import tensor, from_numpy
from .._random import get_rng_state, set_rng_state
from .._tensor import Tensor
from ..autograd import function as _function
from ..autograd.grad_mode import set_grad_enabled
from ..nn import functional as _functional           # noqa: F401  (defines the padding ops)
from ..ops import _flops
from ..ops._flops import OpCall, conv_macs
from .report import Report

__all__ = ["count_flops", "OpCounter", "RULES", "ZERO_COST", "conv_macs"]


def _op_classes():
    out, todo = [], [_function.Op]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            out.append(sub)
    return out


# The rules of dlbasic's ops by class name, for reference: the profiler asks the op class
# (``flops``) and looks here only for an op that states none -- so a rule added here by name
# counts an op defined elsewhere.
RULES = {c.__name__: c.flops for c in _op_classes() if c.flops is not None}
# dlbasic's ops that only move or reinterpret data
ZERO_COST = frozenset(name for name, rule in RULES.items() if rule is _flops.no_cost)


def find_rule(cls):
    """The cost rule of an op class: the one it states (``flops``), else ``RULES[name]``."""
    rule = getattr(cls, "flops", None)
    return rule if rule is not None else RULES.get(cls.__name__)


# ---------------------------------------------------------------------------------------
# The counter: observer + module-path stack
# ---------------------------------------------------------------------------------------

_BUCKETS = ("macs", "matmul_flops", "elementwise", "transcendental", "backward",
            "backward_elementwise", "exact_matmul_flops", "exact_elementwise")


class _Entry:
    """Accumulated cost of the ops charged directly to one module path."""
    __slots__ = ("path", "module", "calls", "output_shape", "cost", "ops", "bytes",
                 "fwd_time", "bwd_time", "_t0")

    def __init__(self, path, module):
        self.path, self.module = path, module
        self.calls = 0
        self.output_shape = None
        self.cost = dict.fromkeys(_BUCKETS, 0)
        self.ops = {}
        self.bytes = 0
        self.fwd_time = 0.0
        self.bwd_time = 0.0
        self._t0 = []


def _shape_of(out):
    if hasattr(out, "_data"):
        return tuple(out._data.shape)
    if isinstance(out, (tuple, list)):
        return [_shape_of(o) for o in out]
    if isinstance(out, dict):
        return {k: _shape_of(v) for k, v in out.items()}
    return None


class OpCounter:
    """Context manager that charges every primitive op to the module path running it.

    Only the thread that entered the counter is counted: ops and module calls of other threads
    run as usual and are not charged.  ``time_backward=True`` additionally wraps each recorded
    graph node so the time its backward takes is charged to the same path.
    """

    def __init__(self, model, exact=False, time_forward=False, time_backward=False):
        self.model = model
        self.exact = exact
        self.time_forward = time_forward
        self.time_backward = time_backward
        self.entries = {}
        self.order = []
        self.stack = []
        self.uncounted = {}
        self._handles = []
        self._rg = {}          # id -> weakref of tensors that would require grad
        self._paths = {}
        self._thread = None    # the counting thread

    # -- module hooks --------------------------------------------------------------------
    def _entry(self, path, module):
        e = self.entries.get(path)
        if e is None:
            e = self.entries[path] = _Entry(path, module)
            self.order.append(path)
        return e

    def _pre(self, module, args):
        if threading.get_ident() != self._thread:
            return
        path = self._paths[id(module)]
        e = self._entry(path, module)
        self.stack.append(path)
        if self.time_forward:
            e._t0.append(time.perf_counter())

    def _post(self, module, args, output):
        if threading.get_ident() != self._thread:
            return
        path = self._paths[id(module)]
        e = self.entries[path]
        if self.time_forward and e._t0:
            e.fwd_time += time.perf_counter() - e._t0.pop()
        e.calls += 1
        e.output_shape = _shape_of(output)
        # pop up to and including this module (robust to a child that raised and was caught)
        while self.stack:
            if self.stack.pop() == path:
                break

    # -- op observer ----------------------------------------------------------------------
    def _would_require_grad(self, t):
        if t.requires_grad:
            return True
        ref = self._rg.get(id(t))
        return ref is not None and ref() is t

    def _observe(self, cls, inputs, params, outputs):
        if threading.get_ident() != self._thread:
            return
        path = self.stack[-1] if self.stack else ""
        e = self.entries.get(path)
        if e is None:
            e = self._entry(path, self.model if path == "" else None)
        needs = tuple(self._would_require_grad(t) for t in inputs)
        if True in needs:
            for o in outputs:
                if o._data.dtype.kind in "fc" and not o.requires_grad:
                    self._rg[id(o)] = weakref.ref(o)
        name = cls.__name__
        e.ops[name] = e.ops.get(name, 0) + 1
        rule = find_rule(cls)
        if rule is None:
            self.uncounted[name] = self.uncounted.get(name, 0) + 1
        else:
            call = OpCall(name, inputs, params, outputs, needs, self.exact)
            cost = rule(call)
            for k, v in cost.items():
                e.cost[k] += int(v)
        e.bytes += sum(t._data.nbytes for t in inputs) + sum(o._data.nbytes for o in outputs)
        if self.time_backward:
            for o in outputs:
                node = o.grad_fn
                if node is not None and "_run_backward" not in node.__dict__:
                    node._run_backward = self._timed(node, e)

    @staticmethod
    def _timed(node, entry):
        run = type(node)._run_backward

        def timed_run_backward(grads):
            t0 = time.perf_counter()
            try:
                return run(node, grads)
            finally:
                entry.bwd_time += time.perf_counter() - t0
        return timed_run_backward

    # -- context ----------------------------------------------------------------------------
    def __enter__(self):
        self._thread = threading.get_ident()
        self._paths = {}
        for name, m in self.model.named_modules():
            if id(m) in self._paths:
                continue
            self._paths[id(m)] = name
            self._handles.append(m.register_forward_pre_hook(self._pre))
            self._handles.append(m.register_forward_hook(self._post))
        _function._observers.append(self._observe)
        return self

    def __exit__(self, *exc):
        try:
            _function._observers.remove(self._observe)
        except ValueError:
            pass
        for h in self._handles:
            h.remove()
        self._handles = []
        self.stack = []
        self._rg = {}
        return False


# ---------------------------------------------------------------------------------------
# Shape-only tracing: in the counting thread, the heavy products return zeros of the right
# shape (each states its output shape; see ops/_flops.py)
# ---------------------------------------------------------------------------------------

_ShapeOnly = _flops.ShapeOnly


# ---------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------

def _random_input(shape):
    """A float32 standard-normal input from a private generator: counting never advances the
    global RNG."""
    rng = np.random.default_rng(0)
    return tensor(rng.standard_normal([int(s) for s in shape], dtype=np.float32))


def _make_inputs(inputs, dtype=None):
    """A shape (tuple of ints), a Tensor, an ndarray, or a list/tuple of those -> tuple of
    Tensors."""
    if isinstance(inputs, Tensor):
        return (inputs,)
    if isinstance(inputs, np.ndarray):
        return (from_numpy(inputs),)
    if isinstance(inputs, (tuple, list)) and inputs and all(
            isinstance(s, (int, np.integer)) for s in inputs):
        return (_random_input(inputs),)
    if isinstance(inputs, (tuple, list)) and hasattr(inputs, "__iter__"):
        out = []
        for item in inputs:
            out.extend(_make_inputs(item, dtype))
        return tuple(out)
    raise TypeError("inputs must be a shape (tuple of ints), a Tensor, or a list of those; "
                    f"got {type(inputs).__name__}")


class _PreserveState:
    """Restore buffers (BatchNorm running statistics) and the RNG after a counting run, so
    counting never changes the model."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.buffers = [(b, b._data.copy()) for b in self.model.buffers()]
        self.rng = get_rng_state()
        return self

    def __exit__(self, *exc):
        for b, data in self.buffers:
            b._data[...] = data
        set_rng_state(self.rng)
        return False


def run_counted(model, inputs, exact=False, grad=False, time_forward=False,
                time_backward=False, kwargs=None):
    """Run ``model(*inputs)`` under an OpCounter; return (counter, output)."""
    counter = OpCounter(model, exact=exact, time_forward=time_forward,
                        time_backward=time_backward)
    with counter:
        with set_grad_enabled(grad):
            out = model(*inputs, **(kwargs or {}))
    return counter, out


def count_flops(model, inputs, count="matmul", exact=False, backward=False, shape_only=False,
                kwargs=None):
    """Count the FLOPs and MACs of one forward pass of ``model`` on ``inputs``.

    ``inputs``: an input shape such as ``(1, 3, 224, 224)`` (a random float32 tensor is made),
    a Tensor, or a list of shapes / Tensors for several inputs.  ``count="matmul"`` counts only
    conv / linear / matmul (equal to ``torch.utils.flop_counter.FlopCounterMode``);
    ``count="all"`` adds the elementwise bucket.  ``exact=True`` uses the notes' per-output
    count ``2K - 1`` (+1 with bias) instead of 2 x MACs.  ``backward=True`` makes ``.flops``
    include the backward pass (a full training step); the report always carries both.

    The model runs once under ``no_grad``; its buffers (BatchNorm running statistics) and the
    random-number state are restored afterwards.  ``shape_only=True`` skips the arithmetic of
    conv / linear / matmul (they return zeros of the right shape): the same counts in a fraction
    of the time, for models whose control flow does not depend on values.
    Returns a :class:`~dlbasic.profiler.Report`.
    """
    _check_count(count)
    tensors = _make_inputs(inputs)
    with _PreserveState(model):
        if shape_only:
            with _ShapeOnly():
                counter, _ = run_counted(model, tensors, exact=exact, kwargs=kwargs)
        else:
            counter, _ = run_counted(model, tensors, exact=exact, kwargs=kwargs)
    return Report.from_counter(counter, model, tensors, count=count, exact=exact,
                               include_backward=backward)


def _check_count(count):
    if count not in ("matmul", "all"):
        raise ValueError(f"count must be 'matmul' or 'all', got {count!r}")
