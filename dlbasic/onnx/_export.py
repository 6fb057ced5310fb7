"""``export``: run one forward pass, record every primitive op it calls, write them as ONNX.

How tracing works.  Every primitive goes through ``Op.apply``, which, while
``dlbasic.autograd.function._observers`` is non-empty, calls each observer with
``(op_class, inputs, params, outputs)`` after the op's forward (the profiler counts FLOPs the
same way; in normal use the list is empty and the cost is one ``if`` per op).  While exporting,
that list holds a ``_Tracer`` which ignores calls from any thread but the exporting one.  For
each op it looks up where the input tensors came from -- a graph input, a parameter or buffer
(an initializer named as in ``state_dict``), an earlier op's output, or else a constant -- and
emits the op's ONNX node(s) through ``SYMBOLICS[op_class]``.  Forward pre-/post-hooks on every
submodule keep the dotted name of the layer running, which names the nodes and the errors.

An op whose tensor inputs are all constants (parameters included) is folded when
``do_constant_folding``: its output becomes an initializer instead of a node.

What the tracer cannot see -- comparisons, logical ops, argmax and sort indices, ``.item()``
are not ``Op``s, so their results look like fresh constants -- is caught by tracing a second
time on other input values (dynamic axes one larger) and requiring the same graph.

The model runs once, in eval mode (``training=TrainingMode.EVAL``, the default) and under
``no_grad``; every module's ``training`` flag is restored afterwards, whatever happens.
"""
import enum
import inspect
import os
import threading

import numpy as np

from .._atomic import atomic_write
from .._tensor import Tensor
from ..autograd import function as _function
from ..autograd.grad_mode import no_grad
from ._graph import GraphBuilder
from ._symbolic import SYMBOLICS
from .errors import OnnxExporterError, UnsupportedOperatorError

__all__ = ["export", "compare_with_onnxruntime", "is_in_onnx_export", "TrainingMode",
           "OperatorExportTypes", "DEFAULT_OPSET", "MIN_OPSET"]

DEFAULT_OPSET = 17      # onnxruntime >= 1.13 and every current runtime run it; LayerNormalization
MIN_OPSET = 13          # Softmax over one axis, Split/Squeeze/Unsqueeze/ReduceSum axes as inputs

_local = threading.local()


class TrainingMode(enum.IntEnum):
    """``torch.onnx.TrainingMode``: the mode the model is traced in."""
    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


class OperatorExportTypes(enum.IntEnum):
    """``torch.onnx.OperatorExportTypes``; only ``ONNX`` (standard operators) is supported."""
    ONNX = 0
    ONNX_ATEN = 1
    ONNX_ATEN_FALLBACK = 2
    ONNX_FALLTHROUGH = 3


def is_in_onnx_export():
    """True while this thread is running ``dlbasic.onnx.export`` (as torch's)."""
    return getattr(_local, "tracer", None) is not None


def _import_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError("dlbasic.onnx needs the onnx package: pip install 'dlbasic[onnx]'") \
            from exc
    return onnx


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError("checking an export needs the onnxruntime package: "
                          "pip install 'dlbasic[onnx]'") from exc
    return onnxruntime


# ---------------------------------------------------------------------------------------
# the tracer
# ---------------------------------------------------------------------------------------

class _Value:
    """What the tracer knows about one tensor: its ONNX name and whether it is a constant.

    ``pending`` is how a value not yet written gets a name on first use: ``"param"`` (an
    initializer named ``key``), ``"input"`` (a parameter that is a graph input, with
    ``export_params=False``) or ``"const"`` (an anonymous initializer holding ``array``).
    """
    __slots__ = ("name", "vbox", "version", "const", "array", "pending", "key", "order")

    def __init__(self, name, vbox, version, const, array, pending=None, key=None, order=0):
        self.name, self.vbox, self.version, self.const = name, vbox, version, const
        self.array, self.pending, self.key, self.order = array, pending, key, order


def _param_arrays(params):
    """ndarrays among an op's keyword parameters (indices, running stats, index keys)."""
    for v in params.values():
        if isinstance(v, np.ndarray):
            yield v
        elif isinstance(v, (tuple, list)):
            for k in v:
                if isinstance(k, np.ndarray):
                    yield k
        elif isinstance(v, dict):
            for k in v.values():
                if isinstance(k, np.ndarray):
                    yield k


def _same_values(a, b):
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


