"""DistributedDataParallel: equivalence with one process, accumulation, unused parameters,
mismatched models; SyncBatchNorm's global statistics (inside the equivalence run)."""
import pytest

from ._launch import run_mpi, check


@pytest.mark.parametrize("world,bucket_mb", [(2, 25.0), (2, 0.0005), (3, 0.0005)])
def test_ddp_on_n_ranks_equals_one_process_on_the_whole_batch(world, bucket_mb):
    # 0.0005 MB buckets split the model into several buckets (reduced as each fills)
    proc, _ = run_mpi(world, "ddp_equivalence.py", bucket_mb, timeout=240)
    out = check(proc)
    assert out.count("20 steps") == world
    if bucket_mb < 1:
        assert "1 buckets" not in out


def test_no_sync_unused_parameters_and_model_mismatch():
    out = check(run_mpi(2, "ddp_features.py")[0])
    assert out.count("checks passed") == 2


def test_sync_batchnorm_without_a_process_group_is_batchnorm():
    import numpy as np
    import dlbasic as torch
    from dlbasic import nn
    x = torch.randn(6, 3, 4, 4)
    bn, sbn = nn.BatchNorm2d(3), nn.SyncBatchNorm(3)
    assert np.allclose(bn(x).detach().numpy(), sbn(x).detach().numpy())
    assert np.allclose(bn.running_var.numpy(), sbn.running_var.numpy())
    with pytest.raises(ValueError, match="expected at least 2D input"):
        sbn(torch.randn(3))
    tree = nn.SyncBatchNorm.convert_sync_batchnorm(
        nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3), nn.Sequential(nn.BatchNorm1d(2))))
    assert [type(m).__name__ for m in tree.modules()] == [
        "Sequential", "Conv2d", "SyncBatchNorm", "Sequential", "SyncBatchNorm"]


def test_ddp_needs_a_process_group():
    from dlbasic import nn
    with pytest.raises(ValueError, match="init_process_group"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2))
