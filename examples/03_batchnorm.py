"""Batch normalisation: ``x' = gamma (x - mu) / sqrt(var + eps) + beta`` (notes: "BN").

1. What the layer computes: in training mode each channel of the output has mean 0 and
   variance 1 over the batch (before gamma / beta); the running statistics move towards the
   batch's mean and *unbiased* variance with momentum 0.1; eval mode uses them instead.
2. Why it helps: the same deep MLP (8 hidden layers of 64 units, ReLU, PyTorch's default
   initialisation), trained with plain SGD at the same learning rate for the same number of
   steps, with and without BatchNorm.  Without it the signal shrinks layer after layer and
   training crawls; with it the loss falls quickly.  The curves go side by side.

    python examples/03_batchnorm.py [--quick]
"""
import numpy as np

from _common import parse_args, check, finish, figure, plt_or_note

import dlbasic as torch
import dlbasic.nn as nn
from dlbasic.models import MLP


def spiral(n_per_class, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(n_classes):
        r = np.linspace(0.05, 1.0, n_per_class)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, n_per_class) + rng.normal(0, 0.2, n_per_class)
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(n_per_class, c))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def train(model, x, y, steps, lr, batch, seed):
    rng = np.random.default_rng(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(steps):
        idx = torch.from_numpy(rng.choice(len(y), batch, replace=False))
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    model.train()
    return np.array(losses), acc


def main():
    args = parse_args(__doc__.splitlines()[0])
    torch.manual_seed(args.seed)

    # --- 1. what BatchNorm2d computes --------------------------------------------------------
    bn = nn.BatchNorm2d(4)
    x = torch.randn(16, 4, 5, 5) * 3 + 7
    y = bn(x)
    mean = y.mean(dim=(0, 2, 3))
    var = y.var(dim=(0, 2, 3), unbiased=False)
    check(mean.abs().max().item() < 1e-5 and (var - 1).abs().max().item() < 1e-3,
          f"training mode: per-channel mean {mean.abs().max().item():.1e} ~ 0, "
          f"variance {var.mean().item():.4f} ~ 1")
    batch_mean = x.mean(dim=(0, 2, 3))
    batch_var_unbiased = x.var(dim=(0, 2, 3), unbiased=True)
    expected_rm = 0.9 * 0 + 0.1 * batch_mean
    expected_rv = 0.9 * 1 + 0.1 * batch_var_unbiased
    check(torch.allclose(bn.running_mean, expected_rm, atol=1e-5)
          and torch.allclose(bn.running_var, expected_rv, atol=1e-4),
          "running_mean/var <- 0.9 * old + 0.1 * batch (unbiased variance for running_var)")
    bn.eval()
    y_eval = bn(x)
    manual = (x - bn.running_mean.view(1, 4, 1, 1)) / torch.sqrt(
        bn.running_var.view(1, 4, 1, 1) + bn.eps)
    check(torch.allclose(y_eval, manual, atol=1e-4), "eval mode normalises with the running "
          "statistics")

    # --- 2. the same deep net with and without BatchNorm ------------------------------------
    n = 200 if args.quick else 400
    steps = 150 if args.quick else 600
    xn, yn = spiral(n, seed=args.seed)
    xt, yt = torch.from_numpy(xn), torch.from_numpy(yn)
    sizes = [2] + [64] * 8 + [3]
    results = {}
    for name, use_bn in (("without BatchNorm", False), ("with BatchNorm", True)):
        torch.manual_seed(args.seed)
        model = MLP(sizes, batchnorm=use_bn)
        losses, acc = train(model, xt, yt, steps, lr=0.02, batch=64, seed=args.seed)
        results[name] = (losses, acc)
        tail = losses[-20:].mean()
        print(f"  {name:<18s}: loss after {steps} steps {tail:.3f}, accuracy {100 * acc:.1f}%")
    plain_loss = results["without BatchNorm"][0][-20:].mean()
    bn_loss = results["with BatchNorm"][0][-20:].mean()
    check(bn_loss < 0.6 * plain_loss, f"BatchNorm trains faster: final loss {bn_loss:.3f} < "
          f"0.6 x {plain_loss:.3f}")
    check(results["with BatchNorm"][1] > results["without BatchNorm"][1] + 0.1,
          f"... and is more accurate ({100 * results['with BatchNorm'][1]:.0f}% vs "
          f"{100 * results['without BatchNorm'][1]:.0f}%)")

    plt = plt_or_note("the BatchNorm figure")
    if plt is not None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        k = 10
        for ax, (name, (losses, acc)) in zip(axes, results.items()):
            smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
            ax.plot(losses, color="0.8", lw=0.8)
            ax.plot(np.arange(k - 1, len(losses)), smooth, lw=2)
            ax.set_title(f"8 hidden layers, {name}: accuracy {100 * acc:.0f}%")
            ax.set_xlabel("SGD step")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("training loss (cross-entropy)")
        figure(args, "03_batchnorm", fig)
    finish()


if __name__ == "__main__":
    main()
