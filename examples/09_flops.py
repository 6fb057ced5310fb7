"""FLOPs (how much work a model is) vs FLOPS (how fast a machine works) (notes: "FLOPs").

The notes: one output of a convolution takes ``kh*kw*cin`` multiplications and
``kh*kw*cin - 1`` additions (+1 with a bias): about ``2*kh*kw*cin`` operations; the layer's
total is ``2 * kh * kw * cin * cout * H_out * W_out``.  Their example, a 3x3 convolution with
64 -> 64 channels and a 480 x 640 output, is about 2e10 = 20 GFLOPs.

1. dlbasic's profiler counts that example (by the formula, and by running the layer at a
   smaller size, which scales linearly in H_out * W_out); the exact count (2K - 1, +1 for the
   bias) equals 2K with a bias.
2. FLOPS of this machine: a float32 matrix product, timed (near the practical peak at full
   size; --quick's 512^3 product is too small to reach it), and the conv's achieved FLOP/s;
   time = FLOPs / FLOPS predicts how long the notes' layer takes here.  The two rates are
   printed, not compared in a check: timings taken moments apart on a shared machine are
   measurements, and a well-blocked convolution can beat a small GEMM.
3. FLOPs of whole models (``dlbasic flops MODEL``): resnet20 vs resnet18.

    python examples/09_flops.py [--quick]
"""
import time

import numpy as np

from _common import parse_args, check, finish, figure, plt_or_note

import dlbasic as torch
import dlbasic.nn as nn
from dlbasic.profiler import count_flops, conv_macs
from dlbasic import models


def main():
    args = parse_args(__doc__.splitlines()[0])
    torch.manual_seed(args.seed)

    # 1. the notes' example
    kh = kw = 3
    cin = cout = 64
    h, w = 480, 640
    formula = 2 * kh * kw * cin * cout * h * w
    macs = conv_macs((1, cout, h, w), (cout, cin, kh, kw))
    print(f"notes' conv 3x3, 64->64, output 480x640: 2*kh*kw*cin*cout*H*W = {formula:,} "
          f"= {formula / 1e9:.1f} GFLOPs")
    check(2 * macs == formula and 1.5e10 < formula < 2.5e10,
          f"profiler's conv rule: 2 x {macs:,} MACs = {2 * macs / 1e9:.2f} GFLOPs (~2e10, the "
          "notes' 20 GFLOPs)")
    conv = nn.Conv2d(cin, cout, 3, padding=1, bias=True)
    sh, sw = (24, 32) if args.quick else (96, 128)          # the same layer, smaller output
    rep = count_flops(conv, (1, cin, sh, sw))
    scaled = rep.flops * (h * w) / (sh * sw)
    check(rep.flops == 2 * kh * kw * cin * cout * sh * sw and scaled == formula,
          f"counted by running it at {sh}x{sw}: {rep.flops:,} FLOPs; x (480*640)/({sh}*{sw}) "
          f"= {scaled / 1e9:.2f} GFLOPs")
    exact = count_flops(conv, (1, cin, sh, sw), exact=True)
    check(exact.flops == rep.flops, "with a bias, the notes' exact count (2K - 1 additions "
          "and multiplications, +1 bias) is exactly 2K per output")
    no_bias = count_flops(nn.Conv2d(cin, cout, 3, padding=1, bias=False), (1, cin, sh, sw),
                          exact=True)
    check(no_bias.flops == rep.flops - cout * sh * sw,
          "without a bias it is one operation less per output (2K - 1)")

    # 2. FLOPS of this machine
    n = 512 if args.quick else 1024
    a, b = np.ones((n, n), np.float32), np.ones((n, n), np.float32)
    x = torch.randn(8 if args.quick else 16, cin, sh, sw)
    with torch.no_grad():
        conv(x)
        np.matmul(a, b)
        # best of 5 each, the two timed in turn, so that a busy moment hits both alike
        t_gemm = t = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            np.matmul(a, b)
            t_gemm = min(t_gemm, time.perf_counter() - t0)
            t0 = time.perf_counter()
            conv(x)
            t = min(t, time.perf_counter() - t0)
    gemm = 2 * n ** 3 / t_gemm / 1e9
    conv_flops = 2 * kh * kw * cin * cout * sh * sw * len(x)
    conv_gflops = conv_flops / t / 1e9
    predicted = formula / (conv_gflops * 1e9)
    print(f"this machine, now: float32 GEMM {n}x{n}x{n} {gemm:.1f} GFLOP/s (FLOPS); "
          f"dlbasic's conv2d {conv_gflops:.1f} GFLOP/s ({100 * conv_gflops / gemm:.0f}% of it)")
    print(f"  -> the notes' 20 GFLOPs layer takes about {predicted:.2f}s here "
          f"(FLOPs / FLOPS)")
    # Only the arithmetic is checked: the ratio of two timings is a measurement, not a claim
    # (a busy moment can hit one of them; a compiled convolution may even beat NumPy's GEMM)
    check(np.isfinite(gemm) and gemm > 0 and np.isfinite(conv_gflops) and conv_gflops > 0 and
          abs(predicted * conv_gflops * 1e9 - formula) <= 1e-6 * formula,
          "time = FLOPs / FLOPS: the layer's FLOPs divided by the rate measured for it")

    # 3. whole models
    rows = []
    for name, shape in (("resnet20", (1, 3, 32, 32)), ("resnet56", (1, 3, 32, 32)),
                        ("resnet18", (1, 3, 224, 224))):
        if args.quick and name != "resnet20":
            continue
        model = models.get_model(name)
        r = count_flops(model, shape)
        rows.append((name, r.flops, r.params))
        print(f"  {name:<9s} input {shape}: {r.flops / 1e9:6.3f} GFLOPs, {r.params:,} params")
    r20 = dict((n, (f, p)) for n, f, p in rows)["resnet20"]
    # He et al. (2016): resnet20 on CIFAR has 0.27M parameters and ~41M MACs
    check(r20[1] == 269_722 and abs(r20[0] / 2 - 40.8e6) / 40.8e6 < 0.03,
          f"resnet20: {r20[1]:,} parameters and {r20[0] / 2 / 1e6:.1f}M MACs (paper: 0.27M, ~41M)")

    plt = plt_or_note("the FLOPs figure")
    if plt is not None:
        sizes = [64, 128, 256, 512] if args.quick else [64, 128, 256, 512, 1024, 2048]
        rates = []
        for n in sizes:
            a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
            a @ a
            t0 = time.perf_counter()
            k = max(1, int(2e8 / n ** 3))
            for _ in range(k):
                a @ a
            rates.append(2 * n ** 3 * k / (time.perf_counter() - t0) / 1e9)
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        axes[0].plot(sizes, rates, "o-")
        axes[0].axhline(conv_gflops, color="C1", ls="--", label="dlbasic conv2d (notes' layer)")
        axes[0].set_xscale("log", base=2)
        axes[0].set_xlabel("matrix size n (n x n @ n x n)")
        axes[0].set_ylabel("GFLOP/s")
        axes[0].set_title("FLOPS: this machine's float32 rate")
        axes[0].legend()
        axes[1].bar([r[0] for r in rows], [r[1] / 1e9 for r in rows])
        axes[1].set_ylabel("GFLOPs per image (forward)")
        axes[1].set_title("FLOPs: the work of one forward pass")
        figure(args, "09_flops", fig)
    finish()


if __name__ == "__main__":
    main()
