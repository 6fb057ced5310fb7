"""``python -m dlbasic ...`` is the ``dlbasic`` command line (see ``dlbasic.cli``)."""
import sys

from .cli import main

sys.exit(main())
