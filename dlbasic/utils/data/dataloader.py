"""DataLoader: batches from a dataset, in this process or in worker processes.

``for idx, (img, label) in enumerate(loader)``: the loader asks its (batch) sampler for
indices, fetches ``dataset[i]`` for each, and collates them into a batch (the notes' split of
responsibilities). With ``num_workers > 0`` the fetching and collation run in worker
processes: each worker gets whole batches of indices round-robin, up to
``prefetch_factor`` batches per worker are in flight, and results are put back in sampler
order by their task number, so the batch sequence equals the single-process one.
"""
import itertools
import multiprocessing
import pickle
import queue
import signal
import time
import warnings
import weakref

from ..._random import _rng
from . import _worker
from .collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import Sampler, SequentialSampler, RandomSampler, BatchSampler

__all__ = ["DataLoader"]

# how often the main process wakes up to check worker liveness while waiting (seconds)
_POLL_INTERVAL = 0.1
# how long shutdown waits for a worker to exit before terminating it
_JOIN_TIMEOUT = 5.0


class _InfiniteConstantSampler(Sampler):
    """IterableDataset: the 'indices' are placeholders; the dataset decides what comes next."""

    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """Combines a dataset and a sampler and iterates over batches (torch.utils.data.DataLoader)."""

    _frozen = False

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in "
                             "multiprocessing.let num_workers > 0 to enable multiprocessing, "
                             "otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        if pin_memory:
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, "
                          "then device pinned memory won't be used.")
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.in_order = in_order
        self.multiprocessing_context = multiprocessing_context

        self._is_iterable = isinstance(dataset, IterableDataset)
        if self._is_iterable:
            if shuffle not in {False, None}:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")

        if sampler is None:
            if self._is_iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self._iterator = None
        self._frozen = True

    # torch forbids changing how indices are produced once the loader exists
    def __setattr__(self, name, value):
        if self._frozen and name in ("batch_size", "batch_sampler", "sampler", "drop_last",
                                     "dataset", "persistent_workers"):
            raise ValueError(f"{name} attribute should not be set after "
                             f"{self.__class__.__name__} is initialized")
        super().__setattr__(name, value)

    @property
    def multiprocessing_context(self):
        return self._mp_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, ctx):
        if ctx is not None:
            if self.num_workers <= 0:
                raise ValueError(f"multiprocessing_context can only be used with multi-process "
                                 f"loading (num_workers > 0), but got num_workers="
                                 f"{self.num_workers}")
            if isinstance(ctx, str):
                valid = multiprocessing.get_all_start_methods()
                if ctx not in valid:
                    raise ValueError(f"multiprocessing_context option should specify a valid "
                                     f"start method in {valid!r}, but got "
                                     f"multiprocessing_context={ctx!r}")
                ctx = multiprocessing.get_context(ctx)
            elif not isinstance(ctx, multiprocessing.context.BaseContext):
                raise TypeError(f"multiprocessing_context option should be a valid context "
                                f"object or a string specifying the start method, but got "
                                f"multiprocessing_context={ctx}")
        self._mp_context = ctx

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def _get_iterator(self):
        if self.num_workers == 0:
            return _SingleProcessDataLoaderIter(self)
        return _MultiProcessingDataLoaderIter(self)

    def __iter__(self):
        if self.persistent_workers and self.num_workers > 0:
            if self._iterator is None:
                self._iterator = self._get_iterator()
            else:
                self._iterator._reset(self)
            return self._iterator
        return self._get_iterator()

    def __len__(self):
        if self._is_iterable:
            length = len(self.dataset)          # TypeError when the dataset has no length
            if self.batch_size is not None:
                if self.drop_last:
                    length = length // self.batch_size
                else:
                    length = -(-length // self.batch_size)
            return length
        return len(self._index_sampler)


class _BaseDataLoaderIter:
    def __init__(self, loader):
        self._dataset = loader.dataset
        self._is_iterable = loader._is_iterable
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        self._prefetch_factor = loader.prefetch_factor
        self._timeout = loader.timeout
        self._collate_fn = loader.collate_fn
        self._persistent_workers = loader.persistent_workers
        self._sampler_iter = iter(self._index_sampler)
        # drawn with or without workers, so both consume the generator identically and give
        # the same batch order for the same seed
        self._base_seed = int(_rng(loader.generator).integers(0, 2 ** 63))
        self._num_yielded = 0
        self._loader_len = None
        try:
            self._loader_len = len(loader)
        except TypeError:
            pass

    def __iter__(self):
        return self

    def _reset(self, loader, first_iter=False):
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0

    def _next_index(self):
        return next(self._sampler_iter)

    def __next__(self):
        data = self._next_data()
        self._num_yielded += 1
        return data

    def __len__(self):
        return len(self._index_sampler)


class _SingleProcessDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader):
        if loader.timeout != 0:
            # torch asserts the same (AssertionError): a timeout only bounds waits on workers
            raise AssertionError(f"DataLoader timeout={loader.timeout} needs worker processes: "
                                 f"with num_workers=0 the timeout must be 0")
        super().__init__(loader)
        self._fetcher = _worker._make_fetcher(self._is_iterable, self._dataset,
                                              self._auto_collation, self._collate_fn,
                                              self._drop_last)

    def _next_data(self):
        index = self._next_index()
        return self._fetcher.fetch(index)


