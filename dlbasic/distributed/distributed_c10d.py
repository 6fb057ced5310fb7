"""Process groups and collectives on MPI, with torch.distributed's names and semantics.

Every process of a job runs the same script; MPI (mpi4py on an MPI library such as the
``mpich`` wheel) starts them, numbers them (the *rank*, 0 .. world_size-1) and moves the bytes.
A collective is a call every rank of a group makes: ``all_reduce(t)`` leaves in every rank's
``t`` the sum (or product, min, max, average) of all ranks' ``t``.  Tensors travel as their
NumPy buffers, in place, never pickled; only the ``*_object`` functions pickle, as PyTorch's
do (peers of one job trust each other).

``async_op=True`` starts the non-blocking MPI call (``Iallreduce``, ``Ibcast``, ...) and returns
a ``Work`` whose ``wait()`` finishes it; otherwise the call returns when the result is there.

Faults: once a group is initialised, an exception that ends a rank's script aborts the MPI job
(``MPI_Abort``), so the other ranks never wait for it forever; ``mpiexec`` ends every rank and
exits non-zero, after the failing rank has printed its traceback headed by its rank.
"""
import enum
import os
import sys
import time
import traceback
import warnings

import numpy as np

from .._tensor_base import TensorBase

__all__ = ["ReduceOp", "Work", "ProcessGroup", "GroupMember", "group", "is_available",
           "is_mpi_available", "is_gloo_available", "is_nccl_available", "is_initialized",
           "is_torchelastic_launched", "init_process_group", "destroy_process_group",
           "get_rank", "get_world_size", "get_backend", "get_process_group_ranks",
           "get_global_rank", "get_group_rank", "new_group", "barrier", "all_reduce",
           "broadcast", "reduce", "all_gather", "all_gather_into_tensor",
           "reduce_scatter_tensor", "gather", "scatter", "send", "recv", "isend", "irecv",
           "all_gather_object", "broadcast_object_list", "gather_object",
           "scatter_object_list", "all_to_all_single"]

_NOT_INITIALIZED = ("Default process group has not been initialized, please make sure to call "
                    "init_process_group.")


def _mpi():
    """mpi4py's MPI module (importing it starts MPI), or a clear ImportError."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError("dlbasic.distributed needs mpi4py and an MPI library: "
                          "pip install 'dlbasic[distributed]' (mpi4py and the mpich wheel), "
                          f"or mpi4py on top of a system MPI ({e})") from None
    return MPI


def is_available():
    """True when mpi4py can be imported (MPI itself starts only in ``init_process_group``)."""
    return is_mpi_available()


def is_mpi_available():
    import importlib.util
    return importlib.util.find_spec("mpi4py") is not None


def is_gloo_available():
    return False


def is_nccl_available():
    return False


def is_torchelastic_launched():
    return False


class ReduceOp(enum.Enum):
    """How ``all_reduce`` / ``reduce`` / ``reduce_scatter_tensor`` combine the ranks' values."""
    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7


class ProcessGroup:
    """A set of ranks with its own MPI communicator (``WORLD`` is all of them)."""

    def __init__(self, comm, ranks, backend="mpi"):
        self.comm = comm
        self.ranks = list(ranks)           # global ranks, in group-rank order
        self.backend = backend

    def rank(self):
        return self.comm.Get_rank()

    def size(self):
        return self.comm.Get_size()

    def name(self):
        return self.backend.upper()

    def __repr__(self):
        return f"ProcessGroup(backend={self.backend!r}, ranks={self.ranks})"


class GroupMember:
    """``GroupMember.WORLD`` is the default group; ``NON_GROUP_MEMBER`` is what ``new_group``
    returns on a rank outside the new group."""
    WORLD = None
    NON_GROUP_MEMBER = object()


class group:                                   # noqa: N801 (torch's name: dist.group.WORLD)
    WORLD = None


class _State:
    world = None             # ProcessGroup of all ranks, once initialised
    previous_hook = None


_state = _State()


def is_initialized():
    return _state.world is not None


def _world():
    if _state.world is None:
        raise ValueError(_NOT_INITIALIZED)
    return _state.world


def _group(g):
    """The ProcessGroup a call runs on, or None on a rank outside it."""
    world = _world()
    if g is None or g is GroupMember.WORLD:
        return world
    if g is GroupMember.NON_GROUP_MEMBER:
        return None
    if not isinstance(g, ProcessGroup):
        raise TypeError(f"group must be a ProcessGroup from new_group() or None, got "
                        f"{type(g).__name__}")
    return g


