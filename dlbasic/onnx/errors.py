"""The exceptions ``dlbasic.onnx.export`` raises (``torch.onnx.errors``' names)."""

__all__ = ["OnnxExporterError", "UnsupportedOperatorError"]


class OnnxExporterError(RuntimeError):
    """The model cannot be exported as asked (a bad option, an in-place change we cannot see)."""


class UnsupportedOperatorError(OnnxExporterError):
    """A traced primitive op has no ONNX mapping (or is used with options ONNX cannot express).

    ``op`` is the primitive's class, ``module`` the dotted name of the innermost layer that was
    running (``""`` for the model's own ``forward``), ``module_type`` that layer's class name.
    """

    def __init__(self, message, op=None, module=None, module_type=None):
        super().__init__(message)
        self.op = op
        self.module = module
        self.module_type = module_type
