"""ResNet: why the shortcut lets deep networks train (notes: "ResNet").

The notes: deep plain networks *degrade* (a deeper net trains worse, not better) because the
gradient reaching the early layers is distorted on its way back; a residual block computes
``y = ReLU(F(x) + x)`` and since ``d(F(x) + x)/dx = dF/dx + 1``, the "1" of the shortcut
carries the gradient back undiminished.

1. Per-layer gradient norms at initialisation, plain56 vs resnet56 (same layers, shortcuts
   removed).  What we measure: with BatchNorm in every layer the plain net's gradients do not
   simply vanish, they are *ill-conditioned* -- their size changes by three orders of magnitude
   from the last to the first layer (exploding towards the input), so no single learning rate
   suits all layers.  The residual net keeps every layer's gradient within one order of
   magnitude.  (Without BatchNorm the same product of many Jacobians makes them vanish.)
2. BasicBlock vs Bottleneck (resnet18 vs resnet50): parameters and FLOPs; a bottleneck
   (1x1 reduce, 3x3, 1x1 expand) processes 256 channels with 17x fewer weights than two 3x3
   convolutions at 256 channels.
3. ``--curves`` (about 30 minutes on 2 cores, needs Fashion-MNIST): training curves of plain20,
   plain56 and resnet56, trained the same way on the same images.  The degradation problem:
   the deeper plain net reaches a *higher training loss* than the shallower one (so it is not
   overfitting), and the same 56 layers with shortcuts train far better than plain56
   (measured: plain20 0.57, plain56 1.52, resnet56 0.60).

    python examples/07_resnet.py [--quick] [--curves] [--data-dir DIR]
"""
import json
import os
import time

import numpy as np

from _common import parse_args, check, finish, figure, plt_or_note

import dlbasic as torch
import dlbasic.nn.functional as F
from dlbasic import models
from dlbasic.profiler import count_flops


def conv_grad_norms(name, x, y, seed):
    torch.manual_seed(seed)
    model = models.get_model(name)
    F.cross_entropy(model(x), y).backward()
    return np.array([p.grad.norm().item() for n, p in model.named_parameters()
                     if p.dim() == 4])


