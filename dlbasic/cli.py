"""The ``dlbasic`` console script (``dlbasic.cli:main``); the code is dlbasic/app/cli.py."""
import sys

from .app.cli import main

if __name__ == "__main__":
    sys.exit(main())
