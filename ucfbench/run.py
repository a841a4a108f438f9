"""Train and evaluate one model: ``python -m ucfbench.run [model=gru] [dataset=synthetic] ...``.

Prepares the dataset (generating the synthetic one if needed), makes sure its frozen-backbone
features are cached (sequence heads; end-to-end models such as ``model=cnn_rnn`` read decoded clips
instead), trains the model, tests the best checkpoint (selected on validation), and
writes ``metrics.json``, ``per_class.csv``, ``confusion.csv`` and ``predictions.csv`` into the
Hydra run directory.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from ucfbench.cli.main import hydra_main
from ucfbench.data.base import ActionDataset
from ucfbench.data.prepare import launch_rank, prepare_data
from ucfbench.eval.run_dir import write_results
from ucfbench.utils.builders import build_callbacks, build_loggers
from ucfbench.utils.io import atomic_write
from ucfbench.utils.resolvers import register_resolvers

log = logging.getLogger("ucfbench")
register_resolvers()


def model_name(choices: dict) -> str:
    """The model's name in results: ``cnn_rnn``, or ``cnn_rnn/no_attention`` for a ``variant``
    other than ``full`` (so a report puts every ablation on its own row)."""
    model, variant = choices.get("model"), choices.get("variant")
    return f"{model}/{variant}" if variant not in (None, "full") else model


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
    data = prepare_data(cfg, dataset, out_dir, rank_zero)
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


@hydra_main(config_path="../conf", config_name="config")  # + validate_config, short user errors
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns validation top-1 so sweepers optimise on validation, never test."""
    metrics = train(cfg)
    return float(metrics.get("best_val_top1") or 0.0)


if __name__ == "__main__":
    main()
