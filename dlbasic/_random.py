"""Random numbers: ``Generator`` objects and the global default one (``manual_seed``)."""
import io
import pickle

import numpy as np

from ._tensor_base import TensorBase, _CPU

__all__ = ["Generator", "manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state",
           "default_generator"]


class Generator:
    """A seeded stream of random numbers (torch.Generator): same seed, same numbers."""

    def __init__(self, device="cpu"):
        self._seed = 67280421310721        # torch's default seed, for familiarity
        self._rng = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed):
        seed = int(seed)
        if seed < 0:
            seed &= (1 << 64) - 1
        self._seed = seed
        self._rng = np.random.Generator(np.random.PCG64(seed))
        return self

    def seed(self):
        s = int(np.random.SeedSequence().entropy % (1 << 63))
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._seed

    def get_state(self):
        raw = pickle.dumps((self._seed, self._rng.bit_generator.state))
        return TensorBase._make(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, state):
        data = state._data.tobytes() if hasattr(state, "_data") else bytes(state)
        seed, st = _safe_state_loads(data)
        self._seed = seed
        self._rng = np.random.Generator(np.random.PCG64())
        self._rng.bit_generator.state = st
        return self

    @property
    def device(self):
        return _CPU

    # numpy access for kernels
    @property
    def rng(self):
        return self._rng


def _safe_state_loads(data):
    """Generator states are plain dicts of ints and strings; refuse anything else."""
    class _Restricted(pickle.Unpickler):
        def find_class(self, module, name):
            raise pickle.UnpicklingError(f"generator state may not reference {module}.{name}")
    return _Restricted(io.BytesIO(data)).load()


default_generator = Generator()


def manual_seed(seed):
    """Seed the default generator: the same seed gives the same random numbers."""
    default_generator.manual_seed(seed)
    return default_generator


def seed():
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(new_state):
    default_generator.set_state(new_state)


def _rng(generator=None):
    return (generator or default_generator)._rng
