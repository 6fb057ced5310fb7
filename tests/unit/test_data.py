"""dlbasic.utils.data in one process: datasets, random_split, collation, DataLoader options."""
import collections
import warnings

import numpy as np
import pytest

import dlbasic
from dlbasic.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset,
                                IterableDataset, RandomSampler, SequentialSampler, StackDataset,
                                Subset, SubsetRandomSampler, TensorDataset,
                                WeightedRandomSampler, default_collate, default_convert,
                                get_worker_info, random_split)


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i * i


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


class SizedStream(Stream):
    def __len__(self):
        return self.n


# -- datasets ----------------------------------------------------------------------------

def test_tensor_dataset_returns_rows_of_every_tensor():
    x = dlbasic.arange(12, dtype=dlbasic.float32).reshape(6, 2)
    y = dlbasic.arange(6)
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    xi, yi = ds[4]
    assert xi.tolist() == [8.0, 9.0] and yi.item() == 4
    assert yi.dtype == dlbasic.int64 and yi.shape == ()
    assert [v.tolist() for v in ds[1:3]] == [[[2.0, 3.0], [4.0, 5.0]], [1, 2]]
    with pytest.raises(IndexError):
        ds[6]


def test_tensor_dataset_size_mismatch():
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(dlbasic.zeros(3, 2), dlbasic.zeros(4))


def test_subset_concat_and_add():
    ds = Squares(5)
    sub = Subset(ds, [4, 0, 2])
    assert len(sub) == 3 and [sub[i] for i in range(3)] == [16, 0, 4]
    cat = ConcatDataset([Squares(2), Squares(3)])
    assert len(cat) == 5 and [cat[i] for i in range(5)] == [0, 1, 0, 1, 4]
    assert cat[-1] == 4 and cat.cumulative_sizes == [2, 5]
    with pytest.raises(ValueError, match="absolute value of index"):
        cat[-6]
    assert len(Squares(2) + Squares(4)) == 6
    with pytest.raises(AssertionError, match="empty iterable"):
        ConcatDataset([])
    with pytest.raises(AssertionError, match="does not support IterableDataset"):
        ConcatDataset([Stream(3)])


def test_stack_dataset_tuple_and_dict():
    st = StackDataset(Squares(3), Squares(3))
    assert st[2] == (4, 4)
    sd = StackDataset(a=Squares(3), b=Squares(3))
    assert sd[1] == {"a": 1, "b": 1}
    with pytest.raises(ValueError, match="Size mismatch"):
        StackDataset(Squares(3), Squares(2))


def test_random_split_lengths_partition_the_dataset():
    ds = Squares(10)
    a, b = random_split(ds, [3, 7], generator=dlbasic.Generator().manual_seed(1))
    assert len(a) == 3 and len(b) == 7
    assert sorted(a.indices + b.indices) == list(range(10))
    a2, _ = random_split(ds, [3, 7], generator=dlbasic.Generator().manual_seed(1))
    assert a.indices == a2.indices            # same seed, same split
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [3, 3])


def test_random_split_fractions_follow_torchs_rounding():
    # floor each, then the remainder goes round-robin from the first split
    sizes = [len(s) for s in random_split(Squares(10), [0.33, 0.33, 0.34])]
    assert sizes == [4, 3, 3]
    sizes = [len(s) for s in random_split(Squares(11), [0.5, 0.5])]
    assert sizes == [6, 5]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        sizes = [len(s) for s in random_split(Squares(2), [0.1, 0.1, 0.8])]
    assert sizes == [1, 0, 1]
    assert any("Length of split at index 1 is 0" in str(x.message) for x in w)
    with pytest.raises(ValueError, match="Fraction at index 0 is not between 0 and 1"):
        random_split(Squares(4), [-0.5, 1.5])


# -- collation -----------------------------------------------------------------------------

def test_default_collate_numbers_follow_torch_dtypes():
    ints = default_collate([1, 2, 3])
    assert ints.dtype == dlbasic.int64 and ints.tolist() == [1, 2, 3]
    floats = default_collate([0.5, 1.5])
    assert floats.dtype == dlbasic.float64 and floats.tolist() == [0.5, 1.5]
    bools = default_collate([True, False])
    assert bools.dtype == dlbasic.bool and bools.tolist() == [True, False]
    scalars = default_collate([np.float32(1.5), np.float32(2.0)])
    assert scalars.dtype == dlbasic.float32 and scalars.tolist() == [1.5, 2.0]


