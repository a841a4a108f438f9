"""The one kind of inter-process lock the suite uses (``filelock``), for jobs sharing a home."""

from __future__ import annotations

import os
from pathlib import Path

from filelock import BaseFileLock, FileLock, SoftFileLock


def file_lock(path: str | Path) -> BaseFileLock:
    """A ``filelock`` lock at ``path``: ``flock`` by default; ``UCFBENCH_LOCK=soft`` gives the
    lock-file-exists kind, for shared filesystems where ``flock`` does not work across machines
    (Lustre mounted without ``flock``, NFS mounted ``nolock`` or ``local_lock=flock``)."""
    soft = os.environ.get("UCFBENCH_LOCK", "").lower() == "soft"
    return (SoftFileLock if soft else FileLock)(str(path), thread_local=False)
