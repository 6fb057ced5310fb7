"""Backpropagation = local gradient x upstream gradient, node by node (notes: "BP").

A single neuron with a squared error, ``L = (sigmoid(w*x + b) - t)^2``, built with dlbasic's
autograd.  We walk the recorded graph from ``L.grad_fn`` through ``next_functions`` and, for
every node, print the value it produced, the *upstream* gradient dL/d(output) arriving from
above, the *local* gradient d(output)/d(input) of the op, and their product, which must equal
the gradient autograd stored for the input.  The graph is also written as Graphviz dot text
(and rendered to PNG when the ``dot`` program is installed).

    python examples/02_backprop.py [--quick]
"""
import os
import shutil
import subprocess

from _common import parse_args, check, finish

import dlbasic as torch


def build(x_val=2.0, w_val=-0.5, b_val=0.3, t_val=1.0):
    x = torch.tensor(x_val, requires_grad=True)
    w = torch.tensor(w_val, requires_grad=True)
    b = torch.tensor(b_val, requires_grad=True)
    t = torch.tensor(t_val)
    a = w * x;            a.retain_grad()          # noqa: E702
    z = a + b;            z.retain_grad()          # noqa: E702
    s = torch.sigmoid(z); s.retain_grad()          # noqa: E702
    d = s - t;            d.retain_grad()          # noqa: E702
    loss = d ** 2;        loss.retain_grad()       # noqa: E702
    named = dict(x=x, w=w, b=b, a=a, z=z, s=s, d=d, L=loss)
    return loss, named


def local_gradients(v):
    """d(output)/d(input) of each op, written out by hand (what each backward multiplies by)."""
    x, w, b, a, z, s, d = (v[k].item() for k in "xwbazsd")
    return {
        ("L", "d"): ("d(d^2)/dd = 2d", 2 * d),
        ("d", "s"): ("d(s - t)/ds = 1", 1.0),
        ("s", "z"): ("d sigmoid(z)/dz = s(1 - s)", s * (1 - s)),
        ("z", "a"): ("d(a + b)/da = 1", 1.0),
        ("z", "b"): ("d(a + b)/db = 1", 1.0),
        ("a", "w"): ("d(w x)/dw = x", x),
        ("a", "x"): ("d(w x)/dx = w", w),
    }


def walk(loss, named):
    """Breadth-first over grad_fn.next_functions: yields (node, output name, input names)."""
    by_node = {id(t.grad_fn): k for k, t in named.items() if t.grad_fn is not None}
    leaf_of = {id(t): k for k, t in named.items() if t.grad_fn is None}
    order, seen, queue = [], set(), [loss.grad_fn]
    while queue:
        node = queue.pop(0)
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        inputs = []
        for parent, _ in node.next_functions:
            if parent is None:
                inputs.append(None)
            elif hasattr(parent, "variable"):                  # AccumulateGrad of a leaf
                inputs.append(leaf_of.get(id(parent.variable)))
            else:
                inputs.append(by_node.get(id(parent)))
                queue.append(parent)
        order.append((node, by_node.get(id(node)), inputs))
    return order


def dot_text(order):
    lines = ["digraph autograd {", '  rankdir="BT";', '  node [shape=box, fontname="Helvetica"];']
    for node, out, inputs in order:
        lines.append(f'  "{out}" [label="{node.name()}\\n-> {out}"];')
        for name in inputs:
            if name is None:
                continue
            if name in "xwb":
                lines.append(f'  "{name}" [label="AccumulateGrad\\n{name} (leaf)", '
                             'style=filled, fillcolor="#ddeeff"];')
            lines.append(f'  "{name}" -> "{out}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    args = parse_args(__doc__.splitlines()[0])
    loss, v = build()
    loss.backward()
    local = local_gradients(v)
    order = walk(loss, v)
    print("forward: a = w*x, z = a + b, s = sigmoid(z), d = s - t, L = d^2")
    print("   " + ", ".join(f"{k} = {v[k].item():+.4f}" for k in "xwbtazsdL" if k in v))
    print("\nbackward, node by node from L.grad_fn (upstream x local = gradient of the input):")
    worst = 0.0
    for node, out, inputs in order:
        upstream = v[out].grad.item()
        print(f"  {node.name():<16s} produced {out} = {v[out].item():+.4f}; "
              f"upstream dL/d{out} = {upstream:+.5f}")
        for name in inputs:
            if name is None:
                continue
            formula, lg = local[(out, name)]
            product = upstream * lg
            stored = v[name].grad.item()
            worst = max(worst, abs(product - stored))
            print(f"      -> {name}: local {formula:<28s} = {lg:+.5f};  "
                  f"{upstream:+.5f} x {lg:+.5f} = {product:+.5f}  (autograd: {stored:+.5f})")
    check(len(order) == 5, f"the graph has 5 op nodes (found {len(order)})")
    check(worst < 1e-6, f"every gradient is upstream x local (max mismatch {worst:.1e})")

    # the same gradients by finite differences, as an independent check
    eps = 1e-3
    fd_worst = 0.0
    for name in "xwb":
        vals = {k: v[k].item() for k in "xwb"}
        hi, lo = dict(vals), dict(vals)
        hi[name] += eps
        lo[name] -= eps
        fd = (build(hi["x"], hi["w"], hi["b"])[0].item()
              - build(lo["x"], lo["w"], lo["b"])[0].item()) / (2 * eps)
        fd_worst = max(fd_worst, abs(fd - v[name].grad.item()))
    check(fd_worst < 1e-4, f"autograd agrees with central finite differences "
          f"(max diff {fd_worst:.1e})")

    dot = dot_text(order)
    path = os.path.join(args.out, "02_backprop.dot")
    with open(path, "w") as f:
        f.write(dot)
    print(f"\nGraphviz dot text written to {path}:")
    print(dot)
    if shutil.which("dot"):
        png = os.path.join(args.out, "02_backprop.png")
        subprocess.run(["dot", "-Tpng", path, "-o", png], check=False)
        print(f"figure: {png}")
    else:
        print("(install graphviz to render it: dot -Tpng 02_backprop.dot -o graph.png)")
    finish()


if __name__ == "__main__":
    main()
