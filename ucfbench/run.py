"""Train and evaluate one model: ``python -m ucfbench.run [model=gru] [dataset=synthetic] ...``.

Prepares the dataset (generating the synthetic one if needed), makes sure its frozen-backbone
features are cached (sequence heads; end-to-end models such as ``model=cnn_rnn`` read decoded clips
instead), trains the model, tests the best checkpoint (selected on validation), and
writes ``metrics.json``, ``per_class.csv``, ``confusion.csv`` and ``predictions.csv`` into the
Hydra run directory.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from ucfbench.data.base import ActionDataset
from ucfbench.data.datasets import feature_stats
from ucfbench.eval.outputs import write_results
from ucfbench.features.extract import extract_from_config
from ucfbench.utils.builders import build_callbacks, build_loggers
from ucfbench.utils.io import atomic_write
from ucfbench.utils.wandb import register_resolvers

log = logging.getLogger("ucfbench")
register_resolvers()


def launch_rank() -> int:
    """This process's DDP rank as its launcher set it in the environment; 0 for a plain start.

    Lightning starts ranks 1.. of a one-node job by re-running this command from rank 0's
    ``trainer.fit`` (``LOCAL_RANK`` set); srun and torchrun start every rank at once.
    """
    return max(int(os.environ.get(k) or 0) for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID"))


def _extract_in_subprocess(out_dir: Path) -> None:
    """Multi-device extraction as its own ``ucfbench.extract`` job: its DDP ranks (which re-run that
    command) stop after extraction, and this process's environment never joins their process group."""
    cmd = [sys.executable, "-m", "ucfbench.extract", *HydraConfig.get().overrides.task,
           f"hydra.run.dir={out_dir / 'extract'}", "hydra.output_subdir=null"]
    subprocess.run(cmd, check=True)


@dataclass
class PreparedData:
    """What the data path hands to the model: the DataModule, the sizes the network needs
    (``input_dim`` for feature heads), input statistics, and what metrics.json records about it."""

    datamodule: L.LightningDataModule
    dims: dict = field(default_factory=dict)
    input_stats: tuple | None = None
    info: dict = field(default_factory=dict)


def uses_clips(cfg: DictConfig) -> bool:
    """End-to-end models read decoded clips (``data=clips``); sequence heads read cached features."""
    return str(cfg.data.get("_target_", "")).endswith("ClipDataModule")


def model_name(choices: dict) -> str:
    """The model's name in results: ``cnn_rnn``, or ``cnn_rnn/no_attention`` for a ``variant``
    other than ``full`` (so a report puts every ablation on its own row)."""
    model, variant = choices.get("model"), choices.get("variant")
    return f"{model}/{variant}" if variant not in (None, "full") else model


def prepare_features(cfg: DictConfig, dataset: ActionDataset, out_dir: Path, rank_zero: bool) -> PreparedData:
    """Cache the frozen backbone's features (once per setting) and serve them."""
    if rank_zero and cfg.features.devices != 1:
        _extract_in_subprocess(out_dir)
    # Extraction runs before the trainer, on features.devices. Lightning starts the other DDP ranks
    # in trainer.fit, after rank 0 cached the features, so for them this only opens the cache.
    cache = extract_from_config(dataset, cfg.features, on_bad_video=dataset.on_bad_video)
    L.seed_everything(cfg.seed, workers=True)  # same init whether features were cached or not
    datamodule = instantiate(cfg.data, dataset=dataset, cache=cache)
    datamodule.setup("fit")
    features, lengths = cache.load()
    stats = feature_stats(features, cache.rows_of(datamodule.records["train"]), lengths)
    info = {"features": {"arch": cache.spec.arch, "weights": cache.spec.weights, "cache": str(cache.dir)}}
    return PreparedData(datamodule, {"input_dim": cache.dim}, stats, info)


def prepare_clips(cfg: DictConfig, dataset: ActionDataset) -> PreparedData:
    """Serve decoded clips to an end-to-end model (no feature extraction)."""
    L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data, dataset=dataset)
    net = cfg.model.net
    info = {"features": {"arch": net.get("arch"), "weights": net.get("weights"), "end_to_end": True},
            "clips": {"frames": int(cfg.data.sampler.num_frames), "size": int(cfg.data.size),
                      "test_views": int(cfg.data.test_views)}}
    return PreparedData(datamodule, info=info)


