"""Weights & Biases: one W&B run per job, named and grouped by :mod:`ucfbench.loggers.identity`.

The run holds the whole resolved config, best-of validation summaries, and, before it is finished,
everything ``metrics.json`` says plus the confusion matrix, per-class and prediction tables, as
written to the run directory (:class:`~ucfbench.eval.run_dir.RunResults`). Its id is kept in
``<run dir>/wandb_id``, so ``resume=true`` continues the same W&B run.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from ucfbench.eval.run_dir import RunResults
from ucfbench.loggers.identity import RunIdentity
from ucfbench.utils.io import atomic_write
from ucfbench.utils.wandb_mode import wandb_mode

log = logging.getLogger("ucfbench")

ID_FILE = "wandb_id"
# Validation metrics summarise as their best epoch, not the last one.
BEST = {"val/top1": "max", "val/top5": "max", "val/mean_class_acc": "max", "val/loss": "min"}


class RunWandbLogger(WandbLogger):
    """Lightning's ``WandbLogger`` with the suite's run lifecycle.

    Differences: no deprecated ``anonymous`` setting is passed (W&B warns about it); validation
    metrics summarise as their best; the module's hyperparameters go under ``module`` (the run's
    own config is set at init); the parameter count joins the config when training starts.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._wandb_init.pop("anonymous", None)

    @property
    def experiment(self):  # noqa: ANN201 (wandb's Run, imported lazily)
        fresh = self._experiment is None
        run = super().experiment
        if fresh and self._experiment is not None:
            for key, summary in BEST.items():
                run.define_metric(key, summary=summary, step_metric="trainer/global_step")
        return run

    @rank_zero_only
    def log_hyperparams(self, params: Any) -> None:
        super().log_hyperparams({"module": dict(params)} if params else {})

    @rank_zero_only
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        # Lightning calls this on every logger as fit starts: the first moment the model is known.
        count = model.num_parameters() if hasattr(model, "num_parameters") else sum(p.numel() for p in model.parameters())
        self.experiment.config.update({"params": int(count)}, allow_val_change=True)


def _run_id(run_dir: Path, resume: bool) -> str:
    """The W&B run id of this run directory: kept from the last start when resuming, else a new one."""
    from wandb.sdk.lib.runid import generate_id

    path = run_dir / ID_FILE
    if resume and path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    run_id = generate_id()
    if rank_zero_only.rank == 0:
        atomic_write(path, run_id + "\n")
    return run_id


def make_wandb_logger(node: DictConfig, *, identity: RunIdentity | None, config: dict | None,
                      run_dir: str | Path | None, resume: bool = False) -> WandbLogger | None:
    """The W&B logger of ``logger.wandb``, or None when ``WANDB_MODE=disabled`` (nothing is written)."""
    import wandb

    mode = wandb_mode()
    if mode == "disabled":
        log.info("W&B: WANDB_MODE=disabled, no W&B run")
        return None
    kwargs = OmegaConf.to_container(node, resolve=True)
    target = kwargs.pop("_target_")
    offline = bool(kwargs.pop("offline", False)) or mode == "offline"
    if offline and kwargs.get("log_model"):
        log.warning("W&B: logger.wandb.log_model=%s ignored: the run is offline, so no checkpoint can be uploaded "
                    "(`wandb login` or WANDB_MODE=online to upload it)", kwargs["log_model"])
        kwargs["log_model"] = False
    if identity is not None:
        kwargs["name"] = kwargs.get("name") or identity.name
        kwargs["group"] = kwargs.get("group") or identity.study
        kwargs["job_type"] = kwargs.get("job_type") or identity.model
        kwargs["tags"] = list(kwargs.get("tags") or []) + identity.tags
    if config is not None:
        kwargs["config"] = config
    if run_dir is not None and not kwargs.get("id"):
        kwargs["id"] = _run_id(Path(run_dir), resume)
        kwargs["resume"] = "allow"
    # The terminal keeps our own lines (where the run is, how to sync it), not W&B's thirty.
    kwargs["settings"] = wandb.Settings(quiet=True, silent=True, console="off")
    kwargs["mode"] = "offline" if offline else "online"
    from hydra.utils import get_class

    return get_class(target)(offline=False, **kwargs)


def _summary_value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _summary_value(v) for k, v in value.items()}
    return value


def publish_wandb(logger: WandbLogger, results: RunResults) -> None:
    """Mirror the run's results into its W&B run (summary, confusion matrix, tables)."""
    import wandb

    run, metrics = logger.experiment, results.metrics
    if metrics.get("params") is not None:
        run.config.update({"params": metrics["params"]}, allow_val_change=True)
    run.summary.update({k: _summary_value(v) for k, v in metrics.items() if v is not None})
    index = {c: i for i, c in enumerate(results.classes)}
    cols, *preds = results.predictions
    cols_per_class, *per_class = results.per_class
    logged = {
        "confusion_matrix": wandb.plot.confusion_matrix(
            y_true=[index[r[1]] for r in preds], preds=[index[r[2]] for r in preds], class_names=results.classes,
            title="Test confusion matrix"),
        "predictions": wandb.Table(columns=cols, data=preds),
        "per_class": wandb.Table(columns=cols_per_class, data=per_class),
    }
    if metrics.get("within_pair"):
        rows = [[pair, v.get("kind"), v.get("acc")] for pair, v in metrics["within_pair"].items()]
        logged["within_pair_table"] = wandb.Table(columns=["pair", "kind", "acc"], data=rows)
    run.log(logged)


def finish_wandb(logger: WandbLogger, exit_code: int) -> None:
    """Finish the W&B run (``exit_code`` != 0 marks it failed) and say where it is, in one line."""
    run = logger._experiment
    if run is None:
        return
    offline = bool(getattr(run, "offline", True))
    where = Path(run.dir).parent if getattr(run, "dir", None) else None
    url = None if offline else run.url
    run.finish(exit_code=exit_code)
    logger._experiment = None
    state = "failed" if exit_code else "finished"
    if offline and where is not None:
        log.info("W&B: offline run %s %s; upload it with: wandb sync %s", run.name, state, where)
    elif url:
        log.info("W&B: run %s %s: %s", run.name, state, url)
