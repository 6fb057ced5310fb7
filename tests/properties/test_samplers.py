"""Hypothesis properties of samplers and batching, with and without worker processes."""
import collections
import time

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import dlbasic
from dlbasic.utils.data import (BatchSampler, DataLoader, Dataset, RandomSampler,
                                SequentialSampler, SubsetRandomSampler, TensorDataset,
                                WeightedRandomSampler)

FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
# each example starts worker processes: keep these few
WORKERS = settings(max_examples=6, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture])

sizes = st.integers(1, 60)
seeds = st.integers(0, 2 ** 32 - 1)


def gen(seed):
    return dlbasic.Generator().manual_seed(seed)


@FAST
@given(n=sizes)
def test_sequential_sampler_is_range(n):
    assert list(SequentialSampler(range(n))) == list(range(n))


@FAST
@given(n=sizes, seed=seeds)
def test_random_sampler_is_a_permutation(n, seed):
    s = RandomSampler(range(n), generator=gen(seed))
    out = list(s)
    assert sorted(out) == list(range(n)) and len(s) == n


@FAST
@given(n=sizes, extra=st.integers(1, 150), seed=seeds)
def test_random_sampler_num_samples_without_replacement_counts(n, extra, seed):
    # whole permutations first, then part of one: every index appears floor or ceil times
    out = list(RandomSampler(range(n), num_samples=extra, generator=gen(seed)))
    assert len(out) == extra
    counts = collections.Counter(out)
    lo, hi = extra // n, -(-extra // n)
    assert all(lo <= counts.get(i, 0) <= hi for i in range(n))
    assert sum(1 for i in range(n) if counts.get(i, 0) == hi) == (extra % n or n)


@FAST
@given(n=sizes, k=st.integers(1, 100), seed=seeds)
def test_random_sampler_with_replacement_stays_in_range(n, k, seed):
    out = list(RandomSampler(range(n), replacement=True, num_samples=k, generator=gen(seed)))
    assert len(out) == k and all(0 <= i < n for i in out)


@FAST
@given(indices=st.lists(st.integers(0, 1000), min_size=1, max_size=40, unique=True),
       seed=seeds)
def test_subset_random_sampler_yields_each_index_once(indices, seed):
    assert sorted(SubsetRandomSampler(indices, generator=gen(seed))) == sorted(indices)


@FAST
@given(n=sizes, seed=seeds)
def test_same_seed_same_order(n, seed):
    a = list(RandomSampler(range(n), generator=gen(seed)))
    b = list(RandomSampler(range(n), generator=gen(seed)))
    assert a == b
    dlbasic.manual_seed(seed)
    c = list(RandomSampler(range(n)))
    dlbasic.manual_seed(seed)
    assert list(RandomSampler(range(n))) == c


@FAST
@given(n=st.integers(0, 60), batch_size=st.integers(1, 17), drop_last=st.booleans(),
       shuffle=st.booleans())
def test_batch_sizes_and_drop_last(n, batch_size, drop_last, shuffle):
    base = RandomSampler(range(n), generator=gen(0)) if shuffle and n else range(n)
    batches = list(BatchSampler(base, batch_size, drop_last))
    full, rest = divmod(n, batch_size)
    expect = [batch_size] * full + ([rest] if rest and not drop_last else [])
    assert [len(b) for b in batches] == expect
    assert len(BatchSampler(base, batch_size, drop_last)) == len(expect)
    flat = sum(batches, [])
    assert len(set(flat)) == len(flat)           # no index twice
    if not drop_last:
        assert sorted(flat) == list(range(n))


@FAST
@given(n=st.integers(1, 50), batch_size=st.integers(1, 12), drop_last=st.booleans(),
       seed=seeds)
def test_loader_len_matches_iteration(n, batch_size, drop_last, seed):
    dl = DataLoader(list(range(n)), batch_size=batch_size, drop_last=drop_last, shuffle=True,
                    generator=gen(seed))
    batches = list(dl)
    assert len(batches) == len(dl)
    if not drop_last:
        assert sorted(sum((b.tolist() for b in batches), [])) == list(range(n))


@settings(max_examples=8, deadline=None)
@given(weights=st.lists(st.floats(0.5, 10.0), min_size=2, max_size=6), seed=seeds)
def test_weighted_sampler_frequencies_within_tolerance(weights, seed):
    k = 20000
    out = np.array(list(WeightedRandomSampler(weights, k, generator=gen(seed))))
    freq = np.bincount(out, minlength=len(weights)) / k
    p = np.array(weights) / sum(weights)
    # 5 standard errors of a binomial proportion: fails by chance with p < 1e-6
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / k))


@FAST
@given(weights=st.lists(st.floats(0.1, 5.0), min_size=1, max_size=20), seed=seeds)
def test_weighted_sampler_without_replacement_is_distinct(weights, seed):
    k = len(weights)
    out = list(WeightedRandomSampler(weights, k, replacement=False, generator=gen(seed)))
    assert sorted(out) == list(range(k))


def test_weighted_sampler_never_draws_zero_weight():
    out = list(WeightedRandomSampler([0.0, 1.0, 0.0, 2.0], 500, generator=gen(1)))
    assert set(out) <= {1, 3} and {1, 3} <= set(out)


class Rows(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.array([i, -i], dtype=np.int64), float(i) / 2


@WORKERS
@given(n=st.integers(1, 30), batch_size=st.integers(1, 7), drop_last=st.booleans(),
       seed=seeds, num_workers=st.integers(1, 2))
def test_workers_and_main_process_yield_identical_batches(n, batch_size, drop_last, seed,
                                                         num_workers):
    def run(workers):
        dlbasic.manual_seed(seed)
        dl = DataLoader(Rows(n), batch_size=batch_size, shuffle=True, drop_last=drop_last,
                        num_workers=workers)
        return [(x.numpy().tolist(), y.numpy().tolist(), str(y.dtype)) for x, y in dl]

    assert run(0) == run(num_workers)


class Explodes(Dataset):
    def __init__(self, bad):
        self.bad = bad

    def __len__(self):
        return 20

    def __getitem__(self, i):
        if i == self.bad:
            raise ZeroDivisionError(f"bad sample {i}")
        return i


@WORKERS
@given(bad=st.integers(0, 19), batch_size=st.integers(1, 5))
def test_worker_exception_surfaces_within_seconds(bad, batch_size):
    start = time.monotonic()
    try:
        list(DataLoader(Explodes(bad), batch_size=batch_size, num_workers=2, timeout=10))
    except ZeroDivisionError as e:
        assert f"bad sample {bad}" in str(e) and "DataLoader worker process" in str(e)
    else:
        raise AssertionError("the worker's exception was swallowed")
    assert time.monotonic() - start < 5.0


def test_tensor_dataset_batches_are_views_of_the_same_rows():
    x = dlbasic.arange(20).reshape(10, 2)
    out = list(DataLoader(TensorDataset(x), batch_size=3, sampler=SequentialSampler(range(10))))
    assert np.array_equal(np.concatenate([b[0].numpy() for b in out]), x.numpy())
