"""Train and evaluate one model: ``python -m ucfbench.run [model=gru] [dataset=synthetic] ...``.

Instantiate the DataModule and the model from the config, fit (the DataModule prepares its own
data: generates the synthetic set, caches features), test the checkpoint selected on validation,
and write the run's result files (:mod:`ucfbench.eval.run_dir`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from ucfbench.callbacks import fit_seconds
from ucfbench.cli.main import hydra_main
from ucfbench.datamodules import model_input
from ucfbench.eval.run_dir import RunDir, print_summary, write_results
from ucfbench.extract import extract_in_job
from ucfbench.loggers import build_loggers, finish_loggers, publish_results
from ucfbench.loggers.identity import run_identity
from ucfbench.utils.builders import build_callbacks
from ucfbench.utils.io import atomic_write
from ucfbench.utils.resolvers import register_resolvers

log = logging.getLogger("ucfbench")
register_resolvers()


def train(cfg: DictConfig) -> dict:
    """Run one job; return the metrics written to ``metrics.json``."""
    out_dir = Path(cfg.paths.output_dir)
    files = RunDir(out_dir)
    reads = model_input(cfg)  # the model and the data agree on what the model reads
    if rank_zero_only.rank == 0:
        atomic_write(files.config, OmegaConf.to_yaml(cfg, resolve=True))
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    if reads == "features" and cfg.features.devices != 1 and rank_zero_only.rank == 0:
        extract_in_job()  # over several devices: the DataModule then opens the complete cache

    datamodule: L.LightningDataModule = instantiate(cfg.data)
    identity = run_identity(cfg, hydra=HydraConfig.get(), dataset=datamodule.dataset.describe())  # metrics.json, loggers
    model: L.LightningModule = instantiate(cfg.model)
    loggers = build_loggers(cfg.get("logger"), job=cfg, identity=identity)
    callbacks = build_callbacks(cfg.get("callbacks"), has_logger=bool(loggers))
    trainer: L.Trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)

    ckpt_path = None
    last = files.last_checkpoint
    if cfg.resume:
        if last.is_file():
            ckpt_path = str(last)
            log.info("Resuming from %s", last)
        else:
            log.warning("resume=true but %s does not exist: starting from scratch", last)
    try:
        start = time.perf_counter()
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        train_seconds = fit_seconds(trainer, default=time.perf_counter() - start)  # all parts of a resumed run
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None, verbose=False)
        if not trainer.is_global_zero:
            finish_loggers(loggers, exit_code=0)
            return {}
        metrics = write_results(out_dir, trainer=trainer, model=model, datamodule=datamodule,
                                identity={"model": identity.model, "variant": identity.variant, "seed": identity.seed},
                                train_seconds=train_seconds)
    except BaseException:
        # Inside the try: a multirun's next job runs in this process and must not find this
        # job's W&B run open; a crashed job shows as failed.
        finish_loggers(loggers, exit_code=1)
        raise
    publish_results(loggers, out_dir, metrics)  # after the result files: W&B mirrors them, then finishes
    print_summary(metrics, out_dir)
    return metrics


@hydra_main(config_path="../conf", config_name="config")  # + validate_config, short user errors
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns validation top-1 so sweepers optimise on validation, never test."""
    metrics = train(cfg)
    return float(metrics.get("best_val_top1") or 0.0)


if __name__ == "__main__":
    main()
