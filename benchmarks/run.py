"""The benchmark suite: dlbasic against PyTorch (CPU, same thread count), side by side.

    python -m benchmarks.run [--only W1,W3] [--explore]

Each workload is built twice from the same code (``lib`` is ``dlbasic`` or ``torch``) with the
same shapes, data and initial weights, and timed interleaved (A B A B ...).  We report medians,
min/max and the ratio dlbasic / PyTorch, and write ``benchmarks/results/latest.json`` and
``latest.md`` (the table the README shows).

Only an idle machine publishes: a busy one slows PyTorch's threads more than NumPy's and
flatters us (ratios of 1.37 and 1.81 measured at load 2-7 were 1.9 and 2.8 idle).  When the
1-minute load average at the start exceeds 0.5, or with ``--explore``, the results go to
``explore.json``/``explore.md`` instead (not tracked).  Every row records the load average
before and after it ran and the kernel set that was active.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

from benchmarks.networks import mlp, mini_resnet, resnet18_cifar, resnet20
from benchmarks.recipes import load

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
MAX_LOAD = 0.5          # 1-minute load average above which nothing is published


def load_average():
    return round(os.getloadavg()[0], 2)


def kernel_set():
    """Which kernels dlbasic ran: its backend's report when it has one, else NumPy's BLAS."""
    import dlbasic
    backend = getattr(dlbasic, "backend", None)
    if backend is not None and hasattr(backend, "active"):
        return str(backend.active())
    try:
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]["name"]
    except (AttributeError, KeyError, TypeError):
        blas = "unknown BLAS"
    core = os.environ.get("OPENBLAS_CORETYPE")
    return f"numpy reference kernels, {blas}" + (f" (OPENBLAS_CORETYPE={core})" if core else "")


def _libs():
    import torch
    import dlbasic
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1)))
    return dlbasic, torch


def copy_weights(src_torch, dst_dl):
    import dlbasic
    state = {k: dlbasic.tensor(v.detach().numpy()) for k, v in src_torch.state_dict().items()}
    dst_dl.load_state_dict(state, strict=True)


# -- timing -----------------------------------------------------------------------------

def interleave(fns, repeats, inner=1):
    """Time each callable ``repeats`` times, alternating (A B, then B A, so that a drift in the
    machine's load favours neither); seconds per call."""
    times = {k: [] for k in fns}
    keys = list(fns)
    for r in range(repeats):
        for k in (keys if r % 2 == 0 else keys[::-1]):
            fn = fns[k]
            t = time.perf_counter()
            for _ in range(inner):
                fn()
            times[k].append((time.perf_counter() - t) / inner)
    return times


def summarize(name, times, unit="ms", scale=1e3, extra=None):
    d, t = times["dlbasic"], times["torch"]
    row = {"workload": name, "unit": unit,
           "dlbasic_median": statistics.median(d) * scale, "dlbasic_min": min(d) * scale,
           "dlbasic_max": max(d) * scale,
           "torch_median": statistics.median(t) * scale, "torch_min": min(t) * scale,
           "torch_max": max(t) * scale}
    row["ratio"] = row["dlbasic_median"] / row["torch_median"]
    if extra:
        row.update(extra)
    print(f"{name:<34} dlbasic {row['dlbasic_median']:9.2f} {unit}  torch "
          f"{row['torch_median']:9.2f} {unit}  ratio {row['ratio']:.2f}", flush=True)
    return row


def train_step_fn(lib, model, x, y, lr=0.01):
    opt = lib.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = lib.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return step


def _step_fns(build, shape, batch):
    """Training steps of the same model (``build(lib)``, torch's initial weights copied) on the
    same random batch of ``shape``, for both libraries, each run once to warm up."""
    dl, torch = _libs()
    torch.manual_seed(0)
    tm = build(torch)
    dm = build(dl)
    copy_weights(tm, dm)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + shape).astype(np.float32)
    y = rng.integers(0, 10, batch)
    fns = {"dlbasic": train_step_fn(dl, dm, dl.tensor(x), dl.tensor(y)),
           "torch": train_step_fn(torch, tm, torch.tensor(x), torch.tensor(y))}
    for f in fns.values():
        f()
    return fns


