"""The backward engine: reverse topological order, without recursion.

1. Count, for every node reachable from the roots, how many edges point at it.
2. Start from the roots; a node runs once all the gradients flowing into it have been summed
   (``+=`` is why fan-out, such as the residual ``F(x) + x``, works).  A leaf used several
   times (a weight shared by two layers, ``x * x``) is summed the same way and accumulated
   into ``.grad`` once, so its hooks see the whole gradient, as PyTorch's AccumulateGrad does.
3. Each node turns the upstream gradient of its output into one gradient per input (local
   gradient x upstream gradient).  A gradient whose shape is the *broadcast* shape is summed
   back to the input's shape here, in one place, so no op has to do it itself.

In anomaly mode (anomaly_mode.py) a node that fails makes the engine warn with the traceback of
the forward call that recorded it, and a node returning NaN makes backward raise.

``queue_callback(fn)`` (PyTorch's ``Variable._execution_engine.queue_callback``) runs ``fn``
once the current ``backward`` has finished: DistributedDataParallel uses it to wait for its
last gradient reductions.
"""
import threading

import numpy as np

from .._tensor_base import TensorBase, size_str
from .function import AccumulateGrad, Node, Op, _FREED_MSG
from . import graph_engine as _graph_engine
from ._walk import dependencies, add_to_buffer, capture_node_grads, pre_node
from .grad_mode import no_grad
from .anomaly_mode import _anomaly, _warn_failed_node, _nan_error

__all__ = ["backward", "grad", "sum_to_shape", "queue_callback"]

_local = threading.local()     # .callbacks: the running backward's final callbacks, or None


