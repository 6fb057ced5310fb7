"""dlbasic.models without torch: parameter counts, names, initialisation, shortcuts, registry."""
import math

import numpy as np
import pytest

import dlbasic
from dlbasic import nn, models


def n_params(m):
    return sum(p.numel() for p in m.parameters())


_CACHE = {}


def built(name, **kwargs):
    """A model built once per module, for the tests that only read it (construction of the
    big ResNets is dominated by their weight initialisation)."""
    key = (name, tuple(sorted(kwargs.items())))
    if key not in _CACHE:
        _CACHE[key] = getattr(models, name)(**kwargs)
    return _CACHE[key]


# resnet34 / resnet50 / resnet101 are counted in tests/unit/test_profiler.py with their MACs
@pytest.mark.parametrize("name,expected", [("resnet18", 11_689_512), ("resnet152", 60_192_808)])
def test_imagenet_resnet_parameter_counts_equal_torchvision(name, expected):
    assert n_params(built(name)) == expected


def test_resnext_parameter_count_equals_torchvision():
    m = models.resnext50_32x4d()
    assert n_params(m) == 25_028_904
    assert m.layer1[0].conv2.groups == 32 and m.layer1[0].conv2.out_channels == 128


@pytest.mark.parametrize("builder,kwargs,expected", [
    ("resnet20", {}, 269_722), ("resnet20", {"shortcut": "B"}, 272_474),
    ("plain20", {}, 269_722), ("resnet56", {}, 853_018), ("resnet110", {}, 1_727_962),
    ("resnet32", {}, 464_154), ("resnet44", {}, 658_586)])
def test_cifar_resnet_parameter_counts(builder, kwargs, expected):
    assert n_params(getattr(models, builder)(**kwargs)) == expected


def test_resnet18_state_dict_keys_follow_torchvision_names():
    keys = list(built("resnet18").state_dict())
    assert keys[:6] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                        "bn1.running_var", "bn1.num_batches_tracked"]
    for k in ["layer1.0.conv1.weight", "layer1.1.bn2.running_var", "layer2.0.downsample.0.weight",
              "layer2.0.downsample.1.num_batches_tracked", "layer4.1.conv2.weight",
              "fc.weight", "fc.bias"]:
        assert k in keys
    assert "layer1.0.downsample.0.weight" not in keys      # same shape: identity shortcut
    assert len(keys) == 122


def test_resnet50_bottleneck_has_stride_in_the_3x3_conv_v1_5():
    m = built("resnet50", zero_init_residual=True)
    assert n_params(m) == 25_557_032
    block = m.layer2[0]
    assert block.conv1.stride == (1, 1) and block.conv1.kernel_size == (1, 1)
    assert block.conv2.stride == (2, 2) and block.conv2.kernel_size == (3, 3)
    assert block.downsample[0].stride == (2, 2) and block.downsample[0].kernel_size == (1, 1)
    assert block.conv3.out_channels == 512 and m.fc.in_features == 2048
    assert "layer3.5.bn3.weight" in m.state_dict()


def test_resnet_init_is_kaiming_fan_out_and_bn_one_zero():
    m = built("resnet18")
    w = m.layer3[0].conv2.weight.detach().numpy()       # 256x256x3x3, fan_out = 256*9
    assert abs(w.std() - math.sqrt(2 / (256 * 9))) < 0.02 * math.sqrt(2 / (256 * 9))
    assert abs(w.mean()) < 1e-3
    assert np.all(m.bn1.weight.detach().numpy() == 1) and np.all(m.bn1.bias.detach().numpy() == 0)
    assert np.all(m.layer1[0].bn2.weight.detach().numpy() == 1)


def test_zero_init_residual_zeroes_the_last_bn_of_every_block():
    m = models.resnet18(zero_init_residual=True)
    for layer in (m.layer1, m.layer2, m.layer3, m.layer4):
        for block in layer:
            assert np.all(block.bn2.weight.detach().numpy() == 0)
            assert np.all(block.bn1.weight.detach().numpy() == 1)
    b = built("resnet50", zero_init_residual=True).layer1[0]
    assert np.all(b.bn3.weight.detach().numpy() == 0) and np.all(b.bn2.weight.detach().numpy() == 1)


def test_zero_init_residual_block_is_identity_plus_relu_in_eval():
    dlbasic.manual_seed(0)
    m = models.resnet18(zero_init_residual=True).eval()
    x = dlbasic.relu(dlbasic.randn(1, 64, 8, 8))
    with dlbasic.no_grad():
        y = m.layer1[0](x)
    np.testing.assert_allclose(y.numpy(), x.numpy(), atol=1e-6)


