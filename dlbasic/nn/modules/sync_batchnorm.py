"""``SyncBatchNorm``: BatchNorm whose batch statistics are those of all ranks' samples together.

With plain BatchNorm under DistributedDataParallel every rank normalises with the mean and
variance of its own part of the batch.  SyncBatchNorm sums, per channel, the count, ``sum x``
and ``sum x^2`` over the ranks (one all_reduce), so each rank normalises with the global

    mu = sum x / n,   sigma^2 = sum x^2 / n - mu^2      (n: all ranks' values per channel)

and backward sums ``sum dy`` and ``sum dy * (x - mu)`` over the ranks too, which is what the
gradient of the global formula needs:

    dx = gamma / sigma_eps * (dy - sum dy / n - (x - mu) / sigma_eps^2 * sum dy (x - mu) / n)

Outside training, or without a process group of more than one rank, it is ``F.batch_norm``.
"""
import numpy as np

from ... import _creation
from ... import distributed as dist
from ..._tensor_base import TensorBase
from ...autograd.function import Function
from ...autograd.grad_mode import no_grad
from .. import functional as F
from .batchnorm import _BatchNorm

__all__ = ["SyncBatchNorm"]


def _all_reduce_sum(arr, group):
    """Sum a float64 array over the group's ranks, in place."""
    holder = _creation.from_numpy(arr)
    dist.all_reduce(holder, group=group)
    return holder._data


class _SyncBatchNormFunction(Function):
    @staticmethod
    def forward(ctx, input, weight, bias, running_mean, running_var, eps, momentum, group):
        x = input._data
        C = x.shape[1]
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, C) + (1,) * (x.ndim - 2)
        x64 = x.astype(np.float64)
        stats = np.concatenate([x64.sum(axis=axes), (x64 * x64).sum(axis=axes),
                                [float(x.size // C)]])
        stats = _all_reduce_sum(stats, group)
        n = stats[-1]
        mean = stats[:C] / n
        var = np.maximum(stats[C:2 * C] / n - mean * mean, 0.0)
        invstd = 1.0 / np.sqrt(var + eps)
        if running_mean is not None:
            running_mean._data[...] = (1 - momentum) * running_mean._data + momentum * mean
            running_mean._bump()
        if running_var is not None:
            unbiased = var * n / max(n - 1, 1)
            running_var._data[...] = (1 - momentum) * running_var._data + momentum * unbiased
            running_var._bump()
        xmu = x - mean.astype(x.dtype).reshape(shape)
        xhat = xmu * invstd.astype(x.dtype).reshape(shape)
        y = xhat
        if weight is not None:
            y = y * weight._data.reshape(shape)
        if bias is not None:
            y = y + bias._data.reshape(shape)
        ctx.xhat, ctx.xmu, ctx.invstd, ctx.n = xhat, xmu, invstd, n
        ctx.weight, ctx.has_bias, ctx.group = weight, bias is not None, group
        ctx.axes, ctx.shape = axes, shape
        return TensorBase._make(np.ascontiguousarray(y, dtype=x.dtype))

    @staticmethod
    def backward(ctx, grad_output):
        dy = grad_output._data
        axes, shape, C = ctx.axes, ctx.shape, ctx.xmu.shape[1]
        dy64 = dy.astype(np.float64)
        sum_dy_local = dy64.sum(axis=axes)
        sum_dy_xmu_local = (dy64 * ctx.xmu).sum(axis=axes)
        sums = _all_reduce_sum(np.concatenate([sum_dy_local, sum_dy_xmu_local]), ctx.group)
        sum_dy, sum_dy_xmu = sums[:C], sums[C:]
        invstd = ctx.invstd
        scale = invstd if ctx.weight is None else invstd * ctx.weight._data.astype(np.float64)
        dt = dy.dtype
        dx = (dy - (sum_dy / ctx.n).astype(dt).reshape(shape)
              - ctx.xmu * (invstd * invstd * sum_dy_xmu / ctx.n).astype(dt).reshape(shape)) \
            * scale.astype(dt).reshape(shape)
        dw = TensorBase._make((dy64 * ctx.xhat).sum(axis=axes).astype(dt)) \
            if ctx.weight is not None else None
        db = TensorBase._make(sum_dy_local.astype(dt)) if ctx.has_bias else None
        return TensorBase._make(np.ascontiguousarray(dx)), dw, db, None, None, None, None, None


class SyncBatchNorm(_BatchNorm):
    """BatchNorm over (N, C, *) inputs with statistics synchronised across the ranks of
    ``process_group`` (default: all) while training."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, process_group=None, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype)
        self.process_group = process_group

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def _check_non_zero_input_channels(self, input):
        if input.size(1) == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")

    def forward(self, input):
        self._check_input_dim(input)
        self._check_non_zero_input_channels(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.item())
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        running_mean = self.running_mean if keep else None
        running_var = self.running_var if keep else None
        need_sync = bn_training and self.training and dist.is_initialized() and \
            dist.get_world_size(self.process_group) > 1
        if not need_sync:
            return F.batch_norm(input, running_mean, running_var, self.weight, self.bias,
                                bn_training, factor, self.eps)
        if input.numel() // max(input.size(1), 1) * dist.get_world_size(self.process_group) <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input "
                             f"size {list(input.shape)}")
        return _SyncBatchNormFunction.apply(input, self.weight, self.bias, running_mean,
                                            running_var, self.eps, factor, self.process_group)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """A copy of ``module``'s tree with every BatchNorm*d replaced by a SyncBatchNorm that
        shares its parameters and buffers."""
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            out = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, process_group)
            if module.affine:
                with no_grad():
                    out.weight = module.weight
                    out.bias = module.bias
            out.running_mean = module.running_mean
            out.running_var = module.running_var
            out.num_batches_tracked = module.num_batches_tracked
            out.training = module.training
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        del module
        return out
