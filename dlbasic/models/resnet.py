"""ResNets for ImageNet with torchvision's architecture, module names and initialisation.

The notes (DL_basic.md, "ResNet"): a residual block computes ``y = ReLU(F(x) + x)``.  In the
backward pass the shortcut contributes the "1" of ``d(F(x) + x)/dx = dF/dx + 1``, so the
gradient reaches early layers undiminished and very deep nets train (He et al., 2016).

* ``BasicBlock`` (resnet18/34): two 3x3 convolutions.
* ``Bottleneck`` (resnet50/101/152): 1x1 reduce, 3x3, 1x1 expand (x4).  This is "ResNet v1.5":
  the stride sits in the 3x3 convolution, not in the first 1x1 as in the paper.
* A shortcut that changes shape is a 1x1 convolution with stride + BatchNorm ("option B/C").

ReLUs are out of place (torchvision uses ``inplace=True``; with NumPy arrays it saves nothing
and keeps every saved activation valid for backward); ``self.relu(self.bn1(x))`` is written
``batch_norm_relu(self.bn1, self.relu, x)``, the same numbers from one op
(``nn.modules.batchnorm.batch_norm_relu``).  The ``state_dict`` keys equal torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer2.0.downsample.0`` ..., ``fc``), so weights exported from torchvision load with
``strict=True``.  Parameter counts equal torchvision's (resnet50: 25,557,032).
"""
from .. import nn
from ..nn.modules.batchnorm import batch_norm_relu

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50",
           "resnet101", "resnet152", "wide_resnet50_2", "wide_resnet101_2",
           "resnext50_32x4d", "resnext101_32x8d", "conv3x3", "conv1x1"]


def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    """3x3 convolution that keeps the spatial size at stride 1 (padding = dilation)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation,
                     groups=groups, bias=False, dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution: mixes channels only (and subsamples when stride > 1)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """y = ReLU(BN(conv3x3(ReLU(BN(conv3x3(x))))) + shortcut(x))."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 dilation=1, norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise NotImplementedError("Dilation > 1 not supported in BasicBlock")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = batch_norm_relu(self.bn1, self.relu, self.conv1(x))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        # the residual connection: gradient flows through "+ identity" unchanged
        out = out + identity
        return self.relu(out)


class Bottleneck(nn.Module):
    """y = ReLU(BN(conv1x1_expand(ReLU(BN(conv3x3(ReLU(BN(conv1x1_reduce(x))))))) + shortcut(x)).

    The stride is in the 3x3 convolution (ResNet v1.5, as torchvision).
    """
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 dilation=1, norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = batch_norm_relu(self.bn1, self.relu, self.conv1(x))
        out = batch_norm_relu(self.bn2, self.relu, self.conv2(out))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out = out + identity
        return self.relu(out)


class ResNet(nn.Module):
    """ImageNet ResNet: 7x7/2 stem, 3x3/2 max-pool, four stages (64, 128, 256, 512 planes),
    global average pool, fully connected classifier."""

    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, groups=1,
                 width_per_group=64, replace_stride_with_dilation=None, norm_layer=None,
                 in_channels=3):
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self._norm_layer = norm_layer
        self.inplanes = 64
        self.dilation = 1
        if replace_stride_with_dilation is None:
            replace_stride_with_dilation = [False, False, False]
        if len(replace_stride_with_dilation) != 3:
            raise ValueError("replace_stride_with_dilation should be None or a 3-element tuple, "
                             f"got {replace_stride_with_dilation}")
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3,
                               bias=False)
        self.bn1 = norm_layer(self.inplanes)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2,
                                       dilate=replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2,
                                       dilate=replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2,
                                       dilate=replace_stride_with_dilation[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        # torchvision's initialisation: He-normal (fan_out) convs, BN scale 1 / shift 0
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, _norm_types()):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            # each block starts as the identity: its last BN scale is 0 (Goyal et al., 2017)
            for m in self.modules():
                if isinstance(m, Bottleneck) and m.bn3.weight is not None:
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock) and m.bn2.weight is not None:
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        norm_layer = self._norm_layer
        downsample = None
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       norm_layer(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width,
                        previous_dilation, norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups,
                                base_width=self.base_width, dilation=self.dilation,
                                norm_layer=norm_layer))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(batch_norm_relu(self.bn1, self.relu, self.conv1(x)))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = x.flatten(1)
        return self.fc(x)


def _norm_types():
    return tuple(getattr(nn, n) for n in ("BatchNorm2d", "GroupNorm") if hasattr(nn, n))


def _check_weights(weights, kwargs):
    if kwargs.pop("pretrained", False) or weights is not None:
        raise ValueError(
            f"pretrained weights ({weights!r}) are not available: dlbasic has no network access "
            "and ships no weight files. Use weights=None, or export a torchvision state_dict to "
            "NumPy arrays and load it with model.load_state_dict(state, strict=True).")
    kwargs.pop("progress", None)


def _resnet(block, layers, weights, kwargs):
    _check_weights(weights, kwargs)
    return ResNet(block, layers, **kwargs)


def resnet18(*, weights=None, **kwargs):
    """ResNet-18 (BasicBlock x [2, 2, 2, 2]); 11,689,512 parameters with 1000 classes."""
    return _resnet(BasicBlock, [2, 2, 2, 2], weights, kwargs)


def resnet34(*, weights=None, **kwargs):
    """ResNet-34 (BasicBlock x [3, 4, 6, 3]); 21,797,672 parameters."""
    return _resnet(BasicBlock, [3, 4, 6, 3], weights, kwargs)


def resnet50(*, weights=None, **kwargs):
    """ResNet-50 (Bottleneck x [3, 4, 6, 3]); 25,557,032 parameters."""
    return _resnet(Bottleneck, [3, 4, 6, 3], weights, kwargs)


def resnet101(*, weights=None, **kwargs):
    """ResNet-101 (Bottleneck x [3, 4, 23, 3]); 44,549,160 parameters."""
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, kwargs)


def resnet152(*, weights=None, **kwargs):
    """ResNet-152 (Bottleneck x [3, 8, 36, 3]); 60,192,808 parameters."""
    return _resnet(Bottleneck, [3, 8, 36, 3], weights, kwargs)


def resnext50_32x4d(*, weights=None, **kwargs):
    """ResNeXt-50 32x4d: grouped 3x3 convolutions (32 groups of width 4)."""
    kwargs.setdefault("groups", 32)
    kwargs.setdefault("width_per_group", 4)
    return _resnet(Bottleneck, [3, 4, 6, 3], weights, kwargs)


def resnext101_32x8d(*, weights=None, **kwargs):
    kwargs.setdefault("groups", 32)
    kwargs.setdefault("width_per_group", 8)
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, kwargs)


def wide_resnet50_2(*, weights=None, **kwargs):
    """Wide ResNet-50-2: bottleneck width doubled (128 per group instead of 64)."""
    kwargs.setdefault("width_per_group", 64 * 2)
    return _resnet(Bottleneck, [3, 4, 6, 3], weights, kwargs)


def wide_resnet101_2(*, weights=None, **kwargs):
    kwargs.setdefault("width_per_group", 64 * 2)
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, kwargs)
