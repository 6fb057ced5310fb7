"""Differentiable backwards: each op's local gradient x upstream gradient, written with
dlbasic Tensor operations, so that ``create_graph=True`` records it (autograd/graph_engine.py).

Every rule mirrors the op's NumPy ``backward`` next to its class.  ``x = saved_input(node, i,
array)`` is the saved input array as a Tensor connected to where that input came from;
``y = saved_output(node, array)`` is the op's output connected to the op itself, so a rule
such as tanh's ``g * (1 - y)(1 + y)`` is differentiated through tanh again.  Masks (relu's
``y > 0``, clamp's interval, max's argmax) are constants: their derivative is 0 almost
everywhere, as in torch.  Where an op did not keep an input, a rule uses an exact stand-in:
softmax and layer norm are invariant to a shift of each row, so ``x - c`` (logp, xhat / rstd)
has the same values and Jacobian as x; and a zero-valued Tensor connected to an input or the
output carries just the derivative where only a slope was kept (elu, smooth_l1).  Rules are
registered for exact classes; an op missing here raises a clear error when
``create_graph=True`` reaches it.
"""
import math

import numpy as np

from .._tensor_base import TensorBase
from ..autograd.function import Op, _FREED_MSG
from ..backend import kernels
from ..backend.conv import to_nhwc
from ..autograd.graph_engine import differentiable_backward as rule, saved_input, saved_output
from . import elementwise as E, reduction as R, movement as M, activation as A
from .matmul import MatMul, Mm, Bmm, _MatVec, Einsum   # (ops.matmul is also a function)
from . import linear as L, loss as LS, dropout as D, embedding as EM, _flops
from .conv import Convolution, ConvTranspose
from .normalization import NativeLayerNorm
from .batchnorm import BatchNorm, BatchNormReLU
from . import pooling as P
from .interpolate import Interpolate
from .fold import Im2Col, Col2Im
from .numeric import Cumprod
from .attention import ScaledDotProductAttention
from ..backend.pooling import window_slices

__all__ = []


def _const(a):
    return TensorBase._make(np.asarray(a))


def _zero(g):
    return TensorBase._make(np.zeros((), g._data.dtype))


def _keep(g, keep):
    """g where the boolean array ``keep`` holds, else 0 (a where, so inf/nan in g elsewhere
    do not leak through as they would in g * mask)."""
    return E.where(_const(keep), g, _zero(g))


def _zero_valued_input(node, i):
    """Input ``i`` as a Tensor of value 0 whose derivative is that of the input: for a rule
    that needs how an input moves, not its (unsaved) value."""
    shape, dt = node._in_meta[i]
    t = saved_input(node, i, np.zeros(shape, dt))
    if t.grad_fn is None and t.requires_grad:        # the leaf itself, with its data
        t = t - t.detach()
    return t


def _needs(node, i):
    return node.needs_input_grad[i]


# -- arithmetic ---------------------------------------------------------------------------

@rule(E.Add)
def _add(node, g):
    return g, g


@rule(E.AddScaled)
def _add_scaled(node, g):
    return g, (g * node.alpha if _needs(node, 1) else None)


@rule(E.Sub, E._RSub)
def _sub(node, g):
    return g, (-g if _needs(node, 1) else None)


@rule(E.Mul, E._MulSavesA, E._MulSavesB)
def _mul(node, g):
    a, b = saved_input(node, 0, node.a), saved_input(node, 1, node.b)
    return (g * b if _needs(node, 0) else None), (g * a if _needs(node, 1) else None)


@rule(E.Div, E._DivSavesB)
def _div(node, g):
    a, b = saved_input(node, 0, node.a), saved_input(node, 1, node.b)
    ga = g / b if _needs(node, 0) else None
    gb = -g * a / (b * b) if _needs(node, 1) else None
    return ga, gb


@rule(E.AddNumber, E.SubNumber)
def _shift(node, g):
    return g


@rule(E.RSubNumber, E.Neg)
def _negate(node, g):
    return -g


@rule(E.MulNumber)
def _mul_number(node, g):
    return g * node.c


@rule(E.DivNumber)
def _div_number(node, g):
    return g / node.c


@rule(E.PowScalar)
def _pow_scalar(node, g):
    p = node.p
    if p == 0:
        return TensorBase._make(np.zeros_like(node.x))
    x = saved_input(node, 0, node.x)
    if p == 1:
        return g
    return g * (x ** (p - 1) * p)


@rule(E.PowTensor, E._PowNumberBase)
def _pow_tensor(node, g):
    a, b = saved_input(node, 0, node.a), saved_input(node, 1, node.b)
    ga = gb = None
    if _needs(node, 0):
        # b * a^(b-1), 0 where b == 0 (as the NumPy backward)
        ga = g * E.where(_const(node.b == 0), _zero(g), b * a ** (b - 1))
    if _needs(node, 1):
        y = saved_output(node, node.y)
        gb = g * E.where(_const((node.a == 0) & (node.b >= 0)), _zero(g), y * a.log())
    return ga, gb


# -- unary --------------------------------------------------------------------------------

@rule(E.Exp)
def _exp(node, g):
    return g * saved_output(node, node.y)


@rule(E.Expm1)
def _expm1(node, g):
    return g * (saved_output(node, node.y) + 1)


@rule(E.Log)
def _log(node, g):
    return g / saved_input(node, 0, node.x)


@rule(E.Log1p)
def _log1p(node, g):
    return g / (saved_input(node, 0, node.x) + 1)


@rule(E.Sqrt)
def _sqrt(node, g):
    return g / (saved_output(node, node.y) * 2)