class _Call:
    """One traced op as an emitter sees it."""
    __slots__ = ("cls", "inputs", "arrays", "params", "outputs", "_tracer")

    def __init__(self, tracer, cls, names, tensors, params, outputs):
        self.cls, self.inputs, self.params = cls, names, params
        self.arrays = [t._data for t in tensors]
        self.outputs = [o._data for o in outputs]
        self._tracer = tracer

    def shape(self, i):
        return self.arrays[i].shape

    def ndim(self, i):
        return self.arrays[i].ndim

    def dtype(self, i):
        return self.arrays[i].dtype

    def out_shape(self, j=0):
        return self.outputs[j].shape

    def out_dtype(self, j=0):
        return self.outputs[j].dtype

    def array_value(self, array):
        """The ONNX name of an ndarray parameter (a buffer, an input's indices, or a constant)."""
        return self._tracer.array_name(array)

    def unsupported(self, why):
        return self._tracer.unsupported(self.cls, why)


class _Tracer:
    """The observer installed in ``_function._observers`` while one export runs."""

    def __init__(self, graph, fold, model_type):
        self.g = graph
        self.fold = fold
        self.model_type = model_type
        self.thread = threading.get_ident()
        self.by_tensor = {}       # id(tensor) -> _Value
        self.by_array = {}        # id(ndarray) -> _Value (detach(), .data share the array)
        self.keep = []            # every tensor seen: no id is reused while we trace
        self.live = []            # arrays of non-constant values (inputs, op outputs)
        self.last_on = {}         # id(tensor) -> _Value of the latest op output with it as input 0
        self.stack = []           # (dotted name, class name) of the modules running
        self.param_inputs = []    # _Values of parameters that became graph inputs
        self.error = None
        self.n_ops = 0

    # -- values -------------------------------------------------------------------------
    def bind(self, t, name, const, pending=None, key=None, order=0):
        v = _Value(name, t._vbox, t._vbox[0], const, t._data, pending, key, order)
        self.by_tensor[id(t)] = v
        self.by_array[id(t._data)] = v
        self.keep.append(t)
        if not const:
            self.live.append(t._data)
        return v

    def find(self, t):
        v = self.by_tensor.get(id(t))
        if v is None:
            v = self.by_array.get(id(t._data))
        if v is None:
            self._check_untraced(t._data)
            return self.bind(t, None, True, pending="const")
        if v.vbox[0] != v.version:
            v = self._resolve_inplace(t)
        return v

    def _check_untraced(self, arr):
        """An unknown array becomes a constant -- unless it is a window onto a traced value,
        which means it was computed outside dlbasic's ops and would be baked in wrongly."""
        for live in self.live:
            if np.may_share_memory(arr, live):
                raise OnnxExporterError(
                    f"dlbasic.onnx.export: a tensor of shape {tuple(arr.shape)} shares memory "
                    f"with a traced value but was not made by a dlbasic op (e.g. through .numpy()"
                    f", .data or from_numpy); tracing cannot follow it{self._where_suffix()}")

    def _resolve_inplace(self, t):
        """``t`` was changed in place: the op that did it is the last one that took ``t`` as
        its first input and whose result ``t`` now holds (``Tensor._inplace``)."""
        cand = self.last_on.get(id(t))
        if cand is not None and _same_values(cand.array, t._data):
            v = _Value(cand.name, t._vbox, t._vbox[0], cand.const, t._data, cand.pending,
                       cand.key)
            if cand.pending == "const":
                v.array = cand.array
            self.by_tensor[id(t)] = v
            self.by_array[id(t._data)] = v
            self.keep.append(t)
            return v
        raise OnnxExporterError(
            f"dlbasic.onnx.export: a tensor of shape {tuple(t._data.shape)} was modified in place "
            f"other than by an in-place dlbasic op on it (e.g. through .data, a view or NumPy); "
            f"the traced graph would not see the change{self._where_suffix()}")

    def name_of(self, v):
        if v.pending is not None:
            if v.pending == "param":
                v.name = self.g.initializer(self.g.unique(v.key), v.array)
            elif v.pending == "input":
                v.name = self.g.unique(v.key)
                self.param_inputs.append(v)
            else:
                v.name = self.g.const(v.array)
            v.pending = None
        return v.name

    def array_name(self, arr):
        v = self.by_array.get(id(arr))
        if v is not None and v.vbox[0] == v.version:
            return self.name_of(v)
        if v is None:
            self._check_untraced(arr)
        return self.g.const(arr)

    def _array_is_const(self, arr):
        v = self.by_array.get(id(arr))
        if v is not None:
            return v.const
        return not any(np.may_share_memory(arr, live) for live in self.live)

    # -- errors -------------------------------------------------------------------------
    def _where(self):
        if self.stack and self.stack[-1][0]:
            name, cls = self.stack[-1]
            return f"in module '{name}' ({cls})"
        return f"in {self.model_type}.forward"

    def _where_suffix(self):
        return f" ({self._where()})"

    def unsupported(self, cls, why):
        grad = cls._torch_name or cls.__name__ + "Backward0"
        return UnsupportedOperatorError(
            f"dlbasic.onnx.export: {why}: op {cls.__module__}.{cls.__qualname__} ({grad}) "
            f"{self._where()}", op=cls,
            module=self.stack[-1][0] if self.stack else "",
            module_type=self.stack[-1][1] if self.stack else self.model_type)

    # -- the observer -------------------------------------------------------------------
    def __call__(self, cls, inputs, params, outputs):
        if threading.get_ident() != self.thread or self.error is not None:
            return
        try:
            self._record(cls, inputs, params, outputs)
        except BaseException as exc:
            self.error = exc           # raised again after the forward, if the model eats it
            raise

    def _record(self, cls, inputs, params, outputs):
        self.n_ops += 1
        values = [self.find(t) for t in inputs]
        first = id(inputs[0]) if inputs else None
        if self.fold and all(v.const for v in values) and all(
                self._array_is_const(a) for a in _param_arrays(params)):
            # only constants in: the result is a constant too (no node)
            for o in outputs:
                out = self.bind(o, None, True, pending="const")
            if first is not None:
                self.last_on[first] = out
            return
        emit = SYMBOLICS.get(cls)
        if emit is None:
            raise self.unsupported(cls, "no ONNX mapping for this primitive (see docs/onnx.md "
                                   "for the ops that export)")
        names = [self.name_of(v) for v in values]
        self.g.scope, self.g.scope_type = self.stack[-1] if self.stack else ("", self.model_type)
        out_names = emit(self.g, _Call(self, cls, names, inputs, params, outputs))
        if isinstance(out_names, str):
            out_names = [out_names]
        if len(out_names) != len(outputs):     # pragma: no cover - an emitter bug
            raise OnnxExporterError(f"the ONNX mapping of {cls.__qualname__} gave "
                                    f"{len(out_names)} outputs for {len(outputs)}")
        const = all(v.const for v in values)
        for o, n in zip(outputs, out_names):
            out = self.bind(o, n, const)
        if first is not None:
            self.last_on[first] = out

    # -- module names -------------------------------------------------------------------
    def hooks(self, model):
        handles = []
        for name, module in model.named_modules():
            handles.append(module.register_forward_pre_hook(self._pre(name, module)))
            handles.append(module.register_forward_hook(self._post))
        return handles

    def _pre(self, name, module):
        entry = (name, type(module).__name__)

        def pre(mod, args):
            if threading.get_ident() == self.thread:
                self.stack.append(entry)
        return pre

    def _post(self, mod, args, output):
        if threading.get_ident() == self.thread and self.stack:
            self.stack.pop()


