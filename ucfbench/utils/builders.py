"""Build Lightning callbacks from their config group (loggers: :mod:`ucfbench.loggers`)."""

from __future__ import annotations

import logging

from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, LearningRateMonitor
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def build_callbacks(cfg: DictConfig | None, *, has_logger: bool) -> list[Callback]:
    """One callback per entry of the ``callbacks`` group; ``null`` entries are switched off."""
    callbacks = [instantiate(c) for c in (cfg or {}).values() if c is not None]
    if not has_logger:
        # LearningRateMonitor refuses to run without a logger; history.csv still has the LR.
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    return callbacks
