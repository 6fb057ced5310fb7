"""torch.accelerator as seen from a CPU-only library: there is never an accelerator.

Device-agnostic scripts write
``device = torch.accelerator.current_accelerator() or torch.device("cpu")`` or test
``torch.accelerator.is_available()``; both work here and pick the CPU.  What needs an
accelerator (its index, its streams, synchronising it) raises torch's RuntimeError for a
machine without one.
"""

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index",
           "set_device_index", "synchronize"]

_NONE = "Cannot access accelerator device when none is available."


def is_available():
    """False: dlbasic computes on the CPU only."""
    return False


def current_accelerator(check_available=False):
    """None: there is no accelerator (torch answers the same on a CPU-only machine)."""
    return None


def device_count():
    """0 accelerator devices."""
    return 0


def current_device_index():
    raise RuntimeError(_NONE)


def set_device_index(device, /):
    raise RuntimeError(_NONE)


def synchronize(device=None, /):
    raise RuntimeError(_NONE)