# ---------------------------------------------------------------------------------------
# arguments
# ---------------------------------------------------------------------------------------

def _split_args(args, kwargs):
    """torch's rule: a Tensor, or a tuple whose last element may be a dict of kwargs."""
    if isinstance(args, Tensor):
        args = (args,)
    elif isinstance(args, list):
        args = tuple(args)
    elif not isinstance(args, tuple):
        raise TypeError(f"dlbasic.onnx.export: args must be a Tensor or a tuple of arguments, "
                        f"got {type(args).__name__}")
    kwargs = dict(kwargs or {})
    if args and isinstance(args[-1], dict):
        kwargs = {**args[-1], **kwargs}
        args = args[:-1]
    return args, kwargs


def _default_input_names(model, args, kwargs):
    try:
        sig = inspect.signature(model.forward)
        positional = [p.name for p in sig.parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        positional = []
    names = []
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            names.append(positional[i] if i < len(positional) else f"input_{i}")
    names += [k for k, v in kwargs.items() if isinstance(v, Tensor)]
    return names


def _flatten_outputs(out):
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        flat = []
        for o in out:
            flat += _flatten_outputs(o)
        return flat
    if isinstance(out, dict):
        flat = []
        for o in out.values():
            flat += _flatten_outputs(o)
        return flat
    raise OnnxExporterError(f"dlbasic.onnx.export: the model returned a "
                            f"{type(out).__name__}; only Tensors (or tuples, lists and dicts "
                            f"of them) can be graph outputs")


def _normalize_dynamic_axes(dynamic_axes, shapes):
    """{name: {axis: dim_name}} with axes checked against the rank of ``shapes[name]``."""
    out = {}
    for key, axes in (dynamic_axes or {}).items():
        if key not in shapes:
            raise ValueError(f"dlbasic.onnx.export: dynamic_axes names {key!r}, which is not an "
                             f"input or output name (inputs and outputs: "
                             f"{', '.join(map(repr, shapes))})")
        rank = len(shapes[key])
        if isinstance(axes, dict):
            items = list(axes.items())
        elif isinstance(axes, (list, tuple)):
            items = [(a, f"{key}_dynamic_axes_{i + 1}") for i, a in enumerate(axes)]
        else:
            raise TypeError(f"dlbasic.onnx.export: dynamic_axes[{key!r}] must be a dict "
                            f"{{axis: name}} or a list of axes, got {type(axes).__name__}")
        fixed = {}
        for a, dim_name in items:
            a = int(a)
            if not -rank <= a < rank:
                raise ValueError(f"dlbasic.onnx.export: dynamic axis {a} of {key!r} is out of "
                                 f"range for its {rank} dims")
            fixed[a % rank] = str(dim_name)
        out[key] = fixed
    return out


def _refuse(name, value, default, why):
    if value != default and not (default is None and not value):
        raise NotImplementedError(f"dlbasic.onnx.export: {name}={value!r} is not supported "
                                  f"({why})")


def _check_options(o):
    _refuse("dynamic_shapes", o["dynamic_shapes"], None,
            "torch.export's dynamic shapes; use dynamic_axes={'input': {0: 'batch'}}")
    _refuse("custom_translation_table", o["custom_translation_table"], None,
            "dlbasic maps its own op classes, see dlbasic.onnx.SYMBOLICS")
    _refuse("custom_opsets", o["custom_opsets"], None, "only the default ONNX domain is used")
    _refuse("export_modules_as_functions", o["export_modules_as_functions"], False,
            "modules are inlined as nodes")
    for name in ("report", "profile", "dump_exported_program"):
        _refuse(name, o[name], False, "torch.export diagnostics have no dlbasic equivalent")
    if OperatorExportTypes(o["operator_export_type"]) != OperatorExportTypes.ONNX:
        raise NotImplementedError("dlbasic.onnx.export: only operator_export_type="
                                  "OperatorExportTypes.ONNX (standard ONNX operators) is "
                                  "supported")
    if TrainingMode(o["training"]) == TrainingMode.TRAINING:
        raise NotImplementedError("dlbasic.onnx.export: training=TrainingMode.TRAINING is not "
                                  "supported (batch statistics and random dropout masks do not "
                                  "export); use TrainingMode.EVAL")


def _check_opset(opset_version, onnx):
    if opset_version is None:
        return DEFAULT_OPSET
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset_version, bool) or not isinstance(opset_version, (int, np.integer)):
        raise TypeError(f"dlbasic.onnx.export: opset_version must be an int, got "
                        f"{type(opset_version).__name__}")
    if not MIN_OPSET <= opset_version <= newest:
        raise ValueError(f"dlbasic.onnx.export: opset_version {opset_version} is not supported; "
                         f"choose {MIN_OPSET} to {newest} (default {DEFAULT_OPSET})")
    return int(opset_version)


