"""dlbasic.profiler: exact FLOP / MAC counts, attribution to module paths, reports, timing."""
import csv
import io
import json
import threading
import time

import numpy as np
import pytest

import dlbasic
from dlbasic import nn, models
from dlbasic.autograd.function import Op
from dlbasic.profiler import count_flops, profile, machine_peak


# ---------------------------------------------------------------------------------------
# The reference numbers (batch 1)
# ---------------------------------------------------------------------------------------

def test_notes_conv_example_3x3_64_to_64_at_480x640():
    # DL_basic.md: 2 * kh * kw * cin * cout * Hout * Wout ~ 2e10 = 20 GFLOPs
    conv = nn.Conv2d(64, 64, 3, padding=1, bias=True)
    # shape_only: the product is not computed (its output is zeros of the right shape)
    rep = count_flops(conv, (1, 64, 480, 640), exact=True, shape_only=True)
    assert rep.macs == 3 * 3 * 64 * 64 * 480 * 640 == 11_324_620_800
    # exact per-output count: (2K - 1) + 1 for the bias = 2K ...
    assert rep.flops == rep.exact_matmul_flops == 22_649_241_600
    # ... which equals the 2 x MACs convention
    assert rep.flops_2x_macs == 2 * rep.macs == 22_649_241_600
    assert rep.row("").output_shape == (1, 64, 480, 640)
    assert "22,649,241,600" in rep.table()


def test_exact_count_without_bias_is_2k_minus_1_per_output():
    conv = nn.Conv2d(8, 4, 3, padding=1, bias=False)
    outs = 1 * 4 * 10 * 12
    k = 8 * 9
    assert count_flops(conv, (1, 8, 10, 12), exact=True).flops == outs * (2 * k - 1)
    assert count_flops(conv, (1, 8, 10, 12)).flops == outs * 2 * k
    lin = nn.Linear(5, 3, bias=False)
    assert count_flops(lin, (2, 5), exact=True).flops == 2 * 3 * (2 * 5 - 1)


@pytest.mark.parametrize("builder,shape,macs,params", [
    ("resnet20", (1, 3, 32, 32), 40_551_040, 269_722),
    ("resnet56", (1, 3, 32, 32), 125_485_696, 853_018),
    ("resnet34", (1, 3, 224, 224), 3_663_761_408, 21_797_672),
    ("resnet101", (1, 3, 224, 224), 7_801_405_440, 44_549_160),
])
def test_reference_macs_and_parameter_counts(builder, shape, macs, params):
    # the ImageNet nets are traced shape-only (same counts, see the test below)
    rep = count_flops(getattr(models, builder)(), shape, shape_only=shape[-1] == 224)
    assert rep.macs == macs
    assert rep.flops == 2 * macs
    assert rep.params == params == rep.trainable_params


def test_shape_only_tracing_gives_the_same_report_as_computing():
    m = models.resnet20(shortcut="B")
    real = count_flops(m, (2, 3, 32, 32), count="all")
    fast = count_flops(m, (2, 3, 32, 32), count="all", shape_only=True)
    assert fast.totals() == real.totals()
    assert [(r.path, r.output_shape, r.macs, r.flops) for r in fast.rows] == \
        [(r.path, r.output_shape, r.macs, r.flops) for r in real.rows]
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1, dilation=2, groups=1)
    assert count_flops(conv, (2, 3, 11, 9), shape_only=True).row("").output_shape == \
        tuple(conv(dlbasic.randn(2, 3, 11, 9)).shape)
    # inside the mode the products are not computed; afterwards the kernels are restored
    from dlbasic.profiler.flops import _ShapeOnly
    x = dlbasic.ones(1, 3, 4, 4)
    with _ShapeOnly():
        y = nn.functional.conv2d(x, dlbasic.ones(2, 3, 3, 3), padding=1)
        z = nn.Linear(4, 6)(dlbasic.ones(5, 4))
    assert y.shape == (1, 2, 4, 4) and not y.numpy().any()
    assert z.shape == (5, 6) and not z.detach().numpy().any()
    assert float(nn.functional.conv2d(x, dlbasic.ones(1, 3, 1, 1)).sum()) == 48.0
    assert float((dlbasic.ones(2, 3) @ dlbasic.ones(3, 2)).sum()) == 12.0



