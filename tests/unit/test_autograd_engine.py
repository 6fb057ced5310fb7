"""The backward engine: order, accumulation, broadcasting, leaves, freeing, grad modes,
hooks and user-defined Functions."""
import gc
import threading
import weakref

import numpy as np
import pytest

import dlbasic
from dlbasic.autograd import Function


def test_chain_of_10000_ops_has_no_recursion_error():
    x = dlbasic.tensor([1.0], dtype=dlbasic.float64, requires_grad=True)
    y = x
    for _ in range(10000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 10000], rtol=1e-4)


def test_deep_chain_through_autograd_grad():
    x = dlbasic.tensor(0.5, requires_grad=True)
    y = x
    for _ in range(10000):
        y = y + x * 0.0
    (g,) = dlbasic.autograd.grad(y, x)
    assert g.item() == 1.0


def test_residual_fan_out_accumulates():
    x = dlbasic.tensor([1.0, 2.0, 3.0], requires_grad=True)
    f = x * x                      # F(x)
    y = (f + x).sum()              # residual F(x) + x
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy() + 1)


def test_diamond_graph_runs_each_node_once_with_summed_gradient():
    x = dlbasic.tensor(2.0, requires_grad=True)
    a = x * 3
    b = a.exp()
    c = a.sin()
    (b + c).backward()
    expected = 3 * (np.exp(6.0) + np.cos(6.0))
    np.testing.assert_allclose(x.grad.item(), expected, rtol=1e-5)


def test_grads_accumulate_across_backward_calls():
    x = dlbasic.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [5.0, 5.0]
    x.grad = None
    (x * 4).sum().backward()
    assert x.grad.tolist() == [4.0, 4.0]


def test_broadcast_gradients_are_summed_back_to_input_shape():
    a = dlbasic.ones(3, 1, 4, requires_grad=True)
    b = dlbasic.ones(2, 1, requires_grad=True)
    c = dlbasic.tensor(2.0, requires_grad=True)
    (a * b * c).sum().backward()
    assert a.grad.shape == (3, 1, 4) and b.grad.shape == (2, 1) and c.grad.shape == ()
    assert np.all(a.grad.numpy() == 4.0)      # 2 rows of b, times c
    assert np.all(b.grad.numpy() == 24.0)     # 3*4 elements, times c
    assert c.grad.item() == 24.0


def test_grad_only_on_leaves_and_retain_grad():
    x = dlbasic.ones(3, requires_grad=True)
    y = x * 2
    z = y * 3
    w = z * 1
    y.retain_grad()
    assert y.retains_grad and not z.retains_grad
    w.sum().backward()
    assert x.grad.tolist() == [6.0] * 3
    assert y.grad.tolist() == [3.0] * 3
    assert z.grad is None
    assert x.is_leaf and not y.is_leaf


def test_leaf_without_requires_grad_gets_no_grad():
    x = dlbasic.ones(3)
    w = dlbasic.ones(3, requires_grad=True)
    (x * w).sum().backward()
    assert x.grad is None and w.grad is not None


def test_grad_dtype_matches_leaf_dtype():
    x = dlbasic.ones(3, requires_grad=True)
    y = dlbasic.ones(3, dtype=dlbasic.float64, requires_grad=True)
    (x * y).sum().backward()
    assert x.grad.dtype is dlbasic.float32 and y.grad.dtype is dlbasic.float64


def test_saved_arrays_are_freed_after_backward():
    x = dlbasic.randn(4, requires_grad=True)
    y = x.sin()                     # Sin saves its input array
    node = y.grad_fn
    saved = [v for v in vars(node).values() if isinstance(v, np.ndarray)]
    assert saved, "Sin should save an array for backward"
    ref = weakref.ref(saved[0]) if saved[0] is not x._data else None
    del saved
    y2 = (x * 2).exp()              # Exp saves its output, a fresh array
    node2 = y2.grad_fn
    ref2 = weakref.ref(next(v for v in vars(node2).values() if isinstance(v, np.ndarray)))
    loss = y.sum() + y2.sum()
    del y2
    loss.backward()
    gc.collect()
    assert ref2() is None, "the array saved by exp was not freed after backward"
    assert not any(isinstance(v, np.ndarray) for v in vars(node).values())
    if ref is not None:
        assert ref() is None


