"""Reference recipes on real Fashion-MNIST, the same code run on dlbasic and on PyTorch.

    python -m benchmarks.recipes --recipe mlp [--epochs 10]

The recipe is written once against the torch API (``lib`` is ``dlbasic`` or ``torch``):
784-256-128-10 MLP, SGD momentum 0.9, lr 0.1 with per-batch cosine decay, weight decay 5e-4,
batch 128, inputs normalised with the training mean/std.  Prints test accuracy and wall time
for each library and the time ratio dlbasic / PyTorch.
"""
import argparse
import time

import numpy as np


def load(root=None):
    from dlbasic.vision.datasets import FashionMNIST, find_fashion_mnist
    root = find_fashion_mnist(root)
    if root is None:
        raise SystemExit("Fashion-MNIST not found: install dataset-fashion-mnist or pass --data-dir")
    out = []
    for train in (True, False):
        ds = FashionMNIST(root, train=train)
        x = ds.data.numpy().reshape(len(ds), -1).astype(np.float32) / 255.0
        out += [(x - 0.2860) / 0.3530, ds.targets.numpy().astype(np.int64)]
    return out


def mlp_recipe(lib, data, epochs, seed=0):
    nn = lib.nn
    F = lib.nn.functional
    lib.manual_seed(seed)
    x_train, y_train, x_test, y_test = data
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    batch = 128
    steps = epochs * ((len(x_train) + batch - 1) // batch)
    opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    xt, yt = lib.tensor(x_test), lib.tensor(y_test)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = rng.permutation(len(x_train))
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            xb, yb = lib.from_numpy(x_train[idx]), lib.from_numpy(y_train[idx])
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    wall = time.perf_counter() - t0
    model.eval()
    with lib.no_grad():
        acc = (model(xt).argmax(dim=1) == yt).float().mean().item()
    return acc, wall


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="mlp", choices=["mlp"])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args(argv)
    import dlbasic
    import torch
    data = load(args.data_dir)
    res = {}
    for name, lib in (("dlbasic", dlbasic), ("torch", torch)):
        acc, wall = mlp_recipe(lib, data, args.epochs)
        res[name] = wall
        print(f"{name:8s} test accuracy {acc * 100:.2f}%  training time {wall:.1f} s", flush=True)
    print(f"time ratio dlbasic / PyTorch: {res['dlbasic'] / res['torch']:.2f}")


if __name__ == "__main__":
    main()
