"""Graph nodes: the internal ``Op`` primitives and the public ``Function``.

A node is created by a forward call and is also its ``ctx``: it remembers what backward needs
(arrays saved on ``self``), which inputs need a gradient, and the edges to the nodes that made
those inputs.  Backward of one node is the notes' "local gradient x upstream gradient": it
receives the upstream gradient of its output and returns one gradient per input.
"""
import numpy as np

from .._dtype import TYPE_SHORT
from .._parallel import fork_gate
from .._tensor_base import TensorBase as _Tensor
from .grad_mode import _state, no_grad
from .anomaly_mode import _anomaly, _forward_stack

__all__ = ["Node", "Op", "Function", "FunctionCtx", "once_differentiable"]

_FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward.")


def _version_error(name, shape, dtype, saved, now):
    shape_txt = ", ".join(str(s) for s in shape)
    kind = f"dlbasic.{TYPE_SHORT[str(dtype)]}Tensor" if str(dtype) in TYPE_SHORT else str(dtype)
    if _anomaly.enabled:
        hint = ("the backtrace further above shows the operation that failed to compute its "
                "gradient. The variable in question was changed in there or anywhere later. "
                "Good luck!")
    else:
        hint = ("enable anomaly detection to find the operation that failed to compute its "
                "gradient, with dlbasic.autograd.set_detect_anomaly(True, check_nan=False).")
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{kind} [{shape_txt}]], which is an input or output of {name}, is at "
        f"version {now}; expected version {saved} instead. Hint: {hint}")


class Node:
    """A recorded backward step (PyTorch's ``grad_fn``)."""

    __slots__ = ("_edges", "_in_meta", "needs_input_grad", "_saved_versions", "_out_meta",
                 "__dict__", "__weakref__")
    # rarely changed: class-level defaults save four attribute writes per recorded op
    _hooks = None          # {output_nr: [hook, ...]} from Tensor.register_hook on an output
    _retain = None         # {output_nr: weakref(tensor)} from Tensor.retain_grad
    _freed = False         # saved arrays were released after a backward
    _n_out = 1             # number of outputs
    _anomaly_stack = None  # forward call's traceback, kept only in anomaly mode
    _saved_attrs = ()      # the attributes forward set for backward (freed after it)

    def name(self):
        return type(self).__name__ + "Backward0"

    def __repr__(self):
        return f"<{self.name()} object at {hex(id(self))}>"

    @property
    def next_functions(self):
        """((node_or_AccumulateGrad, output_nr), ...) as torch shows them."""
        out = []
        for e in self._edges:
            if e is None:
                out.append((None, 0))
            elif isinstance(e[0], Node):
                out.append(e)
            else:
                out.append((AccumulateGrad(e[0]), 0))
        return tuple(out)

    def register_hook(self, fn):
        """Not supported on nodes; tensors carry hooks (Tensor.register_hook)."""
        raise NotImplementedError("dlbasic supports hooks on tensors (Tensor.register_hook), "
                                  "not on grad_fn nodes")

    # -- used by the engine -------------------------------------------------------------
    def _check_versions(self):
        for box, version, arr in self._saved_versions:
            if box[0] != version:
                raise _version_error(self.name(), arr.shape, arr.dtype, version, box[0])

    def _release(self):
        """Free what forward saved for backward, the attributes named in ``_saved_attrs``
        (called after backward unless retain_graph); a backward through this node again
        then raises, as in torch."""
        d = self.__dict__
        for attr in self._saved_attrs:
            if d.pop(attr, None) is not None:
                self._freed = True
        self._saved_versions = ()


class AccumulateGrad:
    """What torch shows in ``next_functions`` for a leaf: the node that writes ``.grad``."""

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "torch::autograd::AccumulateGrad"

    def __repr__(self):
        return f"<AccumulateGrad object at {hex(id(self))}>"