def training_curves(args, names=("plain20", "plain56", "resnet56"), n_train=6000, epochs=3,
                    batch=128, lr=0.05, every=10):
    """Train each net on the same ``n_train`` Fashion-MNIST images; loss averaged per ``every``."""
    from dlbasic.vision.datasets import FashionMNIST, find_fashion_mnist
    root = find_fashion_mnist(args.data_dir)
    if root is None:
        raise SystemExit("--curves needs Fashion-MNIST: install dataset-fashion-mnist or pass "
                         "--data-dir DIR")
    ds = FashionMNIST(root, train=True)
    rng = np.random.default_rng(args.seed)
    pick = rng.permutation(len(ds))[:n_train]
    x = ((ds.data.numpy()[pick].astype(np.float32) / 255 - 0.2860) / 0.3530)[:, None]
    y = ds.targets.numpy()[pick].astype(np.int64)
    curves = {}
    for name in names:
        torch.manual_seed(args.seed)
        model = models.get_model(name, in_channels=1)
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
        order_rng = np.random.default_rng(args.seed)      # the same batches for every net
        losses, window, t0 = [], [], time.perf_counter()
        for _ in range(epochs):
            order = order_rng.permutation(n_train)
            for i in range(0, n_train - batch + 1, batch):
                idx = order[i:i + batch]
                loss = F.cross_entropy(model(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]))
                opt.zero_grad()
                loss.backward()
                opt.step()
                window.append(loss.item())
                if len(window) == every:
                    losses.append(float(np.mean(window)))
                    window = []
        curves[name] = losses
        print(f"  {name}: training loss {losses[0]:.3f} -> {losses[-1]:.3f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return curves


def main():
    args = parse_args(__doc__.splitlines()[0], extra=lambda p: (
        p.add_argument("--curves", action="store_true",
                       help="also train plain20, plain56 and resnet56 (about 30 minutes)"),
        p.add_argument("--data-dir", default=None, help="Fashion-MNIST directory (--curves)")))
    torch.manual_seed(args.seed)
    batch, side = (4, 12) if args.quick else (32, 32)
    x = torch.randn(batch, 3, side, side)
    y = torch.randint(0, 10, (batch,))
    norms = {name: conv_grad_norms(name, x, y, args.seed) for name in ("plain56", "resnet56")}
    spread = {}
    for name, g in norms.items():
        spread[name] = g.max() / g.min()
        print(f"  {name}: {len(g)} conv layers; gradient norm first layer {g[0]:.2e}, "
              f"last {g[-1]:.2e}; max/min over layers {spread[name]:.1f}")
    check(spread["plain56"] > 100, f"plain56: layer gradients span {spread['plain56']:.0f}x "
          "(ill-conditioned: exploding towards the input)")
    check(spread["resnet56"] < 20, f"resnet56: layer gradients stay within "
          f"{spread['resnet56']:.1f}x (the shortcut's +1)")

    # BasicBlock vs Bottleneck
    shape = (1, 3, 32, 32) if args.quick else (1, 3, 224, 224)
    reps = {name: count_flops(models.get_model(name).eval(), shape)
            for name in ("resnet18", "resnet50")}
    for name, r in reps.items():
        print(f"  {name}: {r.params:,} parameters, {r.flops / 1e9:.2f} GFLOPs at {shape}")
    check(reps["resnet18"].params == 11_689_512 and reps["resnet50"].params == 25_557_032,
          "parameter counts equal torchvision's (resnet18 11,689,512; resnet50 25,557,032)")
    basic = models.BasicBlock(256, 256)
    bottleneck = models.Bottleneck(256, 64)
    n_basic = sum(p.numel() for p in basic.parameters())
    n_bottle = sum(p.numel() for p in bottleneck.parameters())
    print(f"  one block on 256 channels: BasicBlock {n_basic:,} parameters, "
          f"Bottleneck {n_bottle:,}")
    check(n_basic > 15 * n_bottle, f"a Bottleneck needs {n_basic / n_bottle:.0f}x fewer weights "
          "than a BasicBlock at 256 channels")
    if not args.quick:
        check(abs(reps["resnet18"].macs / 1.814e9 - 1) < 0.02
              and abs(reps["resnet50"].macs / 4.089e9 - 1) < 0.02,
              "resnet18 = 1.8 GMACs and resnet50 = 4.1 GMACs at 224x224 (torchvision's numbers)")

    curves = None
    if args.curves:
        curves = training_curves(args)
        with open(os.path.join(args.out, "07_resnet_curves.json"), "w") as f:
            json.dump(curves, f)
        tail = {name: float(np.mean(c[-3:])) for name, c in curves.items()}
        check(tail["plain56"] > tail["plain20"],
              f"degradation: plain56 ends at a higher training loss ({tail['plain56']:.3f}) "
              f"than plain20 ({tail['plain20']:.3f})")
        check(tail["resnet56"] < tail["plain56"],
              f"the shortcut fixes it: resnet56 ends at {tail['resnet56']:.3f}, below plain56")

    plt = plt_or_note("the ResNet figure")
    if plt is not None:
        fig, axes = plt.subplots(1, 3 if curves else 2, figsize=(18 if curves else 12, 4.2))
        for name, g in norms.items():
            axes[0].semilogy(np.arange(1, len(g) + 1), g, "o-", ms=3, label=name)
        axes[0].set_xlabel("conv layer (input side -> output side)")
        axes[0].set_ylabel("||dL/dW|| at initialisation")
        axes[0].set_title("gradient norms per layer")
        axes[0].legend()
        axes[0].grid(alpha=0.3, which="both")
        names = list(reps)
        axes[1].bar([f"{n}\nparams (M)" for n in names], [reps[n].params / 1e6 for n in names])
        axes[1].bar([f"{n}\nGFLOPs" for n in names], [reps[n].flops / 1e9 for n in names])
        axes[1].set_title(f"BasicBlock (resnet18) vs Bottleneck (resnet50), input {shape[2:]}")
        if curves:
            for name, c in curves.items():
                axes[2].plot(np.arange(1, len(c) + 1) * 10, c, label=name)
            axes[2].set_xlabel("training step (batch 128)")
            axes[2].set_ylabel("training loss (mean of 10 steps)")
            axes[2].set_title("degradation: deeper plain nets train worse")
            axes[2].legend()
            axes[2].grid(alpha=0.3)
        figure(args, "07_resnet", fig)
    finish()


if __name__ == "__main__":
    main()
