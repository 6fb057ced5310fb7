"""The collectives against NumPy references, with 2 and 3 ranks (3 oversubscribes a 2-core
machine, which MPI allows), and the process-group basics that need no MPI job."""
import pytest

import dlbasic.distributed as dist

from ._launch import run_mpi, check


@pytest.mark.parametrize("world", [2, 3])
def test_every_collective_op_and_dtype_matches_numpy(world):
    proc, _ = run_mpi(world, "collectives.py", timeout=240)
    out = check(proc)
    for r in range(world):
        assert f"rank {r} of {world}:" in out and "checks passed" in out


def test_without_init_process_group_calls_explain_what_to_do():
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.get_rank()
    import dlbasic
    with pytest.raises(ValueError, match="init_process_group"):
        dist.all_reduce(dlbasic.ones(2))


def test_gpu_backends_are_refused_with_the_cpu_alternative():
    with pytest.raises(RuntimeError, match="backend='mpi'"):
        dist.init_process_group("nccl")
    with pytest.raises(ValueError, match="Invalid backend"):
        dist.init_process_group("carrier-pigeon")
    assert not dist.is_initialized()


def test_reduce_op_names_and_availability():
    assert [op.name for op in dist.ReduceOp][:5] == ["SUM", "AVG", "PRODUCT", "MIN", "MAX"]
    assert dist.is_available() and dist.is_mpi_available()
    assert not dist.is_nccl_available()
