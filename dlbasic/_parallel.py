"""Intra-op threads for memory-bound kernels (BatchNorm, ReLU, pooling, layout copies).

NumPy runs one ufunc on one core, but it releases the GIL inside the loop of a large ufunc,
reduction or copy.  A kernel that is a few passes over a big activation can therefore split the
batch into row ranges, one per thread, and the threads really run at the same time.  GEMMs are
not split here: OpenBLAS threads them itself.

Each range is further walked in *blocks* of about 1 MiB, so that a kernel's temporaries
for one block (``x - mean`` in BatchNorm, a comparison mask in ReLU) stay in the core's cache
instead of making another trip through memory.

Kernels built on GEMMs (convolution) split the *batch* instead (``for_ranges``): each thread
runs the whole im2col + GEMM for its own samples, with OpenBLAS held to one thread meanwhile.
A narrow layer's GEMMs are too small for OpenBLAS's own threads to pay off, and its im2col
copies would otherwise run on one core while OpenBLAS's idle workers spin on the other.

``set_num_threads(n)`` (also ``dlbasic.set_num_threads``) sets how many threads a kernel uses;
the default is the number of CPUs.  With one thread every kernel runs inline.

Forking (DataLoader workers) is made safe here too: see ``fork_gate``.
"""
import collections
import contextlib
import ctypes
import glob
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, wait

__all__ = ["get_num_threads", "set_num_threads", "for_blocks", "for_ranges", "fork_gate"]

_lock = threading.Lock()


def _default_threads():
    """The cores, or OMP_NUM_THREADS when it is set (as PyTorch reads it; ``dlbasic run`` sets
    it so that N processes on one machine share its cores)."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return max(1, os.cpu_count() or 1)


_threads = _default_threads()
_pool = None
_in_worker = threading.local()    # set while a thread runs its share: a nested split runs inline
_MIN_PARALLEL_BYTES = 1 << 20      # each thread gets >= 1 MiB, or the hand-off costs more than it saves
_BLOCK_BYTES = 1 << 20             # one block: big enough that per-call overhead is small


def get_num_threads():
    """How many threads a kernel splits its work over."""
    return _threads


def set_num_threads(n):
    """Use ``n`` threads (>= 1) for intra-op parallelism."""
    global _threads, _pool
    n = int(n)
    if n < 1:
        raise RuntimeError(f"set_num_threads expects a positive integer, got {n}")
    with _lock:
        if n != _threads and _pool is not None:
            _pool.shutdown(wait=False)
            _pool = None
        _threads = n


def _mark_worker():
    _in_worker.active = True


def _executor():
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_threads - 1, thread_name_prefix="dlbasic",
                                       initializer=_mark_worker)
        return _pool


class _ForkGate:
    """Holds ``os.fork()`` back until no op is computing, and new ops back until it is done.

    Why: OpenBLAS's pre-fork handler stops its worker threads.  If another thread is inside a
    threaded GEMM at that moment, the handler takes back that GEMM's queued share and then
    waits for threads that wait for each other, so ``fork()`` never returns (a DataLoader
    starting its workers while a second thread trains hangs forever).  Every primitive op's
    forward and backward therefore registers itself in ``running`` while it computes
    (``Op.apply`` / ``Op._run_backward``), and a fork first waits until ``running`` is empty.

    ``running`` is a deque used as an atomic counter (append/pop hold the GIL); an op appends
    *then* checks ``closed``, the fork sets ``closed`` *then* checks ``running``, so one of the
    two always sees the other.  NumPy calls that do not go through a dlbasic op (a user's own
    ``numpy.dot`` in another thread) are not covered: that is NumPy's own hazard.
    """

    WAIT_S = 30.0    # a fork never waits longer than this for ops in flight (then warns)

    def __init__(self):
        self.running = collections.deque()
        self.closed = False
        self._cond = threading.Condition(threading.Lock())

    def wait_open(self):
        """Called by an op that found the gate closed: step back until the fork is done."""
        while self.closed:
            self.running.pop()
            with self._cond:
                while self.closed:
                    self._cond.wait(0.05)
            self.running.append(None)

    def before_fork(self):
        self.closed = True
        deadline = time.monotonic() + self.WAIT_S
        while self.running:
            if time.monotonic() > deadline:
                warnings.warn(f"os.fork(): dlbasic ops still running in other threads after "
                              f"{self.WAIT_S:.0f} s; forking anyway (a threaded BLAS call in "
                              "flight can hang the fork)", RuntimeWarning, stacklevel=2)
                break
            time.sleep(0.0002)

    def after_fork_in_parent(self):
        with self._cond:
            self.closed = False
            self._cond.notify_all()


fork_gate = _ForkGate()


def _after_fork_in_child():
    """A forked child (a DataLoader worker) has none of the parent's threads: no pool, no op
    in flight, and the fork (which closed the gate) is over."""
    global _pool, _lock, _blas_users
    _pool, _lock, _blas_users = None, threading.Lock(), 0
    _in_worker.active = False
    fork_gate.__init__()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=fork_gate.before_fork,
                        after_in_parent=fork_gate.after_fork_in_parent,
                        after_in_child=_after_fork_in_child)


def _split(n, row_bytes):
    """How many threads ``n`` rows of ``row_bytes`` each are worth (1: run inline)."""
    if getattr(_in_worker, "active", False):
        return 1
    return min(_threads, n, max(1, (n * row_bytes) // _MIN_PARALLEL_BYTES))


def _run_range(fn, lo, hi, block):
    for s in range(lo, hi, block):
        fn(slice(s, min(s + block, hi)))


def _own_share(fn, *args):
    """The calling thread's share of a split, marked so that a split inside it runs inline."""
    _in_worker.active = True
    try:
        return fn(*args)
    finally:
        _in_worker.active = False