def test_default_collate_stacks_arrays_and_tensors():
    arrs = default_collate([np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)])
    assert isinstance(arrs, dlbasic.Tensor) and arrs.shape == (2, 2, 3)
    assert arrs.dtype == dlbasic.float32 and arrs[0].sum().item() == 6
    ts = default_collate([dlbasic.tensor([1, 2]), dlbasic.tensor([3, 4])])
    assert ts.tolist() == [[1, 2], [3, 4]] and ts.dtype == dlbasic.int64
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        default_collate([dlbasic.zeros(2), dlbasic.zeros(3)])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([np.array(["a", "b"]), np.array(["c", "d"])])


def test_default_collate_keeps_gradients_flowing():
    a = dlbasic.ones(2, requires_grad=True)
    b = dlbasic.ones(2, requires_grad=True)
    out = default_collate([a, b])
    out.sum().backward()
    assert a.grad.tolist() == [1.0, 1.0]


def test_default_collate_containers():
    assert default_collate(["a", "b"]) == ["a", "b"]
    # a batch of (x, y) tuples becomes a list [xs, ys]
    pairs = default_collate([(1, 0.5), (2, 1.5)])
    assert isinstance(pairs, list) and pairs[0].tolist() == [1, 2]
    assert pairs[1].dtype == dlbasic.float64
    lists = default_collate([[1, 2], [3, 4]])
    assert [t.tolist() for t in lists] == [[1, 3], [2, 4]]
    d = default_collate([{"x": 1, "s": "a"}, {"x": 2, "s": "b"}])
    assert d["x"].tolist() == [1, 2] and d["s"] == ["a", "b"]
    Point = collections.namedtuple("Point", "x y")
    p = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(p, Point) and p.x.tolist() == [1, 3] and p.y.tolist() == [2.0, 4.0]
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="found <class 'object'>"):
        default_collate([object(), object()])


def test_default_convert():
    t = default_convert(np.arange(3))
    assert isinstance(t, dlbasic.Tensor) and t.tolist() == [0, 1, 2]
    assert default_convert(3) == 3 and default_convert("s") == "s"
    conv = default_convert((np.zeros(2), 1))
    assert isinstance(conv, list) and isinstance(conv[0], dlbasic.Tensor) and conv[1] == 1
    assert isinstance(default_convert({"a": np.ones(1)})["a"], dlbasic.Tensor)


# -- DataLoader ------------------------------------------------------------------------------

def test_loader_batches_in_order_and_len():
    dl = DataLoader(Squares(10), batch_size=4)
    batches = [b.tolist() for b in dl]
    assert batches == [[0, 1, 4, 9], [16, 25, 36, 49], [64, 81]]
    assert len(dl) == 3
    dl = DataLoader(Squares(10), batch_size=4, drop_last=True)
    assert [len(b) for b in dl] == [4, 4] and len(dl) == 2


def test_loader_training_loop_shape_from_notes():
    x = dlbasic.randn(20, 1, 4, 4)
    y = dlbasic.arange(20) % 3
    seen = 0
    for idx, (img, label) in enumerate(DataLoader(TensorDataset(x, y), batch_size=8)):
        assert img.shape[1:] == (1, 4, 4) and label.dtype == dlbasic.int64
        assert np.array_equal(img.numpy(), x.numpy()[seen:seen + len(label)])
        seen += len(label)
    assert seen == 20 and idx == 2


def test_shuffle_same_seed_same_order_and_new_order_per_epoch():
    dlbasic.manual_seed(3)
    dl = DataLoader(Squares(20), batch_size=5, shuffle=True)
    e1 = [b.tolist() for b in dl]
    e2 = [b.tolist() for b in dl]
    dlbasic.manual_seed(3)
    assert [b.tolist() for b in dl] == e1
    assert e1 != e2
    assert sorted(sum(e1, [])) == sorted(i * i for i in range(20))
    g1 = dlbasic.Generator().manual_seed(7)
    g2 = dlbasic.Generator().manual_seed(7)
    a = [b.tolist() for b in DataLoader(Squares(20), batch_size=5, shuffle=True, generator=g1)]
    b = [b.tolist() for b in DataLoader(Squares(20), batch_size=5, shuffle=True, generator=g2)]
    assert a == b


def test_batch_size_none_disables_auto_batching():
    dl = DataLoader(Squares(3), batch_size=None)
    assert list(dl) == [0, 1, 4] and len(dl) == 3
    arrs = list(DataLoader([np.ones(2)], batch_size=None))
    assert isinstance(arrs[0], dlbasic.Tensor) and arrs[0].shape == (2,)


