"""torch.autograd.functional, first order: ``vjp``, ``jacobian``, ``jvp``.

All three are reverse mode on top of ``engine.grad``.  ``vjp`` is one backward pass with the
given vector as the upstream gradient.  ``jacobian`` runs one backward pass per output
element, each with a one-hot upstream gradient, so row j of the Jacobian is vjp(e_j).
``jvp`` is J v from that Jacobian (torch computes it with the double-backward trick, which
needs ``create_graph=True``).

Second order (``hessian``, ``hvp``, ``vhp``) and ``create_graph=True`` need backward formulas
that are themselves differentiable; dlbasic's are NumPy code, so these raise
NotImplementedError rather than return something that is not a derivative.
"""
import numpy as np

from .._tensor_base import TensorBase
from .engine import grad as _grad
from .grad_mode import enable_grad

__all__ = ["vjp", "jacobian", "jvp", "hessian", "hvp", "vhp"]


def _tuple(x, what):
    is_tuple = isinstance(x, (tuple, list))
    xs = tuple(x) if is_tuple else (x,)
    for i, t in enumerate(xs):
        if not isinstance(t, TensorBase):
            raise TypeError(f"The {what} given to the function should be either a Tensor or a "
                            f"tuple of Tensors but the value at index {i} has type "
                            f"{type(t).__name__}.")
    return is_tuple, xs


def _grad_inputs(inputs):
    """Fresh leaves sharing the inputs' data: the function is differentiated at these."""
    return tuple(t.detach().requires_grad_(True) for t in inputs)


def _no_create_graph(create_graph, fn):
    if create_graph:
        raise NotImplementedError(f"{fn}(create_graph=True) needs higher-order gradients, "
                                  "which dlbasic does not support")


def _run(func, inputs):
    with enable_grad():
        out = func(*inputs)
    is_tuple, outs = _tuple(out, "outputs of the user-provided function")
    return is_tuple, outs


def _gradients(outs, inputs, grad_outputs, strict, fn):
    used = [o for o in outs if o.requires_grad]
    gos = [g for o, g in zip(outs, grad_outputs) if o.requires_grad]
    grads = _grad(used, inputs, gos, retain_graph=True, allow_unused=True) if used else \
        (None,) * len(inputs)
    result = []
    for i, (g, x) in enumerate(zip(grads, inputs)):
        if g is None:
            if strict:
                raise RuntimeError(f"The output of the user-provided function is independent "
                                   f"of input {i}. This is not allowed in strict mode.")
            g = TensorBase._make(np.zeros(x.shape, x._data.dtype))
        result.append(g)
    return tuple(result)


def _vectors(v, like, when_none):
    """``v`` as a tuple of tensors shaped like ``like`` (ones when None, which torch allows
    only for one single-element tensor), with torch's errors."""
    if v is None:
        if len(like) != 1 or like[0].numel() != 1:
            raise RuntimeError(f"The vector v can only be None if {when_none}.")
        return (TensorBase._make(np.ones(like[0].shape, like[0]._data.dtype)),)
    _, vs = _tuple(v, "v")
    if len(vs) != len(like):
        raise RuntimeError(f"v is a tuple of invalid length: should be {len(like)} but got "
                           f"{len(vs)}.")
    for i, (a, t) in enumerate(zip(vs, like)):
        if tuple(a.shape) != tuple(t.shape):
            raise RuntimeError(f"Entry {i} in v has invalid size: should be {list(t.shape)} "
                               f"but got {list(a.shape)}.")
    return vs


def _out(values, is_tuple):
    return tuple(values) if is_tuple else values[0]


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): the vector-Jacobian product, one backward pass."""
    _no_create_graph(create_graph, "vjp")
    in_tuple, inputs = _tuple(inputs, "inputs")
    inputs = _grad_inputs(inputs)
    out_tuple, outs = _run(func, inputs)
    vs = _vectors(v, outs, "the user-provided function returns a single Tensor with a single "
                           "element")
    grads = _gradients(outs, inputs, vs, strict, "vjp")
    return _out([o.detach() for o in outs], out_tuple), _out(grads, in_tuple)


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: for output i and input k a tensor of shape
    ``out_i.shape + in_k.shape``; nested like torch's (tuples where inputs/outputs are)."""
    _no_create_graph(create_graph, "jacobian")
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError('Expected strategy to be either "forward-mode" or "reverse-mode". '
                         "Hint: If your function has more outputs than inputs, \"forward-mode\" "
                         "tends to be more performant. Otherwise, prefer to use "
                         "\"reverse-mode\".")
    if strategy == "forward-mode":
        if not vectorize:
            raise NotImplementedError("torch.autograd.functional.jacobian: `strategy=\""
                                      "forward-mode\"` is only implemented for "
                                      "`vectorize=True`.")
        raise NotImplementedError("jacobian(strategy='forward-mode') is not supported by "
                                  "dlbasic (it has no forward-mode AD); reverse mode gives the "
                                  "same Jacobian")
    in_tuple, inputs = _tuple(inputs, "inputs")
    inputs = _grad_inputs(inputs)
    out_tuple, outs = _run(func, inputs)
    rows = [_out([TensorBase._make(a) for a in row], in_tuple)
            for row in _jacobian_blocks(outs, inputs, strict)]
    return _out(rows, out_tuple)


def _jacobian_blocks(outs, inputs, strict):
    """[[d out_i / d in_k as an array of shape out_i.shape + in_k.shape, per k], per i]:
    one backward pass per output element, with a one-hot upstream gradient."""
    rows = []
    for i, o in enumerate(outs):
        per_input = [[] for _ in inputs]
        for j in range(o.numel()):
            onehot = np.zeros(o.numel(), o._data.dtype)
            onehot[j] = 1
            gos = [TensorBase._make(onehot.reshape(o.shape)) if k == i else
                   TensorBase._make(np.zeros(p.shape, p._data.dtype))
                   for k, p in enumerate(outs)]
            for k, g in enumerate(_gradients(outs, inputs, gos, strict, "jacobian")):
                per_input[k].append(g._data)
        rows.append([(np.stack(per_input[k]) if per_input[k]
                      else np.zeros((0,) + tuple(x.shape), x._data.dtype))
                     .reshape(tuple(o.shape) + tuple(x.shape)) for k, x in enumerate(inputs)])
    return rows


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v): the Jacobian-vector product, from the reverse-mode Jacobian."""
    _no_create_graph(create_graph, "jvp")
    in_tuple, ins = _tuple(inputs, "inputs")
    vs = _vectors(v, ins, "the input to the user-provided function is a single Tensor "
                          "with a single element")
    leaves = _grad_inputs(ins)
    out_tuple, outs = _run(func, leaves)
    products = []
    for o, row in zip(outs, _jacobian_blocks(outs, leaves, strict)):
        total = np.zeros(o.numel(), o._data.dtype)
        for block, a in zip(row, vs):
            total = total + block.reshape(o.numel(), -1) @ a._data.reshape(-1)
        products.append(TensorBase._make(total.reshape(o.shape).astype(o._data.dtype)))
    return _out([o.detach() for o in outs], out_tuple), _out(products, out_tuple)


def _second_order(name):
    def fn(*args, **kwargs):
        raise NotImplementedError(f"autograd.functional.{name} needs second derivatives "
                                  "(create_graph=True), which dlbasic does not support; "
                                  "jacobian, vjp and jvp work")
    fn.__name__ = name
    fn.__doc__ = f"torch.autograd.functional.{name}: not supported (second order)."
    return fn


hessian = _second_order("hessian")
hvp = _second_order("hvp")
vhp = _second_order("vhp")
