"""``BatchNorm1d``, ``BatchNorm2d``, ``BatchNorm3d`` (torch's _BatchNorm semantics).

Training: normalise with the batch mean and *biased* variance; update running_mean and
running_var (the latter with the *unbiased* variance) by an exponential average with
``momentum``, or by a cumulative average (1/num_batches_tracked) when ``momentum=None``.
Eval: normalise with the running statistics -- unless ``track_running_stats=False``, in which
case batch statistics are used in both modes.
"""
from ... import _creation
from ..._dtype import int64 as _int64
from ...autograd.grad_mode import no_grad
from .. import init
from .. import functional as F
from ..functional.batchnorm import batch_norm_relu as _batch_norm_relu
from ..parameter import Parameter
from .activation import ReLU
from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]


def batch_norm_relu(bn, relu, input):
    """``relu(bn(input))`` for the modules ``bn`` and ``relu``, as one op when that is exactly
    what the two calls would do.

    That is: ``bn`` is a BatchNorm module whose forward is _BatchNorm's (not SyncBatchNorm or
    another override), ``relu`` an ``nn.ReLU``, and neither has forward hooks.  Then the
    values, gradients and running statistics are those of the two calls, and the ReLU needs no
    pass of its own over the activation (``ops.batchnorm.BatchNormReLU``).  Otherwise the two
    modules are simply called.  dlbasic's models use it where torch's write
    ``self.relu(self.bn1(x))``.
    """
    if (isinstance(bn, _BatchNorm) and type(bn).forward is _BatchNorm.forward
            and type(relu) is ReLU and not (bn._forward_hooks or bn._forward_pre_hooks
                                            or relu._forward_hooks or relu._forward_pre_hooks)):
        return bn._normalize(input, _batch_norm_relu)
    return relu(bn(input))


class _BatchNorm(Module):
    _version = 2

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(_creation.empty(num_features, dtype=dtype))
            if bias:
                self.bias = Parameter(_creation.empty(num_features, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", _creation.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", _creation.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", _creation.tensor(0, dtype=_int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input):
        raise NotImplementedError

    def extra_repr(self):
        # torch >= 2.10 prints the keyword-only ``bias`` flag too
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")

    def forward(self, input):
        return self._normalize(input, F.batch_norm)

    def _normalize(self, input, batch_norm):
        """forward's bookkeeping (running-stat factor, batches counted), then ``batch_norm``."""
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:       # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch_stats = self.training or (self.running_mean is None
                                            and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return batch_norm(input, self.running_mean if keep else None,
                          self.running_var if keep else None, self.weight, self.bias,
                          use_batch_stats, factor, self.eps)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # checkpoints older than version 2 have no num_batches_tracked: start it at 0
        version = local_metadata.get("version", None)
        key = prefix + "num_batches_tracked"
        if (version is None or version < 2) and self.track_running_stats \
                and key not in state_dict:
            state_dict[key] = _creation.tensor(0, dtype=_int64)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) input."""

    def _check_input_dim(self, input):
        if input.dim() != 2 and input.dim() != 3:
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) input, per channel."""

    def _check_input_dim(self, input):
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")


class BatchNorm3d(_BatchNorm):
    """Batch norm over (N, C, D, H, W) input, per channel."""

    def _check_input_dim(self, input):
        if input.dim() != 5:
            raise ValueError(f"expected 5D input (got {input.dim()}D input)")
