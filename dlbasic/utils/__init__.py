"""Utilities: ``dlbasic.utils.data`` (datasets, samplers, DataLoader)."""
from . import data  # noqa: F401