def test_second_backward_raises_torch_error_and_retain_graph_allows_it():
    x = dlbasic.ones(3, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()
    x.grad = None
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * g1)


def test_backward_on_nonscalar_without_gradient_raises():
    x = dlbasic.ones(2, 3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar "
                                           "outputs"):
        y.backward()
    y.backward(dlbasic.full((2, 3), 0.5))
    assert np.all(x.grad.numpy() == 1.0)


def test_backward_of_one_element_nonscalar_is_allowed():
    x = dlbasic.ones(1, 1, requires_grad=True)
    (x * 3).backward()
    assert x.grad.tolist() == [[3.0]]


def test_autograd_grad_multiple_inputs_and_does_not_touch_grad():
    a = dlbasic.tensor([1.0, 2.0], requires_grad=True)
    b = dlbasic.tensor([3.0, 4.0], requires_grad=True)
    y = (a * b).sum()
    ga, gb = dlbasic.autograd.grad(y, [a, b])
    assert ga.tolist() == [3.0, 4.0] and gb.tolist() == [1.0, 2.0]
    assert a.grad is None and b.grad is None
    assert not ga.requires_grad


def test_autograd_grad_allow_unused():
    a = dlbasic.ones(2, requires_grad=True)
    b = dlbasic.ones(2, requires_grad=True)
    y = (a * 2).sum()
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        dlbasic.autograd.grad(y, [a, b], retain_graph=True)
    ga, gb = dlbasic.autograd.grad(y, [a, b], allow_unused=True)
    assert gb is None and ga.tolist() == [2.0, 2.0]


def test_autograd_grad_wrt_intermediate_and_grad_outputs():
    x = dlbasic.ones(3, requires_grad=True)
    h = x * 2
    y = h * h
    (gh,) = dlbasic.autograd.grad(y, h, grad_outputs=dlbasic.tensor([1.0, 0.0, 2.0]))
    assert gh.tolist() == [4.0, 0.0, 8.0]
    assert x.grad is None


def test_backward_with_inputs_argument():
    a = dlbasic.ones(2, requires_grad=True)
    b = dlbasic.ones(2, requires_grad=True)
    (a * b * 3).sum().backward(inputs=[a])
    assert a.grad.tolist() == [3.0, 3.0] and b.grad is None


# -- grad modes ------------------------------------------------------------------------------

def test_no_grad_enable_grad_set_grad_enabled_context_managers():
    x = dlbasic.ones(2, requires_grad=True)
    with dlbasic.no_grad():
        assert not dlbasic.is_grad_enabled()
        y = x * 2
        with dlbasic.enable_grad():
            z = x * 2
        assert not dlbasic.is_grad_enabled()
    assert dlbasic.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad
    with dlbasic.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert dlbasic.is_grad_enabled()
    dlbasic.set_grad_enabled(False)
    try:
        assert not dlbasic.is_grad_enabled()
    finally:
        dlbasic.set_grad_enabled(True)
    assert dlbasic.is_grad_enabled()


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with dlbasic.no_grad():
            raise ValueError
    assert dlbasic.is_grad_enabled()


def test_grad_modes_as_decorators():
    x = dlbasic.ones(2, requires_grad=True)

    @dlbasic.no_grad()
    def f(t):
        return t * 2

    @dlbasic.enable_grad()
    def g(t):
        return t * 2

    @dlbasic.set_grad_enabled(False)
    def h(t):
        return t * 2

    assert not f(x).requires_grad
    assert dlbasic.is_grad_enabled()
    with dlbasic.no_grad():
        assert g(x).requires_grad
    assert not h(x).requires_grad
    assert dlbasic.is_grad_enabled()