def sum_to_shape(g, shape):
    """Reduce a broadcast gradient back to ``shape`` (sum over the broadcast axes)."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape)
                                      if s == 1 and g.shape[i + lead] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if lead:
        g = g.reshape(shape)
    return g


def _cast_grad(g, dt):
    """``g`` in the input's dtype.  A complex gradient reaching a real input keeps its real
    part: the imaginary part is the derivative along an imaginary direction the real input
    cannot move in (torch's rule)."""
    if g.dtype.kind == "c" and dt.kind != "c":
        g = g.real
    return g.astype(dt)


def _wrap(g):
    return TensorBase._make(g)


def _run_hooks(hooks, g):
    for fn in hooks:
        r = fn(_wrap(g))
        if r is not None:
            g = r._data
    return g


def _accumulate_leaf(t, g, captured, handed=None):
    """Accumulate ``g`` into ``t.grad``.  ``handed`` (ids of arrays already given away in this
    backward) is passed only for a gradient a primitive ``Op`` has just computed."""
    if t._hooks:
        g = _run_hooks(t._hooks, g)
        handed = None                         # a hook may return an array it keeps
    if captured is not None:
        key = id(t)
        if key in captured:
            captured[key] = g if captured[key] is None else captured[key] + g
        return
    if t.grad is None:
        if handed is not None and g.base is None and id(g) not in handed and \
                g.dtype == t._data.dtype:
            # a fresh array that owns its memory and went nowhere else: keep it, no copy
            handed.add(id(g))
            t.grad = _wrap(g)
        else:
            # a copy: the same gradient array may also flow to another leaf
            t.grad = _wrap(np.array(g, dtype=t._data.dtype, copy=True))
    else:
        t.grad._data = t.grad._data + g
    if t._post_acc_hooks:
        for fn in tuple(t._post_acc_hooks):
            fn(t)


def queue_callback(fn):
    """Run ``fn()`` when the backward pass now running has finished (before it returns)."""
    callbacks = getattr(_local, "callbacks", None)
    if callbacks is None:
        raise RuntimeError("Final callbacks can only be installed during backward pass.")
    callbacks.append(fn)


def _execute(roots, retain_graph, captured=None, captured_nodes=None):
    """Run backward from ``roots``: a list of (target, output_nr, gradient array)."""
    # 1. dependencies: how many edges point at each node reachable from the roots
    deps, leaf_uses = dependencies(roots)

    # 2. gradients flow from the roots; a node runs once all its inputs have arrived
    buffers = {}
    for target, nr, g in roots:
        if isinstance(target, Node):
            add_to_buffer(buffers, target, nr, g)
        else:
            _accumulate_leaf(target, g, captured)
    ready = [n for n, c in deps.items() if c == 0]
    # arrays a leaf may not keep without a copy: the caller's root gradients, and every array
    # already stored as some leaf's .grad (Add's backward returns the same g twice); with
    # retain_graph every leaf copies, as saved arrays live on
    handed = None if retain_graph else {id(g) for _, _, g in roots}
    leaf_sums = {}                      # id(leaf) -> (gradient so far, whether we summed it)

    check_nan = _anomaly.enabled and _anomaly.check_nan
    node = None                 # the node running: anomaly mode names it if backward fails
    try:
        with no_grad():
            while ready:
                node = ready.pop()
                grads = buffers.pop(node, None) or [None] * node._n_out
                if node._hooks or node._retain:
                    grads = pre_node(node, grads, _run_hooks, _retain)
                    if handed is not None:   # a hook may return an array the user keeps
                        handed.update(id(g) for g in grads if g is not None)
                if captured_nodes is not None:
                    capture_node_grads(node, grads, captured_nodes)
                in_grads = node._run_backward(grads)
                if check_nan:
                    in_grads = _checked_for_nan(node, in_grads)
                if not retain_graph:
                    node._release()
                for e, g, meta in zip(node._edges, in_grads, node._in_meta):
                    if e is None:
                        continue
                    child, nr = e
                    if g is not None:
                        # local gradient x upstream gradient arrives here; undo broadcasting
                        if g.shape != meta[0]:
                            g = sum_to_shape(g, meta[0])
                        if g.dtype != meta[1]:
                            g = _cast_grad(g, meta[1])
                    n = deps.get(child)
                    if n is None:                         # a leaf tensor
                        # a primitive's gradients are fresh arrays it made; a user
                        # Function's may be tensors the user keeps
                        fresh = isinstance(node, Op)
                        key = id(child)
                        left = leaf_uses[key] - 1
                        if left or key in leaf_sums:      # used more than once: sum first
                            prev = leaf_sums.get(key)
                            if g is not None:
                                leaf_sums[key] = (g, False) if prev is None or prev[0] is None \
                                    else (prev[0] + g, True)
                            elif prev is None:
                                leaf_sums[key] = (None, False)
                            if left:
                                leaf_uses[key] = left
                                continue
                            g, fresh = leaf_sums.pop(key)
                        if g is not None:
                            try:
                                _accumulate_leaf(child, g, captured,
                                                 handed if fresh else None)
                            except Exception:
                                # a leaf's hook failed: torch blames the leaf's AccumulateGrad
                                # node, whose forward traceback is that of the op using the leaf
                                if _anomaly.enabled:
                                    _warn_failed_node(AccumulateGrad(child).name(),
                                                      node._anomaly_stack)
                                node = None
                                raise
                        continue
                    if g is not None:
                        add_to_buffer(buffers, child, nr, g)
                    if n == 1:
                        ready.append(child)
                    deps[child] = n - 1
    except Exception:
        if node is not None and _anomaly.enabled:
            _warn_failed_node(node.name(), node._anomaly_stack)
        raise


def _checked_for_nan(node, in_grads):
    """Anomaly mode's check: ``in_grads`` reduced to the inputs' shapes (as torch checks them,
    after undoing broadcasting), raising if one holds NaN."""
    out = list(in_grads)
    for i, (e, g) in enumerate(zip(node._edges, in_grads)):
        if e is None or g is None:
            continue                    # no gradient flows there, as torch leaves it undefined
        shape = node._in_meta[i][0]
        if g.shape != shape:
            out[i] = g = sum_to_shape(g, shape)
        if np.isnan(g).any():
            raise _nan_error(node.name(), i)
    return out


def _retain(t, g):
    """A non-leaf that called retain_grad() keeps (a copy of) the gradient array ``g``."""
    if t.grad is None:
        t.grad = _wrap(g.copy())
    else:
        t.grad._data = t.grad._data + g


def _make_roots(tensors, grad_tensors):
    roots = []
    for i, (t, g) in enumerate(zip(tensors, grad_tensors)):
        if not t.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not "
                               "have a grad_fn")
        if g is None:
            if t.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if t._data.dtype.kind == "c":
                raise RuntimeError("grad can be implicitly created only for real scalar outputs"
                                   f" but got {t.dtype!r}")
            g = np.ones(t.shape, dtype=t._data.dtype)
        else:
            g = g._data if isinstance(g, TensorBase) else np.asarray(g, dtype=t._data.dtype)
            if g.shape != t.shape:
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                                   f"{size_str(g.shape)} and output[{i}] has a shape of "
                                   f"{size_str(t.shape)}.")
        if t.grad_fn is not None:
            roots.append((t.grad_fn, t._output_nr, g))
        else:
            roots.append((t, 0, g))
    return roots


