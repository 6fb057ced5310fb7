"""Why a neural network needs a nonlinearity (notes: "NN and BP").

1. On a 2-D spiral (three interleaved arms) a linear classifier ``f = W x`` stays near chance,
   while a two-hidden-layer ReLU MLP ``f = W3 max(0, W2 max(0, W1 x))`` fits it.
2. Without activations, ``Linear -> Linear -> Linear`` collapses into ONE linear map:
   ``W3 (W2 (W1 x + b1) + b2) + b3 = (W3 W2 W1) x + (W3 W2 b1 + W3 b2 + b3)``.

    python examples/01_nonlinearity.py [--quick]
"""
import numpy as np

from _common import parse_args, check, finish, figure, plt_or_note

import dlbasic as torch
import dlbasic.nn as nn


DARK = ["#d62728", "#1f77b4", "#2ca02c"]
LIGHT = ["#f7c6c6", "#c6dbef", "#c7e9c0"]


def spiral(n_per_class, n_classes=3, noise=0.2, seed=0):
    """Three spiral arms in the plane (the classic example a linear model cannot separate)."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(n_classes):
        r = np.linspace(0.05, 1.0, n_per_class)
        theta = np.linspace(c * 4.0, (c + 1) * 4.0, n_per_class) + rng.normal(0, noise,
                                                                           n_per_class)
        xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
        ys.append(np.full(n_per_class, c))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def fit(model, x, y, steps, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def main():
    args = parse_args(__doc__.splitlines()[0])
    torch.manual_seed(args.seed)
    n = 100 if args.quick else 300
    steps = 300 if args.quick else 2000
    xn, yn = spiral(n, seed=args.seed)
    x, y = torch.from_numpy(xn), torch.from_numpy(yn)

    linear = nn.Linear(2, 3)
    mlp = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                        nn.Linear(64, 3))
    acc_linear = fit(linear, x, y, steps, lr=0.05)
    acc_mlp = fit(mlp, x, y, steps, lr=0.01)
    print(f"spiral, 3 classes, {len(yn)} points (chance = 33%)")
    print(f"  linear model  f = Wx + b          : training accuracy {100 * acc_linear:.1f}%")
    print(f"  ReLU MLP      2-64-64-3           : training accuracy {100 * acc_mlp:.1f}%")
    check(acc_linear <= 0.60, f"the linear model stays near chance ({100 * acc_linear:.1f}% <= 60%)")
    check(acc_mlp >= 0.95, f"the ReLU MLP fits the spiral ({100 * acc_mlp:.1f}% >= 95%)")

    # --- stacked Linear layers without activation are one Linear layer -----------------------
    stack = nn.Sequential(nn.Linear(2, 16), nn.Linear(16, 16), nn.Linear(16, 3))
    l1, l2, l3 = stack[0], stack[1], stack[2]
    with torch.no_grad():
        w = l3.weight @ l2.weight @ l1.weight                     # W3 W2 W1, shape (3, 2)
        b = l3.weight @ (l2.weight @ l1.bias + l2.bias) + l3.bias
        collapsed = x @ w.t() + b
        gap = (stack(x) - collapsed).abs().max().item()
    print(f"  3 Linear layers without activation vs the single map W3·W2·W1: "
          f"max |difference| = {gap:.2e}")
    check(gap < 1e-5, f"Linear∘Linear∘Linear == one linear map W3·W2·W1 (max diff {gap:.1e})")
    acc_stack = fit(stack, x, y, steps, lr=0.05)
    print(f"  ... and trained, that 3-layer linear stack reaches {100 * acc_stack:.1f}%")
    check(acc_stack <= 0.60, f"depth without nonlinearity does not help "
          f"({100 * acc_stack:.1f}% <= 60%)")

    plt = plt_or_note("the decision-boundary figure")
    if plt is not None:
        grid = np.linspace(-1.2, 1.2, 200, dtype=np.float32)
        gx, gy = np.meshgrid(grid, grid)
        pts = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=1))
        fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
        for ax, (name, model, acc) in zip(axes, [("linear  f = Wx", linear, acc_linear),
                                                 ("3 Linear layers, no activation", stack,
                                                  acc_stack),
                                                 ("ReLU MLP", mlp, acc_mlp)]):
            with torch.no_grad():
                region = model(pts).argmax(1).numpy().reshape(gx.shape)
            ax.contourf(gx, gy, region, levels=[-0.5, 0.5, 1.5, 2.5], colors=LIGHT)
            ax.scatter(xn[:, 0], xn[:, 1], c=[DARK[c] for c in yn], s=8, edgecolors="none")
            ax.set_title(f"{name}: {100 * acc:.0f}%")
            ax.set_xticks([])
            ax.set_yticks([])
        figure(args, "01_nonlinearity", fig)
    finish()


if __name__ == "__main__":
    main()
