"""What each primitive op states about itself: its FLOP / MAC rule (``flops``), its grad_fn
name, and what its forward saves for backward (``_saved_attrs``) -- checked on a real call of
every op (tests/unit/op_corpus.py)."""
import re

import numpy as np
import pytest

import dlbasic
from dlbasic import nn
from dlbasic.autograd.function import Op
from dlbasic.ops import _flops
from dlbasic.profiler import count_flops, RULES, ZERO_COST
from dlbasic.profiler.flops import find_rule

from .op_corpus import run_corpus, primitive_ops

BUCKETS = {"macs", "matmul_flops", "elementwise", "transcendental", "backward",
           "backward_elementwise", "exact_matmul_flops", "exact_elementwise"}


@pytest.fixture(scope="module")
def corpus():
    return run_corpus()


def _is_array(v):
    return type(v) is np.ndarray or (type(v) in (tuple, list) and v and type(v[0]) is np.ndarray)


def test_every_primitive_op_states_a_flop_rule():
    missing = sorted(c.__qualname__ for c in primitive_ops() if c.flops is None)
    assert not missing, f"ops without a FLOP rule (set `flops` on the class): {missing}"


def test_the_corpus_calls_every_primitive_op(corpus):
    ran = {cls for cls, *_ in corpus}
    # private bases (``_Piecewise``) run only through their subclasses
    wanted = {c for c in primitive_ops()
              if not (c.__name__.startswith("_") and c.__subclasses__())}
    missing = sorted(c.__qualname__ for c in wanted - ran)
    assert not missing, f"add a call of these ops to tests/unit/op_corpus.py: {missing}"


@pytest.mark.parametrize("exact", [False, True])
def test_flop_rules_give_whole_non_negative_costs_on_real_calls(corpus, exact):
    for cls, inputs, params, outputs in corpus:
        call = _flops.OpCall(cls.__name__, inputs, params, outputs,
                             tuple(t.requires_grad for t in inputs), exact)
        cost = cls.flops(call)
        assert set(cost) == BUCKETS, cls
        assert all(int(v) == v and v >= 0 for v in cost.values()), (cls, cost)
        if cls.__name__ in ("Convolution", "LinearBias", "LinearNoBias", "MatMul", "Mm", "Bmm",
                            "_MatVec", "Einsum"):
            assert cost["macs"] > 0 and cost["matmul_flops"] == 2 * cost["macs"], cls


def test_the_profiler_asks_the_op_not_its_name():
    class Triple(Op):
        """y = 3x (a name no table knows)."""
        flops = _flops.elementwise(3)

        def forward(self, x):
            return x * 3

        def backward(self, g):
            return g * 3

    class Net(nn.Module):
        def forward(self, x):
            return Triple.apply(x)

    rep = count_flops(Net(), (2, 5), count="all")
    assert rep.elementwise_flops == 3 * 10 and rep.uncounted == {}
    assert find_rule(Triple) is Triple.flops
    # the class-name table is only a fallback, for ops that state no rule
    assert RULES["Mul"] is dlbasic.ops.elementwise.Mul.flops and "Conv2dOp" not in RULES
    assert {"Reshape", "Cat", "Where"} <= ZERO_COST
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)
    assert set(RULES) <= {c.__name__ for c in subclasses(Op)}


def test_grad_fn_names_are_torch_style(corpus):
    for cls, _, _, outputs in corpus:
        for o in outputs:
            if o.grad_fn is not None and type(o.grad_fn) is cls:
                assert re.fullmatch(r"[A-Z][A-Za-z0-9]*Backward\d", o.grad_fn.name()), \
                    (cls, o.grad_fn.name())


def test_saved_attrs_name_every_array_forward_keeps_and_release_frees_them(corpus):
    checked = set()
    for cls, _, _, outputs in corpus:
        node = outputs[0].grad_fn
        if node is None or type(node) is not cls:
            continue
        kept = {k for k, v in vars(node).items() if _is_array(v)}
        undeclared = kept - set(cls._saved_attrs)
        assert not undeclared, f"{cls.__name__} keeps {sorted(undeclared)}: add to _saved_attrs"
        held = {k for k in cls._saved_attrs if vars(node).get(k) is not None}
        node._release()
        assert not any(_is_array(v) for v in vars(node).values()), cls
        assert node.name() and repr(node), cls        # what name() reads is not freed
        assert not set(cls._saved_attrs) & set(vars(node)), cls
        assert node._freed == bool(held), cls
        checked.add(cls)
    assert len(checked) > 100


def test_a_number_saved_for_backward_is_released_too():
    # torch keeps the scalar of x * c for backward: a second backward raises
    x = dlbasic.ones(3, requires_grad=True)
    y = (x * 2.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    # so does indexing with a list (torch's IndexBackward0 saves the indices)
    m = dlbasic.ones(2, 3, requires_grad=True)
    w = m[:, [0, 2]].sum()
    w.backward()
    with pytest.raises(RuntimeError, match="second time"):
        w.backward()
    # an op that saves nothing can run backward twice, as in torch
    z = (x + 1.0).sum()
    z.backward()
    z.backward()
    assert x.grad.tolist() == [4.0, 4.0, 4.0]