# Callbacks ``fn(op_class, inputs, params, outputs)`` run after every primitive's forward while
# non-empty; the profiler uses this to count FLOPs per primitive op.  Empty in normal use.
_observers = []
_NO_GRAD = [(False,) * n for n in range(8)]
# ops register here while they compute, so that a fork waits for them (see _parallel._ForkGate)
_running = fork_gate.running


# an op in flight: _enter(None) ... _leave(), written inline in apply (a call costs more)
_enter, _leave = _running.append, _running.pop


def _notify(cls, inputs, params, outputs):
    for fn in list(_observers):
        fn(cls, inputs, params, outputs)


def _edge(t):
    fn = t.grad_fn
    return (fn, t._output_nr) if fn is not None else (t, 0)


class Op(Node):
    """A differentiable primitive: ``forward`` on NumPy arrays, ``backward`` returning arrays.

    What a primitive states about itself, as class attributes next to its gradient:
      ``_saved_attrs``: the attributes its forward sets for backward (arrays; the number of
        ``x * c``), freed after backward unless ``retain_graph``;
      ``_saves``: indexes of the inputs whose *buffers* backward reads (None means all), so an
        in-place change to one of them after the forward raises instead of corrupting the
        gradient; ``_saves_output``: backward reads the output buffer; ``_is_view``: the
        output shares memory (and the version counter) with input 0;
      ``_torch_name``: the grad_fn name torch prints, when it is not ``<Class>Backward0``;
      ``flops``: its cost for the profiler, a function of an ``ops._flops.OpCall`` returning
        the FLOP / MAC buckets (``ops/_flops.py``); None means the profiler lists the op as
        uncounted.
    """

    __slots__ = ()
    _saves = None
    _saves_output = False
    _is_view = False
    _torch_name = None
    flops = None

    def name(self):
        return self._torch_name or type(self).__name__ + "Backward0"

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the forward on the inputs' arrays; record the node when a gradient is needed."""
        node = cls.__new__(cls)
        # one and two inputs are nearly every call: spelled out, they skip the comprehensions
        n = len(inputs)
        if n == 1:
            x = inputs[0]
            arrays = (x._data,)
            needs = (x.requires_grad,)
        elif n == 2:
            x, y = inputs
            arrays = (x._data, y._data)
            needs = (x.requires_grad, y.requires_grad)
        else:
            arrays = [t._data for t in inputs]
            needs = tuple([t.requires_grad for t in inputs])
        if not (True in needs and _state.enabled):
            node.needs_input_grad = _NO_GRAD[n] if n < 8 else (False,) * n
            _enter(None)
            try:
                if fork_gate.closed:
                    fork_gate.wait_open()
                result = _Tensor._make(node.forward(*arrays, **params))
            finally:
                _leave()
        else:
            node.needs_input_grad = needs
            _enter(None)
            try:
                if fork_gate.closed:
                    fork_gate.wait_open()
                out = node.forward(*arrays, **params)
            finally:
                _leave()
            # edge to where each input came from: its grad_fn, or the leaf tensor itself
            if n == 1:                     # (the one input is the one that needs a gradient)
                fn = x.grad_fn
                node._edges = [(fn, x._output_nr) if fn is not None else (x, 0)]
                node._in_meta = [(arrays[0].shape, arrays[0].dtype)]
            elif n == 2:
                a0, a1 = arrays
                node._edges = [_edge(x) if needs[0] else None, _edge(y) if needs[1] else None]
                node._in_meta = [(a0.shape, a0.dtype), (a1.shape, a1.dtype)]
            else:
                edges = []
                meta = []
                for t, r, a in zip(inputs, needs, arrays):
                    if r:
                        fn = t.grad_fn
                        edges.append((fn, t._output_nr) if fn is not None else (t, 0))
                    else:
                        edges.append(None)
                    meta.append((a.shape, a.dtype))
                node._edges = edges
                node._in_meta = meta
            result = _Tensor._make(out, True, node)
            # (version box, version now, array) of every buffer backward will read
            saves = cls._saves
            if saves is None and n == 2:
                saved = [(x._vbox, x._vbox[0], arrays[0]), (y._vbox, y._vbox[0], arrays[1])]
            elif saves is None:
                saved = [(t._vbox, t._vbox[0], a) for t, a in zip(inputs, arrays)]
            elif saves:
                saved = [(inputs[i]._vbox, inputs[i]._vbox[0], arrays[i]) for i in saves]
            else:
                saved = ()
            if cls._saves_output:
                saved = [*saved, (result._vbox, 0, out)]
            node._saved_versions = saved
            if _anomaly.enabled:
                node._anomaly_stack = _forward_stack()
        if cls._is_view:
            b0 = inputs[0]
            result._vbox = b0._vbox
            result._base = b0 if b0._base is None else b0._base
        if _observers:
            _notify(cls, inputs, params, (result,))
        return result

    def _run_backward(self, grads):
        if self._freed:
            raise RuntimeError(_FREED_MSG)
        for box, version, arr in self._saved_versions:
            if box[0] != version:
                raise _version_error(self.name(), arr.shape, arr.dtype, version, box[0])
        g = grads[0]
        if g is None:
            return (None,) * len(self._edges)
        _enter(None)
        try:
            if fork_gate.closed:
                fork_gate.wait_open()
            res = self.backward(g)
        finally:
            _leave()
        return res if type(res) is tuple else (res,)

    def forward(self, *arrays, **params):      # pragma: no cover - every primitive overrides
        raise NotImplementedError

    def backward(self, grad):                  # pragma: no cover
        raise NotImplementedError


