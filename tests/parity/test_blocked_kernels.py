"""The blocked kernels on inputs big enough to use several blocks.

BatchNorm, ReLU and max-pool split big inputs into blocks of samples spread over threads; the
convolution runs im2col + GEMM a block of samples at a time.  Small inputs (the rest of the
suite) fit in one block, so these cases use inputs of several MiB.  Each is checked against
torch (with one and with two threads where threads apply), with an upstream gradient that is
not all ones.
"""
import numpy as np
import pytest

from tests.parity.harness import check, torch

import torch.nn.functional as F  # noqa: E402  (rebound to dlbasic by the harness)

import dlbasic  # noqa: E402
from dlbasic import _parallel  # noqa: E402

BIG = (64, 16, 24, 24)          # 2.4 MiB of float32: enough for two threads


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def threads(request):
    before = dlbasic.get_num_threads()
    dlbasic.set_num_threads(request.param)
    yield request.param
    dlbasic.set_num_threads(before)


def _inputs(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_big_matches_torch(threads, training):
    x, u = _inputs(BIG, BIG)
    x = x * 3 + 5                                     # a mean far from 0 and a std far from 1
    w, b = _inputs((16,), (16,), seed=1)
    rm, rv = np.linspace(4, 6, 16).astype(np.float32), np.linspace(5, 12, 16).astype(np.float32)

    def fn(x, w, b, u):
        out = F.batch_norm(x, torch.tensor(rm), torch.tensor(rv), w, b, training=training)
        return out * u
    check(fn, inputs=[x, w, b, u], requires_grad=[True, True, True, False],
          atol=1e-5, grad_atol=2e-3)


def test_batch_norm_big_updates_running_stats_like_torch(threads):
    x, = _inputs(BIG)
    t_bn, d_bn = torch.nn.BatchNorm2d(16), dlbasic.nn.BatchNorm2d(16)
    for _ in range(3):
        t_bn(torch.tensor(x))
        d_bn(dlbasic.tensor(x))
    np.testing.assert_allclose(d_bn.running_mean.numpy(), t_bn.running_mean.numpy(), atol=1e-6)
    np.testing.assert_allclose(d_bn.running_var.numpy(), t_bn.running_var.numpy(), rtol=1e-5)


def test_relu_big_matches_torch_including_nan_and_inf(threads):
    x, u = _inputs(BIG, BIG)
    x[0, 0, 0, :4] = np.nan                            # NaN passes its gradient, as in torch
    u[1, 0, 0, 0] = np.inf                             # at x > 0: the gradient is inf
    x[2, 0, 0, 0], u[2, 0, 0, 0] = -1.0, np.inf        # at a zeroed place: 0, not inf * 0
    x[3, 0, 0, 0], u[3, 0, 0, 0] = -1.0, np.nan
    check(lambda x, u: F.relu(x) * u, inputs=[x, u], requires_grad=[True, False])


def test_relu_big_non_contiguous_matches_torch(threads):
    x, = _inputs(BIG)
    check(lambda x: F.relu(x), inputs=[x], transform=lambda t: t.transpose(1, 3))


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=2, stride=2, ceil_mode=True)])
def test_max_pool_big_matches_torch(threads, kw):
    shape = (64, 16, 25, 24)          # an odd height: the last row is dropped or overhangs
    x, = _inputs(shape)
    x = np.round(x * 2) / 2           # many ties: the first maximum of a window must win
    ho = (25 + (1 if kw.get("ceil_mode") else 0) + 2 * kw.get("padding", 0)
          - kw["kernel_size"]) // kw.get("stride", kw["kernel_size"]) + 1
    wo = (24 + 2 * kw.get("padding", 0) - kw["kernel_size"]) // kw.get("stride",
                                                                       kw["kernel_size"]) + 1
    u, = _inputs((64, 16, ho, wo), seed=2)
    check(lambda x, u: F.max_pool2d(x, return_indices=True, **kw)[0] * u, inputs=[x, u],
          requires_grad=[True, False])
    check(lambda x: F.max_pool2d(x, return_indices=True, **kw), inputs=[x])