def for_blocks(fn, n, row_bytes):
    """Call ``fn(rows)`` for slices ``rows`` that together cover ``range(n)`` exactly once.

    ``row_bytes``: the bytes one row reads (sets the block size and whether threads pay off).
    The slices are disjoint, so ``fn`` may write its own rows of a shared output; per-row
    partial results (e.g. sums) are combined by the caller afterwards.  With several threads
    the calls run concurrently: ``fn`` must only touch its own rows.
    """
    block = max(1, _BLOCK_BYTES // max(row_bytes, 1))
    for_ranges(lambda lo, hi: _run_range(fn, lo, hi, block), n, row_bytes, gemm=False)


def for_ranges(fn, n, row_bytes, gemm=True):
    """``[fn(lo, hi), ...]`` for contiguous ranges that split ``range(n)``, one per thread.

    ``gemm``: ``fn`` runs GEMMs.  While the threads run, OpenBLAS is then held to one thread
    (``blas_single_threaded``), so each thread's GEMMs run on its own core; without a BLAS
    whose threads can be held, such work runs inline (two threaded GEMMs at once would fight
    over the cores).  The results come back in range order, so partial sums combined by the
    caller do not depend on timing.
    """
    threads = _split(n, row_bytes)
    if gemm and threads > 1 and not blas_single_threaded.available():
        threads = 1
    if threads <= 1:
        return [fn(0, n)]
    bounds = [n * t // threads for t in range(threads + 1)]
    with blas_single_threaded() if gemm else contextlib.nullcontext():
        pool = _executor()
        futures = [pool.submit(fn, bounds[t], bounds[t + 1]) for t in range(1, threads)]
        try:
            first = _own_share(fn, bounds[0], bounds[1])
        finally:
            wait(futures)            # no worker outlives the single-threaded BLAS
        return [first] + [f.result() for f in futures]


# -- OpenBLAS's thread count ------------------------------------------------------------------

_BLAS_SYMBOLS = [("openblas_get_num_threads", "openblas_set_num_threads"),
                 ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
                 ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                 ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads")]
_blas = None              # (get, set) of the OpenBLAS NumPy uses, False if there is none
_blas_users = 0
_blas_saved = None


def _openblas_paths():
    """OpenBLAS libraries in this process: the one bundled with NumPy's wheel first, then any
    loaded one (a NumPy built against the system's OpenBLAS)."""
    import numpy
    libs = os.path.join(os.path.dirname(os.path.dirname(numpy.__file__)), "numpy.libs")
    found = sorted(glob.glob(os.path.join(libs, "*openblas*")))
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if "openblas" in os.path.basename(path).lower() and path not in found:
                    found.append(path)
    except OSError:
        pass
    return found


def _blas_control():
    global _blas
    if _blas is None:
        _blas = False
        for path in _openblas_paths():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for get, put in _BLAS_SYMBOLS:
                if hasattr(lib, get) and hasattr(lib, put):
                    _blas = (getattr(lib, get), getattr(lib, put))
                    break
            if _blas:
                break
    return _blas


class blas_single_threaded:
    """Context manager: OpenBLAS runs each GEMM on the calling thread only, then is restored.

    OpenBLAS's thread count is process-wide, so nested and concurrent uses share one count of
    users and the last one out restores it.  Without OpenBLAS (NumPy built on another BLAS)
    this does nothing; ``available()`` says which.
    """

    @staticmethod
    def available():
        return bool(_blas_control())

    def __enter__(self):
        global _blas_users, _blas_saved
        control = _blas_control()
        if control:
            with _lock:
                if _blas_users == 0:
                    _blas_saved = control[0]()
                    if _blas_saved != 1:
                        control[1](1)
                _blas_users += 1
        return self

    def __exit__(self, *exc):
        global _blas_users
        control = _blas_control()
        if control:
            with _lock:
                _blas_users -= 1
                if _blas_users == 0 and _blas_saved != 1:
                    control[1](_blas_saved)
        return False
