"""DataLoader with real worker processes: order, seeding, errors, deaths, timeouts, shutdown.

Every test uses tiny datasets and at most two workers; waits are bounded so a bug shows up as
a failure, never as a hung test run.
"""
import gc
import os
import pickle
import signal
import threading
import time

import numpy as np
import pytest

import dlbasic
from dlbasic.utils.data import (DataLoader, Dataset, IterableDataset, TensorDataset,
                                get_worker_info)
from dlbasic.vision import transforms


class Indexed(Dataset):
    """Sample i: (float32 vector filled with i, i)."""

    def __init__(self, n=23):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full(3, i, dtype=np.float32), i


class FailsAt(Indexed):
    def __init__(self, bad, exc=ValueError):
        super().__init__(40)
        self.bad = bad
        self.exc = exc

    def __getitem__(self, i):
        if i == self.bad:
            raise self.exc(f"sample {i} is broken")
        return super().__getitem__(i)


class Slow(Indexed):
    def __init__(self, n=40, delay=0.05):
        super().__init__(n)
        self.delay = delay

    def __getitem__(self, i):
        time.sleep(self.delay)
        return super().__getitem__(i)


class UnevenSpeed(Indexed):
    """Even batches (of size 2) are slow, so results arrive out of order."""

    def __getitem__(self, i):
        if (i // 2) % 2 == 0:
            time.sleep(0.03)
        return super().__getitem__(i)


class WhoAmI(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return {"pid": os.getpid(), "id": info.id, "num_workers": info.num_workers,
                "seed": info.seed, "np": float(np.random.rand()),
                "dl": float(dlbasic.rand(1).item()), "same_dataset": info.dataset is self}


class RandomFlip(Dataset):
    """A transform drawing from dlbasic's default generator inside the worker."""

    def __init__(self):
        self.img = np.arange(16, dtype=np.uint8).reshape(4, 4)
        self.flip = transforms.RandomHorizontalFlip(0.5)

    def __len__(self):
        return 16

    def __getitem__(self, i):
        return self.flip(self.img)


class Shard(IterableDataset):
    def __init__(self, n, split=True):
        self.n = n
        self.split = split

    def __iter__(self):
        info = get_worker_info()
        if info is None or not self.split:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


class Unpicklable(Indexed):
    def __getitem__(self, i):
        return threading.Lock()


class ExitsWorker(Indexed):
    def __getitem__(self, i):
        if i == 5:
            os._exit(3)
        return super().__getitem__(i)


def _batches(loader):
    return [(x.numpy().copy(), y.numpy().copy()) for x, y in loader]


def _init_marks_dataset(worker_id):
    info = get_worker_info()
    info.dataset.marker = 100 + worker_id


class Marked(Indexed):
    marker = -1

    def __getitem__(self, i):
        return self.marker


def _failing_init(worker_id):
    raise KeyError(f"init failed in {worker_id}")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): look at its state
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# -- results -----------------------------------------------------------------------------

@pytest.mark.parametrize("shuffle", [False, True])
def test_workers_give_the_same_batches_as_the_main_process(shuffle):
    dlbasic.manual_seed(11)
    ref = _batches(DataLoader(Indexed(), batch_size=4, shuffle=shuffle))
    dlbasic.manual_seed(11)
    got = _batches(DataLoader(Indexed(), batch_size=4, shuffle=shuffle, num_workers=2))
    assert len(got) == len(ref) == 6
    for (x1, y1), (x2, y2) in zip(ref, got):
        assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
        assert x2.dtype == np.float32 and y2.dtype == np.int64


def test_batch_order_preserved_when_workers_finish_out_of_order():
    got = [y.tolist() for _, y in DataLoader(UnevenSpeed(16), batch_size=2, num_workers=2)]
    assert got == [[i, i + 1] for i in range(0, 16, 2)]


def test_tensor_dataset_through_workers_keeps_dtypes():
    x = dlbasic.randn(10, 2)
    y = dlbasic.arange(10)
    out = list(DataLoader(TensorDataset(x, y), batch_size=4, num_workers=2))
    assert np.array_equal(np.concatenate([b[0].numpy() for b in out]), x.numpy())
    assert out[0][1].dtype == dlbasic.int64 and isinstance(out[0][0], dlbasic.Tensor)


def test_spawn_context_works():
    dl = DataLoader(Indexed(6), batch_size=4, num_workers=1, multiprocessing_context="spawn")
    assert [y.tolist() for _, y in dl] == [[0, 1, 2, 3], [4, 5]]


# -- seeding and worker info ---------------------------------------------------------------

def test_worker_info_and_deterministic_seeds():
    def run():
        dlbasic.manual_seed(5)
        return [b for b in DataLoader(WhoAmI(), batch_size=None, num_workers=2)]

    a, b = run(), run()
    assert [s["id"] for s in a] == [0, 1] * 4          # round-robin over the two workers
    assert all(s["num_workers"] == 2 and s["same_dataset"] for s in a)
    assert {s["seed"] for s in a if s["id"] == 1} == {a[0]["seed"] + 1}   # base_seed + id
    assert [(s["np"], s["dl"]) for s in a] == [(s["np"], s["dl"]) for s in b]
    w0 = [s["dl"] for s in a if s["id"] == 0]
    w1 = [s["dl"] for s in a if s["id"] == 1]
    assert w0 != w1                                    # workers do not share a stream
    assert len({s["pid"] for s in a}) == 2 and os.getpid() not in {s["pid"] for s in a}


def test_random_transforms_in_workers_are_reproducible():
    def run():
        dlbasic.manual_seed(9)
        return [t.numpy().copy() for t in DataLoader(RandomFlip(), batch_size=4, num_workers=2)]

    a, b = run(), run()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    flipped = sum(int(not np.array_equal(img, RandomFlip().img)) for x in a for img in x)
    assert 0 < flipped < 16


def test_worker_init_fn_runs_in_each_worker():
    dl = DataLoader(Marked(6), batch_size=None, num_workers=2,
                    worker_init_fn=_init_marks_dataset)
    assert list(dl) == [100, 101, 100, 101, 100, 101]


# -- iterable datasets -----------------------------------------------------------------------

def test_iterable_dataset_split_by_worker_yields_each_item_once():
    out = [b.tolist() for b in DataLoader(Shard(11), batch_size=2, num_workers=2)]
    assert sorted(sum(out, [])) == list(range(11))
    assert out[0] == [0, 2] and out[1] == [1, 3]       # workers alternate


def test_iterable_dataset_without_split_is_duplicated_per_worker():
    out = [b.tolist() for b in DataLoader(Shard(4, split=False), batch_size=2, num_workers=2)]
    assert sorted(sum(out, [])) == [0, 0, 1, 1, 2, 2, 3, 3]


# -- errors: never a hang -------------------------------------------------------------------

def test_exception_in_worker_surfaces_quickly_with_traceback():
    # timeout: a regression fails with "timed out" instead of hanging the test run
    dl = DataLoader(FailsAt(9), batch_size=4, num_workers=2, timeout=10)
    start = time.monotonic()
    with pytest.raises(ValueError) as info:
        list(dl)
    assert time.monotonic() - start < 5.0
    msg = str(info.value)
    assert "Caught ValueError in DataLoader worker process" in msg
    assert "sample 9 is broken" in msg and "Traceback" in msg and "__getitem__" in msg


def test_key_error_in_worker_keeps_a_readable_message():
    with pytest.raises(KeyError) as info:
        list(DataLoader(FailsAt(1, KeyError), batch_size=2, num_workers=1, timeout=10))
    assert "Caught KeyError in DataLoader worker process 0" in str(info.value)
    assert "\\n" not in str(info.value)


def test_exception_in_worker_init_fn_surfaces():
    start = time.monotonic()
    with pytest.raises(KeyError, match="init failed in"):
        list(DataLoader(Indexed(4), batch_size=2, num_workers=1, worker_init_fn=_failing_init,
                        timeout=10))
    assert time.monotonic() - start < 5.0


def test_unpicklable_batch_is_an_error_not_a_hang():
    start = time.monotonic()
    with pytest.raises(Exception, match="pickl"):
        list(DataLoader(Unpicklable(4), batch_size=None, num_workers=1, timeout=10))
    assert time.monotonic() - start < 5.0


def test_worker_killed_by_sigkill_gives_clear_runtime_error():
    it = iter(DataLoader(Slow(40, 0.05), batch_size=2, num_workers=2, timeout=10))
    next(it)
    victim = it._workers[0].pid
    os.kill(victim, signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(RuntimeError,
                       match=rf"DataLoader worker \(pid {victim}\) is killed by signal: Killed"):
        for _ in it:
            pass
    assert time.monotonic() - start < 5.0


def test_worker_exiting_unexpectedly_gives_runtime_error():
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="exited unexpectedly with exit code 3"):
        list(DataLoader(ExitsWorker(12), batch_size=2, num_workers=2, timeout=10))
    assert time.monotonic() - start < 5.0


def test_timeout_raises_runtime_error():
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.3 seconds"):
        list(DataLoader(Slow(20, 0.2), batch_size=10, num_workers=1, timeout=0.3))
    assert time.monotonic() - start < 3.0


# -- lifecycle ----------------------------------------------------------------------------

def test_early_break_shuts_workers_down():
    it = iter(DataLoader(Indexed(200), batch_size=2, num_workers=2))
    next(it)
    pids = [w.pid for w in it._workers]
    assert all(_alive(p) for p in pids)
    del it
    gc.collect()
    deadline = time.monotonic() + 5.0
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)


