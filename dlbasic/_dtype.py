"""dtypes and PyTorch's type-promotion rules.

PyTorch promotes by *category* first (bool < integer < floating) and only then by size, and
it lets dimensioned tensors win over zero-dim tensors, which win over Python scalars, inside a
category.  So ``int64 tensor + float32 tensor -> float32`` (NumPy would say float64) and
``float32 tensor * 2.5 -> float32``.  Complex is the highest category; a complex result keeps
the precision of a floating operand (``float64 + complex64 -> complex128``), as torch does.
"""
import builtins

import numpy as np

__all__ = ["dtype", "float16", "float32", "float64", "int8", "int16", "int32", "int64",
           "uint8", "bool_", "complex64", "complex128", "get_default_dtype", "set_default_dtype", "promote_types",
           "result_type"]


class dtype:
    """A tensor element type: a thin, hashable wrapper around a NumPy dtype."""

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_category")

    def __init__(self, name, np_dtype, category):
        self.name = name
        self.np = np.dtype(np_dtype)
        self._category = category              # 0 bool, 1 integer, 2 floating, 3 complex
        self.is_floating_point = category == 2
        self.is_signed = category >= 2 or self.np.kind == "i"
        self.itemsize = self.np.itemsize

    def __repr__(self):
        return "dlbasic." + self.name

    def __reduce__(self):
        return (_lookup, (self.name,))

    @property
    def is_complex(self):
        return self._category == 3

    def to_real(self):
        """The real dtype of the same precision (complex64 -> float32; real dtypes: itself)."""
        return _TO_REAL.get(self, self)

    def to_complex(self):
        """The complex dtype of the same precision (float32 -> complex64; float16 has no
        complex twin here, it gives complex64)."""
        if self._category == 3:
            return self
        return complex128 if self is float64 else complex64


float16 = dtype("float16", np.float16, 2)
float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)
int8 = dtype("int8", np.int8, 1)
int16 = dtype("int16", np.int16, 1)
int32 = dtype("int32", np.int32, 1)
int64 = dtype("int64", np.int64, 1)
uint8 = dtype("uint8", np.uint8, 1)
bool_ = dtype("bool", np.bool_, 0)
complex64 = dtype("complex64", np.complex64, 3)
complex128 = dtype("complex128", np.complex128, 3)

_ALL = (float16, float32, float64, int8, int16, int32, int64, uint8, bool_, complex64,
        complex128)
_TO_REAL = {complex64: float32, complex128: float64}
_BY_NAME = {d.name: d for d in _ALL}
_BY_NP = {d.np: d for d in _ALL}

_default = [float32]


def _lookup(name):
    return _BY_NAME[name]


# torch's names of each dtype, as its messages print them: the ScalarType ("result type Float
# can't be cast to ..."), the legacy tensor type ("torch.FloatTensor", ``Tensor.type()``) and
# the C type ("got mask with dtype long int")
TYPE_SHORT = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
              "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
              "bool": "Bool", "complex64": "ComplexFloat", "complex128": "ComplexDouble"}
TYPE_NAMES = {name: f"torch.{short}Tensor" for name, short in TYPE_SHORT.items()}
C_TYPE_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half",
                "int64": "long int", "int32": "int", "int16": "short int",
                "int8": "signed char", "uint8": "unsigned char", "bool": "bool",
                "complex64": "c10::complex<float>", "complex128": "c10::complex<double>"}


def get_default_dtype():
    return _default[0]


def set_default_dtype(d):
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default[0] = d


def from_numpy_dtype(np_dtype):
    """The dlbasic dtype of a NumPy dtype; TypeError for one we do not support."""
    try:
        return _BY_NP[np_dtype]
    except KeyError:
        np_dtype = np.dtype(np_dtype)
        if np_dtype in _BY_NP:
            return _BY_NP[np_dtype]
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{np_dtype}. The only supported types are: "
            "float64, float32, float16, complex64, complex128, int64, int32, int16, int8, uint8, "
            "and bool.") from None


def to_dtype(d):
    """Accept a dlbasic dtype, a NumPy dtype, a Python type or a name such as 'float32'."""
    if isinstance(d, dtype):
        return d
    if d is float:
        return float64
    if d is int:
        return int64
    if d is builtins.bool:
        return bool_
    if d is complex:
        return complex128
    if isinstance(d, str) and d in _BY_NAME:
        return _BY_NAME[d]
    try:
        return from_numpy_dtype(np.dtype(d))
    except TypeError:
        raise TypeError(f"expected a dtype such as dlbasic.float32, got {d!r}") from None


def promote_types(a, b):
    """torch.promote_types: the higher category wins; within a category the wider type; a
    complex type meeting a wider float widens (float64 + complex64 -> complex128)."""
    if a is b:
        return a
    if a._category != b._category:
        hi, lo = (a, b) if a._category > b._category else (b, a)
        if hi is complex64 and lo is float64:
            return complex128
        return hi
    return _BY_NP[np.promote_types(a.np, b.np)]


def _combine(higher, lower):
    """torch's combine_categories: ``higher`` (dimensioned operands) beats ``lower`` (0-dim
    tensors or numbers) unless ``lower`` is of a higher category; complex from ``lower`` keeps
    a floating ``higher``'s precision (float64 tensor + 1j -> complex128)."""
    if lower is None:
        return higher
    if higher is None:
        return lower
    if higher._category >= lower._category:
        return higher
    if lower._category == 3 and higher._category == 2:
        return higher.to_complex()
    return lower


def _scalar_category(x):
    if isinstance(x, (bool, np.bool_)):
        return 0
    if isinstance(x, (int, np.integer)):
        return 1
    if isinstance(x, (float, np.floating)):
        return 2
    if isinstance(x, (complex, np.complexfloating)):
        return 3
    raise TypeError(f"expected a Tensor or a Python number, got {type(x).__name__}")


_SCALAR_DEFAULT = {0: bool_, 1: int64}


def result_type(*operands):
    """The dtype of an elementwise op over tensors and Python scalars, as torch computes it."""
    dim_t = zero_t = None
    scalar_cat = -1
    for x in operands:
        d = getattr(x, "dtype", None)
        if isinstance(d, dtype):
            if x.ndim:
                dim_t = d if dim_t is None else promote_types(dim_t, d)
            else:
                zero_t = d if zero_t is None else promote_types(zero_t, d)
        else:
            scalar_cat = max(scalar_cat, _scalar_category(x))
    scalar_t = None
    if scalar_cat == 3:
        scalar_t = _default[0].to_complex()
    elif scalar_cat >= 0:
        scalar_t = _default[0] if scalar_cat == 2 else _SCALAR_DEFAULT[scalar_cat]
    return _combine(dim_t, _combine(zero_t, scalar_t))
