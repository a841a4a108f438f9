"""The three calls ``run.py`` makes: build the loggers, publish a finished run's results, finish a failed one.

In ``run.py``::

    loggers = build_loggers(cfg.get("logger"), job=cfg, identity=identity)  # before the Trainer
    try:
        ...fit, test, results = write_results(...)            # metrics.json and the other files
    except BaseException:
        finish_loggers(loggers, exit_code=1)                  # W&B shows the run as failed
        raise
    publish_results(loggers, out_dir, results)                # mirrors the files, then finishes
"""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.utils import get_class, instantiate
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger
from omegaconf import DictConfig

from ucfbench.eval.run_dir import RunResults
from ucfbench.loggers.identity import RunIdentity, resolved_config, run_identity
from ucfbench.loggers.tensorboard import RunTensorBoardLogger, publish_tensorboard
from ucfbench.loggers.wandb import finish_wandb, make_wandb_logger, publish_wandb

log = logging.getLogger("ucfbench")


def build_loggers(cfg: DictConfig | None, *, job: DictConfig | None = None,
                  identity: RunIdentity | None = None) -> list[Logger]:
    """One logger per entry of the ``logger`` group (``logger=none``: none; ``logger=[wandb,csv]``: both).

    Args:
        cfg: the ``logger`` node.
        job: the whole run config; with it and the run's ``identity`` (made from ``job``'s ``hydra``
            node when not given) W&B runs get their name, group, tags, config and a resumable id,
            and TensorBoard its hparams.
        identity: who the run is (:func:`~ucfbench.loggers.identity.run_identity`).
    """
    nodes = [(node, get_class(node._target_)) for node in (cfg or {}).values() if node is not None]
    config = None
    if job is not None and any(issubclass(cls, (WandbLogger, RunTensorBoardLogger)) for _, cls in nodes):
        if identity is None and "hydra" in job:
            identity = run_identity(job)
        if identity is not None:
            config = {**identity.keys(), "cfg": resolved_config(job)}
    loggers: list[Logger] = []
    for node, cls in nodes:
        if issubclass(cls, WandbLogger):
            logger = make_wandb_logger(node, identity=identity, config=config,
                                       run_dir=job.paths.output_dir if job is not None else None,
                                       resume=bool(job.get("resume")) if job is not None else False)
        else:
            logger = instantiate(node)
            if isinstance(logger, RunTensorBoardLogger):
                logger.run_config = config
        if logger is not None:
            loggers.append(logger)
    return loggers


def publish_results(loggers: list[Logger], run_dir: str | Path, results: RunResults) -> None:
    """Mirror a finished run's results into every logger, then finish them (exit code 0).

    A logger that fails here only warns: ``metrics.json`` is already written.
    """
    for logger in loggers:
        try:
            if isinstance(logger, WandbLogger):
                publish_wandb(logger, results)
            elif isinstance(logger, TensorBoardLogger):
                publish_tensorboard(logger, results.metrics)
        except Exception as err:  # noqa: BLE001 (the results on disk are complete; say what did not reach the logger)
            log.warning("%s: results not logged (%s: %s); they are in %s", type(logger).__name__,
                        type(err).__name__, err, run_dir)
    finish_loggers(loggers, exit_code=0)


def finish_loggers(loggers: list[Logger], exit_code: int) -> None:
    """Close every logger; a non-zero ``exit_code`` marks the W&B run failed. Safe to call twice."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            finish_wandb(logger, exit_code)
        else:
            logger.finalize("success" if exit_code == 0 else "failed")

