"""What an op states about its cost, for the profiler (``dlbasic.profiler``).

Each primitive op states, next to its gradient, the FLOPs and MACs of one call:
``flops = <rule>``, where a rule is a function of an ``OpCall`` (the call's input and output
shapes, its keyword parameters, which inputs need a gradient) returning the cost buckets below.
The heavy products (convolution, linear, matmul) also state the shape of their output, so the
profiler can count a big model without computing it (``shape_only``).  The notes (DL_basic.md,
"FLOPs"): one output of a convolution costs ``kh*kw*cin`` multiplies and ``kh*kw*cin - 1``
additions (``+1`` with a bias), so FLOPs = 2 x MACs.

Cost buckets of a call (all integers):
  ``macs``            multiply-accumulates of conv / linear / matmul / einsum
  ``matmul_flops``    their FLOPs: 2 x MACs
  ``exact_matmul_flops``  the notes' per-output count ``2K - 1`` (``+1`` with a bias), K = length
                      of the dot product (used with ``exact=True``; the bias add then leaves the
                      elementwise bucket: ``exact_elementwise``)
  ``elementwise``     one per arithmetic op per element (BatchNorm 2 / element in eval, 6 in
                      training; ReLU 1; add 1; pooling k*k per output; bias add 1 per output)
  ``transcendental``  exp / log / tanh / sigmoid / sqrt / ... evaluations, listed separately
  ``backward``        matmul-type backward FLOPs: 2 x MACs for the input gradient and 2 x MACs
                      for the weight gradient, each only when that input needs a gradient (so
                      the first conv of a net costs 1x, the rest 2x its forward)
  ``backward_elementwise``  elementwise backward: the forward count once per input needing a
                      gradient (an approximation)
"""
import threading

import numpy as np

__all__ = ["OpCall", "cost", "numel", "n_grads", "matmul_like", "conv_macs", "factorization",
           "elementwise", "fft",
           "transcendental", "reduction", "softmax_like", "loss", "no_cost", "ShapeOnly",
           "SHAPE_ONLY", "shape_only_here", "zeros_like_product"]


def numel(shape):
    n = 1
    for s in shape:
        n *= int(s)
    return n


class OpCall:
    """What a rule sees: input/output shapes, the op's keyword parameters, which inputs need a
    gradient, and the counting options."""
    __slots__ = ("name", "in_shapes", "out_shapes", "params", "needs_grad", "exact", "inputs")

    def __init__(self, name, inputs, params, outputs, needs_grad, exact):
        self.name = name
        self.inputs = inputs
        self.in_shapes = [tuple(t._data.shape) for t in inputs]
        self.out_shapes = [tuple(t._data.shape) for t in outputs]
        self.params = params
        self.needs_grad = needs_grad
        self.exact = exact

    @property
    def out_numel(self):
        return sum(numel(s) for s in self.out_shapes)

    @property
    def in_numel(self):
        return numel(self.in_shapes[0]) if self.in_shapes else 0


def cost(macs=0, matmul_flops=0, elementwise=0, transcendental=0, backward=0,
         backward_elementwise=0, exact_matmul_flops=None, exact_elementwise=None):
    """The cost buckets of one call (see the module docstring)."""
    return {"macs": macs, "matmul_flops": matmul_flops, "elementwise": elementwise,
            "transcendental": transcendental, "backward": backward,
            "backward_elementwise": backward_elementwise,
            "exact_matmul_flops": matmul_flops if exact_matmul_flops is None
            else exact_matmul_flops,
            "exact_elementwise": elementwise if exact_elementwise is None else exact_elementwise}


def n_grads(call, idx):
    """How many of the inputs ``idx`` need a gradient."""
    return sum(1 for i in idx if i < len(call.needs_grad) and call.needs_grad[i])


# -- products ---------------------------------------------------------------------------------

def matmul_like(call, macs, k, has_bias, grad_idx=(0, 1), bias_idx=2):
    """A product whose every output is a length-k dot product (+ optional bias).

    Both conventions are recorded: 2 x MACs (the bias add going to the elementwise bucket) and
    the notes' exact count, k multiplies and k - 1 adds per output, + 1 add for the bias."""
    outs = call.out_numel
    bias = outs if has_bias else 0
    bwd = 2 * macs * n_grads(call, grad_idx)
    bwd_ew = bias if n_grads(call, (bias_idx,)) else 0
    return cost(macs=macs, matmul_flops=2 * macs, elementwise=bias, backward=bwd,
                backward_elementwise=bwd_ew,
                exact_matmul_flops=outs * (2 * k - 1) + bias, exact_elementwise=0)