class MultiOutputOp(Op):
    """A primitive with several differentiable outputs (split, chunk, unbind)."""

    __slots__ = ()

    @classmethod
    def apply(cls, *inputs, **params):
        node = cls.__new__(cls)
        needs = tuple([t.requires_grad for t in inputs])
        record = _state.enabled and True in needs
        node.needs_input_grad = needs if record else (False,) * len(inputs)
        outs = node.forward(*[t._data for t in inputs], **params)
        if not record:
            results = tuple(_Tensor._make(o) for o in outs)
        else:
            node._edges = tuple([_edge(t) if r else None for t, r in zip(inputs, needs)])
            node._in_meta = tuple([(t._data.shape, t._data.dtype) for t in inputs])
            node._n_out = len(outs)
            node._out_meta = [(o.shape, o.dtype) for o in outs]
            node._saved_versions = ()
            if _anomaly.enabled:
                node._anomaly_stack = _forward_stack()
            results = tuple(_Tensor._make(o, True, node, i) for i, o in enumerate(outs))
        if cls._is_view:
            b0 = inputs[0]
            base = b0 if b0._base is None else b0._base
            for r in results:
                r._vbox = inputs[0]._vbox
                r._base = base
        if _observers:
            _notify(cls, inputs, params, results)
        return results

    def _run_backward(self, grads):
        if self._freed:
            raise RuntimeError(_FREED_MSG)
        if all(g is None for g in grads):
            return (None,) * len(self._edges)
        grads = [np.zeros(s, d) if g is None else g for g, (s, d) in zip(grads, self._out_meta)]
        res = self.backward(*grads)
        return res if type(res) is tuple else (res,)


# ---------------------------------------------------------------------------------------
# The public, PyTorch-compatible custom Function
# ---------------------------------------------------------------------------------------

