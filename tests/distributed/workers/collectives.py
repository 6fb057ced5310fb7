"""Every collective, op and dtype against a NumPy reference computed from all ranks' inputs.

Rank r's input for a case is a deterministic function of (case, r), so each rank can compute
the expected result of the whole group by itself.  Prints one line per rank at the end; any
mismatch raises (and aborts the job)."""
import numpy as np

import dlbasic as torch
import dlbasic.distributed as dist

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
assert dist.is_initialized() and dist.get_backend() == "mpi"

DTYPES = [torch.float16, torch.float32, torch.float64, torch.int8, torch.int16, torch.int32,
          torch.int64, torch.uint8, torch.bool]
NP = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64,
      torch.int8: np.int8, torch.int16: np.int16, torch.int32: np.int32, torch.int64: np.int64,
      torch.uint8: np.uint8, torch.bool: np.bool_}


def data(case, r, dtype, shape=(3, 4)):
    rng = np.random.default_rng([case, r])
    if dtype == torch.bool:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if dtype.is_floating_point:
        return rng.uniform(0.5, 2.0, shape).astype(NP[dtype])
    return rng.integers(1, 4, shape).astype(NP[dtype])


def same(got, want, dtype, what):
    got = np.asarray(got)
    if dtype == torch.float16:
        ok = np.allclose(got.astype(np.float64), want.astype(np.float64), rtol=2e-3)
    elif dtype.is_floating_point:
        ok = np.allclose(got, want, rtol=1e-6 if dtype == torch.float32 else 1e-12)
    else:
        ok = np.array_equal(got, want)
    assert ok, f"rank {rank}: {what} {dtype}: got {got}, want {want}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, want {want.dtype}"


ops = {dist.ReduceOp.SUM: lambda xs: np.sum(xs, axis=0),
       dist.ReduceOp.PRODUCT: lambda xs: np.prod(xs, axis=0),
       dist.ReduceOp.MIN: lambda xs: np.min(xs, axis=0),
       dist.ReduceOp.MAX: lambda xs: np.max(xs, axis=0),
       dist.ReduceOp.AVG: lambda xs: np.mean(xs, axis=0)}
case = 0
checked = 0
for dt in DTYPES:
    for op, ref in ops.items():
        case += 1
        if dt == torch.bool and op is dist.ReduceOp.AVG:
            continue
        if op is dist.ReduceOp.AVG and not dt.is_floating_point:
            t = torch.from_numpy(data(case, rank, dt))
            try:
                dist.all_reduce(t, op=op)
            except RuntimeError as e:
                assert "AVG" in str(e) and "floating-point" in str(e), e
                continue
            raise AssertionError("integer AVG should be refused")
        inputs = [data(case, r, dt) for r in range(world)]
        if dt == torch.bool:
            want = {dist.ReduceOp.SUM: np.any, dist.ReduceOp.MAX: np.any,
                    dist.ReduceOp.PRODUCT: np.all, dist.ReduceOp.MIN: np.all}[op](inputs, axis=0)
        else:
            want = ref(np.stack(inputs).astype(np.float64 if dt.is_floating_point else np.int64))
            want = want.astype(NP[dt])
        # all_reduce, blocking and async, on a contiguous tensor and on a transposed view
        t = torch.from_numpy(inputs[rank].copy())
        assert dist.all_reduce(t, op=op) is None
        same(t.numpy(), want, dt, f"all_reduce {op}")
        base = torch.from_numpy(inputs[rank].T.copy())
        view = base.t()
        work = dist.all_reduce(view, op=op, async_op=True)
        work.wait()
        assert work.is_completed()
        same(view.numpy(), want, dt, f"all_reduce(async, view) {op}")
        # reduce to the last rank; the others keep their input
        t = torch.from_numpy(inputs[rank].copy())
        dist.reduce(t, dst=world - 1, op=op)
        same(t.numpy(), want if rank == world - 1 else inputs[rank], dt, f"reduce {op}")
        # reduce_scatter_tensor: rank r gets rows r of the reduced (world, 2) input
        parts = [data(case + 1000, r, dt, (world, 2)) for r in range(world)]
        if dt == torch.bool:
            full = {dist.ReduceOp.SUM: np.any, dist.ReduceOp.MAX: np.any,
                    dist.ReduceOp.PRODUCT: np.all, dist.ReduceOp.MIN: np.all}[op](parts, axis=0)
        else:
            full = ref(np.stack(parts).astype(np.float64 if dt.is_floating_point
                                              else np.int64)).astype(NP[dt])
        out = torch.zeros(2, dtype=dt)
        dist.reduce_scatter_tensor(out, torch.from_numpy(parts[rank]), op=op)
        same(out.numpy(), full[rank], dt, f"reduce_scatter_tensor {op}")
        checked += 4