def test_workers_exit_after_a_full_epoch():
    it = iter(DataLoader(Indexed(8), batch_size=4, num_workers=2))
    pids = [w.pid for w in it._workers]
    assert len(list(it)) == 2
    assert not any(w.is_alive() for w in it._workers)
    assert not any(_alive(p) for p in pids)


def test_persistent_workers_survive_epochs():
    class Pids(Indexed):
        def __getitem__(self, i):
            return os.getpid()

    dl = DataLoader(Pids(6), batch_size=None, num_workers=2, persistent_workers=True)
    first = list(dl)
    second = list(dl)
    assert len(first) == len(second) == 6
    assert set(first) == set(second) and len(set(first)) == 2
    # an abandoned epoch does not leak stale batches into the next one
    it = iter(dl)
    next(it)
    assert len(list(dl)) == 6
    dl._iterator._shutdown_workers()


def test_persistent_workers_restart_iterable_datasets():
    dl = DataLoader(Shard(5), batch_size=2, num_workers=2, persistent_workers=True)
    for _ in range(2):
        assert sorted(sum((b.tolist() for b in dl), [])) == list(range(5))
    dl._iterator._shutdown_workers()


def test_tensor_pickles_with_data_and_requires_grad():
    t = dlbasic.tensor([1.0, 2.0], requires_grad=True)
    u = pickle.loads(pickle.dumps(t))
    assert u.tolist() == [1.0, 2.0] and u.requires_grad and u.dtype == dlbasic.float32
