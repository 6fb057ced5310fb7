"""``DistributedDataParallel``: the same model on every rank, each on its own part of the batch.

Data parallelism in three steps, all inside this class:

1. At construction rank 0's parameters and buffers are broadcast, so every rank starts from
   the same model (and a rank whose model has other shapes is refused with a clear error).
2. Each rank runs forward and backward on its own samples.  The gradients are averaged over
   the ranks: ``grad = (1/world_size) * sum over ranks of the rank's grad`` -- for a loss that
   is a mean over the batch this is exactly the gradient of the mean over all ranks' samples.
3. So every rank's optimizer takes the same step, and the models stay identical.

The averaging is bucketed and overlapped with backward, as PyTorch's: parameters are grouped,
in reverse order of ``module.parameters()`` (roughly the order backward produces their
gradients), into buckets of about ``bucket_cap_mb`` (the first one 1 MB, so communication
starts early).  Each parameter's post-accumulate-grad hook copies its gradient into its bucket;
a full bucket starts a non-blocking ``Iallreduce`` while backward goes on with earlier layers.
Buckets start in index order on every rank (MPI needs the same order everywhere).  When
backward ends, one final callback waits for the reductions and writes the averages back into
``param.grad``.
"""
import contextlib
import itertools

import numpy as np

from ... import distributed as dist
from ..._creation import from_numpy
from ..._tensor_base import TensorBase
from ...autograd import engine
from ...autograd.grad_mode import is_grad_enabled
from ..modules.module import Module

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1024 * 1024
_DEFAULT_BUCKET_MB = 25


class _Bucket:
    __slots__ = ("index", "params", "offsets", "buffer", "pending", "request", "dtype")

    def __init__(self, index, params, dtype):
        self.index = index
        self.params = params                  # indices into DDP._params
        self.dtype = dtype
        self.offsets = []
        self.buffer = None
        self.pending = 0
        self.request = None


