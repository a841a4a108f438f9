"""What a checkpoint must carry beyond weights, optimizer and loops for an exact resume.

Lightning restores the model, optimizer, schedulers, loop counters and callback states, but not
the random number generators. Training draws from them for dropout (torch's CPU and CUDA
generators) and for the ``DataLoader``'s shuffling (a seed drawn from torch's generator each
epoch); augmentations may use numpy or Python's ``random``. The in-memory loader's order
(:class:`~ucfbench.datamodules.feature_datamodule.EpochOrder`) needs nothing: it is seeded by
``seed + epoch``, and Lightning restores the epoch.
"""

from __future__ import annotations

import logging
import os
import random
import time
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)


def collect_random_state() -> dict[str, Any]:
    """Every generator training draws from: torch (CPU and, when in use, CUDA), numpy, Python.

    Tensors, ints and tuples only, so checkpoints still load with ``torch.load(weights_only=True)``.
    """
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(state: dict[str, Any]) -> None:
    """Set the generators saved by :func:`collect_random_state`."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        else:
            log.warning("checkpoint has CUDA random states for %d device(s), this machine %d: not restored",
                        len(cuda), torch.cuda.device_count())


class RandomState(Callback):
    """Saves the random generators in every checkpoint and restores them on resume.

    Captured when the checkpoint is written. ``last.ckpt`` is written at the end of an epoch,
    after validation, and nothing draws from the generators between that moment and the next
    epoch's first batch, so the state saved is the one training continues with. Restored as soon
    as the checkpoint is loaded (Lightning creates the first epoch's data iterator, and with it the
    ``DataLoader``'s shuffling seed, before any ``on_train_*`` hook), and again after a sanity
    check, whose validation batches would otherwise move the generators on.
    """

    def __init__(self) -> None:
        self._loaded: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return collect_random_state()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._loaded = state_dict
        restore_random_state(state_dict)

    def on_sanity_check_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._loaded is not None:
            restore_random_state(self._loaded)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._loaded = None  # from here on, training draws as the interrupted run would have


class TrainTime(Callback):
    """Seconds spent in training (``on_train_start`` to ``on_train_end``, validation included),
    summed over every part of an interrupted and resumed run.

    Each checkpoint stores the time up to that checkpoint; a resumed run adds its own time to
    it, so ``train_seconds`` in ``metrics.json`` is the time the final model took to train
    (an epoch cut short by the interruption, and redone after it, is counted once).
    """

    clock = staticmethod(time.perf_counter)

    def __init__(self) -> None:
        self.offset = 0.0  # seconds of the parts before this process, from the checkpoint
        self._start: float | None = None
        self._stop: float | None = None

    @property
    def seconds(self) -> float:
        """Training seconds so far (all parts)."""
        if self._start is None:
            return self.offset
        return self.offset + ((self._stop if self._stop is not None else self.clock()) - self._start)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start, self._stop = self.clock(), None

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop = self.clock()

    def state_dict(self) -> dict[str, float]:
        return {"train_seconds": self.seconds}

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        self.offset = float(state_dict["train_seconds"])
        self._start = self._stop = None


def fit_seconds(trainer: L.Trainer, default: float) -> float:
    """The run's training seconds from its :class:`TrainTime` callback (all parts of a resumed
    run), or ``default`` (this process's fit time) where the callback is switched off."""
    timer = next((c for c in trainer.callbacks if isinstance(c, TrainTime)), None)
    return timer.seconds if timer is not None else default


def scheduler_restarts() -> int:
    """How many times SLURM has started this job again: ``scontrol requeue``, preemption, or
    submitit's requeue at the time limit (``$SLURM_RESTART_COUNT``; 0 outside SLURM)."""
    value = os.environ.get("SLURM_RESTART_COUNT", "")
    return int(value) if value.isdigit() else 0


class Restarts(Callback):
    """``restarts`` and ``resumed_from_epoch`` in ``metrics.json``: how many times the run continued
    from a checkpoint, and the epoch its last part started at (``None``: never interrupted).

    The count travels in every checkpoint, so a run requeued twice says 2.
    """

    def __init__(self) -> None:
        self.restarts = 0
        self.resumed_from_epoch: int | None = None
        self._loaded: int | None = None  # the count in the checkpoint fit continues from

    def state_dict(self) -> dict[str, int]:
        return {"restarts": self.restarts}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        # Also called when test() loads the best checkpoint: counted only where training starts.
        self._loaded = int(state_dict.get("restarts", 0))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._loaded is not None:
            self.restarts = self._loaded + 1
            self.resumed_from_epoch = trainer.current_epoch  # restored by Lightning before this hook
            self._loaded = None

    def describe(self) -> dict[str, int | None]:
        return {"restarts": self.restarts, "resumed_from_epoch": self.resumed_from_epoch}


def resume_info(trainer: L.Trainer) -> dict[str, int | None]:
    """``restarts`` and ``resumed_from_epoch`` from the trainer's :class:`Restarts` callback ({} without it)."""
    counter = next((c for c in trainer.callbacks if isinstance(c, Restarts)), None)
    return counter.describe() if counter is not None else {}


def slurm_plugins(plugins: list) -> list:
    """The trainer's ``plugins`` plus, inside a SLURM job, Lightning's SLURM environment with its
    auto-requeue off.

    One owner of the signals: submitit (Hydra's SLURM launcher) checkpoints and requeues on its
    signal (USR2 before the time limit, or preemption) and brings the same job back. Lightning's
    auto-requeue would install a second SIGUSR1 handler that requeues on its own and saves an
    ``hpc_ckpt`` the resume never reads. SIGTERM stays with the trainer: it stops after the current
    batch and the run exits non-zero (:func:`ucfbench.run.train`).
    """
    from lightning.fabric.plugins.environments import ClusterEnvironment, SLURMEnvironment

    if SLURMEnvironment.detect() and not any(isinstance(p, ClusterEnvironment) for p in plugins):
        return [*plugins, SLURMEnvironment(auto_requeue=False)]
    return plugins
