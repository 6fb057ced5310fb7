"""Matrix products.  For y = a @ b: da = g @ b^T, db = a^T @ g (batched, broadcast); for
complex operands b^H and a^H (the conjugate transposes, ``elementwise._conj``)."""
import string

import numpy as np

from .. import _dtype
from .._dtype import TYPE_SHORT as _TYPE_SHORT, C_TYPE_NAMES
from .._tensor_base import TensorBase
from ..autograd.function import Op
from ._util import promote, shape_str, broadcast_error
from .elementwise import _into, _conj
from .movement import unsqueeze
from . import _flops
from ._flops import SHAPE_ONLY, shape_only_here, zeros_like_product

__all__ = ["matmul", "mm", "bmm", "mv", "dot", "outer", "addmm", "einsum", "baddbmm",
           "tensordot", "inner"]


def _sz(shape):
    return "x".join(str(s) for s in shape)


class MatMul(Op):
    """y = a @ b for operands of at least 2 dims (1-D operands are promoted by the caller)."""
    _saved_attrs = ("a", "b")

    @staticmethod
    def flops(call):
        """Every output is a dot product of length k = a.shape[-1]."""
        k = call.in_shapes[0][-1]
        return _flops.matmul_like(call, call.out_numel * k, k, False)

    @staticmethod
    def output_shape(a, b):
        return np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])

    def name(self):
        # torch: 2-D @ 2-D is an mm; batched products end in a reshape of a bmm
        if self._torch_name:
            return self._torch_name
        return "MmBackward0" if self.ndims == (2, 2) else "UnsafeViewBackward0"

    def forward(self, a, b):
        if SHAPE_ONLY and shape_only_here():        # the profiler counting without computing
            return zeros_like_product(self.output_shape(a, b), a, b)
        self.a, self.b = a, b
        self.ndims = (a.ndim, b.ndim)
        return np.matmul(a, b)

    def backward(self, g):
        na, nb = self.needs_input_grad
        a, b = _conj(self.a), _conj(self.b)
        ga = np.matmul(g, np.swapaxes(b, -1, -2)) if na else None
        gb = np.matmul(np.swapaxes(a, -1, -2), g) if nb else None
        return ga, gb


class Mm(MatMul):
    _torch_name = "MmBackward0"


class Bmm(MatMul):
    _torch_name = "BmmBackward0"


class _MatVec(Op):
    """matmul with 1-D operands: promoted to matrices for the product, squeezed after."""
    _saved_attrs = ("a", "b")

    @staticmethod
    def flops(call):
        k = call.in_shapes[0][-1]
        return _flops.matmul_like(call, max(call.out_numel, 1) * k, k, False)

    def name(self):
        if self.a1 and self.b1:
            return "DotBackward0"
        if self.b1:
            return "MvBackward0" if self.a2 else "UnsafeViewBackward0"
        return "SqueezeBackward4"

    def forward(self, a, b):
        self.a, self.b = a, b
        self.a1, self.b1, self.a2 = a.ndim == 1, b.ndim == 1, a.ndim == 2
        return np.asarray(np.matmul(a, b))

    def backward(self, g):
        na, nb = self.needs_input_grad
        a, b = _conj(self.a), _conj(self.b)
        if self.a1 and self.b1:              # dot product: d(a.b)/da = b, d/db = a
            return (g * b if na else None), (g * a if nb else None)
        a2 = a[None, :] if self.a1 else a
        b2 = b[:, None] if self.b1 else b
        g2 = g
        if self.a1:
            g2 = np.expand_dims(g2, -2)
        if self.b1:
            g2 = np.expand_dims(g2, -1)
        ga = gb = None
        if na:
            ga = np.matmul(g2, np.swapaxes(b2, -1, -2))
            if self.a1:
                ga = ga.reshape(ga.shape[:-2] + (ga.shape[-1],)) if ga.ndim > 2 else ga[0]
                if ga.ndim > 1:
                    ga = ga.reshape(-1, ga.shape[-1]).sum(0)
        if nb:
            gb = np.matmul(np.swapaxes(a2, -1, -2), g2)
            if self.b1:
                gb = gb[..., 0]
                if gb.ndim > 1:
                    gb = gb.reshape(-1, gb.shape[-1]).sum(0)
        return ga, gb


def _check_float_or_same(a, b, name):
    if a.dtype is not b.dtype:
        if a.ndim == 1 and b.ndim == 1:
            raise RuntimeError(f"dot : expected both vectors to have same dtype, but found "
                               f"{_TYPE_SHORT[a.dtype.name]} and {_TYPE_SHORT[b.dtype.name]}")
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                           f"{C_TYPE_NAMES[a.dtype.name]} != {C_TYPE_NAMES[b.dtype.name]}")


