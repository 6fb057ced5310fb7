"""Weight averaging: Stochastic Weight Averaging (Izmailov et al., 2018,
arXiv:1803.05407) and exponential moving averages of a model's weights.

``AveragedModel`` keeps a deep copy of a model whose parameters (and, with
``use_buffers=True``, buffers) are a running average of the model's: the first
``update_parameters`` copies them, each later one applies an averaging rule

    SWA:  W_avg <- W_avg + (W - W_avg) / (n + 1)        (the mean of the n + 1 models seen)
    EMA:  W_avg <- decay W_avg + (1 - decay) W

``SWALR`` anneals each group's learning rate to a constant ``swa_lr`` over ``anneal_epochs``
steps, and ``update_bn`` recomputes BatchNorm statistics for averaged weights with one pass
over the data.  The update rules are torch's, down to which form runs when: the "multi"
functions update lists in place with lerp (a Tensor ``n_averaged`` makes the SWA weight
1 / (n + 1) a float32 number, as in torch), the single-tensor ones return a new tensor.
"""
from copy import deepcopy
import itertools
import math

from .. import _creation
from .._dtype import int64
from ..autograd import no_grad
from ..backend.updates import lerp_
from ..nn.modules.batchnorm import _BatchNorm
from ..nn.modules.module import Module
from .lr_scheduler import LRScheduler, _format_param

__all__ = ["AveragedModel", "update_bn", "SWALR", "get_ema_multi_avg_fn",
           "get_swa_multi_avg_fn", "get_ema_avg_fn", "get_swa_avg_fn"]


def _check_decay(decay):
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. "
                         "Please provide a value in [0,1] range.")


def _is_float_or_complex(t):
    return t.dtype.is_floating_point or t.dtype.is_complex


def _lerp_all(starts, ends, weight):
    """start <- start + weight (end - start) for each pair, in place (torch's _foreach_lerp_:
    the two-branch lerp, exact at weight 1)."""
    for s, e in zip(starts, ends):
        lerp_(s._data, e._data, weight)
        s._vbox[0] += 1


