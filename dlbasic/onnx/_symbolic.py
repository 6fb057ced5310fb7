"""ONNX node(s) for each primitive op class: ``SYMBOLICS[op_class](graph, call) -> output name(s)``.

Keys are the op classes themselves (exact classes: ``DivNumber`` subclasses ``MulNumber`` but
is not a product), so a renamed class cannot silently pick up another op's mapping.  ``call``
carries the input value names, the input and output arrays (shapes, dtypes) and the op's
keyword parameters exactly as the forward received them.

Shapes are written so that a dynamic (batch) axis stays dynamic: a reshape copies the leading
dims it keeps (``0``) and infers one (``-1``) rather than baking sizes in, squeeze/unsqueeze are
used where a reshape only adds or drops 1s, slices that keep an axis whole leave it out, and an
expand asks for 1 wherever the input already has the target size.
"""
import importlib
import math

import numpy as np

from ._graph import INT64_MAX, INT64_MIN


def _module(name):
    # by module path: ``dlbasic.ops.matmul`` the attribute is the function ``matmul``
    return importlib.import_module(f"dlbasic.{name}")


A, BN, C = _module("ops.activation"), _module("ops.batchnorm"), _module("ops.conv")
D, E, EMB = _module("ops.dropout"), _module("ops.elementwise"), _module("ops.embedding")
L, MM, M = _module("ops.linear"), _module("ops.matmul"), _module("ops.movement")
N, P, R = _module("ops.normalization"), _module("ops.pooling"), _module("ops.reduction")
FC = _module("nn.functional.conv")

__all__ = ["SYMBOLICS"]

SYMBOLICS = {}


def _register(*classes):
    def deco(fn):
        for cls in classes:
            SYMBOLICS[cls] = fn
        return fn
    return deco


def _onnx_dtype(g, np_dtype):
    return int(g.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(np_dtype)))


# -- convolution, linear, normalisation ----------------------------------------------------

@_register(C.Convolution)
def _convolution(g, call):
    p = call.params
    x, w = call.inputs[0], call.inputs[1]
    nd = len(p["stride"])
    unbatched = call.ndim(0) == nd + 1
    if unbatched:
        x = g.unsqueeze(x, [0])
    pads = [int(b) for b, _ in p["padding"]] + [int(a) for _, a in p["padding"]]
    y = g.node("Conv", [x, w] + call.inputs[2:3], kernel_shape=list(call.shape(1)[2:]),
               strides=list(p["stride"]), dilations=list(p["dilation"]), pads=pads,
               group=int(p["groups"]))
    return g.squeeze(y, [0]) if unbatched else y


def _linear(g, call, bias):
    x, w = call.inputs[0], call.inputs[1]
    if call.ndim(0) == 2:      # y = x W^T + b: one Gemm
        return g.node("Gemm", [x, w] + ([bias] if bias else []), transB=1)
    y = g.node("MatMul", [x, g.node("Transpose", [w], perm=[1, 0])])
    return g.node("Add", [y, bias]) if bias else y


@_register(L.LinearBias)
def _linear_bias(g, call):
    return _linear(g, call, call.inputs[2])


@_register(L.LinearNoBias)
def _linear_no_bias(g, call):
    return _linear(g, call, None)


@_register(BN.BatchNorm)
def _batch_norm(g, call):
    p = call.params
    if p["training"]:
        raise call.unsupported("batch norm with batch statistics (training mode) cannot be "
                               "exported; export in eval mode (training=TrainingMode.EVAL, the "
                               "default) so BatchNormalization uses the running statistics")
    mean = call.array_value(p["running_mean"])
    var = call.array_value(p["running_var"])
    return g.node("BatchNormalization", call.inputs[:3] + [mean, var], epsilon=float(p["eps"]))


@_register(BN.BatchNormReLU)
def _batch_norm_relu(g, call):
    return g.node("Relu", [_batch_norm(g, call)])


