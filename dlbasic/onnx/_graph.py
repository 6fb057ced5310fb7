"""The ONNX graph being written: nodes, initializers and unique value names.

Nodes are kept as plain tuples until ``to_graph`` (so graph outputs can still be renamed to the
names the user asked for); only there are the ``onnx`` protobufs built.
"""
import numpy as np

__all__ = ["GraphBuilder", "INT64_MAX", "INT64_MIN"]

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

_SMALL = 64        # constants up to this many elements are shared between nodes


class GraphBuilder:
    """Collects the nodes one traced forward emits.

    ``opset`` is the default-domain opset the emitters target; ``scope`` (the dotted name of the
    module running now) prefixes node names the way torch's exporter does (``/layer1.0/conv1``).
    """

    def __init__(self, onnx, opset):
        self.onnx = onnx
        self.opset = opset
        self.scope = ""
        self.scope_type = ""       # class name of the module running (for messages)
        self.node_module = {}      # node name -> (module name, class name)
        self.nodes = []            # (op_type, inputs, outputs, attrs, name)
        self.initializers = {}     # name -> ndarray (converted to TensorProto at the end)
        self.producer = {}         # value name -> index into nodes
        self._taken = set()
        self._counts = {}
        self._small = {}           # (dtype, shape, bytes) -> name of a shared constant
        self._renames = {}         # node output -> graph output name

    # -- names --------------------------------------------------------------------------
    def unique(self, base):
        """``base``, or ``base.1``, ``base.2``, ... if already used."""
        name = base
        n = self._counts.get(base, 0)
        while name in self._taken:
            n += 1
            name = f"{base}.{n}"
        self._counts[base] = n
        self._taken.add(name)
        return name

    def reserve(self, name):
        if name in self._taken:
            raise ValueError(f"the name {name!r} is used twice in the exported graph")
        self._taken.add(name)
        return name

    # -- building -----------------------------------------------------------------------
    def node(self, op_type, inputs, n_out=1, **attrs):
        """Append a node; returns its output name (or a list of ``n_out`` names)."""
        base = f"/{self.scope}/{op_type}" if self.scope else f"/{op_type}"
        name = self.unique(base)
        outs = [self.unique(f"{name}_output_{i}") for i in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append((op_type, list(inputs), outs, attrs, name))
        self.node_module[name] = (self.scope, self.scope_type)
        for o in outs:
            self.producer[o] = len(self.nodes) - 1
        return outs[0] if n_out == 1 else outs

    def initializer(self, name, array):
        """A named initializer (a parameter or buffer).  Not copied: parameters do not change
        during an eval-mode forward, and the protobuf copies them once, at the end."""
        self.initializers[name] = array
        return name

    def const(self, value, dtype=None):
        """A constant initializer holding ``value`` (copied); small ones are shared."""
        arr = np.asarray(value, dtype=dtype)
        if arr.dtype == object:
            raise TypeError(f"cannot export a constant of type {type(value).__name__}")
        key = None
        if arr.size <= _SMALL:
            key = (arr.dtype.str, arr.shape, np.ascontiguousarray(arr).tobytes())
            name = self._small.get(key)
            if name is not None:
                return name
        name = self.unique(f"/{self.scope}/Constant" if self.scope else "/Constant")
        self.initializers[name] = np.array(arr, copy=True)
        if key is not None:
            self._small[key] = name
        return name

    def ints(self, values):
        """A 1-D int64 constant (shapes, axes, pads, ...)."""
        return self.const(np.asarray(list(values), dtype=np.int64).reshape(-1))

    def scalar(self, value, like_dtype):
        """A 0-d constant with the dtype of the tensor it combines with."""
        return self.const(np.asarray(value, dtype=like_dtype))

    # -- a few compound helpers -----------------------------------------------------------
    def unsqueeze(self, x, axes):
        return self.node("Unsqueeze", [x, self.ints(axes)])

    def squeeze(self, x, axes):
        return self.node("Squeeze", [x, self.ints(axes)])

    def reduce(self, op_type, x, axes, keepdims):
        """ReduceX over ``axes`` (None: every axis); axes became an input in opset 18
        (ReduceSum: 13)."""
        if axes is None:
            return self.node(op_type, [x], keepdims=int(keepdims))
        axes = [int(a) for a in axes]
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.node(op_type, [x, self.ints(axes)], keepdims=int(keepdims))
        return self.node(op_type, [x], axes=axes, keepdims=int(keepdims))

    # -- output -------------------------------------------------------------------------
    def rename(self, old, new):
        """Give a node's output the graph-output name ``new`` (every reader follows)."""
        self._renames[old] = new

    def to_graph(self, name, inputs, outputs, doc_string=None):
        helper, numpy_helper = self.onnx.helper, self.onnx.numpy_helper
        renames = self._renames

        def r(n):
            return renames.get(n, n)

        nodes = [helper.make_node(op, [r(i) for i in ins], [r(o) for o in outs], name=nm,
                                  **attrs)
                 for op, ins, outs, attrs, nm in self.nodes]
        inits = [numpy_helper.from_array(arr, name=n) for n, arr in self.initializers.items()]
        return helper.make_graph(nodes, name, inputs, outputs, initializer=inits,
                                 doc_string=doc_string)
