"""Test-only callbacks, added to a run from the command line, e.g.
``+callbacks.stop._target_=tests.helpers.SignalAt +callbacks.stop.epoch=2 +callbacks.stop.batch=1``."""

from __future__ import annotations

import os
import signal
import time

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback


class SignalAt(Callback):
    """Sends this process ``signal`` (``SIGINT``: Ctrl-C, ``SIGKILL``: ``kill -9``) before training
    batch ``batch`` of epoch ``epoch``: a deterministic interruption. With ``once``, only where that
    file does not exist yet (it is created first): the same command run again is not interrupted."""

    def __init__(self, *, epoch: int, batch: int = 0, signal: str = "SIGINT", once: str | None = None) -> None:
        self.epoch, self.batch, self.signal, self.once = epoch, batch, signal, once

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            if self.once is not None:
                if os.path.exists(self.once):
                    return
                open(self.once, "w").close()
            os.kill(os.getpid(), getattr(signal, self.signal))


class WaitAt(Callback):
    """Before training batch ``batch`` of epoch ``epoch``, the first time only: writes this job's
    ``$SLURM_JOB_ID`` into ``marker`` and waits (at most ``seconds``) for SIGTERM, as a job waits to
    be preempted or requeued by the test (tests/test_slurm.py)."""

    def __init__(self, *, epoch: int, marker: str, batch: int = 1, seconds: float = 120.0) -> None:
        self.epoch, self.batch, self.marker, self.seconds = epoch, batch, marker, seconds

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.current_epoch != self.epoch or batch_idx != self.batch or os.path.exists(self.marker):
            return
        with open(self.marker + ".tmp", "w") as f:
            f.write(os.environ.get("SLURM_JOB_ID", ""))
        os.replace(self.marker + ".tmp", self.marker)
        deadline = time.monotonic() + self.seconds
        while not trainer.received_sigterm and time.monotonic() < deadline:
            time.sleep(0.2)


class NaNAt(Callback):
    """Puts a NaN into the inputs of training batch ``batch`` of epoch ``epoch`` (a damaged cache row)."""

    def __init__(self, *, epoch: int, batch: int = 0) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            batch["x"][0, 0, 0] = torch.nan


CLOCK = [0.0]  # the fake clock tests give TrainTime (tests/test_resume.py)


class AdvanceClock(Callback):
    """Moves :data:`CLOCK` on by ``seconds`` at the end of every training epoch."""

    def __init__(self, *, seconds: float) -> None:
        self.seconds = seconds

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        CLOCK[0] += self.seconds