# ---------------------------------------------------------------------------------------
# Starting and stopping
# ---------------------------------------------------------------------------------------

def _abort_on_exception(exc_type, exc, tb):
    """sys.excepthook while a group is live: print the traceback naming the rank, then abort
    the whole MPI job so no other rank waits for this one."""
    world = _state.world
    if world is None or world.size() == 1:
        (_state.previous_hook or sys.__excepthook__)(exc_type, exc, tb)
        return
    rank, size = world.rank(), world.size()
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    sys.stderr.write("".join(f"[rank {rank}] {line}\n" for line in text.rstrip().split("\n")))
    abort(1, f"dlbasic.distributed: rank {rank} of {size} failed with "
             f"{exc_type.__name__}: {exc}; aborting all {size} ranks\n")


# How long a failing rank waits between writing its message and MPI_Abort: the launcher
# forwards each rank's stderr through a pipe, and an abort that comes first can lose it.
_ABORT_GRACE_S = 0.5


def abort(code=1, message=None):
    """End every rank of the job now (MPI_Abort), with exit status ``code``.

    ``message`` (one line saying why) goes to stderr first; under ``dlbasic run`` it is also
    left in the launcher's report folder ($DLBASIC_RUN_REPORTS), so the launcher can repeat it
    after the job even when the abort overtook the forwarding of this rank's output."""
    if message:
        sys.stderr.write(message)
        folder = os.environ.get("DLBASIC_RUN_REPORTS")
        if folder and os.path.isdir(folder):
            try:
                with open(os.path.join(folder, f"rank-{os.getpid()}.txt"), "a") as f:
                    f.write(message)
            except OSError:
                pass                                 # the report is a courtesy, the abort is not
    sys.stderr.flush()
    sys.stdout.flush()
    if message:
        time.sleep(_ABORT_GRACE_S)
    _mpi().COMM_WORLD.Abort(int(code))
    os._exit(int(code))         # MPI_Abort may return before the launcher ends this process


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None):
    """Join the job's default process group (all ranks).  The ranks and their number come from
    MPI (``mpiexec -n N`` / ``dlbasic run``); ``init_method``, ``store`` and ``timeout`` are
    accepted for compatibility and not needed.  ``backend`` may be "mpi" (or None); "gloo" is
    accepted as the CPU backend a PyTorch script names and also runs on MPI."""
    if _state.world is not None:
        raise ValueError("trying to initialize the default process group twice!")
    name = "mpi" if backend is None else str(backend).lower()
    if name.startswith("cpu:"):
        name = name[4:]
    if name in ("nccl", "cuda:nccl", "xccl", "hccl"):
        raise RuntimeError(f"backend {backend!r} needs a GPU; dlbasic runs on the CPU: use "
                           "backend='mpi'")
    if name not in ("mpi", "gloo"):
        raise ValueError(f"Invalid backend: {backend!r}; dlbasic supports 'mpi' (and 'gloo', "
                         "which runs on MPI too)")
    MPI = _mpi()
    comm = MPI.COMM_WORLD.Dup()
    size, me = comm.Get_size(), comm.Get_rank()
    if (world_size not in (-1, None) and world_size != size) or \
            (rank not in (-1, None) and rank != me):
        warnings.warn(f"For MPI backend, world_size ({world_size}) and rank ({rank}) are "
                      f"ignored since they are assigned by the MPI runtime (here world size "
                      f"{size}, rank {me}).")
    _state.world = ProcessGroup(comm, range(size), name)
    GroupMember.WORLD = group.WORLD = _state.world
    if sys.excepthook is not _abort_on_exception:
        _state.previous_hook = sys.excepthook
        sys.excepthook = _abort_on_exception


def destroy_process_group(group=None):
    """Leave a group; without an argument, the default group (and every group built on it)."""
    if group is None or group is GroupMember.WORLD:
        world = _world()
        world.comm.Free()
        _state.world = None
        GroupMember.WORLD = globals()["group"].WORLD = None
        if sys.excepthook is _abort_on_exception:
            sys.excepthook = _state.previous_hook or sys.__excepthook__
        return
    g = _group(group)
    if g is not None:
        g.comm.Free()


def get_rank(group=None):
    """This process's rank in ``group`` (-1 outside it)."""
    g = _group(group)
    return -1 if g is None else g.rank()


