"""``python -m dlbasic.demo`` (``make demo``); the code is dlbasic/app/demo.py."""
import sys

from .app.demo import main

if __name__ == "__main__":
    sys.exit(main())