def test_max_pool_big_nan_and_inf_gradient_match_torch(threads):
    x, u = _inputs(BIG, (64, 16, 12, 12))
    x[0, 0, 0, 1] = np.nan                 # a NaN wins its window
    x[1, 0, 2:4, 2:4] = np.nan             # all NaN: the last NaN wins
    u[2, 0, 0, 0] = np.inf                 # inf reaches the maximum only, 0 elsewhere
    check(lambda x, u: F.max_pool2d(x, 2, return_indices=True)[0] * u, inputs=[x, u],
          requires_grad=[True, False])
    check(lambda x: F.max_pool2d(x, 2, return_indices=True), inputs=[x])


# -- convolution: several blocks of samples, and blocks of a single sample -------------------

CONV_BIG = [
    # (x shape, w shape, kwargs): one sample's column matrix is 0.9 MiB -> blocks of 2 and 1
    ((3, 16, 40, 40), (8, 16, 3, 3), dict(padding=1)),
    # 2.4 MiB per sample: every block is one sample, written straight into the output
    ((2, 64, 32, 32), (16, 64, 3, 3), dict(padding=1)),
    # strided (phases) and grouped, over several blocks
    ((5, 16, 40, 40), (8, 16, 3, 3), dict(padding=1, stride=2)),
    ((3, 16, 40, 40), (8, 8, 3, 3), dict(padding=1, groups=2)),
    ((3, 16, 41, 39), (8, 4, 3, 3), dict(padding=(2, 1), stride=(3, 2), dilation=2, groups=4)),
]


@pytest.mark.parametrize("xs,ws,kw", CONV_BIG)
def test_conv2d_over_several_blocks_matches_torch(threads, xs, ws, kw):
    x, w = _inputs(xs, ws)
    b, = _inputs((ws[0],), seed=3)
    y_shape = tuple(torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), **kw).shape)
    u, = _inputs(y_shape, seed=4)
    check(lambda x, w, b, u: F.conv2d(x, w, b, **kw) * u, inputs=[x, w, b, u],
          requires_grad=[True, True, True, False], atol=1e-4, grad_atol=1e-3)


def test_conv2d_threads_give_the_same_weight_gradient_up_to_rounding():
    """Each thread sums its own samples' dW; the partial sums are added in range order."""
    import dlbasic.nn.functional as dF
    x, w, u = _inputs((8, 16, 20, 20), (8, 16, 3, 3), (8, 8, 20, 20))
    grads = []
    before = dlbasic.get_num_threads()
    try:
        for n in (1, 2):
            dlbasic.set_num_threads(n)
            for _ in range(2):
                xt, wt = dlbasic.tensor(x, requires_grad=True), dlbasic.tensor(w, requires_grad=True)
                (dF.conv2d(xt, wt, padding=1) * dlbasic.tensor(u)).sum().backward()
                grads.append((xt.grad.numpy(), wt.grad.numpy()))
    finally:
        dlbasic.set_num_threads(before)
    np.testing.assert_array_equal(grads[0][1], grads[1][1])      # same threads: bitwise equal
    np.testing.assert_array_equal(grads[2][1], grads[3][1])
    np.testing.assert_allclose(grads[0][1], grads[2][1], rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(grads[0][0], grads[2][0])      # dx: the same sums per sample


# -- for_ranges: the batch split of GEMM kernels -------------------------------------------

@pytest.mark.parametrize("n,row_bytes", [(1, 10), (2, 1 << 20), (7, 1 << 20), (1000, 4096)])
def test_for_ranges_splits_in_order_and_covers_every_row_once(threads, n, row_bytes):
    parts = _parallel.for_ranges(lambda lo, hi: (lo, hi), n, row_bytes)
    assert parts[0][0] == 0 and parts[-1][1] == n
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(parts, parts[1:]))
    expected = min(threads, n, max(1, n * row_bytes >> 20))
    if _parallel.blas_single_threaded.available():
        assert len(parts) == expected
    else:
        assert len(parts) in (1, expected)


