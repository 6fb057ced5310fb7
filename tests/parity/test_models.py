"""dlbasic.models against PyTorch references, and the FLOPs profiler against FlopCounterMode.

torchvision is not installed, so the torch side is our own minimal torch.nn reference of the
same architectures, written from the architecture description with torchvision's module names
(``conv1``, ``bn1``, ``layer1.0.downsample.0`` ...).  Its ``state_dict`` is exported to NumPy
and loaded into the dlbasic model with ``strict=True``.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
tnn = torch.nn
tF = torch.nn.functional
from torch.utils.flop_counter import FlopCounterMode     # noqa: E402

import dlbasic                                             # noqa: E402
from dlbasic import models                                 # noqa: E402
from dlbasic.profiler import count_flops                   # noqa: E402
from tests.parity.harness import to_dlbasic_state          # noqa: E402


# ---------------------------------------------------------------------------------------
# torch references (our own code)
# ---------------------------------------------------------------------------------------

class TBasicBlock(tnn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.relu = tnn.ReLU(inplace=True)
        self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        idt = x if self.downsample is None else self.downsample(x)
        return self.relu(out + idt)


class TBottleneck(tnn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = tnn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.conv2 = tnn.Conv2d(planes, planes, 3, stride, 1, bias=False)   # v1.5
        self.bn2 = tnn.BatchNorm2d(planes)
        self.conv3 = tnn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = tnn.BatchNorm2d(planes * 4)
        self.relu = tnn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        idt = x if self.downsample is None else self.downsample(x)
        return self.relu(out + idt)


class TResNet(tnn.Module):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = tnn.BatchNorm2d(64)
        self.relu = tnn.ReLU(inplace=True)
        self.maxpool = tnn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make(block, 64, layers[0], 1)
        self.layer2 = self._make(block, 128, layers[1], 2)
        self.layer3 = self._make(block, 256, layers[2], 2)
        self.layer4 = self._make(block, 512, layers[3], 2)
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(512 * block.expansion, num_classes)

    def _make(self, block, planes, n, stride):
        down = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            down = tnn.Sequential(
                tnn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                tnn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, down)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, n)]
        return tnn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TShortcutA(tnn.Module):
    def __init__(self, planes):
        super().__init__()
        self.p = planes // 4

    def forward(self, x):
        return tF.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.p, self.p))


class TCifarBlock(tnn.Module):
    def __init__(self, inp, planes, stride, shortcut):
        super().__init__()
        self.conv1 = tnn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.shortcut = None if shortcut is None else tnn.Identity()
        if shortcut is not None and (stride != 1 or inp != planes):
            self.shortcut = TShortcutA(planes) if shortcut == "A" else tnn.Sequential(
                tnn.Conv2d(inp, planes, 1, stride, bias=False), tnn.BatchNorm2d(planes))

    def forward(self, x):
        out = tF.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return tF.relu(out)


class TCifarResNet(tnn.Module):
    def __init__(self, depth, shortcut="A", num_classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = tnn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(16)
        inp, stages = 16, []
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for s in [stride] + [1] * (n - 1):
                blocks.append(TCifarBlock(inp, planes, s, shortcut))
                inp = planes
            stages.append(tnn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = tnn.Linear(64, num_classes)

    def forward(self, x):
        x = tF.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean((2, 3)))


def _randomize_bn(tmodel, seed=0):
    """Non-trivial BatchNorm affine parameters and running statistics, so eval-mode parity
    exercises every term of y = (x - mean) / sqrt(var + eps) * w + b."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in tmodel.modules():
            if isinstance(m, tnn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + 0.5 * torch.rand(c, generator=g))
                m.bias.copy_(0.1 * torch.randn(c, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + torch.rand(c, generator=g))


def _load(ours, tmodel):
    result = ours.load_state_dict(to_dlbasic_state(tmodel), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return ours


def _n_params(m):
    return sum(p.numel() for p in m.parameters())


# ---------------------------------------------------------------------------------------
# ImageNet ResNets
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,block,layers", [
    ("resnet18", TBasicBlock, [2, 2, 2, 2]), ("resnet50", TBottleneck, [3, 4, 6, 3])])
def test_resnet_state_dict_keys_and_shapes_equal_the_torchvision_layout(name, block, layers):
    torch.manual_seed(0)
    tmodel = TResNet(block, layers)
    ours = getattr(models, name)()
    t_sd, d_sd = tmodel.state_dict(), ours.state_dict()
    assert list(d_sd) == list(t_sd)
    for k in t_sd:
        assert tuple(d_sd[k].shape) == tuple(t_sd[k].shape), k
    assert _n_params(ours) == _n_params(tmodel)


_PAIRS = {}


