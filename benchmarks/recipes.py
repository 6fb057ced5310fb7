"""Reference recipes on real Fashion-MNIST, the same code run on dlbasic and on PyTorch.

    python -m benchmarks.recipes --recipe {mlp,cnn} [--epochs N] [--libs dlbasic,torch]

Each recipe is written once against the torch API (``lib`` is ``dlbasic`` or ``torch``), batch
128, inputs normalised with the training mean/std (see ``RECIPES`` for the optimiser settings):
``mlp`` is the 784-256-128-10 MLP, ``cnn`` two conv3x3 + BatchNorm + ReLU + max-pool blocks
(32 and 64 channels), a 256-unit hidden layer with dropout and the classifier, trained with
random horizontal flips;
``resnet20`` the CIFAR ResNet-20 with random crops and flips.  Prints test accuracy and wall time
for each library and the time ratio dlbasic / PyTorch.
"""
import argparse
import time

import numpy as np

from benchmarks.networks import basic_block


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


def _mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def _cnn(lib):
    """Two conv3x3 + BatchNorm + ReLU + max-pool blocks (32, 64 channels), then a 256-unit hidden
    layer with dropout 0.3 and the classifier (dlbasic.models.SmallCNN plus the hidden layer)."""
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(256, 10))


def _resnet20(lib):
    """CIFAR ResNet-20 (He et al. 2016, 3 stages of 3 BasicBlocks, 16/32/64 channels) for 1x28x28,
    with 1x1 conv + BN shortcuts where the shape changes (dlbasic.models.resnet20(shortcut="B"))."""
    nn = lib.nn
    layers = [nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for cout, stride in ((16, 1), (32, 2), (64, 2)):
        for b in range(3):
            layers.append(basic_block(lib, cin, cout, stride if b == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def augment(xb, rng, crop_pad):
    """Random horizontal flips, and (crop_pad > 0) random crops of the zero-padded images."""
    xb = np.where(rng.random(len(xb))[:, None, None, None] < 0.5, xb[..., ::-1], xb)
    if crop_pad:
        n, c, h, w = xb.shape
        p = crop_pad
        padded = np.zeros((n, c, h + 2 * p, w + 2 * p), xb.dtype)
        padded[:, :, p:p + h, p:p + w] = xb
        dy, dx = rng.integers(0, 2 * p + 1, n), rng.integers(0, 2 * p + 1, n)
        rows = (dy[:, None] + np.arange(h))[:, None, :, None]
        cols = (dx[:, None] + np.arange(w))[:, None, None, :]
        xb = padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None],
                    rows, cols]
    return xb


# name: (model builder, input shape of one image, epochs, schedule, peak lr, augmentation:
# None, "flip", or "crop+flip" (random 28x28 crops of the image zero-padded by 2, and flips))
RECIPES = {
    # SGD momentum 0.9, lr 0.1 with per-batch cosine decay, weight decay 5e-4
    "mlp": (_mlp, (784,), 10, "cosine", 0.1, None),
    # SGD Nesterov momentum 0.9, one-cycle lr peaking at 0.05, weight decay 5e-4,
    # random horizontal flips
    "cnn": (_cnn, (1, 28, 28), 15, "onecycle", 0.05, "flip"),
    # the same optimiser as cnn, with the standard crop + flip augmentation; 7 epochs are what
    # fits in 60 minutes at dlbasic's ~140 images/s on 2 cores (50 minutes measured)
    "resnet20": (_resnet20, (1, 28, 28), 7, "onecycle", 0.1, "crop+flip"),
}


def run_recipe(lib, name, data, epochs=None, seed=0):
    """Train one recipe with ``lib`` (dlbasic or torch); returns (test accuracy, seconds)."""
    build, shape, default_epochs, schedule, lr, aug = RECIPES[name]
    epochs = epochs or default_epochs
    F = lib.nn.functional
    lib.manual_seed(seed)
    x_train, y_train, x_test, y_test = data
    x_train = x_train.reshape((-1,) + shape)
    model = build(lib)
    batch = 128
    steps = epochs * ((len(x_train) + batch - 1) // batch)
    if schedule == "cosine":
        opt = lib.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
        sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    else:
        opt = lib.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True,
                            weight_decay=5e-4)
        sched = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(x_train))
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            xb = x_train[idx]
            if aug:
                xb = augment(xb, rng, 2 if aug == "crop+flip" else 0)
            xb, yb = lib.from_numpy(np.ascontiguousarray(xb)), lib.from_numpy(y_train[idx])
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"  {lib.__name__} {name} epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}, "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    wall = time.perf_counter() - t0
    model.eval()
    correct = 0
    with lib.no_grad():
        for i in range(0, len(x_test), 1000):
            xb = lib.from_numpy(np.ascontiguousarray(x_test[i:i + 1000].reshape((-1,) + shape)))
            pred = model(xb).argmax(dim=1).numpy()
            correct += int((pred == y_test[i:i + 1000]).sum())
    return correct / len(x_test), wall


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="mlp", choices=sorted(RECIPES))
    ap.add_argument("--epochs", type=int, default=None, help="default: the recipe's own")
    ap.add_argument("--libs", default="dlbasic,torch", help="which libraries, in order")
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args(argv)
    import dlbasic
    import torch
    torch.set_num_threads(dlbasic.get_num_threads())
    data = load(args.data_dir)
    res = {}
    libs = {"dlbasic": dlbasic, "torch": torch}
    for name in args.libs.split(","):
        acc, wall = run_recipe(libs[name], args.recipe, data, args.epochs)
        res[name] = wall
        print(f"{args.recipe} {name:8s} test accuracy {acc * 100:.2f}%  training time {wall:.1f} s",
              flush=True)
    if len(res) == 2:
        print(f"time ratio dlbasic / PyTorch: {res['dlbasic'] / res['torch']:.2f}")


if __name__ == "__main__":
    main()