@_register(N.NativeLayerNorm)
def _layer_norm(g, call):
    p = call.params
    n, eps = int(p["n_norm"]), float(p["eps"])
    x = call.inputs[0]
    dtype = call.dtype(0)
    norm_shape = call.shape(0)[call.ndim(0) - n:]
    rest = call.inputs[1:]
    w = rest[0] if p["affine_w"] else None
    b = rest[-1] if p["affine_b"] else None
    if g.opset >= 17:
        scale = w if w is not None else g.const(np.ones(norm_shape, dtype))
        return g.node("LayerNormalization", [x, scale] + ([b] if b is not None else []),
                      axis=-n, epsilon=eps)
    axes = list(range(call.ndim(0) - n, call.ndim(0)))
    mean = g.reduce("ReduceMean", x, axes, True)
    d = g.node("Sub", [x, mean])
    var = g.reduce("ReduceMean", g.node("Mul", [d, d]), axes, True)
    y = g.node("Div", [d, g.node("Sqrt", [g.node("Add", [var, g.scalar(eps, dtype)])])])
    if w is not None:
        y = g.node("Mul", [y, w])
    if b is not None:
        y = g.node("Add", [y, b])
    return y


@_register(D.NativeDropout)
def _dropout(g, call):
    raise call.unsupported("dropout with a random mask (training mode) cannot be exported; in "
                           "eval mode (the default) dropout is the identity and leaves no node")


@_register(EMB.Embedding)
def _embedding(g, call):
    return g.node("Gather", [call.inputs[0], call.array_value(call.params["indices"])], axis=0)


# -- activations ---------------------------------------------------------------------------

def _same(op_type):
    def emit(g, call):
        return g.node(op_type, call.inputs)
    emit.__name__ = f"_{op_type.lower()}"
    return emit


for _cls, _op in ((E.Relu, "Relu"), (E.Sigmoid, "Sigmoid"), (E.Tanh, "Tanh"), (E.Exp, "Exp"),
                  (E.Log, "Log"), (E.Sqrt, "Sqrt"), (E.Abs, "Abs"), (E.Neg, "Neg"),
                  (E.Sin, "Sin"), (E.Cos, "Cos"), (E.Tan, "Tan"), (E.Atan, "Atan"),
                  (E.Asin, "Asin"), (E.Acos, "Acos"), (E.Sinh, "Sinh"), (E.Cosh, "Cosh"),
                  (E.Erf, "Erf"), (E.Reciprocal, "Reciprocal"), (M.Clone, "Identity"),
                  (E.Maximum, "Max"), (E.Minimum, "Min"), (E.Where, "Where"),
                  (E.Add, "Add"), (E.Sub, "Sub"), (E._RSub, "Sub"), (E.Mul, "Mul"),
                  (E._MulSavesA, "Mul"), (E._MulSavesB, "Mul"), (E.Div, "Div"),
                  (E._DivSavesB, "Div"), (E.PowTensor, "Pow"), (E._PowNumberBase, "Pow"),
                  (MM.MatMul, "MatMul"), (MM.Mm, "MatMul"), (MM.Bmm, "MatMul"),
                  (MM._MatVec, "MatMul")):
    SYMBOLICS[_cls] = _same(_op)


@_register(A.LeakyRelu)
def _leaky_relu(g, call):
    return g.node("LeakyRelu", call.inputs, alpha=float(call.params["negative_slope"]))


@_register(A.RreluWithNoise)
def _rrelu(g, call):
    p = call.params
    if p["training"]:
        raise call.unsupported("rrelu with random slopes (training mode) cannot be exported")
    return g.node("LeakyRelu", call.inputs, alpha=(float(p["lower"]) + float(p["upper"])) / 2)


@_register(A.Elu)
def _elu(g, call):
    p = call.params
    alpha = float(p["alpha"])
    scale = float(p.get("scale", 1.0))
    k = float(p.get("input_scale", 1.0))
    x = call.inputs[0]
    if k == 1.0 and scale == 1.0:
        return g.node("Elu", [x], alpha=alpha)
    if k == 1.0:                       # selu: scale * elu(x, alpha)
        return g.node("Selu", [x], alpha=alpha, gamma=scale)
    if scale == 1.0 and math.isclose(k, 1.0 / alpha, rel_tol=1e-12):     # celu
        return g.node("Celu", [x], alpha=alpha)
    # the general form: scale * elu(k x, alpha / ...) written out
    dtype = call.dtype(0)
    neg = g.node("Mul", [g.node("Sub", [g.node("Exp", [g.node("Mul", [
        g.node("Min", [x, g.scalar(0, dtype)]), g.scalar(k, dtype)])]), g.scalar(1, dtype)]),
        g.scalar(scale * alpha, dtype)])
    pos = g.node("Mul", [g.node("Relu", [x]), g.scalar(scale, dtype)])
    return g.node("Add", [pos, neg])


