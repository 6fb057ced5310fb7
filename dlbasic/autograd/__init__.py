"""Reverse-mode automatic differentiation (see engine.py for the walk, function.py for nodes)."""
from .grad_mode import no_grad, enable_grad, set_grad_enabled, is_grad_enabled, inference_mode
from .anomaly_mode import (detect_anomaly, set_detect_anomaly, is_anomaly_enabled,
                           is_anomaly_check_nan_enabled, set_anomaly_enabled)
from .function import Function, FunctionCtx, once_differentiable
from .engine import backward, grad
from .gradcheck import gradcheck, gradgradcheck, GradcheckError
from . import functional                                           # noqa: F401

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode",
           "detect_anomaly", "set_detect_anomaly", "Function", "FunctionCtx",
           "once_differentiable", "backward", "grad", "gradcheck", "gradgradcheck",
           "GradcheckError"]
