"""What runs inside a DataLoader worker process, and the messages it exchanges.

Protocol (one index queue per worker, one shared result queue):
  main -> worker:  (task_idx, indices) | _ResumeIteration() | None (= exit)
  worker -> main:  (task_idx, pickled batch / ExceptionWrapper / _IterableDatasetStopIteration)
                   | (_ResumeIteration, None) acknowledgements
Batches are pickled by the worker itself, so a batch that cannot be pickled turns into an
error message for the main process instead of being silently dropped by the queue's feeder
thread (which would leave the main process waiting forever).
"""
import os
import pickle
import queue
import random
import sys
import traceback

import numpy as np

from ... import _random
from ..._tensor import Tensor
from .collate import default_collate
from .dataset import Subset, TensorDataset

__all__ = ["get_worker_info", "WorkerInfo"]

# how often a blocked worker checks that its parent is still alive (seconds)
_STATUS_CHECK_INTERVAL = 1.0

_worker_info = None


class WorkerInfo:
    """Set inside a worker: ``id``, ``num_workers``, ``seed`` and this worker's ``dataset`` copy."""

    __slots__ = ("id", "num_workers", "seed", "dataset")

    def __init__(self, id, num_workers, seed, dataset):                    # noqa: A002
        self.id = id
        self.num_workers = num_workers
        self.seed = seed
        self.dataset = dataset

    def __repr__(self):
        return (f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, "
                f"dataset={self.dataset!r})")


def get_worker_info():
    """The :class:`WorkerInfo` of the current worker process, or ``None`` in the main process."""
    return _worker_info


class _ResumeIteration:
    """Persistent workers: start a new epoch (re-create the iterable dataset's iterator)."""


class _IterableDatasetStopIteration:
    def __init__(self, worker_id):
        self.worker_id = worker_id


class _KeyErrorMessage(str):
    # KeyError's str() is the repr of its argument; keep the traceback readable
    def __repr__(self):
        return self


class ExceptionWrapper:
    """An exception caught in a worker, carried to the main process with its traceback text."""

    def __init__(self, exc_info=None, where="in background"):
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def __reduce__(self):
        exc_type = self.exc_type
        try:                      # a class defined in a function cannot travel; say so instead
            pickle.loads(pickle.dumps(exc_type))
        except Exception:
            exc_type = None
        return (_rebuild_wrapper, (exc_type, self.exc_msg, self.where))

    def reraise(self):
        msg = f"Caught {getattr(self.exc_type, '__name__', 'exception')} {self.where}.\n" \
              f"Original {self.exc_msg}"
        if self.exc_type is None:
            raise RuntimeError(msg)
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)
        try:
            exc = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exc


def _rebuild_wrapper(exc_type, exc_msg, where):
    w = ExceptionWrapper.__new__(ExceptionWrapper)
    w.exc_type, w.exc_msg, w.where = exc_type, exc_msg, where
    return w


def _tensor_source(dataset):
    """(tensors, index map) when ``dataset`` is a TensorDataset, possibly under Subsets, whose
    samples can be gathered for a whole batch with one fancy index per tensor."""
    maps = []
    while isinstance(dataset, Subset) and type(dataset).__getitem__ is Subset.__getitem__:
        maps.append(dataset.indices)
        dataset = dataset.dataset
    if (not isinstance(dataset, TensorDataset)
            or type(dataset).__getitem__ is not TensorDataset.__getitem__
            or any(t.requires_grad for t in dataset.tensors)):
        return None
    return dataset.tensors, maps


class _MapFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        # Fast path: default_collate of TensorDataset rows is the rows gathered at once
        # (a list of stacked tensors), without building one small tensor per sample.
        self.tensor_source = (_tensor_source(dataset)
                              if auto_collation and collate_fn is default_collate else None)

    def _gather(self, index):
        tensors, maps = self.tensor_source
        idx = np.asarray(index, dtype=np.int64)
        for m in maps:
            idx = np.asarray(m, dtype=np.int64)[idx]
        return [Tensor._make(t._data[idx]) for t in tensors]

    def fetch(self, index):
        if self.tensor_source is not None and len(index) > 0:
            return self._gather(index)
        if self.auto_collation:
            getitems = getattr(self.dataset, "__getitems__", None)
            data = getitems(index) if getitems else [self.dataset[i] for i in index]
        else:
            data = self.dataset[index]
        return self.collate_fn(data)


class _IterableFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset_iter = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, index):
        if self.ended:
            raise StopIteration
        if self.auto_collation:
            data = []
            for _ in index:
                try:
                    data.append(next(self.dataset_iter))
                except StopIteration:
                    self.ended = True
                    break
            if not data or (self.drop_last and len(data) < len(index)):
                raise StopIteration
        else:
            data = next(self.dataset_iter)
        return self.collate_fn(data)


def _make_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last):
    cls = _IterableFetcher if is_iterable else _MapFetcher
    return cls(dataset, auto_collation, collate_fn, drop_last)


def _seed_worker(seed, base_seed, worker_id):
    """Each worker gets its own deterministic streams: dlbasic's default generator, Python's
    ``random`` and NumPy's legacy global state."""
    random.seed(seed)
    _random.manual_seed(seed)
    np.random.seed(np.random.SeedSequence([base_seed & (2 ** 64 - 1), worker_id])
                   .generate_state(4))


def _worker_loop(is_iterable, dataset, index_queue, data_queue, done_event, auto_collation,
                 collate_fn, drop_last, base_seed, init_fn, worker_id, num_workers):
    global _worker_info
    try:
        seed = base_seed + worker_id
        _seed_worker(seed, base_seed, worker_id)
        _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
        parent = os.getppid()
        where = f"in DataLoader worker process {worker_id}"

        init_error = None
        fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = _make_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last)
        except Exception:
            init_error = ExceptionWrapper(where=where)

        iteration_end = False
        while True:
            try:
                task = index_queue.get(timeout=_STATUS_CHECK_INTERVAL)
            except queue.Empty:
                if os.getppid() != parent:     # orphaned: the main process is gone
                    break
                continue
            if isinstance(task, _ResumeIteration):
                data_queue.put((task, None))
                iteration_end = False
                if init_error is None:
                    try:
                        fetcher = _make_fetcher(is_iterable, dataset, auto_collation,
                                                collate_fn, drop_last)
                    except Exception:
                        init_error = ExceptionWrapper(where=where)
                continue
            if task is None:                   # shutdown request
                break
            if done_event.is_set() or iteration_end:
                continue                       # draining: no more work for this epoch
            idx, index = task
            if init_error is not None:
                data, init_error = init_error, None
            else:
                try:
                    data = fetcher.fetch(index)
                except StopIteration:
                    if not is_iterable:
                        data = ExceptionWrapper(where=where)
                    else:
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                except Exception:
                    data = ExceptionWrapper(where=where)
            try:
                payload = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                payload = pickle.dumps(ExceptionWrapper(where=where + " (pickling the batch)"))
            data_queue.put((idx, payload))
            del data, payload                  # free the batch while waiting for the next task
    except KeyboardInterrupt:
        pass                                   # the main process handles Ctrl-C
    if done_event.is_set():
        # the main process may not read what is still buffered: do not block exit on it
        data_queue.cancel_join_thread()
        data_queue.close()
