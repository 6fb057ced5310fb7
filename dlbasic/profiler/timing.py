"""Per-layer timing, achieved FLOP/s, and the roofline verdict.

FLOPs measure a model's work; FLOPS (per second) measure a machine (DL_basic.md).  The practical
ceiling of this machine is its BLAS GEMM, so ``machine_peak()`` times one float32
``np.matmul`` of 1024^3 (2 * 1024^3 FLOPs) once per process and caches it; every layer's
achieved GFLOP/s is shown as a fraction of that.

Arithmetic intensity = FLOPs / bytes moved (inputs + weights + outputs of each primitive, the
minimum traffic).  Compared with the machine balance (peak FLOP/s / memory bandwidth, measured by
copying a 32 MiB array) it says whether a layer is compute-bound (above the balance: a better
GEMM would help) or memory-bound (below: fewer passes over memory would help) -- the roofline
model.
"""
import time

import numpy as np

from ..autograd.grad_mode import no_grad
from .flops import _check_count, _make_inputs, _PreserveState, run_counted
from .report import Report

__all__ = ["machine_peak", "profile"]

_PEAK = {}


def _best_time(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def machine_peak(n=1024, repeat=5, refresh=False):
    """This machine's measured float32 GEMM FLOP/s and memory bandwidth (cached).

    Returns a dict: ``peak_flops_per_s``, ``peak_gflops_per_s``, ``peak_n``,
    ``bandwidth_bytes_per_s``, ``bandwidth_gb_per_s``, ``machine_balance`` (FLOP per byte).
    """
    key = (n, repeat)
    if key in _PEAK and not refresh:
        return dict(_PEAK[key])
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    np.matmul(a, b)                                      # warm-up (threads, caches)
    t = _best_time(lambda: np.matmul(a, b), repeat)
    peak = 2.0 * n ** 3 / t
    src = np.ones(8 * 1024 * 1024, dtype=np.float32)     # 32 MiB: larger than the caches
    dst = np.empty_like(src)
    np.copyto(dst, src)
    tb = _best_time(lambda: np.copyto(dst, src), repeat)
    bw = 2.0 * src.nbytes / tb                           # read + write
    _PEAK[key] = {"peak_flops_per_s": peak, "peak_gflops_per_s": peak / 1e9, "peak_n": n,
                  "bandwidth_bytes_per_s": bw, "bandwidth_gb_per_s": bw / 1e9,
                  "machine_balance": peak / bw}
    return dict(_PEAK[key])


def profile(model, inputs, count="matmul", exact=False, backward=True, loss_fn=None,
            warmup=0, kwargs=None):
    """Count FLOPs and time one forward (and backward) pass, per module path.

    ``inputs``: a shape, a Tensor or a list of those (see ``count_flops``).  With
    ``backward=True`` the forward runs with autograd on and ``loss_fn(output)`` (default
    ``output.sum()``) is back-propagated; each primitive's backward time is charged to the
    module that ran its forward.  ``warmup`` extra untimed passes run first.  The model's
    buffers, parameter gradients and the RNG are restored afterwards.

    Returns a :class:`~dlbasic.profiler.Report` whose rows also carry ``fwd_ms``, ``bwd_ms``,
    ``gflops_per_s``, ``peak_fraction``, ``intensity`` (FLOP/byte) and ``bound``
    (``"compute"`` or ``"memory"``).  To keep it cheap on big models, profile at batch 1.
    """
    _check_count(count)
    peak = machine_peak()
    tensors = _make_inputs(inputs)
    params = list(model.parameters())
    saved_grads = [p.grad for p in params]
    try:
        with _PreserveState(model):
            for _ in range(warmup):
                with no_grad():
                    model(*tensors, **(kwargs or {}))
            t0 = time.perf_counter()
            counter, out = run_counted(model, tensors, exact=exact, grad=backward,
                                       time_forward=True, time_backward=backward,
                                       kwargs=kwargs)
            fwd_s = time.perf_counter() - t0
            bwd_s = 0.0
            if backward:
                loss = loss_fn(out) if loss_fn is not None else _default_loss(out)
                if loss is not None and loss.requires_grad:
                    t0 = time.perf_counter()
                    loss.backward()
                    bwd_s = time.perf_counter() - t0
    finally:
        for p, g in zip(params, saved_grads):
            p.grad = g
    timing = dict(peak)
    timing["forward_s"] = fwd_s
    timing["backward_s"] = bwd_s
    report = Report.from_counter(counter, model, tensors, count=count, exact=exact,
                                 timing=timing)
    timing["forward_gflops_per_s"] = report.forward_flops / fwd_s / 1e9 if fwd_s else 0.0
    timing["forward_peak_fraction"] = timing["forward_gflops_per_s"] * 1e9 / peak[
        "peak_flops_per_s"]
    timing["backward_gflops_per_s"] = report.backward_flops / bwd_s / 1e9 if bwd_s else 0.0
    return report


def _default_loss(out):
    if isinstance(out, (tuple, list)):
        total = None
        for o in out:
            if hasattr(o, "requires_grad") and o.requires_grad:
                total = o.sum() if total is None else total + o.sum()
        return total
    return out.sum()
