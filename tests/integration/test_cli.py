"""The ``dlbasic`` command line on real Fashion-MNIST: training, files, resume, eval, errors."""
import csv
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import dlbasic
from dlbasic.app.cli import main
from dlbasic.app import train as train_mod
from tests.conftest import fashion_mnist_dir

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
QUICK = ["--limit-train", "3000", "--limit-test", "1000", "--progress", "none"]


def _train_args(out, *extra, data=None):
    args = ["train", "--model", "mlp", "--epochs", "1", "--out", str(out)] + QUICK
    if data is not None:
        args += ["--data-dir", data]
    return args + list(extra)


def _one_error_line(capsys, *needles):
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def _weights(path):
    state = dlbasic.load(path)["model"]
    return {k: v.numpy().copy() for k, v in state.items()}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One tiny real run (MLP, 1 epoch on 3000 images), shared by the checks below."""
    data = fashion_mnist_dir()
    out = tmp_path_factory.mktemp("runs") / "mlp"
    # the default progress display: a tqdm bar (on stderr)
    assert main(_train_args(out, "--limit-train", "5000", "--progress", "bar", data=data)) == 0
    return out, data


def test_train_writes_metrics_checkpoints_and_curves(trained_run):
    out, _ = trained_run
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1
    assert set(rows[0]) >= {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr"}
    assert rows[0]["epoch"] == "1"
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == 1
    acc = metrics["history"][0]["test_acc"]
    assert 0.70 < acc <= 1.0, f"an MLP on 5000 images should reach > 70 %, got {acc}"
    assert metrics["parameters"] == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    assert metrics["flops"] == 2 * (784 * 256 + 256 * 128 + 128 * 10)
    assert metrics["args"]["model"] == "mlp"
    assert (out / "curves.png").read_bytes()[:8] == PNG_MAGIC
    ckpt = dlbasic.load(out / "last.pt")
    for key in ("model", "optimizer", "scheduler", "epoch", "rng_state", "history", "args"):
        assert key in ckpt, key
    assert ckpt["epoch"] == 1 and ckpt["step"] == 0
    assert ckpt["args"]["model"] == "mlp"
    assert os.path.exists(out / "best.pt")
    # the checkpoint's weights reproduce the logged test accuracy
    model = train_mod.build_model("mlp")
    model.load_state_dict(ckpt["model"])
    x_test, y_test = train_mod.load_fashion_mnist(None, limit_test=1000, train=False)
    _, acc_again, _ = train_mod.evaluate(model, x_test, y_test)
    assert acc_again == pytest.approx(acc, abs=1e-9)


def test_eval_prints_accuracy_and_saves_confusion_matrix(trained_run, capsys):
    out, data = trained_run
    logged = json.loads((out / "metrics.json").read_text())["history"][0]["test_acc"]
    assert main(["eval", str(out / "last.pt"), "--data-dir", data, "--limit-test", "1000"]) == 0
    text = capsys.readouterr().out
    assert f"test accuracy {100 * logged:.2f}%" in text
    assert "confusion matrix" in text and "Ankle boot" in text
    assert (out / "confusion.png").read_bytes()[:8] == PNG_MAGIC
    matrix = np.loadtxt(out / "confusion.csv", delimiter=",")
    assert matrix.shape == (10, 10) and matrix.sum() == 1000
    assert np.trace(matrix) / 1000 == pytest.approx(logged)


def test_refuses_to_overwrite_a_run_without_resume(trained_run, capsys):
    out, data = trained_run
    assert main(_train_args(out, data=data)) == 2
    _one_error_line(capsys, "already holds a run", "--resume")


def test_resume_after_ctrl_c_gives_the_weights_of_an_uninterrupted_run(tmp_path, monkeypatch,
                                                                        capsys):
    data = fashion_mnist_dir()
    common = ["--epochs", "2", "--batch-size", "64", "--augment", "--schedule", "onecycle",
              "--limit-train", "1200", "--limit-test", "500", "--data-dir", data, "--no-plots"]
    straight = tmp_path / "straight"
    assert main(["train", "--model", "mlp", "--out", str(straight), "--progress", "none"]
                + common) == 0

    # Ctrl-C (a real SIGINT) in the middle of the first epoch, after batch 7
    calls = {"n": 0}
    real_update = train_mod._Progress.update

    def update_then_interrupt(self, *a, **k):
        real_update(self, *a, **k)
        calls["n"] += 1
        if calls["n"] == 7:
            os.kill(os.getpid(), signal.SIGINT)
    monkeypatch.setattr(train_mod._Progress, "update", update_then_interrupt)
    resumed = tmp_path / "resumed"
    code = main(["train", "--model", "mlp", "--out", str(resumed), "--progress", "lines"]
                + common)
    assert code == 130
    text = capsys.readouterr().out
    assert "interrupted at epoch 1, batch 7/19" in text
    assert f"dlbasic train --out {resumed} --resume" in text
    ckpt = dlbasic.load(resumed / "last.pt")
    assert (ckpt["epoch"], ckpt["step"]) == (0, 7)
    monkeypatch.setattr(train_mod._Progress, "update", real_update)

    assert main(["train", "--out", str(resumed), "--resume", "--progress", "none"]) == 0
    a, b = _weights(straight / "last.pt"), _weights(resumed / "last.pt")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    ha = json.loads((straight / "metrics.json").read_text())["history"]
    hb = json.loads((resumed / "metrics.json").read_text())["history"]
    assert [h["test_acc"] for h in ha] == [h["test_acc"] for h in hb]
    assert [h["train_loss"] for h in ha] == pytest.approx([h["train_loss"] for h in hb],
                                                          rel=1e-6)


def test_resume_at_an_epoch_boundary_matches_too(tmp_path):
    data = fashion_mnist_dir()
    cfg = dict(model="mlp", epochs=2, batch_size=100, limit_train=600, limit_test=300,
               data_dir=data, optimizer="adam", schedule="cosine", seed=3)
    logs = []
    train_mod.Trainer(dict(cfg, out=tmp_path / "a"), progress="none",
                      log=logs.append, plots=False).run()

    def stop(trainer):
        trainer.stop_requested = True
    summary = train_mod.Trainer(dict(cfg, out=tmp_path / "b"), progress="none", log=logs.append,
                                hooks={"after_epoch": stop}, plots=False).run()
    assert summary["interrupted"] and summary["epoch"] == 1
    train_mod.Trainer(dict(out=tmp_path / "b", resume=True), progress="none",
                      log=logs.append, plots=False).run()
    a, b = _weights(tmp_path / "a" / "last.pt"), _weights(tmp_path / "b" / "last.pt")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_dataloader_workers_see_the_same_batches(tmp_path):
    """--workers 2 (a DataLoader with worker processes) trains exactly like --workers 0."""
    data = fashion_mnist_dir()
    for workers in (0, 2):
        assert main(["train", "--model", "mlp", "--epochs", "1", "--limit-train", "640",
                     "--limit-test", "100", "--augment", "--workers", str(workers),
                     "--out", str(tmp_path / f"w{workers}"), "--data-dir", data,
                     "--progress", "none", "--no-plots"]) == 0
    a, b = _weights(tmp_path / "w0" / "last.pt"), _weights(tmp_path / "w2" / "last.pt")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_augmentation_is_a_shifted_and_maybe_flipped_copy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 1, 28, 28)).astype(np.float32)
    y = train_mod.augment_batch(x, np.random.default_rng(1), pad=2, fill=0.0)
    assert y.shape == x.shape and y.dtype == np.float32
    for i in range(len(x)):
        found = False
        for img in (x[i, 0], x[i, 0, :, ::-1]):
            padded = np.pad(img, 2)
            for dy in range(5):
                for dx in range(5):
                    if np.array_equal(padded[dy:dy + 28, dx:dx + 28], y[i, 0]):
                        found = True
        assert found, f"image {i} is not a crop of the padded (flipped) original"
    assert not np.array_equal(x, y)


def test_progress_falls_back_to_lines_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)          # import fails
    lines = []
    bar = train_mod._Progress(20, 0, "epoch 1/1", "bar", lines.append)
    for _ in range(20):
        bar.update(0.5, 0.75, 1000.0)
    bar.close()
    assert bar.bar is None and len(lines) == 10
    assert lines[-1].startswith("epoch 1/1: 20/20 batches  loss 0.5000  acc 75.00%  1000 img/s")
    assert "ETA" in lines[0]


def test_curves_are_skipped_with_a_note_without_matplotlib(monkeypatch, tmp_path):
    from dlbasic.app import plotting as _plotting
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    history = [dict(epoch=1, train_loss=1.0, train_acc=0.5, test_loss=1.0, test_acc=0.5)]
    assert _plotting.save_curves(history, tmp_path / "c.png") is None
    assert not (tmp_path / "c.png").exists()
    assert "matplotlib is not installed" in _plotting.missing_note("curves.png")


# ---- bad arguments: one line on stderr, non-zero exit, no traceback ------------------------

def test_unknown_model_is_one_line(tmp_path, capsys):
    assert main(_train_args(tmp_path / "x") + ["--model", "resnet9000"]) == 2
    _one_error_line(capsys, "resnet9000")


def test_missing_data_explains_data_dir_and_debian_package(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(_train_args(tmp_path / "x", data=str(empty))) == 2
    _one_error_line(capsys, "Fashion-MNIST not found", "--data-dir", "dataset-fashion-mnist")


def test_unwritable_output_directory_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert main(_train_args(blocker / "run")) == 2
    _one_error_line(capsys, "cannot write to output directory")


def test_checkpoint_of_another_architecture_is_one_line(trained_run, capsys):
    out, data = trained_run
    assert main(["eval", str(out / "last.pt"), "--model", "resnet20", "--data-dir", data]) == 2
    _one_error_line(capsys, "does not match", "resnet20")
    assert main(["train", "--out", str(out), "--resume", "--model", "cnn"]) == 2
    _one_error_line(capsys, "does not match", "mlp")


def test_unreadable_checkpoint_and_nothing_to_resume(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a checkpoint")
    assert main(["eval", str(bad)]) == 2
    _one_error_line(capsys, "cannot read checkpoint")
    assert main(["train", "--out", str(tmp_path / "none"), "--resume"]) == 2
    _one_error_line(capsys, "nothing to resume")


def test_argparse_errors_are_one_line_too(capsys):
    assert main(["train", "--out", "x", "--epochs", "0"]) == 2
    _one_error_line(capsys, "--epochs")
    assert main(["flops", "mlp", "--input", "1,a,3"]) == 2
    _one_error_line(capsys, "--input")


# ---- flops / profile -------------------------------------------------------------------------

def test_flops_json_counts_the_mlp_exactly(capsys):
    assert main(["flops", "mlp", "--input", "1,1,28,28", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    macs = 784 * 256 + 256 * 128 + 128 * 10
    assert report["totals"]["macs"] == macs
    assert report["totals"]["flops"] == 2 * macs


def test_flops_table_and_count_all(capsys):
    assert main(["flops", "mlp", "--input", "4,1,28,28"]) == 0
    text = capsys.readouterr().out
    assert "Linear" in text and "235,146 parameters" in text
    assert main(["flops", "mlp", "--input", "1,1,28,28", "--count", "all", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["flops"] > 2 * (784 * 256 + 256 * 128 + 128 * 10)


def test_flops_of_unknown_model_is_one_line(capsys):
    assert main(["flops", "no-such-net"]) == 2
    _one_error_line(capsys, "no-such-net")


def test_profile_prints_the_table(capsys):
    assert main(["profile", "mlp", "--batch", "8"]) == 0
    text = capsys.readouterr().out
    assert "Linear" in text


def test_python_dash_m_entry_point():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root)
    ok = subprocess.run([sys.executable, "-m", "dlbasic", "--help"], capture_output=True,
                        text=True, env=env, timeout=60)
    assert ok.returncode == 0 and "train" in ok.stdout and "flops" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "dlbasic", "flops", "resnet9000"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


# ---- python -m dlbasic.demo ------------------------------------------------------------------

def test_demo_quick_run_writes_curves_and_checkpoint(tmp_path, capsys):
    from dlbasic.app import demo
    data = fashion_mnist_dir()
    out = tmp_path / "demo"
    assert demo.main(["--quick", "--out", str(out), "--data-dir", data,
                      "--progress", "none"]) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and "FLOPs" in text
    assert (out / "curves.png").read_bytes()[:8] == PNG_MAGIC
    ckpt = dlbasic.load(out / "best.pt")
    assert ckpt["args"]["model"] == demo.RECIPE["model"]
    acc = json.loads((out / "metrics.json").read_text())["history"][-1]["test_acc"]
    assert 0.0 <= acc <= 1.0
    # the demo's checkpoint evaluates through the CLI (its model is rebuilt from the args)
    assert main(["eval", str(out / "best.pt"), "--data-dir", data, "--limit-test", "1000"]) == 0
    assert f"{100 * acc:.2f}%" in capsys.readouterr().out


def test_demo_without_data_explains_how_to_get_it(tmp_path, capsys):
    from dlbasic.app import demo
    empty = tmp_path / "empty"
    empty.mkdir()
    assert demo.main(["--data-dir", str(empty), "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "dataset-fashion-mnist" in err and "--data-dir" in err and "Traceback" not in err


def test_tensorboard_logs_every_epoch_and_a_resume_continues_them(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    data = fashion_mnist_dir()
    cfg = dict(model="mlp", epochs=2, batch_size=100, limit_train=600, limit_test=300,
               data_dir=data, out=tmp_path / "tb", seed=1)

    def stop(trainer):
        trainer.stop_requested = True
    train_mod.Trainer(cfg, progress="none", log=lambda *a: None, plots=False, tensorboard=True,
                      hooks={"after_epoch": stop}).run()
    train_mod.Trainer(dict(out=tmp_path / "tb", resume=True), progress="none",
                      log=lambda *a: None, plots=False, tensorboard=True).run()
    acc = EventAccumulator(str(tmp_path / "tb" / "tensorboard"))
    acc.Reload()
    with open(tmp_path / "tb" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    for tag, field in (("loss/train", "train_loss"), ("accuracy/test", "test_acc"),
                       ("lr", "lr")):
        events = acc.Scalars(tag)
        assert [e.step for e in events] == [1, 2], tag
        np.testing.assert_allclose([e.value for e in events], [float(r[field]) for r in rows],
                                   rtol=1e-6)


def test_tensorboard_flag_on_the_command_line(tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    assert main(_train_args(out, "--tensorboard", "--no-plots",
                            data=fashion_mnist_dir())) == 0
    assert any(n.startswith("events.out.tfevents.") for n in os.listdir(out / "tensorboard"))