# ---------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------

def export(model, args=(), f=None, *, kwargs=None, verbose=None, input_names=None,
           output_names=None, opset_version=None, dynamo=True, external_data=True,
           dynamic_shapes=None, custom_translation_table=None, report=False, optimize=True,
           verify=False, profile=False, dump_exported_program=False, artifacts_dir=".",
           export_params=True, keep_initializers_as_inputs=False, dynamic_axes=None,
           training=TrainingMode.EVAL, operator_export_type=OperatorExportTypes.ONNX,
           do_constant_folding=True, custom_opsets=None, export_modules_as_functions=False,
           autograd_inlining=True):
    """Export ``model`` to ONNX by tracing its forward on ``args`` (torch.onnx.export).

    The forward runs twice: the second time on other values (dynamic axes one larger), and a
    graph that changes raises OnnxExporterError rather than freezing a value the trace cannot
    follow (a comparison, argmax, ``.item()``, a size read from a dynamic axis).

    ``f``: a path (written atomically: temp file + ``os.replace``), a binary file object, or
    None.  Returns the ``onnx.ModelProto``.  ``opset_version`` defaults to 17.
    ``dynamic_axes={"input": {0: "batch"}}`` makes those input (and output) dims symbolic.
    ``export_params=False`` turns parameters and buffers into graph inputs (``state_dict``
    order) instead of initializers; ``keep_initializers_as_inputs`` lists initializers as
    inputs too; ``do_constant_folding`` replaces ops on constants by their result;
    ``verify=True`` runs the file in onnxruntime and raises if it disagrees (1e-4).
    ``dynamo``, ``optimize``, ``external_data``, ``artifacts_dir``, ``autograd_inlining``
    choose between torch's exporters and change nothing here; options with no dlbasic meaning
    (``dynamic_shapes``, ``custom_translation_table``, ``report``, ...) raise
    NotImplementedError when set.  See docs/onnx.md.
    """
    onnx = _import_onnx()
    from .. import __version__
    from ..nn import Module
    if not isinstance(model, Module):
        raise TypeError(f"dlbasic.onnx.export: model must be a dlbasic.nn.Module, got "
                        f"{type(model).__name__}")
    _check_options(dict(dynamic_shapes=dynamic_shapes,
                        custom_translation_table=custom_translation_table,
                        custom_opsets=custom_opsets,
                        export_modules_as_functions=export_modules_as_functions, report=report,
                        profile=profile, dump_exported_program=dump_exported_program,
                        operator_export_type=operator_export_type, training=training))
    opset = _check_opset(opset_version, onnx)
    if is_in_onnx_export():
        raise OnnxExporterError("dlbasic.onnx.export: already exporting in this thread (an "
                                "export from inside a traced forward)")
    args, kwargs = _split_args(args, kwargs)
    inputs = [a for a in args if isinstance(a, Tensor)] + \
        [v for v in kwargs.values() if isinstance(v, Tensor)]
    names = _default_input_names(model, args, kwargs)
    if input_names is not None:
        input_names = [str(n) for n in input_names]
        if len(input_names) > len(inputs):
            raise ValueError(f"dlbasic.onnx.export: {len(input_names)} input_names for "
                             f"{len(inputs)} tensor inputs")
        names[:len(input_names)] = input_names
    if len(set(names)) != len(names):
        raise ValueError(f"dlbasic.onnx.export: input names must be unique, got {names}")

    dyn_in = _input_dynamic_axes(dynamic_axes, names, inputs)
    trace = dict(onnx=onnx, opset=opset, export_params=bool(export_params),
                 fold=bool(do_constant_folding), training=TrainingMode(training))
    graph, tracer, outputs, out_values = _trace(model, args, kwargs, names, inputs, **trace)
    # trace again with other values (and dynamic axes one larger): a graph that changes is one
    # that froze something the tracer cannot follow
    args2, kwargs2, inputs2 = _perturbed(args, kwargs, names, dyn_in)
    graph2, _, _, out_values2 = _trace(model, args2, kwargs2, names, inputs2, **trace)
    _check_same_graph(graph, graph2, [v.name for v in out_values],
                      [v.name for v in out_values2], bool(dyn_in))

    proto = _build_model(onnx, graph, tracer, names, inputs, outputs, out_values, output_names,
                         dynamic_axes, keep_initializers_as_inputs, opset, __version__,
                         type(model).__name__)
    if verbose:
        printer = getattr(onnx, "printer", None)
        print(printer.to_text(proto.graph) if printer is not None
              else onnx.helper.printable_graph(proto.graph))
    if verify:
        diff = compare_with_onnxruntime(proto, model, args, kwargs=kwargs)
        if not diff <= 1e-4:
            raise OnnxExporterError(f"dlbasic.onnx.export(verify=True): onnxruntime's outputs "
                                    f"differ from dlbasic's by up to {diff:.3g} (> 1e-4)")
    if f is not None:
        _save(proto, f)
    return proto


