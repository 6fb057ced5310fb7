"""Utilities: ``dlbasic.utils.data`` (datasets, samplers, DataLoader) and
``dlbasic.utils.safetensors`` (safetensors files; needs the optional ``safetensors`` package)."""
from . import data  # noqa: F401


def __getattr__(name):
    # loaded on first use; the module itself imports the safetensors package only when called
    if name == "safetensors":
        import importlib
        return importlib.import_module(".safetensors", __name__)
    raise AttributeError(f"module 'dlbasic.utils' has no attribute '{name}'")