@_register(A.Softplus)
def _softplus(g, call):
    beta = float(call.params["beta"])
    x = call.inputs[0]
    if beta == 1.0:
        # log(1 + e^x) differs from x by < e^-20 above torch's threshold 20: no switch needed
        return g.node("Softplus", [x])
    dtype = call.dtype(0)
    return g.node("Div", [g.node("Softplus", [g.node("Mul", [x, g.scalar(beta, dtype)])]),
                          g.scalar(beta, dtype)])


@_register(A.LogSigmoid)
def _log_sigmoid(g, call):
    # log sigmoid(x) = -softplus(-x)
    return g.node("Neg", [g.node("Softplus", [g.node("Neg", call.inputs)])])


@_register(A.Softmax)
def _softmax(g, call):
    return g.node("Softmax", call.inputs, axis=int(call.params["dim"]))


@_register(A.LogSoftmax)
def _log_softmax(g, call):
    return g.node("LogSoftmax", call.inputs, axis=int(call.params["dim"]))


@_register(A.Gelu)
def _gelu(g, call):
    approximate = call.params["approximate"]
    x = call.inputs[0]
    if g.opset >= 20:
        return g.node("Gelu", [x], approximate=approximate)
    dtype = call.dtype(0)
    half = g.node("Mul", [x, g.scalar(0.5, dtype)])
    if approximate == "tanh":
        # x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = g.node("Mul", [g.node("Mul", [x, x]), x])
        inner = g.node("Add", [x, g.node("Mul", [cube, g.scalar(0.044715, dtype)])])
        t = g.node("Tanh", [g.node("Mul", [inner, g.scalar(math.sqrt(2 / math.pi), dtype)])])
    else:
        # x/2 (1 + erf(x / sqrt 2))
        t = g.node("Erf", [g.node("Mul", [x, g.scalar(1 / math.sqrt(2), dtype)])])
    return g.node("Mul", [half, g.node("Add", [t, g.scalar(1, dtype)])])


@_register(A.Silu)
def _silu(g, call):
    x = call.inputs[0]
    return g.node("Mul", [x, g.node("Sigmoid", [x])])


@_register(A.Mish)
def _mish(g, call):
    x = call.inputs[0]
    if g.opset >= 18:
        return g.node("Mish", [x])
    return g.node("Mul", [x, g.node("Tanh", [g.node("Softplus", [x])])])


@_register(A.Hardtanh)
def _hardtanh(g, call):
    dtype = call.dtype(0)
    return g.node("Clip", [call.inputs[0], g.scalar(call.params["lo"], dtype),
                           g.scalar(call.params["hi"], dtype)])


@_register(A.Hardsigmoid)
def _hardsigmoid(g, call):
    return g.node("HardSigmoid", call.inputs, alpha=1.0 / 6, beta=0.5)


@_register(A.Hardswish)
def _hardswish(g, call):
    return g.node("HardSwish", call.inputs)


@_register(A.Threshold)
def _threshold(g, call):
    dtype = call.dtype(0)
    x = call.inputs[0]
    keep = g.node("Greater", [x, g.scalar(call.params["threshold"], dtype)])
    return g.node("Where", [keep, x, g.scalar(call.params["value"], dtype)])


@_register(A.Prelu)
def _prelu(g, call):
    x, w = call.inputs
    nx, size = call.ndim(0), int(np.prod(call.shape(1), dtype=np.int64))
    if size == 1 or nx < 2:
        slope = g.node("Reshape", [w, g.ints([1])])
    else:       # one slope per channel (dim 1): (C, 1, ..., 1) broadcasts against (N, C, ...)
        slope = g.node("Reshape", [w, g.ints([size] + [1] * (nx - 2))])
    return g.node("PRelu", [x, slope])


# -- arithmetic with numbers -----------------------------------------------------------------

def _with_number(op_type, number_first=False):
    def emit(g, call):
        c = g.scalar(call.params["c"], call.dtype(0))
        return g.node(op_type, [c, call.inputs[0]] if number_first else [call.inputs[0], c])
    emit.__name__ = f"_{op_type.lower()}_number"
    return emit