def _as_tuple(x):
    if x is None:
        return ()
    if isinstance(x, (list, tuple)):
        return tuple(x)
    return (x,)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's ``.grad`` (torch.autograd.backward).
    ``create_graph=True`` records the backward pass itself (graph_engine.py)."""
    tensors = _as_tuple(tensors)
    grad_tensors = _as_tuple(grad_tensors) or (None,) * len(tensors)
    if len(grad_tensors) != len(tensors):
        raise RuntimeError(f"got {len(grad_tensors)} tensors and {len(tensors)} gradients")
    roots = _make_roots(tensors, grad_tensors)
    if create_graph:
        _graph_engine.backward(roots, grad_tensors, retain_graph,
                               None if inputs is None else _as_tuple(inputs))
        return
    if inputs is not None:
        inputs = _as_tuple(inputs)
        res = grad(tensors, inputs, grad_tensors, retain_graph=retain_graph, allow_unused=True)
        for t, g in zip(inputs, res):
            if g is not None:
                if t.grad is None:
                    t.grad = g
                else:
                    t.grad._data = t.grad._data + g._data
        return
    outer = getattr(_local, "callbacks", None) is None
    if outer:
        _local.callbacks = []
    try:
        _execute(roots, bool(retain_graph))
        callbacks = _local.callbacks
        while callbacks:
            callbacks.pop(0)()
    finally:
        if outer:
            _local.callbacks = None


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Return d(outputs)/d(inputs) without touching any ``.grad`` (torch.autograd.grad).
    ``create_graph=True`` returns gradients that are graph Tensors (graph_engine.py)."""
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    grad_outputs = _as_tuple(grad_outputs) or (None,) * len(outputs)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    roots = _make_roots(outputs, grad_outputs)
    if create_graph:
        return _graph_engine.grad(roots, grad_outputs, inputs, retain_graph, allow_unused,
                                  materialize_grads)
    captured = {}
    captured_nodes = {}
    for t in inputs:
        if t.grad_fn is None:
            captured[id(t)] = None
        else:
            captured_nodes[(id(t.grad_fn), t._output_nr)] = None
    _execute(roots, bool(retain_graph), captured, captured_nodes)
    result = []
    for t in inputs:
        g = captured[id(t)] if t.grad_fn is None else captured_nodes[(id(t.grad_fn), t._output_nr)]
        if g is None:
            if materialize_grads:
                g = np.zeros(t.shape, t._data.dtype)
            elif not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been "
                                   "used in the graph. Set allow_unused=True if this is the "
                                   "desired behavior.")
        result.append(None if g is None else _wrap(np.array(g, copy=True)))
    return tuple(result)
