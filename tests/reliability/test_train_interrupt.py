"""Ctrl-C (a real SIGINT from outside) during ``dlbasic train`` with worker processes leaves a
checkpoint that loads and resumes to the end, wherever in the epoch the signal lands."""
import os
import signal
import subprocess
import sys
import time

import pytest

import dlbasic
from tests.conftest import fashion_mnist_dir

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _train(out, data, *extra):
    return [sys.executable, "-m", "dlbasic", "train", "--model", "cnn", "--epochs", "2",
            "--limit-train", "2048", "--limit-test", "256", "--batch-size", "64",
            "--workers", "2", "--progress", "lines", "--no-plots", "--data-dir", data,
            "--out", str(out), *extra]


@pytest.mark.slow
@pytest.mark.parametrize("after_lines", [1, 5])
def test_sigint_during_training_with_workers_leaves_a_resumable_checkpoint(tmp_path,
                                                                           after_lines):
    data = fashion_mnist_dir()
    out = tmp_path / "run"
    proc = subprocess.Popen(_train(out, data), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen, progress = [], 0
    deadline = time.monotonic() + 120
    try:
        for line in proc.stdout:
            seen.append(line)
            if " batches " in line:
                progress += 1
                if progress == after_lines:
                    proc.send_signal(signal.SIGINT)
                    break
            assert time.monotonic() < deadline, "no progress lines:\n" + "".join(seen)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(seen) + rest
    assert proc.returncode == 130, text
    assert "interrupted at epoch 1" in text, text
    assert f"--out {out} --resume" in text, text
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")], os.listdir(out)
    ckpt = dlbasic.load(out / "last.pt")
    assert ckpt["epoch"] == 0 and ckpt["step"] > 0

    done = subprocess.run([sys.executable, "-m", "dlbasic", "train", "--out", str(out),
                           "--resume", "--progress", "none"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    final = dlbasic.load(out / "last.pt")
    assert (final["epoch"], final["step"]) == (2, 0)
    assert [h["epoch"] for h in final["history"]] == [1, 2]
