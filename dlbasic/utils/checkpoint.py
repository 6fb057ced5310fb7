"""Activation checkpointing (torch.utils.checkpoint): trade compute for memory.

A checkpointed segment runs its forward *without* recording a graph (under ``no_grad``), so
none of its intermediate activations are kept, only its inputs.  When backward reaches the
segment, it runs the forward again, this time recording the graph, and backpropagates through
that fresh graph: local gradient x upstream gradient, one segment at a time.  The global RNG
state of the first forward is restored for the recomputation, so a dropout layer draws the
same mask twice and the gradients equal those of the plain model exactly.

The segment is one ``autograd.Function`` node: forward keeps the inputs (``save_for_backward``,
so an in-place change to one of them afterwards raises) and backward recomputes and runs a
nested ``autograd.backward``.  That nested backward accumulates straight into ``.grad`` of the
parameters the segment's function uses (they are not inputs of the node), and hands the
gradients of the node's own inputs back to the outer backward.

``use_reentrant`` picks between torch's two variants; here both recompute the same way, and
they differ where torch's differ for a user:

- ``True`` (torch 2.13's default when not given, with a warning): keyword arguments are
  refused, and when no input requires a gradient the output does not either ("Gradients will
  be None", warned).
- ``False``: keyword arguments are passed (their tensors get gradients too), and a segment
  whose inputs need no gradient but whose parameters do still trains: its forward then records
  the segment's graph once, to learn which outputs need a gradient, and drops it on return
  (memory of one segment at a time, as before).  The recomputed outputs must have the shapes
  and dtypes of the first forward (``determinism_check='default'``).

Not supported: ``autograd.grad`` through a checkpoint puts the gradients of the segment's
parameters into their ``.grad`` instead of leaving them alone (torch raises for the reentrant
variant), and ``context_fn`` (NotImplementedError).
"""
import warnings

import numpy as np

from .._random import get_rng_state, set_rng_state
from .._tensor_base import TensorBase
from ..autograd import Function, backward as _backward, enable_grad, is_grad_enabled

__all__ = ["checkpoint", "checkpoint_sequential", "CheckpointError"]


class CheckpointError(RuntimeError):
    """The recomputed forward did not match the first one (torch's CheckpointError)."""


def _as_tuple(outputs):
    return outputs if isinstance(outputs, tuple) else (outputs,)


def _meta(outputs):
    return [(tuple(o.shape), o.dtype) if isinstance(o, TensorBase) else None
            for o in _as_tuple(outputs)]


class CheckpointFunction(Function):
    """One checkpointed segment: forward without a graph, backward = recompute + backprop.

    ``apply(run_function, preserve_rng_state, record_probe, check_meta, n_args, kw_names,
    *inputs)``: the first ``n_args`` of ``inputs`` are positional arguments of
    ``run_function``, the rest the values of the keyword arguments named ``kw_names``.
    """

    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, record_probe, check_meta, n_args,
                kw_names, *inputs):
        ctx.run_function = run_function
        ctx.preserve_rng_state = preserve_rng_state
        ctx.n_args, ctx.kw_names = n_args, kw_names
        if preserve_rng_state:
            ctx.fwd_rng_state = get_rng_state()
        # non-tensor inputs stay on ctx; the tensors are saved (their versions are checked)
        ctx.inputs = [None if isinstance(a, TensorBase) else a for a in inputs]
        ctx.tensor_indices = [i for i, a in enumerate(inputs) if isinstance(a, TensorBase)]
        ctx.save_for_backward(*[inputs[i] for i in ctx.tensor_indices])
        args, kwargs = _split(inputs, n_args, kw_names)
        if record_probe:
            # no input needs a gradient: record this once to see which outputs do (they come
            # from the function's parameters), then return them detached -- the graph goes
            with enable_grad():
                outputs = run_function(*args, **kwargs)
            outs = _as_tuple(outputs)
            detached = tuple(o.detach() if isinstance(o, TensorBase) else o for o in outs)
            ctx.mark_non_differentiable(*[d for o, d in zip(outs, detached)
                                          if isinstance(o, TensorBase) and not o.requires_grad])
            outputs = detached if isinstance(outputs, tuple) else detached[0]
        else:
            outputs = run_function(*args, **kwargs)          # (Function.apply: under no_grad)
        ctx.fwd_meta = _meta(outputs) if check_meta else None
        return outputs

    @staticmethod
    def backward(ctx, *grad_outputs):
        inputs = list(ctx.inputs)
        for i, t in zip(ctx.tensor_indices, ctx.saved_tensors):
            d = t.detach()                   # a leaf of the recomputed graph: its .grad is ours
            if t.requires_grad:
                d.requires_grad_(True)
            inputs[i] = d
        args, kwargs = _split(inputs, ctx.n_args, ctx.kw_names)
        outer_state = get_rng_state() if ctx.preserve_rng_state else None
        try:
            if ctx.preserve_rng_state:
                set_rng_state(ctx.fwd_rng_state)       # the same dropout masks as in forward
            with enable_grad():
                outputs = ctx.run_function(*args, **kwargs)
        finally:
            if outer_state is not None:
                set_rng_state(outer_state)             # the caller's stream goes on untouched
        if ctx.fwd_meta is not None and _meta(outputs) != ctx.fwd_meta:
            raise CheckpointError(
                "torch.utils.checkpoint: Recomputed values have different metadata than during "
                f"the forward pass: forward gave (shape, dtype) {ctx.fwd_meta}, recomputation "
                f"{_meta(outputs)}")
        pairs = [(o, g) for o, g in zip(_as_tuple(outputs), grad_outputs)
                 if isinstance(o, TensorBase) and o.requires_grad and g is not None]
        if not pairs:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is "
                               "not necessary")
        _backward([o for o, _ in pairs], [g for _, g in pairs])
        grads = tuple(a.grad if isinstance(a, TensorBase) and a.requires_grad else None
                      for a in inputs)
        return (None, None, None, None, None, None) + grads


