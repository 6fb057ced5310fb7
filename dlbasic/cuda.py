"""torch.cuda as seen from a CPU-only library: CUDA is never available.

Scripts write ``device = torch.device("cuda" if torch.cuda.is_available() else "cpu")`` and
``torch.cuda.manual_seed_all(seed)``; both work here and pick the CPU.  Asking for a CUDA
device itself raises the clear RuntimeError of ``dlbasic.device``.
"""

__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all", "synchronize",
           "empty_cache", "is_bf16_supported", "current_device"]


def is_available():
    return False


def device_count():
    return 0


def manual_seed(seed):
    """Accepted as torch accepts it without a GPU: there is no CUDA generator to seed."""


def manual_seed_all(seed):
    """Accepted as torch accepts it without a GPU: there is no CUDA generator to seed."""


def synchronize(device=None):
    raise RuntimeError("dlbasic runs on the CPU only; CUDA is not available")


def empty_cache():
    """Nothing is cached on a device that does not exist."""


def is_bf16_supported(including_emulation=True):
    return False


def current_device():
    raise RuntimeError("dlbasic runs on the CPU only; CUDA is not available")
