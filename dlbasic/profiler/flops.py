"""Counting FLOPs and MACs at the level of primitive ops.

The notes (DL_basic.md, "FLOPs"): one output of a convolution costs ``kh*kw*cin`` multiplies
and ``kh*kw*cin - 1`` additions (``+1`` with a bias), so a convolution costs about
``2*kh*kw*cin*cout*Hout*Wout`` FLOPs -- FLOPs = 2 x MACs.  (FLOPs count work; FLOPS, per
second, measure a machine.)

How counting works: while a count runs, ``dlbasic.autograd.function._observers`` holds a
callback that every primitive ``Op`` calls after its forward with ``(op_class, inputs, params,
outputs)``; forward pre-hooks / hooks on every submodule keep a stack of the module path that is
running, and each primitive's cost is charged to the innermost module on that stack.  Functional
calls and ``@`` are therefore counted, a module that calls another is never counted twice, and
an op that has no rule below is reported by name ("uncounted ops") rather than silently costing
zero.

Cost buckets per op (all integers):
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
import time
import weakref

import numpy as np

from ..autograd import function as _function

__all__ = ["count_flops", "OpCounter", "RULES", "ZERO_COST", "conv_macs"]


# ---------------------------------------------------------------------------------------
# Rules: op class name -> cost
# ---------------------------------------------------------------------------------------

def _numel(shape):
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
        return sum(_numel(s) for s in self.out_shapes)

    @property
    def in_numel(self):
        return _numel(self.in_shapes[0]) if self.in_shapes else 0


def _cost(macs=0, matmul_flops=0, elementwise=0, transcendental=0, backward=0,
          backward_elementwise=0, exact_matmul_flops=None, exact_elementwise=None):
    return {"macs": macs, "matmul_flops": matmul_flops, "elementwise": elementwise,
            "transcendental": transcendental, "backward": backward,
            "backward_elementwise": backward_elementwise,
            "exact_matmul_flops": matmul_flops if exact_matmul_flops is None
            else exact_matmul_flops,
            "exact_elementwise": elementwise if exact_elementwise is None else exact_elementwise}


def _n_grads(call, idx):
    return sum(1 for i in idx if i < len(call.needs_grad) and call.needs_grad[i])


def _matmul_type(call, macs, k, has_bias, grad_idx=(0, 1), bias_idx=2):
    """A product whose every output is a length-k dot product (+ optional bias).

    Both conventions are recorded: 2 x MACs (the bias add going to the elementwise bucket) and
    the notes' exact count, k multiplies and k - 1 adds per output, + 1 add for the bias."""
    outs = call.out_numel
    bias = outs if has_bias else 0
    bwd = 2 * macs * _n_grads(call, grad_idx)
    bwd_ew = bias if _n_grads(call, (bias_idx,)) else 0
    return _cost(macs=macs, matmul_flops=2 * macs, elementwise=bias, backward=bwd,
                 backward_elementwise=bwd_ew,
                 exact_matmul_flops=outs * (2 * k - 1) + bias, exact_elementwise=0)


def _rule_matmul(call):
    a, b = call.in_shapes[0], call.in_shapes[1]
    k = a[-1]
    return _matmul_type(call, call.out_numel * k, k, False)


def _rule_matvec(call):
    a = call.in_shapes[0]
    k = a[-1]
    return _matmul_type(call, max(call.out_numel, 1) * k, k, False)


def _rule_einsum(call):
    eq = call.params.get("eq", "")
    ins, _, out = eq.partition("->")
    terms = ins.split(",")
    sizes = {}
    for term, shape in zip(terms, call.in_shapes):
        for c, s in zip(term, shape):
            sizes[c] = int(s)
    if len(terms) == 1:                      # a pure reduction / transpose
        n = call.in_numel if set(out) != set(terms[0]) else 0
        return _cost(elementwise=n, backward_elementwise=n * _n_grads(call, (0,)))
    total = _numel(sizes.values())           # naive contraction: one MAC per index tuple
    contracted = [c for c in sizes if c not in out]
    k = _numel(sizes[c] for c in contracted) if contracted else 1
    macs = total * (len(terms) - 1)
    return _cost(macs=macs, matmul_flops=2 * macs,
                 exact_matmul_flops=call.out_numel * (2 * k - 1) if len(terms) == 2 else None,
                 backward=2 * macs * _n_grads(call, range(len(terms))))


def conv_macs(out_shape, weight_shape):
    """MACs of a convolution: every output element is a dot product over
    ``cin/groups * kh * kw`` (= weight_shape[1:]) inputs."""
    return _numel(out_shape) * _numel(weight_shape[1:])


