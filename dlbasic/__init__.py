"""dlbasic: a from-scratch deep-learning framework on NumPy with PyTorch's API.

``import dlbasic as torch`` runs ordinary PyTorch training code within our scope.
"""
from ._dtype import (dtype, float16, float32, float64, int8, int16, int32, int64, uint8,
                     complex64, complex128,
                     get_default_dtype, set_default_dtype, promote_types, result_type)
from ._dtype import bool_ as bool                                  # noqa: A001
from ._tensor import Tensor, Size, device
from ._tensor_base import set_default_device, get_default_device
from .autograd import (no_grad, enable_grad, set_grad_enabled, is_grad_enabled,
                       inference_mode)
from . import autograd
from . import backend
from .autograd.anomaly_mode import (is_anomaly_enabled, is_anomaly_check_nan_enabled,
                                    set_anomaly_enabled)
from ._random import (Generator, manual_seed, seed, initial_seed, get_rng_state,
                      set_rng_state, default_generator)
from ._creation import *                                          # noqa: F401,F403
from .ops import *                                                # noqa: F401,F403
from .ops import activation as _activation
from .special import gammaln as _gammaln  # noqa: F401  (binds dlbasic.special to torch.special's
#  package: the star import above had bound the name to ops.special)
from ._format import set_printoptions
from ._compile import compile                                     # noqa: A001

half = float16
float = float32                                                    # noqa: A001
double = float64
short = int16
int = int32                                                        # noqa: A001
long = int64
cfloat = complex64
cdouble = complex128

__version__ = "0.1.0"


def is_tensor(obj):
    return isinstance(obj, Tensor)


def is_floating_point(input):
    return input.is_floating_point()


def numel(input):
    return input.numel()


def softmax(input, dim, dtype=None):
    """torch.softmax: the same function as ``dlbasic.nn.functional.softmax``."""
    return _activation.softmax(input, dim, dtype=dtype)


def log_softmax(input, dim, dtype=None):
    """torch.log_softmax: the same function as ``dlbasic.nn.functional.log_softmax``."""
    return _activation.log_softmax(input, dim, dtype=dtype)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """torch.cosine_similarity: the same function as ``dlbasic.nn.functional``'s."""
    from .nn import functional as F
    return F.cosine_similarity(x1, x2, dim, eps)


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """torch.cdist: pairwise p-norm distances between the rows of x1 and of x2 (batched)."""
    from .linalg.norms import cdist as _cdist
    return _cdist(x1, x2, p, compute_mode)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """torch.pairwise_distance: the same function as ``dlbasic.nn.functional``'s."""
    from .nn import functional as F
    return F.pairwise_distance(x1, x2, p, eps, keepdim)


from ._parallel import get_num_threads, set_num_threads   # noqa: E402


def __getattr__(name):
    # subpackages load on first use, so ``import dlbasic`` stays light
    import importlib
    if name in ("nn", "optim", "utils", "vision", "models", "profiler", "cuda", "backends",
                "onnx", "distributed", "linalg", "accelerator", "special",
                "distributions", "fft"):
        return importlib.import_module(f".{name}", __name__)
    if name in ("save", "load"):
        from . import serialization
        return getattr(serialization, name)
    raise AttributeError(f"module 'dlbasic' has no attribute '{name}'")