def matmul(input, other, *, out=None):
    a, b = input, other
    if not isinstance(a, TensorBase) or not isinstance(b, TensorBase):
        raise TypeError("matmul(): argument 'input' and 'other' must be Tensors")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{a.ndim}D and {b.ndim}D")
    _check_float_or_same(a, b, "matmul")
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        if a.ndim == 1 and b.ndim == 1:
            raise RuntimeError(f"inconsistent tensor size, expected tensor [{ka}] and src "
                               f"[{kb}] to have the same number of elements, but got {ka} and "
                               f"{kb} elements respectively")
        if b.ndim == 1:              # torch folds a's batch dims into the rows
            rows = int(np.prod(a.shape[:-1]))
            raise RuntimeError(f"size mismatch, got input ({rows}), mat ({rows}x{ka}), vec ({kb})")
        if a.ndim == 1 and b.ndim > 2:
            raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                               f"[{int(np.prod(b.shape[:-2]))}, {ka}] but got: "
                               f"[{int(np.prod(b.shape[:-2]))}, {kb}].")
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                           f"({_sz((int(np.prod(a.shape[:-1])) if a.ndim > 1 else 1, ka))} and "
                           f"{_sz(b.shape[-2:])})")
    if a.ndim >= 2 and b.ndim >= 2:
        try:
            r = MatMul.apply(a, b)
        except ValueError:
            raise broadcast_error(a.shape[:-2], b.shape[:-2]) from None
    else:
        r = _MatVec.apply(a, b)
    if out is not None:
        return _into(out, r)
    return r


def mm(input, mat2, *, out=None):
    if input.ndim != 2:
        raise RuntimeError(f"self must be a matrix")
    if mat2.ndim != 2:
        raise RuntimeError(f"mat2 must be a matrix")
    if input.shape[1] != mat2.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({_sz(input.shape)} and "
                           f"{_sz(mat2.shape)})")
    _check_float_or_same(input, mat2, "mm")
    r = Mm.apply(input, mat2)
    if out is not None:
        return _into(out, r)
    return r


def bmm(input, mat2, *, out=None):
    if input.ndim != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor")
    if mat2.ndim != 3:
        raise RuntimeError(f"batch2 must be a 3D tensor")
    if input.shape[0] != mat2.shape[0] or input.shape[2] != mat2.shape[1]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{input.shape[0]}, {input.shape[2]}] but got: "
                           f"[{mat2.shape[0]}, {mat2.shape[1]}].")
    _check_float_or_same(input, mat2, "bmm")
    r = Bmm.apply(input, mat2)
    if out is not None:
        return _into(out, r)
    return r


def mv(input, vec):
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {vec.ndim}")
    return matmul(input, vec)


def dot(input, other):
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D "
                           "tensors")
    return matmul(input, other)


inner = dot


def outer(input, vec2):
    for name, v in (("self", input), ("vec2", vec2)):
        if v.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {v.ndim}-D")
    return unsqueeze(input, 1) * unsqueeze(vec2, 0)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    prod = mm(mat1, mat2)
    if alpha != 1:
        prod = prod * alpha
    return prod + (input if beta == 1 else input * beta)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    prod = bmm(batch1, batch2)
    if alpha != 1:
        prod = prod * alpha
    return prod + (input if beta == 1 else input * beta)


