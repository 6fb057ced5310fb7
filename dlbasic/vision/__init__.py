"""Vision: datasets (MNIST, Fashion-MNIST, FakeData) and image transforms (torchvision)."""
from . import datasets, transforms  # noqa: F401

__all__ = ["datasets", "transforms"]
