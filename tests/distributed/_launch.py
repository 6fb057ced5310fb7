"""Starting MPI jobs from the tests: ``mpiexec -n N python worker.py`` with a deadline."""
import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WORKERS = os.path.join(HERE, "workers")


def mpiexec():
    """The virtualenv's mpiexec (the mpich wheel), or skip -- fail under CI, where `make test`
    installs it -- with the reason."""
    try:
        import mpi4py                                       # noqa: F401
        from dlbasic.distributed.run import find_mpiexec, LaunchError
        return find_mpiexec()
    except (ImportError, LaunchError) as exc:
        msg = f"MPI not available ({exc}): pip install 'dlbasic[distributed]'"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    # one thread per rank: up to 3 ranks share this machine's cores
    e.setdefault("OMP_NUM_THREADS", "1")
    e.setdefault("OPENBLAS_NUM_THREADS", "1")
    return e


def run_mpi(n, script, *args, timeout=120, launcher=None):
    """Run ``workers/script`` as ``n`` ranks; returns (CompletedProcess, seconds)."""
    cmd = launcher or [mpiexec(), "-n", str(n), sys.executable]
    cmd = list(cmd) + [os.path.join(WORKERS, script)] + [str(a) for a in args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env(),
                          cwd=ROOT)
    return proc, time.perf_counter() - t0


def check(proc):
    """Assert the job succeeded, showing its output if not."""
    assert proc.returncode == 0, (f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
                                  f"\n--- stderr\n{proc.stderr[-4000:]}")
    return proc.stdout
