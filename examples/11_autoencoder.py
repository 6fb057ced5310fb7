"""A convolutional autoencoder on Fashion-MNIST: strided convolutions squeeze a 28x28 image
into a 7x7x8 code (392 numbers, half the pixels), transposed convolutions grow it back.

``nn.ConvTranspose2d`` is the gradient of a convolution used as a layer: each code pixel
scatters a scaled copy of the kernel onto the output at stride 2, so two of them upsample
7x7 -> 14x14 -> 28x28.  The claim: on held-out test images the reconstruction error is far
below that of the best image-independent guess (the mean training image).

    python examples/11_autoencoder.py [--quick] [--data-dir DIR]
"""
import numpy as np

from _common import parse_args, check, finish, figure, plt_or_note

import dlbasic as torch
import dlbasic.nn as nn


def data_dir_arg(parser):
    parser.add_argument("--data-dir", default=None,
                        help="directory holding the Fashion-MNIST IDX files")


def load(args, n_train, n_test):
    from dlbasic.vision.datasets import FashionMNIST, find_fashion_mnist
    root = find_fashion_mnist(args.data_dir)
    if root is None:
        raise SystemExit("this example needs Fashion-MNIST: install the Debian package "
                         "dataset-fashion-mnist or pass --data-dir DIR")
    train, test = FashionMNIST(root, train=True), FashionMNIST(root, train=False)
    rng = np.random.default_rng(args.seed)
    pick = rng.permutation(len(train))[:n_train]
    x_train = train.data.numpy()[pick].astype(np.float32)[:, None] / 255
    x_test = test.data.numpy()[:n_test].astype(np.float32)[:, None] / 255
    return x_train, x_test


def autoencoder():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),             # 28 -> 14
        nn.Conv2d(16, 8, 3, stride=2, padding=1), nn.ReLU(),             # 14 -> 7: the code
        nn.ConvTranspose2d(8, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # 14
        nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1),  # -> 28
        nn.Sigmoid())


def main():
    args = parse_args(__doc__.split("\n\n")[0], extra=data_dir_arg)
    torch.manual_seed(args.seed)
    n_train, epochs = (3000, 2) if args.quick else (20000, 5)
    x_train, x_test = load(args, n_train, 1000)
    model = autoencoder()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(args.seed)
    curve = []
    for epoch in range(epochs):
        order = rng.permutation(n_train)
        for i in range(0, n_train - 63, 64):
            x = torch.from_numpy(x_train[order[i:i + 64]])
            loss = nn.functional.mse_loss(model(x), x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            curve.append(loss.item())
        print(f"epoch {epoch + 1}: train MSE {np.mean(curve[-20:]):.4f}")

    model.eval()
    with torch.no_grad():
        recon = model(torch.from_numpy(x_test)).numpy()
    mse = float(((recon - x_test) ** 2).mean())
    mean_image = x_train.mean(0, keepdims=True)
    baseline = float(((mean_image - x_test) ** 2).mean())
    print(f"held-out reconstruction MSE {mse:.4f}; the mean training image {baseline:.4f}")
    factor = 3 if args.quick else 10
    check(mse * factor < baseline, f"reconstructions are over {factor}x closer than the mean "
                                   f"image ({baseline / mse:.1f}x)")

    plt = plt_or_note("the reconstructions")
    if plt is not None:
        fig, axes = plt.subplots(3, 8, figsize=(8, 3.6),
                                 gridspec_kw={"height_ratios": [1, 1, 1.3]})
        for j in range(8):
            axes[0, j].imshow(x_test[j, 0], cmap="gray", vmin=0, vmax=1)
            axes[1, j].imshow(recon[j, 0], cmap="gray", vmin=0, vmax=1)
            axes[0, j].axis("off")
            axes[1, j].axis("off")
        for j in range(8):
            fig.delaxes(axes[2, j])
        ax = fig.add_subplot(3, 1, 3)
        ax.plot(curve, lw=0.8)
        ax.axhline(baseline, color="gray", ls="--", label=f"mean image ({baseline:.3f})")
        ax.set_xlabel("step")
        ax.set_ylabel("MSE")
        ax.legend(fontsize=8)
        fig.suptitle("test images (top), their reconstructions from a 7x7x8 code (middle)",
                     fontsize=9)
        figure(args, "11_autoencoder", fig)
    finish()


if __name__ == "__main__":
    main()