def test_pretrained_weights_raise_a_clear_error():
    assert isinstance(models.resnet18(weights=None), models.ResNet)
    with pytest.raises(ValueError, match="network"):
        models.resnet50(weights="IMAGENET1K_V1")
    with pytest.raises(ValueError, match="network"):
        models.resnet18(pretrained=True)


def test_resnet_num_classes_and_grey_input():
    dlbasic.manual_seed(0)
    m = models.resnet18(num_classes=7, in_channels=1).eval()
    assert m.conv1.weight.shape == (64, 1, 7, 7)
    with dlbasic.no_grad():
        out = m(dlbasic.randn(2, 1, 32, 32))
    assert out.shape == (2, 7)


def test_basic_block_rejects_groups():
    with pytest.raises(ValueError):
        models.BasicBlock(64, 64, groups=2)


def test_cifar_resnet_structure_and_output_shape():
    dlbasic.manual_seed(0)
    m = models.resnet20()
    assert len(m.layer1) == len(m.layer2) == len(m.layer3) == 3
    convs = [mod for mod in m.modules() if isinstance(mod, nn.Conv2d)]
    linears = [mod for mod in m.modules() if isinstance(mod, nn.Linear)]
    assert len(convs) + len(linears) == 20                 # 6n + 2 weighted layers
    assert m.conv1.kernel_size == (3, 3) and m.conv1.out_channels == 16
    assert m.layer3[0].conv1.out_channels == 64
    out = m(dlbasic.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert len([c for c in models.resnet110().modules() if isinstance(c, nn.Conv2d)]) == 109
    grey = models.resnet20(in_channels=1, num_classes=10)
    assert grey(dlbasic.randn(2, 1, 28, 28)).shape == (2, 10)


def test_option_a_shortcut_subsamples_and_zero_pads_channels():
    block = models.resnet20().layer2[0]
    x = dlbasic.randn(2, 16, 8, 8)
    s = block.shortcut(x).numpy()
    assert s.shape == (2, 32, 4, 4)
    np.testing.assert_array_equal(s[:, 8:24], x.numpy()[:, :, ::2, ::2])
    assert np.all(s[:, :8] == 0) and np.all(s[:, 24:] == 0)
    assert n_params(block.shortcut) == 0


def test_option_b_shortcut_is_1x1_conv_and_bn():
    block = models.resnet20(shortcut="B").layer3[0]
    assert isinstance(block.shortcut[0], nn.Conv2d) and block.shortcut[0].kernel_size == (1, 1)
    assert block.shortcut[0].stride == (2, 2)
    assert isinstance(block.shortcut[1], nn.BatchNorm2d)
    assert isinstance(models.resnet20(shortcut="B").layer1[0].shortcut, nn.Identity)


def test_plain_net_has_no_shortcut_and_differs_from_resnet_output():
    dlbasic.manual_seed(0)
    res = models.resnet20()
    plain = models.plain20()
    assert all(b.shortcut is None for layer in (plain.layer1, plain.layer2, plain.layer3)
               for b in layer)
    plain.load_state_dict(res.state_dict(), strict=True)   # same parameters, no shortcuts
    x = dlbasic.randn(2, 3, 16, 16)
    assert not np.allclose(plain(x).detach().numpy(), res(x).detach().numpy())


def test_cifar_resnet_rejects_bad_depth_and_shortcut():
    with pytest.raises(ValueError):
        models.CifarResNet(depth=21)
    with pytest.raises(ValueError):
        models.resnet20(shortcut="C")


def test_mlp_builder_layers():
    m = models.MLP([784, 256, 128, 10])
    kinds = [type(x).__name__ for x in m]
    assert kinds == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert n_params(m) == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    m2 = models.MLP([8, 6, 4], activation=nn.Tanh, dropout=0.5, batchnorm=True)
    assert [type(x).__name__ for x in m2] == ["Linear", "BatchNorm1d", "Tanh", "Dropout",
                                              "Linear"]
    assert m(dlbasic.randn(3, 784)).shape == (3, 10)
    with pytest.raises(ValueError):
        models.MLP([5])


def test_get_model_registry():
    names = models.list_models()
    for n in ("mlp", "cnn", "resnet8", "resnet20", "resnet56", "plain20", "plain56", "resnet18",
              "resnet50"):
        assert n in names
    m = models.get_model("mlp")
    assert m(dlbasic.randn(2, 1, 28, 28)).shape == (2, 10)       # flattens images
    cnn = models.get_model("cnn")
    assert cnn(dlbasic.randn(2, 1, 28, 28)).shape == (2, 10)
    assert n_params(models.get_model("resnet8")) == 75_290
    r = models.get_model("resnet20", in_channels=1, num_classes=10)
    assert r.conv1.weight.shape == (16, 1, 3, 3)
    with pytest.raises(ValueError, match="unknown model"):
        models.get_model("vgg16")