class FunctionCtx(Node):
    """The ``ctx`` a user-defined Function sees, and the node it records."""

    __slots__ = ()

    def __init__(self, fn_cls):
        self._fn_cls = fn_cls
        self._saved = None
        self._dirty = ()
        self._non_diff = ()
        self._materialize = True
        self._hooks = self._retain = None
        self._freed = False
        self._saved_versions = ()

    def name(self):
        return self._fn_cls.__name__ + "Backward"

    def save_for_backward(self, *tensors):
        self._saved = tensors
        self._saved_versions = [(t._vbox, t._vbox[0], t._data)
                                for t in tensors if t is not None]

    @property
    def saved_tensors(self):
        if self._freed:
            raise RuntimeError(_FREED_MSG)
        self._check_versions()
        return tuple(self._saved or ())

    def mark_dirty(self, *tensors):
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors):
        self._non_diff = tuple(id(t) for t in tensors)

    def set_materialize_grads(self, value):
        self._materialize = bool(value)

    def _release(self):
        if self._saved is not None:
            self._saved = None
            self._freed = True
        self._saved_versions = ()

    def _run_backward(self, grads):
        if self._freed:
            raise RuntimeError(_FREED_MSG)
        if self._materialize:
            grads = [np.zeros(s, d) if g is None else g for g, (s, d) in zip(grads, self._out_meta)]
        gts = [None if g is None else _Tensor._make(g) for g in grads]
        with no_grad():
            res = self._fn_cls.backward(self, *gts)
        return tuple(None if r is None else r._data for r in _checked_grads(self, res))


class Function:
    """Base class for user-defined differentiable functions, as ``torch.autograd.Function``.

    Subclasses define ``forward(ctx, *args)`` (on Tensors, run without recording a graph) and
    ``backward(ctx, *grad_outputs)`` returning one gradient per forward argument.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward mode AD.")

    setup_context = None

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx(cls)
        needs = tuple(isinstance(a, _Tensor) and a.requires_grad for a in args)
        record = _state.enabled and True in needs
        ctx.needs_input_grad = needs
        with no_grad():
            if cls.setup_context is not None:
                outputs = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, outputs)
            else:
                outputs = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        if not record:
            return outputs
        if _anomaly.enabled:
            ctx._anomaly_stack = _forward_stack()
        ctx._edges = tuple(_edge(a) if r else None for a, r in zip(args, needs))
        ctx._in_meta = tuple((a._data.shape, a._data.dtype) if isinstance(a, _Tensor) else None
                             for a in args)
        ctx._n_out = len(outs)
        ctx._out_meta = [(o._data.shape, o._data.dtype) if isinstance(o, _Tensor) else ((), np.float32)
                         for o in outs]
        dirty = {id(t) for t in ctx._dirty}
        wrapped = []
        for i, o in enumerate(outs):
            if not isinstance(o, _Tensor):
                wrapped.append(o)
                continue
            differentiable = id(o) not in ctx._non_diff and o._data.dtype.kind in "fc"
            if id(o) in dirty:
                # an input modified in place: it takes this node as its new history
                if differentiable:
                    o.requires_grad = True
                    o.grad_fn, o._output_nr = ctx, i
                o._vbox[0] += 1
                wrapped.append(o)
            else:
                t = _Tensor._make(o._data, differentiable, ctx if differentiable else None, i)
                wrapped.append(t)
        return wrapped[0] if single else tuple(wrapped)


def once_differentiable(fn):
    """Accepted for compatibility: dlbasic's backward never builds a graph."""
    return fn


def _checked_grads(ctx, res):
    """A user Function's backward result ``res`` as one Tensor (or None) per input, with
    torch's errors for too few gradients or one that is not a Tensor; gradients for inputs
    that need none are dropped."""
    if not isinstance(res, tuple):
        res = (res,)
    n_in = len(ctx._edges)
    if len(res) < n_in:
        raise RuntimeError(f"function {ctx.name()} returned an incorrect number of "
                           f"gradients (expected {n_in}, got {len(res)})")
    out = []
    for i, r in enumerate(res[:n_in]):
        if r is None or ctx._edges[i] is None:
            out.append(None)
        elif isinstance(r, _Tensor):
            out.append(r)
        else:
            raise TypeError(f"function {ctx.name()} returned a gradient of type "
                            f"{type(r).__name__} for input {i}; expected a Tensor or None")
    return out