def test_shape_only_count_leaves_other_threads_computing():
    # while one thread counts a model shape-only, a second thread's convolution (and linear
    # and matmul) computes for real
    x, w = dlbasic.ones(1, 3, 5, 5), dlbasic.arange(54.0).reshape(2, 3, 3, 3)
    expected = nn.functional.conv2d(x, w, padding=1).numpy().copy()
    assert expected.any()
    counting, other_done = threading.Event(), threading.Event()
    seen = {}

    class Waits(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3, padding=1)

        def forward(self, inp):
            y = self.conv(inp)
            seen["counted"] = y.detach().numpy().copy()
            counting.set()
            assert other_done.wait(60)
            return y

    def other_thread():
        assert counting.wait(60)
        try:
            seen["conv"] = nn.functional.conv2d(x, w, padding=1).numpy()
            seen["linear"] = nn.functional.linear(dlbasic.ones(2, 4), dlbasic.ones(3, 4)).numpy()
            seen["matmul"] = (dlbasic.ones(2, 3) @ dlbasic.ones(3, 2)).numpy()
        finally:
            other_done.set()

    t = threading.Thread(target=other_thread)
    t.start()
    rep = count_flops(Waits(), (1, 3, 5, 5), shape_only=True)
    t.join(60)
    assert rep.macs == 2 * 5 * 5 * 3 * 9
    assert seen["counted"].shape == (1, 2, 5, 5) and not seen["counted"].any()
    np.testing.assert_array_equal(seen["conv"], expected)
    assert (seen["linear"] == 4).all() and (seen["matmul"] == 3).all()
    # and after the count, this thread computes again
    np.testing.assert_array_equal(nn.functional.conv2d(x, w, padding=1).numpy(), expected)

def test_mlp_784_256_128_10_macs_and_batch_scaling():
    m = models.MLP([784, 256, 128, 10])
    rep1 = count_flops(m, (1, 784))
    assert rep1.macs == 234_752 and rep1.flops == 469_504
    rep8 = count_flops(m, (8, 784))
    assert rep8.batch_size == 8
    assert rep8.macs == 8 * 234_752 and rep8.macs_per_sample == 234_752
    assert rep8.flops_per_sample == 469_504
    assert "per sample" in rep8.table()


def test_profile_resnet50_224_under_a_minute_with_reference_macs_and_timings():
    model = models.resnet50().eval()
    t0 = time.perf_counter()
    rep = profile(model, (1, 3, 224, 224))
    elapsed = time.perf_counter() - t0
    assert elapsed < 60, f"profile(resnet50) took {elapsed:.1f}s"
    assert rep.macs == 4_089_184_256
    assert rep.params == 25_557_032
    conv = rep.row("layer3.0.conv2")
    assert conv.fwd_ms > 0 and conv.bwd_ms > 0 and conv.gflops_per_s > 0
    assert conv.bound in ("compute", "memory")
    assert conv.intensity > rep.row("layer3.0.relu").intensity       # conv >> relu
    assert rep.row("layer3.0.relu").bound == "memory"
    t = rep.timing
    assert t["forward_s"] > 0 and t["backward_s"] > 0 and t["peak_gflops_per_s"] > 0
    assert 0 < t["forward_peak_fraction"] < 2
    text = rep.table(max_depth=2)
    assert "GFLOP/s" in text and "% peak" in text
    assert "layer3.0" in text and "layer3.0.conv2" not in text


# ---------------------------------------------------------------------------------------
# Attribution: functional ops, shared layers, nothing counted twice
# ---------------------------------------------------------------------------------------

class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.shared = nn.Linear(16, 16)
        self.alias = self.shared                 # the same layer under two names
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(16, 4))
        self.w = nn.Parameter(dlbasic.randn(4, 4))

    def forward(self, x):
        x = self.shared(x)
        x = self.alias(dlbasic.tanh(x))          # functional op in the parent, shared layer
        x = self.head(x)
        return x @ self.w                        # functional matmul in the parent


def test_functional_ops_and_shared_layers_are_charged_once_to_the_right_path():
    rep = count_flops(Shared(), (3, 16), count="all")
    shared = rep.row("shared")
    assert shared.calls == 2
    assert shared.macs == 2 * 3 * 16 * 16
    assert rep.row("head.1").macs == 3 * 16 * 4
    root = rep.row("")
    assert root.self_macs == 3 * 4 * 4                      # the @ in forward
    assert root.transcendental == rep.transcendental == 3 * 16   # tanh, listed separately
    assert rep.macs == 2 * 3 * 16 * 16 + 3 * 16 * 4 + 3 * 4 * 4
    assert rep.params == 16 * 16 + 16 + 16 * 4 + 4 + 16     # shared tensors counted once
    paths = [r.path for r in rep.rows]
    assert "alias" not in paths and len(paths) == len(set(paths))


