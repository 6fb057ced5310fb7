"""Per-op overhead: a graph of 200 tiny elementwise ops on 16-element float32 tensors.

Times forward + backward of the same graph in dlbasic and in PyTorch (one thread), in
interleaved repetitions so both see the same machine state, and prints the median time per op
for each and their ratio, then one JSON line.

    python -m benchmarks.tiny_ops [--ops 200] [--reps 30]
"""
import argparse
import json
import statistics
import time

import numpy as np


def build_and_backward(lib, x0, w0, b0, n_ops):
    """Forward n_ops elementwise ops (a repeating mul/add/tanh/sub/sigmoid/mul pattern),
    then backward from the sum."""
    x = lib.tensor(x0, requires_grad=True)
    w = lib.tensor(w0, requires_grad=True)
    b = lib.tensor(b0, requires_grad=True)
    y = x
    for i in range(n_ops):
        k = i % 6
        if k == 0:
            y = y * w
        elif k == 1:
            y = y + b
        elif k == 2:
            y = y.tanh()
        elif k == 3:
            y = y - x
        elif k == 4:
            y = y.sigmoid()
        else:
            y = y * 0.5
    y.sum().backward()
    return x.grad, w.grad, b.grad


def _time_once(lib, args, n_ops):
    t0 = time.perf_counter()
    build_and_backward(lib, *args, n_ops)
    return time.perf_counter() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ops", type=int, default=200)
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--size", type=int, default=16)
    a = p.parse_args(argv)

    import dlbasic
    import torch
    torch.set_num_threads(1)

    rng = np.random.default_rng(0)
    args = tuple(rng.standard_normal(a.size).astype(np.float32) for _ in range(3))

    # same gradients in both libraries: the benchmark measures a real, correct graph
    gd = build_and_backward(dlbasic, *args, a.ops)
    gt = build_and_backward(torch, *args, a.ops)
    for d, t in zip(gd, gt):
        np.testing.assert_allclose(d.numpy(), t.numpy(), rtol=1e-3, atol=1e-5)

    for _ in range(3):                                   # warm-up
        _time_once(dlbasic, args, a.ops)
        _time_once(torch, args, a.ops)
    times = {"dlbasic": [], "torch": []}
    for r in range(a.reps):                              # interleaved, alternating order
        order = ("dlbasic", "torch") if r % 2 == 0 else ("torch", "dlbasic")
        for name in order:
            lib = dlbasic if name == "dlbasic" else torch
            times[name].append(_time_once(lib, args, a.ops))

    us_per_op = {k: statistics.median(v) / a.ops * 1e6 for k, v in times.items()}
    ratio = us_per_op["dlbasic"] / us_per_op["torch"]
    print(f"tiny-op graph: {a.ops} elementwise ops on {a.size}-element float32 tensors, "
          f"forward + backward, median of {a.reps} interleaved runs")
    print(f"  dlbasic : {us_per_op['dlbasic']:7.2f} us/op")
    print(f"  torch   : {us_per_op['torch']:7.2f} us/op  (torch.set_num_threads(1))")
    print(f"  ratio   : {ratio:7.2f} x  (dlbasic / torch)")
    print(json.dumps({"benchmark": "tiny_ops", "ops": a.ops, "size": a.size, "reps": a.reps,
                      "dlbasic_us_per_op": round(us_per_op["dlbasic"], 3),
                      "torch_us_per_op": round(us_per_op["torch"], 3),
                      "ratio": round(ratio, 3)}))
    return us_per_op


if __name__ == "__main__":
    main()
