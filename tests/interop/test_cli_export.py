"""``dlbasic export CHECKPOINT --onnx F --safetensors F``: rebuilds the checkpoint's model,
writes the files, and prints the onnxruntime check (max abs difference on a random input)."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import dlbasic
from dlbasic.app.cli import main
from dlbasic.app import train as train_mod
from tests.conftest import fashion_mnist_dir

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _checkpoint(path, name, **model_kwargs):
    """A checkpoint in the training format (what ``dlbasic train`` writes), without training."""
    model = train_mod.build_model(name, **model_kwargs)
    with dlbasic.no_grad():
        for p in model.parameters():
            p.add_(dlbasic.randn(*p.shape) * 0.01)
    dlbasic.save({"format": train_mod.CHECKPOINT_FORMAT,
                  "args": {"model": name, "model_kwargs": dict(model_kwargs)},
                  "model": model.state_dict(), "epoch": 1}, path)
    return model


def _diffs(text):
    line = next(ln for ln in text.splitlines() if ln.startswith("onnxruntime check"))
    return [float(v) for v in re.findall(r"(\d\.\d+e[-+]\d+) at batch", line)], line


def _ort_logits(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def _one_error_line(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A real one-epoch run on 300 Fashion-MNIST images (an MLP: a few seconds)."""
    data = fashion_mnist_dir()
    out = tmp_path_factory.mktemp("runs") / "mlp"
    assert main(["train", "--model", "mlp", "--epochs", "1", "--out", str(out),
                 "--limit-train", "300", "--limit-test", "100", "--progress", "none",
                 "--no-plots", "--data-dir", data]) == 0
    return out


def test_export_writes_onnx_and_safetensors_and_prints_the_check(trained_run, tmp_path,
                                                                   capsys):
    capsys.readouterr()
    onnx_path, st_path = tmp_path / "model.onnx", tmp_path / "model.safetensors"
    assert main(["export", str(trained_run / "best.pt"), "--onnx", str(onnx_path),
                 "--safetensors", str(st_path)]) == 0
    text = capsys.readouterr().out
    assert f"wrote {onnx_path}: mlp, ONNX opset 17, input (batch, 1, 28, 28) -> output " \
           f"(batch, 10)" in text
    diffs, line = _diffs(text)
    assert len(diffs) == 2 and all(d <= 1e-4 for d in diffs), line
    assert "at batch 1" in line and "at batch 3" in line and "OK" in line
    # the file is valid and computes what the checkpoint's model computes, at any batch size
    onnx.checker.check_model(str(onnx_path), full_check=True)
    ckpt = dlbasic.load(trained_run / "best.pt")
    model = train_mod.build_model("mlp")
    model.load_state_dict(ckpt["model"])
    model.eval()
    x = np.random.default_rng(5).standard_normal((5, 1, 28, 28)).astype(np.float32)
    with dlbasic.no_grad():
        want = model(dlbasic.from_numpy(x)).numpy()
    np.testing.assert_allclose(_ort_logits(onnx_path, x), want, rtol=0, atol=1e-4)
    # the safetensors file holds the state_dict
    assert f"wrote {st_path}: {len(ckpt['model'])} tensors" in text
    from safetensors.numpy import load_file
    loaded = load_file(str(st_path))
    assert set(loaded) == set(ckpt["model"])
    for k, v in ckpt["model"].items():
        np.testing.assert_array_equal(loaded[k], v.numpy())
    assert sorted(os.listdir(tmp_path)) == ["model.onnx", "model.safetensors"]


@pytest.mark.parametrize("name", ["cnn", "mini_resnet", "resnet8"])
def test_export_training_checkpoints_of_other_models(name, tmp_path, capsys):
    kwargs = {"in_channels": 3} if name == "resnet8" else {}
    model = _checkpoint(tmp_path / "best.pt", name, **kwargs)
    path = tmp_path / f"{name}.onnx"
    extra = ["--input", "3,32,32"] if name == "resnet8" else []
    assert main(["export", str(tmp_path / "best.pt"), "--onnx", str(path)] + extra) == 0
    diffs, line = _diffs(capsys.readouterr().out)
    assert all(d <= 1e-4 for d in diffs), line
    shape = (2, 3, 32, 32) if name == "resnet8" else (2, 1, 28, 28)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    model.eval()
    with dlbasic.no_grad():
        want = model(dlbasic.from_numpy(x)).numpy()
    np.testing.assert_allclose(_ort_logits(path, x), want, rtol=0, atol=1e-4)


