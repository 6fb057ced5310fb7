"""Dataset, sampler, batch sampler, collate, DataLoader (notes: "DataSet, DataLoader").

The notes: a ``Dataset`` maps an index to a sample; a ``DataLoader`` produces batches; while
you ``enumerate(dataloader)``, the loader asks its *sampler* for indices and calls the
dataset's ``__getitem__`` with them.  Here we watch that happen:

1. the sampler yields indices (``SequentialSampler``, or ``RandomSampler`` when
   ``shuffle=True``; a seeded ``generator`` makes the order reproducible);
2. the batch sampler groups them into lists of ``batch_size`` (``drop_last`` drops a short
   tail);
3. ``__getitem__`` is called once per index (we log the calls);
4. ``collate_fn`` (``default_collate``) stacks the samples into batch tensors;
5. with ``num_workers=2`` two worker processes call ``__getitem__`` in parallel: on a dataset
   whose samples are slow to load (decode, disk), an epoch takes about half the time once the
   workers are running (``persistent_workers=True`` keeps them between epochs).

    python examples/06_data_loading.py [--quick]
"""
import time

import numpy as np

from _common import parse_args, check, finish, figure, plt_or_note

import dlbasic as torch
from dlbasic.utils.data import (Dataset, DataLoader, SequentialSampler, RandomSampler,
                                BatchSampler, default_collate)


class Squares(Dataset):
    """Sample i = (tensor([i, i^2]), label i % 3); remembers which indices were fetched."""

    def __init__(self, n):
        self.n = n
        self.calls = []

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.calls.append(i)
        return torch.tensor([float(i), float(i * i)]), i % 3


class SlowDataset(Dataset):
    """Each sample takes ``delay`` seconds to "load" (like decoding an image from disk)."""

    def __init__(self, n, delay):
        self.n, self.delay = n, delay

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        time.sleep(self.delay)
        return np.full((3, 8, 8), i, dtype=np.float32), i


def epoch_time(loader):
    t0 = time.perf_counter()
    seen = 0
    for x, y in loader:
        seen += len(y)
    return time.perf_counter() - t0, seen


def main():
    args = parse_args(__doc__.splitlines()[0])
    ds = Squares(10)

    # 1. samplers produce indices
    seq = list(SequentialSampler(ds))
    g = torch.Generator().manual_seed(args.seed)
    rnd = list(RandomSampler(ds, generator=g))
    rnd_again = list(RandomSampler(ds, generator=torch.Generator().manual_seed(args.seed)))
    print(f"SequentialSampler: {seq}")
    print(f"RandomSampler:     {rnd}")
    check(seq == list(range(10)) and sorted(rnd) == seq and rnd == rnd_again,
          "samplers yield each index once; a seeded generator repeats the shuffle")

    # 2. batch sampler groups indices
    batches = list(BatchSampler(SequentialSampler(ds), batch_size=4, drop_last=False))
    dropped = list(BatchSampler(SequentialSampler(ds), batch_size=4, drop_last=True))
    print(f"BatchSampler(4):   {batches}   drop_last=True: {dropped}")
    check(batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and dropped == batches[:2],
          "BatchSampler groups indices into lists of batch_size; drop_last drops the tail")

    # 3 + 4. the DataLoader calls __getitem__ per index, then collates
    ds.calls.clear()
    loader = DataLoader(ds, batch_size=4, shuffle=True,
                        generator=torch.Generator().manual_seed(args.seed))
    print("enumerate(DataLoader(ds, batch_size=4, shuffle=True)):")
    out = []
    for step, (x, y) in enumerate(loader):
        print(f"  batch {step}: indices {x[:, 0].long().tolist()} -> x {tuple(x.shape)} "
              f"{x.dtype}, y {y.tolist()} {y.dtype}")
        out.append(x[:, 0].long().tolist())
    check(ds.calls == [i for b in out for i in b] and sorted(ds.calls) == list(range(10)),
          "the loader fetched each index once, in the sampler's order, via __getitem__")
    manual = default_collate([ds[i] for i in (3, 1)])
    check(tuple(manual[0].shape) == (2, 2) and manual[1].tolist() == [0, 1],
          "default_collate stacks the sample tensors and turns the labels into a tensor")
    custom = DataLoader(ds, batch_size=3, collate_fn=lambda samples: len(samples))
    check(list(custom) == [3, 3, 3, 1], "collate_fn decides what a batch is (here: its size)")

    # 5. num_workers 0 vs 2 on slow samples
    n, delay = (64, 0.008) if args.quick else (400, 0.008)
    slow = SlowDataset(n, delay)
    timings = {}
    for workers in (0, 2):
        # persistent workers, timed on the second epoch: the steady state, without the
        # one-off cost of starting the processes (which a long training run amortises)
        loader = DataLoader(slow, batch_size=8, num_workers=workers,
                            persistent_workers=workers > 0)
        epoch_time(loader)
        t, seen = epoch_time(loader)
        timings[workers] = t
        print(f"  num_workers={workers}: {seen} samples in {t:.3f}s "
              f"({seen / t:.0f} samples/s)")
    speedup = timings[0] / timings[2]
    check(speedup > 1.4, f"two workers load slow samples {speedup:.2f}x faster than the main "
          "process alone")

    plt = plt_or_note("the data-loading figure")
    if plt is not None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.bar(["num_workers=0", "num_workers=2"], [n / timings[0], n / timings[2]],
               color=["0.6", "C0"])
        ax.set_ylabel("samples / s")
        ax.set_title(f"{delay * 1000:.0f} ms per sample: {speedup:.1f}x with 2 workers")
        figure(args, "06_data_loading", fig)
    finish()


if __name__ == "__main__":
    main()
