"""relu(batch_norm(x)) as one op (BatchNormReLU, used by dlbasic's ResNets): the same values,
gradients, second derivatives and running statistics as torch's two calls, on both kernel
tables; the module helper falls back to the two calls whenever fusing could change anything."""
import numpy as np
import pytest

from tests.parity.harness import assert_close, torch

import dlbasic                                            # noqa: E402
from dlbasic import backend, nn                          # noqa: E402
from dlbasic.nn.functional.batchnorm import batch_norm_relu as f_batch_norm_relu  # noqa: E402
from dlbasic.nn.modules.batchnorm import batch_norm_relu  # noqa: E402
from dlbasic.ops.batchnorm import BatchNormReLU           # noqa: E402

TABLES = ["numpy"] + (["compiled"] if "compiled" in backend.available() else [])
TOL = {"float32": (1e-5, 1e-5), "float64": (1e-12, 1e-12)}


def _inputs(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    return (rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype),
            rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype),
            rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype))


def _run_both(x0, g0, w0, b0, rm0, rv0, training, momentum=0.1, eps=1e-5):
    """(dlbasic's fused results, torch's relu(batch_norm(...)) results) as arrays."""
    out = []
    for lib in (dlbasic, torch):
        x, w, b = (lib.tensor(a.copy(), requires_grad=True) for a in (x0, w0, b0))
        rm, rv = lib.tensor(rm0.copy()), lib.tensor(rv0.copy())
        if lib is dlbasic:
            y = f_batch_norm_relu(x, rm, rv, w, b, training, momentum, eps)
        else:
            y = torch.relu(torch.nn.functional.batch_norm(x, rm, rv, w, b, training,
                                                          momentum, eps))
        y.backward(lib.tensor(g0))
        out.append([t.detach().numpy() for t in (y, x.grad, w.grad, b.grad, rm, rv)])
    return out


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 7), (5, 4, 6, 7), (2, 16, 28, 28)])
def test_fused_values_gradients_and_running_stats_equal_torch(table, dtype, training, shape):
    with backend.use(table):
        mine, theirs = _run_both(*_inputs(shape, dtype), training=training, momentum=0.3)
    rtol, atol = TOL[dtype]
    for name, a, b in zip(("y", "dx", "dw", "db", "running_mean", "running_var"), mine,
                          theirs):
        assert a.dtype == b.dtype, name
        np.testing.assert_allclose(a, b, rtol=rtol * 10, atol=atol * 10 * max(1, a.size ** .5),
                                   err_msg=name)


@pytest.mark.parametrize("table", TABLES)
def test_nan_and_zero_follow_torch(table):
    # NaN stays NaN and keeps its gradient; an exact 0 output gets none (torch's threshold)
    x0 = np.array([[0.0, 1.0], [np.nan, -1.0], [2.0, 0.5]], np.float64)
    w0, b0 = np.ones(2), np.zeros(2)
    rm0, rv0 = np.array([0.0, 0.5]), np.ones(2)
    with backend.use(table):
        mine, theirs = _run_both(x0, np.ones_like(x0), w0, b0, rm0, rv0, training=False,
                                 eps=0.0)
    for a, b in zip(mine[:2], theirs[:2]):
        np.testing.assert_array_equal(a, b)


class _Functional(nn.Module):
    """relu(batch_norm(x)) written with the functionals (no submodule for hooks to see)."""

    def __init__(self, fused):
        super().__init__()
        self.fused = fused
        self.w, self.b = nn.Parameter(dlbasic.ones(3)), nn.Parameter(dlbasic.zeros(3))

    def forward(self, x):
        if self.fused:
            return f_batch_norm_relu(x, None, None, self.w, self.b, True)
        return dlbasic.relu(nn.functional.batch_norm(x, None, None, self.w, self.b, True))


def test_fused_op_is_recorded_as_relu_and_counts_both_ops_flops():
    x = dlbasic.randn(4, 3, 5, 5, requires_grad=True)
    bn, relu = nn.BatchNorm2d(3), nn.ReLU()
    y = batch_norm_relu(bn, relu, x)
    assert type(y.grad_fn) is BatchNormReLU and y.grad_fn.name() == "ReluBackward0"
    assert int(bn.num_batches_tracked) == 1
    from dlbasic.profiler import count_flops
    fused, split = (count_flops(_Functional(f), (4, 3, 5, 5), count="all", backward=True)
                    for f in (True, False))
    a, b = fused.totals(), split.totals()
    # the arithmetic is the two ops'; the memory traffic is one op's (the point of fusing)
    assert a.pop("bytes_moved") < b.pop("bytes_moved")
    assert a == b and a["flops"] > 0


def test_changing_the_output_in_place_before_backward_raises_like_torch():
    # the backward reads the ReLU mask from the output, as torch's ReluBackward0 does
    errors = []
    for lib in (dlbasic, torch):
        x = lib.randn(4, 3, 5, 5, requires_grad=True)
        if lib is dlbasic:
            y = batch_norm_relu(nn.BatchNorm2d(3), nn.ReLU(), x)
        else:
            y = torch.relu(torch.nn.BatchNorm2d(3)(x))
        y.mul_(2)
        with pytest.raises(RuntimeError) as e:
            y.sum().backward()
        errors.append(str(e.value))
    for msg in errors:
        assert "modified by an inplace operation" in msg
        assert "[4, 3, 5, 5]" in msg and "is at version 1; expected version 0" in msg
    assert "ReluBackward0" in errors[0]


