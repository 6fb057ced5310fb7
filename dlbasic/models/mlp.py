"""Fully connected networks and a small CNN for 28x28 grey images."""
from .. import nn

__all__ = ["MLP", "SmallCNN"]


class MLP(nn.Sequential):
    """``MLP([784, 256, 128, 10])``: Linear layers with ``activation`` between them, none after
    the last (the last layer's outputs are logits).

    ``dropout`` > 0 adds Dropout after each hidden activation; ``batchnorm`` adds BatchNorm1d
    before each hidden activation; ``flatten`` prepends Flatten so images can be fed directly.
    """

    def __init__(self, sizes, activation=nn.ReLU, dropout=0.0, batchnorm=False, flatten=False,
                 bias=True):
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least an input and an output size, got {sizes}")
        layers = [nn.Flatten()] if flatten else []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(n_in, n_out, bias=bias))
            if i < len(sizes) - 2:
                if batchnorm:
                    layers.append(nn.BatchNorm1d(n_out))
                if activation is not None:
                    layers.append(activation())
                if dropout:
                    layers.append(nn.Dropout(dropout))
        super().__init__(*layers)
        self.sizes = sizes


class SmallCNN(nn.Module):
    """conv3x3(32)-BN-ReLU-maxpool2, conv3x3(64)-BN-ReLU-maxpool2, linear: for 1x28x28 inputs."""

    def __init__(self, num_classes=10, in_channels=1, image_size=28):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(2))
        side = image_size // 4
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * side * side, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))