def test_grad_mode_is_thread_local():
    seen = {}
    started = threading.Event()
    release = threading.Event()

    def worker():
        seen["worker_initial"] = dlbasic.is_grad_enabled()
        with dlbasic.no_grad():
            started.set()
            release.wait(5)
            seen["worker_inside"] = dlbasic.is_grad_enabled()

    t = threading.Thread(target=worker)
    t.start()
    started.wait(5)
    seen["main_while_worker_no_grad"] = dlbasic.is_grad_enabled()
    x = dlbasic.ones(1, requires_grad=True)
    seen["main_records"] = (x * 2).requires_grad
    release.set()
    t.join()
    assert seen == {"worker_initial": True, "worker_inside": False,
                    "main_while_worker_no_grad": True, "main_records": True}

    with dlbasic.no_grad():
        out = {}
        th = threading.Thread(target=lambda: out.setdefault("v", dlbasic.is_grad_enabled()))
        th.start()
        th.join()
    assert out["v"] is True       # a new thread starts with grad enabled, as torch


# -- hooks ----------------------------------------------------------------------------------

def test_register_hook_on_leaf_modifies_grad_and_handle_removes_it():
    x = dlbasic.ones(3, requires_grad=True)
    calls = []

    def hook(g):
        calls.append(g.tolist())
        return g * 10

    h = x.register_hook(hook)
    (x * 2).sum().backward()
    assert calls == [[2.0] * 3] and x.grad.tolist() == [20.0] * 3
    h.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0] * 3 and len(calls) == 1


def test_register_hook_on_intermediate_changes_upstream_grad():
    x = dlbasic.ones(3, requires_grad=True)
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(g.tolist()))          # observing: returns None
    y.register_hook(lambda g: g * 0.5)
    (y * 3).sum().backward()
    assert seen == [[3.0] * 3]
    assert x.grad.tolist() == [3.0] * 3


def test_register_hook_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError):
        dlbasic.ones(2).register_hook(lambda g: g)


# -- user-defined Function ------------------------------------------------------------------

