"""The bookkeeping of a backward walk, shared by the ordinary pass (engine.py, NumPy arrays)
and the recorded one (graph_engine.py, Tensors): which nodes wait on how many gradients, and
where arriving gradients are summed.  The walk itself is iterative -- a node runs once every
edge into it has delivered -- so a deep graph never meets Python's recursion limit.
"""
from .function import Node

__all__ = ["dependencies", "add_to_buffer", "capture_node_grads", "pre_node"]


def dependencies(roots):
    """For the nodes reachable from ``roots``: {node: how many edges point at it} (it runs once
    that many gradients have arrived) and {id(leaf): how many edges point at it}."""
    deps = {}
    leaf_uses = {}
    stack = []
    for target, _, _ in roots:
        if isinstance(target, Node) and target not in deps:
            deps[target] = 0
            stack.append(target)
    while stack:
        for e in stack.pop()._edges:
            if e is not None:
                child = e[0]
                if child in deps:
                    deps[child] += 1
                elif isinstance(child, Node):
                    deps[child] = 1
                    stack.append(child)
                else:
                    leaf_uses[id(child)] = leaf_uses.get(id(child), 0) + 1
    return deps, leaf_uses


def add_to_buffer(buffers, node, nr, g):
    """Gradient ``g`` for output ``nr`` of ``node`` arrives: summed with what came before."""
    buf = buffers.get(node)
    if buf is None:
        buf = buffers[node] = [None] * node._n_out
    buf[nr] = g if buf[nr] is None else buf[nr] + g


def capture_node_grads(node, grads, captured_nodes):
    """autograd.grad's inputs that are non-leaf outputs of ``node`` take their gradients."""
    for nr in range(node._n_out):
        key = (id(node), nr)
        if key in captured_nodes and grads[nr] is not None:
            captured_nodes[key] = grads[nr]


def pre_node(node, grads, run_hooks, retain):
    """Before ``node`` runs: hooks registered on its outputs may replace their gradients
    (``run_hooks(hooks, g)``), and outputs that asked for retain_grad() keep theirs
    (``retain(tensor, g)``)."""
    grads = list(grads)
    if node._hooks:
        for nr, hooks in node._hooks.items():
            if grads[nr] is not None:
                grads[nr] = run_hooks(hooks, grads[nr])
    if node._retain:
        for nr, ref in node._retain.items():
            t = ref()
            if t is not None and grads[nr] is not None:
                retain(t, grads[nr])
    return grads