class Einsum(Op):
    """y = einsum(eq, *xs); dx_i = einsum of g with the other operands, back to x_i's labels."""
    _saved_attrs = ("xs",)

    @staticmethod
    def flops(call):
        """A naive contraction: one MAC per tuple of index values, per extra operand."""
        ins, _, out = call.params.get("eq", "").partition("->")
        terms = ins.split(",")
        sizes = {}
        for term, shape in zip(terms, call.in_shapes):
            for c, s in zip(term, shape):
                sizes[c] = int(s)
        if len(terms) == 1:                      # a pure reduction / transpose
            n = call.in_numel if set(out) != set(terms[0]) else 0
            return _flops.cost(elementwise=n, backward_elementwise=n * _flops.n_grads(call, (0,)))
        contracted = [c for c in sizes if c not in out]
        k = _flops.numel(sizes[c] for c in contracted) if contracted else 1
        macs = _flops.numel(sizes.values()) * (len(terms) - 1)
        return _flops.cost(macs=macs, matmul_flops=2 * macs,
                           exact_matmul_flops=call.out_numel * (2 * k - 1) if len(terms) == 2
                           else None,
                           backward=2 * macs * _flops.n_grads(call, range(len(terms))))

    def forward(self, *xs, eq):
        self.xs, self.eq = xs, eq
        return np.asarray(np.einsum(eq, *xs, optimize=True))

    def backward(self, g):
        ins, out = self.eq.split("->")
        ins = ins.split(",")
        grads = []
        for i, (need, x) in enumerate(zip(self.needs_input_grad, self.xs)):
            if not need:
                grads.append(None)
                continue
            others = [s for j, s in enumerate(ins) if j != i]
            ops = [_conj(x2) for j, x2 in enumerate(self.xs) if j != i]
            # labels of x_i missing from every other term were summed away: broadcast back
            target = ins[i]
            present = set(out).union(*others) if others else set(out)
            if len(set(target)) != len(target):
                grads.append(_einsum_repeated_grad(g, out, others, ops, target, present, x))
                continue
            keep = "".join(c for c in target if c in present)
            r = np.einsum(",".join([out] + others) + "->" + keep, g, *ops, optimize=True)
            if keep != target:
                shape = [x.shape[k] if c not in keep else -1 for k, c in enumerate(target)]
                exp = r
                for k, c in enumerate(target):
                    if c not in keep:
                        exp = np.expand_dims(exp, k)
                r = np.broadcast_to(exp, x.shape)
            grads.append(r)
        return tuple(grads)


def _einsum_repeated_grad(g, out, others, ops, target, present, x):
    """Gradient for an operand with a repeated label ("ii->i"): it lands on the diagonal."""
    uniq = "".join(dict.fromkeys(target))
    sizes = {c: x.shape[k] for k, c in enumerate(target)}
    keep = "".join(c for c in uniq if c in present)
    r = np.einsum(",".join([out] + others) + "->" + keep, g, *ops, optimize=True)
    for k, c in enumerate(uniq):
        if c not in keep:
            r = np.expand_dims(r, k)
    r = np.broadcast_to(r, tuple(sizes[c] for c in uniq))
    grid = np.indices(r.shape, sparse=True)
    res = np.zeros(x.shape, dtype=r.dtype)
    np.add.at(res, tuple(grid[uniq.index(c)] for c in target), r)
    return res


def einsum(equation, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    eq = equation.replace(" ", "")
    if "->" not in eq:
        ins = eq.split(",")
        letters = sorted(c for c in set("".join(ins)) if "".join(ins).count(c) == 1)
        eq = eq + "->" + "".join(letters)
    if "..." in eq:
        raise NotImplementedError("einsum with '...' is not supported by dlbasic")
    _check_einsum(eq, operands)
    dt = _dtype.result_type(*operands)
    ops = [o if o.dtype is dt else o.to(dt) for o in operands]
    return Einsum.apply(*ops, eq=eq)


def _check_einsum(eq, operands):
    """torch's einsum errors, raised before NumPy can word them."""
    ins, out = eq.split("->")
    terms = ins.split(",")
    if len(terms) > len(operands):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the "
                           "equation")
    if len(terms) < len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the "
                           "equation")
    sizes = {}
    for i, (term, op) in enumerate(zip(terms, operands)):
        if len(term) != op.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(term)})"
                               f" does not match the number of dimensions ({op.ndim}) for "
                               f"operand {i} and no ellipsis was given")
        seen = {}
        for c, n in zip(term, op.shape):
            if c in seen and seen[c] != n:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {i} but "
                                   f"the sizes don't match, {seen[c]} != {n}")
            seen[c] = n
        for c, n in seen.items():
            prev = sizes.get(c)
            if prev is not None and prev != n and prev != 1 and n != 1:
                raise RuntimeError(f"einsum(): subscript {c} has size {n} for operand {i} which "
                                   f"does not broadcast with previously seen size {prev}")
            sizes[c] = n if prev in (None, 1) else prev
    for c in out:
        if c not in sizes:
            raise RuntimeError(f"einsum(): output subscript {c} does not appear in the equation "
                               "for any input operand")


def tensordot(a, b, dims=2):
    if isinstance(dims, int):
        da = list(range(a.ndim - dims, a.ndim))
        db = list(range(dims))
    else:
        da, db = [list(d) if isinstance(d, (list, tuple)) else [d] for d in dims]
    letters = iter(string.ascii_letters)
    la = [next(letters) for _ in range(a.ndim)]
    lb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(da, db):
        lb[j] = la[i]
    out = [c for i, c in enumerate(la) if i not in da] + [c for j, c in enumerate(lb) if j not in db]
    return einsum("".join(la) + "," + "".join(lb) + "->" + "".join(out), a, b)
