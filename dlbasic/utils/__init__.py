"""Utilities: ``dlbasic.utils.data`` (datasets, samplers, DataLoader),
``dlbasic.utils.safetensors`` (safetensors files; needs the optional ``safetensors`` package),
``dlbasic.utils.checkpoint`` (activation checkpointing) and ``dlbasic.utils.tensorboard``
(``SummaryWriter``; needs the optional ``tensorboard`` package)."""
from . import data  # noqa: F401


def __getattr__(name):
    # loaded on first use; they import their optional packages only when called
    if name in ("safetensors", "checkpoint", "tensorboard"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'dlbasic.utils' has no attribute '{name}'")
