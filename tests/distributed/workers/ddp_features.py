"""no_sync() accumulation, find_unused_parameters, the unused-parameter error, and a model
mismatch between ranks caught at construction."""
import numpy as np

import dlbasic as torch
import dlbasic.distributed as dist
from dlbasic import nn

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 2))


def batch(step, r):
    g = np.random.default_rng([step, r])
    return torch.from_numpy(g.standard_normal((3, 5)).astype(np.float64))


# 1. no_sync: two local micro-batches, then a synchronised one == the average over ranks of
#    each rank's gradient of the three micro-batches
model = net().double()
ddp = nn.parallel.DistributedDataParallel(model)
with ddp.no_sync():
    ddp(batch(0, rank)).pow(2).sum().backward()
    ddp(batch(1, rank)).pow(2).sum().backward()
ddp(batch(2, rank)).pow(2).sum().backward()
grads = [p.grad.numpy().copy() for p in model.parameters()]
want = [np.zeros_like(g) for g in grads]
for r in range(world):
    ref = net().double()
    for s in range(3):
        ref(batch(s, r)).pow(2).sum().backward()
    for w, p in zip(want, ref.parameters()):
        w += p.grad.numpy() / world
for g, w in zip(grads, want):
    assert np.allclose(g, w, atol=1e-12), np.abs(g - w).max()


# 2. find_unused_parameters: rank 0 uses a branch the others do not
class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(4, 3)
        self.never = nn.Linear(4, 3)

    def forward(self, x, use_b):
        y = self.a(x)
        return y + self.b(x) if use_b else y


m = Branchy().double()
ddp = nn.parallel.DistributedDataParallel(m, find_unused_parameters=True)
x = torch.ones(2, 4, dtype=torch.float64) * (rank + 1)
ddp(x, use_b=(rank == 0)).sum().backward()
# a: used everywhere, averaged; b: used on rank 0 only -> its grad / world everywhere;
# never: unused on every rank -> no gradient at all
ga = sum(2.0 * (r + 1) for r in range(world)) / world
assert np.allclose(m.a.weight.grad.numpy(), ga), m.a.weight.grad
assert np.allclose(m.b.weight.grad.numpy(), 2.0 / world), m.b.weight.grad
assert m.never.weight.grad is None and m.never.bias.grad is None

# 3. without find_unused_parameters an unused parameter is an error naming the option
m = Branchy().double()
ddp = nn.parallel.DistributedDataParallel(m)
try:
    ddp(x, use_b=True).sum().backward()
except RuntimeError as e:
    assert "find_unused_parameters=True" in str(e) and "never.weight" in str(e), e
else:
    raise AssertionError("an unused parameter went unnoticed")

# 4. ranks with different models are refused at construction, on every rank
torch.manual_seed(0)
odd = nn.Linear(4, 3 + (rank == world - 1))
try:
    nn.parallel.DistributedDataParallel(odd)
except RuntimeError as e:
    assert "DDP expects same model across all ranks" in str(e) and f"rank {world - 1}" in str(e), e
else:
    raise AssertionError("a model mismatch went unnoticed")
odd2 = nn.Sequential(*[nn.Linear(2, 2) for _ in range(1 + (rank == world - 1))])
try:
    nn.parallel.DistributedDataParallel(odd2)
except RuntimeError as e:
    assert "inconsistent" in str(e), e
else:
    raise AssertionError("a parameter-count mismatch went unnoticed")

# 5. buffers (BatchNorm running statistics) follow rank 0 at every training forward
bn = nn.BatchNorm1d(3)
ddp = nn.parallel.DistributedDataParallel(bn)
ddp(torch.randn(4, 3) + rank)
state = [None] * world
dist.all_gather_object(state, bn.running_mean.numpy().copy())
before = state[0]
ddp(torch.zeros(4, 3))        # rank 0's stats from the previous step are broadcast first
dist.all_gather_object(state, bn.running_mean.numpy().copy())
for s in state:
    assert np.allclose(s, state[0]), state
print(f"rank {rank} of {world}: no_sync, find_unused_parameters, mismatch checks passed",
      flush=True)
dist.destroy_process_group()
