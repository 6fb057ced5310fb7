"""W3: Conv2d 3x3, 64->64 channels, 32x32, batch 64, padding 1 -- dlbasic against PyTorch.

    python -m benchmarks.conv_bench [--repeats 7] [--threads N] [--batch 64]

Both libraries get the same input, weight and upstream gradient and the same thread count;
runs are interleaved (dlbasic, torch, dlbasic, torch, ...) so a noisy machine hurts both
alike.  Prints median / min / max milliseconds and the ratio of medians dlbasic / torch for the
forward pass and for forward + backward (weight, input and bias gradients).
"""
import argparse
import os
import statistics
import time

import numpy as np


def _time(fn):
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000.0


def run(batch=64, channels=64, size=32, repeats=7, threads=None, warmup=2):
    import torch
    import dlbasic
    import dlbasic.nn.functional as dF

    threads = threads or os.cpu_count()
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, channels, size, size)).astype(np.float32)
    w = (rng.standard_normal((channels, channels, 3, 3)) / np.sqrt(9 * channels)).astype(np.float32)
    b = rng.standard_normal(channels).astype(np.float32)
    g = rng.standard_normal((batch, channels, size, size)).astype(np.float32)

    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    tg = torch.tensor(g)
    dx, dw, db = (dlbasic.tensor(a, requires_grad=True) for a in (x, w, b))
    dg = dlbasic.tensor(g)

    def torch_fwd():
        with torch.no_grad():
            torch.nn.functional.conv2d(tx, tw, tb, padding=1)

    def torch_fwd_bwd():
        tx.grad = tw.grad = tb.grad = None
        torch.nn.functional.conv2d(tx, tw, tb, padding=1).backward(tg)

    def dl_fwd():
        with dlbasic.no_grad():
            dF.conv2d(dx, dw, db, padding=1)

    def dl_fwd_bwd():
        dx.grad = dw.grad = db.grad = None
        dF.conv2d(dx, dw, db, padding=1).backward(dg)

    # same numbers first
    dl_fwd_bwd()
    torch_fwd_bwd()
    err = np.abs(dx.grad.numpy() - tx.grad.numpy()).max()
    assert err < 1e-3, f"input gradients differ by {err}"

    results = {}
    for name, d_fn, t_fn in (("forward", dl_fwd, torch_fwd),
                             ("forward+backward", dl_fwd_bwd, torch_fwd_bwd)):
        for _ in range(warmup):
            d_fn()
            t_fn()
        d_times, t_times = [], []
        for _ in range(repeats):
            d_times.append(_time(d_fn))
            t_times.append(_time(t_fn))
        results[name] = (d_times, t_times)
    return results, threads


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args(argv)
    results, threads = run(batch=args.batch, repeats=args.repeats, threads=args.threads)
    print(f"conv2d 3x3 64->64, 32x32, batch {args.batch}, padding 1, float32, "
          f"{threads} threads, {args.repeats} interleaved runs")
    print(f"{'':18s} {'dlbasic ms (min-max)':>24s} {'torch ms (min-max)':>24s} {'ratio':>6s}")
    for name, (d, t) in results.items():
        dm, tm = statistics.median(d), statistics.median(t)
        print(f"{name:18s} {dm:9.1f} ({min(d):6.1f}-{max(d):6.1f}) "
              f"{tm:9.1f} ({min(t):6.1f}-{max(t):6.1f}) {dm / tm:6.2f}")


if __name__ == "__main__":
    main()
