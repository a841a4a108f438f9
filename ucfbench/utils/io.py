"""Crash-safe file writes (no heavy imports: every entry point can use it).

Files and folders are created with the user's umask (``0666 & ~umask``, ``0777 & ~umask``), as
``open`` and ``mkdir`` would: ``tempfile`` makes them owner-only, and a temporary name renamed
into place would keep that, hiding results from colleagues on a shared server.

A write that fails because the disk is full, the file system is read-only or the folder is not
writable raises :class:`WriteError`: a user error (a few lines, exit 2) naming the path and what
to do, with the ``OSError`` as its cause.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from ucfbench.utils.errors import UsageError

# errno -> (what happened, what to do)
_WHY = {
    errno.ENOSPC: ("the disk is full", "Free space in {where}"),
    errno.EDQUOT: ("the disk quota is exceeded", "Free space in {where}"),
    errno.EROFS: ("the file system is read-only", "Use a writable folder instead of {where}"),
    errno.EACCES: ("permission denied", "Use a folder you can write to instead of {where}"),
    errno.EPERM: ("permission denied", "Use a folder you can write to instead of {where}"),
}


class WriteError(UsageError):
    """A file or folder could not be written (full disk, read-only file system, no permission)."""


def human_bytes(n: float) -> str:
    """``1.3 MB``, ``241 MB``, ``12.4 GB`` (decimal units, as ``df -H`` prints them)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" or abs(n) >= 100 else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def is_write_failure(err: BaseException) -> bool:
    """Whether ``err`` is an ``OSError`` a user fixes by freeing space or choosing another folder."""
    return isinstance(err, OSError) and err.errno in _WHY


def write_error(path: str | Path, err: OSError, *, what: str = "write", hint: str = "",
                size: int | None = None) -> WriteError:
    """The :class:`WriteError` for ``err`` raised while writing ``path``.

    Args:
        path: the file or folder that could not be written.
        err: the ``OSError`` (one of :func:`is_write_failure`'s).
        what: the verb of the message (``write``, ``create``).
        hint: another way out, e.g. ``"or set features.dir to another folder"``.
        size: bytes the write needed, shown in human units.
    """
    why, todo = _WHY.get(err.errno, (err.strerror or str(err), "Check {where}"))
    needed = f" ({human_bytes(size)})" if size is not None else ""
    todo = todo.format(where=Path(path).parent)
    hint = f" {hint}" if hint else ""
    return WriteError(f"cannot {what} {path}{needed}: {why}. {todo}{hint}, and run again.")


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux: /proc)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but only here)
    os.umask(mask)
    return mask


def _write(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` and close it (the one place that touches the disk)."""
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def atomic_write(path: str | Path, data: str | bytes, *, hint: str = "") -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename.

    Readers see the old file or the new one, never a truncated one, whenever the writer dies.
    The file gets the mode ``open`` would give it (``0666 & ~umask``).

    Raises:
        WriteError: the disk is full, the file system read-only or the folder not writable
            (naming ``path``; ``hint``: another way out, added to the message).
    """
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        os.fchmod(fd, 0o666 & ~current_umask())
        _write(fd, payload)
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        if is_write_failure(err):
            raise write_error(path, err, hint=hint, size=len(payload)) from err
        raise
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def make_temp_dir(parent: str | Path, *, prefix: str, suffix: str = "") -> Path:
    """A new folder in ``parent`` to be renamed into place, with the mode ``mkdir`` would give it."""
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=prefix, suffix=suffix))
    tmp.chmod(0o777 & ~current_umask())
    return tmp
