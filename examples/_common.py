"""Shared plumbing for the examples: ``--quick`` / ``--out`` flags, figures, claim checks.

Every example states a claim of the notes, measures it with a number, and exits non-zero when
the number says the claim does not hold (``check``).  ``--quick`` is the small version that the
test suite runs in a few seconds; figures go to ``--out`` (default ``runs/examples``).
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:             # run from a checkout without installing
    sys.path.insert(0, ROOT)

from dlbasic.app.plotting import pyplot, missing_note     # noqa: E402


def parse_args(description, extra=None, argv=None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="small, fast version that checks the claim (used by the tests)")
    parser.add_argument("--out", default=os.path.join("runs", "examples"),
                        help="directory for figures (default: runs/examples)")
    parser.add_argument("--seed", type=int, default=0)
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    return args


def figure(args, name, fig):
    """Save ``fig`` as ``<out>/<name>.png`` and say where."""
    path = os.path.join(args.out, name + ".png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    print(f"figure: {path}")
    return path


def plt_or_note(what):
    plt = pyplot()
    if plt is None:
        print(missing_note(what))
    return plt


_failures = []


def check(ok, message):
    """Print a claim with its verdict; remember failures for ``finish``."""
    print(f"[{'ok' if ok else 'FAILED'}] {message}")
    if not ok:
        _failures.append(message)
    return ok


def finish():
    if _failures:
        print(f"{len(_failures)} claim(s) did not hold", file=sys.stderr)
        sys.exit(1)
    print("all claims hold")