def get_world_size(group=None):
    g = _group(group)
    return -1 if g is None else g.size()


def get_backend(group=None):
    g = _group(group)
    if g is None:
        raise ValueError("Invalid process group specified")
    return g.backend


def get_process_group_ranks(group):
    g = _group(group)
    return list(g.ranks) if g is not None else []


def get_global_rank(group, group_rank):
    g = _group(group)
    if g is None or not 0 <= group_rank < len(g.ranks):
        raise ValueError(f"Group rank {group_rank} is not part of group {group}")
    return g.ranks[group_rank]


def get_group_rank(group, global_rank):
    g = _group(group)
    if g is None or global_rank not in g.ranks:
        raise ValueError(f"Global rank {global_rank} is not part of group {group}")
    return g.ranks.index(global_rank)


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False,
              group_desc=None, device_id=None):
    """A group of some ranks (every rank of the job must call it, members or not)."""
    world = _world()
    size = world.size()
    ranks = list(range(size)) if ranks is None else sorted(int(r) for r in ranks)
    for r in ranks:
        if not 0 <= r < size:
            raise ValueError(f"new_group: rank {r} is not in the world of {size} ranks")
    if len(set(ranks)) != len(ranks):
        raise ValueError(f"new_group: ranks {ranks} repeat a rank")
    me = world.rank()
    MPI = _mpi()
    comm = world.comm.Split(0 if me in ranks else MPI.UNDEFINED, ranks.index(me) if me in ranks
                            else 0)
    if me not in ranks:
        return GroupMember.NON_GROUP_MEMBER
    return ProcessGroup(comm, ranks, backend or world.backend)


# ---------------------------------------------------------------------------------------
# Buffers and reductions
# ---------------------------------------------------------------------------------------

class Work:
    """A started collective: ``wait()`` finishes it (copies results into the tensors)."""

    def __init__(self, requests, finish=None, result=None):
        self._requests = list(requests)
        self._finish = finish
        self._result = result
        self._done = False

    def wait(self, timeout=None):
        if not self._done:
            if self._requests:
                _mpi().Request.Waitall(self._requests)
            self._done = True
            if self._finish is not None:
                self._finish()
        return True

    def is_completed(self):
        if self._done:
            return True
        if not self._requests or _mpi().Request.Testall(self._requests):
            self.wait()
        return self._done

    def is_success(self):
        return self.is_completed()

    def result(self):
        self.wait()
        return self._result if self._result is not None else []

    def _source(self):
        return self._result


def _run(requests, finish=None, async_op=False, result=None):
    work = Work(requests, finish, result)
    if async_op:
        return work
    work.wait()
    return None


def _check_tensor(t, name="tensor"):
    if not isinstance(t, TensorBase):
        raise TypeError(f"{name} must be a dlbasic Tensor, got {type(t).__name__}")
    return t


def _send_buffer(t):
    """A C-contiguous array of ``t``'s values that MPI can read (the buffer itself if it is)."""
    a = t._data
    wire = _wire_dtype(a.dtype)
    if a.dtype != wire:
        return np.ascontiguousarray(a, dtype=wire)
    return np.ascontiguousarray(a)


def _inout_buffer(t):
    """(array MPI works on in place, function writing it back into ``t``)."""
    a = t._data
    wire = _wire_dtype(a.dtype)
    if a.dtype == wire and a.flags.c_contiguous and a.flags.writeable:
        def back():
            t._bump()
        return a, back
    buf = np.array(a, dtype=wire, order="C", copy=True)

    def back():
        t._write(buf.astype(a.dtype, copy=False))
    return buf, back


def _wire_dtype(dt):
    # MPI has no portable half-precision type: float16 travels and is reduced as float32
    return np.dtype(np.float32) if dt == np.float16 else dt


