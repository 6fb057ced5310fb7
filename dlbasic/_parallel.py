"""Intra-op threads for memory-bound kernels (BatchNorm, ReLU, pooling, layout copies).

NumPy runs one ufunc on one core, but it releases the GIL inside the loop of a large ufunc,
reduction or copy.  A kernel that is a few passes over a big activation can therefore split the
batch into row ranges, one per thread, and the threads really run at the same time.  GEMMs are
not split here: OpenBLAS threads them itself.

Each range is further walked in *blocks* of about 1 MiB, so that a kernel's temporaries
for one block (``x - mean`` in BatchNorm, a comparison mask in ReLU) stay in the core's cache
instead of making another trip through memory.

``set_num_threads(n)`` (also ``dlbasic.set_num_threads``) sets how many threads a kernel uses;
the default is the number of CPUs.  With one thread every kernel runs inline.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["get_num_threads", "set_num_threads", "for_blocks"]

_lock = threading.Lock()
_threads = max(1, os.cpu_count() or 1)
_pool = None
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


def _executor():
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_threads - 1, thread_name_prefix="dlbasic")
        return _pool


def _run_range(fn, lo, hi, block):
    for s in range(lo, hi, block):
        fn(slice(s, min(s + block, hi)))


def for_blocks(fn, n, row_bytes):
    """Call ``fn(rows)`` for slices ``rows`` that together cover ``range(n)`` exactly once.

    ``row_bytes``: the bytes one row reads (sets the block size and whether threads pay off).
    The slices are disjoint, so ``fn`` may write its own rows of a shared output; per-row
    partial results (e.g. sums) are combined by the caller afterwards.  With several threads
    the calls run concurrently: ``fn`` must only touch its own rows.
    """
    block = max(1, _BLOCK_BYTES // max(row_bytes, 1))
    threads = min(_threads, n, max(1, (n * row_bytes) // _MIN_PARALLEL_BYTES))
    if threads <= 1:
        _run_range(fn, 0, n, block)
        return
    bounds = [n * t // threads for t in range(threads + 1)]
    pool = _executor()
    futures = [pool.submit(_run_range, fn, bounds[t], bounds[t + 1], block)
               for t in range(1, threads)]
    _run_range(fn, bounds[0], bounds[1], block)
    for f in futures:
        f.result()          # re-raises a worker's exception here
