"""Test-only callbacks, added to a run from the command line, e.g.
``+callbacks.stop._target_=tests.helpers.SignalAt +callbacks.stop.epoch=2 +callbacks.stop.batch=1``."""

from __future__ import annotations

import os
import signal

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback


class SignalAt(Callback):
    """Sends this process ``signal`` (``SIGINT``: Ctrl-C, ``SIGKILL``: ``kill -9``) before training
    batch ``batch`` of epoch ``epoch``: a deterministic interruption."""

    def __init__(self, *, epoch: int, batch: int = 0, signal: str = "SIGINT") -> None:
        self.epoch, self.batch, self.signal = epoch, batch, signal

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), getattr(signal, self.signal))


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
