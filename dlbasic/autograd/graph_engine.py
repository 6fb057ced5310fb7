"""Backward with ``create_graph=True``: a backward pass that is itself recorded.

The ordinary engine (engine.py) runs each node's NumPy ``backward`` under ``no_grad``.  For
higher-order gradients the gradients must be Tensors in a graph, so that
``grad(grad(f(x).sum(), x, create_graph=True)[0].sum(), x)`` can differentiate the first
backward pass again.  This module holds that second walk:

* the same iterative, dependency-counted order as engine.py (no recursion), with grad mode on;
* each primitive ``Op`` runs its *differentiable backward*: a rule registered here with
  ``@differentiable_backward(OpClass)`` (the rules live in ``ops/double_backward.py``) that
  computes the input gradients with dlbasic Tensor operations.  A rule sees the saved arrays
  as Tensors connected to the original graph (PyTorch's SavedVariable): ``saved_input`` gives
  the array an input edge carried, with that edge's producer as its ``grad_fn`` (or the leaf
  itself), and ``saved_output`` the op's own output, with the op as its ``grad_fn``;
* a user ``autograd.Function`` runs its ``backward`` with grad mode on, as in PyTorch, so a
  backward written with differentiable operations is differentiable again;
* an op with no rule raises ``RuntimeError: double backward through <Name> is not supported by
  dlbasic yet`` -- a second derivative is never silently wrong or detached.

The rules are looked up by the node's exact class, so a subclass with other semantics never
inherits its parent's rule by accident.  Nothing here runs when ``create_graph=False``: the
normal backward keeps its speed and memory (no op keeps its input tensors alive).
"""
import warnings

import numpy as np

from .._dtype import from_numpy_dtype
from .._tensor_base import TensorBase
from .function import (Node, MultiOutputOp, FunctionCtx, _FREED_MSG, _version_error,
                       _checked_grads)
from .grad_mode import enable_grad
from ._walk import dependencies, add_to_buffer, capture_node_grads, pre_node

__all__ = ["differentiable_backward", "saved_input", "saved_output", "sum_to_shape_t",
           "execute", "graph_roots"]

_RULES = {}          # Op subclass -> rule(node, grad) returning one Tensor (or None) per input


def differentiable_backward(*classes):
    """Register ``rule(node, grad)`` (``rule(node, *grads)`` for a multi-output op) as the
    backward of ``classes`` written with differentiable Tensor operations."""
    def register(rule):
        for cls in classes:
            _RULES[cls] = rule
        return rule
    return register


def saved_input(node, i, array):
    """Input ``i`` of ``node`` as a Tensor of the graph: ``array`` (what forward saw) with the
    producer of that input edge as ``grad_fn``; the leaf itself for a leaf; a constant when
    the input needed no gradient."""
    e = node._edges[i]
    if e is None:
        return TensorBase._make(array)
    src, nr = e
    if isinstance(src, Node):
        return TensorBase._make(array, True, src, nr)
    return src


def saved_output(node, array, nr=0):
    """Output ``nr`` of ``node`` (its saved ``array``) as a Tensor whose ``grad_fn`` is the node:
    a rule using y = f(x) differentiates through f again."""
    return TensorBase._make(array, True, node, nr)


def sum_to_shape_t(g, shape):
    """engine.sum_to_shape for a Tensor, with differentiable ops."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape)
                                      if s == 1 and g.shape[i + lead] != 1)
    if axes:
        g = g.sum(axes, keepdim=True)
    if lead or tuple(g.shape) != shape:
        g = g.reshape(shape)
    return g


def _cast_t(g, dt):
    if g._data.dtype.kind == "c" and dt.kind != "c":
        g = g.real
    return g.to(from_numpy_dtype(dt))


def _unsupported(node):
    return RuntimeError(f"double backward through {node.name()} is not supported by dlbasic "
                        "yet (create_graph=True reached it); its first-order backward works")


def _run_node(node, grads):
    """One Tensor gradient (or None) per input of ``node``, recorded in the graph."""
    if isinstance(node, FunctionCtx):
        return _run_function(node, grads)
    if node._freed:
        raise RuntimeError(_FREED_MSG)
    for box, version, arr in node._saved_versions:
        if box[0] != version:
            raise _version_error(node.name(), arr.shape, arr.dtype, version, box[0])
    rule = _RULES.get(type(node))
    if rule is None:
        raise _unsupported(node)
    # the rules are written for real tensors (no conjugates): refuse complex ones
    if any(g is not None and g._data.dtype.kind == "c" for g in grads) or \
            any(m is not None and m[1].kind == "c" for m in node._in_meta):
        raise RuntimeError(f"double backward through {node.name()} with complex tensors is "
                           "not supported by dlbasic yet")
    if isinstance(node, MultiOutputOp):
        if all(g is None for g in grads):
            return (None,) * len(node._edges)
        grads = [TensorBase._make(np.zeros(s, d)) if g is None else g
                 for g, (s, d) in zip(grads, node._out_meta)]
        res = rule(node, *grads)
    else:
        if grads[0] is None:
            return (None,) * len(node._edges)
        res = rule(node, grads[0])
    return res if type(res) is tuple else (res,)


def _run_function(ctx, grads):
    """A user Function's backward, run with grad mode on (torch does the same)."""
    if ctx._freed:
        raise RuntimeError(_FREED_MSG)
    if ctx._materialize:
        grads = [TensorBase._make(np.zeros(s, d)) if g is None else g
                 for g, (s, d) in zip(grads, ctx._out_meta)]
    return tuple(_checked_grads(ctx, ctx._fn_cls.backward(ctx, *grads)))