SYMBOLICS[E.AddNumber] = _with_number("Add")
SYMBOLICS[E.SubNumber] = _with_number("Sub")
SYMBOLICS[E.RSubNumber] = _with_number("Sub", number_first=True)
SYMBOLICS[E.MulNumber] = _with_number("Mul")
SYMBOLICS[E.DivNumber] = _with_number("Div")


@_register(E.AddScaled)
def _add_scaled(g, call):
    a, b = call.inputs
    alpha = g.scalar(call.params["alpha"], call.dtype(1))
    return g.node("Add", [a, g.node("Mul", [b, alpha])])


@_register(E.PowScalar)
def _pow_scalar(g, call):
    x, p = call.inputs[0], call.params["p"]
    if p == 2:
        return g.node("Mul", [x, x])
    if p == 0.5 and call.dtype(0).kind == "f":
        return g.node("Sqrt", [x])
    return g.node("Pow", [x, g.scalar(p, call.dtype(0))])


@_register(E.Log1p)
def _log1p(g, call):
    return g.node("Log", [g.node("Add", [call.inputs[0], g.scalar(1, call.dtype(0))])])


@_register(E.Expm1)
def _expm1(g, call):
    return g.node("Sub", [g.node("Exp", call.inputs), g.scalar(1, call.dtype(0))])


@_register(E.Rsqrt)
def _rsqrt(g, call):
    return g.node("Reciprocal", [g.node("Sqrt", call.inputs)])


@_register(E.Erfc)
def _erfc(g, call):
    return g.node("Sub", [g.scalar(1, call.dtype(0)), g.node("Erf", call.inputs)])


@_register(E.Cast)
def _cast(g, call):
    return g.node("Cast", call.inputs, to=_onnx_dtype(g, call.out_dtype()))


@_register(E.ClampScalar)
def _clamp(g, call):
    dtype = call.dtype(0)
    lo, hi = call.params["lo"], call.params["hi"]
    return g.node("Clip", [call.inputs[0], "" if lo is None else g.scalar(lo, dtype),
                           "" if hi is None else g.scalar(hi, dtype)])


@_register(E.ClampTensor)
def _clamp_tensor(g, call):
    x, lo, hi = call.inputs
    return g.node("Min", [g.node("Max", [x, lo]), hi])


def _trunc(g, x):
    # trunc(x) = sign(x) * floor(|x|)
    return g.node("Mul", [g.node("Sign", [x]), g.node("Floor", [g.node("Abs", [x])])])


@_register(E.Floor, E.Ceil, E.Round, E.Trunc, E.Sign)
def _piecewise(g, call):
    fn, kwargs = call.params["npfn"], call.params["kwargs"]
    x = call.inputs[0]
    expected = {E.Floor: np.floor, E.Ceil: np.ceil, E.Round: np.round, E.Trunc: np.trunc,
                E.Sign: E._sign}[call.cls]
    if fn is not expected:
        raise call.unsupported(f"a step function other than {expected.__name__}")
    if call.cls is E.Trunc:
        return _trunc(g, x)
    if call.cls is E.Round and kwargs.get("decimals", 0):
        scale = g.scalar(10.0 ** kwargs["decimals"], call.dtype(0))
        return g.node("Div", [g.node("Round", [g.node("Mul", [x, scale])]), scale])
    return g.node({E.Floor: "Floor", E.Ceil: "Ceil", E.Round: "Round", E.Sign: "Sign"}[call.cls],
                  [x])


@_register(E.Frac)
def _frac(g, call):
    x = call.inputs[0]
    return g.node("Sub", [x, _trunc(g, x)])


# -- reductions ----------------------------------------------------------------------------

def _axes(call, key="axes"):
    axes = call.params[key]
    return None if axes is None else [int(a) for a in axes]


@_register(R.Mean)
def _mean(g, call):
    axes = _axes(call)
    if axes == []:
        return g.node("Identity", call.inputs)
    return g.reduce("ReduceMean", call.inputs[0], axes, call.params["keepdim"])


