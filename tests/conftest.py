import os

import numpy as np
import pytest

import dlbasic


@pytest.fixture(autouse=True)
def _seed():
    dlbasic.manual_seed(0)
    np.random.seed(0)
    yield


def fashion_mnist_dir():
    """The Fashion-MNIST directory, or skip (fail under CI) with a visible reason."""
    from dlbasic.vision.datasets import find_fashion_mnist
    path = find_fashion_mnist(os.environ.get("FASHION_MNIST_DIR"))
    if path is None:
        msg = ("Fashion-MNIST not found: install the Debian package dataset-fashion-mnist or set "
               "FASHION_MNIST_DIR")
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path
