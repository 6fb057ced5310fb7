"""Atomic file replacement for the writers that produce a whole file at once (safetensors,
ONNX): the new bytes go to a temporary file beside the target, which is fsynced and renamed
over it, so a crash leaves the old file or the new one, never a torn one.  (``dlbasic.save``
has its own writer in ``serialization.py``: it streams, locks and cleans up after killed
writers.)
"""
import errno
import os
import secrets

__all__ = ["atomic_write", "fsync_path"]


def fsync_path(path, flags=os.O_RDONLY):
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(filename, write, what="save"):
    """Call ``write(tmp)`` on a fresh temporary beside ``filename``, fsync it and rename it
    over ``filename``; on failure remove the temporary and leave ``filename`` as it was."""
    path = os.fsdecode(filename)
    if os.path.islink(path):             # replace the file the link points to, not the link
        path = os.path.realpath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"Is a directory: {what} needs a file path",
                                path)
    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        mode = None
    # the rename would replace a write-protected file (and root's open ignores the mode):
    # refuse, as writing into it would be refused
    if mode is not None and (not mode & 0o222 or not os.access(path, os.W_OK)):
        raise PermissionError(errno.EACCES, f"Permission denied: the existing file is "
                                            f"write-protected (mode {oct(mode)})", path)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}-"
                                  f"{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as e:                  # missing or read-only directory: name the target
        raise type(e)(e.errno, f"{e.strerror} (cannot create a file in {directory})",
                      path) from None
    try:
        try:
            if mode is None:              # a new file: 0o666 less the umask, as open() gives
                mode = os.fstat(fd).st_mode & 0o777
        finally:
            os.close(fd)
        write(tmp)                        # the package may recreate the file with its own mode
        fsync_path(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:                                  # make the rename itself durable
        fsync_path(directory)
    except OSError:
        pass
