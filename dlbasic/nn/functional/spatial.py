"""Rearranging pixels: ``pixel_shuffle`` (sub-pixel convolution's upsampling: channels become
an r x r block of pixels) and its inverse ``pixel_unshuffle``; ``channel_shuffle``.  Reshapes
and one permute, so their gradient is the same rearrangement backwards."""
import numbers

from ...ops import movement as M

__all__ = ["pixel_shuffle", "pixel_unshuffle", "channel_shuffle"]


def _check(input, name, factor_name, factor):
    if input.ndim < 3:
        raise RuntimeError(f"{name} expects input to have at least 3 dimensions, but got input "
                           f"with {input.ndim} dimension(s)")
    if factor <= 0:
        raise RuntimeError(f"{name} expects a positive {factor_name}, but got {factor}")


def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r): out[c, h r + i, w r + j] = in[c r^2 + i r + j, h, w]."""
    r = upscale_factor
    _check(input, "pixel_shuffle", "upscale_factor", r)
    *batch, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be "
                           f"divisible by the square of upscale_factor, but input.size(-3)={c} "
                           f"is not divisible by {r * r}")
    n = len(batch)
    x = M.reshape(input, tuple(batch) + (c // (r * r), r, r, h, w))
    x = M.permute(x, tuple(range(n)) + (n, n + 3, n + 1, n + 4, n + 2))
    return M.reshape(x, tuple(batch) + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H r, W r) -> (*, C r^2, H, W), the inverse of ``pixel_shuffle``."""
    r = downscale_factor
    _check(input, "pixel_unshuffle", "downscale_factor", r)
    *batch, c, h, w = input.shape
    if h % r:
        raise RuntimeError(f"pixel_unshuffle expects height to be divisible by downscale_factor,"
                           f" but input.size(-2)={h} is not divisible by {r}")
    if w % r:
        raise RuntimeError(f"pixel_unshuffle expects width to be divisible by downscale_factor, "
                           f"but input.size(-1)={w} is not divisible by {r}")
    n = len(batch)
    x = M.reshape(input, tuple(batch) + (c, h // r, r, w // r, r))
    x = M.permute(x, tuple(range(n)) + (n, n + 2, n + 4, n + 1, n + 3))
    return M.reshape(x, tuple(batch) + (c * r * r, h // r, w // r))


def channel_shuffle(input, groups):
    """(N, g*k, *) -> (N, k*g, *): channel i*k + j moves to j*g + i (ShuffleNet's mixing of
    grouped convolutions' outputs); a reshape, a transpose and a reshape, so the gradient is
    the inverse permutation of the upstream gradient."""
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral):
        raise TypeError(f"channel_shuffle(): argument 'groups' (position 2) must be int, not "
                        f"{type(groups).__name__}")
    if input.ndim <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with "
                           f"sizes {list(input.shape)}")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of "
                           f"groups:{groups}")
    n, c, *rest = input.shape
    if c % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels "
                           f"and {groups} groups.")
    x = M.reshape(input, (n, groups, c // groups) + tuple(rest))
    return M.reshape(M.transpose(x, 1, 2), tuple(input.shape))