def _trace(model, args, kwargs, names, inputs, *, onnx, opset, export_params, fold, training):
    """One traced forward: (graph, tracer, output tensors, their _Values, named)."""
    graph = GraphBuilder(onnx, opset)
    tracer = _Tracer(graph, fold, type(model).__name__)
    for name, t in zip(names, inputs):
        graph.reserve(name)
        tracer.bind(t, name, const=False)
    for order, (key, t) in enumerate(model.state_dict(keep_vars=True).items()):
        if t is not None and id(t) not in tracer.by_tensor:
            tracer.bind(t, None, export_params, pending="param" if export_params
                        else "input", key=key, order=order)
    modes = [(m, m.training) for m in model.modules()]
    handles = []
    _local.tracer = tracer
    _function._observers.append(tracer)
    try:
        if training == TrainingMode.EVAL:
            model.eval()
        handles = tracer.hooks(model)
        with no_grad():
            out = model(*args, **kwargs)
        if tracer.error is not None:
            raise tracer.error
        outputs = _flatten_outputs(out)
        out_values = [tracer.find(t) for t in outputs]
        for v in out_values:
            tracer.name_of(v)
    finally:
        try:
            _function._observers.remove(tracer)
        except ValueError:                          # pragma: no cover
            pass
        for h in handles:
            h.remove()
        _local.tracer = None
        for m, mode in modes:
            m.training = mode
    return graph, tracer, outputs, out_values


