"""The engine keeps a fresh gradient array as a leaf's .grad without copying it (a speed-up for
large weights); these tests pin down that no .grad ever shares memory with another .grad, with
the caller's gradient, with a tensor a hook returned, or with a scalar op's operand."""
import numpy as np

import dlbasic


def test_fan_out_gives_each_leaf_its_own_grad_array():
    a = dlbasic.ones(3, requires_grad=True)
    b = dlbasic.ones(3, requires_grad=True)
    (a + b).sum().backward()
    assert not np.shares_memory(a.grad._data, b.grad._data)
    a.grad.add_(1)
    assert b.grad.tolist() == [1.0, 1.0, 1.0]


def test_leaf_grad_does_not_alias_the_callers_gradient():
    x = dlbasic.ones(3, requires_grad=True)
    g = dlbasic.full((3,), 2.0)
    (x + 0).backward(g)
    assert not np.shares_memory(x.grad._data, g._data)
    y = dlbasic.ones(3, requires_grad=True)
    y.backward(g)
    assert not np.shares_memory(y.grad._data, g._data)


def test_leaf_grad_does_not_alias_a_tensor_returned_by_a_hook():
    keep = dlbasic.full((3,), 2.0)
    a = dlbasic.ones(3, requires_grad=True)
    b = dlbasic.ones(3, requires_grad=True)
    y = a + b
    y.register_hook(lambda g: keep)
    y.sum().backward()
    assert not np.shares_memory(a.grad._data, keep._data)
    assert not np.shares_memory(b.grad._data, keep._data)
    c = dlbasic.ones(3, requires_grad=True)
    c.register_hook(lambda g: keep)
    (c * 3).sum().backward()
    assert not np.shares_memory(c.grad._data, keep._data)


def test_grad_of_a_linear_weight_is_a_writeable_array_of_its_own():
    w = dlbasic.ones(4, 3, requires_grad=True)
    b = dlbasic.zeros(4, requires_grad=True)
    x = dlbasic.ones(2, 3)
    out = dlbasic.nn.functional.linear(x, w, b)
    out.sum().backward()
    assert w.grad._data.flags.writeable and w.grad._data.flags.owndata
    assert not np.shares_memory(w.grad._data, x._data)
    w.grad.mul_(2)                          # in-place on one grad changes nothing else
    assert b.grad.tolist() == [2.0, 2.0, 2.0, 2.0]


def test_retain_graph_backward_twice_accumulates():
    x = dlbasic.ones(3, requires_grad=True)
    y = (x * 2).sum()
    y.backward(retain_graph=True)
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
    y.backward()
    assert x.grad.tolist() == [4.0, 4.0, 4.0]