class DistributedDataParallel(Module):
    """Wraps ``module``; call it as the module.  ``model.module`` is the wrapped model, and
    ``state_dict()`` keys carry the ``module.`` prefix, as in PyTorch."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0,
                 broadcast_buffers=True, init_sync=True, process_group=None,
                 bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, **unsupported):
        super().__init__()
        for key, value in unsupported.items():
            if value not in (None, False):
                raise NotImplementedError(f"DistributedDataParallel({key}=...) is not supported "
                                          "by dlbasic")
        if device_ids not in (None, [], ["cpu"]) or output_device not in (None, "cpu"):
            raise ValueError("DistributedDataParallel: dlbasic runs on the CPU; pass "
                             f"device_ids=None (got device_ids={device_ids!r})")
        if not dist.is_initialized():
            raise ValueError("Default process group has not been initialized, please make "
                             "sure to call init_process_group.")
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an nn.Module, got "
                            f"{type(module).__name__}")
        self.module = module
        self.process_group = process_group
        self.broadcast_buffers = True if broadcast_buffers is None else bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.gradient_as_bucket_view = bool(gradient_as_bucket_view)
        self.static_graph = bool(static_graph)
        self.require_backward_grad_sync = True
        self.dim = dim
        self.bucket_bytes_cap = int((_DEFAULT_BUCKET_MB if bucket_cap_mb is None
                                     else bucket_cap_mb) * 1024 * 1024)
        self._world = dist.get_world_size(process_group)
        self._params = [p for p in module.parameters() if p.requires_grad]
        self._verify_same_model()
        if init_sync:
            self._sync_module_states()
        self._buckets = self._build_buckets()
        self._bucket_of = {}
        for b in self._buckets:
            for pos, i in enumerate(b.params):
                self._bucket_of[i] = (b, pos)
        self._handles = [p.register_post_accumulate_grad_hook(self._make_hook(i))
                         for i, p in enumerate(self._params)]
        self._armed = False          # a synchronising backward is expected (set by forward)
        self._queued = False         # the final callback is queued for the running backward
        self._ready = set()
        self._used = None
        self._next_bucket = 0

    # ---- construction ------------------------------------------------------------------
    def _verify_same_model(self):
        mine = [(tuple(p.shape), str(p.dtype)) for p in self._params]
        everyone = [None] * self._world
        dist.all_gather_object(everyone, mine, group=self.process_group)
        ranks = dist.get_process_group_ranks(self.process_group) if self.process_group \
            else list(range(self._world))
        ref = everyone[0]
        for r, theirs in enumerate(everyone):
            if theirs == ref:
                continue
            if len(theirs) != len(ref):
                raise RuntimeError(
                    f"DDP expects same model across all ranks, but Rank {ranks[0]} has "
                    f"{len(ref)} params, while rank {ranks[r]} has inconsistent {len(theirs)} "
                    "params.")
            k = next(k for k, (a, b) in enumerate(zip(ref, theirs)) if a != b)
            names = [n for n, p in self.module.named_parameters() if p.requires_grad]
            raise RuntimeError(
                f"DDP expects same model across all ranks, but parameter {k} ({names[k]}) has "
                f"shape {list(ref[k][0])} ({ref[k][1]}) on rank {ranks[0]} and shape "
                f"{list(theirs[k][0])} ({theirs[k][1]}) on rank {ranks[r]}.")

    def _module_states(self):
        return [t for t in itertools.chain(self.module.parameters(), self.module.buffers())]

    def _sync_module_states(self):
        """Broadcast rank 0's parameters and buffers, one message per dtype."""
        self._broadcast_coalesced(self._module_states())

    def _broadcast_coalesced(self, tensors):
        src = dist.get_global_rank(self.process_group, 0) if self.process_group else 0
        by_dtype = {}
        for t in tensors:
            by_dtype.setdefault(t._data.dtype, []).append(t)
        for dt, ts in by_dtype.items():
            flat = np.concatenate([t._data.reshape(-1) for t in ts]) if len(ts) > 1 \
                else np.array(ts[0]._data.reshape(-1))
            holder = from_numpy(flat)
            dist.broadcast(holder, src, group=self.process_group)
            flat = holder._data
            at = 0
            for t in ts:
                n = t._data.size
                t._data[...] = flat[at:at + n].reshape(t._data.shape)
                t._bump()
                at += n

    def _build_buckets(self):
        buckets, current, size = [], {}, {}
        cap = min(_FIRST_BUCKET_BYTES, self.bucket_bytes_cap)
        for i in reversed(range(len(self._params))):
            p = self._params[i]
            dt = p._data.dtype
            current.setdefault(dt, []).append(i)
            size[dt] = size.get(dt, 0) + p._data.nbytes
            if size[dt] >= cap:
                buckets.append(_Bucket(len(buckets), current.pop(dt), dt))
                size[dt] = 0
                cap = self.bucket_bytes_cap
        for dt, idx in current.items():
            buckets.append(_Bucket(len(buckets), idx, dt))
        for b in buckets:
            at = 0
            for i in b.params:
                b.offsets.append(at)
                at += self._params[i]._data.size
            b.buffer = np.zeros(at, b.dtype)
        return buckets

    # ---- forward -----------------------------------------------------------------------
    def forward(self, *inputs, **kwargs):
        if self.broadcast_buffers and self.module.training:
            buffers = list(self.module.buffers())
            if buffers:
                self._broadcast_coalesced(buffers)
        sync = is_grad_enabled() and self.require_backward_grad_sync
        if sync:
            self._prepare_for_backward()
        out = self.module(*inputs, **kwargs)
        if sync and self.find_unused_parameters:
            self._mark_unused(out)
        return out

    def _prepare_for_backward(self):
        self._armed = True
        self._queued = False
        self._ready = set()
        self._used = None
        self._next_bucket = 0
        for b in self._buckets:
            b.pending = len(b.params)
            b.request = None

    def _mark_unused(self, out):
        """Walk the graph from the outputs; parameters it never reaches are ready at once (their
        share of the sum is zero)."""
        reached = set()
        seen = set()
        stack = [t.grad_fn for t in _tensors_in(out) if t.grad_fn is not None]
        leaves = {id(t) for t in _tensors_in(out) if t.grad_fn is None and t.requires_grad}
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            for e in node._edges:
                if e is None:
                    continue
                child = e[0]
                if hasattr(child, "_edges"):
                    stack.append(child)
                else:
                    leaves.add(id(child))
        used = np.zeros(len(self._params), np.int32)
        for i, p in enumerate(self._params):
            if id(p) in leaves:
                used[i] = 1
                reached.add(i)
        self._used = used
        for i in range(len(self._params)):
            if i not in reached:
                self._mark_ready(i, zero=True)

    # ---- backward ----------------------------------------------------------------------
    def _make_hook(self, i):
        def hook(param):
            if not self._armed or not self.require_backward_grad_sync:
                return
            if not self._queued:
                self._queued = True
                engine.queue_callback(self._finish_reduction)
            self._mark_ready(i)
        return hook

    def _mark_ready(self, i, zero=False):
        if i in self._ready:
            raise RuntimeError(
                f"Expected to mark a variable ready only once. Parameter {self._name(i)} got its "
                "gradient twice in one backward pass (a second backward over the same graph "
                "before optimizer.step(), or a reentrant backward); use no_sync() for gradient "
                "accumulation.")
        self._ready.add(i)
        b, pos = self._bucket_of[i]
        p = self._params[i]
        at = b.offsets[pos]
        n = p._data.size
        if zero or p.grad is None:
            b.buffer[at:at + n] = 0
        else:
            b.buffer[at:at + n] = p.grad._data.reshape(-1)
        b.pending -= 1
        self._launch_ready_buckets()

    def _launch_ready_buckets(self):
        MPI = dist.distributed_c10d._mpi()
        comm = dist.distributed_c10d._group(self.process_group).comm
        while self._next_bucket < len(self._buckets) and \
                self._buckets[self._next_bucket].pending == 0:
            b = self._buckets[self._next_bucket]
            b.request = comm.Iallreduce(MPI.IN_PLACE, b.buffer, op=MPI.SUM)
            self._next_bucket += 1
        # give MPI a chance to progress the reductions already started
        for b in self._buckets[:self._next_bucket]:
            if b.request is not None:
                b.request.Test()

    def _finish_reduction(self):
        self._armed = False
        MPI = dist.distributed_c10d._mpi()
        missing = [i for i in range(len(self._params)) if i not in self._ready]
        if missing:
            # finish what was started (every rank started the same), then explain
            MPI.Request.Waitall([b.request for b in self._buckets if b.request is not None])
            names = ", ".join(self._name(i) for i in missing[:5])
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a "
                "new one. This error indicates that your module has parameters that were not "
                "used in producing loss. You can enable unused parameter detection by passing "
                "the keyword argument `find_unused_parameters=True` to "
                "`torch.nn.parallel.DistributedDataParallel`, and by making sure all `forward` "
                f"function outputs participate in calculating loss. Parameters without a "
                f"gradient: {names}{' ...' if len(missing) > 5 else ''}")
        MPI.Request.Waitall([b.request for b in self._buckets if b.request is not None])
        globally_used = None
        if self._used is not None:
            comm = dist.distributed_c10d._group(self.process_group).comm
            globally_used = self._used.copy()
            comm.Allreduce(MPI.IN_PLACE, globally_used, op=MPI.MAX)
        for b in self._buckets:
            avg = b.buffer / self._world
            if avg.dtype != b.dtype:
                avg = avg.astype(b.dtype)
            for pos, i in enumerate(b.params):
                if globally_used is not None and not globally_used[i]:
                    continue                 # unused on every rank: the grad stays as it was
                p = self._params[i]
                at = b.offsets[pos]
                g = avg[at:at + p._data.size].reshape(p._data.shape)
                if p.grad is None:
                    p.grad = TensorBase._make(g)
                else:
                    p.grad._data = g

    def _name(self, i):
        p = self._params[i]
        for n, q in self.module.named_parameters():
            if q is p:
                return n
        return f"#{i}"

    # ---- gradient accumulation -----------------------------------------------------------
    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes inside only accumulate local gradients; the first backward after
        it averages the accumulated sum."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def extra_repr(self):
        return ""


def _tensors_in(obj):
    if isinstance(obj, TensorBase):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _tensors_in(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors_in(o)
