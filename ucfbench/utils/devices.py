"""One GPU per job when a multirun runs several jobs at once on one multi-GPU machine (joblib).

Every job of ``hydra/launcher=joblib`` would otherwise train on GPU 0 (``trainer.devices=1``).
A job claims a GPU under a lock (:func:`ucfbench.utils.locks.file_lock`) in the multirun's
folder: the one its job number points at when free, else the next free one; with more jobs at
once than GPUs (``hydra.launcher.n_jobs`` > GPUs) the job shares the GPU its number points at.
The lock is held while the job runs and released when it ends, so the next job of the same
worker may take it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import BaseFileLock, Timeout

from ucfbench.utils.locks import file_lock


def claim_gpu(lock_dir: str | Path, *, job_num: int, count: int) -> tuple[int, BaseFileLock | None]:
    """The GPU index for job ``job_num`` among ``count`` GPUs, and the lock that holds it (release it
    when the job ends; None when every GPU was taken and the job shares one)."""
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        index = (job_num + k) % count
        lock = file_lock(lock_dir / f"gpu{index}.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue
        return index, lock
    return job_num % count, None


@contextmanager
def joblib_job_gpu(*, launcher: str, job_num: int, accelerator: str, devices: object,
                   lock_dir: str | Path) -> Iterator[int | None]:
    """The GPU index this job of a joblib multirun trains on (held until the block ends), or None
    where Lightning's own choice stands: another launcher, CPU, a device list or count other than 1
    given by the user, or fewer than two GPUs."""
    import torch

    if (not launcher.endswith("JoblibLauncher") or accelerator not in ("gpu", "cuda", "auto")
            or devices not in (1, "1") or torch.cuda.device_count() < 2):
        yield None
        return
    index, lock = claim_gpu(lock_dir, job_num=job_num, count=torch.cuda.device_count())
    try:
        yield index
    finally:
        if lock is not None:
            lock.release()