def _mpi_op(op, dtype):
    MPI = _mpi()
    if not isinstance(op, ReduceOp):
        raise TypeError(f"op must be a dlbasic.distributed.ReduceOp, got {op!r}")
    if dtype == np.bool_:
        table = {ReduceOp.SUM: MPI.LOR, ReduceOp.MAX: MPI.LOR, ReduceOp.BOR: MPI.LOR,
                 ReduceOp.PRODUCT: MPI.LAND, ReduceOp.MIN: MPI.LAND, ReduceOp.BAND: MPI.LAND,
                 ReduceOp.BXOR: MPI.LXOR}
        if op not in table:
            raise RuntimeError(f"ReduceOp.{op.name} is not supported for bool tensors")
        return table[op]
    if op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and dtype.kind not in "iu":
        raise RuntimeError(f"ReduceOp.{op.name} needs an integer tensor, got {dtype}")
    if op is ReduceOp.AVG and dtype.kind not in "f":
        raise RuntimeError(f"ReduceOp.AVG needs a floating-point tensor, got {dtype}; use "
                           "ReduceOp.SUM and divide")
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
            ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX, ReduceOp.BAND: MPI.BAND,
            ReduceOp.BOR: MPI.BOR, ReduceOp.BXOR: MPI.BXOR}[op]


def _group_rank(g, global_rank, what):
    if global_rank not in g.ranks:
        raise ValueError(f"{what} {global_rank} is not a rank of the group {g.ranks}")
    return g.ranks.index(global_rank)


# ---------------------------------------------------------------------------------------
# Collectives on tensors
# ---------------------------------------------------------------------------------------

def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank of the group has called barrier."""
    g = _group(group)
    if g is None:
        return None
    return _run([g.comm.Ibarrier()], async_op=async_op)


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Combine ``tensor`` over the ranks, in place on every rank."""
    _check_tensor(tensor)
    g = _group(group)
    if g is None:
        return None
    MPI = _mpi()
    buf, back = _inout_buffer(tensor)
    req = g.comm.Iallreduce(MPI.IN_PLACE, buf, op=_mpi_op(op, tensor._data.dtype))
    n = g.size()

    def finish():
        if op is ReduceOp.AVG:
            np.divide(buf, n, out=buf)
        back()
    return _run([req], finish, async_op)


def broadcast(tensor, src, group=None, async_op=False, group_src=None):
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor``."""
    _check_tensor(tensor)
    g = _group(group)
    if g is None:
        return None
    root = group_src if group_src is not None else _group_rank(g, src, "src")
    buf, back = _inout_buffer(tensor)
    return _run([g.comm.Ibcast(buf, root=root)], back, async_op)


def reduce(tensor, dst, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Combine ``tensor`` over the ranks into rank ``dst``'s ``tensor`` (the others keep
    theirs)."""
    _check_tensor(tensor)
    g = _group(group)
    if g is None:
        return None
    MPI = _mpi()
    root = group_dst if group_dst is not None else _group_rank(g, dst, "dst")
    mop = _mpi_op(op, tensor._data.dtype)
    n = g.size()
    if g.rank() == root:
        buf, back = _inout_buffer(tensor)
        req = g.comm.Ireduce(MPI.IN_PLACE, buf, op=mop, root=root)

        def finish():
            if op is ReduceOp.AVG:
                np.divide(buf, n, out=buf)
            back()
        return _run([req], finish, async_op)
    send = _send_buffer(tensor)
    return _run([g.comm.Ireduce(send, None, op=mop, root=root)], None, async_op,
                result=[send])


