"""``python -m dlbasic ...`` is the ``dlbasic`` command line (the code is dlbasic/app/cli.py)."""
import sys

from .app.cli import main

sys.exit(main())
