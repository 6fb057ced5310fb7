"""Optimizer: the base class that owns parameter groups, per-parameter state and ``step``.

An optimizer holds ``param_groups`` (a list of dicts: ``'params'`` plus that group's options,
filled from ``defaults``) and ``state`` (a dict keyed by parameter holding the buffers an
algorithm keeps between steps: momentum, running averages, step counts).

As in torch.optim, each algorithm is a *functional* update over lists of arrays
(``_sgd(params, grads, momentum_buffer_list, *, lr, ...)`` in ``sgd.py``), and the class only
gathers its inputs.  ``Optimizer.step`` is the one skeleton they share: run the closure and the
hooks, and under ``no_grad``, for every group, keep the parameters that have a gradient, ask the
subclass for the lists (``_init_group``: arrays of the parameters, their gradients and state,
the state created on the first step), call ``_functional`` with the group's options named in
``_option_names``, and bump the version counter of every parameter written.  The updates
write *in place* into ``p._data`` -- they are not part of any autograd graph.
"""
from collections import defaultdict
from itertools import chain
import warnings

import numpy as np

from .._tensor import Tensor
from ..autograd import enable_grad, no_grad
from ..backend.updates import effective_grad

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Singleton marking an option that every parameter group must give explicitly."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _typename(obj):
    if isinstance(obj, Tensor):
        return "dlbasic." + type(obj).__name__
    module = type(obj).__module__
    name = type(obj).__qualname__
    return name if module in ("builtins", None) else f"{module}.{name}"


