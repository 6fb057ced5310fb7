"""``dlbasic train --nproc 2`` on real Fashion-MNIST: the data-parallel run follows the
single-process recipe (an MLP has no BatchNorm, so the two agree to rounding), rank 0 alone
writes, and ``--resume`` of an interrupted run works with two processes."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import dlbasic
from dlbasic.app import train as train_mod
from tests.conftest import fashion_mnist_dir

from ._launch import mpiexec, env, ROOT

QUICK = dict(model="mlp", batch_size=64, limit_train=1024, limit_test=500, optimizer="sgd",
             schedule="cosine", seed=3)


def _cli(out, data, *extra):
    return [sys.executable, "-m", "dlbasic", "train", "--model", "mlp", "--batch-size", "64",
            "--limit-train", "1024", "--limit-test", "500", "--seed", "3", "--schedule",
            "cosine", "--data-dir", data, "--out", str(out), "--progress", "none",
            "--no-plots"] + list(extra)


def _weights(path):
    return {k: v.numpy().copy() for k, v in dlbasic.load(path)["model"].items()}


def test_two_processes_follow_the_one_process_run_and_resume(tmp_path):
    mpiexec()
    data = fashion_mnist_dir()
    e = env()
    # one process, 2 epochs, uninterrupted
    one = tmp_path / "one"
    train_mod.Trainer(dict(QUICK, epochs=2, data_dir=data, out=one), progress="none",
                      log=lambda *a: None, plots=False).run()
    # two processes, 2 epochs
    two = tmp_path / "two"
    proc = subprocess.run(_cli(two, data, "--epochs", "2", "--nproc", "2"), capture_output=True,
                          text=True, timeout=300, env=e, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("epoch 2/2:") == 1          # rank 0 alone prints
    m1 = json.loads((one / "metrics.json").read_text())["history"]
    m2 = json.loads((two / "metrics.json").read_text())["history"]
    for a, b in zip(m1, m2):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["test_loss"] == pytest.approx(a["test_loss"], rel=1e-4)
        assert abs(b["test_acc"] - a["test_acc"]) <= 0.004
    w1, w2 = _weights(one / "last.pt"), _weights(two / "last.pt")
    assert list(w1) == list(w2)                           # no "module." prefix in checkpoints
    for k in w1:
        np.testing.assert_allclose(w2[k], w1[k], atol=2e-5, err_msg=k)
    assert sorted(os.listdir(two)) == ["best.pt", "last.pt", "metrics.csv", "metrics.json"]

    # interrupted after epoch 1 by one process, resumed by two
    cut = tmp_path / "cut"

    def stop(trainer):
        trainer.stop_requested = True
    s = train_mod.Trainer(dict(QUICK, epochs=2, data_dir=data, out=cut), progress="none",
                          log=lambda *a: None, plots=False, hooks={"after_epoch": stop}).run()
    assert s["interrupted"]
    proc = subprocess.run([sys.executable, "-m", "dlbasic", "train", "--out", str(cut),
                           "--resume", "--nproc", "2", "--progress", "none", "--no-plots",
                           "--data-dir", data], capture_output=True, text=True, timeout=300,
                          env=e, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming" in proc.stdout
    w3 = _weights(cut / "last.pt")
    for k in w1:
        np.testing.assert_allclose(w3[k], w1[k], atol=2e-5, err_msg=k)


def test_a_mistake_in_a_distributed_run_is_one_line_from_rank_0(tmp_path):
    mpiexec()
    proc = subprocess.run([sys.executable, "-m", "dlbasic", "train", "--model", "nosuchnet",
                           "--out", str(tmp_path / "x"), "--nproc", "2", "--data-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=120,
                          env=env(), cwd=ROOT)
    assert proc.returncode != 0
    assert proc.stderr.count("dlbasic train: error:") == 1, proc.stderr