def train(cfg: DictConfig) -> dict:
    """Run one job; return the metrics written to ``metrics.json``."""
    out_dir = Path(cfg.paths.output_dir)
    rank_zero = launch_rank() == 0  # the other DDP ranks write, generate and extract nothing
    if rank_zero:
        atomic_write(out_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    L.seed_everything(cfg.seed, workers=True)

    dataset: ActionDataset = instantiate(cfg.dataset)
    if rank_zero:
        dataset.prepare()
    data = prepare_clips(cfg, dataset) if uses_clips(cfg) else prepare_features(cfg, dataset, out_dir, rank_zero)
    datamodule = data.datamodule
    net = instantiate(cfg.model.net, num_classes=dataset.num_classes, **data.dims)
    model = instantiate(cfg.model, net=net, num_classes=dataset.num_classes, class_names=dataset.classes, **data.dims)
    if data.input_stats is not None:
        model.set_input_stats(*data.input_stats)
    loggers = build_loggers(cfg.get("logger"))
    callbacks = build_callbacks(cfg.get("callbacks"), has_logger=bool(loggers))
    trainer: L.Trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)

    ckpt_path = None
    last = out_dir / "checkpoints" / "last.ckpt"
    if cfg.resume:
        if last.is_file():
            ckpt_path = str(last)
            log.info("Resuming from %s", last)
        else:
            log.warning("resume=true but %s does not exist: starting from scratch", last)
    try:
        start = time.perf_counter()
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        train_seconds = time.perf_counter() - start
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None, verbose=False)
    finally:
        for logger in loggers:  # one W&B run per Hydra job, also in multirun
            if hasattr(logger, "experiment") and type(logger).__name__ == "WandbLogger":
                logger.experiment.finish()

    if not trainer.is_global_zero:
        return {}
    choices = HydraConfig.get().runtime.choices
    info = {
        **dataset.describe(),
        "model": model_name(choices),
        "variant": choices.get("variant"),
        "seed": cfg.seed,
        "params": model.num_parameters(),
        "train_seconds": round(train_seconds, 3),
        "epochs": trainer.current_epoch,
        "best_val_top1": float(trainer.checkpoint_callback.best_model_score or float("nan")) if best else None,
        "checkpoint": best,
        **data.info,
        "num_classes": dataset.num_classes,
        "skipped": len(datamodule.skipped),
    }
    if datamodule.skipped:
        atomic_write(out_dir / "skipped.txt", "".join(f"{v}\n" for v in datamodule.skipped))
        log.warning("%d unreadable video(s) skipped; listed in %s", len(datamodule.skipped), out_dir / "skipped.txt")
    out = model.test_outputs
    test_records = datamodule.records["test"]
    metrics = write_results(out_dir, probs=out["probs"], labels=out["label"],
                            records=[test_records[i] for i in out["index"].tolist()],
                            classes=dataset.classes, pairs=dataset.pairs, info=info)
    _print_summary(metrics, out_dir)
    return metrics


def _print_summary(metrics: dict, out_dir: Path) -> None:
    table = Table(title=f"{metrics['model']} on {metrics['dataset']} ({metrics['split']}), test split")
    for key in ("top1", "top5", "mean_class_acc", "within_pair_reversed", "within_pair_tempo"):
        if key in metrics:
            table.add_column(key)
    table.add_row(*(f"{metrics[k]:.4f}" for k in ("top1", "top5", "mean_class_acc", "within_pair_reversed",
                                                 "within_pair_tempo") if k in metrics))
    console = Console()
    console.print(table)
    console.print(f"Results: {out_dir}  (metrics.json, per_class.csv, confusion.csv, checkpoints/)")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns validation top-1 so sweepers optimise on validation, never test."""
    metrics = train(cfg)
    return float(metrics.get("best_val_top1") or 0.0)


if __name__ == "__main__":
    main()