class _MultiProcessingDataLoaderIter(_BaseDataLoaderIter):
    """Worker processes with prefetching and in-order delivery.

    Bookkeeping: ``_send_idx`` numbers the tasks handed out, ``_rcvd_idx`` is the next task to
    return; ``_task_worker[i]`` says which worker owns an outstanding task and
    ``_reorder[i]`` holds results that arrived before their turn.
    """

    def __init__(self, loader):
        super().__init__(loader)
        ctx = loader.multiprocessing_context
        if ctx is None:
            # fork is much faster to start and needs nothing picklable; spawn and forkserver
            # work on request.  A fork never hangs on a BLAS call in flight in another thread:
            # it waits for dlbasic's ops to finish first (dlbasic._parallel.fork_gate).
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
        self._worker_init_fn = loader.worker_init_fn
        self._shutdown = False
        self._done_event = ctx.Event()
        self._result_queue = ctx.Queue()
        self._index_queues = []
        self._workers = []
        try:
            for i in range(self._num_workers):
                iq = ctx.Queue()
                iq.cancel_join_thread()    # never block our exit on undelivered index lists
                w = ctx.Process(target=_worker._worker_loop,
                                args=(self._is_iterable, self._dataset, iq, self._result_queue,
                                      self._done_event, self._auto_collation, self._collate_fn,
                                      self._drop_last, self._base_seed, self._worker_init_fn,
                                      i, self._num_workers),
                                daemon=True)
                self._index_queues.append(iq)
                w.start()              # spawn: fails here if the dataset cannot be pickled
                self._workers.append(w)
        except BaseException:
            for w in self._workers:
                w.terminate()
                w.join(timeout=1.0)
            raise
        self._worker_pids = [w.pid for w in self._workers]
        # a weak finaliser also covers iterators that are never garbage-collected explicitly
        self._finalizer = weakref.finalize(self, _shutdown_workers, self._workers,
                                           self._index_queues, self._result_queue,
                                           self._done_event)
        self._reset(loader, first_iter=True)

    def _reset(self, loader, first_iter=False):
        super()._reset(loader, first_iter)
        self._send_idx = 0
        self._rcvd_idx = 0
        self._task_worker = {}
        self._reorder = {}
        self._tasks_outstanding = 0
        self._worker_active = [True] * self._num_workers
        self._worker_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:
            # persistent workers: start a new epoch in every worker, and drop whatever the
            # previous (possibly abandoned) epoch still had in flight
            for iq in self._index_queues:
                iq.put(_worker._ResumeIteration())
            acks = 0
            while acks < self._num_workers:
                idx, _ = self._get_result()
                if isinstance(idx, _worker._ResumeIteration):
                    acks += 1
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def _try_put_index(self):
        if self._tasks_outstanding >= self._prefetch_factor * self._num_workers:
            return
        try:
            index = self._next_index()
        except StopIteration:
            return
        for _ in range(self._num_workers):
            worker_id = next(self._worker_cycle)
            if self._worker_active[worker_id]:
                break
        else:
            return       # every worker has finished its iterable dataset
        self._index_queues[worker_id].put((self._send_idx, index))
        self._task_worker[self._send_idx] = worker_id
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _check_workers(self):
        """Turn a dead worker into a clear error instead of a wait that never ends."""
        for worker_id, w in enumerate(self._workers):
            if not self._worker_active[worker_id] and not self._persistent_workers:
                continue
            code = w.exitcode
            if code is None:
                continue
            self._kill_workers()
            if code < 0:
                try:
                    name = signal.strsignal(-code) or signal.Signals(-code).name
                except (ValueError, AttributeError):
                    name = f"signal {-code}"
                raise RuntimeError(f"DataLoader worker (pid {w.pid}) is killed by signal: "
                                   f"{name}. ")
            raise RuntimeError(f"DataLoader worker (pid(s) {w.pid}) exited unexpectedly "
                               f"with exit code {code}")

    def _get_result(self):
        """The next message from any worker, polling liveness and honouring ``timeout``."""
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        while True:
            wait = _POLL_INTERVAL
            if deadline is not None:
                wait = min(wait, max(deadline - time.monotonic(), 0.0))
            try:
                return self._result_queue.get(timeout=wait)
            except queue.Empty:
                pass
            self._check_workers()
            if deadline is not None and time.monotonic() >= deadline:
                self._kill_workers()
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")

    def _next_data(self):
        while True:
            # skip tasks of workers that ran out of data (iterable datasets)
            while self._rcvd_idx < self._send_idx:
                if self._rcvd_idx in self._reorder:
                    break
                worker_id = self._task_worker.get(self._rcvd_idx)
                if worker_id is not None and self._worker_active[worker_id]:
                    break
                self._task_worker.pop(self._rcvd_idx, None)
                self._rcvd_idx += 1
            else:
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration

            if self._rcvd_idx in self._reorder:
                payload = self._reorder.pop(self._rcvd_idx)
                self._task_worker.pop(self._rcvd_idx, None)
                self._rcvd_idx += 1
                return self._process(payload)

            idx, payload = self._get_result()
            if isinstance(idx, _worker._ResumeIteration):
                continue
            self._tasks_outstanding -= 1
            data = self._unpickle(payload)
            if isinstance(data, _worker._IterableDatasetStopIteration):
                self._worker_active[data.worker_id] = False
                if not self._persistent_workers:
                    self._index_queues[data.worker_id].put(None)
                self._try_put_index()
                continue
            if idx != self._rcvd_idx:
                self._reorder[idx] = data
                continue
            self._task_worker.pop(idx, None)
            self._rcvd_idx += 1
            return self._process(data)

    def _unpickle(self, payload):
        try:
            return pickle.loads(payload)
        except Exception as e:
            self._shutdown_workers()
            raise RuntimeError(f"DataLoader could not unpickle a batch sent by a worker: "
                               f"{type(e).__name__}: {e}") from None

    def _process(self, data):
        self._try_put_index()
        if isinstance(data, _worker.ExceptionWrapper):
            data.reraise()
        return data

    def _kill_workers(self):
        # after a death or a timeout the others may be stuck (e.g. on a queue lock the dead
        # worker held): terminate instead of waiting for a polite exit
        for w in self._workers:
            if w.is_alive():
                w.terminate()
        self._shutdown_workers()

    def _shutdown_workers(self):
        if self._shutdown:
            return
        self._shutdown = True
        self._finalizer()

    def __del__(self):
        try:
            self._shutdown_workers()
        except Exception:
            pass


def _shutdown_workers(workers, index_queues, result_queue, done_event):
    """Ask every worker to exit, wait briefly, then terminate stragglers; never blocks long."""
    try:
        done_event.set()
        for iq in index_queues:
            try:
                iq.put(None)
            except (ValueError, OSError):
                pass
        deadline = time.monotonic() + _JOIN_TIMEOUT
        for w in workers:
            if w.pid is None:
                continue
            w.join(timeout=max(deadline - time.monotonic(), 0.0))
            if w.is_alive():
                w.terminate()
                w.join(timeout=1.0)
        for q in list(index_queues) + [result_queue]:
            try:
                q.cancel_join_thread()
                q.close()
            except (ValueError, OSError):
                pass
    except Exception:
        # interpreter shutdown: modules may already be half torn down
        pass
