"""One rank of a ``dlbasic run`` job: ``python -m dlbasic.distributed.launch [-m] script args``.

It sets RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE from what mpiexec tells the process
(as torchrun sets them), runs the script as ``__main__``, and if the script raises or exits
with a non-zero status it prints why, naming the rank, and aborts the whole MPI job: mpiexec
then ends every other rank and exits non-zero, instead of leaving them waiting forever in a
collective for a rank that is gone.
"""
import os
import runpy
import sys
import traceback

_RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS")
_LOCAL_VARS = ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID")


def _first(names, default):
    for n in names:
        if os.environ.get(n, "").strip().isdigit():
            return int(os.environ[n])
    return default


def rank_environment():
    """(rank, world_size, local_rank) as the MPI launcher set them (0, 1, 0 outside MPI)."""
    rank, size = _first(_RANK_VARS, 0), _first(_SIZE_VARS, 1)
    # without a launcher's own local rank, ranks fill the machines in order, per_node each
    per_node = _first(("LOCAL_WORLD_SIZE",), size) or size
    return rank, size, _first(_LOCAL_VARS, rank % per_node)


def _abort(code, message):
    from .distributed_c10d import abort
    abort(code, message)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    module = bool(argv) and argv[0] == "-m"
    if module:
        argv = argv[1:]
    if not argv:
        sys.stderr.write("usage: python -m dlbasic.distributed.launch [-m] script [args]\n")
        return 2
    rank, size, local = rank_environment()
    os.environ.setdefault("RANK", str(rank))
    os.environ.setdefault("WORLD_SIZE", str(size))
    os.environ.setdefault("LOCAL_RANK", str(local))
    os.environ.setdefault("LOCAL_WORLD_SIZE", str(size))   # dlbasic run sets it per machine
    sys.argv = list(argv)
    try:
        if module:
            runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
        else:
            sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        if code is None or code == 0:
            return 0
        status = code if isinstance(code, int) else 1
        if size > 1:
            if not isinstance(code, int):
                sys.stderr.write(f"{code}\n")
            _abort(status, f"dlbasic run: rank {rank} of {size} exited with status "
                           f"{status}; aborting all {size} ranks\n")
        if not isinstance(code, int):
            sys.stderr.write(f"{code}\n")
        return status
    except BaseException as exc:                      # noqa: B902 -- every failure aborts
        if size > 1:
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            sys.stderr.write("".join(f"[rank {rank}] {line}\n"
                                     for line in text.rstrip().split("\n")))
            _abort(1, f"dlbasic run: rank {rank} of {size} failed with {type(exc).__name__}: "
                      f"{exc}; aborting all {size} ranks\n")
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
