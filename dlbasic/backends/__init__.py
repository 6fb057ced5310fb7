"""torch.backends: the flags scripts set (``torch.backends.cudnn.benchmark = True``) and the
availability checks they make (``torch.backends.mps.is_available()``).  On this CPU-only
library the flags are accepted and change nothing; the accelerators are not available."""
import types

__all__ = ["cudnn", "mps", "cuda"]


def _false():
    return False


cudnn = types.SimpleNamespace(benchmark=False, deterministic=False, enabled=True,
                              allow_tf32=True, is_available=_false)
mps = types.SimpleNamespace(is_available=_false, is_built=_false)
cuda = types.SimpleNamespace(is_built=_false,
                             matmul=types.SimpleNamespace(allow_tf32=False))
