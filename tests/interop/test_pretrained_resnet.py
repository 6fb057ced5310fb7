"""Pretrained weights: a state dict that PyTorch saved from a torchvision-architecture
resnet18 / resnet50 loads into ``dlbasic.models.resnet18()`` / ``resnet50()`` with
``load_state_dict(strict=True)`` and gives the same eval-mode logits, and our weights load
back into the PyTorch model. torchvision is not needed: the reference module tree
(``tests/parity/test_models.py``) has torchvision's attribute names, so its state dict has
torchvision's keys (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer2.0.downsample.0``, ``fc``).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import dlbasic                                               # noqa: E402
from dlbasic import models                                   # noqa: E402
from tests.parity.test_models import (TBasicBlock, TBottleneck, TResNet,  # noqa: E402
                                      _randomize_bn)

ARCHS = {"resnet18": (TBasicBlock, [2, 2, 2, 2]), "resnet50": (TBottleneck, [3, 4, 6, 3])}


def _torch_resnet(name, seed=0):
    block, layers = ARCHS[name]
    torch.manual_seed(seed)
    model = TResNet(block, layers)
    _randomize_bn(model, seed)           # BatchNorm statistics that eval mode really uses
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.num_batches_tracked.fill_(123)
    return model.eval()


def _logits(model, x):
    if isinstance(model, torch.nn.Module):
        with torch.no_grad():
            return model(torch.tensor(x)).numpy()
    with dlbasic.no_grad():
        return model(dlbasic.tensor(x)).numpy()


def _assert_same_logits(got, expected):
    assert got.shape == expected.shape and got.dtype == np.float32
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, atol=1e-4 * scale, rtol=1e-4)
    assert (got.argmax(1) == expected.argmax(1)).all()


@pytest.mark.parametrize("name", list(ARCHS))
def test_torch_saved_resnet_weights_load_strictly_and_give_the_same_logits(tmp_path, name):
    reference = _torch_resnet(name)
    path = tmp_path / f"{name}.pth"
    torch.save(reference.state_dict(), path)            # what a download of weights gives

    model = getattr(models, name)()
    state = dlbasic.load(path)
    assert list(state) == list(reference.state_dict())
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    model.eval()
    assert int(model.bn1.num_batches_tracked) == 123
    np.testing.assert_array_equal(model.layer1[0].conv1.weight.detach().numpy(),
                                  reference.layer1[0].conv1.weight.detach().numpy())
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    _assert_same_logits(_logits(model, x), _logits(reference, x))


def test_dlbasic_resnet_weights_load_strictly_into_the_torch_model(tmp_path):
    dlbasic.manual_seed(1)
    model = models.resnet18()
    with dlbasic.no_grad():                     # statistics away from the defaults
        for m in model.modules():
            if isinstance(m, dlbasic.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean._data[...] = np.linspace(-0.1, 0.1, c)
                m.running_var._data[...] = np.linspace(0.5, 1.5, c)
    model.eval()
    path = tmp_path / "ours.pth"
    dlbasic.save(model.state_dict(), path)
    reference = TResNet(*ARCHS["resnet18"]).eval()
    reference.load_state_dict(torch.load(path, weights_only=True), strict=True)
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32)
    _assert_same_logits(_logits(reference, x), _logits(model, x))


def test_a_strict_load_of_mismatched_weights_still_fails_loudly(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(_torch_resnet("resnet18").state_dict(), path)
    with pytest.raises(RuntimeError, match="size mismatch|Missing|Unexpected|shape"):
        models.resnet50().load_state_dict(dlbasic.load(path), strict=True)
