"""Build Lightning loggers and callbacks from their config groups."""

from __future__ import annotations

import logging

from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, LearningRateMonitor
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def build_loggers(cfg: DictConfig | None, *, job: DictConfig | None = None) -> list[Logger]:
    """One logger per entry of the ``logger`` group (``logger=none``: none); see :mod:`ucfbench.loggers`."""
    from ucfbench.loggers import build_loggers as build

    return build(cfg, job=job)


def build_callbacks(cfg: DictConfig | None, *, has_logger: bool) -> list[Callback]:
    """One callback per entry of the ``callbacks`` group; ``null`` entries are switched off."""
    callbacks = [instantiate(c) for c in (cfg or {}).values() if c is not None]
    if not has_logger:
        # LearningRateMonitor refuses to run without a logger; history.csv still has the LR.
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    return callbacks
