"""``dlbasic run``: start N copies of a script as one MPI job (torchrun's role, on mpiexec).

    dlbasic run --nproc-per-node 2 train.py --epochs 3
    dlbasic run --nproc-per-node 2 --hostfile hosts train.py      # 2 per machine listed
    mpiexec -n 2 python train.py                                   # the same, by hand

Each process runs ``python -m dlbasic.distributed.launch script args``, which sets the
environment a PyTorch script reads (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE), runs the
script, and turns an exception or a non-zero exit of any rank into an abort of the whole job
(its message names the rank), so no rank is left waiting in a collective.  With more than one
process per machine, each gets an equal share of the cores (OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS) unless the user set them.
"""
import os
import shutil
import subprocess
import sys
import tempfile

__all__ = ["find_mpiexec", "mpiexec_flavour", "build_command", "run"]


class LaunchError(Exception):
    """A launch the user can fix (no mpiexec, bad hostfile): one line, exit status 2."""


def find_mpiexec(explicit=None):
    """The mpiexec to use: ``explicit``, $DLBASIC_MPIEXEC, the virtualenv's own (the ``mpich``
    wheel installs one there), or the first on PATH."""
    for cand in (explicit, os.environ.get("DLBASIC_MPIEXEC"),
                 os.path.join(os.path.dirname(sys.executable), "mpiexec"),
                 os.path.join(sys.prefix, "bin", "mpiexec")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    found = shutil.which("mpiexec") or shutil.which("mpirun")
    if found:
        return found
    raise LaunchError("no mpiexec found: pip install 'dlbasic[distributed]' (the mpich wheel "
                      "puts mpiexec in the virtualenv), install an MPI, or pass --mpiexec PATH")


def mpiexec_flavour(mpiexec):
    """'mpich' (Hydra), 'openmpi' or 'unknown', from ``mpiexec --version``."""
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True,
                             timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if "HYDRA" in out.upper() or "MPICH" in out.upper():
        return "mpich"
    if "Open MPI" in out or "OpenRTE" in out or "open-mpi" in out.lower():
        return "openmpi"
    return "unknown"


def read_hostfile(path):
    """Host names in ``path`` (one per line; ``host:slots`` / ``host slots=N`` accepted; # for
    comments)."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise LaunchError(f"cannot read hostfile {path}: {e.strerror}") from None
    hosts = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            hosts.append(line.split()[0].split(":")[0])
    if not hosts:
        raise LaunchError(f"hostfile {path} lists no hosts")
    return hosts


def build_command(script_args, nproc_per_node=1, hostfile=None, module=False, mpiexec=None,
                  flavour=None):
    """The mpiexec command line (a list) that runs ``script_args`` as one job."""
    mpiexec = find_mpiexec(mpiexec)
    flavour = flavour or mpiexec_flavour(mpiexec)
    hosts = read_hostfile(hostfile) if hostfile else None
    total = nproc_per_node * (len(hosts) if hosts else 1)
    cmd = [mpiexec]
    if flavour == "openmpi":
        cmd += ["-n", str(total)]
        if hosts:
            cmd += ["--hostfile", hostfile, "--npernode", str(nproc_per_node)]
        else:
            cmd += ["--oversubscribe"]
    else:                                            # Hydra (MPICH) and most others
        cmd += ["-n", str(total)]
        if hosts:
            cmd += ["-f", hostfile, "-ppn", str(nproc_per_node)]
    cmd += [sys.executable, "-m", "dlbasic.distributed.launch"]
    if module:
        cmd += ["-m"]
    return cmd + list(script_args)


def child_environment(nproc_per_node, env=None):
    env = dict(os.environ if env is None else env)
    env["DLBASIC_LAUNCHED"] = "1"
    env["LOCAL_WORLD_SIZE"] = str(nproc_per_node)
    if nproc_per_node > 1:
        share = str(max(1, (os.cpu_count() or 1) // nproc_per_node))
        for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env.setdefault(key, share)
    return env


def run(script_args, nproc_per_node=1, hostfile=None, module=False, mpiexec=None):
    """Run the job and return its exit status (non-zero when any rank failed)."""
    if nproc_per_node < 1:
        raise LaunchError(f"--nproc-per-node must be >= 1, got {nproc_per_node}")
    if not script_args:
        raise LaunchError("no script given: dlbasic run --nproc-per-node N script.py [args]")
    if not module and not os.path.isfile(script_args[0]):
        raise LaunchError(f"no such script: {script_args[0]}")
    cmd = build_command(script_args, nproc_per_node, hostfile, module, mpiexec)
    with tempfile.TemporaryDirectory(prefix="dlbasic-run-") as reports:
        env = child_environment(nproc_per_node)
        env["DLBASIC_RUN_REPORTS"] = reports
        try:
            status = subprocess.call(cmd, env=env)
        except KeyboardInterrupt:
            return 130
        if status != 0:
            _repeat_reports(reports)
    return status


def _repeat_reports(folder):
    """After a failed job, say again which rank failed and why (each failing rank of this
    machine left one line in ``folder``): an abort can overtake the forwarding of a rank's
    own output, and this summary is the launcher's, so it always reaches the user."""
    lines = []
    for name in sorted(os.listdir(folder)):
        try:
            with open(os.path.join(folder, name)) as f:
                lines += [line for line in f.read().splitlines() if line.strip()]
        except OSError:
            continue
    for line in lines:
        for prefix in ("dlbasic run: ", "dlbasic.distributed: "):
            line = line[len(prefix):] if line.startswith(prefix) else line
        sys.stderr.write(f"dlbasic run: the job failed: {line}\n")
    sys.stderr.flush()
