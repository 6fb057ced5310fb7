"""The NumPy optimizer-update kernels: one parameter updated in place (the math: optim/).

    sgd_update:   g = (-grad if maximize else grad) + weight_decay * p
                  b = g (first step) or momentum * b + (1 - dampening) * g
                  p = p - lr * (g + momentum * b if nesterov else b)      (b: buf; no buf: b = g)
    adam_update:  g = (-grad if maximize else grad) (+ weight_decay * p unless decoupled)
                  p = p * (1 - lr * weight_decay)                          (decoupled, AdamW)
                  m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g^2
                  p = p - step_size * m / (sqrt(max(vmax, v)) / bias2_sqrt + eps)

Scalars arrive as Python floats; NumPy keeps the arrays' dtype (float32 stays float32), in the
order of operations torch uses, so results match torch's to the last bit or so.
"""
import numpy as np

__all__ = ["sgd_update", "adam_update"]


def effective_grad(d, grad, maximize, weight_decay):
    """The gradient an update uses: negated for ``maximize``, plus the L2 term weight_decay*d
    (shared with the optimizers whose update has no kernel of its own)."""
    g = np.negative(grad) if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * d
    return g


def sgd_update(d, grad, buf, first, lr, weight_decay, momentum, dampening, nesterov, maximize):
    """SGD on ``d`` in place; ``buf`` (the momentum buffer, or None without momentum) too.
    ``first``: ``buf`` is new and takes the gradient itself (torch's ``clone`` on step 1)."""
    g = effective_grad(d, grad, maximize, weight_decay)
    if buf is not None:
        if first:
            np.copyto(buf, g)
        else:
            buf *= momentum
            if dampening == 0:
                buf += g                 # no temporary for the common case
            else:
                buf += g * (1.0 - dampening)
        g = g + momentum * buf if nesterov else buf
    d -= g * lr


def lerp_(start, end, weight):
    """start <- start + weight * (end - start), in torch's two-branch form for accuracy."""
    diff = end - start
    if abs(weight) < 0.5:
        diff *= weight
        start += diff
    else:
        diff *= (1.0 - weight)
        np.subtract(end, diff, out=start)


def adam_update(d, grad, m, v, vmax, lr, beta1, beta2, eps, weight_decay, decoupled, maximize,
                step_size, bias2_sqrt):
    """Adam/AdamW on ``d``, ``m``, ``v`` (and ``vmax`` with amsgrad, else None) in place;
    ``step_size`` = lr / (1 - beta1^t), ``bias2_sqrt`` = sqrt(1 - beta2^t)."""
    g = effective_grad(d, grad, maximize, 0 if decoupled else weight_decay)
    if decoupled and weight_decay != 0:
        d *= 1.0 - lr * weight_decay
    lerp_(m, g, 1.0 - beta1)
    v *= beta2
    sq = g * g
    sq *= 1.0 - beta2
    v += sq
    if vmax is not None:
        np.maximum(vmax, v, out=vmax)
        denom = np.sqrt(vmax)
    else:
        denom = np.sqrt(v)
    denom /= bias2_sqrt
    denom += eps
    # p <- p + (-step_size) * m / denom, the scalar applied first as torch does
    upd = m * (-step_size)
    upd /= denom
    d += upd