def conv_macs(out_shape, weight_shape):
    """MACs of a convolution: every output element is a dot product over
    ``cin/groups * kh * kw`` (= weight_shape[1:]) inputs."""
    return numel(out_shape) * numel(weight_shape[1:])


def factorization(call):
    """A LAPACK routine on a batch of m x n matrices (inverse, solve, determinant, Cholesky,
    QR, SVD, eigh, pinv, lstsq): counted as m * n * min(m, n) multiply-accumulates per
    matrix, the order of their cost (the constant factor differs between routines and is not
    modelled); backward costs about as much again for each input needing a gradient."""
    shape = call.in_shapes[0]
    m, n = (shape[-2], shape[-1]) if len(shape) >= 2 else (1, numel(shape))
    batch = numel(shape[:-2]) if len(shape) >= 2 else 1
    macs = batch * m * n * min(m, n)
    grads = n_grads(call, range(len(call.in_shapes)))
    return cost(macs=macs, matmul_flops=2 * macs, backward=2 * macs * grads,
                exact_matmul_flops=2 * macs)


# -- elementwise, reductions, losses ----------------------------------------------------------

def elementwise(per_element=1, transcendental=0, on="out"):
    """The rule of an op costing ``per_element`` arithmetic ops and ``transcendental``
    evaluations per element of its output (``on="in"``: of its first input)."""
    def rule(call):
        n = call.out_numel if on == "out" else call.in_numel
        ew, tr = per_element * n, transcendental * n
        grads = n_grads(call, range(len(call.in_shapes)))
        return cost(elementwise=ew, transcendental=tr, backward_elementwise=(ew + tr) * grads)
    return rule


def transcendental(per_element=0):
    """exp, log, tanh, ...: one transcendental evaluation (and ``per_element`` arithmetic
    ops) per output element."""
    return elementwise(per_element, 1)


def reduction(call):
    """About one add per input element."""
    n = call.in_numel
    return cost(elementwise=n, backward_elementwise=n * n_grads(call, (0,)))


def softmax_like(call):
    """max-subtract, sum, divide: 3 per element; exp: 1 transcendental per element."""
    n = call.in_numel
    return cost(elementwise=3 * n, transcendental=n,
                backward_elementwise=4 * n * n_grads(call, (0,)))


def loss(per_element=2, transcendental=0):
    """A loss costing ``per_element`` ops and ``transcendental`` evaluations per element of its
    first input."""
    def rule(call):
        n = call.in_numel
        return cost(elementwise=per_element * n, transcendental=transcendental * n,
                    backward_elementwise=(per_element + transcendental) * n
                    * n_grads(call, range(len(call.in_shapes))))
    return rule


def fft(call):
    """A discrete Fourier transform over the dims ``params["axes"]`` with signal sizes
    ``params["sizes"]`` (N points): about 5 N log2 N real operations per transform (the
    radix-2 count), times the batch; as much again for the gradient."""
    n = numel(call.params["sizes"])
    out = call.out_shapes[0]
    batch = numel(out) // max(1, numel(out[a] for a in call.params["axes"]))
    ew = int(5 * batch * n * max(1.0, float(np.log2(max(n, 2)))))
    return cost(elementwise=ew, backward_elementwise=ew * n_grads(call, (0,)))


def no_cost(call):
    """Ops that only move or reinterpret data: no arithmetic."""
    return cost()


# -- shape-only counting ----------------------------------------------------------------------
# While a thread counts with ``shape_only=True`` its id is a key here; the heavy products then
# return zeros of their output's shape in that thread only.  Empty otherwise, so the check in
# their forward costs one dict test.
SHAPE_ONLY = {}


def shape_only_here():
    """True in a thread counting shape-only (see ``ShapeOnly``)."""
    return threading.get_ident() in SHAPE_ONLY


def zeros_like_product(shape, *arrays):
    """What a product returns while shape-only: zeros of its output shape and dtype."""
    return np.zeros(shape, np.result_type(*[a for a in arrays if a is not None]))


class ShapeOnly:
    """Context manager: in this thread, conv / linear / matmul skip their arithmetic and return
    zeros of the right shape, so a count of a big model costs almost nothing.  Exact as long as
    the model's control flow does not depend on values.  Other threads compute as usual."""

    def __enter__(self):
        me = threading.get_ident()
        SHAPE_ONLY[me] = SHAPE_ONLY.get(me, 0) + 1
        return self

    def __exit__(self, *exc):
        me = threading.get_ident()
        if SHAPE_ONLY[me] == 1:
            del SHAPE_ONLY[me]
        else:
            SHAPE_ONLY[me] -= 1
        return False