@rule(E.Rsqrt)
def _rsqrt(node, g):
    y = saved_output(node, node.y)
    return g * (y * y * y * -0.5)


@rule(E.Sin)
def _sin(node, g):
    return g * saved_input(node, 0, node.x).cos()


@rule(E.Cos)
def _cos(node, g):
    return g * -saved_input(node, 0, node.x).sin()


@rule(E.Tan)
def _tan(node, g):
    y = saved_output(node, node.y)
    return g * (y * y + 1)


@rule(E.Tanh)
def _tanh(node, g):
    y = saved_output(node, node.y)
    return g * ((1 - y) * (1 + y))


@rule(E.Sigmoid)
def _sigmoid(node, g):
    y = saved_output(node, node.y)
    return g * (y * (1 - y))


@rule(E.Atan)
def _atan(node, g):
    x = saved_input(node, 0, node.x)
    return g / (x * x + 1)


@rule(E.Sinh)
def _sinh(node, g):
    return g * saved_input(node, 0, node.x).cosh()


@rule(E.Cosh)
def _cosh(node, g):
    return g * saved_input(node, 0, node.x).sinh()


@rule(E.Erf)
def _erf(node, g):
    x = saved_input(node, 0, node.x)
    return g * ((-(x * x)).exp() * (2 / math.sqrt(math.pi)))


@rule(E.Abs)
def _abs(node, g):
    return g * _const(E._sgn(node.x))


@rule(E.Cast, M.Clone, M.Expand)
def _identity(node, g):
    # (Cast: the engine casts g back to the input's dtype; Expand: it sums g back)
    return g


@rule(E.Relu)
def _relu(node, g):
    return _keep(g, ~(node.y <= 0))


@rule(E.ClampScalar)
def _clamp(node, g):
    x, lo, hi = node.x, node.lo, node.hi
    keep = np.ones(x.shape, dtype=bool)
    if lo is not None:
        keep &= x >= lo
    if hi is not None:
        keep &= x <= hi
    return _keep(g, keep)


@rule(E.ClampTensor)
def _clamp_tensor(node, g):
    x, lo, hi = node.x, node.lo, node.hi
    in_range = (x >= lo) & (x <= hi)
    below = (x < lo) & (lo <= hi)
    above = ~in_range & ~below
    return tuple(_keep(g, m) if _needs(node, i) else None
                 for i, m in enumerate((in_range, below, above)))


def _pick(node, g, a_loses, b_loses):
    a, b = node.a, node.b
    tie = a == b
    ga = g * _const(np.where(tie, 0.5, ~a_loses(a, b)).astype(g._data.dtype)) \
        if _needs(node, 0) else None
    gb = g * _const(np.where(tie, 0.5, ~b_loses(a, b)).astype(g._data.dtype)) \
        if _needs(node, 1) else None
    return ga, gb


@rule(E.Maximum)
def _maximum(node, g):
    return _pick(node, g, np.less, np.greater)


@rule(E.Minimum)
def _minimum(node, g):
    return _pick(node, g, np.greater, np.less)


@rule(E.Where)
def _where(node, g):
    c = _const(node.cond)
    return None, (E.where(c, g, _zero(g)) if _needs(node, 1) else None), \
        (E.where(c, _zero(g), g) if _needs(node, 2) else None)


@rule(D.NativeDropout)
def _dropout(node, g):
    return g * _const(node.mask), None


# -- activations --------------------------------------------------------------------------

@rule(A.LeakyRelu)
def _leaky_relu(node, g):
    return E.where(_const(node.pos), g, g * node.s)


@rule(A.Elu)
def _elu(node, g):
    # d = scale if x > 0 else scale*alpha*k*e^(kx), and dd/dx = k*d on x <= 0.  x is not
    # saved; its derivative reaches x through the op's own output: dy/dx is d, so
    # k * y0 -- y0 the output as a zero-valued Tensor connected to the op -- has the value 0
    # and the derivative k*d.
    d = np.where(node.pos, node.scale, (node.scale * node.alpha * node.k) * node.e)
    d = d.astype(g._data.dtype, copy=False)
    y0 = saved_output(node, np.zeros(node.pos.shape, g._data.dtype))
    neg = _const((~node.pos).astype(g._data.dtype) * node.k)
    return g * (_const(d) + neg * y0)


@rule(A.Softplus)
def _softplus(node, g):
    x = saved_input(node, 0, node.x)
    bx = node.x * node.beta
    return E.where(_const(bx > node.threshold), g, g * (x * node.beta).sigmoid())


@rule(A.LogSigmoid)
def _log_sigmoid(node, g):
    return g * (-saved_input(node, 0, node.x)).sigmoid()


@rule(A.Gelu)
def _gelu(node, g):
    x = saved_input(node, 0, node.x)
    if node.approximate == "tanh":
        c = math.sqrt(2 / math.pi)
        u2 = (x + x * x * x * 0.044715) * (2 * c)
        s = u2.sigmoid()
        du = (x * x * (3 * 0.044715) + 1) * c
        return g * (s + x * 2 * (s * (1 - s)) * du)
    cdf = ((x * (1 / math.sqrt(2))).erf() + 1) * 0.5
    pdf = (x * x * -0.5).exp() * (1 / math.sqrt(2 * math.pi))
    return g * (cdf + x * pdf)


@rule(A.Silu)
def _silu(node, g):
    x = saved_input(node, 0, node.x)
    s = x.sigmoid()
    return g * (s * (x * (1 - s) + 1))


@rule(A.Softmax)
def _softmax(node, g):
    y = saved_output(node, node.y)
    return y * (g - (g * y).sum(node.dim, keepdim=True))


