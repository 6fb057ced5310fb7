"""A job in which one rank fails while the others wait in a collective (they must not hang).

    fault.py raise|kill|exit RANK [nograce]

``nograce`` aborts without the pause that lets the launcher forward the rank's stderr first
(the race a loaded machine can lose), to show the launcher's own summary still names the rank."""
import os
import signal
import sys
import time

import dlbasic as torch
import dlbasic.distributed as dist

how, bad = sys.argv[1], int(sys.argv[2])
if sys.argv[3:] == ["nograce"]:
    import dlbasic.distributed.distributed_c10d as c10d
    c10d._ABORT_GRACE_S = 0.0
dist.init_process_group("mpi")
rank = dist.get_rank()
print(f"rank {rank} started", flush=True)
if rank == bad:
    time.sleep(0.5)
    if how == "raise":
        raise ValueError("a bug in rank %d" % rank)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "exit":
        sys.exit(3)
t = torch.ones(3)
dist.all_reduce(t)            # the others wait here for the rank that is gone
print(f"rank {rank} should never get here", flush=True)