def _same(tensors, like, what):
    for i, t in enumerate(tensors):
        _check_tensor(t, f"{what}[{i}]")
        if t.shape != like.shape or t.dtype != like.dtype:
            raise ValueError(f"{what}[{i}] has shape {list(t.shape)} and dtype {t.dtype}; "
                             f"expected shape {list(like.shape)} and dtype {like.dtype}, as the "
                             "input tensor")


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """``tensor_list[r]`` = rank r's ``tensor``, on every rank."""
    _check_tensor(tensor)
    g = _group(group)
    if g is None:
        return None
    n = g.size()
    if len(tensor_list) != n:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors; the group "
                         f"has {n} ranks")
    _same(tensor_list, tensor, "tensor_list")
    send = _send_buffer(tensor)
    recv = np.empty((n,) + send.shape, send.dtype)
    req = g.comm.Iallgather(send, recv)

    def finish():
        for t, part in zip(tensor_list, recv):
            t._write(part.astype(t._data.dtype, copy=False))
    return _run([req], finish, async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Every rank's ``input_tensor`` concatenated (or stacked) into ``output_tensor``."""
    _check_tensor(output_tensor, "output_tensor")
    _check_tensor(input_tensor, "input_tensor")
    g = _group(group)
    if g is None:
        return None
    n = g.size()
    if output_tensor.numel() != n * input_tensor.numel() or \
            output_tensor.dtype != input_tensor.dtype:
        raise ValueError(f"all_gather_into_tensor: output_tensor must hold world size ({n}) x "
                         f"input_tensor's {input_tensor.numel()} elements of dtype "
                         f"{input_tensor.dtype}; got {output_tensor.numel()} of "
                         f"{output_tensor.dtype}")
    send = _send_buffer(input_tensor)
    buf, back = _inout_buffer(output_tensor)
    return _run([g.comm.Iallgather(send, buf.reshape(n, -1))], back, async_op, result=[send])


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input`` over the ranks and give rank r the r-th of ``world_size`` equal parts."""
    _check_tensor(output, "output")
    _check_tensor(input, "input")
    g = _group(group)
    if g is None:
        return None
    n = g.size()
    if input.numel() != n * output.numel() or output.dtype != input.dtype:
        raise ValueError(f"reduce_scatter_tensor: input must hold world size ({n}) x output's "
                         f"{output.numel()} elements of dtype {output.dtype}; got "
                         f"{input.numel()} of {input.dtype}")
    send = _send_buffer(input)
    buf, back = _inout_buffer(output)
    req = g.comm.Ireduce_scatter_block(send, buf, op=_mpi_op(op, input._data.dtype))

    def finish():
        if op is ReduceOp.AVG:
            np.divide(buf, n, out=buf)
        back()
    return _run([req], finish, async_op, result=[send])


def gather(tensor, gather_list=None, dst=0, group=None, async_op=False, group_dst=None):
    """On rank ``dst``, ``gather_list[r]`` = rank r's ``tensor``."""
    _check_tensor(tensor)
    g = _group(group)
    if g is None:
        return None
    root = group_dst if group_dst is not None else _group_rank(g, dst, "dst")
    n = g.size()
    send = _send_buffer(tensor)
    if g.rank() != root:
        if gather_list:
            raise ValueError("Argument ``gather_list`` must NOT be specified on non-destination "
                             "ranks.")
        return _run([g.comm.Igather(send, None, root=root)], None, async_op, result=[send])
    if gather_list is None or len(gather_list) != n:
        raise ValueError(f"gather: on the destination rank gather_list must hold {n} tensors "
                         f"(the group's size), got "
                         f"{'None' if gather_list is None else len(gather_list)}")
    _same(gather_list, tensor, "gather_list")
    recv = np.empty((n,) + send.shape, send.dtype)
    req = g.comm.Igather(send, recv, root=root)

    def finish():
        for t, part in zip(gather_list, recv):
            t._write(part.astype(t._data.dtype, copy=False))
    return _run([req], finish, async_op)


def scatter(tensor, scatter_list=None, src=0, group=None, async_op=False, group_src=None):
    """Rank r's ``tensor`` = rank ``src``'s ``scatter_list[r]``."""
    _check_tensor(tensor)
    g = _group(group)
    if g is None:
        return None
    root = group_src if group_src is not None else _group_rank(g, src, "src")
    n = g.size()
    buf, back = _inout_buffer(tensor)
    if g.rank() != root:
        if scatter_list:
            raise ValueError("Argument ``scatter_list`` must NOT be specified on non-source "
                             "ranks.")
        return _run([g.comm.Iscatter(None, buf, root=root)], back, async_op)
    if scatter_list is None or len(scatter_list) != n:
        raise ValueError(f"scatter: on the source rank scatter_list must hold {n} tensors (the "
                         f"group's size), got "
                         f"{'None' if scatter_list is None else len(scatter_list)}")
    _same(scatter_list, tensor, "scatter_list")
    send = np.stack([_send_buffer(t) for t in scatter_list])
    return _run([g.comm.Iscatter(send, buf, root=root)], back, async_op, result=[send])


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None,
                      group=None, async_op=False):
    """Rank r sends the r'-th equal part of ``input`` to rank r' (equal splits only)."""
    _check_tensor(output, "output")
    _check_tensor(input, "input")
    if output_split_sizes is not None or input_split_sizes is not None:
        raise NotImplementedError("all_to_all_single: only equal splits are supported by "
                                  "dlbasic (output_split_sizes=None, input_split_sizes=None)")
    g = _group(group)
    if g is None:
        return None
    n = g.size()
    if input.shape[0] % n or output.numel() != input.numel():
        raise ValueError(f"all_to_all_single: input's first dimension ({input.shape[0]}) must "
                         f"divide by the group's size ({n}) and output must be input's size")
    send = _send_buffer(input)
    buf, back = _inout_buffer(output)
    return _run([g.comm.Ialltoall(send.reshape(n, -1), buf.reshape(n, -1))], back, async_op,
                result=[send])