def w1_mlp(repeats):
    fns = _step_fns(mlp, (784,), 128)
    return summarize("W1 MLP 784-256-128-10 step b128", interleave(fns, repeats, inner=20))


def w2_resnet18(repeats):
    fns = _step_fns(resnet18_cifar, (3, 32, 32), 32)
    rss = {lib: _peak_rss("w2", lib) for lib in ("dlbasic", "torch")}
    return summarize("W2 ResNet-18 (CIFAR) step b32", interleave(fns, repeats),
                     extra={"dlbasic_peak_rss_mib": rss["dlbasic"],
                            "torch_peak_rss_mib": rss["torch"]})


def w3_conv(repeats):
    dl, torch = _libs()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 64, 32, 32)).astype(np.float32)
    w = (rng.standard_normal((64, 64, 3, 3)) * 0.05).astype(np.float32)
    rows = []
    for mode in ("forward", "forward+backward"):
        fns = {}
        for name, lib in (("dlbasic", dl), ("torch", torch)):
            xt = lib.tensor(x, requires_grad=(mode != "forward"))
            wt = lib.tensor(w, requires_grad=True)

            def f(lib=lib, xt=xt, wt=wt, mode=mode):
                if mode == "forward":
                    with lib.no_grad():
                        lib.nn.functional.conv2d(xt, wt, padding=1)
                else:
                    lib.nn.functional.conv2d(xt, wt, padding=1).sum().backward()
            fns[name] = f
        for f in fns.values():
            f()
        rows.append(summarize(f"W3 conv3x3 64->64 32x32 b64 {mode}", interleave(fns, repeats)))
    return rows


def w4_tiny(repeats):
    dl, torch = _libs()

    def make(lib):
        x = lib.randn(16, requires_grad=True)

        def run():
            y = x
            for _ in range(50):
                y = ((y * 1.01 + 0.1).tanh() - 0.05).sigmoid()
            y.sum().backward()
        return run
    fns = {"dlbasic": make(dl), "torch": make(torch)}
    for f in fns.values():                       # warm-up
        for _ in range(5):
            f()
    times = interleave(fns, repeats, inner=10)
    # 201 ops per run, forward + backward
    return summarize("W4 tiny ops fwd+bwd (per op)",
                     {k: [t / 201 for t in v] for k, v in times.items()}, unit="us", scale=1e6)


def w5_inference(repeats):
    dl, torch = _libs()
    rows = []
    rng = np.random.default_rng(0)
    from dlbasic import models as dmodels
    try:    # the torchvision-layout torch reference lives with the parity tests
        from tests.parity.test_models import TResNet, TBasicBlock

        def tref():
            return TResNet(TBasicBlock, [2, 2, 2, 2])
    except Exception:
        tref = None
    cases = [("W5 resnet18 eval 1x3x224x224", (1, 3, 224, 224), "imagenet"),
             ("W5 resnet18-cifar eval 32x3x32x32", (32, 3, 32, 32), "cifar")]
    for name, shape, kind in cases:
        x = rng.standard_normal(shape).astype(np.float32)
        if kind == "imagenet":
            if tref is None:
                print(f"{name}: skipped (no torch reference builder)")
                continue
            tm = tref()
            dm = dmodels.resnet18()
        else:
            tm = resnet18_cifar(torch)
            dm = resnet18_cifar(dl)
        copy_weights(tm, dm)
        tm.eval()
        dm.eval()
        xt, xd = torch.tensor(x), dl.tensor(x)

        def fd():
            with dl.no_grad():
                dm(xd)

        def ft():
            with torch.no_grad():
                tm(xt)
        fd()
        ft()
        rows.append(summarize(name, interleave({"dlbasic": fd, "torch": ft}, repeats)))
    return rows