def _input_dynamic_axes(dynamic_axes, names, inputs):
    """{input index: [axes]} of the dynamic input dims (output entries are checked later)."""
    shapes = {n: t._data.shape for n, t in zip(names, inputs)}
    picked = {k: v for k, v in (dynamic_axes or {}).items() if k in shapes}
    axes = _normalize_dynamic_axes(picked, shapes)
    return {names.index(k): sorted(v) for k, v in axes.items() if v}


def _perturbed(args, kwargs, names, dyn_in):
    """The same arguments with other values in every input tensor (drawn like the original:
    floats with its mean and spread, integers and bools from its own values) and dynamic axes
    one larger."""
    rng = np.random.default_rng(12345)
    replaced = {}
    tensors = [a for a in args if isinstance(a, Tensor)] + \
        [v for v in kwargs.values() if isinstance(v, Tensor)]
    for i, t in enumerate(tensors):
        a = t._data
        shape = list(a.shape)
        for axis in dyn_in.get(i, ()):
            shape[axis] += 1
        if a.dtype.kind in "fc":
            spread = float(np.std(a)) if a.size else 1.0
            new = rng.standard_normal(shape) * (spread or 1.0) + (float(np.mean(a)) if a.size
                                                                 else 0.0)
        elif a.size:
            new = rng.choice(a.reshape(-1), size=shape)
        else:
            new = np.zeros(shape)
        replaced[id(t)] = Tensor._make(np.ascontiguousarray(new, dtype=a.dtype))
    args2 = tuple(replaced.get(id(a), a) if isinstance(a, Tensor) else a for a in args)
    kwargs2 = {k: replaced.get(id(v), v) if isinstance(v, Tensor) else v
               for k, v in kwargs.items()}
    inputs2 = [replaced[id(t)] for t in tensors]
    return args2, kwargs2, inputs2


def _check_same_graph(g1, g2, outs1, outs2, dynamic):
    """Raise if the second trace wrote another graph, naming the first node that differs."""
    where = None
    for n1, n2 in zip(g1.nodes, g2.nodes):
        if n1 != n2:
            where = n1
            break
    if where is None and len(g1.nodes) != len(g2.nodes):
        where = (g1.nodes + g2.nodes)[min(len(g1.nodes), len(g2.nodes))]
    if where is None:
        differ = {n for n, a in g1.initializers.items()
                  if n not in g2.initializers or not (
                      a is g2.initializers[n] or _same_values(np.asarray(a),
                                                               np.asarray(g2.initializers[n])))}
        differ |= set(g2.initializers) - set(g1.initializers)
        where = next((n for n in g1.nodes if differ & set(n[1])), None)
        if where is None and (differ or outs1 != outs2):
            where = ("the outputs", [], [], {}, "the graph outputs")
    if where is None:
        return
    sizes = " and with the dynamic axes one larger" if dynamic else ""
    module, module_type = g1.node_module.get(where[4], ("", ""))
    layer = f", in module '{module}' ({module_type})" if module else \
        f", in {module_type}.forward" if module_type else ""
    raise OnnxExporterError(
        f"dlbasic.onnx.export: the traced graph depends on the input: traced again with other "
        f"values{sizes}, it changes at node '{where[4]}' ({where[0]}{layer}). Something the trace "
        f"cannot follow would be frozen into the file: a value computed outside dlbasic's ops "
        f"(a comparison such as x > 0, a logical op, argmax, sort, .item(), Python branching on "
        f"tensor values), a random value, or a size read from a dynamic axis (x.shape[0] used "
        f"to build a tensor, or a squeeze/unsqueeze that a batch of 1 makes ambiguous: export "
        f"with a batch of 2 or more)")