def _run_hooks(hooks, g):
    for fn in hooks:
        r = fn(g)
        if r is not None:
            g = r
    return g


def accumulate_leaf(t, g, captured):
    """``t.grad`` becomes (or grows by) the graph Tensor ``g``, out of place, as PyTorch's
    AccumulateGrad does in create_graph mode (the first gradient is a recorded copy)."""
    if t._hooks:
        g = _run_hooks(t._hooks, g)
    if captured is not None:
        key = id(t)
        if key in captured:
            captured[key] = g if captured[key] is None else captured[key] + g
        return
    if g._data.dtype != t._data.dtype:
        g = _cast_t(g, t._data.dtype)
    t.grad = g.clone() if t.grad is None else t.grad + g
    if t._post_acc_hooks:
        for fn in tuple(t._post_acc_hooks):
            fn(t)


def graph_roots(roots, grad_tensors):
    """engine._make_roots' (target, output_nr, array) list with the gradients as Tensors: the
    caller's own gradient Tensor where it gave one (it may itself require grad)."""
    out = []
    for (target, nr, g), given in zip(roots, grad_tensors):
        if isinstance(given, TensorBase):
            gt = given if tuple(given.shape) == g.shape else TensorBase._make(g)
        else:
            gt = TensorBase._make(g)
        out.append((target, nr, gt))
    return out


def execute(roots, retain_graph, captured=None, captured_nodes=None):
    """engine._execute with Tensor gradients, recorded: ``roots`` is a list of (target,
    output_nr, gradient Tensor)."""
    deps, leaf_uses = dependencies(roots)
    with enable_grad():
        buffers = {}
        for target, nr, g in roots:
            if isinstance(target, Node):
                add_to_buffer(buffers, target, nr, g)
            else:
                accumulate_leaf(target, g, captured)
        ready = [n for n, c in deps.items() if c == 0]
        leaf_sums = {}
        while ready:
            node = ready.pop()
            grads = buffers.pop(node, None) or [None] * node._n_out
            if node._hooks or node._retain:
                grads = pre_node(node, grads, _run_hooks, _retain)
            if captured_nodes is not None:
                capture_node_grads(node, grads, captured_nodes)
            in_grads = _run_node(node, grads)
            if not retain_graph:
                node._release()
            for e, g, meta in zip(node._edges, in_grads, node._in_meta):
                if e is None:
                    continue
                child, nr = e
                if g is not None:
                    if tuple(g.shape) != meta[0]:
                        g = sum_to_shape_t(g, meta[0])
                    if g._data.dtype != meta[1]:
                        g = _cast_t(g, meta[1])
                n = deps.get(child)
                if n is None:                                   # a leaf tensor
                    key = id(child)
                    left = leaf_uses[key] - 1
                    if g is not None:
                        prev = leaf_sums.get(key)
                        leaf_sums[key] = g if prev is None else prev + g
                    if left:
                        leaf_uses[key] = left
                        continue
                    leaf_uses[key] = 0
                    g = leaf_sums.pop(key, None)
                    if g is not None:
                        accumulate_leaf(child, g, captured)
                    continue
                if g is not None:
                    add_to_buffer(buffers, child, nr, g)
                if n == 1:
                    ready.append(child)
                deps[child] = n - 1


def _retain(t, g):
    """A non-leaf that called retain_grad() keeps the graph Tensor ``g`` (out of place)."""
    t.grad = g.clone() if t.grad is None else t.grad + g


_CYCLE_WARNING = (
    "Using backward() with create_graph=True will create a reference cycle between the "
    "parameter and its gradient which can cause a memory leak. We recommend using "
    "autograd.grad when creating the graph to avoid this. If you have to use this function, "
    "make sure to reset the .grad fields of your parameters to None after use to break the "
    "cycle and avoid the leak.")


def backward(roots, grad_tensors, retain_graph, inputs):
    """engine.backward(create_graph=True): every leaf's ``.grad`` becomes a graph Tensor.
    ``retain_graph`` defaults to True, as in torch (the recorded backward refers to the
    saved arrays)."""
    warnings.warn(_CYCLE_WARNING, UserWarning, stacklevel=3)
    retain = True if retain_graph is None else bool(retain_graph)
    roots = graph_roots(roots, grad_tensors)
    if inputs is None:
        execute(roots, retain)
        return
    results = _captured_grads(roots, inputs, retain)
    for t, g in zip(inputs, results):
        if g is not None:
            t.grad = g.clone() if t.grad is None else t.grad + g


def _captured_grads(roots, inputs, retain):
    captured, captured_nodes = {}, {}
    for t in inputs:
        if t.grad_fn is None:
            captured[id(t)] = None
        else:
            captured_nodes[(id(t.grad_fn), t._output_nr)] = None
    execute(roots, retain, captured, captured_nodes)
    return [captured[id(t)] if t.grad_fn is None else captured_nodes[(id(t.grad_fn),
                                                                      t._output_nr)]
            for t in inputs]


def grad(roots, grad_outputs, inputs, retain_graph, allow_unused, materialize_grads):
    """engine.grad(create_graph=True): the gradients as graph Tensors (requires_grad where
    they depend on something that requires grad)."""
    retain = True if retain_graph is None else bool(retain_graph)
    results = _captured_grads(graph_roots(roots, grad_outputs), inputs, retain)
    out = []
    for t, g in zip(inputs, results):
        if g is None:
            if materialize_grads:
                g = TensorBase._make(np.zeros(t.shape, t._data.dtype))
            elif not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been "
                                   "used in the graph. Set allow_unused=True if this is the "
                                   "desired behavior.")
        out.append(g)
    return tuple(out)