def w6_demo_epoch(repeats):
    """One training epoch of the ``make demo`` recipe on real Fashion-MNIST, each library once."""
    dl, torch = _libs()
    x_train, y_train, _, _ = load()
    x_train = x_train.reshape(-1, 1, 28, 28)
    order = np.random.default_rng(0).permutation(len(x_train))
    batch = 128
    steps = (len(order) + batch - 1) // batch
    torch.manual_seed(0)
    tm = mini_resnet(torch)
    dm = mini_resnet(dl)
    copy_weights(tm, dm)

    def epoch(lib, model):
        opt = lib.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True,
                            weight_decay=5e-4)
        sched = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=steps)
        loss_fn = lib.nn.CrossEntropyLoss()
        model.train()
        t = time.perf_counter()
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            loss = loss_fn(model(lib.from_numpy(x_train[idx])), lib.from_numpy(y_train[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        return time.perf_counter() - t, loss.item()
    td, ld = epoch(dl, dm)
    tt, lt = epoch(torch, tm)
    print(f"  final batch loss: dlbasic {ld:.4f}, torch {lt:.4f}")
    return summarize("W6 demo recipe, one epoch", {"dlbasic": [td], "torch": [tt]},
                     unit="s", scale=1.0)


def w7_resnet20(repeats):
    """The resnet20 recipe's training step: batch 128 of 1x28x28, SGD with momentum."""
    fns = _step_fns(resnet20, (1, 28, 28), 128)
    return summarize("W7 resnet20 step b128 1x28x28", interleave(fns, repeats))


def _lstm_lm(lib):
    """A word-level LSTM language model's core: 2-layer LSTM 128 -> 256 and a 1000-way head."""
    nn = lib.nn

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(128, 256, num_layers=2)
            self.head = nn.Linear(256, 1000)

        def forward(self, x):
            return self.head(self.lstm(x)[0])
    return LM()


def _paired_steps(tm, dm, x, y, make_opt, loss_fn):
    """Training steps of torch's model ``tm`` and dlbasic's ``dm`` (same weights) on the arrays
    ``x``, ``y``: ``make_opt(lib, params)`` and ``loss_fn(lib, output, target)`` name each
    library's optimizer and loss; each step runs once to warm up."""
    dl, torch = _libs()

    def step_fn(lib, model):
        opt = make_opt(lib, model.parameters())
        xt, yt = lib.tensor(x), lib.tensor(y)

        def step():
            opt.zero_grad()
            loss = loss_fn(lib, model(xt), yt)
            loss.backward()
            opt.step()
        return step
    fns = {"dlbasic": step_fn(dl, dm), "torch": step_fn(torch, tm)}
    for f in fns.values():
        f()
    return fns


def w8_lstm(repeats):
    """A truncated-BPTT step: 35 time steps x batch 32 of 128 features, SGD, cross-entropy
    of every step's 1000-way prediction."""
    dl, torch = _libs()
    torch.manual_seed(0)
    tm, dm = _lstm_lm(torch), _lstm_lm(dl)
    copy_weights(tm, dm)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((35, 32, 128)).astype(np.float32)
    y = rng.integers(0, 1000, (35 * 32,))
    fns = _paired_steps(tm, dm, x, y, lambda lib, params: lib.optim.SGD(params, lr=0.1),
                        lambda lib, out, yt: lib.nn.functional.cross_entropy(
                            out.reshape(-1, 1000), yt))
    return summarize("W8 LSTM 2x256 step 35x32", interleave(fns, repeats))


def w9_transformer(repeats):
    """One TransformerEncoderLayer (d_model 256, 8 heads, feed-forward 1024, dropout 0.1,
    batch_first) on 32 sequences of 64 tokens: forward, MSE to a fixed target, backward,
    AdamW step."""
    dl, torch = _libs()
    torch.manual_seed(0)
    tm = torch.nn.TransformerEncoderLayer(256, 8, 1024, batch_first=True)
    dm = dl.nn.TransformerEncoderLayer(256, 8, 1024, batch_first=True)
    copy_weights(tm, dm)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 64, 256)).astype(np.float32)
    y = rng.standard_normal((32, 64, 256)).astype(np.float32)
    fns = _paired_steps(tm, dm, x, y, lambda lib, params: lib.optim.AdamW(params, lr=1e-3),
                        lambda lib, out, yt: lib.nn.functional.mse_loss(out, yt))
    return summarize("W9 TransformerEncoderLayer step", interleave(fns, repeats))


def _peak_rss(workload, lib):
    """Peak resident memory (MiB) of a fresh process running a few steps of ``workload``."""
    code = (f"import benchmarks.run as b; b._rss_child({workload!r}, {lib!r})")
    out = subprocess.run([sys.executable, "-c", code], cwd=os.path.join(HERE, ".."),
                         capture_output=True, text=True, timeout=600)
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return float("nan")


def _rss_child(workload, libname):
    if libname == "torch":
        import torch as lib
        torch_threads = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))
        lib.set_num_threads(torch_threads)
    else:
        import dlbasic as lib
    lib.manual_seed(0)
    model = resnet18_cifar(lib)
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((32, 3, 32, 32)).astype(np.float32))
    y = lib.tensor(rng.integers(0, 10, 32))
    step = train_step_fn(lib, model, x, y)
    for _ in range(3):
        step()
    # VmHWM (peak resident set of this address space); ru_maxrss would carry over the
    # parent's peak across fork + exec on Linux
    with open("/proc/self/status") as f:
        hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    print(hwm / 1024)