def _split(inputs, n_args, kw_names):
    args = tuple(inputs[:n_args])
    return args, dict(zip(kw_names, inputs[n_args:]))


def _reentrant_default(use_reentrant, name):
    if use_reentrant is None:
        warnings.warn(f"{name}: the use_reentrant parameter should be passed explicitly. "
                      "use_reentrant=False is recommended; without it dlbasic, like torch "
                      "2.13, uses use_reentrant=True.", stacklevel=3)
        return True
    return bool(use_reentrant)


def checkpoint(function, *args, use_reentrant=None, preserve_rng_state=True, context_fn=None,
               determinism_check="default", debug=False, early_stop=True, **kwargs):
    """Run ``function(*args, **kwargs)`` without keeping its activations; recompute them in
    backward (see the module docstring).  ``preserve_rng_state=True`` restores the RNG state
    for the recomputation, so random ops such as dropout repeat exactly.

    The gradients equal those of calling ``function`` directly.  ``early_stop`` is accepted
    (the recomputation always runs the whole function); ``context_fn`` is not supported.
    """
    use_reentrant = _reentrant_default(use_reentrant, "torch.utils.checkpoint")
    preserve = bool(preserve_rng_state)
    if use_reentrant:
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
        if context_fn is not None or debug is not False:
            raise ValueError("Passing `context_fn` or `debug` is only supported when "
                             "use_reentrant=False.")
        if not any(isinstance(a, TensorBase) and a.requires_grad for a in args):
            warnings.warn("None of the inputs have requires_grad=True. Gradients will be None",
                          stacklevel=2)
        return CheckpointFunction.apply(function, preserve, False, False, len(args), (), *args)
    if context_fn is not None:
        raise NotImplementedError("checkpoint(context_fn=...) is not supported by dlbasic")
    if determinism_check not in ("default", "none"):
        raise ValueError(f"determinism_check should be one of ['default', 'none'], but got "
                         f"{determinism_check}")
    inputs = args + tuple(kwargs.values())
    probe = is_grad_enabled() and not any(isinstance(a, TensorBase) and a.requires_grad
                                          for a in inputs)
    if not probe:
        return CheckpointFunction.apply(function, preserve, False, determinism_check == "default",
                                        len(args), tuple(kwargs), *inputs)
    # an anchor that requires a gradient makes the node record, as the parameters need
    anchor = TensorBase._make(np.zeros((), np.float32), True)
    inner = _Anchored(function, len(args))
    return CheckpointFunction.apply(inner, preserve, True, determinism_check == "default",
                                    len(args) + 1, tuple(kwargs), *args, anchor)


class _Anchored:
    """``function`` called without the anchor tensor that ``checkpoint`` appends to its
    positional arguments (the anchor only makes the node record; it receives no gradient)."""

    def __init__(self, function, n_args):
        self.function, self.n_args = function, n_args

    def __call__(self, *args, **kwargs):
        return self.function(*args[:self.n_args], **kwargs)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Split ``functions`` (an ``nn.Sequential`` or a list of modules/functions run one after
    the other on one tensor) into ``segments`` chunks and checkpoint every chunk but the last,
    as torch does (``preserve_rng_state`` may be passed as a keyword)."""
    use_reentrant = _reentrant_default(use_reentrant,
                                       "torch.utils.checkpoint.checkpoint_sequential")
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    from ..nn import Sequential
    if isinstance(functions, Sequential):
        functions = list(functions.children())
    functions = list(functions)

    def run(start, end):
        def forward(x):
            for j in range(start, end + 1):
                x = functions[j](x)
            return x
        return forward

    size = len(functions) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run(start, end), input, use_reentrant=use_reentrant,
                           preserve_rng_state=preserve)
    return run(end + 1, len(functions) - 1)(input)
