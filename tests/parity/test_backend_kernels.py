"""Every compiled kernel against its NumPy reference (float32 and float64, odd shapes), and the
kernel-table switch: DLBASIC_KERNELS, backend.use, the fallback without Numba, a lazy import."""
import os
import subprocess
import sys

import numpy as np
import pytest

import dlbasic
from dlbasic import backend
from dlbasic.backend import reference

compiled = pytest.importorskip("dlbasic.backend.compiled", reason="Numba is not installed")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHAPES = [(1, 1, 1), (1, 3, 7), (2, 1, 1), (5, 7, 13), (33, 4, 49), (128, 16, 784)]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def _arrays(shape, dtype, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 2 + offset).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    c = shape[1]
    per_c = [rng.standard_normal(c).astype(dtype) for _ in range(4)]
    return x, g, per_c


def _close(a, b, dtype):
    if a is None or b is None:
        assert a is None and b is None
        return
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_allclose(a, b, **TOL[dtype])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_kernels_compiled_equal_reference(shape, dtype):
    x, g, (a, b, k, k0) = _arrays(shape, dtype)
    mean = x.mean(axis=(0, 2)).astype(dtype)
    # a ReLU output: zeros (exact, and -0.0), NaN (which keeps its gradient) and positives
    y = np.maximum(x, 0)
    y.reshape(-1)[::7] = -0.0
    y.reshape(-1)[3::11] = np.nan
    for name, args in [("batch_norm_stats", (x,)), ("batch_norm_apply", (x, a, b)),
                       ("batch_norm_grad_sums", (g, x, mean)),
                       ("batch_norm_grad_sums", (g, None, mean)),
                       ("batch_norm_grad_input", (g, x, mean, a, k, k0)),
                       ("batch_norm_grad_input", (g, None, None, a, None, None)),
                       ("batch_norm_apply_relu", (x, a, b)),
                       ("batch_norm_relu_grad_sums", (g, y, x, mean)),
                       ("batch_norm_relu_grad_sums", (g, y, None, mean)),
                       ("batch_norm_relu_grad_input", (g, y, x, mean, a, k, k0)),
                       ("batch_norm_relu_grad_input", (g, y, None, None, a, None, None))]:
        want = getattr(reference, name)(*args)
        got = getattr(compiled, name)(*args)
        if isinstance(want, tuple):
            for w, o in zip(want, got):
                _close(o, w, dtype)
        else:
            _close(got, want, dtype)


SGD_CASES = [dict(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0),
             dict(momentum=0.9, dampening=0.0, nesterov=True, weight_decay=5e-4),
             dict(momentum=0.9, dampening=0.3, nesterov=False, weight_decay=1e-2)]


@pytest.mark.parametrize("case", SGD_CASES)
@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_update_compiled_equals_reference_bit_for_bit(case, maximize, dtype):
    rng = np.random.default_rng(2)
    p0 = rng.standard_normal((7, 13)).astype(dtype)
    ps = [p0.copy(), p0.copy()]
    bufs = [np.empty_like(p0), np.empty_like(p0)] if case["momentum"] else [None, None]
    for step in range(3):
        grad = rng.standard_normal(p0.shape).astype(dtype)
        for impl, p, b in zip((reference, compiled), ps, bufs):
            impl.sgd_update(p, grad, b, step == 0, 0.1, case["weight_decay"], case["momentum"],
                            case["dampening"], case["nesterov"], maximize)
    np.testing.assert_array_equal(ps[1], ps[0])
    if case["momentum"]:
        np.testing.assert_array_equal(bufs[1], bufs[0])
    assert not np.array_equal(ps[0], p0)


