"""Figures for the command line and the examples: matplotlib with the Agg backend, optional.

Every function returns the path it wrote, or ``None`` when matplotlib is not installed, so
callers can print a note instead of failing (plots are a nicety, never a requirement).
"""
import os

__all__ = ["have_matplotlib", "pyplot", "save_curves", "save_confusion_matrix"]

_MISSING_NOTE = "matplotlib is not installed: skipping {what} (pip install matplotlib)"


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend, or None when it is absent."""
    try:
        import matplotlib
        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def have_matplotlib():
    try:
        import matplotlib                                          # noqa: F401
    except ImportError:
        return False
    return True


def new_figure(figsize):
    """A bare Agg ``Figure`` (no pyplot: cheaper to import, safe off the main thread)."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError:
        return None
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def missing_note(what):
    return _MISSING_NOTE.format(what=what)


def _atomic_savefig(fig, path, **kwargs):
    # write beside the target and rename, so a viewer never sees half a PNG
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}.png"
    fig.savefig(tmp, **kwargs)
    os.replace(tmp, path)


def save_curves(history, path, title=None):
    """Loss and accuracy against epoch, train and test, side by side.

    ``history`` is a list of dicts with keys epoch, train_loss, train_acc, test_loss, test_acc.
    """
    fig = new_figure((10, 4))
    if fig is None:
        return None
    epochs = [h["epoch"] for h in history]
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax_loss.plot(epochs, [h["test_loss"] for h in history], "s-", label="test")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy loss")
    ax_loss.set_title("loss")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend()
    ax_acc.plot(epochs, [100 * h["train_acc"] for h in history], "o-", label="train")
    ax_acc.plot(epochs, [100 * h["test_acc"] for h in history], "s-", label="test")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_title("accuracy")
    ax_acc.grid(alpha=0.3)
    ax_acc.legend()
    for ax in (ax_loss, ax_acc):
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.85 if title else 0.9,
                        wspace=0.25)
    _atomic_savefig(fig, path, dpi=110)
    return path


def save_confusion_matrix(matrix, class_names, path, title=None):
    """A confusion matrix (rows: true class, columns: predicted) as a heat map with counts."""
    fig = new_figure((7.5, 6.5))
    if fig is None:
        return None
    import numpy as np
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    ax = fig.subplots()
    fig.subplots_adjust(left=0.18, right=0.9, bottom=0.2, top=0.93)
    im = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(class_names, rotation=45, ha="right")
    ax.set_yticklabels(class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=7,
                    color="white" if matrix[i, j] > threshold else "black")
    if title:
        ax.set_title(title)
    _atomic_savefig(fig, path, dpi=110)
    return path
