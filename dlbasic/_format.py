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


class _Formatter:
    """Chooses one width and notation for every element, as torch's printer does.

    Floats print in one of three modes: integer-valued ("3."), fixed ("0.2500") or scientific
    ("1.2346e+05"), chosen from the nonzero finite values; every element is right-aligned to
    the widest one.
    """

    def __init__(self, arr):
        prec = _PRINT["precision"]
        self.floating = arr.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        flat = arr.reshape(-1)
        if not self.floating:
            for v in flat.tolist():
                self.max_width = max(self.max_width, len(str(v)))
        else:
            vals = flat[np.isfinite(flat) & (flat != 0)]
            if vals.size:
                absd = np.abs(vals.astype(np.float64))
                vmin, vmax = absd.min(), absd.max()
                self.int_mode = bool(np.all(vals == np.ceil(vals)))
                vals = vals.tolist()
                if self.int_mode:
                    if vmax / vmin > 1000.0 or vmax > 1.0e8:
                        self.sci_mode = True
                        widths = (len(f"{v:.{prec}e}") for v in vals)
                    else:
                        widths = (len(f"{v:.0f}") + 1 for v in vals)
                else:
                    if vmax / vmin > 1000.0 or vmax > 1.0e8 or vmin < 1.0e-4:
                        self.sci_mode = True
                        widths = (len(f"{v:.{prec}e}") for v in vals)
                    else:
                        widths = (len(f"{v:.{prec}f}") for v in vals)
                self.max_width = max(self.max_width, max(widths))
        if _PRINT["sci_mode"] is not None:
            self.sci_mode = _PRINT["sci_mode"]

    def format(self, v):
        prec = _PRINT["precision"]
        if self.floating:
            if self.sci_mode:
                r = f"{v:{self.max_width}.{prec}e}"
            elif self.int_mode:
                r = f"{v:.0f}"
                if not (np.isinf(v) or np.isnan(v)):
                    r += "."
            else:
                r = f"{v:.{prec}f}"
        else:
            r = str(v)
        return " " * (self.max_width - len(r)) + r


def _summarized(arr):
    """Only the elements that will be printed (the edges), for choosing the format."""
    e = _PRINT["edgeitems"]
    if arr.ndim == 0:
        return arr
    if arr.ndim == 1:
        return np.concatenate([arr[:e], arr[-e:]]) if arr.shape[0] > 2 * e else arr
    rows = list(range(e)) + list(range(arr.shape[0] - e, arr.shape[0])) \
        if arr.shape[0] > 2 * e else range(arr.shape[0])
    return np.stack([_summarized(arr[i]) for i in rows])


class _ComplexFormatter:
    """torch's complex printing: the real and the imaginary parts each get their own
    ``_Formatter`` (own width and mode), joined as ``re+imj`` (``1.0000-0.5000j``)."""

    def __init__(self, arr):
        self.re, self.im = _Formatter(arr.real), _Formatter(arr.imag)
        self.max_width = self.re.max_width + self.im.max_width + 1

    def format(self, v):
        imag = (self.im.format(v.imag) + "j").lstrip()
        return self.re.format(v.real) + (imag if imag[0] in "+-" else "+" + imag)


def _formatter(arr):
    return _ComplexFormatter(arr) if arr.dtype.kind == "c" else _Formatter(arr)


def _vector_str(arr, indent, summarize, fmt):
    element_length = fmt.max_width + 2
    per_line = max(1, int((_PRINT["linewidth"] - indent) // element_length))
    e = _PRINT["edgeitems"]
    if summarize and arr.shape[0] > 2 * e:
        data = [fmt.format(v) for v in arr[:e].tolist()] + [" ..."] + \
            [fmt.format(v) for v in arr[-e:].tolist()]
    else:
        data = [fmt.format(v) for v in arr.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor_str(arr, indent, summarize, fmt):
    if arr.ndim == 0:
        return fmt.format(arr.item())
    if arr.ndim == 1:
        return _vector_str(arr, indent, summarize, fmt)
    e = _PRINT["edgeitems"]
    n = arr.shape[0]
    if summarize and n > 2 * e:
        slices = [_tensor_str(arr[i], indent + 1, summarize, fmt) for i in range(e)] + \
            ["..."] + [_tensor_str(arr[i], indent + 1, summarize, fmt) for i in range(n - e, n)]
    else:
        slices = [_tensor_str(arr[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (arr.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def _add_suffixes(text, suffixes, indent):
    parts = [text]
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > _PRINT["linewidth"]:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def format_tensor(t):
    arr = t._data
    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    dt = t.dtype
    default = _dtype.get_default_dtype()
    if arr.size == 0:
        if arr.ndim != 1:
            suffixes.append("size=" + str(tuple(arr.shape)))
        if dt is not default and dt is not default.to_complex():
            suffixes.append(f"dtype={dt!r}")
        body = "[]"
    else:
        if dt not in (default, default.to_complex(), _dtype.int64, _dtype.bool_):
            suffixes.append(f"dtype={dt!r}")
        summarize = arr.size > _PRINT["threshold"]
        fmt = _formatter(_summarized(arr) if summarize else arr)
        body = _tensor_str(arr, indent, summarize, fmt)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, indent)