def _rule_conv(call):
    w = call.in_shapes[1]
    has_bias = len(call.in_shapes) > 2 and call.in_shapes[2] is not None and \
        _numel(call.in_shapes[2]) > 0
    k = _numel(w[1:])
    return _matmul_type(call, conv_macs(call.out_shapes[0], w), k, has_bias)


def _rule_conv_transpose(call):
    # every input element scatters into cout/groups * kh * kw outputs
    x, w = call.in_shapes[0], call.in_shapes[1]
    macs = _numel(x) * _numel(w[1:])
    has_bias = len(call.in_shapes) > 2 and _numel(call.in_shapes[2]) > 0
    return _matmul_type(call, macs, _numel(w[1:]), has_bias)


def _rule_linear(call):
    w = call.in_shapes[1]                     # (out_features, in_features)
    k = w[-1]
    has_bias = len(call.in_shapes) > 2 and _numel(call.in_shapes[2]) > 0
    return _matmul_type(call, call.out_numel * k, k, has_bias)


def _rule_addmm(call):
    # addmm(bias, a, b): inputs (bias, a, b)
    a = call.in_shapes[1]
    k = a[-1]
    macs = call.out_numel * k
    return _matmul_type(call, macs, k, True, grad_idx=(1, 2), bias_idx=0)


def _elementwise(per_element=1, transcendental=0, on="out"):
    def rule(call):
        n = call.out_numel if on == "out" else call.in_numel
        ew, tr = per_element * n, transcendental * n
        grads = _n_grads(call, range(len(call.in_shapes)))
        return _cost(elementwise=ew, transcendental=tr,
                     backward_elementwise=(ew + tr) * grads)
    return rule


def _rule_reduction(call):
    n = call.in_numel                          # ~one add per input element
    return _cost(elementwise=n, backward_elementwise=n * _n_grads(call, (0,)))


def _rule_var(call):
    n = call.in_numel                          # mean, subtract, square, sum
    return _cost(elementwise=4 * n, backward_elementwise=4 * n * _n_grads(call, (0,)))


def _rule_softmax(call):
    # max-subtract, sum, divide: 3 / element; exp: 1 transcendental / element
    n = call.in_numel
    return _cost(elementwise=3 * n, transcendental=n,
                 backward_elementwise=4 * n * _n_grads(call, (0,)))


def _rule_log_softmax(call):
    # as softmax, plus one log per row
    n = call.in_numel
    dim = call.params.get("dim", -1)
    shape = call.in_shapes[0]
    rows = n // shape[dim] if shape and shape[dim] else 0
    return _cost(elementwise=3 * n, transcendental=n + rows,
                 backward_elementwise=3 * n * _n_grads(call, (0,)))


def _rule_batchnorm(call):
    # eval: y = x * scale + shift (2 / element, scale and shift folded per channel);
    # training: + batch statistics (mean: 1, variance: 3 per element) = 6 / element
    n = call.in_numel
    training = bool(call.params.get("training", False))
    ew = (6 if training else 2) * n
    return _cost(elementwise=ew, backward_elementwise=ew * (1 if _n_grads(call, (0,)) else 0))


def _pool_window(call):
    k = call.params.get("kernel_size")
    if k is None:
        return None
    if isinstance(k, int):
        return k * k
    return _numel(k)


def _rule_pool(call):
    # max / average pooling: k*k comparisons or additions per output
    win = _pool_window(call)
    if win is None:                           # adaptive: about one op per input element
        n = call.in_numel
    else:
        n = call.out_numel * win
    return _cost(elementwise=n, backward_elementwise=n * _n_grads(call, (0,)))


def _rule_loss(per_element=2, transcendental=0):
    def rule(call):
        n = call.in_numel
        return _cost(elementwise=per_element * n, transcendental=transcendental * n,
                     backward_elementwise=(per_element + transcendental) * n
                     * _n_grads(call, range(len(call.in_shapes))))
    return rule


def _zero(call):
    return _cost()


# primitives that only move or reinterpret data: no arithmetic
ZERO_COST = {
    "Reshape", "View", "Permute", "Transpose", "Expand", "Repeat", "Cat", "Stack", "Split",
    "Flip", "GetItem", "GetItemView", "Gather", "Clone", "Tril", "Cast", "Pad", "ConstantPad",
    "ConstantPadNd", "Contiguous", "Squeeze", "Unsqueeze", "Flatten", "Unfold", "IndexSelect",
    "Roll", "Narrow", "Slice", "Detach", "Identity", "Embedding", "Scatter",
    "IndexPut", "Where", "MaskedFill",
}

