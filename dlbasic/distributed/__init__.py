"""Data-parallel training across processes and machines on MPI, with torch.distributed's API.

    dlbasic run --nproc-per-node 2 train.py        # or: mpiexec -n 2 python train.py

    import dlbasic.distributed as dist
    dist.init_process_group("mpi")
    model = nn.parallel.DistributedDataParallel(model)
    sampler = utils.data.distributed.DistributedSampler(dataset)

The collectives are in distributed_c10d.py (torch's file name), the launcher in run.py.
docs/distributed.md tells the whole story: launching, faults, what scales and why.
"""
from .distributed_c10d import *                                       # noqa: F401,F403
from .distributed_c10d import abort                                   # noqa: F401
from .distributed_c10d import __all__ as _c10d_all

__all__ = list(_c10d_all) + ["abort"]