def _resnet_pair(name):
    """(torch reference with random BN statistics, our model loaded from it), built once."""
    if name not in _PAIRS:
        block, layers = {"resnet18": (TBasicBlock, [2, 2, 2, 2]),
                         "resnet50": (TBottleneck, [3, 4, 6, 3])}[name]
        torch.manual_seed(0)
        tmodel = TResNet(block, layers)
        _randomize_bn(tmodel)
        _PAIRS[name] = (tmodel, _load(getattr(models, name)(), tmodel))
    return _PAIRS[name]


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_eval_logits_match_torch_after_loading_its_state_dict(name):
    tmodel, ours = _resnet_pair(name)
    tmodel.eval()
    ours.eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        t_out = tmodel(torch.tensor(x)).numpy()
    with dlbasic.no_grad():
        d_out = ours(dlbasic.tensor(x)).numpy()
    assert d_out.shape == (1, 1000) and d_out.dtype == np.float32
    scale = max(1.0, float(np.abs(t_out).max()))
    np.testing.assert_allclose(d_out, t_out, atol=1e-4 * scale, rtol=1e-4)
    assert int(d_out.argmax()) == int(t_out.argmax())


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_gradients_match_torch_on_a_small_input(name):
    # eval-mode BatchNorm (an affine map): at 32x32 the last stage is 1x1, and training-mode
    # BatchNorm over 2 values per channel is too ill-conditioned for float32 parity; the
    # training-mode BatchNorm backward is checked on the CIFAR nets below
    tmodel, ours = _resnet_pair(name)
    tmodel.eval()
    ours.eval()
    x = np.random.default_rng(3).standard_normal((2, 3, 32, 32)).astype(np.float32)
    xt, xd = torch.tensor(x, requires_grad=True), dlbasic.tensor(x, requires_grad=True)
    t_out, d_out = tmodel(xt), ours(xd)
    np.testing.assert_allclose(d_out.detach().numpy(), t_out.detach().numpy(), atol=1e-4,
                               rtol=1e-3)
    w = np.random.default_rng(4).standard_normal(t_out.shape).astype(np.float32)
    (t_out * torch.tensor(w)).sum().backward()
    (d_out * dlbasic.tensor(w)).sum().backward()
    try:
        for d, t, what in [(xd.grad, xt.grad, "input")] + [
                (dict(ours.named_parameters())[n].grad, p.grad, n)
                for n, p in tmodel.named_parameters()]:
            g = t.numpy()
            np.testing.assert_allclose(d.numpy(), g, atol=1e-4 * max(1.0, float(np.abs(g).max())),
                                       rtol=1e-3, err_msg=what)
    finally:
        tmodel.zero_grad()
        ours.zero_grad()


# ---------------------------------------------------------------------------------------
# CIFAR ResNets: forward and gradients in training mode
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("shortcut,dtype", [("A", "float32"), ("B", "float32"),
                                            (None, "float64")])
def test_cifar_resnet20_train_mode_forward_and_gradients_match_torch(shortcut, dtype):
    # the plain net (no shortcut) is checked in float64: 19 training-mode BatchNorms in a row
    # without an identity path amplify float32 rounding beyond the float32 tolerances
    torch.manual_seed(0)
    tmodel = TCifarResNet(20, shortcut).to(getattr(torch, dtype))
    tmodel.train()
    ours = models.resnet20(shortcut="A") if shortcut == "A" else (
        models.resnet20(shortcut="B") if shortcut == "B" else models.plain20())
    _load(ours, tmodel).train()
    if dtype == "float64":
        ours.double()
    assert _n_params(ours) == _n_params(tmodel)
    x = np.random.default_rng(1).standard_normal((4, 3, 16, 16)).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    xd = dlbasic.tensor(x, requires_grad=True)
    t_out, d_out = tmodel(xt), ours(xd)
    assert d_out.dtype.name == dtype
    np.testing.assert_allclose(d_out.detach().numpy(), t_out.detach().numpy(), atol=1e-4,
                               rtol=1e-3)
    w = np.random.default_rng(2).standard_normal(t_out.shape).astype(dtype)
    (t_out * torch.tensor(w)).sum().backward()
    (d_out * dlbasic.tensor(w)).sum().backward()
    np.testing.assert_allclose(xd.grad.numpy(), xt.grad.numpy(), atol=1e-4, rtol=1e-3)
    d_params = dict(ours.named_parameters())
    for name, p in tmodel.named_parameters():
        np.testing.assert_allclose(d_params[name].grad.numpy(), p.grad.numpy(), atol=1e-4,
                                   rtol=1e-3, err_msg=name)
    # BatchNorm running statistics were updated identically
    d_bufs = dict(ours.named_buffers())
    for name, b in tmodel.named_buffers():
        np.testing.assert_allclose(d_bufs[name].numpy(), b.numpy(), atol=1e-5, rtol=1e-4,
                                   err_msg=name)