class _MyBN(nn.BatchNorm2d):
    def forward(self, input):
        return super().forward(input) * 2


@pytest.mark.parametrize("case", ["sync_bn", "subclass_forward", "bn_hook", "relu_hook",
                                  "relu6", "pre_hook"])
def test_helper_calls_the_modules_when_fusing_could_change_anything(case):
    bn, act = nn.BatchNorm2d(3), nn.ReLU()
    calls = []
    if case == "sync_bn":
        bn = nn.SyncBatchNorm(3)
    elif case == "subclass_forward":
        bn = _MyBN(3)
    elif case == "bn_hook":
        bn.register_forward_hook(lambda m, i, o: calls.append("bn"))
    elif case == "relu_hook":
        act.register_forward_hook(lambda m, i, o: calls.append("relu"))
    elif case == "pre_hook":
        act.register_forward_pre_hook(lambda m, i: calls.append("relu"))
    else:
        act = nn.ReLU6()
    x = dlbasic.randn(4, 3, 5, 5, requires_grad=True)
    y = batch_norm_relu(bn, act, x)
    assert type(y.grad_fn) is not BatchNormReLU
    assert_close(y, act(bn(x)), 1e-6, 1e-6)
    if case.endswith("hook"):
        assert calls and calls[0] in ("bn", "relu")


def test_fused_op_passes_gradcheck_and_gradgradcheck_float64():
    rng = np.random.default_rng(3)
    x = dlbasic.tensor(rng.standard_normal((4, 3, 2, 2)), requires_grad=True)
    w = dlbasic.tensor(rng.standard_normal(3), requires_grad=True)
    b = dlbasic.tensor(rng.standard_normal(3), requires_grad=True)
    rm, rv = dlbasic.zeros(3, dtype=dlbasic.float64), dlbasic.ones(3, dtype=dlbasic.float64)
    for training in (True, False):
        fn = (lambda x, w, b, t=training: f_batch_norm_relu(x, rm, rv, w, b, t, 0.0))
        assert dlbasic.autograd.gradcheck(fn, (x, w, b))
        assert dlbasic.autograd.gradgradcheck(fn, (x, w, b))


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_second_derivatives_equal_torch(training, fused):
    # (fused=False: plain batch_norm with a bias that needs no gradient, which the double
    # backward once failed on)
    x0, _, w0, b0, rm0, rv0 = _inputs((4, 3, 2, 2), "float64", seed=5)
    res = []
    for lib in (dlbasic, torch):
        x, w = lib.tensor(x0, requires_grad=True), lib.tensor(w0, requires_grad=True)
        b, rm, rv = lib.tensor(b0), lib.tensor(rm0), lib.tensor(rv0)
        if lib is dlbasic and fused:
            y = f_batch_norm_relu(x, rm, rv, w, b, training, 0.0)
        else:
            y = lib.relu(lib.nn.functional.batch_norm(x, rm, rv, w, b, training, 0.0))
        gx, = lib.autograd.grad((y ** 3).sum(), x, create_graph=True)
        gx.pow(2).sum().backward()
        res.append((x.grad.detach().numpy(), w.grad.detach().numpy()))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def _op_counts(y):
    counts, stack, seen = {}, [y.grad_fn], set()
    while stack:
        f = stack.pop()
        if f is None or id(f) in seen:
            continue
        seen.add(id(f))
        counts[type(f).__name__] = counts.get(type(f).__name__, 0) + 1
        stack += [n for n, _ in getattr(f, "next_functions", ())]
    return counts


@pytest.mark.parametrize("model", ["resnet8", "resnet18", "resnet50"])
def test_resnets_use_the_fused_op_with_the_numbers_of_the_two_calls(model, monkeypatch):
    import copy
    from dlbasic import models
    from dlbasic.models import cifar_resnet, resnet
    dlbasic.manual_seed(0)
    if model == "resnet8":
        net, x, fused = cifar_resnet.resnet8(in_channels=1), dlbasic.randn(3, 1, 12, 12), 4
    else:
        net, x = getattr(models, model)(num_classes=5), dlbasic.randn(2, 3, 32, 32)
        fused = 9 if model == "resnet18" else 33      # stem + 1 per basic, 2 per bottleneck
    twin = copy.deepcopy(net)
    y = net(x)
    assert _op_counts(y)["BatchNormReLU"] == fused
    y.pow(2).sum().backward()
    for module in (cifar_resnet, resnet):
        monkeypatch.setattr(module, "batch_norm_relu", lambda bn, relu, t: relu(bn(t)))
    y2 = twin(x)
    assert "BatchNormReLU" not in _op_counts(y2)
    y2.pow(2).sum().backward()
    assert_close(y, y2, 1e-5, 1e-5)
    for (name, p), (_, q) in zip(net.named_parameters(), twin.named_parameters()):
        assert_close(p.grad, q.grad, 1e-4, 1e-4)
    for (name, b), (_, c) in zip(net.named_buffers(), twin.named_buffers()):
        assert_close(b, c, 1e-6, 1e-6)