def _scalar(value):
    """An option given as a 1-element Tensor becomes a Python float (our updates use floats)."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        return float(value._data.reshape(()))
    return value


_PLAIN_OPTIONS = (float, bool, str, type(None))


def _option(value):
    """A group option as a functional update takes it: numbers (and 1-element Tensors) become
    floats, so a compiled kernel sees one type; flags and tuples of numbers keep their form."""
    if type(value) in _PLAIN_OPTIONS:
        return value
    if isinstance(value, (tuple, list)):
        return tuple(_option(v) for v in value)
    return float(_scalar(value))


def _clone_state_value(param, value, key=None):
    """Copy a loaded state value onto ``param``: tensors are copied (floating ones cast to the
    parameter's dtype, except the ``step`` counter), containers are walked."""
    if isinstance(value, Tensor):
        data = value._data
        if key != "step" and np.issubdtype(param._data.dtype, np.floating) \
                and np.issubdtype(data.dtype, np.floating):
            data = data.astype(param._data.dtype, copy=True)
        else:
            data = data.copy()
        return Tensor._make(data)
    if isinstance(value, dict):
        return {k: _clone_state_value(param, v, key=k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_clone_state_value(param, v) for v in value)
    return value


class Optimizer:
    """Base class for all optimizers.

    Args:
        params: an iterable of Tensors, or of dicts (parameter groups) each holding
            ``'params'`` and any options that override ``defaults`` for that group.
        defaults (dict): default values of the optimization options.
    """

    def __init__(self, params, defaults):
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got " + _typename(params))
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)
        self._step_pre_hooks = {}
        self._step_post_hooks = {}
        self._hook_id = 0

    # -- pickling / printing --------------------------------------------------------------
    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.setdefault("_step_pre_hooks", {})
        self.__dict__.setdefault("_step_post_hooks", {})
        self.__dict__.setdefault("_hook_id", 0)

    def __repr__(self):
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        return s + ")"

    # -- groups ---------------------------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a parameter group (a dict with ``'params'`` and optional options)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        else:
            param_group["params"] = list(params)

        tensors, names = [], []
        for p in param_group["params"]:
            if isinstance(p, tuple):            # named parameters: (name, tensor)
                names.append(p[0])
                tensors.append(p[1])
            else:
                tensors.append(p)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. "
                                 "Some param names are missing")
            param_group["param_names"] = names

        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + _typename(p))
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)

        if len(tensors) != len({id(p) for p in tensors}):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "in future, this will cause an error; see "
                          "github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        seen = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                txt = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {txt} to the optimizer")
        if not seen.isdisjoint(id(p) for p in tensors):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # -- gradients ------------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Reset the gradients of all optimized tensors (to ``None`` by default, as torch)."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif g.grad_fn is not None:
                    p.grad = Tensor._make(np.zeros_like(g._data))
                else:
                    g.requires_grad = False
                    g._data[...] = 0
                    g._vbox[0] += 1

    # -- stepping -------------------------------------------------------------------------
    # Set by each algorithm: its functional update, and the group options passed to it by name.
    _functional = None
    _option_names = ()

    def step(self, closure=None):
        """Perform one optimization step (re-evaluating the loss with ``closure`` if given)."""
        loss = self._run_closure(closure)
        self._pre_step()
        with no_grad():
            for group in self.param_groups:
                params = [p for p in group["params"] if p.grad is not None]
                if not params:
                    continue
                lists = self._init_group(group, params)
                self._functional(*lists, **self._options(group))
                self._save_group_state(params, lists)
                for p in params:
                    p._vbox[0] += 1          # an in-place write: autograd's version counter
        self._post_step()
        return loss

    def _init_group(self, group, params):
        """The functional's list arguments for ``params`` (those of ``group`` with a gradient):
        ``[p._data ...], [p.grad._data ...]`` and the state arrays, created on the first step."""
        raise NotImplementedError

    def _options(self, group):
        """The functional's keyword arguments: the options ``_option_names`` of ``group``."""
        options = {}
        for name in self._option_names:
            value = group[name]              # floats and flags, the usual case, pass as they are
            options[name] = value if type(value) in _PLAIN_OPTIONS else _option(value)
        return options

    def _save_group_state(self, params, lists):
        """Keep state the functional created in ``lists`` (SGD's first momentum buffers)."""

    def _run_closure(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _pre_step(self):
        for hook in list(self._step_pre_hooks.values()):
            hook(self, (), {})

    def _post_step(self):
        for hook in list(self._step_post_hooks.values()):
            hook(self, (), {})

    def register_step_pre_hook(self, hook):
        """Register ``hook(optimizer, args, kwargs)`` to run before each ``step``."""
        return self._register(self._step_pre_hooks, hook)

    def register_step_post_hook(self, hook):
        """Register ``hook(optimizer, args, kwargs)`` to run after each ``step``."""
        return self._register(self._step_post_hooks, hook)

    def _register(self, table, hook):
        self._hook_id += 1
        key = self._hook_id
        table[key] = hook

        class _Handle:
            def remove(self_inner):
                table.pop(key, None)
        return _Handle()

    # -- state dicts ----------------------------------------------------------------------
    def state_dict(self):
        """The optimizer's state as ``{'state': {int: {...}}, 'param_groups': [{...}]}``.

        Parameters are replaced by integer ids numbered in group order, so the dict can be
        loaded into a new optimizer built over different (but corresponding) tensors.
        """
        index = {}
        packed_groups = []
        start = 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                index.setdefault(id(p), i)
            packed["params"] = [index[id(p)] for p in group["params"]]
            start += len(packed["params"])
            packed_groups.append(packed)
        packed_state = {}
        for k, v in self.state.items():
            packed_state[index[id(k)] if isinstance(k, Tensor) else k] = v
        return {"state": packed_state, "param_groups": packed_groups}

    def load_state_dict(self, state_dict):
        """Load a state dict produced by :meth:`state_dict` -- ours or a PyTorch optimizer's,
        e.g. read with ``dlbasic.load`` from a ``torch.save`` file (values are copied).

        As in torch, the saved groups' options replace ours, and the optimizer's
        ``__setstate__`` fills in the options an older file lacks.
        """
        import copy
        groups = self.param_groups
        saved_groups = copy.deepcopy(list(state_dict["param_groups"]))
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = _clone_state_value(param, v)
            else:
                state[k] = v
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            new_groups.append(saved)
        self.__setstate__({"state": state, "param_groups": new_groups})


def _step_tensor(state):
    """The per-parameter step counter: a 0-d float32 Tensor as torch keeps it."""
    st = state.get("step")
    if not isinstance(st, Tensor):
        st = Tensor._make(np.array(0.0 if st is None else float(st), dtype=np.float32))
        state["step"] = st
    return st



def _check_adam_options(lr, betas, eps, weight_decay):
    """torch's checks (and messages) of the options the Adam family shares."""
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def _zeros_state(state, params, *names):
    """Create ``state[p][name]`` (zeros like p) and a 0-d float32 ``step`` where missing;
    return one list of arrays per name, in order, and the list of step arrays."""
    lists = [[] for _ in names]
    steps = []
    for p in params:
        st = state[p]
        for name, out in zip(names, lists):
            if name not in st:
                st[name] = Tensor._make(np.zeros_like(p._data))
            out.append(st[name]._data)
        steps.append(_step_tensor(st)._data)
    return lists, steps


def _decayed_grad(d, grad, lr, weight_decay, decoupled, maximize):
    """The gradient of NAdam/RAdam's update: with ``decoupled`` weight decay the parameter
    shrinks in place first (p *= 1 - lr * weight_decay, AdamW's rule), otherwise the decay is
    the L2 term added to the gradient."""
    if decoupled and weight_decay != 0:
        d *= 1 - lr * weight_decay
        return effective_grad(d, grad, maximize, 0)
    return effective_grad(d, grad, maximize, weight_decay)
