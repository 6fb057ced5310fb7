"""torch.autograd.functional: ``vjp``, ``jacobian``, ``jvp``, ``hessian``, ``hvp``, ``vhp``.

All are reverse mode on top of ``engine.grad``.  ``vjp`` is one backward pass with the
given vector as the upstream gradient.  ``jacobian`` runs one backward pass per output
element, each with a one-hot upstream gradient, so row j of the Jacobian is vjp(e_j).
``jvp`` is J v from that Jacobian (with ``create_graph=True``: torch's double-backward trick,
d/du of (u^T J) v).  The second-order tools differentiate a backward pass recorded with
``create_graph=True`` (graph_engine.py): ``vhp`` is the gradient of the gradient with v as the
upstream gradient, v^T H; ``hvp`` is H v, the same vector for the symmetric Hessian of a
scalar function; ``hessian`` is the Jacobian of the gradient, one backward pass per entry.
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


def _grad_inputs(inputs, create_graph=False):
    """Fresh tensors sharing the inputs' data: the function is differentiated at these.  With
    ``create_graph`` an input that requires grad stays connected (a view of it), so the
    result can be differentiated with respect to the caller's tensors, as torch."""
    return tuple(t.view_as(t) if create_graph and t.requires_grad
                 else t.detach().requires_grad_(True) for t in inputs)


def _post(tensors, create_graph):
    """Results without history unless ``create_graph`` (torch's _grad_postprocess)."""
    return tuple(tensors) if create_graph else tuple(t.detach() for t in tensors)


def _run(func, inputs):
    with enable_grad():
        out = func(*inputs)
    is_tuple, outs = _tuple(out, "outputs of the user-provided function")
    return is_tuple, outs


def _gradients(outs, inputs, grad_outputs, strict, fn, create_graph=False):
    used = [o for o in outs if o.requires_grad]
    gos = [g for o, g in zip(outs, grad_outputs) if o.requires_grad]
    grads = _grad(used, inputs, gos, retain_graph=True, create_graph=create_graph,
                  allow_unused=True) if used else (None,) * len(inputs)
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
    in_tuple, inputs = _tuple(inputs, "inputs")
    inputs = _grad_inputs(inputs, create_graph)
    out_tuple, outs = _run(func, inputs)
    vs = _vectors(v, outs, "the user-provided function returns a single Tensor with a single "
                           "element")
    grads = _gradients(outs, inputs, vs, strict, "vjp", create_graph)
    return _out(_post(outs, create_graph), out_tuple), _out(_post(grads, create_graph),
                                                            in_tuple)


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: for output i and input k a tensor of shape
    ``out_i.shape + in_k.shape``; nested like torch's (tuples where inputs/outputs are)."""
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
    inputs = _grad_inputs(inputs, create_graph)
    out_tuple, outs = _run(func, inputs)
    if create_graph:
        rows = [_out(row, in_tuple) for row in _jacobian_graph(outs, inputs, strict)]
    else:
        rows = [_out([TensorBase._make(a) for a in row], in_tuple)
                for row in _jacobian_blocks(outs, inputs, strict)]
    return _out(rows, out_tuple)


def _jacobian_graph(outs, inputs, strict):
    """_jacobian_blocks with recorded rows: each block is sum_j e_j (x) row_j, built from
    differentiable products and sums only, so it stays in the graph."""
    rows = []
    for i, o in enumerate(outs):
        n = o.numel()
        blocks = [None] * len(inputs)
        for j in range(n):
            onehot = np.zeros(n, o._data.dtype)
            onehot[j] = 1
            gos = [TensorBase._make(onehot.reshape(o.shape)) if k == i else
                   TensorBase._make(np.zeros(p.shape, p._data.dtype))
                   for k, p in enumerate(outs)]
            grads = _gradients(outs, inputs, gos, strict, "jacobian", True)
            for k, g in enumerate(grads):
                e = np.zeros((n, 1), o._data.dtype)
                e[j] = 1
                part = TensorBase._make(e) * g.reshape(1, -1)
                blocks[k] = part if blocks[k] is None else blocks[k] + part
        rows.append([(b if b is not None else
                      TensorBase._make(np.zeros((0, x.numel()), x._data.dtype)))
                     .reshape(tuple(o.shape) + tuple(x.shape)) for b, x in zip(blocks, inputs)])
    return rows


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
    in_tuple, ins = _tuple(inputs, "inputs")
    vs = _vectors(v, ins, "the input to the user-provided function is a single Tensor "
                          "with a single element")
    if create_graph:
        return _jvp_double_backward(func, ins, vs, in_tuple, strict)
    leaves = _grad_inputs(ins)
    out_tuple, outs = _run(func, leaves)
    products = []
    for o, row in zip(outs, _jacobian_blocks(outs, leaves, strict)):
        total = np.zeros(o.numel(), o._data.dtype)
        for block, a in zip(row, vs):
            total = total + block.reshape(o.numel(), -1) @ a._data.reshape(-1)
        products.append(TensorBase._make(total.reshape(o.shape).astype(o._data.dtype)))
    return _out([o.detach() for o in outs], out_tuple), _out(products, out_tuple)