@_register(R.Sum)
def _sum(g, call):
    axes = _axes(call)
    x = call.inputs[0]
    if call.dtype(0) != call.out_dtype():
        x = g.node("Cast", [x], to=_onnx_dtype(g, call.out_dtype()))
    if axes == []:
        return g.node("Identity", [x])
    return g.reduce("ReduceSum", x, axes, call.params["keepdim"])


@_register(R.AmaxAmin)
def _amax_amin(g, call):
    op = "ReduceMax" if call.params["is_max"] else "ReduceMin"
    return g.reduce(op, call.inputs[0], _axes(call), call.params["keepdim"])


@_register(R.MaxAll)
def _max_all(g, call):
    return g.reduce("ReduceMax" if call.params["is_max"] else "ReduceMin", call.inputs[0], None,
                    False)


@_register(R.MaxDim)
def _max_dim(g, call):
    # the op's one output is the values; the indices torch also returns are not traced
    op = "ReduceMax" if call.params["is_max"] else "ReduceMin"
    return g.reduce(op, call.inputs[0], [int(call.params["axis"])], call.params["keepdim"])


@_register(R.Prod)
def _prod(g, call):
    axis = call.params["axis"]
    return g.reduce("ReduceProd", call.inputs[0], None if axis is None else [int(axis)],
                    call.params["keepdim"])


@_register(R.Logsumexp)
def _logsumexp(g, call):
    return g.reduce("ReduceLogSumExp", call.inputs[0], _axes(call), call.params["keepdim"])


@_register(R.Norm2)
def _norm2(g, call):
    return g.reduce("ReduceL2", call.inputs[0], _axes(call), call.params["keepdim"])


@_register(R.Cumsum)
def _cumsum(g, call):
    axis = call.params["axis"]
    if axis is None:           # a 0-dim input: nothing to accumulate
        return g.node("Identity", call.inputs)
    return g.node("CumSum", [call.inputs[0], g.const(np.asarray(axis, np.int64))])


# -- pooling -------------------------------------------------------------------------------

def _pool_pads(padding):
    return [int(p) for p in padding] * 2


@_register(P.MaxPool)
def _max_pool(g, call):
    p = call.params
    if p.get("indices_box") is not None:
        raise call.unsupported("max_pool with return_indices=True (ONNX's indices count "
                               "differently)")
    k, s, pad, d = (list(p[n]) for n in ("kernel_size", "stride", "padding", "dilation"))
    nd = len(k)
    begin, end = [int(v) for v in pad], [int(v) for v in pad]
    ceil = 0
    if p["ceil_mode"]:
        # PyTorch drops a last window that would start in the right padding; rather than rely
        # on every runtime agreeing, pad the end explicitly to get exactly PyTorch's size
        # (max pooling never reads its padding)
        out = call.out_shape()[-nd:]
        size = call.shape(0)[-nd:]
        for a in range(nd):
            need = (out[a] - 1) * s[a] + d[a] * (k[a] - 1) + 1 - size[a] - begin[a]
            end[a] = max(end[a], need)
        if any(e >= kk for e, kk in zip(end, k)):
            end, ceil = [int(v) for v in pad], 1
    return g.node("MaxPool", call.inputs, kernel_shape=k, strides=s, pads=begin + end,
                  dilations=d, ceil_mode=ceil)


@_register(P.AvgPool)
def _avg_pool(g, call):
    p = call.params
    k, s, pad = list(p["kernel_size"]), list(p["stride"]), list(p["padding"])
    attrs = dict(kernel_shape=k, strides=s, pads=_pool_pads(pad), ceil_mode=int(p["ceil_mode"]))
    div = p["divisor_override"]
    if div:
        if p["ceil_mode"]:
            raise call.unsupported("avg_pool with both divisor_override and ceil_mode")
        y = g.node("AveragePool", call.inputs, count_include_pad=1, **attrs)
        return g.node("Mul", [y, g.scalar(float(np.prod(k)) / div, call.dtype(0))])
    return g.node("AveragePool", call.inputs, count_include_pad=int(p["count_include_pad"]),
                  **attrs)


