"""torch.nn.utils.parametrizations: weight_norm and spectral_norm as parametrizations.

weight_norm (Salimans & Kingma, 2016): w = g * v / ||v||, the norm taken over every dim but
``dim`` (the whole tensor for dim=None); dL/dg = <dL/dw, v>/||v||, dL/dv = g/||v|| (dL/dw -
w <dL/dw, w>/g^2) per slice -- both come from the composed tensor ops below.

spectral_norm (Miyato et al., 2018): w = W / sigma(W), sigma = u^T W_mat v with u, v from power
iteration on the matrix W_mat (dim ``dim`` first, the rest flattened).  u and v are treated as
constants in the gradient (dsigma/dW_mat = u v^T), as in the paper and in torch.
"""
import numpy as np

from ..._tensor import Tensor
from ...autograd.grad_mode import no_grad
from .. import functional as F
from ..modules.module import Module
from . import parametrize

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


def _norm_except_dim(v, dim):
    """||v||_2 over every dim except ``dim``, kept as size-1 dims (dim=-1: over all dims, a
    0-d tensor), as torch.norm_except_dim(v, 2, dim)."""
    if dim == -1:
        return (v * v).sum().sqrt()
    d = dim + v.ndim if dim < 0 else dim
    others = tuple(i for i in range(v.ndim) if i != d)
    if not others:
        return (v * v).sqrt()
    return (v * v).sum(dim=others, keepdim=True).sqrt()


def _weight_norm(v, g, dim):
    """torch._weight_norm: v * (g / ||v||) with the norm of ``_norm_except_dim``."""
    return v * (g / _norm_except_dim(v, dim))


class _WeightNorm(Module):
    """original0 = g (the norms), original1 = v (the direction); forward gives g v / ||v||."""

    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        return _norm_except_dim(weight, self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """Reparametrize ``module.<name>`` as g * v / ||v||: ``parametrizations.<name>.original0``
    holds g, ``original1`` holds v (torch's keys)."""
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


def _set_inplace(buf, arr):
    """Write ``arr`` into buffer ``buf`` in place (torch's ``out=``), bumping its version."""
    dst = buf._data
    if not dst.flags.writeable:
        buf._data = dst = dst.copy()
    np.copyto(dst, arr, casting="unsafe")
    buf._vbox[0] += 1


def _normalized(a, eps):
    """a / max(||a||_2, eps), F.normalize on an array."""
    return a / max(float(np.linalg.norm(a)), eps)


class _SpectralNorm(Module):
    """W / sigma with sigma = u^T W_mat v; in training mode every forward first runs
    ``n_power_iterations`` steps u <- W_mat v / ||.||, v <- W_mat^T u / ||.|| on the buffers
    ``_u``, ``_v`` (15 steps run once at registration)."""

    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, "
                             f"{ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight)
            h, w = weight_mat.shape
            with no_grad():
                u = weight_mat.new_empty(h).normal_(0, 1)
                v = weight_mat.new_empty(w).normal_(0, 1)
                self.register_buffer("_u", F.normalize(u, dim=0, eps=self.eps))
                self.register_buffer("_v", F.normalize(v, dim=0, eps=self.eps))
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight):
        if weight.ndim <= 1:
            raise AssertionError(f"Expected weight to have more than 1 dimension, got "
                                 f"{weight.ndim}")
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, weight_mat, n_power_iterations):
        w = weight_mat.detach().numpy()
        for _ in range(n_power_iterations):
            _set_inplace(self._u, _normalized(w @ self._v._data, self.eps))
            _set_inplace(self._v, _normalized(w.T @ self._u._data, self.eps))

    def forward(self, weight):
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u, v = self._u.clone(), self._v.clone()
        sigma = u.dot(weight_mat.mv(v))
        return weight / sigma

    def right_inverse(self, value):
        return value


def _transposed_conv_types():
    from ..modules.conv import ConvTranspose1d, ConvTranspose2d
    from ..modules import conv
    return tuple(c for c in (ConvTranspose1d, ConvTranspose2d,
                             getattr(conv, "ConvTranspose3d", None)) if c is not None)


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Reparametrize ``module.<name>`` as W / sigma(W); dim defaults to 1 for transposed
    convolutions (their output channels), else 0."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if isinstance(module, _transposed_conv_types()) else 0
    parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """Not supported yet: it needs geqrf / householder_product / matrix_exp with gradients."""
    raise NotImplementedError("dlbasic does not support nn.utils.parametrizations.orthogonal "
                              "yet; use register_parametrization with your own map")
