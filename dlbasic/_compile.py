"""``dlbasic.compile``: torch.compile's signature, eager execution.

Tutorials wrap their model in ``model = torch.compile(model)`` or decorate a function with
``@torch.compile`` / ``@torch.compile(mode="max-autotune")``.  dlbasic has no graph compiler:
its speed comes from the hand-fused kernels of ``dlbasic.backend``, which every call already
uses.  So ``compile`` checks its arguments as torch does and hands back what it was given.
"""

__all__ = ["compile"]

# the modes torch.compile accepts (it checks them when called, before anything is compiled)
_MODES = ("default", "lite", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")


def compile(model=None, *, fullgraph=False, dynamic=None, backend="inductor", mode=None,  # noqa: A001
            options=None, name=None, disable=False, recompile_limit=None,
            isolate_recompiles=False, shapes_spec=None):
    """torch.compile, without a compiler: returns ``model`` itself, unchanged.

    dlbasic has no graph compiler (no TorchDynamo, no Inductor), so the "compiled" model or
    function runs eagerly, exactly as before: its results never change, and there is no
    warm-up or recompilation.  What comes back is the very object passed in, so a module keeps
    its ``state_dict`` keys (torch's wrapper prefixes them with ``_orig_mod.``) and
    ``isinstance`` checks.  ``fullgraph``, ``dynamic``, ``backend``, ``options``, ``name`` and
    the recompilation settings are accepted and have no effect; ``mode`` and ``options`` are
    checked as torch checks them.

    Works as torch's does: ``compile(model)``, ``@compile`` and ``@compile(mode=...)`` (called
    without a model it returns the decorator).
    """
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be "
                           "specified at the same time.")
    if mode is not None and mode not in _MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(_MODES)}")
    if options is not None and not isinstance(options, dict):
        raise TypeError(f"compile(): options must be a dict, got {type(options).__name__}")
    if model is None:
        def decorator(fn):
            return compile(fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode,
                           options=options, name=name, disable=disable,
                           recompile_limit=recompile_limit,
                           isolate_recompiles=isolate_recompiles, shapes_spec=shapes_spec)
        return decorator
    if not callable(model):
        # torch's type and message (it asserts); raised here, so ``python -O`` keeps it
        raise AssertionError(f"A callable function is expected, but {type(model)} is provided.")
    return model