def _adaptive(g, call, global_op, op, **extra):
    out = tuple(int(o) for o in call.params["output_size"])
    size = call.shape(0)[-len(out):]
    if all(o == 1 for o in out):
        return g.node(global_op, call.inputs)
    if all(n % o == 0 for n, o in zip(size, out)):
        k = [n // o for n, o in zip(size, out)]
        return g.node(op, call.inputs, kernel_shape=k, strides=k, **extra)
    raise call.unsupported(f"adaptive pooling to {out} from {tuple(size)}: only output sizes "
                           "that divide the input size map onto ONNX pooling")


@_register(P.AdaptiveAvgPool)
def _adaptive_avg_pool(g, call):
    return _adaptive(g, call, "GlobalAveragePool", "AveragePool")


@_register(P.AdaptiveMaxPool)
def _adaptive_max_pool(g, call):
    if call.params.get("indices_box") is not None:
        raise call.unsupported("adaptive_max_pool with return_indices=True")
    return _adaptive(g, call, "GlobalMaxPool", "MaxPool")


# -- shapes and movement -------------------------------------------------------------------

def _dropped_ones(longer, shorter):
    """Axes of ``longer`` whose removal (all size 1) leaves ``shorter``, or None."""
    axes, j = [], 0
    for i, n in enumerate(longer):
        if j < len(shorter) and n == shorter[j]:
            j += 1
        elif n == 1:
            axes.append(i)
        else:
            return None
    return axes if j == len(shorter) else None


@_register(M.Reshape, M._SqueezeAll, M._SqueezeDim, M._SqueezeDims, M._Unsqueeze)
def _reshape(g, call):
    src, dst = tuple(call.shape(0)), tuple(call.out_shape())
    x = call.inputs[0]
    if src == dst:
        return g.node("Identity", [x])
    if len(dst) < len(src):
        axes = _dropped_ones(src, dst)
        if axes is not None:
            return g.squeeze(x, axes)
    elif len(dst) > len(src):
        axes = _dropped_ones(dst, src)
        if axes is not None:
            return g.unsqueeze(x, axes)
    # keep the leading dims that do not change (0 = copy, so a dynamic batch stays dynamic)
    # and infer the first one that does (-1)
    k = 0
    while k < min(len(src), len(dst)) and src[k] == dst[k]:
        k += 1
    spec = [0] * k + list(dst[k:])
    if len(dst) > k and 0 not in dst:
        spec[k] = -1
    return g.node("Reshape", [x, g.ints(spec)])


@_register(M.Permute, M.Transpose, M._T)
def _permute(g, call):
    return g.node("Transpose", call.inputs, perm=[int(d) for d in call.params["dims"]])


@_register(M.Expand)
def _expand(g, call):
    target = tuple(call.params["shape"])
    src = (1,) * (len(target) - call.ndim(0)) + tuple(call.shape(0))
    # 1 where the input already has the size: Expand broadcasts it, so it stays dynamic
    spec = [1 if s == t else t for s, t in zip(src, target)]
    return g.node("Expand", [call.inputs[0], g.ints(spec)])


@_register(M.Repeat)
def _repeat(g, call):
    reps = [int(r) for r in call.params["reps"]]
    x = call.inputs[0]
    lead = len(reps) - call.ndim(0)
    if lead:
        x = g.unsqueeze(x, list(range(lead)))
    return g.node("Tile", [x, g.ints(reps)])


@_register(M.Cat)
def _cat(g, call):
    # torch's cat skips legacy empty 1-D tensors (shape (0,))
    keep = [n for n, a in zip(call.inputs, call.arrays) if not (a.ndim == 1 and a.shape[0] == 0)]
    keep = keep or call.inputs[:1]
    if len(keep) == 1:
        return g.node("Identity", keep)
    return g.node("Concat", keep, axis=int(call.params["axis"]))


@_register(M.Stack)
def _stack(g, call):
    axis = int(call.params["axis"])
    return g.node("Concat", [g.unsqueeze(x, [axis]) for x in call.inputs], axis=axis)


@_register(M.Split)
def _split(g, call):
    sizes = [int(s) for s in call.params["sizes"]]
    if len(sizes) == 1:
        return [g.node("Identity", call.inputs)]
    out = g.node("Split", [call.inputs[0], g.ints(sizes)], n_out=len(sizes),
                 axis=int(call.params["axis"]))
    return out


@_register(M.Flip)
def _flip(g, call):
    axes = [int(a) for a in call.params["axes"]]
    n = len(axes)
    return g.node("Slice", [call.inputs[0], g.ints([-1] * n), g.ints([INT64_MIN] * n),
                            g.ints(axes), g.ints([-1] * n)])


@_register(M.Tril)
def _tril(g, call):
    return g.node("Trilu", [call.inputs[0], g.const(np.asarray(call.params["k"], np.int64))],
                  upper=int(bool(call.params["upper"])))


@_register(M.Gather)
def _gather(g, call):
    return g.node("GatherElements", [call.inputs[0], call.array_value(call.params["index"])],
                  axis=int(call.params["axis"]))


@_register(M.GetItem, M.GetItemView)
def _getitem(g, call):
    key = call.params["key"]
    ndim = call.ndim(0)
    used = sum(0 if (k is None or k is Ellipsis) else 1 for k in key)
    if any(isinstance(k, (bool, np.bool_)) for k in key):
        raise call.unsupported("indexing with a bool")
    arrays = [k for k in key if isinstance(k, np.ndarray)]
    if arrays and (len(arrays) > 1 or arrays[0].dtype == bool
                   or any(type(k) is int or isinstance(k, np.integer) for k in key)):
        raise call.unsupported("advanced indexing other than one integer index array (boolean "
                               "masks and several index arrays have data-dependent shapes or "
                               "NumPy's reordering rules)")
    starts, ends, axes, steps = [], [], [], []
    squeeze, unsqueeze, gather = [], [], None
    axis = out_axis = 0
    for k in key:
        if k is None:
            unsqueeze.append(out_axis)
            out_axis += 1
        elif k is Ellipsis:
            n = ndim - used
            axis += n
            out_axis += n
        elif isinstance(k, slice):
            step = 1 if k.step is None else int(k.step)
            start = 0 if k.start is None else int(k.start)
            stop = INT64_MAX if k.stop is None else int(k.stop)
            if (start, stop, step) != (0, INT64_MAX, 1):
                starts.append(start)
                ends.append(stop)
                axes.append(axis)
                steps.append(step)
            axis += 1
            out_axis += 1
        elif isinstance(k, np.ndarray):
            gather = (axis, k)
            axis += 1
            out_axis += k.ndim
        else:                                    # an integer: a length-1 slice, squeezed
            i = int(k)
            starts.append(i)
            ends.append(i + 1 if i != -1 else INT64_MAX)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
            axis += 1
    x = call.inputs[0]
    if axes:
        x = g.node("Slice", [x, g.ints(starts), g.ints(ends), g.ints(axes), g.ints(steps)])
    if gather is not None:
        x = g.node("Gather", [x, call.array_value(gather[1].astype(np.int64, copy=False))],
                   axis=gather[0])
    if squeeze:
        x = g.squeeze(x, squeeze)
    if unsqueeze:
        x = g.unsqueeze(x, unsqueeze)
    if x == call.inputs[0]:
        x = g.node("Identity", [x])
    return x


@_register(FC.ConstantPadNd)
def _constant_pad(g, call):
    pad = call.params["pad"]
    pads = [int(b) for b, _ in pad] + [int(a) for _, a in pad]
    value = g.scalar(call.params["value"], call.dtype(0))
    return g.node("Pad", [call.inputs[0], g.ints(pads), value], mode="constant")


@_register(FC.IndexPad)
def _index_pad(g, call):
    p = call.params
    mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[p["mode"]]
    if mode == "wrap" and g.opset < 19:
        raise call.unsupported("circular padding needs opset_version >= 19 (Pad mode 'wrap')")
    shape = call.shape(0)
    before, after = [0] * len(shape), [0] * len(shape)
    for axis, idx in p["index"].items():
        n, total = shape[axis], len(idx) - shape[axis]
        # the source index was built from (before, after): find the split that rebuilds it
        for b in range(total + 1):
            if np.array_equal(FC._source_index(n, b, total - b, p["mode"]), idx):
                before[axis], after[axis] = b, total - b
                break
        else:
            raise call.unsupported("a padding index that is not reflect/replicate/circular")
    return g.node("Pad", [call.inputs[0], g.ints(before + after)], mode=mode)


@_register(MM.Einsum)
def _einsum(g, call):
    return g.node("Einsum", call.inputs, equation=call.params["eq"].replace(" ", ""))