_TRANSCENDENTAL = ("Exp", "Log", "Log1p", "Expm1", "Sqrt", "Rsqrt", "Sin", "Cos", "Tan",
                   "Tanh", "Sigmoid", "Atan", "Asin", "Acos", "Sinh", "Cosh", "Erf", "PowTensor",
                   "LogSigmoid", "Softplus", "Elu", "Silu", "Mish", "Gelu")

RULES = {
    # matmul-type
    "MatMul": _rule_matmul, "Mm": _rule_matmul, "Bmm": _rule_matmul, "_MatVec": _rule_matvec,
    "Einsum": _rule_einsum, "Addmm": _rule_addmm, "Linear": _rule_linear,
    "LinearBias": _rule_linear, "LinearNoBias": _rule_linear,
    "LinearOp": _rule_linear, "Conv2d": _rule_conv, "Conv2dOp": _rule_conv, "Conv1d": _rule_conv,
    "Conv2D": _rule_conv, "Convolution": _rule_conv, "ConvNd": _rule_conv,
    "ConvTranspose2d": _rule_conv_transpose,
    # elementwise arithmetic: one op per output element
    "Add": _elementwise(), "AddScaled": _elementwise(2), "Sub": _elementwise(),
    "Mul": _elementwise(), "Div": _elementwise(), "Neg": _elementwise(), "Abs": _elementwise(),
    "PowScalar": _elementwise(), "Maximum": _elementwise(), "Minimum": _elementwise(),
    "ClampScalar": _elementwise(), "ClampTensor": _elementwise(2),
    "Relu": _elementwise(), "LeakyRelu": _elementwise(), "Prelu": _elementwise(2),
    "RreluWithNoise": _elementwise(2), "Hardtanh": _elementwise(), "Hardsigmoid": _elementwise(3),
    "Hardswish": _elementwise(4), "Threshold": _elementwise(),
    # reductions
    "Sum": _rule_reduction, "Mean": _rule_reduction, "Prod": _rule_reduction,
    "MaxAll": _rule_reduction, "AmaxAmin": _rule_reduction, "MaxDim": _rule_reduction,
    "Cumsum": _rule_reduction, "Norm2": _elementwise(2, on="in"), "Var": _rule_var,
    "Logsumexp": _rule_softmax,
    # fused kernels
    "Softmax": _rule_softmax, "LogSoftmax": _rule_log_softmax,
    "BatchNorm": _rule_batchnorm, "BatchNorm2d": _rule_batchnorm, "BatchNormOp": _rule_batchnorm,
    "MaxPool2d": _rule_pool, "AvgPool2d": _rule_pool, "MaxPool2dOp": _rule_pool,
    "AdaptiveAvgPool2d": _rule_pool, "AdaptiveMaxPool2d": _rule_pool,
    "MaxPool1d": _rule_pool, "AvgPool1d": _rule_pool, "MaxPool": _rule_pool,
    "AvgPool": _rule_pool, "AdaptiveAvgPool": _rule_pool, "AdaptiveMaxPool": _rule_pool,
    "CrossEntropy": _rule_loss(3, 1), "NllLoss": _rule_loss(1), "MseLoss": _rule_loss(3),
    "L1Loss": _rule_loss(3), "BCEWithLogits": _rule_loss(5, 2), "BinaryCrossEntropy": _rule_loss(4, 2),
    "SmoothL1Loss": _rule_loss(4), "HuberLoss": _rule_loss(4),
    "BinaryCrossEntropyWithLogits": _rule_loss(5, 2), "SmoothL1": _rule_loss(4),
    "Dropout": _elementwise(), "FeatureDropout": _elementwise(), "NativeDropout": _elementwise(),
    # layer norm: mean 1, variance 3, normalise 2, affine 2 per element
    "NativeLayerNorm": _elementwise(8, on="in"), "LayerNorm": _elementwise(8, on="in"),
}
for _n in _TRANSCENDENTAL:
    RULES.setdefault(_n, _elementwise(1 if _n in ("Sigmoid", "LogSigmoid", "Silu", "Elu", "Gelu",
                                                   "Mish", "Softplus") else 0, 1))
for _n in ZERO_COST:
    RULES.setdefault(_n, _zero)


