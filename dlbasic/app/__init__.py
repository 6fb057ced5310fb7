"""dlbasic's application layer: programs written on the library, the way a user would.

    train.py      the training engine and recipes behind ``dlbasic train`` and the demo
    cli.py        the ``dlbasic`` command (``train``, ``eval``, ``flops``, ``profile``, ``export``)
    demo.py       ``make demo``: a small ResNet on Fashion-MNIST in a few minutes
    plotting.py   optional matplotlib figures for the command line and the examples

It imports the library (``dlbasic``, ``dlbasic.models``, ...) and the library never imports
it.  The entry points keep their old names as two-line modules at the top of the package:
``dlbasic.cli:main`` (the console script), ``python -m dlbasic`` and ``python -m dlbasic.demo``.
"""
