"""L1, L2, SmoothL1 and Huber: shapes, gradients and robustness to outliers (notes: losses).

* Curves of each loss of the residual r and its gradient (by autograd): L2's gradient grows
  with r (an outlier pulls hard), L1's is a constant +-1 (a jump at 0), SmoothL1/Huber are
  quadratic near 0 (gradient -> 0 as the loss -> 0) and linear beyond beta / delta.
* ``HuberLoss(delta) == delta * SmoothL1Loss(beta=delta)``; with delta = 1 they are equal.
* A line fit ``y = w x + b`` on data with 15 % gross outliers: the robust losses recover the
  slope far better than MSE.

    python examples/08_losses.py [--quick]
"""
import numpy as np

from _common import parse_args, check, finish, figure, plt_or_note

import dlbasic as torch
import dlbasic.nn as nn

LOSSES = [
    ("L1 (MAE)", lambda: nn.L1Loss()),
    ("L2 (MSE)", lambda: nn.MSELoss()),
    ("SmoothL1 (beta=1)", lambda: nn.SmoothL1Loss(beta=1.0)),
    ("Huber (delta=2)", lambda: nn.HuberLoss(delta=2.0)),
]


def curve(loss_fn, r_np):
    """Element-wise loss of residual r (target 0) and its derivative by autograd."""
    r = torch.tensor(r_np, requires_grad=True)
    # reduction='sum' over independent elements: the gradient of element i is l'(r_i)
    fn = loss_fn()
    fn.reduction = "sum"
    loss = fn(r, torch.zeros_like(r))
    loss.backward()
    fn.reduction = "none"
    with torch.no_grad():
        values = fn(r, torch.zeros_like(r)).numpy()
    return values, r.grad.numpy()


def line_data(n, outlier_frac, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n).astype(np.float32)
    y = (2.0 * x + 1.0 + rng.normal(0, 0.1, n)).astype(np.float32)
    bad = rng.random(n) < outlier_frac
    # gross outliers, all on one side and growing with x: they tilt a least-squares fit
    y[bad] += (8.0 + 8.0 * x[bad]).astype(np.float32)
    return x, y, bad


def fit_line(loss_fn, x_np, y_np, steps):
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    w = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.05)
    fn = loss_fn()
    for _ in range(steps):
        opt.zero_grad()
        loss = fn(w * x + b, y)
        loss.backward()
        opt.step()
    return w.item(), b.item()


def main():
    args = parse_args(__doc__.splitlines()[0])
    r = np.linspace(-4, 4, 161 if args.quick else 801).astype(np.float32)
    curves = {name: curve(make, r) for name, make in LOSSES}
    g = {name: c[1] for name, c in curves.items()}
    v = {name: c[0] for name, c in curves.items()}
    check(np.allclose(g["L2 (MSE)"], 2 * r, atol=1e-5),
          "MSE's gradient is 2r: it grows with the error (outliers dominate)")
    check(np.allclose(np.abs(g["L1 (MAE)"][r != 0]), 1.0),
          "L1's gradient is +-1 whatever the error (it jumps at r = 0)")
    sl1 = g["SmoothL1 (beta=1)"]
    check(np.abs(sl1).max() <= 1.0 + 1e-6 and np.allclose(sl1[np.abs(r) < 1], r[np.abs(r) < 1]),
          "SmoothL1's gradient is r near 0 (shrinks as the loss shrinks) and capped at 1")
    hub = g["Huber (delta=2)"]
    check(np.abs(hub).max() <= 2.0 + 1e-6, f"Huber(delta=2)'s gradient is capped at delta "
          f"(max {np.abs(hub).max():.2f})")

    # HuberLoss(delta) == delta * SmoothL1Loss(beta=delta), and equal for delta = 1
    pred = torch.randn(1000) * 3
    target = torch.zeros(1000)
    worst = 0.0
    for delta in (0.5, 1.0, 2.0):
        h = nn.HuberLoss(delta=delta)(pred, target).item()
        s = nn.SmoothL1Loss(beta=delta)(pred, target).item()
        worst = max(worst, abs(h - delta * s))
    check(worst < 1e-5, f"HuberLoss(delta) == delta * SmoothL1Loss(beta=delta) "
          f"(max difference {worst:.1e}); delta = 1: Huber == SmoothL1")

    # robustness: line fit with outliers
    n = 200 if args.quick else 1000
    steps = 300 if args.quick else 1500
    x, y, bad = line_data(n, 0.15, args.seed)
    fits = {}
    print(f"\nline fit y = 2x + 1 with {bad.sum()} gross outliers out of {n} points:")
    for name, make in LOSSES:
        w, b = fit_line(make, x, y, steps)
        fits[name] = (w, b)
        print(f"  {name:<18s} slope {w:+.3f} (error {abs(w - 2):.3f})   intercept {b:+.3f} "
              f"(error {abs(b - 1):.3f})")
    err = {name: abs(w - 2.0) for name, (w, b) in fits.items()}
    for name in ("L1 (MAE)", "SmoothL1 (beta=1)", "Huber (delta=2)"):
        check(err[name] < err["L2 (MSE)"] / 2,
              f"{name} is robust: slope error {err[name]:.3f} < half of MSE's "
              f"{err['L2 (MSE)']:.3f}")

    plt = plt_or_note("the losses figure")
    if plt is not None:
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        for name in v:
            axes[0].plot(r, v[name], label=name, lw=2)
            axes[1].plot(r, g[name], label=name, lw=2)
        axes[0].set_ylim(0, 8)
        axes[0].set_title("loss of one residual r")
        axes[1].set_title("gradient dloss/dr (autograd)")
        for ax in axes[:2]:
            ax.set_xlabel("r = prediction - target")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        ax = axes[2]
        ax.scatter(x[~bad], y[~bad], s=6, color="0.5", label="data")
        ax.scatter(x[bad], y[bad], s=10, color="crimson", label="outliers")
        xx = np.array([-1, 1])
        ax.plot(xx, 2 * xx + 1, "k:", lw=2, label="true line")
        for name, (w, b) in fits.items():
            ax.plot(xx, w * xx + b, lw=1.8, label=f"{name}: slope {w:.2f}")
        ax.set_title("line fit with outliers")
        ax.legend(fontsize=7)
        figure(args, "08_losses", fig)
    finish()


if __name__ == "__main__":
    main()
