"""CIFAR-style ResNets and their plain (shortcut-free) twins, after He et al., 2016, sec. 4.2.

Network: 3x3 conv (16 channels), then three stages of ``n`` blocks on 32x32, 16x16 and 8x8 maps
with 16, 32 and 64 channels, global average pooling and a linear classifier: ``6n + 2`` weighted
layers (resnet20: n = 3, resnet56: n = 9, resnet110: n = 18).

Where a stage halves the map and doubles the channels the shortcut must change shape:

* option ``'A'``: parameter-free identity -- subsample ``x[:, :, ::2, ::2]`` and zero-pad the new
  channels (the paper's CIFAR choice; resnet20 has 269,722 parameters for 10 classes);
* option ``'B'``: 1x1 convolution with stride 2 + BatchNorm (272,474 parameters).

``relu(bn(conv(x)))`` is written ``batch_norm_relu(bn, relu, conv(x))``: the same numbers as the
two calls, computed as one op (see ``nn.modules.batchnorm.batch_norm_relu``).

``plain20`` ... ``plain110`` are the same stacks without any shortcut.  The notes' point that
deep plain nets *degrade* (higher training error with more layers) while residual nets do not
is reproduced by training ``plain56`` against ``resnet56``.
"""
from .. import nn
from ..nn import functional as F
from ..nn.modules.batchnorm import batch_norm_relu

__all__ = ["CifarBasicBlock", "CifarResNet", "make_cifar_resnet", "resnet8", "resnet20", "resnet32",
           "resnet44", "resnet56", "resnet110", "plain8", "plain20", "plain32", "plain44",
           "plain56", "plain110", "mini_resnet"]


class ShortcutA(nn.Module):
    """Option A: y = zero-pad-channels(x[:, :, ::stride, ::stride]); no parameters."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.stride = stride
        extra = planes - in_planes
        self.pad_before, self.pad_after = extra // 2, extra - extra // 2

    def forward(self, x):
        if self.stride != 1:
            x = x[:, :, ::self.stride, ::self.stride]
        # F.pad pads from the last dim backwards: (W, W, H, H, C, C)
        return F.pad(x, (0, 0, 0, 0, self.pad_before, self.pad_after))

    def extra_repr(self):
        return f"stride={self.stride}, pad=({self.pad_before}, {self.pad_after})"


class CifarBasicBlock(nn.Module):
    """Two 3x3 conv-BN layers; y = ReLU(F(x) + shortcut(x)), or ReLU(F(x)) when plain."""
    expansion = 1

    def __init__(self, in_planes, planes, stride=1, shortcut="A"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        if shortcut is None:                       # plain net: no identity path
            self.shortcut = None
        elif stride == 1 and in_planes == planes:
            self.shortcut = nn.Identity()
        elif shortcut == "A":
            self.shortcut = ShortcutA(in_planes, planes, stride)
        elif shortcut == "B":
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes))
        else:
            raise ValueError(f"shortcut must be 'A', 'B' or None, got {shortcut!r}")

    def forward(self, x):
        out = batch_norm_relu(self.bn1, self.relu, self.conv1(x))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class CifarResNet(nn.Module):
    """6n+2-layer CIFAR ResNet (``shortcut='A'`` or ``'B'``) or plain net (``shortcut=None``)."""

    def __init__(self, depth=20, num_classes=10, shortcut="A", in_channels=3, widths=(16, 32, 64)):
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"depth must be 6n+2 (8, 20, 32, 44, 56, 110, ...), got {depth}")
        if shortcut not in ("A", "B", None):
            raise ValueError(f"shortcut must be 'A', 'B' or None, got {shortcut!r}")
        n = (depth - 2) // 6
        self.depth = depth
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        self.in_planes = widths[0]
        self.layer1 = self._make_layer(widths[0], n, 1, shortcut)
        self.layer2 = self._make_layer(widths[1], n, 2, shortcut)
        self.layer3 = self._make_layer(widths[2], n, 2, shortcut)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[2], num_classes)
        # He et al. (2015) initialisation for conv and linear weights
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes, blocks, stride, shortcut):
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(CifarBasicBlock(self.in_planes, planes, s, shortcut))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        x = batch_norm_relu(self.bn1, self.relu, self.conv1(x))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.avgpool(x).flatten(1)
        return self.fc(x)


def make_cifar_resnet(depth, num_classes=10, shortcut="A", in_channels=3):
    return CifarResNet(depth, num_classes=num_classes, shortcut=shortcut, in_channels=in_channels)


def _res(depth, doc):
    def build(num_classes=10, shortcut="A", in_channels=3):
        return CifarResNet(depth, num_classes=num_classes, shortcut=shortcut,
                           in_channels=in_channels)
    build.__name__ = build.__qualname__ = f"resnet{depth}"
    build.__doc__ = doc
    return build


def _plain(depth):
    def build(num_classes=10, in_channels=3):
        return CifarResNet(depth, num_classes=num_classes, shortcut=None, in_channels=in_channels)
    build.__name__ = build.__qualname__ = f"plain{depth}"
    build.__doc__ = f"{depth}-layer CIFAR net without shortcuts (the degradation experiment)."
    return build


resnet8 = _res(8, "8-layer CIFAR ResNet (n=1).")
resnet20 = _res(20, "20-layer CIFAR ResNet (n=3); 269,722 parameters with option A.")
resnet32 = _res(32, "32-layer CIFAR ResNet (n=5).")
resnet44 = _res(44, "44-layer CIFAR ResNet (n=7).")
resnet56 = _res(56, "56-layer CIFAR ResNet (n=9).")
resnet110 = _res(110, "110-layer CIFAR ResNet (n=18).")
plain8, plain20, plain32, plain44, plain56, plain110 = (_plain(d) for d in (8, 20, 32, 44, 56, 110))


def mini_resnet(num_classes=10, in_channels=1, widths=(32, 64), shortcut="B"):
    """A shallow residual net for 28x28 images (the ``make demo`` network).

    conv3x3(32)-BN-ReLU at 28x28, max-pool to 14x14, a residual block at 14x14 (32 channels),
    a residual block that halves to 7x7 and doubles to 64 channels, global average pooling and
    a linear classifier: 6 weighted layers, ~77k parameters, ~13 MFLOPs per image.  The
    expensive full-resolution stages of a CIFAR ResNet are replaced by one cheap convolution
    and a pooling, which buys width where it pays off.
    """
    w1, w2 = widths
    return nn.Sequential(
        nn.Conv2d(in_channels, w1, 3, padding=1, bias=False), nn.BatchNorm2d(w1), nn.ReLU(),
        nn.MaxPool2d(2),
        CifarBasicBlock(w1, w1, 1, shortcut),
        CifarBasicBlock(w1, w2, 2, shortcut),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w2, num_classes))