for dt in DTYPES:
    case += 1
    inputs = [data(case, r, dt, (2, 3)) for r in range(world)]
    mine = torch.from_numpy(inputs[rank].copy())
    # broadcast from every source
    for src in range(world):
        t = torch.from_numpy(inputs[rank].copy())
        dist.broadcast(t, src=src)
        same(t.numpy(), inputs[src], dt, f"broadcast src={src}")
    # all_gather, all_gather_into_tensor (concatenated and stacked)
    lst = [torch.zeros(2, 3, dtype=dt) for _ in range(world)]
    dist.all_gather(lst, mine)
    for r in range(world):
        same(lst[r].numpy(), inputs[r], dt, "all_gather")
    cat = torch.zeros(2 * world, 3, dtype=dt)
    dist.all_gather_into_tensor(cat, mine)
    same(cat.numpy(), np.concatenate(inputs), dt, "all_gather_into_tensor cat")
    stk = torch.zeros(world, 2, 3, dtype=dt)
    dist.all_gather_into_tensor(stk, mine, async_op=True).wait()
    same(stk.numpy(), np.stack(inputs), dt, "all_gather_into_tensor stack")
    # gather / scatter with root 0 and root world-1
    for root in (0, world - 1):
        gl = [torch.zeros(2, 3, dtype=dt) for _ in range(world)] if rank == root else None
        dist.gather(mine, gl, dst=root)
        if rank == root:
            for r in range(world):
                same(gl[r].numpy(), inputs[r], dt, f"gather dst={root}")
        out = torch.zeros(2, 3, dtype=dt)
        sl = [torch.from_numpy(inputs[r]) for r in range(world)] if rank == root else None
        dist.scatter(out, sl, src=root)
        same(out.numpy(), inputs[rank], dt, f"scatter src={root}")
    # a ring of send/recv, and isend/irecv
    nxt, prv = (rank + 1) % world, (rank - 1) % world
    got = torch.zeros(2, 3, dtype=dt)
    if rank % 2 == 0:
        dist.send(mine, dst=nxt)
        sender = dist.recv(got, src=prv)
    else:
        sender = dist.recv(got)
        dist.send(mine, dst=nxt)
    assert sender == prv, (sender, prv)
    same(got.numpy(), inputs[prv], dt, "send/recv")
    got = torch.zeros(2, 3, dtype=dt)
    reqs = [dist.isend(mine, dst=nxt), dist.irecv(got, src=prv)]
    for w in reqs:
        w.wait()
    same(got.numpy(), inputs[prv], dt, "isend/irecv")
    checked += 8

# objects
objs = [None] * world
dist.all_gather_object(objs, {"rank": rank, "name": f"r{rank}"})
assert objs == [{"rank": r, "name": f"r{r}"} for r in range(world)], objs
lst = [rank, None] if rank == 1 else [None, None]
dist.broadcast_object_list(lst, src=1)
assert lst == [1, None], lst
gathered = [None] * world if rank == 0 else None
dist.gather_object(("g", rank), gathered, dst=0)
if rank == 0:
    assert gathered == [("g", r) for r in range(world)]
out = [None]
dist.scatter_object_list(out, [f"s{r}" for r in range(world)] if rank == 0 else None, src=0)
assert out == [f"s{rank}"], out

# a sub-group of ranks 0 and world-1: members reduce among themselves, others are left out
members = [0, world - 1]
g = dist.new_group(members)
t = torch.tensor([float(rank + 1)])
dist.all_reduce(t, group=g)
if rank in members:
    assert t.item() == 1.0 + world, t
    assert dist.get_world_size(g) == 2 and dist.get_rank(g) == members.index(rank)
else:
    assert g is dist.GroupMember.NON_GROUP_MEMBER and t.item() == rank + 1
    assert dist.get_rank(g) == -1

# errors a user can make get a message saying what was expected
for bad, words in ((lambda: dist.all_gather([torch.zeros(2)], torch.zeros(2)), "ranks"),
                   (lambda: dist.all_reduce([1, 2]), "Tensor"),
                   (lambda: dist.broadcast(torch.zeros(1), src=world), "not a rank"),
                   (lambda: dist.all_reduce(torch.zeros(1), op="sum"), "ReduceOp")):
    try:
        bad()
    except (ValueError, TypeError) as e:
        assert words in str(e), (words, str(e))
    else:
        raise AssertionError(f"no error for a {words} mistake")
try:
    dist.init_process_group("mpi")
except ValueError as e:
    assert "twice" in str(e)
dist.barrier()
dist.barrier(async_op=True).wait()
dist.destroy_process_group()
assert not dist.is_initialized()
print(f"rank {rank} of {world}: {checked} checks passed", flush=True)