def _value_info(onnx, name, array, dims):
    elem = int(onnx.helper.np_dtype_to_tensor_dtype(array.dtype))
    return onnx.helper.make_tensor_value_info(name, elem, dims)


def _dims(shape, dynamic):
    return [dynamic.get(i, int(n)) for i, n in enumerate(shape)]


def _build_model(onnx, graph, tracer, names, inputs, outputs, out_values, output_names,
                 dynamic_axes, keep_initializers_as_inputs, opset, version, model_type):
    helper = onnx.helper
    # graph outputs: rename the node that makes each one (an Identity where it cannot be)
    out_names = ["output"] if len(outputs) == 1 else [f"output_{i}" for i in range(len(outputs))]
    if output_names is not None:
        output_names = [str(n) for n in output_names]
        if len(output_names) > len(outputs):
            raise ValueError(f"dlbasic.onnx.export: {len(output_names)} output_names for "
                             f"{len(outputs)} outputs")
        out_names[:len(output_names)] = output_names
    shapes = {n: t._data.shape for n, t in zip(names, inputs)}
    for n, t in zip(out_names, outputs):
        if n in shapes:
            raise ValueError(f"dlbasic.onnx.export: {n!r} names both an input and an output")
        shapes[n] = t._data.shape
    dyn = _normalize_dynamic_axes(dynamic_axes, shapes)
    renamed = set()
    for v, n in zip(out_values, out_names):
        src = tracer.name_of(v)
        graph.reserve(n)
        if src in graph.producer and src not in renamed:
            graph.rename(src, n)
            renamed.add(src)
        else:
            graph.rename(graph.node("Identity", [src]), n)

    graph_inputs = [_value_info(onnx, n, t._data, _dims(t._data.shape, dyn.get(n, {})))
                    for n, t in zip(names, inputs)]
    graph_inputs += [_value_info(onnx, v.name, v.array, list(v.array.shape))
                     for v in sorted(tracer.param_inputs, key=lambda v: v.order)]
    if keep_initializers_as_inputs:
        graph_inputs += [_value_info(onnx, n, np.asarray(a), list(np.shape(a)))
                         for n, a in graph.initializers.items()]
    symbolic = any(dyn.get(n) for n in names)
    graph_outputs = [_value_info(onnx, n, t._data, None if symbolic and not dyn.get(n)
                                 else _dims(t._data.shape, dyn.get(n, {})))
                     for n, t in zip(out_names, outputs)]
    if sum(np.asarray(a).nbytes for a in graph.initializers.values()) >= 2 ** 31 - 2 ** 24:
        raise NotImplementedError("dlbasic.onnx.export: the model is larger than protobuf's "
                                  "2 GiB limit; external data files are not supported")
    g = graph.to_graph("main_graph", graph_inputs, graph_outputs,
                       doc_string=f"{model_type} exported by dlbasic.onnx.export")
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(g, opset_imports=opsets, producer_name="dlbasic",
                              producer_version=version,
                              ir_version=helper.find_min_ir_version_for(opsets))
    light = _without_weights(onnx, proto)
    if symbolic:
        _infer_output_shapes(onnx, light, proto, out_names, outputs, dyn)
        light = _without_weights(onnx, proto)
    try:
        onnx.checker.check_model(light)
    except onnx.checker.ValidationError as exc:       # pragma: no cover - an exporter bug
        raise OnnxExporterError(f"dlbasic.onnx.export wrote an invalid graph (a dlbasic bug, "
                                f"please report it): {exc}") from exc
    return proto


