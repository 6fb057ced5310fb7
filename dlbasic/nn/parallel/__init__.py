"""Data parallelism: ``DistributedDataParallel`` (one process per replica, on MPI)."""
from .distributed import DistributedDataParallel                     # noqa: F401

__all__ = ["DistributedDataParallel"]