@rule(A.LogSoftmax)
def _log_softmax(node, g):
    y = saved_output(node, node.y)
    return g - y.exp() * g.sum(node.dim, keepdim=True)


@rule(A.Hardtanh)
def _hardtanh(node, g):
    return _keep(g, node.inside)


@rule(A.Threshold)
def _threshold(node, g):
    return _keep(g, node.keep)


# -- products -----------------------------------------------------------------------------

@rule(MatMul, Mm, Bmm)
def _matmul(node, g):
    a, b = saved_input(node, 0, node.a), saved_input(node, 1, node.b)
    ga = g.matmul(b.transpose(-1, -2)) if _needs(node, 0) else None
    gb = a.transpose(-1, -2).matmul(g) if _needs(node, 1) else None
    return ga, gb


@rule(Einsum)
def _einsum(node, g):
    # dx_i = einsum(g, the other operands) onto x_i's labels; a label of x_i that appears in
    # no other term and not in the output was summed away, so the result is broadcast back
    ins, out = node.eq.split("->")
    ins = ins.split(",")
    xs = [saved_input(node, j, x) for j, x in enumerate(node.xs)]
    grads = []
    for i, target in enumerate(ins):
        if not _needs(node, i):
            grads.append(None)
            continue
        if len(set(target)) != len(target):
            raise RuntimeError(f"double backward through {node.name()} with a repeated label "
                               f"('{target}') is not supported by dlbasic yet")
        others = [t for j, t in enumerate(ins) if j != i]
        present = set(out).union(*others)
        keep = "".join(c for c in target if c in present)
        r = Einsum.apply(g, *[x for j, x in enumerate(xs) if j != i],
                         eq=",".join([out] + others) + "->" + keep)
        if keep != target:
            for k, c in enumerate(target):
                if c not in keep:
                    r = r.unsqueeze(k)
            r = r.expand(*node.xs[i].shape)
        grads.append(r)
    return tuple(grads)


@rule(_MatVec)
def _matvec(node, g):
    a, b = saved_input(node, 0, node.a), saved_input(node, 1, node.b)
    if node.a1 and node.b1:
        return (g * b if _needs(node, 0) else None), (g * a if _needs(node, 1) else None)
    a2 = a.unsqueeze(0) if node.a1 else a
    b2 = b.unsqueeze(-1) if node.b1 else b
    g2 = g.unsqueeze(-2) if node.a1 else g
    if node.b1:
        g2 = g2.unsqueeze(-1)
    ga = gb = None
    if _needs(node, 0):
        ga = g2.matmul(b2.transpose(-1, -2))
        if node.a1:
            ga = ga.squeeze(-2)          # (..., k): the engine sums the batch away
    if _needs(node, 1):
        gb = a2.transpose(-1, -2).matmul(g2)
        if node.b1:
            gb = gb.squeeze(-1)
    return ga, gb


@rule(L.LinearBias, L.LinearNoBias)
def _linear(node, g):
    in_shape = node._in_meta[0][0]
    x2 = saved_input(node, 0, node.x2.reshape(in_shape)).reshape(-1, in_shape[-1])
    w = saved_input(node, 1, node.w)
    g2 = g.reshape(-1, g.shape[-1])
    dx = g2.matmul(w).reshape(in_shape) if _needs(node, 0) else None
    dw = g2.t().matmul(x2) if _needs(node, 1) else None
    if len(node._edges) == 2:
        return dx, dw
    return dx, dw, (g2.sum(0) if _needs(node, 2) else None)


# -- reductions ---------------------------------------------------------------------------

def _unreduce(g, shape, axes, keepdim):
    if not keepdim and axes:
        kept = tuple(1 if i in axes else s for i, s in enumerate(shape))
        g = g.reshape(kept)
    return g.expand(shape)


@rule(R.Sum)
def _sum(node, g):
    return _unreduce(g, node.shape, node.axes, node.keepdim)


# -- products: exact where an element is 0 (no division by x) ---------------------------

def _exclusive_cumprod(x, axis):
    """prod_{k < j} x_k at each j along ``axis`` (1 at j = 0), recorded."""
    n = x.shape[axis]
    ones = TensorBase._make(np.ones(tuple(x.shape[:axis]) + (1,) + tuple(x.shape[axis + 1:]),
                                    x._data.dtype))
    if n <= 1:
        return ones.expand(*x.shape) if n else x
    head = M.Cat.apply(ones, x.narrow(axis, 0, n - 1), axis=axis)
    return Cumprod.apply(head, axis=axis)


def _prod_of_others(x, axis):
    """prod_{k != j} x_k at each j along ``axis``: the prefix times the suffix product."""
    suffix = _exclusive_cumprod(x.flip(axis), axis).flip(axis)
    return _exclusive_cumprod(x, axis) * suffix


@rule(R.Prod)
def _prod(node, g):
    x = saved_input(node, 0, node.x)
    if node.axis is None:
        flat = x.reshape(-1)
        return (g.reshape(1) * _prod_of_others(flat, 0)).reshape(*x.shape)
    if not node.keepdim:
        g = g.unsqueeze(node.axis)
    return g * _prod_of_others(x, node.axis)


@rule(Cumprod)
def _cumprod(node, g):
    # dx_j = (x_1 ... x_{j-1}) S_j with S_j = g_j + x_{j+1} S_{j+1}: the recurrence runs as
    # one recorded step per position along the axis
    x, a = saved_input(node, 0, node.x), node.axis
    n = x.shape[a]
    if n == 0:
        return g
    s = [None] * n
    s[n - 1] = g.select(a, n - 1)
    for j in range(n - 2, -1, -1):
        s[j] = g.select(a, j) + x.select(a, j + 1) * s[j + 1]
    return _exclusive_cumprod(x, a) * M.Stack.apply(*s, axis=a)