def find_rule(cls):
    """The rule for an op class: by its own name, then by its base classes' names."""
    for c in cls.__mro__:
        rule = RULES.get(c.__name__)
        if rule is not None:
            return rule
        if c.__name__ in ("Op", "MultiOutputOp", "Node"):
            break
    return None


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

    ``time_backward=True`` additionally wraps each recorded graph node so the time its backward
    takes is charged to the same path.
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

    # -- module hooks --------------------------------------------------------------------
    def _entry(self, path, module):
        e = self.entries.get(path)
        if e is None:
            e = self.entries[path] = _Entry(path, module)
            self.order.append(path)
        return e

    def _pre(self, module, args):
        path = self._paths[id(module)]
        e = self._entry(path, module)
        self.stack.append(path)
        if self.time_forward:
            e._t0.append(time.perf_counter())

    def _post(self, module, args, output):
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
# Shape-only tracing: the heavy products return zeros of the right shape
# ---------------------------------------------------------------------------------------

def _conv_shape(x, w, b=None, *, stride, padding, dilation, groups, **_):
    nd = len(stride)
    spatial = []
    for i in range(nd):
        n_in = x.shape[x.ndim - nd + i]
        pb, pa = padding[i] if isinstance(padding[i], (tuple, list)) else (padding[i],) * 2
        k = w.shape[w.ndim - nd + i]
        spatial.append((n_in + pb + pa - dilation[i] * (k - 1) - 1) // stride[i] + 1)
    return x.shape[:x.ndim - nd - 1] + (w.shape[0],) + tuple(spatial)


def _linear_shape(x, w, *rest, **_):
    return x.shape[:-1] + (w.shape[0],)


def _matmul_shape(a, b, **_):
    return np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])


SHAPE_ONLY = {"conv.Convolution": _conv_shape, "linear.LinearBias": _linear_shape,
              "linear.LinearNoBias": _linear_shape, "matmul.MatMul": _matmul_shape}


class _ShapeOnly:
    """Replace the forward of the products in ``SHAPE_ONLY`` (and their subclasses) by one that
    returns zeros of the output's shape, so a count of a big model costs almost nothing.  Exact
    as long as the model's control flow does not depend on values."""

    def __enter__(self):
        import importlib
        self.saved = []
        for name, shape_fn in SHAPE_ONLY.items():
            module, cls_name = name.rsplit(".", 1)
            try:
                cls = getattr(importlib.import_module(f"dlbasic.ops.{module}"), cls_name)
            except (ImportError, AttributeError):      # pragma: no cover - kernel not present
                continue
            for c in [cls] + _all_subclasses(cls):
                self.saved.append((c, c.__dict__.get("forward")))
                c.forward = _fake_forward(shape_fn)
        return self

    def __exit__(self, *exc):
        for c, fwd in reversed(self.saved):
            if fwd is None:
                del c.forward
            else:
                c.forward = fwd
        return False


def _all_subclasses(cls):
    out = []
    for c in cls.__subclasses__():
        out.append(c)
        out.extend(_all_subclasses(c))
    return out


def _fake_forward(shape_fn):
    def forward(self, *arrays, **params):
        shape = shape_fn(*arrays, **params)
        dtype = np.result_type(*[a for a in arrays if a is not None])
        return np.zeros(shape, dtype)
    return forward


# ---------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------

def _random_input(shape):
    """A float32 standard-normal input from a private generator: counting never advances the
    global RNG."""
    import dlbasic
    rng = np.random.default_rng(0)
    return dlbasic.tensor(rng.standard_normal([int(s) for s in shape], dtype=np.float32))


def _make_inputs(inputs, dtype=None):
    """A shape (tuple of ints), a Tensor, an ndarray, or a list/tuple of those -> tuple of
    Tensors."""
    import dlbasic
    if isinstance(inputs, dlbasic.Tensor):
        return (inputs,)
    if isinstance(inputs, np.ndarray):
        return (dlbasic.from_numpy(inputs) if hasattr(dlbasic, "from_numpy")
                else dlbasic.tensor(inputs),)
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
        import dlbasic
        self.buffers = [(b, b._data.copy()) for b in self.model.buffers()]
        self.rng = dlbasic.get_rng_state()
        return self

    def __exit__(self, *exc):
        import dlbasic
        for b, data in self.buffers:
            b._data[...] = data
        dlbasic.set_rng_state(self.rng)
        return False


def run_counted(model, inputs, exact=False, grad=False, time_forward=False,
                time_backward=False, kwargs=None):
    """Run ``model(*inputs)`` under an OpCounter; return (counter, output)."""
    import dlbasic
    counter = OpCounter(model, exact=exact, time_forward=time_forward,
                        time_backward=time_backward)
    with counter:
        with dlbasic.set_grad_enabled(grad):
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
    from .report import Report
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