def test_rows_sum_to_totals():
    rep = count_flops(models.resnet20(), (2, 3, 32, 32), count="all")
    assert sum(r.self_macs for r in rep.rows) == rep.macs
    assert sum(r.self_flops for r in rep.rows) == rep.flops == rep.forward_flops
    assert sum(r.self_backward_flops for r in rep.rows) == rep.backward_flops
    root = rep.row("")
    assert (root.macs, root.flops) == (rep.macs, rep.flops)
    # a container's inclusive numbers are the sum of its children's
    layer2 = rep.row("layer2")
    kids = [rep.row(f"layer2.{i}") for i in range(3)]
    assert layer2.macs == sum(k.macs for k in kids)
    assert layer2.flops == sum(k.flops for k in kids)
    # the flops of every leaf module are 2 x its MACs + its elementwise work
    conv = rep.row("layer1.0.conv1")
    assert conv.flops == 2 * conv.macs == 2 * 2 * 16 * 32 * 32 * 16 * 9
    assert rep.flops == 2 * rep.macs + rep.elementwise_flops + rep.transcendental


def test_count_all_elementwise_bucket_rules():
    bn = nn.BatchNorm2d(4).eval()
    assert count_flops(bn, (2, 4, 5, 5), count="all").elementwise_flops == 2 * 200
    bn.train()
    # 6 per element, + 1 for the num_batches_tracked += 1 the module runs in training
    assert count_flops(bn, (2, 4, 5, 5), count="all").elementwise_flops == 6 * 200 + 1
    assert count_flops(nn.ReLU(), (2, 4, 5, 5), count="all").flops == 200
    assert count_flops(nn.ReLU(), (2, 4, 5, 5)).flops == 0          # matmul-only mode
    assert count_flops(nn.MaxPool2d(2), (1, 3, 8, 8), count="all").flops == 3 * 16 * 4
    assert count_flops(nn.MaxPool2d(3, 2, 1), (1, 1, 8, 8), count="all").flops == 16 * 9
    # residual add: 1 per element, charged to the block
    block = models.resnet20().layer1[0].eval()
    rep = count_flops(block, (1, 16, 8, 8), count="all")
    n = 16 * 8 * 8
    assert rep.row("").self_flops == n                          # out + shortcut(x)
    assert rep.elementwise_flops == 2 * (2 * n) + 2 * n + n     # 2 BN, 2 ReLU calls, add
    assert rep.row("relu").calls == 2
    t = count_flops(nn.Tanh(), (3, 7), count="all")
    assert t.transcendental == 21 and t.elementwise_flops == 0


def test_uncounted_op_is_listed_by_name_not_silently_zero():
    class Mystery(Op):
        def forward(self, x):
            return x * 2

        def backward(self, g):
            return g * 2

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return Mystery.apply(self.fc(x))

    rep = count_flops(Net(), (2, 3))
    assert rep.uncounted == {"Mystery": 1}
    assert "Mystery" in rep.table()
    assert json.loads(rep.to_json())["uncounted_ops"] == {"Mystery": 1}
    assert count_flops(nn.Linear(3, 3), (2, 3)).uncounted == {}


def test_custom_autograd_function_is_counted_through_its_primitives():
    class MyMatmul(dlbasic.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a @ b

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g @ b.t(), a.t() @ g

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(dlbasic.randn(6, 5))

        def forward(self, x):
            return MyMatmul.apply(x, self.w)

    assert count_flops(Net(), (4, 6)).macs == 4 * 6 * 5


# ---------------------------------------------------------------------------------------
# Parameters, backward, side effects, options
# ---------------------------------------------------------------------------------------

def test_params_split_trainable_frozen_buffers():
    m = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                      nn.Flatten(), nn.Linear(8 * 6 * 6, 2))
    m[0].weight.requires_grad_(False)
    rep = count_flops(m, (1, 3, 8, 8))
    assert rep.frozen_params == 8 * 3 * 9
    assert rep.trainable_params == 16 + 8 * 36 * 2 + 2
    assert rep.params == rep.frozen_params + rep.trainable_params
    assert rep.buffers == 8 + 8 + 1                     # running mean, var, num_batches_tracked
    assert rep.row("1").params == 16
    # a frozen first conv needs no gradient at all: backward = linear only (x and W grads)
    lin_macs = 8 * 36 * 2
    assert rep.backward_flops == 2 * 2 * lin_macs
    assert rep.training_flops == rep.forward_flops + rep.backward_flops


