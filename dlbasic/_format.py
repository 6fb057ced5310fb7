"""Tensor printing in PyTorch's style: ``tensor([1.0000, 2.5000], requires_grad=True)``."""
import numpy as np

from . import _dtype

_PRINT = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None):
    if profile == "default":
        _PRINT.update(precision=4, threshold=1000, edgeitems=3, linewidth=80)
    elif profile == "short":
        _PRINT.update(precision=2, threshold=1000, edgeitems=2, linewidth=80)
    elif profile == "full":
        _PRINT.update(precision=4, threshold=float("inf"), edgeitems=3, linewidth=80)
    for k, v in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                 ("linewidth", linewidth)):
        if v is not None:
            _PRINT[k] = v
    _PRINT["sci_mode"] = sci_mode


def _float_formatter(arr):
    finite = arr[np.isfinite(arr)]
    prec = _PRINT["precision"]
    if finite.size == 0:
        return lambda v: _special(v) or f"{v}"
    absf = np.abs(finite)
    amax, amin = absf.max(), absf.min()
    nonzero = absf[absf > 0]
    amin_nz = nonzero.min() if nonzero.size else 0
    integral = np.all(finite == np.round(finite))
    sci = _PRINT["sci_mode"]
    if sci is None:
        sci = bool(amax >= 1e8 or (amin_nz and amin_nz < 1e-4) or
                   (amin_nz and amax / amin_nz > 1000.0)) if not integral else amax >= 1e8
    if sci:
        return lambda v: _special(v) or f"{v:.{prec}e}"
    if integral:
        width = len(f"{amax:.0f}")
        return lambda v: _special(v) or f"{v:.0f}."
    return lambda v: _special(v) or f"{v:.{prec}f}"


def _special(v):
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None


def _format_array(arr, indent):
    if arr.dtype.kind == "f":
        fmt = _float_formatter(arr.astype(np.float64))
        formatter = {"float_kind": fmt}
    elif arr.dtype.kind == "b":
        formatter = {"bool": lambda v: "True" if v else "False"}
    else:
        formatter = None
    summarize = arr.size > _PRINT["threshold"]
    return np.array2string(arr, separator=", ", prefix=" " * indent, formatter=formatter,
                           threshold=0 if summarize else arr.size + 1,
                           edgeitems=_PRINT["edgeitems"], max_line_width=_PRINT["linewidth"])


def format_tensor(t):
    arr = t._data
    prefix = "tensor("
    suffix = []
    if arr.size == 0 and arr.ndim != 1 or arr.size == 0 and arr.shape != (0,):
        body = "[]"
        suffix.append(f"size=({', '.join(str(s) for s in arr.shape)},)" if arr.ndim == 1
                      else "size=(" + ", ".join(str(s) for s in arr.shape) + ")")
    else:
        body = _format_array(arr, len(prefix))
    dt = t.dtype
    default_shown = (_dtype.get_default_dtype(), _dtype.int64, _dtype.bool_)
    if dt not in default_shown or (arr.size == 0 and dt is not _dtype.get_default_dtype()):
        suffix.append(f"dtype={dt!r}")
    if t.grad_fn is not None:
        suffix.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffix.append("requires_grad=True")
    if suffix:
        return prefix + body + ", " + ", ".join(suffix) + ")"
    return prefix + body + ")"