def test_custom_batch_sampler_and_collate_fn():
    bs = BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False)
    dl = DataLoader(Squares(5), batch_sampler=bs, collate_fn=lambda b: sum(b))
    assert list(dl) == [1, 13, 16] and len(dl) == 3


def test_iterable_dataset_single_process():
    dl = DataLoader(Stream(7), batch_size=3)
    assert [b.tolist() for b in dl] == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(TypeError):
        len(dl)                  # the stream has no length
    dl = DataLoader(SizedStream(7), batch_size=3)
    assert len(dl) == 3          # from the dataset's __len__, like torch
    dl = DataLoader(SizedStream(7), batch_size=3, drop_last=True)
    assert [b.tolist() for b in dl] == [[0, 1, 2], [3, 4, 5]] and len(dl) == 2
    assert get_worker_info() is None


@pytest.mark.parametrize("kwargs, message", [
    (dict(sampler=SequentialSampler(range(4)), shuffle=True),
     "sampler option is mutually exclusive with shuffle"),
    (dict(batch_sampler=BatchSampler(range(4), 2, False), batch_size=2),
     "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and "
     "drop_last"),
    (dict(batch_sampler=BatchSampler(range(4), 2, False), drop_last=True),
     "batch_sampler option is mutually exclusive"),
    (dict(batch_sampler=BatchSampler(range(4), 2, False), shuffle=True),
     "batch_sampler option is mutually exclusive"),
    (dict(batch_size=None, drop_last=True),
     "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"),
    (dict(num_workers=-1), "num_workers option should be non-negative"),
    (dict(timeout=-1), "timeout option should be non-negative"),
    (dict(prefetch_factor=2), "prefetch_factor option could only be specified in "
                              "multiprocessing"),
    (dict(num_workers=1, prefetch_factor=-1), "prefetch_factor option should be non-negative"),
    (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
    (dict(multiprocessing_context="fork"), "multiprocessing_context can only be used"),
    (dict(num_workers=1, multiprocessing_context="nope"), "should specify a valid start method"),
])
def test_mutually_exclusive_options_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        DataLoader(Squares(4), **kwargs)


def test_iterable_dataset_rejects_shuffle_and_samplers():
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Stream(3), shuffle=True)
    with pytest.raises(ValueError, match="expected unspecified sampler option"):
        DataLoader(Stream(3), sampler=SequentialSampler(range(3)))


def test_loader_attributes_frozen_after_init():
    dl = DataLoader(Squares(4), batch_size=2)
    with pytest.raises(ValueError, match="batch_size attribute should not be set after "
                                         "DataLoader is initialized"):
        dl.batch_size = 3
    dl.num_workers = 0           # allowed, like torch


def test_default_prefetch_factor():
    assert DataLoader(Squares(4)).prefetch_factor is None
    assert DataLoader(Squares(4), num_workers=2).prefetch_factor == 2


def test_sampler_argument_validation():
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value"):
        BatchSampler(range(3), 2, 1)
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(ValueError, match="weights should be a 1d sequence"):
        WeightedRandomSampler([[1.0, 2.0]], 2)
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist"):
        list(WeightedRandomSampler([1.0, 2.0], 3, replacement=False))


def test_subset_random_sampler_uses_given_indices():
    s = SubsetRandomSampler([10, 20, 30], generator=dlbasic.Generator().manual_seed(0))
    out = list(s)
    assert sorted(out) == [10, 20, 30] and len(s) == 3


def test_tensor_dataset_fast_path_equals_per_sample_collation():
    x = dlbasic.randn(30, 3, 2)
    y = dlbasic.arange(30)
    ds = TensorDataset(x, y)
    sub = random_split(ds, [20, 10], generator=dlbasic.Generator().manual_seed(2))[0]
    nested = Subset(sub, [5, -1, 0, 3])
    for data in (ds, sub, nested):
        fast = list(DataLoader(data, batch_size=7, shuffle=True,
                               generator=dlbasic.Generator().manual_seed(1)))
        slow = list(DataLoader(data, batch_size=7, shuffle=True,
                               generator=dlbasic.Generator().manual_seed(1),
                               collate_fn=lambda b: default_collate(b)))
        assert len(fast) == len(slow)
        for f, s in zip(fast, slow):
            assert isinstance(f, list) and len(f) == 2
            for a, b in zip(f, s):
                assert a.dtype == b.dtype and a.shape == b.shape
                assert np.array_equal(a.numpy(), b.numpy())
    with pytest.raises(IndexError):
        list(DataLoader(Subset(ds, [0, 99]), batch_size=2))