def test_backward_counts_input_and_weight_gradients():
    m = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))
    rep = count_flops(m, (4, 10))
    macs1, macs2 = 4 * 10 * 20, 4 * 20 * 5
    # first layer: weight grad only (the input does not require grad); second: both
    assert rep.backward_flops == 2 * macs1 + 4 * macs2
    x = dlbasic.randn(4, 10, requires_grad=True)
    assert count_flops(m, x).backward_flops == 4 * macs1 + 4 * macs2
    assert count_flops(m, (4, 10), backward=True).flops == rep.training_flops


def test_grouped_and_strided_conv_counts():
    # each output of a grouped conv is a dot product over cin/groups * kh * kw inputs
    conv = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=4, bias=False)
    x = dlbasic.randn(2, 8, 9, 9, requires_grad=True)
    rep = count_flops(conv, x)
    macs = 2 * 16 * 5 * 5 * (8 // 4) * 9
    assert rep.macs == macs
    # input gradient + weight gradient, each as costly as the forward (torch's FlopCounterMode
    # over-counts the grouped weight gradient by the number of groups)
    assert rep.backward_flops == 2 * (2 * macs)


def test_count_flops_leaves_model_state_unchanged():
    m = models.resnet8()
    m.train()
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    rng = dlbasic.get_rng_state()
    count_flops(m, (2, 3, 16, 16))
    after = m.state_dict()
    for k, v in before.items():
        np.testing.assert_array_equal(after[k].numpy(), v, err_msg=k)
    assert m.training
    np.testing.assert_array_equal(dlbasic.get_rng_state().numpy(), rng.numpy())
    assert all(p.grad is None for p in m.parameters())
    from dlbasic.autograd import function
    assert function._observers == []
    assert not m.layer1[0]._forward_hooks and not m.layer1[0]._forward_pre_hooks


def test_hooks_removed_even_when_forward_raises():
    m = nn.Linear(3, 2)
    with pytest.raises(Exception):
        count_flops(m, (2, 4))
    from dlbasic.autograd import function
    assert function._observers == [] and not m._forward_hooks


def test_inputs_forms_and_bad_count():
    m = nn.Linear(3, 2)
    a = count_flops(m, (5, 3)).macs
    assert count_flops(m, dlbasic.randn(5, 3)).macs == a == 30
    assert count_flops(m, [dlbasic.randn(5, 3)]).macs == 30
    with pytest.raises(ValueError, match="count"):
        count_flops(m, (5, 3), count="everything")


# ---------------------------------------------------------------------------------------
# Output formats and timing
# ---------------------------------------------------------------------------------------

def test_table_json_csv():
    rep = count_flops(models.get_model("cnn"), (2, 1, 28, 28), count="all")
    text = rep.table()
    assert "MACs" in text and "FLOPs = 2 x MACs" in text and "fvcore" in text
    assert "features" in text and "[2, 32, 28, 28]" in text
    data = json.loads(rep.to_json())
    assert data["totals"]["macs"] == rep.macs and data["count"] == "all"
    assert len(data["rows"]) == len(rep.rows)
    assert data["rows"][1]["path"] == "features"
    rows = list(csv.DictReader(io.StringIO(rep.to_csv())))
    assert len(rows) == len(rep.rows)
    assert sum(int(r["self_macs"]) for r in rows) == rep.macs
    # conv 1->32 on 28x28 and 32->64 on 14x14, linear 3136->10
    assert rep.macs == 2 * (28 * 28 * 32 * 9 + 14 * 14 * 64 * 32 * 9 + 3136 * 10)


def test_machine_peak_is_measured_once_and_cached():
    p1 = machine_peak()
    p2 = machine_peak()
    assert p1 == p2
    assert p1["peak_gflops_per_s"] > 0.1 and p1["bandwidth_gb_per_s"] > 0.01
    assert p1["machine_balance"] == pytest.approx(p1["peak_flops_per_s"]
                                                  / p1["bandwidth_bytes_per_s"])


def test_profile_small_model_rows_and_restores_grads():
    m = models.resnet8()
    rep = profile(m, (2, 3, 16, 16), count="all")
    assert all(p.grad is None for p in m.parameters())
    root = rep.row("")
    assert root.fwd_ms >= rep.row("layer1").fwd_ms > 0
    assert root.bwd_ms >= rep.row("layer1").bwd_ms > 0
    assert rep.row("fc").bound in ("compute", "memory")
    data = json.loads(rep.to_json())
    assert "fwd_ms" in data["rows"][0] and data["totals"]["peak_gflops_per_s"] > 0
    assert "bwd_ms" in rep.to_csv().splitlines()[0]
    assert rep.macs == count_flops(m, (2, 3, 16, 16)).macs
