"""Fault injection for DataLoader workers: forks beside busy threads, many short epochs, every
start method, workers that die or hang, and a long training loop whose memory must stay flat.

Each scenario that could hang runs in its own Python process under a time limit, so a
regression fails here with the child's stacks instead of stopping the suite.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import dlbasic
from dlbasic.utils.data import DataLoader, Dataset, TensorDataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_child(code, timeout):
    """Run ``code`` in a fresh interpreter (faulthandler dumps its stacks just before the
    limit); return its stdout, failing with its output when it errors or hangs."""
    prelude = ("import faulthandler, sys\n"
               f"faulthandler.dump_traceback_later({timeout - 5}, exit=True)\n")
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout + 30)
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


# -- forking while other threads compute ----------------------------------------------------------

def test_workers_start_while_two_user_threads_run_matmuls():
    # before the fork gate, os.fork() hung in OpenBLAS's pre-fork handler about one run in three
    out = run_child("""
        import threading
        import dlbasic as torch
        from dlbasic.utils.data import DataLoader, TensorDataset
        stop = False
        def busy():
            a = torch.ones(256, 256)
            while not stop:
                a @ a
        threads = [threading.Thread(target=busy, daemon=True) for _ in range(2)]
        for t in threads:
            t.start()
        n = 0
        for epoch in range(150):
            for b in DataLoader(TensorDataset(torch.arange(16.)), batch_size=4, num_workers=2):
                n += 1
        stop = True
        print(n)
    """, timeout=150)
    assert out.split()[-1] == "600"


def test_workers_start_while_a_thread_trains_a_conv_net():
    # a second thread's convolution uses dlbasic's own pool and OpenBLAS at once
    out = run_child("""
        import threading
        import dlbasic as torch
        from dlbasic import nn
        from dlbasic.utils.data import DataLoader, TensorDataset
        net = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        x = torch.randn(32, 8, 24, 24)
        stop = False
        def train():
            while not stop:
                net(x).sum().backward()
        t = threading.Thread(target=train, daemon=True)
        t.start()
        n = 0
        for epoch in range(60):
            for b in DataLoader(TensorDataset(torch.arange(16.)), batch_size=4, num_workers=2):
                n += 1
        stop = True
        t.join()
        print(n)
    """, timeout=150)
    assert out.split()[-1] == "240"


@pytest.mark.parametrize("persistent", [False, True])
def test_200_short_epochs_of_conv_training_with_two_workers(persistent):
    out = run_child(f"""
        import dlbasic as torch
        from dlbasic import nn
        from dlbasic.utils.data import DataLoader, TensorDataset
        torch.manual_seed(0)
        x = torch.randn(64, 1, 12, 12)
        y = (x.mean(dim=(1, 2, 3)) > 0).long()
        loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, num_workers=2,
                            persistent_workers={persistent})
        net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        losses, steps = [], 0
        for epoch in range(200):
            total = 0.0
            for xb, yb in loader:
                loss = nn.functional.cross_entropy(net(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item()
                steps += 1
            losses.append(total / 4)
        print(steps, losses[0], min(losses[-10:]))
    """, timeout=240)
    steps, first, last = out.split()[-3:]
    assert int(steps) == 800
    assert float(last) < float(first)          # it really trained, epoch after epoch


# -- start methods ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_every_start_method_gives_the_single_process_batches(method):
    ds = TensorDataset(dlbasic.arange(40.).reshape(20, 2), dlbasic.arange(20))
    expected = [[t.tolist() for t in b] for b in DataLoader(ds, batch_size=3)]
    got = [[t.tolist() for t in b]
           for b in DataLoader(ds, batch_size=3, num_workers=2, multiprocessing_context=method)]
    assert got == expected


def test_timeout_without_workers_is_refused_as_torch_does():
    loader = DataLoader(TensorDataset(dlbasic.arange(4.)), timeout=5)
    with pytest.raises(AssertionError, match="timeout=5 needs worker processes"):
        iter(loader)


# -- workers that die or hang --------------------------------------------------------------------

class _Fault(Dataset):
    """Item 5 raises, exits, kills its own process or hangs."""

    def __init__(self, how):
        self.how = how

    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            if self.how == "raise":
                raise ValueError("item 5 is broken")
            if self.how == "exit":
                os._exit(3)
            if self.how == "sigkill":
                os.kill(os.getpid(), signal.SIGKILL)
            if self.how == "hang":
                time.sleep(60)
        return dlbasic.tensor(float(i))


@pytest.mark.parametrize("how, error, message", [
    ("raise", ValueError, "Caught ValueError in DataLoader worker process"),
    ("exit", RuntimeError, "exited unexpectedly with exit code 3"),
    ("sigkill", RuntimeError, "is killed by signal: Killed"),
    ("hang", RuntimeError, "DataLoader timed out after 1 seconds"),
])
@pytest.mark.parametrize("persistent", [False, True])
def test_a_failing_worker_is_a_prompt_error_of_torchs_type(how, error, message, persistent):
    loader = DataLoader(_Fault(how), batch_size=2, num_workers=2, persistent_workers=persistent,
                        timeout=1 if how == "hang" else 0)
    start = time.monotonic()
    with pytest.raises(error, match=message):
        for _ in loader:
            pass
    assert time.monotonic() - start < 15
    # the loader is usable again afterwards (a fresh set of workers) for good data
    ok = DataLoader(TensorDataset(dlbasic.arange(6.)), batch_size=2, num_workers=2)
    assert [b[0].tolist() for b in ok] == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]


# -- long runs keep memory flat -------------------------------------------------------------------

def test_ten_thousand_training_steps_and_a_100k_op_graph_keep_memory_flat():
    out = run_child("""
        import resource
        import dlbasic as torch
        from dlbasic import nn

        def rss_mb():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * resource.getpagesize() / 2**20

        net = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x, y = torch.randn(16, 32), torch.randint(0, 10, (16,))
        marks = {}
        for step in range(1, 10001):
            loss = nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step in (1000, 10000):
                marks[step] = rss_mb()

        # one graph of 100k tiny ops, backward, then gone
        before = rss_mb()
        for rep in range(2):
            w = torch.ones(4, requires_grad=True)
            h = w
            for i in range(50000):
                h = h * 1.0001
                h = h - 0.0001
            h.sum().backward()
            del h, w
        after = rss_mb()
        print(marks[1000], marks[10000], before, after)
    """, timeout=240)
    at1k, at10k, before, after = map(float, out.split()[-4:])
    assert at10k - at1k < 8, f"training loop grew from {at1k:.1f} MB to {at10k:.1f} MB"
    assert after - before < 40, f"100k-op graphs left {after - before:.1f} MB behind"