def test_for_ranges_holds_blas_to_one_thread_and_restores_it(threads):
    control = _parallel._blas_control()
    if not control:
        pytest.skip("NumPy's BLAS is not OpenBLAS: its thread count is left alone")
    get = control[0]
    before = get()
    seen = _parallel.for_ranges(lambda lo, hi: get(), 4, 1 << 20)
    assert get() == before
    assert seen == ([1] * threads if threads > 1 else [before])
    # copies (gemm=False) leave OpenBLAS alone
    assert _parallel.for_ranges(lambda lo, hi: get(), 4, 1 << 20, gemm=False) == [before] * threads


def test_for_ranges_nested_call_runs_inline_and_errors_reach_the_caller():
    before = dlbasic.get_num_threads()
    dlbasic.set_num_threads(2)
    try:
        inner = _parallel.for_ranges(
            lambda lo, hi: len(_parallel.for_ranges(lambda a, b: 0, 8, 1 << 20)), 8, 1 << 20)
        assert inner == [1, 1]               # inside a worker (and beside it) nothing re-splits

        def fn(lo, hi):
            if lo > 0:
                raise ValueError("bad range")
        with pytest.raises(ValueError, match="bad range"):
            _parallel.for_ranges(fn, 8, 1 << 20, gemm=False)
    finally:
        dlbasic.set_num_threads(before)


# -- for_blocks itself ----------------------------------------------------------------------

@pytest.mark.parametrize("n,row_bytes", [(1, 10), (7, 1 << 20), (1000, 4096), (3, 1 << 22)])
def test_for_blocks_covers_every_row_exactly_once(threads, n, row_bytes):
    seen = np.zeros(n, np.int64)

    def fn(rows):
        assert rows.start < rows.stop
        seen[rows] += 1
    _parallel.for_blocks(fn, n, row_bytes)
    assert (seen == 1).all()


def test_for_blocks_uses_the_threads_it_is_given(threads):
    import threading
    seen = set()
    _parallel.for_blocks(lambda rows: seen.add(threading.get_ident()), 64, 100_000)
    assert len(seen) == threads


def test_for_blocks_reraises_a_worker_error():
    before = dlbasic.get_num_threads()
    dlbasic.set_num_threads(2)
    try:
        def fn(rows):
            if rows.start >= 500:
                raise ValueError("bad rows")
        with pytest.raises(ValueError, match="bad rows"):
            _parallel.for_blocks(fn, 1000, 1 << 16)
    finally:
        dlbasic.set_num_threads(before)


def test_set_num_threads_rejects_non_positive_and_round_trips():
    before = dlbasic.get_num_threads()
    with pytest.raises(RuntimeError, match="positive"):
        dlbasic.set_num_threads(0)
    dlbasic.set_num_threads(3)
    assert dlbasic.get_num_threads() == 3
    dlbasic.set_num_threads(before)
    assert dlbasic.get_num_threads() == before


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_threaded_kernels_work_in_a_forked_child():
    """A DataLoader worker is a fork: the parent's pool threads are not in it."""
    import os
    before = dlbasic.get_num_threads()
    dlbasic.set_num_threads(2)
    try:
        _parallel.for_ranges(lambda lo, hi: None, 8, 1 << 20, gemm=False)   # pool started
        pid = os.fork()
        if pid == 0:                                   # child: must not hang on the dead pool
            ok = _parallel.for_ranges(lambda lo, hi: hi - lo, 8, 1 << 20, gemm=False) == [4, 4]
            os._exit(0 if ok else 1)
        import signal
        import time
        deadline = time.monotonic() + 60
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the threaded kernel hung in the forked child")
            time.sleep(0.05)
        assert os.WEXITSTATUS(status) == 0
    finally:
        dlbasic.set_num_threads(before)
