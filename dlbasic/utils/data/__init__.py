"""Data pipeline (torch.utils.data): a ``Dataset`` maps an index to a sample, a ``Sampler``
decides the order of indices, and a ``DataLoader`` turns indices into collated batches,
optionally in worker processes."""
from .dataset import (Dataset, IterableDataset, TensorDataset, Subset, ConcatDataset,
                      ChainDataset, StackDataset, random_split)
from .sampler import (Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler,
                      WeightedRandomSampler, BatchSampler)
from .collate import default_collate, default_convert
from ._worker import get_worker_info, WorkerInfo
from .dataloader import DataLoader
from .distributed import DistributedSampler
from . import distributed                                            # noqa: F401

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
           "ChainDataset", "StackDataset", "random_split", "Sampler", "SequentialSampler",
           "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler",
           "DataLoader", "DistributedSampler", "default_collate", "default_convert", "get_worker_info", "WorkerInfo"]