def _make_functions(lib):
    """The same Function classes, written for PyTorch, built on ``lib``."""

    class MulAdd(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, scale, b=None):
            ctx.save_for_backward(x, w)
            ctx.scale = scale
            ctx.has_b = b is not None
            out = x * w * scale
            return out + b if b is not None else out

        @staticmethod
        def backward(ctx, grad):
            x, w = ctx.saved_tensors
            gx = grad * w * ctx.scale if ctx.needs_input_grad[0] else None
            gw = grad * x * ctx.scale if ctx.needs_input_grad[1] else None
            gb = grad if ctx.has_b and ctx.needs_input_grad[3] else None
            return gx, gw, None, gb

    class SplitTwo(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.exp(), x * 2

        @staticmethod
        def backward(ctx, g1, g2):
            (x,) = ctx.saved_tensors
            return g1 * x.exp() + g2 * 2

    class ArgmaxAndMax(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            idx = x.argmax(dim=1)
            vals = x.max(dim=1).values
            ctx.save_for_backward(idx)
            ctx.shape = x.shape
            ctx.mark_non_differentiable(idx)
            return vals, idx

        @staticmethod
        def backward(ctx, gvals, gidx):
            (idx,) = ctx.saved_tensors
            out = lib.zeros(ctx.shape, dtype=gvals.dtype)
            out[lib.arange(ctx.shape[0]), idx] = gvals
            return out

    return MulAdd, SplitTwo, ArgmaxAndMax


def _run(lib, data):
    MulAdd, SplitTwo, ArgmaxAndMax = _make_functions(lib)
    x = lib.tensor(data["x"], requires_grad=True)
    w = lib.tensor(data["w"], requires_grad=True)
    b = lib.tensor(data["b"], requires_grad=True)
    m = lib.tensor(data["m"], requires_grad=True)
    y = MulAdd.apply(x, w, 2.5, b)
    e, d = SplitTwo.apply(x)
    vals, idx = ArgmaxAndMax.apply(m)
    assert not idx.requires_grad and vals.requires_grad
    loss = (y * y).sum() + e.sum() + (d * 3).sum() + (vals * lib.tensor([1.0, 2.0])).sum()
    loss.backward()
    frozen = MulAdd.apply(x.detach(), w.detach(), 1.0)
    return {"y": y.detach().numpy(), "e": e.detach().numpy(), "idx": idx.numpy(),
            "gx": x.grad.numpy(), "gw": w.grad.numpy(), "gb": b.grad.numpy(),
            "gm": m.grad.numpy(), "frozen_rg": frozen.requires_grad,
            "name": type(y.grad_fn).__name__ if lib.__name__ == "torch" else y.grad_fn.name()}


def test_user_function_matches_the_same_class_on_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    data = {"x": rng.standard_normal(4).astype(np.float32),
            "w": rng.standard_normal(4).astype(np.float32),
            "b": rng.standard_normal(4).astype(np.float32),
            "m": np.array([[1.0, 3.0, 2.0], [5.0, 4.0, 0.0]], dtype=np.float32)}
    t = _run(torch, data)
    d = _run(dlbasic, data)
    for k in t:
        if isinstance(t[k], np.ndarray):
            np.testing.assert_allclose(d[k], t[k], rtol=1e-5, atol=1e-6, err_msg=k)
        else:
            assert d[k] == t[k], k


def test_user_function_needs_input_grad_and_no_record_without_grad():
    MulAdd, _, _ = _make_functions(dlbasic)
    x = dlbasic.ones(2, requires_grad=True)
    w = dlbasic.ones(2)
    y = MulAdd.apply(x, w, 1.0)
    assert y.grad_fn.needs_input_grad == (True, False, False)
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0] and w.grad is None
    with dlbasic.no_grad():
        assert not MulAdd.apply(x, w, 1.0).requires_grad


def test_user_function_saved_tensors_freed_and_version_checked():
    MulAdd, _, _ = _make_functions(dlbasic)
    x = dlbasic.ones(2, requires_grad=True)
    w = dlbasic.ones(2) * 1
    y = MulAdd.apply(x, w, 1.0)
    w.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    y = MulAdd.apply(x, dlbasic.ones(2), 1.0)
    s = y.sum()
    s.backward()
    with pytest.raises(RuntimeError, match="second time"):
        s.backward()


def test_user_function_returning_wrong_number_of_grads_raises():
    class Bad(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return (g,)

    a = dlbasic.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        Bad.apply(a, a).sum().backward()


def test_backward_on_a_leaf_with_gradient():
    x = dlbasic.ones(3, requires_grad=True)
    x.backward(dlbasic.full((3,), 2.0))
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_hook_on_one_output_of_a_multi_output_op():
    x = dlbasic.arange(4.0).requires_grad_()
    a, b = (x * 1).split(2)
    a.register_hook(lambda g: g * 10)
    (a.sum() + b.sum()).backward()
    assert x.grad.tolist() == [10.0, 10.0, 1.0, 1.0]


def test_retain_grad_with_retain_graph_accumulates():
    x = dlbasic.ones(2, requires_grad=True)
    y = x * 2
    y.retain_grad()
    s = (y * y).sum()
    s.backward(retain_graph=True)
    s.backward()
    assert y.grad.tolist() == [8.0, 8.0] and x.grad.tolist() == [16.0, 16.0]


def test_inplace_on_a_view_of_a_tensor_requiring_grad_is_refused_clearly():
    # torch rebases the view's history (CopySlices); dlbasic refuses instead of risking a
    # wrong gradient.  Index assignment on the base is the supported spelling.
    x = dlbasic.ones(3, requires_grad=True)
    y = x * 1
    with pytest.raises(RuntimeError, match="in-place operations on a view"):
        y[0:2].mul_(3)
    y[0:2] = y[0:2] * 3
    (y * 1).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0, 1.0]


def test_user_function_mark_dirty_inplace():
    class Inc(Function):
        @staticmethod
        def forward(ctx, t):
            t.add_(1)
            ctx.mark_dirty(t)
            return t

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = dlbasic.ones(2, requires_grad=True)
    y = x * 1
    z = Inc.apply(y)
    assert z is y and z.grad_fn.name() == "IncBackward"
    (z * 1).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0] and y.tolist() == [2.0, 2.0]


