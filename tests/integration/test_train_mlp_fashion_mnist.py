"""Real training on real data: a 784-256-128-10 MLP, one epoch of SGD on Fashion-MNIST.

Written the way a PyTorch user writes it: Dataset -> DataLoader -> forward, loss, backward,
step.  One epoch must reach >= 84 % test accuracy (10 epochs reach >= 89 %, see the issue
note; that longer run lives in benchmarks, not CI).
"""
import numpy as np

import dlbasic as torch
import dlbasic.nn as nn
import dlbasic.nn.functional as F
from dlbasic.utils.data import DataLoader, TensorDataset
from dlbasic.vision.datasets import FashionMNIST

from tests.conftest import fashion_mnist_dir


def _as_inputs(ds):
    x = ds.data.numpy().reshape(len(ds), -1).astype(np.float32) / 255.0
    x = (x - 0.2860) / 0.3530                      # Fashion-MNIST mean / std
    return torch.from_numpy(x), ds.targets


def test_mlp_one_epoch_of_sgd_reaches_84_percent():
    root = fashion_mnist_dir()
    torch.manual_seed(0)
    x_train, y_train = _as_inputs(FashionMNIST(root, train=True))
    x_test, y_test = _as_inputs(FashionMNIST(root, train=False))
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)

    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=128, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    model.train()
    for idx, (img, label) in enumerate(loader):
        loss = F.cross_entropy(model(img), label)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert np.isfinite(loss.item())

    model.eval()
    with torch.no_grad():
        acc = (model(x_test).argmax(dim=1) == y_test).float().mean().item()
    assert acc >= 0.84, f"test accuracy {acc:.4f} after one epoch"