def _without_weights(onnx, proto, limit=4096):
    """The same graph with every initializer over ``limit`` elements turned into a typed graph
    input: shape inference and the checker then do not copy the weights (seconds for a
    ResNet-50), while the small shape/axes constants they read stay."""
    helper = onnx.helper
    g = proto.graph
    small, big = [], []
    for init in g.initializer:
        n = 1
        for d in init.dims:
            n *= d
        if n > limit:
            big.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
        else:
            small.append(init)
    light_graph = helper.make_graph(list(g.node), g.name, list(g.input) + big, list(g.output),
                                    initializer=small)
    light = helper.make_model(light_graph, opset_imports=list(proto.opset_import),
                              ir_version=proto.ir_version)
    return light


def _infer_output_shapes(onnx, light, proto, out_names, outputs, dyn):
    """With symbolic input dims, the output shapes come from ONNX shape inference."""
    inferred = onnx.shape_inference.infer_shapes(light, data_prop=True)
    found = {vi.name: vi for vi in list(inferred.graph.output) + list(inferred.graph.value_info)}
    for out, n, t in zip(proto.graph.output, out_names, outputs):
        if dyn.get(n):
            continue
        vi = found.get(n)
        known = vi.type.tensor_type.shape.dim if vi is not None and \
            vi.type.tensor_type.HasField("shape") else None
        if known is not None and len(known) != t._data.ndim:
            known = None
        dims = []
        for i in range(t._data.ndim):
            if known is not None and known[i].HasField("dim_param"):
                dims.append(known[i].dim_param)
            elif known is not None and known[i].HasField("dim_value"):
                dims.append(int(known[i].dim_value))
            else:
                dims.append(f"{n}_dim_{i}")       # inference could not tell: leave it open
        out.CopyFrom(_value_info(onnx, n, t._data, dims))


def _save(proto, f):
    data = proto.SerializeToString()
    if isinstance(f, (str, bytes, os.PathLike)):
        def write(tmp):
            with open(tmp, "wb") as fh:
                fh.write(data)
        atomic_write(f, write, "dlbasic.onnx.export")
        return
    write = getattr(f, "write", None)
    if not callable(write):
        raise TypeError(f"dlbasic.onnx.export: f must be a path or a binary file object, got "
                        f"{type(f).__name__}")
    write(data)


# ---------------------------------------------------------------------------------------
# checking against onnxruntime
# ---------------------------------------------------------------------------------------

def compare_with_onnxruntime(onnx_model, model, args=(), *, kwargs=None):
    """Largest absolute difference between onnxruntime's outputs and ``model``'s (eval mode).

    ``onnx_model``: a ``ModelProto``, serialized bytes, or a path.  The inputs are the Tensors in
    ``args`` / ``kwargs``, fed in the graph's input order; parameters the graph takes as inputs
    (``export_params=False``) are fed from ``model.state_dict()``.  Returns ``inf`` when the
    shapes differ.
    """
    ort = _import_onnxruntime()
    from .._parallel import get_num_threads
    if isinstance(onnx_model, (bytes, bytearray)):
        data = bytes(onnx_model)
    elif isinstance(onnx_model, (str, os.PathLike)):
        with open(onnx_model, "rb") as fh:
            data = fh.read()
    else:
        data = onnx_model.SerializeToString()
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(get_num_threads()))
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    args, kwargs = _split_args(args, kwargs)
    tensors = [a for a in args if isinstance(a, Tensor)] + \
        [v for v in kwargs.values() if isinstance(v, Tensor)]
    graph_inputs = [i.name for i in session.get_inputs()]
    feeds = {n: np.ascontiguousarray(t._data) for n, t in zip(graph_inputs, tensors)}
    extra = graph_inputs[len(tensors):]
    if extra:
        state = model.state_dict()
        feeds.update({n: np.ascontiguousarray(state[n]._data) for n in extra if n in state})
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with no_grad():
            expected = _flatten_outputs(model(*args, **kwargs))
    finally:
        for m, mode in modes:
            m.training = mode
    got = session.run(None, feeds)
    worst = 0.0
    for e, o in zip(expected, got):
        e = e._data
        if e.shape != o.shape:
            return float("inf")
        if e.size:
            e, o = e.astype(np.float64), o.astype(np.float64)
            nan = np.isnan(e)
            if not np.array_equal(nan, np.isnan(o)):
                return float("inf")
            if not nan.all():
                worst = max(worst, float(np.abs(e - o)[~nan].max()))
    return worst
