"""Data-parallel scaling of the resnet20 recipe's step on this machine.

    python -m benchmarks.distributed [--steps 30] [--explore]

Runs the recipe's training step (resnet20, 1x28x28, global batch 128, SGD Nesterov momentum)
as 1 process with 2 threads, then as 2 MPI processes with 1 thread each (each on 64 images,
DistributedDataParallel averaging the gradients), and reports images/s, the time of one
all_reduce of all the gradients (1.08 MB, measured alone), and how long backward waited at
its end for the reductions still in flight (the communication that was not overlapped).
Inputs are random arrays of the recipe's shapes: the step's arithmetic does not depend on the
values.  Published (``benchmarks/results/distributed.{json,md}``) only when the 1-minute load
average at the start is <= 0.5; otherwise, or with --explore, ``distributed_explore.*``.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
MAX_LOAD = 0.5


def worker(steps, warmup):
    """One rank: time ``steps`` training steps; print a JSON line (rank 0)."""
    import dlbasic
    from dlbasic import nn
    from benchmarks.networks import resnet20
    dist = None
    world, rank = 1, 0
    if "PMI_RANK" in os.environ or "OMPI_COMM_WORLD_RANK" in os.environ:
        import dlbasic.distributed as dist
        dist.init_process_group("mpi")
        world, rank = dist.get_world_size(), dist.get_rank()
    dlbasic.manual_seed(0)
    model = resnet20(dlbasic)
    net = model
    waits = []
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model)
        finish = net._finish_reduction

        def timed_finish():
            t0 = time.perf_counter()
            finish()
            waits.append(time.perf_counter() - t0)
        net._finish_reduction = timed_finish
    opt = dlbasic.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                            weight_decay=5e-4)
    lossf = nn.CrossEntropyLoss()
    g = np.random.default_rng(rank)
    local = 128 // world
    x = dlbasic.from_numpy(g.standard_normal((local, 1, 28, 28)).astype(np.float32))
    y = dlbasic.from_numpy(g.integers(0, 10, local))
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        lossf(net(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    times = times[warmup:]
    waits = waits[warmup:]
    allreduce = []
    if world > 1:
        n = sum(p.numel() for p in model.parameters())
        buf = dlbasic.zeros(n)
        for _ in range(60):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(buf)
            allreduce.append(time.perf_counter() - t0)
        allreduce = allreduce[10:]
        # the slowest rank sets the pace: report rank 0's view of the max over ranks
        mine = dlbasic.tensor([statistics.median(times)], dtype=dlbasic.float64)
        dist.all_reduce(mine, op=dist.ReduceOp.MAX)
        step = mine.item()
    else:
        step = statistics.median(times)
    if rank == 0:
        print(json.dumps({
            "world": world, "threads": dlbasic.get_num_threads(), "step_s": step,
            "images_per_s": 128 / step,
            "allreduce_ms": statistics.median(allreduce) * 1e3 if allreduce else None,
            "end_of_backward_wait_ms": statistics.median(waits) * 1e3 if waits else None,
            "parameters": sum(p.numel() for p in model.parameters())}), flush=True)
    if dist is not None:
        dist.destroy_process_group()


def _run(cmd, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    if out.returncode:
        raise SystemExit(f"benchmark failed:\n{out.stderr[-3000:]}")
    return json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--explore", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        return worker(a.steps, a.warmup)
    from dlbasic.distributed.run import find_mpiexec
    before = round(os.getloadavg()[0], 2)
    me = [sys.executable, "-m", "benchmarks.distributed", "--worker", "--steps", str(a.steps),
          "--warmup", str(a.warmup)]
    cores = os.cpu_count() or 1
    one = _run(me, cores)
    two = _run([find_mpiexec(), "-n", "2"] + me, max(1, cores // 2))
    after = round(os.getloadavg()[0], 2)
    from benchmarks.run import kernel_set
    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "load_before": before, "load_after": after, "cores": cores,
        "kernels": kernel_set(),
        "one_process": one, "two_processes": two,
        "speedup": two["images_per_s"] / one["images_per_s"],
        "allreduce_share_of_step": two["allreduce_ms"] / 1e3 / two["step_s"],
        "exposed_wait_share_of_step": two["end_of_backward_wait_ms"] / 1e3 / two["step_s"],
    }
    publish = before <= MAX_LOAD and not a.explore
    name = "distributed" if publish else "distributed_explore"
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, name + ".json"), "w") as f:
        json.dump(result, f, indent=2)
    lines = [
        f"# Data-parallel resnet20 step ({result['date']}, load {before} -> {after}, "
        f"{cores} cores, kernels: {result['kernels']})", "",
        "| run | images/s | step (ms) | all_reduce of all gradients (ms) | wait at end of "
        "backward (ms) |", "|---|---|---|---|---|",
        f"| 1 process x {one['threads']} threads, batch 128 | {one['images_per_s']:.0f} | "
        f"{one['step_s'] * 1e3:.0f} | - | - |",
        f"| 2 processes x {two['threads']} thread, 64 each | {two['images_per_s']:.0f} | "
        f"{two['step_s'] * 1e3:.0f} | {two['allreduce_ms']:.2f} | "
        f"{two['end_of_backward_wait_ms']:.2f} |", "",
        f"Speed-up {result['speedup']:.2f}x; one all_reduce of the {one['parameters']:,} "
        f"gradients is {100 * result['allreduce_share_of_step']:.2f} % of a step, the part "
        f"not hidden behind backward {100 * result['exposed_wait_share_of_step']:.2f} %.",
    ]
    with open(os.path.join(RESULTS, name + ".md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    if not publish:
        print(f"\n(not published: load {before} > {MAX_LOAD} or --explore)")


if __name__ == "__main__":
    sys.exit(main())
