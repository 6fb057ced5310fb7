class Module:
    """Placeholder until the Module system lands."""
