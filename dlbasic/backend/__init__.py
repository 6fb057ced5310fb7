"""Kernels: the heavy loops behind the ops, by name, from one of two tables.

An op states its math and its local gradient; the bulk work it needs (a BatchNorm's
per-channel sums, its normalisation, ...) it asks for by name, ``kernels.batch_norm_stats(x3)``.
Every name has two implementations:

* ``numpy`` (``reference.py``): NumPy, written to be read; the oracle the other is tested
  against;
* ``compiled`` (``compiled.py``): plain loops over the same formula, compiled by Numba the first
  time they run (and cached on disk, so a new process only loads them).

``DLBASIC_KERNELS=numpy|compiled`` picks the table when dlbasic is imported; the default is
``compiled`` when Numba is installed, else ``numpy`` (with one warning).  ``use("numpy")``
switches at run time (it also works as a context manager) and ``active()`` says which table
runs.  A name the compiled table lacks runs its NumPy kernel.

Threads: a compiled kernel is a ``nogil`` loop over a range of samples, split over the cores by
dlbasic's own pool (``dlbasic._parallel.for_ranges``), as the NumPy kernels are.  Numba's
``parallel=True`` is not used: its thread pool is not safe to enter from several Python threads
at once, and it would compete with ours (and with OpenBLAS's) for the two cores.
"""
import importlib.util
import os
import warnings

from . import reference

__all__ = ["kernels", "use", "active", "available", "KERNEL_NAMES"]

KERNEL_NAMES = tuple(reference.__all__)


class _Kernels:
    """The active table: one attribute per kernel name (replaced in place by ``use``)."""

    def __repr__(self):
        return f"<dlbasic kernels: {_active}>"


kernels = _Kernels()
_active = None
_compiled = None          # the compiled module once loaded, False if it cannot be


def available():
    """The kernel tables this installation can run (Numba's presence is checked without
    importing it)."""
    try:
        found = importlib.util.find_spec("numba") is not None
    except (ImportError, ValueError):              # e.g. sys.modules["numba"] = None
        found = False
    return ("numpy", "compiled") if found else ("numpy",)


def active():
    """``'numpy'`` or ``'compiled'``: the table the ops call now."""
    return _active


def _load_compiled():
    """Import compiled.py (and Numba) on the first compiled call: ``import dlbasic`` stays fast."""
    global _compiled
    if _compiled is None:
        try:
            from . import compiled
            _compiled = compiled
        except Exception as e:                         # pragma: no cover - broken Numba
            _compiled = False
            warnings.warn(f"dlbasic: the compiled kernels could not be loaded ({e}); running "
                          "the NumPy kernels", RuntimeWarning, stacklevel=3)
    return _compiled


def _lazy(name):
    """A stand-in that loads the compiled table on first use, then steps aside."""
    def first_call(*args, **kwargs):
        module = _load_compiled()
        if _active == "compiled":
            _fill("compiled")
        fn = getattr(module, name, None) if module else None
        return (fn or getattr(reference, name))(*args, **kwargs)
    first_call.__name__ = name
    return first_call


def _fill(name):
    module = _compiled if name == "compiled" else reference
    for k in KERNEL_NAMES:
        if name == "compiled" and module is None:
            setattr(kernels, k, _lazy(k))
        else:
            setattr(kernels, k, getattr(module, k, None) or getattr(reference, k))


class use:
    """Switch to the ``'numpy'`` or ``'compiled'`` kernels; as a context manager, switch back
    on exit."""

    def __init__(self, name):
        global _active
        if name not in ("numpy", "compiled"):
            raise ValueError(f"dlbasic kernels: expected 'numpy' or 'compiled', got {name!r}")
        if name == "compiled" and "compiled" not in available():
            raise RuntimeError("dlbasic kernels: 'compiled' needs Numba (pip install numba)")
        self._previous = _active
        _active = name
        _fill(name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            use(self._previous)
        return False


def _initial():
    wanted = os.environ.get("DLBASIC_KERNELS", "").strip().lower()
    if wanted not in ("", "numpy", "compiled"):
        warnings.warn(f"DLBASIC_KERNELS={wanted!r}: expected 'numpy' or 'compiled'; using the "
                      "default", RuntimeWarning, stacklevel=2)
        wanted = ""
    if wanted == "numpy":
        return "numpy"
    if "compiled" in available():
        return "compiled"
    warnings.warn("dlbasic: Numba is not installed, so the NumPy reference kernels run "
                  "(slower); pip install numba for the compiled ones", RuntimeWarning,
                  stacklevel=2)
    return "numpy"


use(_initial())
