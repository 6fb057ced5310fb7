"""DDP + DistributedSampler on N ranks == one process on the N-times larger batch.

Each rank trains the DDP model on its DistributedSampler share with batch ``b``; beside it,
each rank also trains a plain copy on the full batch of ``N*b`` (the samples the N ranks see
together at that step), which is what one process would do.  After 20 SGD steps (momentum,
weight decay) the parameters must agree within 1e-5, and every rank must hold the same ones.
The model has a SyncBatchNorm, whose global statistics make the equivalence exact (plain
BatchNorm would normalise each rank's part of the batch by itself)."""
import sys

import numpy as np

import dlbasic as torch
import dlbasic.distributed as dist
from dlbasic import nn
from dlbasic.utils.data import DataLoader, TensorDataset, DistributedSampler

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
bucket_mb = float(sys.argv[1]) if len(sys.argv) > 1 else 25.0
b, steps = 4, 20

g = np.random.default_rng(0)
n = b * world * steps // 2 + 3            # an epoch that does not split evenly: padding
X = torch.from_numpy(g.standard_normal((n, 2, 6, 6)).astype(np.float32))
Y = torch.from_numpy(g.integers(0, 3, n))
ds = TensorDataset(X, Y)


def make_model(bn):
    torch.manual_seed(1234)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), bn(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 36, 8), nn.Tanh(), nn.Linear(8, 3))


torch.manual_seed(rank)                   # ranks start different: DDP must broadcast rank 0's
ddp_net = nn.SyncBatchNorm.convert_sync_batchnorm(make_model(nn.BatchNorm2d))
for p in ddp_net.parameters():
    p.data.add_(float(rank))              # deliberately different on each rank
ddp = nn.parallel.DistributedDataParallel(ddp_net, bucket_cap_mb=bucket_mb)
ref = make_model(nn.BatchNorm2d)
# DDP broadcast rank 0's weights, which are make_model's plus 0
for (name, p), q in zip(ddp.module.named_parameters(), ref.parameters()):
    assert np.array_equal(p.detach().numpy(), q.detach().numpy()), name

opt = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
ref_opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
lossf = nn.CrossEntropyLoss()

sampler = DistributedSampler(ds, shuffle=True, seed=7)
full = DistributedSampler(ds, num_replicas=1, rank=0, shuffle=True, seed=7)
done = 0
epoch = 0
while done < steps:
    sampler.set_epoch(epoch)
    full.set_epoch(epoch)
    mine = DataLoader(ds, batch_size=b, sampler=sampler)
    # the single process sees the same permutation, padded like the N ranks' shares together
    order = list(full)
    pad = sampler.total_size - len(order)
    order = (order + order[:pad]) if pad > 0 else order
    for k, (xb, yb) in enumerate(mine):
        if done == steps:
            break
        idx = order[k * b * world:(k + 1) * b * world]
        assert np.array_equal(yb.numpy(), Y.numpy()[idx[rank::world]])   # my share of it
        opt.zero_grad()
        lossf(ddp(xb), yb).backward()
        opt.step()
        ref_opt.zero_grad()
        lossf(ref(X[idx]), Y[idx]).backward()
        ref_opt.step()
        done += 1
    epoch += 1

worst = 0.0
for (name, p), q in zip(ddp.module.named_parameters(), ref.parameters()):
    diff = float(np.abs(p.detach().numpy() - q.detach().numpy()).max())
    worst = max(worst, diff)
    assert diff < 1e-5, f"rank {rank}: {name} differs from one process by {diff}"
# every rank holds the same parameters, bit for bit
flat = np.concatenate([p.detach().numpy().ravel() for p in ddp.parameters()])
everyone = [None] * world
dist.all_gather_object(everyone, flat)
for r in range(world):
    assert np.array_equal(everyone[r], flat), f"rank {r}'s parameters differ from rank {rank}'s"
assert list(ddp.state_dict())[0].startswith("module."), list(ddp.state_dict())[:3]
assert len(ddp._buckets) >= 1
print(f"rank {rank} of {world}: {steps} steps, {len(ddp._buckets)} buckets, max |DDP - one "
      f"process| = {worst:.2e}", flush=True)
dist.destroy_process_group()
