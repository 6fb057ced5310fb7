"""Export to ONNX by tracing the op graph (``torch.onnx``'s API).

    dlbasic.onnx.export(model, dlbasic.randn(1, 3, 32, 32), "model.onnx",
                        input_names=["input"], output_names=["output"],
                        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})

One forward pass runs in eval mode; every primitive op it calls becomes ONNX node(s)
(``SYMBOLICS``: op class -> emitter), parameters and buffers become initializers named as in
``state_dict``.  The default opset is 17 (``DEFAULT_OPSET``).  The ``onnx`` package is needed
only when exporting (``pip install 'dlbasic[onnx]'``), ``onnxruntime`` only for checking;
importing this module imports neither.  See docs/onnx.md.
"""
from ._export import (export, compare_with_onnxruntime, is_in_onnx_export, TrainingMode,
                      OperatorExportTypes, DEFAULT_OPSET, MIN_OPSET)
from ._symbolic import SYMBOLICS
from . import errors
from .errors import OnnxExporterError, UnsupportedOperatorError

__all__ = ["export", "compare_with_onnxruntime", "is_in_onnx_export", "TrainingMode",
           "OperatorExportTypes", "DEFAULT_OPSET", "MIN_OPSET", "SYMBOLICS", "errors",
           "OnnxExporterError", "UnsupportedOperatorError"]