def test_static_batch_opset_and_explicit_batch(tmp_path, capsys):
    _checkpoint(tmp_path / "c.pt", "cnn")
    path = tmp_path / "c.onnx"
    assert main(["export", str(tmp_path / "c.pt"), "--onnx", str(path), "--static-batch",
                 "--opset", "13", "--input", "4,1,28,28"]) == 0
    text = capsys.readouterr().out
    assert "ONNX opset 13, input (4, 1, 28, 28) -> output (4, 10)" in text
    diffs, line = _diffs(text)
    assert len(diffs) == 1 and "at batch 4" in line and diffs[0] <= 1e-4
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version == 13
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [4, 1, 28,
                                                                                      28]


def test_bare_state_dict_needs_model(tmp_path, capsys):
    model = train_mod.build_model("cnn")
    dlbasic.save(model.state_dict(), tmp_path / "sd.pt")
    path = tmp_path / "m.onnx"
    assert main(["export", str(tmp_path / "sd.pt"), "--onnx", str(path)]) == 2
    _one_error_line(capsys, "bare state_dict", "--model NAME")
    assert not path.exists()
    assert main(["export", str(tmp_path / "sd.pt"), "--onnx", str(path), "--model", "cnn"]) == 0
    assert _diffs(capsys.readouterr().out)[0][0] <= 1e-4
    # the wrong architecture: one line naming the mismatch
    assert main(["export", str(tmp_path / "sd.pt"), "--onnx", str(path), "--model", "mlp"]) == 2
    _one_error_line(capsys, "does not match the model's architecture")


def test_usage_errors_are_one_line(tmp_path, capsys):
    _checkpoint(tmp_path / "c.pt", "mlp")
    assert main(["export", str(tmp_path / "c.pt")]) == 2
    _one_error_line(capsys, "nothing to write", "--onnx PATH")
    assert main(["export", str(tmp_path / "missing.pt"), "--onnx", str(tmp_path / "m.onnx")]) == 2
    _one_error_line(capsys, "no checkpoint at")
    assert main(["export", str(tmp_path / "c.pt"), "--onnx",
                 str(tmp_path / "no" / "such" / "dir" / "m.onnx")]) == 2
    _one_error_line(capsys, "cannot write")
    assert main(["export", str(tmp_path / "c.pt"), "--onnx", str(tmp_path / "m.onnx"),
                 "--opset", "5"]) == 2
    _one_error_line(capsys, "opset_version 5 is not supported")


def test_without_onnxruntime_the_check_is_skipped(tmp_path, capsys, monkeypatch):
    _checkpoint(tmp_path / "c.pt", "mlp")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert main(["export", str(tmp_path / "c.pt"), "--onnx", str(tmp_path / "m.onnx")]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime check skipped" in out and "pip install 'dlbasic[onnx]'" in out
    onnx.checker.check_model(str(tmp_path / "m.onnx"))


def test_without_onnx_export_says_what_to_install(tmp_path, capsys, monkeypatch):
    _checkpoint(tmp_path / "c.pt", "mlp")
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert main(["export", str(tmp_path / "c.pt"), "--onnx", str(tmp_path / "m.onnx")]) == 2
    _one_error_line(capsys, "dlbasic.onnx needs the onnx package", "dlbasic[onnx]")
    assert not (tmp_path / "m.onnx").exists()


def test_the_installed_command_line_runs_export(tmp_path):
    _checkpoint(tmp_path / "c.pt", "mlp")
    out = subprocess.run([sys.executable, "-m", "dlbasic", "export", str(tmp_path / "c.pt"),
                          "--onnx", str(tmp_path / "m.onnx")], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    diffs, _ = _diffs(out.stdout)
    assert diffs and all(d <= 1e-4 for d in diffs)
