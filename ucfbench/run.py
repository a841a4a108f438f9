"""Train and evaluate one model: ``ucfbench run [model=gru] [dataset=synthetic] ...``.

Instantiate the DataModule and the model from the config, fit (the DataModule prepares its own
data: generates the synthetic set, caches features), test the checkpoint selected on validation,
and write the run's result files (:mod:`ucfbench.eval.run_dir`).
"""

from __future__ import annotations

# ruff: noqa: E402 - the front door comes before the heavy imports

if __name__ == "__main__":  # --help and config mistakes answered before torch and Lightning load
    from ucfbench.cli.front import front_door

    front_door("config")

import logging
import signal
import time
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from ucfbench.callbacks import epochs_trained, fit_seconds, resume_info, scheduler_restarts, slurm_plugins
from ucfbench.cli.main import hydra_main
from ucfbench.datamodules import model_input
from ucfbench.eval.run_dir import RunDir, finished_metrics, print_summary, write_results
from ucfbench.extract import extract_in_job
from ucfbench.loggers import build_loggers, finish_loggers, publish_results
from ucfbench.loggers.identity import run_identity
from ucfbench.utils.builders import build_callbacks
from ucfbench.utils.devices import joblib_job_gpu
from ucfbench.utils.errors import UsageError
from ucfbench.utils.io import atomic_write
from ucfbench.utils.resolvers import register_resolvers

log = logging.getLogger("ucfbench")
register_resolvers()


def train(cfg: DictConfig) -> dict:
    """Run one job; return the metrics written to ``metrics.json``."""
    out_dir = Path(cfg.paths.output_dir)
    files = RunDir(out_dir)
    reads = model_input(cfg)  # the model and the data agree on what the model reads
    if not cfg.resume and scheduler_restarts() > 0:
        cfg.resume = True  # SLURM started this job again: continue it (and its W&B run), never start over
    if cfg.resume and (done := _finished(files, cfg)) is not None:
        log.info("%s already holds this run's results: kept, not trained again (resume=true)", out_dir)
        return done
    last = files.last_checkpoint
    if cfg.resume and last.is_file():  # before config.yaml: a refused resume changes nothing
        trained, wanted = epochs_trained(last), cfg.trainer.max_epochs
        if wanted not in (None, -1) and trained > wanted:  # else Lightning would test the longer-trained model as is
            raise UsageError(f"{last} has trained {trained} epochs, more than trainer.max_epochs="
                             f"{wanted}: resume with trainer.max_epochs={trained} or more")
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
    plugins = slurm_plugins(list(instantiate(cfg.trainer.get("plugins")) or []))
    trainer: L.Trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks, plugins=plugins)

    ckpt_path = None
    if cfg.resume:
        if last.is_file():
            ckpt_path = str(last)
            log.info("Resuming from %s", last)
        else:
            log.warning("resume=true but %s does not exist (no epoch finished yet): starting from scratch", last)
    try:
        start = time.perf_counter()
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        train_seconds = fit_seconds(trainer, default=time.perf_counter() - start)  # all parts of a resumed run
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None, verbose=False)
        if not trainer.is_global_zero:
            finish_loggers(loggers, exit_code=0)
            return {}
        results = write_results(out_dir, trainer=trainer, model=model, datamodule=datamodule,
                                identity={"model": identity.model, "variant": identity.variant, "seed": identity.seed,
                                          **resume_info(trainer)},
                                train_seconds=train_seconds)
    except BaseException as err:
        # SIGTERM (preemption, requeue, time limit, scancel): Lightning stops with SIGTERMException, a
        # SystemExit whose code is 0, or with the first error of a helper process SLURM signalled
        # too (W&B's service). Either way the job stopped: exit non-zero, so that no launcher takes
        # it as done.
        stopped = isinstance(err, SIGTERMException) or trainer.received_sigterm
        try:
            # Inside the try: a multirun's next job runs in this process and must not find this
            # job's W&B run open; a crashed job shows as failed.
            finish_loggers(loggers, exit_code=1)
        except Exception:
            if not stopped:
                raise
            log.warning("The loggers could not finish this run (SLURM stopped their processes too); "
                        "the resumed job continues its W&B run.")
        if stopped:
            log.error("Stopped by SIGTERM. %s holds the last finished epoch; %s", last, _continue_hint(out_dir))
            raise SystemExit(128 + signal.SIGTERM) from None
        raise
    publish_results(loggers, out_dir, results)  # after the result files: W&B mirrors them, then finishes
    print_summary(results.metrics, out_dir)
    return results.metrics


def _finished(files: RunDir, cfg: DictConfig) -> dict | None:
    """The results of this same job when it already finished in ``files`` (a study run again with
    resume=true keeps them): a complete metrics.json, and the saved config equal to this one except
    for ``resume``, ``verbose`` and the GPU index (a changed config, e.g. more epochs, trains on from last.ckpt)."""
    metrics = finished_metrics(files.path)
    if metrics is None or not files.config.is_file():
        return None

    def job(conf: DictConfig) -> dict:
        values = {k: v for k, v in OmegaConf.to_container(conf, resolve=True).items()
                  if k not in ("resume", "verbose", "hydra")}
        values.get("trainer", {}).pop("devices", None)  # which GPU a joblib job got is not what it is
        return values

    return metrics if job(OmegaConf.load(files.config)) == job(cfg) else None


def _continue_hint(out_dir: Path) -> str:
    """How the user continues this stopped job: the same command, resume=true and its folder."""
    hydra = HydraConfig.get()
    where = (f"hydra.sweep.dir={hydra.sweep.dir}" if hydra.mode == RunMode.MULTIRUN
             else f"hydra.run.dir={out_dir}")
    return f"the same command with resume=true {where} continues it (a requeued SLURM job continues by itself)."


@hydra_main(config_path="../conf", config_name="config")  # + validate_config, short user errors
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns validation top-1 so sweepers optimise on validation, never test."""
    hydra = HydraConfig.get()
    multirun = hydra.mode == RunMode.MULTIRUN  # (hydra.sweep.dir of a single run is never resolved: it claims a folder)
    with joblib_job_gpu(launcher=str(hydra.launcher.get("_target_", "")) if multirun else "",
                        job_num=int(hydra.job.get("num") or 0), accelerator=str(cfg.trainer.get("accelerator")),
                        devices=cfg.trainer.get("devices"),
                        lock_dir=Path(hydra.sweep.dir if multirun else cfg.paths.output_dir) / ".gpus") as gpu:
        if gpu is not None:
            cfg.trainer.devices = [gpu]  # this job's own GPU, not GPU 0 for every job at once
        metrics = train(cfg)
    return float(metrics.get("best_val_top1") or 0.0)


if __name__ == "__main__":
    main()
