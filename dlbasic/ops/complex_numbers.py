"""Complex numbers: the parts of a complex tensor, and complex tensors built from real ones.

Gradients follow PyTorch's convention: for a real loss L of a complex z = x + iy the gradient
stored is the conjugate Wirtinger derivative ``dL/dx + i dL/dy`` (a real tensor's gradient is
plain dL/dx).  So an op's backward maps the upstream gradient g (this convention, w.r.t. its
output) to the input's: ``real`` gives g back as complex, ``imag`` gives i*g, ``conj`` gives
conj(g), and a holomorphic op multiplies by the conjugate derivative (``elementwise._conj``).
A complex gradient reaching a real input keeps its real part (``engine._cast_grad``).
"""
import numpy as np

from .. import _dtype
from .._dtype import TYPE_SHORT as _TYPE_SHORT
from ..autograd.function import Op
from . import _flops
from ._util import as_tensor_operand, broadcast_error
from .elementwise import _sgn

__all__ = ["real", "imag", "conj", "conj_physical", "angle", "view_as_real", "view_as_complex",
           "complex", "polar", "sgn", "is_complex"]


_I = np.complex64(1j)       # keeps float32 gradients complex64


def _is_c(a):
    return a.dtype.kind == "c"


class Real(Op):
    """y = Re z (a view); dy/dx = 1, dy/dy_im = 0: the gradient is g, as a complex array.
    torch records it as the select of view_as_real(z)[..., 0], hence its grad_fn name."""
    _saves = ()
    _is_view = True
    _torch_name = "SelectBackward0"
    flops = _flops.no_cost

    def forward(self, z):
        return z.real

    def backward(self, g):
        return g.astype(np.result_type(g.dtype, np.complex64))


class Imag(Op):
    """y = Im z (a view); dL/dx = 0, dL/dy_im = g: the gradient is i*g."""
    _saves = ()
    _is_view = True
    _torch_name = "SelectBackward0"
    flops = _flops.no_cost

    def forward(self, z):
        return z.imag

    def backward(self, g):
        return g * _I            # (NumPy's i: Python's 1j times a NumPy scalar is a Python complex)


class Conj(Op):
    """y = conj(z) = x - iy (a new array; torch's is a lazy view); the gradient is conj(g)."""
    _saves = ()
    flops = _flops.elementwise(1)

    def forward(self, z):
        return np.conj(z)

    def backward(self, g):
        return np.conj(g)


class Angle(Op):
    """y = atan2(Im z, Re z); the gradient is g * i z / |z|^2 (d/dx = -y/|z|^2, d/dy = x/|z|^2),
    0 at z = 0; for real input the angle is 0 or pi, a step: gradient 0."""
    _saved_attrs = ("z",)
    flops = _flops.transcendental(2)

    def forward(self, z):
        self.z = z
        if _is_c(z):
            return np.angle(z)
        # NaN stays NaN; negative numbers have angle pi
        return np.where(z < 0, np.pi, np.where(np.isnan(z), z, 0)).astype(z.dtype)

    def backward(self, g):
        z = self.z
        if not _is_c(z):
            return np.zeros_like(g)
        r2 = z.real * z.real + z.imag * z.imag
        return g * np.divide(1j * z, r2, out=np.zeros_like(z), where=r2 != 0)


class ViewAsReal(Op):
    """y[..., 0] = Re z, y[..., 1] = Im z (a view, one trailing dim of 2); the gradient is
    view_as_complex(g) = g[..., 0] + i g[..., 1]."""
    _saves = ()
    _is_view = True
    flops = _flops.no_cost

    def forward(self, z):
        # z.real is a view starting at z's first byte; one more axis steps to the imag part
        re = z.real
        return np.lib.stride_tricks.as_strided(re, z.shape + (2,), z.strides + (re.itemsize,))

    def backward(self, g):
        return g[..., 0] + 1j * g[..., 1]


class ViewAsComplex(Op):
    """z = x[..., 0] + i x[..., 1] (a view of the pairs); the gradient is view_as_real(g)."""
    _saves = ()
    _is_view = True
    flops = _flops.no_cost

    def forward(self, x):
        return x.view(_dtype.to_dtype(x.dtype).to_complex().np)[..., 0]

    def backward(self, g):
        return np.stack([g.real, g.imag], axis=-1)


class Complex(Op):
    """z = a + i b for real a, b; the gradients are Re g and Im g."""
    _saves = ()
    flops = _flops.elementwise(1)

    def forward(self, a, b):
        out = np.empty(np.broadcast_shapes(a.shape, b.shape),
                       _dtype.to_dtype(a.dtype).to_complex().np)
        out.real, out.imag = a, b
        return out

    def backward(self, g):
        na, nb = self.needs_input_grad
        return (g.real.copy() if na else None), (g.imag.copy() if nb else None)


