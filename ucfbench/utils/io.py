"""Crash-safe file writes (no heavy imports: every entry point can use it).

Files and folders are created with the user's umask (``0666 & ~umask``, ``0777 & ~umask``), as
``open`` and ``mkdir`` would: ``tempfile`` makes them owner-only, and a temporary name renamed
into place would keep that, hiding results from colleagues on a shared server.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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


def atomic_write(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename.

    Readers see the old file or the new one, never a truncated one, whenever the writer dies.
    The file gets the mode ``open`` would give it (``0666 & ~umask``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_temp_dir(parent: str | Path, *, prefix: str, suffix: str = "") -> Path:
    """A new folder in ``parent`` to be renamed into place, with the mode ``mkdir`` would give it."""
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=prefix, suffix=suffix))
    tmp.chmod(0o777 & ~current_umask())
    return tmp