def test_update_kernels_take_non_contiguous_parameters():
    p = np.arange(12, dtype=np.float32).reshape(3, 4).T        # a transposed view
    q = p.copy()
    grad = np.ones((4, 3), np.float32)
    compiled.sgd_update(p, grad, None, False, 0.5, 0.0, 0.0, 0.0, False, False)
    reference.sgd_update(q, grad, None, False, 0.5, 0.0, 0.0, 0.0, False, False)
    np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(p, np.arange(12, dtype=np.float32).reshape(3, 4).T - 0.5)
    # a strided momentum buffer is updated in place too
    d = np.zeros(4, np.float32)
    buf = np.ones((4, 2), np.float32)[:, 0]
    compiled.sgd_update(d, np.ones(4, np.float32), buf, False, 1.0, 0.0, 0.5, 0.0, False, False)
    np.testing.assert_array_equal(buf, np.full(4, 1.5, np.float32))
    np.testing.assert_array_equal(d, np.full(4, -1.5, np.float32))


def _ctc_inputs(T, lengths, targets, C=5, blank=0, seed=0):
    """The CtcLoss op's kernel inputs: log-softmax frames, the blank-extended targets and
    which states may be entered from two back."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, len(lengths), C))
    lp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    tl = np.array([len(t) for t in targets], np.int64)
    S = 2 * max(tl.max(), 0) + 1
    ext = np.full((len(targets), S), blank, np.int64)
    for n, t in enumerate(targets):
        ext[n, 1:2 * len(t):2] = t
    skip = np.zeros(ext.shape, bool)
    skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    return lp, ext, skip, np.array(lengths, np.int64), tl


CTC_CASES = {
    "plain": (12, [12, 9, 5], [[1, 2, 3], [4, 4], [2]]),
    "empty target and no frames": (6, [6, 0, 0, 3], [[1], [], [2], []]),
    "impossible (repeats need a blank between)": (3, [3, 2], [[1, 1, 1], [3, 3]]),
    "one frame": (1, [1, 1], [[2], []]),
}


@pytest.mark.parametrize("T, lengths, targets", CTC_CASES.values(), ids=list(CTC_CASES))
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_kernels_compiled_equal_reference(T, lengths, targets, zero_infinity):
    lp, ext, skip, il, tl = _ctc_inputs(T, lengths, targets)
    alpha, nll = reference.ctc_forward(lp, ext, skip, il, tl)
    c_alpha, c_nll = compiled.ctc_forward(lp, ext, skip, il, tl)
    np.testing.assert_allclose(c_alpha, alpha, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c_nll, nll, rtol=1e-12, atol=1e-12)
    assert np.array_equal(np.signbit(c_nll), np.signbit(nll))          # -0.0 for "no frames"
    g = np.linspace(0.5, 2.0, len(lengths))
    want = reference.ctc_backward(lp, alpha, ext, skip, nll, il, tl, zero_infinity, g)
    got = compiled.ctc_backward(lp, alpha, ext, skip, nll, il, tl, zero_infinity, g)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)      # NaN where it has NaN


def test_kernels_the_compiled_table_lacks_run_their_numpy_version():
    # relu: NumPy's SIMD maximum beats a plain Numba loop, so the compiled table keeps it
    with backend.use("compiled"):
        x = dlbasic.randn(70000, requires_grad=True)
        dlbasic.relu(x).sum().backward()          # (the first call loads the compiled table)
        assert backend.kernels.relu_forward is reference.relu_forward
        assert backend.kernels.batch_norm_stats is compiled.batch_norm_stats
        np.testing.assert_array_equal(x.grad.numpy(), (x.detach().numpy() > 0).astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_stats_hold_far_from_zero(dtype):
    # mean 1e4, std 1e-2 (in float32: a few ulps of the values): no cancellation in the
    # one-pass compiled variance, as none in the reference's corrected two-pass one
    x, _, _ = _arrays((16, 3, 50), np.float64, offset=0.0)
    x = (1e4 + 1e-2 * x).astype(dtype)
    exact_mean = x.astype(np.float64).mean(axis=(0, 2))
    exact_var = x.astype(np.float64).var(axis=(0, 2))
    for table in (reference, compiled):
        mean, var = table.batch_norm_stats(x)
        np.testing.assert_allclose(mean, exact_mean, rtol=1e-7 if dtype == np.float32 else 1e-14)
        np.testing.assert_allclose(var, exact_var, rtol=2e-3 if dtype == np.float32 else 1e-9)


def test_every_kernel_name_has_both_implementations():
    assert set(backend.KERNEL_NAMES) == set(reference.__all__)
    assert set(compiled.__all__) <= set(reference.__all__)
    for name in compiled.__all__:
        assert callable(getattr(compiled, name))


def test_use_switches_tables_and_restores_them():
    before = backend.active()
    with backend.use("numpy"):
        assert backend.active() == "numpy"
        assert backend.kernels.batch_norm_stats is reference.batch_norm_stats
        with backend.use("compiled"):
            bn = dlbasic.nn.BatchNorm2d(3)
            bn(dlbasic.randn(4, 3, 5, 5))
            assert backend.active() == "compiled"
            assert backend.kernels.batch_norm_stats is compiled.batch_norm_stats
        assert backend.active() == "numpy"
    assert backend.active() == before
    with pytest.raises(ValueError, match="expected 'numpy' or 'compiled', got 'cuda'"):
        backend.use("cuda")


def test_batchnorm_module_gives_the_same_values_and_gradients_with_both_tables():
    x = np.random.default_rng(1).standard_normal((6, 4, 7, 5)).astype(np.float32)
    out = {}
    for name in ("numpy", "compiled"):
        with backend.use(name):
            dlbasic.manual_seed(0)
            bn = dlbasic.nn.BatchNorm2d(4)
            t = dlbasic.tensor(x, requires_grad=True)
            (bn(t) * dlbasic.arange(5.0)).sum().backward()
            out[name] = (t.grad.numpy(), bn.weight.grad.numpy(), bn.running_var.numpy())
    for a, b in zip(out["numpy"], out["compiled"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _child(code, **env):
    e = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=e, capture_output=True,
                          text=True, timeout=120)


def test_environment_variable_selects_the_table_and_import_stays_lazy():
    code = ("import sys, dlbasic; print(dlbasic.backend.active(), 'numba' in sys.modules)")
    assert _child(code, DLBASIC_KERNELS="numpy").stdout.split() == ["numpy", "False"]
    assert _child(code, DLBASIC_KERNELS="compiled").stdout.split() == ["compiled", "False"]
    bad = _child(code, DLBASIC_KERNELS="fast")
    assert "DLBASIC_KERNELS='fast': expected 'numpy' or 'compiled'" in bad.stderr


def test_without_numba_the_numpy_kernels_run_after_one_warning():
    code = ("import sys; sys.modules['numba'] = None\n"
            "import dlbasic\n"
            "bn = dlbasic.nn.BatchNorm1d(2); bn(dlbasic.randn(3, 2, 4))\n"
            "print(dlbasic.backend.active(), dlbasic.backend.available())")
    proc = _child(code, DLBASIC_KERNELS="")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["numpy", "('numpy',)"]
    assert proc.stderr.count("Numba is not installed") == 1


def test_compiled_kernels_run_in_forked_dataloader_workers_and_beside_threads():
    # no Numba threading layer is used, so a fork after compiled calls (ours or OpenBLAS's
    # threads busy elsewhere) leaves nothing half-initialised in the child
    code = """
import threading
import dlbasic as torch
from dlbasic.utils.data import DataLoader, Dataset
torch.backend.use("compiled")
bn = torch.nn.BatchNorm2d(4)
bn(torch.randn(8, 4, 6, 6)).sum().backward()          # parent: compiled kernels loaded

class Normalised(Dataset):
    def __len__(self):
        return 8
    def __getitem__(self, i):
        with torch.no_grad():
            return bn(torch.randn(2, 4, 6, 6) + i).mean(dim=(0, 2, 3))

stop = False
def busy():
    x = torch.randn(16, 4, 12, 12, requires_grad=True)
    while not stop:
        bn(x).sum().backward()
t = threading.Thread(target=busy, daemon=True)
t.start()
n = 0
for epoch in range(20):
    for b in DataLoader(Normalised(), batch_size=4, num_workers=2):
        n += b.shape[0]
stop = True
t.join()
print(n, torch.backend.active())
"""
    proc = _child("import faulthandler; faulthandler.dump_traceback_later(100, exit=True)\n"
                  + code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["160", "compiled"]
