"""Reference models: torchvision-compatible ResNets, CIFAR ResNets / plain nets, MLP, small CNN.

``get_model(name, **kwargs)`` builds one by name (used by the command line).
"""
from .resnet import *                 # noqa: F401,F403
from .cifar_resnet import *           # noqa: F401,F403
from .mlp import *                    # noqa: F401,F403
from . import resnet as _resnet, cifar_resnet as _cifar, mlp as _mlp

__all__ = (_resnet.__all__ + _cifar.__all__ + _mlp.__all__ + ["get_model", "list_models"])


def _mlp_default(sizes=(784, 256, 128, 10), flatten=True, **kwargs):
    return _mlp.MLP(sizes, flatten=flatten, **kwargs)


_REGISTRY = {
    "mlp": _mlp_default,
    "cnn": _mlp.SmallCNN,
    "mini_resnet": _cifar.mini_resnet,
}
for _d in (8, 20, 32, 44, 56, 110):
    _REGISTRY[f"resnet{_d}"] = getattr(_cifar, f"resnet{_d}")
    _REGISTRY[f"plain{_d}"] = getattr(_cifar, f"plain{_d}")
for _n in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "wide_resnet50_2",
           "wide_resnet101_2", "resnext50_32x4d", "resnext101_32x8d"):
    _REGISTRY[_n] = getattr(_resnet, _n)


def list_models():
    """The names ``get_model`` accepts."""
    return sorted(_REGISTRY)


def get_model(name, **kwargs):
    """Build a model by name: ``get_model("resnet20", num_classes=10, in_channels=1)``."""
    key = name.lower().replace("-", "_")
    if key not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return _REGISTRY[key](**kwargs)