def test_mlp_and_small_cnn_match_torch_forward_and_gradients():
    torch.manual_seed(0)
    t_mlp = tnn.Sequential(tnn.Linear(20, 16), tnn.ReLU(), tnn.Linear(16, 8), tnn.ReLU(),
                           tnn.Linear(8, 3))
    d_mlp = _load(models.MLP([20, 16, 8, 3]), t_mlp)
    x = np.random.default_rng(0).standard_normal((5, 20)).astype(np.float32)
    xt, xd = torch.tensor(x, requires_grad=True), dlbasic.tensor(x, requires_grad=True)
    t_mlp(xt).square().sum().backward()
    d_mlp(xd).square().sum().backward()
    np.testing.assert_allclose(xd.grad.numpy(), xt.grad.numpy(), atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(d_mlp[0].weight.grad.numpy(), t_mlp[0].weight.grad.numpy(),
                               atol=1e-5, rtol=1e-4)

    t_cnn = tnn.Module()
    t_cnn.features = tnn.Sequential(
        tnn.Conv2d(1, 32, 3, padding=1, bias=False), tnn.BatchNorm2d(32), tnn.ReLU(),
        tnn.MaxPool2d(2), tnn.Conv2d(32, 64, 3, padding=1, bias=False), tnn.BatchNorm2d(64),
        tnn.ReLU(), tnn.MaxPool2d(2))
    t_cnn.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(64 * 7 * 7, 10))
    d_cnn = _load(models.get_model("cnn"), t_cnn)
    img = np.random.default_rng(1).standard_normal((2, 1, 28, 28)).astype(np.float32)
    t_out = t_cnn.classifier(t_cnn.features(torch.tensor(img)))
    d_out = d_cnn(dlbasic.tensor(img))
    np.testing.assert_allclose(d_out.detach().numpy(), t_out.detach().numpy(), atol=1e-4,
                               rtol=1e-3)
    t_out.square().sum().backward()
    d_out.square().sum().backward()
    d_params = dict(d_cnn.named_parameters())
    for name, p in t_cnn.named_parameters():
        np.testing.assert_allclose(d_params[name].grad.numpy(), p.grad.numpy(), atol=1e-4,
                                   rtol=1e-3, err_msg=name)


# ---------------------------------------------------------------------------------------
# The profiler against torch.utils.flop_counter.FlopCounterMode
# ---------------------------------------------------------------------------------------

def _torch_flops(tmodel, x, backward=False):
    with FlopCounterMode(display=False) as fc:
        out = tmodel(x)
        if backward:
            out.sum().backward()
    return fc.get_total_flops()


def test_count_flops_matmul_equals_flop_counter_mode_on_resnet18_224():
    torch.manual_seed(0)
    tmodel = TResNet(TBasicBlock, [2, 2, 2, 2]).eval()
    t_flops = _torch_flops(tmodel, torch.randn(1, 3, 224, 224))
    rep = count_flops(models.resnet18().eval(), (1, 3, 224, 224), shape_only=True)
    assert rep.macs == 1_814_073_344
    assert rep.flops == t_flops == 2 * 1_814_073_344


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_count_flops_forward_and_backward_equal_flop_counter_mode_on_cifar_resnet20(shortcut):
    torch.manual_seed(0)
    tmodel = TCifarResNet(20, shortcut)
    x = torch.randn(2, 3, 32, 32)
    t_fwd = _torch_flops(tmodel, x)
    t_train = _torch_flops(tmodel, x, backward=True)
    rep = count_flops(models.resnet20(shortcut=shortcut), (2, 3, 32, 32))
    assert rep.forward_flops == t_fwd
    # the input does not require grad: the first conv only computes its weight gradient
    assert rep.training_flops == t_train
    assert rep.backward_flops == t_train - t_fwd
    if shortcut == "A":
        assert rep.macs_per_sample == 40_551_040


def test_count_flops_of_mlp_equals_flop_counter_mode_with_backward():
    torch.manual_seed(0)
    t_mlp = tnn.Sequential(tnn.Linear(784, 256), tnn.ReLU(), tnn.Linear(256, 128), tnn.ReLU(),
                           tnn.Linear(128, 10))
    x = torch.randn(8, 784)
    t_fwd, t_train = _torch_flops(t_mlp, x), _torch_flops(t_mlp, x, backward=True)
    rep = count_flops(models.MLP([784, 256, 128, 10]), (8, 784), backward=True)
    assert rep.forward_flops == t_fwd
    assert rep.flops == rep.training_flops == t_train
    assert rep.macs_per_sample == 234_752


def test_functional_matmul_and_shared_layer_counted_like_flop_counter_mode():
    class TNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.shared = tnn.Linear(16, 16)
            self.w = tnn.Parameter(torch.randn(16, 8))

        def forward(self, x):
            x = tF.relu(self.shared(x))
            x = self.shared(x)                  # the same layer again
            return torch.tanh(x @ self.w)       # functional matmul

    class DNet(dlbasic.nn.Module):
        def __init__(self):
            super().__init__()
            self.shared = dlbasic.nn.Linear(16, 16)
            self.w = dlbasic.nn.Parameter(dlbasic.randn(16, 8))

        def forward(self, x):
            x = dlbasic.nn.functional.relu(self.shared(x))
            x = self.shared(x)
            return dlbasic.tanh(x @ self.w)

    t_flops = _torch_flops(TNet(), torch.randn(4, 16))
    rep = count_flops(DNet(), (4, 16))
    assert rep.flops == t_flops == 2 * (2 * 4 * 16 * 16 + 4 * 16 * 8)
    assert rep.params == 16 * 16 + 16 + 16 * 8
