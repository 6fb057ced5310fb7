"""``clamp(input, min, max)``: squeeze every element into [min, max] (notes: "torch / 函数").

Behaviour and gradient, including exactly at the bounds:

* values below ``min`` become ``min``, above ``max`` become ``max``, the rest pass unchanged;
* the gradient is 1 on the *closed* interval [min, max] (PyTorch's convention: an element
  sitting exactly on a bound still gets gradient 1) and 0 strictly outside;
* ``min`` or ``max`` may be omitted (a one-sided clamp), may be tensors (element-wise bounds),
  and when ``min > max`` every element becomes ``max``;
* ``out=`` writes into an existing tensor; ``clamp_`` works in place.

    python examples/05_clamp.py [--quick]
"""
import numpy as np

from _common import parse_args, check, finish, figure, plt_or_note

import dlbasic as torch


def value_and_grad(x_list, **bounds):
    x = torch.tensor(x_list, requires_grad=True)
    y = torch.clamp(x, **bounds)
    y.sum().backward()
    return y.tolist(), x.grad.tolist()


def main():
    args = parse_args(__doc__.splitlines()[0])
    xs = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]
    y, g = value_and_grad(xs, min=-1.0, max=1.0)
    print(f"x               = {xs}")
    print(f"clamp(x, -1, 1) = {y}")
    print(f"gradient        = {g}")
    check(y == [-1.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.0], "values are squeezed into [-1, 1]")
    check(g == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
          "gradient is 1 on the closed interval [min, max] (also exactly at -1 and 1), "
          "0 outside")

    y, g = value_and_grad(xs, min=0.0)
    print(f"clamp(x, min=0) = {y}  (= ReLU), gradient {g}")
    check(y == [max(v, 0.0) for v in xs] and g == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0],
          "a one-sided clamp(min=0) is ReLU, but its gradient at 0 is 1 (ReLU's is 0)")
    y, g = value_and_grad(xs, max=0.5)
    check(y == [min(v, 0.5) for v in xs] and g == [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0],
          f"clamp(max=0.5) = {y}")

    y, g = value_and_grad(xs, min=1.0, max=-1.0)
    check(y == [-1.0] * len(xs) and g == [0.0] * len(xs),
          f"min > max: every element becomes max (= {y[0]}), no gradient flows")

    lo = torch.tensor([-1.0, 0.0, 0.0, -5.0, 0.0, 0.0, 1.5])
    hi = torch.tensor([1.0, 1.0, 0.1, 5.0, 0.5, 2.0, 3.0])
    out = torch.empty(len(xs))
    torch.clamp(torch.tensor(xs), min=lo, max=hi, out=out)
    expect = np.minimum(np.maximum(np.array(xs), lo.numpy()), hi.numpy()).tolist()
    check(out.tolist() == expect, f"tensor bounds and out=: {out.tolist()}")
    t = torch.tensor(xs)
    t.clamp_(-0.5, 0.5)
    check(t.tolist() == [-0.5, -0.5, -0.5, 0.0, 0.5, 0.5, 0.5], "clamp_ works in place")
    try:
        torch.clamp(torch.tensor(xs))
        raised = False
    except RuntimeError:
        raised = True
    check(raised, "clamp without min and max raises RuntimeError (as PyTorch)")

    plt = plt_or_note("the clamp figure")
    if plt is not None:
        grid = np.linspace(-2, 2, 401 if not args.quick else 101).astype(np.float32)
        x = torch.tensor(grid, requires_grad=True)
        torch.clamp(x, -1, 1).sum().backward()
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(grid, np.clip(grid, -1, 1), lw=2, label="clamp(x, -1, 1)")
        ax.plot(grid, x.grad.numpy(), "--", label="gradient (autograd)")
        ax.plot([-1, 1], [1, 1], "o", color="C1", label="gradient at the bounds = 1")
        ax.axhline(0, color="0.7", lw=0.5)
        ax.legend()
        ax.set_xlabel("x")
        figure(args, "05_clamp", fig)
    finish()


if __name__ == "__main__":
    main()
