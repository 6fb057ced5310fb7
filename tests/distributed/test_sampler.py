"""DistributedSampler: PyTorch's exact indices without shuffling; with shuffling one
permutation per epoch shared by all ranks."""
import pytest

from dlbasic.utils.data import DistributedSampler

torch = pytest.importorskip("torch")
from torch.utils.data import DistributedSampler as TorchSampler     # noqa: E402


@pytest.mark.parametrize("n", [1, 2, 5, 10, 11, 17])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_unshuffled_indices_are_torchs(n, world, drop_last):
    data = list(range(n))
    for r in range(world):
        ours = DistributedSampler(data, world, r, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(data, world, r, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)


@pytest.mark.parametrize("world", [2, 3])
def test_shuffled_shares_partition_one_permutation_per_epoch(world):
    data = list(range(20))
    epochs = []
    for epoch in range(3):
        shares = []
        for r in range(world):
            s = DistributedSampler(data, world, r, shuffle=True, seed=5)
            s.set_epoch(epoch)
            shares.append(list(s))
        assert all(len(x) == len(shares[0]) for x in shares)
        flat = sorted(i for x in shares for i in x)
        assert set(flat) == set(data)                # everything once, padding repeats some
        assert len(flat) == 21 if world == 3 else len(flat) == 20
        epochs.append(shares)
    assert epochs[0] != epochs[1] != epochs[2]
    again = DistributedSampler(data, world, 0, shuffle=True, seed=5)
    again.set_epoch(1)
    assert list(again) == epochs[1][0]               # a pure function of seed + epoch


def test_bad_rank_is_refused_like_torch():
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(list(range(4)), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        DistributedSampler(list(range(4)))