def get_ema_multi_avg_fn(decay=0.999):
    """In-place EMA over lists: W_avg <- lerp(W_avg, W, 1 - decay)."""
    _check_decay(decay)

    @no_grad()
    def ema_update(ema_param_list, current_param_list, _):
        if _is_float_or_complex(ema_param_list[0]):
            _lerp_all(ema_param_list, current_param_list, 1 - decay)
        else:                                   # integer buffers: the float result truncates
            for p_ema, p_model in zip(ema_param_list, current_param_list, strict=True):
                p_ema.copy_(p_ema * decay + p_model * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn():
    """In-place SWA over lists: W_avg <- lerp(W_avg, W, 1 / (n + 1))."""

    @no_grad()
    def swa_update(averaged_param_list, current_param_list, num_averaged):
        if _is_float_or_complex(averaged_param_list[0]):
            weight = 1 / (num_averaged + 1)     # a float32 Tensor when num_averaged is one
            _lerp_all(averaged_param_list, current_param_list, float(weight))
        elif hasattr(num_averaged, "_data"):
            # torch divides the integer differences with addcdiv, which refuses integers
            raise RuntimeError(
                "Integer division with addcdiv is no longer supported, and in a future  "
                "release addcdiv will perform a true division of tensor1 and tensor2. The "
                "historic addcdiv behavior can be implemented as (input + value * "
                "dlbasic.trunc(tensor1 / tensor2)).to(input.dtype) for integer inputs and as "
                "(input + value * tensor1 / tensor2) for float inputs. The future addcdiv "
                "behavior is just the latter implementation: (input + value * tensor1 / "
                "tensor2), for all dtypes.")
        else:
            raise RuntimeError("For integral input tensors, argument alpha must not be a "
                               "floating point number.")

    return swa_update


def get_ema_avg_fn(decay=0.999):
    """EMA of one tensor: returns decay * W_avg + (1 - decay) * W."""
    _check_decay(decay)

    @no_grad()
    def ema_update(ema_param, current_param, num_averaged):
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn():
    """SWA of one tensor: returns W_avg + (W - W_avg) / (n + 1)."""

    @no_grad()
    def swa_update(averaged_param, current_param, num_averaged):
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


def _group_by_dtype(averaged, current):
    """Pairs of lists with one dtype each, in order of first appearance (torch groups a
    multi_avg_fn's inputs by device and dtype)."""
    groups = {}
    for a, c in zip(averaged, current):
        lists = groups.setdefault((str(a.device), a.dtype), ([], []))
        lists[0].append(a)
        lists[1].append(c)
    return groups


class AveragedModel(Module):
    """A copy of ``model`` (in ``self.module``) holding the running average of its weights.

    Args:
        model: the model to average.
        device: where the copy lives (default: where ``model`` is).
        avg_fn: ``avg_fn(W_avg, W, n_averaged) -> new W_avg`` for one tensor.
        multi_avg_fn: ``multi_avg_fn(W_avg_list, W_list, n_averaged)`` updating in place.
        use_buffers: average the buffers too (otherwise they are copied from ``model``).
    With neither function the average is SWA's equal-weight mean.
    """

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None,
                 use_buffers=False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", _creation.tensor(0, dtype=int64, device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def update_parameters(self, model):
        """Fold ``model``'s current weights into the average (the first call copies them)."""
        if self.use_buffers:
            self_params = itertools.chain(self.module.parameters(), self.module.buffers())
            model_params = itertools.chain(model.parameters(), model.buffers())
        else:
            self_params, model_params = self.parameters(), model.parameters()
        averaged, current = [], []
        copy_param = bool(self.n_averaged == 0)
        for p_avg, p_model in zip(self_params, model_params):
            p_model_ = p_model.detach().to(p_avg.device)
            averaged.append(p_avg.detach())
            current.append(p_model_)
            if copy_param:
                p_avg.detach().copy_(p_model_)

        if self.n_averaged > 0:
            if self.multi_avg_fn is not None:
                for (device, _), (avg_list, cur_list) in _group_by_dtype(averaged,
                                                                         current).items():
                    self.multi_avg_fn(avg_list, cur_list, self.n_averaged.to(device))
            else:
                # torch's default on the CPU is the single-tensor SWA rule
                avg_fn = self.avg_fn if self.avg_fn is not None else get_swa_avg_fn()
                for p_avg, p_model in zip(averaged, current, strict=True):
                    n_averaged = self.n_averaged.to(p_avg.device)
                    p_avg.detach().copy_(avg_fn(p_avg.detach(), p_model, n_averaged))

        if not self.use_buffers:
            # buffers are not averaged: keep them in sync with the source model
            for b_swa, b_model in zip(self.module.buffers(), model.buffers(), strict=True):
                b_swa.detach().copy_(b_model.detach().to(b_swa.device))
        self.n_averaged += 1


@no_grad()
def update_bn(loader, model, device=None):
    """Recompute the BatchNorm running statistics of ``model`` with one pass over
    ``loader`` (batches are tensors, or lists/tuples whose first item is the input): the
    statistics are reset and, with ``momentum=None``, become the plain average over batches.
    """
    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    for input in loader:
        if isinstance(input, (list, tuple)):
            input = input[0]
        if device is not None:
            input = input.to(device)
        model(input)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's learning rate from its current value to ``swa_lr`` (a number, or
    one per group) over ``anneal_epochs`` steps, then hold it.

    With a(t) = t ('linear') or (1 - cos(pi t)) / 2 ('cos') and t = min(1, step / epochs),
    the rate at a step is  swa_lr * a(t) + lr_0 * (1 - a(t)),  where lr_0 is recovered from
    the current rate and the previous step's a: lr_0 = (lr - a_prev swa_lr) / (1 - a_prev).
    """

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos",
                 last_epoch=-1):
        swa_lrs = _format_param("swa_lr", optimizer, swa_lr)
        for value, group in zip(swa_lrs, optimizer.param_groups, strict=True):
            group["swa_lr"] = value
        if anneal_strategy not in ["cos", "linear"]:
            raise ValueError("anneal_strategy must be one of 'cos' or 'linear', "
                             f"instead got {anneal_strategy}")
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t):
        return t

    @staticmethod
    def _cosine_anneal(t):
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self):
        self._warn_get_lr()
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        prev_lrs = [self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha)
                    for group in self.optimizer.param_groups]
        t = max(0, min(1, step / max(1, self.anneal_epochs)))
        alpha = self.anneal_func(t)
        return [group["swa_lr"] * alpha + lr * (1 - alpha)
                for group, lr in zip(self.optimizer.param_groups, prev_lrs, strict=True)]

    def _set_anneal_func(self, anneal_strategy):
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" \
            else self._linear_anneal

    def state_dict(self):
        """Every attribute except the optimizer and the annealing function."""
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)
        self._set_anneal_func(self._anneal_strategy)