def test_autograd_grad_wrt_intermediate_and_leaf_together():
    x = dlbasic.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    gh, gx = dlbasic.autograd.grad((h * x).sum(), [h, x])
    assert gh.tolist() == [1.0, 2.0] and gx.tolist() == [6.0, 12.0]


def test_inplace_overwrite_with_a_constant_gives_the_old_history_zero_gradient():
    # y's old values (x * 2) are replaced by values that do not depend on x: x gets 0, as torch
    x = dlbasic.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y._inplace(lambda t: dlbasic.tensor([5.0, 5.0, 5.0]))
    assert y.requires_grad
    (y * 3).sum().backward()
    assert np.array_equal(x.grad.numpy(), np.zeros(3, dtype=np.float32))
    assert np.array_equal(y.detach().numpy(), np.full(3, 5.0, dtype=np.float32))


# -- a leaf used several times: summed first, accumulated once (PyTorch's AccumulateGrad) -----

def test_a_shared_leaf_is_accumulated_once_with_the_whole_gradient():
    torch = pytest.importorskip("torch")
    for lib in (dlbasic, torch):
        w = lib.tensor([1.0, -2.0, 3.0], dtype=lib.float64, requires_grad=True)
        seen, after = [], []
        w.register_hook(lambda g: seen.append(g.detach().numpy().copy()))
        w.register_post_accumulate_grad_hook(lambda t: after.append(t.grad.numpy().copy()))
        ((w * w).sum() + (w * 2).sum() + w.sum()).backward()
        want = 2 * w.detach().numpy() + 3
        assert len(seen) == 1 and len(after) == 1, lib.__name__
        np.testing.assert_allclose(seen[0], want)
        np.testing.assert_allclose(after[0], want)
        np.testing.assert_allclose(w.grad.numpy(), want)


def test_post_accumulate_grad_hook_sees_the_accumulated_grad_and_can_be_removed():
    w = dlbasic.ones(2, requires_grad=True)
    calls = []
    handle = w.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.tolist()))
    (w * 3).sum().backward()
    (w * 3).sum().backward()                       # accumulates: the hook sees 3 + 3
    assert calls == [[3.0, 3.0], [6.0, 6.0]]
    handle.remove()
    (w * 3).sum().backward()
    assert len(calls) == 2
    with pytest.raises(RuntimeError, match="cannot be registered on non-leaf tensors"):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        dlbasic.ones(2).register_post_accumulate_grad_hook(lambda t: None)
    # autograd.grad does not accumulate, so the hook does not run
    w.register_post_accumulate_grad_hook(lambda t: calls.append("grad"))
    dlbasic.autograd.grad((w * 2).sum(), w)
    assert "grad" not in calls


def test_queue_callback_runs_once_backward_has_finished():
    from dlbasic.autograd.engine import queue_callback
    w = dlbasic.ones(2, requires_grad=True)
    order = []

    def hook(t):
        order.append("hook")
        queue_callback(lambda: order.append(("callback", t.grad.tolist())))
    w.register_post_accumulate_grad_hook(hook)
    (w * 5).sum().backward()
    assert order == ["hook", ("callback", [5.0, 5.0])]
    with pytest.raises(RuntimeError, match="only be installed during backward pass"):
        queue_callback(lambda: None)
