"""Learning-rate schedules beyond torch's, as plain functions usable as Hydra partials."""

from __future__ import annotations

import logging

from torch.optim import Optimizer
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, LRScheduler, SequentialLR

log = logging.getLogger(__name__)


def warmup_cosine(
    optimizer: Optimizer,
    *,
    warmup_epochs: int,
    max_epochs: int,
    warmup_start_factor: float = 0.01,
    eta_min: float = 0.0,
) -> LRScheduler:
    """Linear warmup from ``warmup_start_factor * lr`` to ``lr``, then cosine decay to ``eta_min``.

    Stepped once per epoch (``scheduler_interval: epoch``): epoch ``e < warmup_epochs`` runs at
    ``lr * (f + (1 - f) * e / warmup_epochs)``, epoch ``warmup_epochs`` at ``lr``, and the rate
    reaches ``eta_min`` after ``max_epochs`` steps. From yaml::

        scheduler:
          _target_: ucfbench.models.schedulers.warmup_cosine
          _partial_: true
          warmup_epochs: 2
          max_epochs: ${trainer.max_epochs}

    Returns:
        ``SequentialLR(LinearLR, CosineAnnealingLR)``; just the cosine when ``warmup_epochs == 0``.
    """
    if warmup_epochs < 0 or max_epochs < 1:
        raise ValueError(f"warmup_cosine needs warmup_epochs >= 0 and max_epochs >= 1, got {warmup_epochs} and {max_epochs}")
    if warmup_epochs >= max_epochs:  # a short (debug) run: keep one epoch of decay
        log.warning("warmup_cosine: %d warmup epochs in a %d-epoch run; warming up for %d", warmup_epochs,
                    max_epochs, max_epochs - 1)
        warmup_epochs = max_epochs - 1
    if not 0.0 < warmup_start_factor <= 1.0:
        raise ValueError(f"warmup_cosine needs 0 < warmup_start_factor <= 1, got {warmup_start_factor}")
    if warmup_epochs == 0:
        return CosineAnnealingLR(optimizer, T_max=max_epochs, eta_min=eta_min)
    warmup = LinearLR(optimizer, start_factor=warmup_start_factor, end_factor=1.0, total_iters=warmup_epochs)
    cosine = CosineAnnealingLR(optimizer, T_max=max_epochs - warmup_epochs, eta_min=eta_min)
    return SequentialLR(optimizer, schedulers=[warmup, cosine], milestones=[warmup_epochs])