# ---------------------------------------------------------------------------------------
# Point to point
# ---------------------------------------------------------------------------------------

def isend(tensor, dst, group=None, tag=0, group_dst=None):
    _check_tensor(tensor)
    g = _group(group)
    if g is None:
        return None
    peer = group_dst if group_dst is not None else _group_rank(g, dst, "dst")
    send = _send_buffer(tensor)
    return Work([g.comm.Isend(send, dest=peer, tag=tag)], result=[send])


def irecv(tensor, src=None, group=None, tag=0, group_src=None):
    _check_tensor(tensor)
    g = _group(group)
    if g is None:
        return None
    MPI = _mpi()
    if group_src is not None:
        peer = group_src
    else:
        peer = MPI.ANY_SOURCE if src is None else _group_rank(g, src, "src")
    buf, back = _inout_buffer(tensor)
    return _RecvWork(g, g.comm.Irecv(buf, source=peer, tag=tag), back)


class _RecvWork(Work):
    """A receive: ``wait()`` also learns which rank sent (``recv`` returns it)."""

    def __init__(self, g, request, finish):
        super().__init__([request], finish)
        self._g = g
        self._status = _mpi().Status()

    def wait(self, timeout=None):
        if not self._done:
            self._requests[0].Wait(self._status)
            self._done = True
            self._finish()
            self._result = self._g.ranks[self._status.Get_source()]
        return True


def send(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Send ``tensor`` to rank ``dst`` (which calls ``recv``)."""
    isend(tensor, dst, group, tag, group_dst).wait()


def recv(tensor, src=None, group=None, tag=0, group_src=None):
    """Receive into ``tensor`` from rank ``src`` (any rank when None); returns the sender."""
    work = irecv(tensor, src, group, tag, group_src)
    if work is None:
        return -1
    work.wait()
    return work._result


# ---------------------------------------------------------------------------------------
# Python objects (pickled, as torch's *_object functions)
# ---------------------------------------------------------------------------------------

def all_gather_object(object_list, obj, group=None):
    """``object_list[r]`` = rank r's ``obj`` (picklable), on every rank."""
    g = _group(group)
    if g is None:
        return
    n = g.size()
    if len(object_list) != n:
        raise ValueError(f"all_gather_object: object_list has {len(object_list)} entries; the "
                         f"group has {n} ranks")
    object_list[:] = g.comm.allgather(obj)


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None):
    """Replace every rank's ``object_list`` entries with rank ``src``'s."""
    g = _group(group)
    if g is None:
        return
    if group_src is not None:
        root = group_src
    else:
        root = _group_rank(g, 0 if src is None else src, "src")
    values = g.comm.bcast(list(object_list) if g.rank() == root else None, root=root)
    if len(values) != len(object_list):
        raise ValueError(f"broadcast_object_list: rank {g.ranks[root]} sent {len(values)} "
                         f"objects; this rank's list has {len(object_list)}")
    object_list[:] = values


def gather_object(obj, object_gather_list=None, dst=None, group=None, group_dst=None):
    g = _group(group)
    if g is None:
        return
    root = group_dst if group_dst is not None else _group_rank(g, 0 if dst is None else dst,
                                                               "dst")
    values = g.comm.gather(obj, root=root)
    if g.rank() == root:
        if object_gather_list is None or len(object_gather_list) != g.size():
            raise ValueError(f"gather_object: object_gather_list must hold {g.size()} entries "
                             "on the destination rank")
        object_gather_list[:] = values


def scatter_object_list(scatter_object_output_list, scatter_object_input_list=None, src=None,
                        group=None, group_src=None):
    g = _group(group)
    if g is None:
        return
    root = group_src if group_src is not None else _group_rank(g, 0 if src is None else src,
                                                               "src")
    if not isinstance(scatter_object_output_list, list) or len(scatter_object_output_list) < 1:
        raise ValueError("Expected argument scatter_object_output_list to be a list of size at "
                         "least 1.")
    items = None
    if g.rank() == root:
        if scatter_object_input_list is None or len(scatter_object_input_list) != g.size():
            raise ValueError(f"scatter_object_list: the source rank's input list must hold "
                             f"{g.size()} entries")
        items = list(scatter_object_input_list)
    scatter_object_output_list[0] = g.comm.scatter(items, root=root)