@rule(R.Mean)
def _mean(node, g):
    return _unreduce(g / node.n if node.n else g, node.shape, node.axes, node.keepdim)


@rule(R.MaxAll)
def _max_all(node, g):
    mask = np.isnan(node.x) if np.isnan(node.y) else node.x == node.y
    return g * _const((mask / mask.sum()).astype(g._data.dtype))


@rule(R.AmaxAmin)
def _amax(node, g):
    if not node.keepdim:
        g = g.reshape(node.y.shape)
    mask = node.x == node.y
    return g * _const((mask / mask.sum(axis=node.axes, keepdims=True)).astype(g._data.dtype))


@rule(R.MaxDim)
def _max_dim(node, g):
    if not node.keepdim:
        g = g.unsqueeze(node.axis)
    onehot = np.zeros(node.shape, g._data.dtype)
    np.put_along_axis(onehot, node.idx, 1, axis=node.axis)
    return g * _const(onehot)


@rule(R.Norm2)
def _norm2(node, g):
    # g * x / y, 0 where y == 0; y is 1 there inside the division so no inf reaches the graph
    x = saved_input(node, 0, node.x)
    out = node.y if node.keepdim else np.asarray(node.y.squeeze(axis=node.axes))
    y = saved_output(node, out).reshape(node.y.shape)
    if not node.keepdim:
        g = g.reshape(node.y.shape)
    zero = node.y == 0
    y_safe = y + _const(zero.astype(node.y.dtype))
    return E.where(_const(zero), _zero(g), g * x / y_safe)


# -- movement -----------------------------------------------------------------------------

@rule(M.Reshape, M._SqueezeAll, M._SqueezeDim, M._SqueezeDims, M._Unsqueeze)
def _reshape(node, g):
    return g.reshape(node.in_shape)


@rule(M.Permute, M.Transpose, M._T)
def _permute(node, g):
    return g.permute(*[int(d) for d in np.argsort(node.dims)])


@rule(M.Cat)
def _cat(node, g):
    parts = iter(g.split(node.sizes, node.axis) if len(node.sizes) > 1 else (g,))
    return tuple(TensorBase._make(np.zeros((0,), g._data.dtype)) if e else next(parts)
                 for e in node.empty)


@rule(M.Stack)
def _stack(node, g):
    return tuple(M.select(g, node.axis, i) for i in range(g.shape[node.axis]))


@rule(M.Split)
def _split(node, *gs):
    return M.cat(gs, node.axis)


@rule(M.GetItem, M.GetItemView)
def _getitem(node, g):
    # zeros with g written at the key (added, for repeated advanced indices): a recorded put
    zeros = TensorBase._make(np.zeros(node.shape, g._data.dtype))
    return M.IndexPut.apply(zeros, g, key=node.key, accumulate=node.advanced)


@rule(M.IndexPut)
def _index_put(node, g):
    gx = gv = None
    if _needs(node, 0):
        gx = g
        if not node.accumulate:
            gx = M.IndexPut.apply(g, TensorBase._make(np.zeros((), g._data.dtype)),
                                  key=node.key, accumulate=False)
    if _needs(node, 1):
        # (advanced=True: its backward adds, right for basic and repeated indices alike)
        gv = M.GetItem.apply(g, key=node.key, advanced=True)
    return gx, gv


@rule(M.Scatter)
def _scatter(node, g):
    # dx = g with the written places zeroed (reduce="add": g itself), dsrc = g read there
    gx = gs = None
    if _needs(node, 0):
        gx = g if node.reduce == "add" else M.IndexPut.apply(g, _zero(g), key=node.key,
                                                             accumulate=False)
    if _needs(node, 1):
        gs = M.GetItem.apply(g, key=node.key, advanced=True)
    return gx, gs


# -- losses -------------------------------------------------------------------------------

def _per_sample(node, g, m):
    """The upstream gradient of each sample's loss, as a (m, 1) Tensor."""
    if node.reduction == "none":
        return g.reshape(m, 1)
    if node.reduction == "mean":
        g = g / node.denom if node.denom != 0 else g * 0
    return g.reshape(1, 1)


@rule(LS.CrossEntropy)
def _cross_entropy(node, g):
    # softmax is shift-invariant per row, so logp (= x - lse) stands in for the unsaved x:
    # softmax(logp) = softmax(x), with the same Jacobian
    logp, t, w_t = node.logp, node.t, node.w_t
    m, c = logp.shape
    p = saved_input(node, 0, logp).softmax(1)
    eps = node.eps
    dt = logp.dtype
    onehot = np.zeros((m, c), dt)
    onehot[np.arange(m), t] = 1
    d = (p - _const(onehot)) * _const(((1 - eps) * w_t)[:, None].astype(dt))
    if eps > 0:
        wsum = node.weight.sum() if node.weight is not None else c
        wvec = node.weight if node.weight is not None else np.ones(c, dt)
        d = d + (p * wsum - _const(wvec.astype(dt))) * \
            _const(((eps / c) * node.valid)[:, None].astype(dt))
    return d * _per_sample(node, g, m), None


@rule(LS.NllLoss)
def _nll_loss(node, g):
    m, c = node.shape
    pick = np.zeros((m, c), node.w_t.dtype)
    pick[np.arange(m), node.t] = -node.w_t
    return _const(pick) * _per_sample(node, g, m), None, None


# -- convolution --------------------------------------------------------------------------
# A convolution y = C(x, W) is bilinear.  Its input gradient dx = C_x*(g, W) is the transposed
# convolution of g (ConvTranspose, the same kernel), and its weight gradient dW = C_w*(g, x) is
# the op below; both are bilinear again, so their own gradients are convolutions of the three
# kinds (forward, transposed, weight gradient), and every order is covered.

