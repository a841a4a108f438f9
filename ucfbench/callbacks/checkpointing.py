"""Checkpoints that are whole or absent: written under a temporary name and renamed, and a full
disk reported with the path instead of leaving a truncated or empty ``.ckpt`` that a resume
would trust."""

from __future__ import annotations

import errno
import io
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, OnExceptionCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ucfbench.utils.io import WriteError, is_write_failure, write_error

log = logging.getLogger(__name__)

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _write_bytes(f: io.BufferedWriter, data: bytes) -> None:
    """Write all of ``data`` to ``f`` and make it durable (the one place that touches the disk)."""
    f.write(data)
    f.flush()
    os.fsync(f.fileno())


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a full disk or an exceeded quota."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def epochs_trained(path: str | Path) -> int:
    """Epochs a ``last.ckpt`` (written at the end of each epoch) has trained; only its counters are read."""
    return int(torch.load(path, map_location="cpu", weights_only=False, mmap=True)["epoch"]) + 1


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` into a temporary file beside the checkpoint, ``fsync``, then ``os.replace``.

    A reader (a resume, ``ModelCheckpoint`` replacing ``last.ckpt``, a job killed mid-write) sees
    the previous checkpoint or the new one, never a partial file. A failed write (a full disk)
    removes the temporary file and raises :class:`~ucfbench.utils.io.WriteError` naming the checkpoint. Remote paths
    (``s3://`` ...) keep Lightning's own write.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        path = Path(path)
        buf = io.BytesIO()
        torch.save(checkpoint, buf)  # serialise first: a failure here leaves no file at all
        # A name of this process's own, created exclusively ("xb", with the usual permissions).
        tmp: Path | None = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a job killed mid-write
                stale.unlink(missing_ok=True)  # a run directory has one writer (DDP: rank 0)
            with open(tmp, "xb") as f:
                _write_bytes(f, buf.getbuffer())
            os.replace(tmp, path)
            tmp = None
        except OSError as e:
            if is_write_failure(e):
                raise write_error(path, e, size=buf.getbuffer().nbytes,
                                  hint="(or point hydra.run.dir at another disk)") from e
            raise OSError(e.errno, f"could not write checkpoint {path}: {e.strerror or e}") from e
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)


class SafeOnExceptionCheckpoint(OnExceptionCheckpoint):
    """``on_exception.ckpt`` on Ctrl-C or an error, except when the error is a full disk (the
    save would fail too) or nothing has trained yet (an error while the data is prepared), and
    never hiding the original error behind a failed save."""

    def on_exception(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        exception = next((a for a in (*args, *kwargs.values()) if isinstance(a, BaseException)), None)
        if exception is not None and is_disk_full(exception):
            log.error("Disk full: not writing %s (last.ckpt is the latest whole checkpoint)", self.ckpt_path)
            return
        if trainer.global_step == 0 and trainer.current_epoch == 0:
            return  # no weight has changed (e.g. the data failed to prepare): nothing to save
        try:
            super().on_exception(trainer, *args, **kwargs)
        except (OSError, WriteError) as e:
            log.error("%s (the run's own error follows)", e)


class RunCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` for a run directory with one writer, safe to resume after ``kill -9``.

    A job killed after saving ``best-epoch002.ckpt`` but before ``last.ckpt`` leaves a file that
    the resumed job's restored state does not track. Lightning would keep it and save the same epoch
    again as ``best-epoch002-v1.ckpt``; here, when training starts, files of this callback's name
    pattern that its state does not track are removed, and a checkpoint saved again replaces its
    file (no ``-vN`` versions), so ``metrics.json`` names ``best-epoch002.ckpt`` and no orphan stays.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("enable_version_counter", False)
        super().__init__(**kwargs)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        prefix = (self.filename or "").split("{", 1)[0]
        if not trainer.is_global_zero or not prefix or self.dirpath is None or "://" in str(self.dirpath):
            return
        tracked = {Path(p).resolve() for p in (*self.best_k_models, self.best_model_path, self.last_model_path) if p}
        for path in sorted(Path(self.dirpath).glob(f"{prefix}*{self.FILE_EXTENSION}")):
            if path.resolve() not in tracked:
                log.info("removing %s: saved by a job stopped before its last.ckpt, not part of this run", path)
                path.unlink(missing_ok=True)