class Polar(Op):
    """z = r e^(i theta); dL/dr = Re(g e^(-i theta)), dL/dtheta = Re(g conj(i z))."""
    _saves_output = True
    _saved_attrs = ("z", "theta")
    flops = _flops.transcendental(2)

    def forward(self, r, theta):
        z = np.empty(np.broadcast_shapes(r.shape, theta.shape),
                     _dtype.to_dtype(r.dtype).to_complex().np)
        z.real, z.imag = r * np.cos(theta), r * np.sin(theta)
        self.z, self.theta = z, theta
        return z

    def backward(self, g):
        nr, nt = self.needs_input_grad
        gr = np.real(g * np.exp(-1j * self.theta)).astype(self.theta.dtype) if nr else None
        gt = np.real(g * np.conj(1j * self.z)) if nt else None
        return gr, gt


class Sgn(Op):
    """y = z/|z| (0 at 0), torch.sgn; for real input the sign.  The gradient, for complex z:
    (g - Re(g conj(y)) y) / |z| (the part of g tangent to the unit circle), 0 at z = 0."""
    _saves_output = True
    _saved_attrs = ("z", "y")
    flops = _flops.elementwise(3)

    def forward(self, z):
        self.z, self.y = z, _sgn(z)
        return self.y

    def backward(self, g):
        z, y = self.z, self.y
        if not _is_c(z):
            return np.zeros_like(g)
        r = np.abs(z)
        tangent = g - np.real(g * np.conj(y)) * y
        return np.divide(tangent, r, out=np.zeros_like(z), where=r != 0)


def is_complex(input):
    return input.is_complex()


def real(input):
    """torch.real: the real part, a view (a real tensor is returned as it is)."""
    if not _is_c(input._data):
        return input
    return Real.apply(input)


def imag(input):
    """torch.imag: the imaginary part, a view; only complex tensors have one."""
    if not _is_c(input._data):
        raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")
    return Imag.apply(input)


def conj(input):
    """torch.conj: the complex conjugate (a real tensor is returned as it is).  Unlike torch,
    the result is a new tensor, not a lazily conjugated view (``is_conj()`` is False)."""
    if not _is_c(input._data):
        return input
    return Conj.apply(input)


def conj_physical(input):
    return conj(input)


def angle(input):
    """torch.angle: the argument of each element, in (-pi, pi]; integer input gives the default
    float dtype."""
    if input._data.dtype.kind in "biu":
        input = input.to(_dtype.get_default_dtype())
    return Angle.apply(input)


def sgn(input):
    """torch.sgn: z/|z| for complex z (0 at 0), the sign for real input."""
    return Sgn.apply(input)


def view_as_real(input):
    """torch.view_as_real: a complex tensor of shape S as a real one of shape S + (2,)."""
    if not _is_c(input._data):
        raise RuntimeError("view_as_real is only supported for complex tensors")
    return ViewAsReal.apply(input)


def view_as_complex(input):
    """torch.view_as_complex: a real tensor whose last dim is (real, imag) pairs as a complex
    tensor without that dim, sharing its memory."""
    a = input._data
    if a.dtype not in (np.float32, np.float64):
        raise RuntimeError("view_as_complex is only supported for float and double tensors, "
                           f"but got a tensor of scalar type: "
                           f"{_TYPE_SHORT.get(input.dtype.name, input.dtype.name)}")
    if a.ndim == 0 or a.shape[-1] != 2:
        raise RuntimeError("Tensor must have a last dimension of size 2")
    if a.strides[-1] != a.itemsize:
        raise RuntimeError("Tensor must have a last dimension with stride 1")
    if any(s % (2 * a.itemsize) for s, n in zip(a.strides[:-1], a.shape[:-1]) if n > 1):
        raise RuntimeError("Tensor must have a stride divisible by 2 for all but last "
                           "dimension")
    return ViewAsComplex.apply(input)


def _check_real_pair(a, b, kinds):
    for t in (a, b):
        if t._data.dtype not in kinds:
            raise RuntimeError("Expected both inputs to be Half, Float or Double tensors but got "
                               f"{_TYPE_SHORT[a.dtype.name]} and {_TYPE_SHORT[b.dtype.name]}")
    if a.dtype is not b.dtype:
        raise RuntimeError(f"Expected object of scalar type {_TYPE_SHORT[a.dtype.name]} but got "
                           f"scalar type {_TYPE_SHORT[b.dtype.name]} for second argument")


def complex(real, imag):
    """torch.complex: real + i imag, for two real tensors of one floating dtype (broadcast)."""
    real, imag = as_tensor_operand(real), as_tensor_operand(imag)
    _check_real_pair(real, imag, (np.float32, np.float64))
    try:
        return Complex.apply(real, imag)
    except ValueError:
        raise broadcast_error(real._data.shape, imag._data.shape) from None


def polar(abs, angle):
    """torch.polar: abs * (cos(angle) + i sin(angle))."""
    abs, angle = as_tensor_operand(abs), as_tensor_operand(angle)
    _check_real_pair(abs, angle, (np.float32, np.float64))
    try:
        return Polar.apply(abs, angle)
    except ValueError:
        raise broadcast_error(abs._data.shape, angle._data.shape) from None