class ConvWeightGrad(Op):
    """dW = C_w*(g, x): the weight gradient of the convolution y = C(x, W), as an op of x and g
    (4-D, NCHW; ``padding`` one (before, after) pair per dim).  As <U, dW> = <C(x, U), g>:
    d<U, dW>/dg = C(x, U), a convolution of x with U;  d<U, dW>/dx = C_x*(g, U)."""
    _torch_name = "ConvolutionBackwardBackward0"
    _saved_attrs = ("x", "g")

    @staticmethod
    def flops(call):
        """Every weight is a dot product over the batch and the output positions."""
        g, w = call.in_shapes[1], call.out_shapes[0]
        return _flops.matmul_like(call, _flops.numel(g) * _flops.numel(w[1:]),
                                  _flops.numel(g) // max(int(w[0]), 1), False)

    def forward(self, x, g, *, wshape, stride, padding, dilation, groups):
        self.x, self.g = x, g
        self.geom = (wshape, stride, padding, dilation, groups)
        return kernels.conv2d_backward_weight(to_nhwc(x, padding), g, wshape, stride, dilation,
                                              groups)

    def backward(self, u):
        wshape, stride, padding, dilation, groups = self.geom
        nx, ng = self.needs_input_grad
        dx = kernels.conv2d_backward_input(self.g, u, self.x.shape, stride, padding, dilation,
                                           groups) if nx else None
        dg = kernels.conv2d_forward(self.x, u, None, stride, padding, dilation, groups,
                                    keep_input=False)[0] if ng else None
        return dx, dg


def _conv(x, w, stride, padding, dilation, groups):
    """C(x, W) on 4-D Tensors, recorded."""
    return Convolution.apply(x, w, stride=stride, padding=padding, dilation=dilation,
                             groups=groups)


def _conv_input_grad(g, w, stride, padding, dilation, groups, spatial):
    """C_x*(g, W) on 4-D Tensors, recorded: the transposed convolution, cropped to the input's
    frame (it starts ``before`` rows into the full output)."""
    return ConvTranspose.apply(g, w, stride=stride, padding=tuple(p[0] for p in padding),
                               dilation=dilation, groups=groups, out_spatial=tuple(spatial))


def _conv_weight_grad(x, g, wshape, stride, padding, dilation, groups):
    return ConvWeightGrad.apply(x, g, wshape=tuple(wshape), stride=stride, padding=padding,
                                dilation=dilation, groups=groups)


def _grad_4d(node, g, nd):
    """The upstream gradient of a convolution as a batched 2-D one's: (N, C, H, W), with a
    batch axis for unbatched input and a unit H for 1-D."""
    g4 = g.unsqueeze(0) if node.unbatched else g
    return g4.unsqueeze(2) if nd == 1 else g4


def _with_bias_grad(node, g4, dx, dw):
    """(dx, dw), and db = g summed over the batch and the positions when the op has a bias."""
    if len(node.needs_input_grad) > 2:
        return dx, dw, (g4.sum((0, 2, 3)) if node.needs_input_grad[2] else None)
    return dx, dw


@rule(Convolution)
def _convolution(node, g):
    nd, xshape, wshape, stride, padding, dilation, groups = node.geom
    need = node.needs_input_grad
    in_x, in_w = node._in_meta[0][0], node._in_meta[1][0]
    g4 = _grad_4d(node, g, nd)
    dx = dw = None
    if need[0]:
        w4 = saved_input(node, 1, node.w.reshape(in_w))
        w4 = w4.unsqueeze(2) if nd == 1 else w4
        dx = _conv_input_grad(g4, w4, stride, padding, dilation, groups, xshape[2:])
        dx = dx.reshape(in_x)
    if need[1]:
        # the kernel kept x padded and channels-last: the input is its inner window
        (pt, _), (pl, _) = padding
        x_arr = np.ascontiguousarray(node.saved[:, pt:pt + xshape[2], pl:pl + xshape[3]]
                                     .transpose(0, 3, 1, 2))
        x4 = saved_input(node, 0, x_arr.reshape(in_x)).reshape(xshape)
        dw = _conv_weight_grad(x4, g4, wshape, stride, padding, dilation, groups).reshape(in_w)
    return _with_bias_grad(node, g4, dx, dw)


@rule(ConvWeightGrad)
def _conv_weight_grad_rule(node, u):
    wshape, stride, padding, dilation, groups = node.geom
    x, g = saved_input(node, 0, node.x), saved_input(node, 1, node.g)
    dx = _conv_input_grad(g, u, stride, padding, dilation, groups, node.x.shape[2:]) \
        if _needs(node, 0) else None
    dg = _conv(x, u, stride, padding, dilation, groups) if _needs(node, 1) else None
    return dx, dg


@rule(ConvTranspose)
def _conv_transpose(node, g):
    # dx = C(g_full, W), dW = C_w*(x, g_full): g placed back into the full output's frame
    nd, stride, padding, dilation, groups, wshape, full, out_spatial = node.geom
    need = node.needs_input_grad
    in_x, in_w = node._in_meta[0][0], node._in_meta[1][0]
    g4 = _grad_4d(node, g, nd)
    y_win, f_win = ConvTranspose._windows(padding, out_spatial, full)
    zeros = TensorBase._make(np.zeros(tuple(g4.shape[:2]) + tuple(full), g._data.dtype))
    g_full = M.IndexPut.apply(zeros, g4[y_win], key=f_win, accumulate=False)
    no_pad = ((0, 0), (0, 0))
    dx = dw = None
    if need[0]:
        w4 = saved_input(node, 1, node.w.reshape(in_w)).reshape(wshape)
        dx = _conv(g_full, w4, stride, no_pad, dilation, groups).reshape(in_x)
    if need[1]:
        x4 = saved_input(node, 0, node.x.reshape(in_x)).reshape(node.x.shape)
        dw = _conv_weight_grad(g_full, x4, wshape, stride, no_pad, dilation, groups)
        dw = dw.reshape(in_w)
    return _with_bias_grad(node, g4, dx, dw)


# -- normalisation ------------------------------------------------------------------------
# The fused forwards keep xhat and 1/std, not the graph of how they came from x; the rules
# recompute them with Tensor ops from the saved input, so that their dependence on x is
# differentiated too.

@rule(NativeLayerNorm)
def _layer_norm(node, g):
    # layer norm is invariant to a shift of each row, Jacobian included: x - mean, which is
    # xhat / rstd, stands in for the unsaved x
    n = node.xhat.shape[1]
    need = node.needs_input_grad
    x_meta = node._in_meta[0]
    xc_arr = (node.xhat / node.rstd).astype(x_meta[1], copy=False).reshape(x_meta[0])
    x = saved_input(node, 0, xc_arr).reshape(-1, n)
    xc = x - x.mean(1, keepdim=True)
    rstd = ((xc * xc).mean(1, keepdim=True) + node.eps).rsqrt()
    xhat = xc * rstd
    g2 = g.reshape(-1, n)
    k = 1
    gw = g2
    if node.affine_w:
        gw = g2 * saved_input(node, 1, node.w).reshape(1, n)
        k = 2
    out = [None]
    if need[0]:
        dx = (gw * n - gw.sum(1, keepdim=True) - xhat * (gw * xhat).sum(1, keepdim=True)) \
            * (rstd / n)
        out[0] = dx.reshape(node.shape)
    if node.affine_w:
        out.append((g2 * xhat).sum(0).reshape(node.wshape) if need[1] else None)
    if node.affine_b:
        out.append(g2.sum(0).reshape(node.wshape) if need[k] else None)
    return tuple(out)


@rule(BatchNorm)
def _batch_norm(node, g):
    nx, nw, nb = node.needs_input_grad
    shape = node._in_meta[0][0]
    g3 = g.reshape(shape[0], shape[1], -1)
    c = shape[1]
    w = saved_input(node, 1, node.w).reshape(1, c, 1)
    dx = dw = db = None
    if nb:
        db = g3.sum((0, 2))
    if node.training and (nx or nw):
        x3 = saved_input(node, 0, node.x3.reshape(shape)).reshape(node.x3.shape)
        xc = x3 - x3.mean((0, 2), keepdim=True)
        rstd = ((xc * xc).mean((0, 2), keepdim=True) + node.eps).rsqrt()
        xhat = xc * rstd
        if nw:
            dw = (g3 * xhat).sum((0, 2))
        if nx:
            dx = (w * rstd) * (g3 - g3.mean((0, 2), keepdim=True)
                               - xhat * (g3 * xhat).mean((0, 2), keepdim=True))
            dx = dx.reshape(shape)
    elif not node.training:
        # eval: the running statistics are constants
        rstd = _const(node.rstd.reshape(1, c, 1))
        if nw:
            x3 = saved_input(node, 0, node.x3.reshape(shape)).reshape(node.x3.shape)
            dw = (g3 * ((x3 - _const(node.mean.reshape(1, c, 1))) * rstd)).sum((0, 2))
        if nx:
            dx = (g3 * (w * rstd)).reshape(shape)
    return dx, dw, db


@rule(BatchNormReLU)
def _batch_norm_relu(node, g):
    # ReLU's rule, then BatchNorm's: the mask is a constant (ReLU's second derivative is 0)
    return _batch_norm(node, _keep(g, ~(node.y3.reshape(g.shape) <= 0)))


# -- pooling ------------------------------------------------------------------------------

class LinearBackward(Op):
    """dx = B g: the backward of an op linear in its input (pooling with its window divisors
    or argmax positions fixed by the forward, interpolation), as an op of g.  Its gradient is
    B^T u, the op's own linearisation -- computed when ``transpose`` -- and the gradient of
    that is B again, so every order is covered."""
    _saved_attrs = ("src",)
    flops = _flops.elementwise(1, on="in")

    def forward(self, g, *, src, transpose):
        if src._freed:
            raise RuntimeError(_FREED_MSG)
        self.src, self.transpose = src, transpose
        self._torch_name = src.name()[:-1] + "Backward0" if not transpose else src.name()
        return _linearization(src, g) if transpose else src.backward(g)

    def backward(self, u):
        return _linearization(self.src, u) if not self.transpose else self.src.backward(u)


def _linearization(src, u):
    """J u for the linear node ``src``: its output's change along an input change u."""
    if isinstance(src, Interpolate):
        return src.resample(u)
    return _pool_adjoint(src, u)


def _pool_adjoint(src, u):
    """J u for the pooling node ``src``: its output's change along an input change u."""
    if isinstance(src, P.AdaptiveMaxPool):
        n, c, h, w = src.xshape
        u4 = u[:, :, None, :] if src.nd == 1 else u
        out = np.take_along_axis(u4.reshape(n, c, h * w), src.idx.reshape(n, c, -1), 2)
        out = out.reshape(src.idx.shape)
        return out[:, :, 0, :] if src.nd == 1 else out
    nd, _, _, k, s, p, d, out_hw = src.geom
    u4 = u[:, :, None, :] if nd == 1 else u
    up = P._padded(u4, p, out_hw, k, s, d, 0)
    out = np.zeros(u4.shape[:2] + tuple(out_hw), u.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            v = up[window_slices(i, j, out_hw, s, d)]
            if isinstance(src, P.AvgPool):
                out += v
            else:                                   # max pool: the window's argmax only
                out += np.where(src.arg == i * k[1] + j, v, 0)
    if isinstance(src, P.AvgPool):
        out /= src.div
    return out[:, :, 0, :] if nd == 1 else out


@rule(P.MaxPool, P.AvgPool, P.AdaptiveMaxPool, Interpolate)
def _linear_op(node, g):
    return LinearBackward.apply(g, src=node, transpose=False)


@rule(LinearBackward)
def _linear_backward(node, u):
    return LinearBackward.apply(u, src=node.src, transpose=not node.transpose)


# unfold and fold are each other's adjoints, so each one's backward is the other

@rule(Im2Col)
def _unfold(node, g):
    kernel_size, dilation, padding, stride, blocks = node.geometry
    return Col2Im.apply(g, output_size=node.hw, kernel_size=kernel_size, dilation=dilation,
                        padding=padding, stride=stride, blocks=blocks)


@rule(Col2Im)
def _fold(node, g):
    kernel_size, dilation, padding, stride, blocks = node.geometry
    return Im2Col.apply(g, kernel_size=kernel_size, dilation=dilation, padding=padding,
                        stride=stride, blocks=blocks)


@rule(P.AdaptiveAvgPool)
def _adaptive_avg_pool(node, g):
    # dx = P_h^T g P_w with the constant averaging matrices
    g4 = g.unsqueeze(2) if node.nd == 1 else g
    dx = _const(node.ph.T).matmul(g4.matmul(_const(node.pw)))
    return dx.squeeze(2) if node.nd == 1 else dx


@rule(R.Logsumexp)
def _logsumexp(node, g):
    x = saved_input(node, 0, node.x)
    out = node.y if node.keepdim else np.asarray(node.y.squeeze(axis=node.axes))
    y = saved_output(node, out).reshape(node.y.shape)
    if not node.keepdim:
        g = g.reshape(node.y.shape)
    return g * (x - y).exp()


@rule(R.Var)
def _var(node, g):
    x = saved_input(node, 0, node.x)
    if not node.keepdim:
        g = g.reshape(tuple(1 if i in node.axes else s for i, s in enumerate(node.x.shape)))
    centered = x - x.mean(node.axes, keepdim=True)
    return g * centered * (2 / node.x.dtype.type(node.denom))


@rule(R.Std)
def _std(node, g):
    y = saved_output(node, node.y)
    zero = node.y == 0
    y_safe = y + _const(zero.astype(node.y.dtype))      # (no inf reaches the graph)
    return _var(node, E.where(_const(zero), _zero(g), g / (y_safe * 2)))


@rule(LS.BinaryCrossEntropy)
def _bce(node, g):
    x, y = saved_input(node, 0, node.x), saved_input(node, 1, node.y)
    gx = g * (x - y) / (x * (1 - x)).clamp(min=1e-12) if _needs(node, 0) else None
    gy = g * ((-x).log1p() - x.log()) if _needs(node, 1) else None
    return gx, gy


@rule(LS.BinaryCrossEntropyWithLogits)
def _bce_with_logits(node, g):
    x, y = saved_input(node, 0, node.x), saved_input(node, 1, node.y)
    pw = node.pw
    lw = 1 if pw is None else (y * _const(pw - 1) + 1)
    gx = g * ((1 - y) - lw * (-x).sigmoid()) if _needs(node, 0) else None
    gy = None
    if _needs(node, 1):
        gy = g * (-x) if pw is None else \
            g * (-x + _const(pw - 1) * A.Softplus.apply(-x, beta=1.0, threshold=20.0))
    return (gx, gy) if pw is None else (gx, gy, None)


@rule(LS.SmoothL1)
def _smooth_l1(node, g):
    # slope = scale * clip(d / beta, -1, 1); d/dd slope = scale / beta inside |d| < beta.  d is
    # not saved: x0 - y0, the inputs as zero-valued Tensors connected to the graph, has the
    # value 0 and the derivative of d, so slope + (scale/beta) * inside * (x0 - y0) has the
    # slope's value and derivative
    slope = _const(node.slope)
    if node.beta != 0:
        inside = np.abs(node.slope) < abs(node.scale)
        x0, y0 = _zero_valued_input(node, 0), _zero_valued_input(node, 1)
        coef = _const((inside * (node.scale / node.beta)).astype(node.slope.dtype))
        slope = slope + coef * (x0 - y0)
    gd = g * slope
    return gd, (-gd if _needs(node, 1) else None)


# -- more elementwise and movement --------------------------------------------------------

@rule(E.Reciprocal)
def _reciprocal(node, g):
    y = saved_output(node, node.y)
    return g * -(y * y)


@rule(E.Sign, E.Floor, E.Ceil, E.Trunc, E.Round)
def _step(node, g):
    return TensorBase._make(np.zeros(node._in_meta[0][0], g._data.dtype))


@rule(E.Frac)
def _frac(node, g):
    return g


@rule(E.Erfc)
def _erfc(node, g):
    x = saved_input(node, 0, node.x)
    return g * ((-(x * x)).exp() * (-2 / math.sqrt(math.pi)))


@rule(E.Asin, E.Acos)
def _asin_acos(node, g):
    x = saved_input(node, 0, node.x)
    d = g / (1 - x * x).sqrt()
    return d if type(node) is E.Asin else -d


@rule(A.Hardsigmoid)
def _hardsigmoid(node, g):
    return _keep(g, node.inside) / 6


@rule(M.Flip)
def _flip(node, g):
    return g.flip(list(node.axes))


@rule(M.Tril)
def _tril(node, g):
    return M.triu(g, node.k) if node.upper else M.tril(g, node.k)


@rule(R.Cumsum)
def _cumsum(node, g):
    a = node.axis
    if a is None or g.ndim == 0:
        return g.reshape(node._in_meta[0][0])
    return g.flip([a]).cumsum(a).flip([a])


@rule(M.Repeat)
def _repeat(node, g):
    shp = []
    for r, s in zip(node.reps, node.in_shape):
        shp += [r, s]
    return g.reshape(shp).sum(tuple(range(0, len(shp), 2)))


@rule(M.Gather)
def _gather(node, g):
    zeros = TensorBase._make(np.zeros(node.shape, g._data.dtype))
    return M.IndexPut.apply(zeros, g, key=M._along(node.index, node.axis), accumulate=True), \
        None


@rule(EM.Embedding)
def _embedding(node, g):
    idx = node.idx.reshape(-1)
    g2 = g.reshape(idx.size, -1)
    if node.scale:
        # the scaled gradient is no derivative, so its derivative is not defined (torch's
        # differs from the finite differences): refuse rather than pick one
        raise RuntimeError(f"double backward through {node.name()} with "
                           "scale_grad_by_freq=True is not supported by dlbasic yet")
    zeros = TensorBase._make(np.zeros((node.num, g2.shape[1]), g._data.dtype))
    dw = M.IndexPut.apply(zeros, g2, key=(idx,), accumulate=True)
    if node.padding_idx is not None:
        keep = np.ones((node.num, 1), g._data.dtype)
        keep[node.padding_idx] = 0
        dw = dw * _const(keep)
    return dw


@rule(A.Mish)
def _mish(node, g):
    x = saved_input(node, 0, node.x)
    t = A.Softplus.apply(x, beta=1.0, threshold=20.0).tanh()
    return g * (t + x * x.sigmoid() * ((1 - t) * (1 + t)))


@rule(A.Hardswish)
def _hardswish(node, g):
    x = saved_input(node, 0, node.x)
    inner = _const((node.x > -3) & (node.x < 3))
    return E.where(inner, g * (x / 3 + 0.5), _keep(g, node.x >= 3))


@rule(A.Prelu)
def _prelu(node, g):
    # gx = g (x > 0) or g w;  gw = sum of g x where x <= 0, over all but the channel axis
    x, pos = saved_input(node, 0, node.x), _const(node.x > 0)
    w = saved_input(node, 1, node.wb.reshape(node.wshape)).reshape(node.wb.shape)
    gx = E.where(pos, g, g * w) if _needs(node, 0) else None
    gw = None
    if _needs(node, 1):
        contrib = E.where(pos, _zero(g), g * x)
        if node.wb.ndim == 0:
            gw = contrib.sum().reshape(node.wshape)
        else:
            gw = contrib.sum((0,) + tuple(range(2, node.x.ndim))).reshape(node.wshape)
    return gx, gw


# -- attention ----------------------------------------------------------------------------

def _input_view(node, i, b):
    """Input ``i``'s array from ``b``, the op's view of it broadcast over the whole batch: the
    leading axes it gained dropped, the size-1 axes it was stretched along taken once."""
    shape = node._in_meta[i][0]
    b = b[(0,) * (b.ndim - len(shape))]
    return b[tuple(slice(0, 1) if n == 1 and m != 1 else slice(None)
                   for n, m in zip(shape, b.shape))]


@rule(ScaledDotProductAttention)
def _sdpa(node, g):
    # P = softmax(scale q k^T + m), out = (P * drop) v, recomputed from the inputs so that it
    # is differentiated too; then dv = (P*drop)^T g, dP = (g v^T) * drop,
    # dS = P * (dP - rowsum(dP * P)), dq = scale dS k, dk = scale dS^T q, dm = dS
    q, k, v = (saved_input(node, i, _input_view(node, i, a))
               for i, a in enumerate((node.q, node.k, node.v)))
    s = q.matmul(k.transpose(-1, -2)) * node.scale
    if node.has_mask:
        s = s + saved_input(node, 3, _input_view(node, 3, node.m))
    if node.causal_bias is not None:
        s = s + _const(node.causal_bias)
    p_arr = node.p[0] if node.nobatch else node.p
    dead = None
    if node.has_mask:
        # rows whose every key is masked have p = 0 (not softmax's NaN): keep them out
        dead = (p_arr.sum(-1, keepdims=True) == 0)
        if dead.any():
            s = E.where(_const(np.broadcast_to(dead, p_arr.shape)), _zero(s), s)
        else:
            dead = None
    p = s.softmax(-1)
    if dead is not None:
        p = _keep(p, ~np.broadcast_to(dead, p_arr.shape))
    drop = None if node.drop is None else _const(node.drop[0] if node.nobatch else node.drop)
    pd = p if drop is None else p * drop
    need = node.needs_input_grad
    dv = pd.transpose(-1, -2).matmul(g) if need[2] else None
    dq = dk = dm = None
    if need[0] or need[1] or (node.has_mask and need[3]):
        dp = g.matmul(v.transpose(-1, -2))
        if drop is not None:
            dp = dp * drop
        ds = p * (dp - (dp * p).sum(-1, keepdim=True))
        dq = ds.matmul(k) * node.scale if need[0] else None
        dk = ds.transpose(-1, -2).matmul(q) * node.scale if need[1] else None
        dm = ds if node.has_mask and need[3] else None
    return (dq, dk, dv, dm) if node.has_mask else (dq, dk, dv)
