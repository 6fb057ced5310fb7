"""DataLoader worker start-up: milliseconds from ``iter(loader)`` to the first batch, per worker,
for each start method, with and without busy threads in the process (the fork gate's cost).

    python -m benchmarks.dataloader_startup [--workers 2] [--reps 15]

Prints medians; the 1-minute load average is printed with them.
"""
import argparse
import os
import statistics
import threading
import time

import dlbasic
from dlbasic.utils.data import DataLoader, TensorDataset


def first_batch_ms(loader):
    start = time.perf_counter()
    it = iter(loader)
    next(it)
    ms = (time.perf_counter() - start) * 1e3
    del it
    return ms


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--reps", type=int, default=15)
    a = p.parse_args(argv)
    ds = TensorDataset(dlbasic.randn(256, 1, 28, 28), dlbasic.arange(256))
    print(f"load average {os.getloadavg()[0]:.2f}; {a.workers} workers; median of {a.reps}")
    for method in ["fork", "forkserver", "spawn"]:
        loader = DataLoader(ds, batch_size=32, num_workers=a.workers,
                            multiprocessing_context=method)
        first_batch_ms(loader)                                   # forkserver: start its server
        times = [first_batch_ms(loader) for _ in range(a.reps)]
        print(f"  {method:10s} {statistics.median(times) / a.workers:7.1f} ms per worker")

    stop = threading.Event()

    def busy():
        w = dlbasic.ones(256, 256)
        while not stop.is_set():
            w @ w
    threads = [threading.Thread(target=busy, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    loader = DataLoader(ds, batch_size=32, num_workers=a.workers)
    times = [first_batch_ms(loader) for _ in range(a.reps)]
    stop.set()
    for t in threads:
        t.join()
    print(f"  fork, two threads in 256x256 matmuls: "
          f"{statistics.median(times) / a.workers:7.1f} ms per worker")


if __name__ == "__main__":
    main()