def _jvp_double_backward(func, ins, vs, in_tuple, strict):
    """J v as d/du of (u^T J) v: u^T J is linear in u, so its gradient with v as the upstream
    gradient is J v, and both passes are recorded."""
    leaves = _grad_inputs(ins, True)
    out_tuple, outs = _run(func, leaves)
    us = tuple(TensorBase._make(np.zeros(o.shape, o._data.dtype), True) for o in outs)
    with enable_grad():
        ujs = _gradients(outs, leaves, us, strict, "jvp", True)
        used = [(g, a) for g, a in zip(ujs, vs) if g.requires_grad]
        jv = _grad([g for g, _ in used], us, [a for _, a in used], create_graph=True,
                   allow_unused=True) if used else (None,) * len(us)
    jv = [TensorBase._make(np.zeros(o.shape, o._data.dtype)) if g is None else g
          for g, o in zip(jv, outs)]
    return _out(tuple(outs), out_tuple), _out(tuple(jv), out_tuple)


def _scalar_output(func, inputs, fn):
    """func(inputs), which must be one Tensor of one element (torch's checks and words)."""
    with enable_grad():
        out = func(*inputs)
    if isinstance(out, (tuple, list)) or not isinstance(out, TensorBase):
        raise RuntimeError(f"The function given to {fn} should return a single Tensor")
    if out.numel() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn} should contain "
                           "a single element")
    return out


def _first_gradient(out, inputs, strict):
    """d out / d inputs, recorded (create_graph=True), so it can be differentiated again."""
    if strict and not out.requires_grad:
        raise RuntimeError("Output 0 of the user-provided function does not require gradients."
                           " The outputs must be computed in a differentiable manner from the "
                           "input when running in strict mode.")
    with enable_grad():
        jac = _grad(out, inputs, create_graph=True, allow_unused=True) if out.requires_grad \
            else (None,) * len(inputs)
    if strict:
        for i, g in enumerate(jac):
            if g is None or not g.requires_grad:
                raise RuntimeError(
                    "While computing the hessian, found that the jacobian of the user-provided"
                    f" function with respect to input {i} is independent of the input. This is "
                    "not allowed in strict mode. You should ensure that your function is twice "
                    "differentiable and that the jacobian depends on the inputs (this would be "
                    "violated by a linear function for example).")
    return jac


def _vector_hessian(func, inputs, v, create_graph, strict, fn):
    in_tuple, ins = _tuple(inputs, "inputs")
    leaves = _grad_inputs(ins, create_graph)
    vs = _vectors(v, leaves, "the input to the user-provided function is a single Tensor with "
                             "a single element")
    out = _scalar_output(func, leaves, fn)
    jac = _first_gradient(out, leaves, strict)
    used = [(g, a) for g, a in zip(jac, vs) if g is not None and g.requires_grad]
    with enable_grad():
        res = _grad([g for g, _ in used], leaves, [a for _, a in used], retain_graph=True,
                    create_graph=create_graph, allow_unused=True) if used \
            else (None,) * len(leaves)
    res = [TensorBase._make(np.zeros(x.shape, x._data.dtype)) if r is None else r
           for r, x in zip(res, leaves)]
    return _post((out,), create_graph)[0], _out(_post(res, create_graph), in_tuple)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H): the gradient of the recorded gradient, with v as its upstream
    gradient (``func`` returns one element)."""
    return _vector_hessian(func, inputs, v, create_graph, strict, "vhp")


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v).  The Hessian of a twice continuously differentiable scalar function
    is symmetric, so H v = (v^T H)^T: one double backward, as vhp (torch spends a second one
    on its double-backward trick)."""
    return _vector_hessian(func, inputs, v, create_graph, strict, "hvp")


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar ``func``: for inputs i, k a tensor of shape
    ``in_i.shape + in_k.shape`` (a tuple of tuples for tuple inputs), the Jacobian of the
    recorded gradient, one backward pass per entry of the gradient."""
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or '
                             '"reverse-mode".')
    if outer_jacobian_strategy == "forward-mode":
        raise NotImplementedError("hessian(outer_jacobian_strategy='forward-mode') is not "
                                  "supported by dlbasic (it has no forward-mode AD); reverse "
                                  "mode gives the same Hessian")
    in_tuple, ins = _tuple(inputs, "inputs")
    leaves = _grad_inputs(ins, create_graph)

    def gradient(*xs):
        out = _scalar_output(func, xs, "hessian")
        jac = _first_gradient(out, xs, strict)
        return tuple(TensorBase._make(np.zeros(x.shape, x._data.dtype)) if g is None else g
                     for g, x in zip(jac, xs))

    out_tuple, grads = _run(gradient, leaves)
    if create_graph:
        rows = _jacobian_graph(grads, leaves, strict)
    else:
        rows = [[TensorBase._make(a) for a in row]
                for row in _jacobian_blocks(grads, leaves, strict)]
    result = tuple(tuple(row) for row in rows)
    return result if in_tuple else result[0][0]
