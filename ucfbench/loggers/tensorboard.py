"""TensorBoard: Lightning's logger with the resolved run config as hparams and metrics.json as scalars."""

from __future__ import annotations

import math
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

# The headline numbers the HPARAMS tab shows beside each run's config.
HPARAM_METRICS = ("top1", "top5", "mean_class_acc", "best_val_top1")


class RunTensorBoardLogger(TensorBoardLogger):
    """``TensorBoardLogger`` whose hparams are the run's config (identity keys plus the nested ``cfg``)."""

    run_config: dict | None = None

    @rank_zero_only
    def log_hyperparams(self, params: Any = None, metrics: dict | None = None, step: int | None = None) -> None:
        merged = {**(self.run_config or {}), "module": dict(params or {})}
        super().log_hyperparams(merged, metrics, step)


def _scalars(metrics: dict, prefix: str = "results") -> dict[str, float]:
    """Every number of ``metrics.json`` (nested ones too) as ``results/<key>[/<sub key>]``."""
    out = {}
    for key, value in metrics.items():
        name = f"{prefix}/{key}"
        if isinstance(value, dict):
            out.update(_scalars(value, name))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value is not None:
            if not (isinstance(value, float) and math.isnan(value)):
                out[name] = float(value)
    return out


def publish_tensorboard(logger: TensorBoardLogger, metrics: dict) -> None:
    """Write ``metrics.json`` as scalars and as the hparams session's metrics."""
    scalars = _scalars(metrics)
    step = int(metrics.get("epochs") or 0)
    hp_metrics = {f"results/{k}": scalars[f"results/{k}"] for k in HPARAM_METRICS if f"results/{k}" in scalars}
    if not isinstance(logger, RunTensorBoardLogger):
        hp_metrics = {}
    logger.log_metrics({k: v for k, v in scalars.items() if k not in hp_metrics}, step=step)
    if hp_metrics:  # the HPARAMS tab: this run's config beside its headline numbers (logged as scalars too)
        logger.log_hyperparams({}, hp_metrics, step)
    logger.save()