WORKLOADS = {"W1": w1_mlp, "W2": w2_resnet18, "W3": w3_conv, "W4": w4_tiny, "W5": w5_inference,
             "W6": w6_demo_epoch, "W7": w7_resnet20, "W8": w8_lstm, "W9": w9_transformer}


def machine():
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                   if l.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, " \
           f"NumPy {np.__version__}"


def _merge(rows, path_json, today):
    """This run's rows, plus the previous file's rows of workloads not run this time (so that
    ``--only W4`` does not erase the W2 row the README shows); each row keeps its date."""
    for r in rows:
        r["date"] = today
    try:
        with open(path_json) as f:
            old = json.load(f)["rows"]
    except (OSError, ValueError, KeyError, TypeError):
        return rows
    new = {r["workload"]: r for r in rows}
    merged = [new.pop(r["workload"], r) for r in old if isinstance(r, dict) and "workload" in r]
    return merged + list(new.values())


def write(rows, path_json, path_md):
    import torch
    meta = {"date": datetime.date.today().isoformat(), "machine": machine(),
            "torch": torch.__version__, "kernels": kernel_set()}
    rows = _merge(rows, path_json, meta["date"])
    dates = sorted({r.get("date", "?") for r in rows})
    if len(dates) > 1:
        meta["date"] = f"{dates[0]} to {dates[-1]}"
    os.makedirs(os.path.dirname(path_json), exist_ok=True)
    with open(path_json, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=2)
    lines = [f"Measured {meta['date']} on {meta['machine']}; PyTorch {meta['torch']} CPU, "
             "same thread count, interleaved runs, medians; dlbasic kernels: "
             f"{meta['kernels']}.", "",
             "| workload | dlbasic | PyTorch | ratio | load before/after |",
             "|---|---|---|---|---|"]
    for r in rows:
        load = (f"{r['load_before']:.2f} / {r['load_after']:.2f}" if "load_before" in r
                else "not recorded")
        lines.append(f"| {r['workload']} | {r['dlbasic_median']:.2f} {r['unit']} | "
                     f"{r['torch_median']:.2f} {r['unit']} | {r['ratio']:.2f} | {load} |")
        if "dlbasic_peak_rss_mib" in r:
            lines.append(f"| W2 peak RSS | {r['dlbasic_peak_rss_mib']:.0f} MiB | "
                         f"{r['torch_peak_rss_mib']:.0f} MiB | "
                         f"{r['dlbasic_peak_rss_mib'] / r['torch_peak_rss_mib']:.2f} | |")
    with open(path_md, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(WORKLOADS))
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default=RESULTS)
    ap.add_argument("--explore", action="store_true",
                    help="write explore.json/md whatever the load (never published)")
    args = ap.parse_args(argv)
    start_load = load_average()
    publish = not args.explore and start_load <= MAX_LOAD
    if not publish and not args.explore:
        print(f"1-minute load average {start_load} > {MAX_LOAD}: the machine is busy, so these "
              "results go to explore.json/md, not latest (a busy machine flatters dlbasic)")
    rows = []
    for key in args.only.split(","):
        before = load_average()
        r = WORKLOADS[key.strip()](args.repeats)
        after = load_average()
        for row in (r if isinstance(r, list) else [r]):
            row.update(load_before=before, load_after=after, kernels=kernel_set())
            rows.append(row)
    name = "latest" if publish else "explore"
    write(rows, os.path.join(args.out, name + ".json"), os.path.join(args.out, name + ".md"))


if __name__ == "__main__":
    main()
