"""Every activation of the notes and its derivative, computed by dlbasic's autograd.

sigmoid, LogSigmoid, ReLU, LeakyReLU, PReLU, RReLU, ELU, tanh and softmax.  For each we run
``y = f(x)`` on a grid, call ``y.sum().backward()`` and plot ``x.grad`` (= f'(x), since each
output depends only on its own input).  The claims checked with numbers:

* autograd's derivative equals the closed form (e.g. sigmoid' = s(1 - s), tanh' = 1 - tanh^2);
* sigmoid' <= 0.25 and tanh' <= 1, so a chain of 10 sigmoids shrinks a gradient by at least
  4^10 ~ 10^6 (the vanishing gradient the notes mention), while ReLU passes 1 for x > 0;
* ReLU, LeakyReLU and PReLU follow PyTorch's kink convention: the derivative at 0 is the
  left slope (0 for ReLU);
* tanh is zero-centred and sigmoid is not.

    python examples/04_activations.py [--quick]
"""
import numpy as np

from _common import parse_args, check, finish, figure, plt_or_note

import dlbasic as torch
import dlbasic.nn as nn
import dlbasic.nn.functional as F


def derivative(fn, x_np):
    x = torch.tensor(x_np, requires_grad=True)
    y = fn(x)
    y.sum().backward()
    return y.detach().numpy(), x.grad.numpy()


def main():
    args = parse_args(__doc__.splitlines()[0])
    torch.manual_seed(args.seed)
    x = np.linspace(-4, 4, 161 if args.quick else 801).astype(np.float32)
    x[np.argmin(np.abs(x))] = 0.0                          # make sure the kink is sampled
    sig = 1 / (1 + np.exp(-x))
    prelu = nn.PReLU(init=0.25)
    rrelu = nn.RReLU(lower=1 / 8, upper=1 / 3).eval()      # eval: slope (lower + upper) / 2
    a = (1 / 8 + 1 / 3) / 2
    table = [
        # name, function, closed-form value, closed-form derivative
        ("sigmoid", torch.sigmoid, sig, sig * (1 - sig)),
        ("LogSigmoid", F.logsigmoid, np.log(sig), 1 - sig),
        ("ReLU", torch.relu, np.maximum(x, 0), (x > 0).astype(np.float32)),
        ("LeakyReLU(0.01)", lambda t: F.leaky_relu(t, 0.01), np.where(x > 0, x, 0.01 * x),
         np.where(x > 0, 1.0, 0.01)),
        ("LeakyReLU(0.1) (the notes)", lambda t: F.leaky_relu(t, 0.1),
         np.where(x > 0, x, 0.1 * x), np.where(x > 0, 1.0, 0.1)),
        ("PReLU(a=0.25, learned)", prelu, np.where(x > 0, x, 0.25 * x),
         np.where(x > 0, 1.0, 0.25)),
        ("RReLU (eval)", rrelu, np.where(x >= 0, x, a * x), np.where(x > 0, 1.0, a)),
        ("ELU(alpha=1)", F.elu, np.where(x > 0, x, np.expm1(x)), np.where(x > 0, 1.0, np.exp(x))),
        ("tanh", torch.tanh, np.tanh(x), 1 - np.tanh(x) ** 2),
        # softmax over the pair (x, 0): the first probability is sigmoid(x)
        ("softmax([x, 0])[0]",
         lambda t: F.softmax(torch.stack([t, torch.zeros_like(t)], dim=1), dim=1)[:, 0],
         sig, sig * (1 - sig)),
    ]
    results = []
    worst_value = worst_grad = 0.0
    for name, fn, y_ref, g_ref in table:
        y, g = derivative(fn, x)
        err_y = float(np.abs(y - y_ref).max())
        err_g = float(np.abs(g - g_ref).max())
        worst_value, worst_grad = max(worst_value, err_y), max(worst_grad, err_g)
        results.append((name, y, g))
        print(f"  {name:<28s} max |f - closed form| = {err_y:.1e}   "
              f"max |autograd f' - closed form| = {err_g:.1e}")
    check(worst_value < 1e-5, f"every activation matches its formula (max error {worst_value:.1e})")
    check(worst_grad < 1e-5, f"autograd's derivatives match the closed forms "
          f"(max error {worst_grad:.1e})")

    grads = {name: g for name, _, g in results}
    vals = {name: y for name, y, _ in results}
    zero = int(np.argmin(np.abs(x)))
    check(abs(grads["sigmoid"].max() - 0.25) < 1e-4,
          f"max sigmoid'(x) = {grads['sigmoid'].max():.4f} = 1/4 (at x = 0)")
    check(abs(grads["tanh"].max() - 1.0) < 1e-4, f"max tanh'(x) = {grads['tanh'].max():.4f}")

    # a chain of 10 sigmoids: the gradient reaching the input
    z = torch.tensor([0.5], requires_grad=True)
    h = z
    for _ in range(10):
        h = torch.sigmoid(h)
    h.backward()
    chain = z.grad.item()
    r = torch.tensor([0.5], requires_grad=True)
    hr = r
    for _ in range(10):
        hr = torch.relu(hr)
    hr.backward()
    print(f"  d/dx of 10 stacked sigmoids at x = 0.5: {chain:.2e}   (10 stacked ReLUs: "
          f"{r.grad.item():.0f})")
    check(chain < 0.25 ** 10 * 1.0001, f"10 sigmoids shrink the gradient below 4^-10 = "
          f"{0.25 ** 10:.1e} (got {chain:.1e}): vanishing gradient")
    check(r.grad.item() == 1.0, "10 ReLUs pass the gradient unchanged for x > 0")
    check(grads["ReLU"][zero] == 0.0 and grads["LeakyReLU(0.01)"][zero] == np.float32(0.01),
          "at the kink x = 0, ReLU' = 0 and LeakyReLU' = negative_slope (PyTorch's convention)")
    check(abs(vals["tanh"].mean()) < 1e-5 and abs(vals["sigmoid"].mean() - 0.5) < 1e-3,
          f"tanh is zero-centred (mean {vals['tanh'].mean():+.1e}) while sigmoid's mean is "
          f"{vals['sigmoid'].mean():.2f}")
    # PReLU's slope is a parameter: it receives a gradient
    xp = torch.tensor(x)
    prelu.zero_grad()
    prelu(xp).sum().backward()
    expected = float(x[x < 0].sum())
    check(abs(prelu.weight.grad.item() - expected) < 1e-3 * abs(expected),
          f"PReLU learns its slope: dL/da = sum of negative inputs = {expected:.2f} "
          f"(autograd {prelu.weight.grad.item():.2f})")

    plt = plt_or_note("the activation figure")
    if plt is not None:
        cols = 5
        rows = (len(results) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows))
        for ax, (name, y, g) in zip(axes.ravel(), results):
            ax.plot(x, y, label="f(x)", lw=2)
            ax.plot(x, g, "--", label="f'(x) (autograd)", lw=1.5)
            ax.axhline(0, color="0.7", lw=0.5)
            ax.axvline(0, color="0.7", lw=0.5)
            ax.set_title(name, fontsize=10)
            ax.set_ylim(-1.6, 2.2)
        for ax in axes.ravel()[len(results):]:
            ax.axis("off")
        axes.ravel()[0].legend(fontsize=8, loc="upper left")
        figure(args, "04_activations", fig)
    finish()


if __name__ == "__main__":
    main()
