"""The data path of a run: cached features for sequence heads, decoded clips for end-to-end models.

``ucfbench.run`` calls :func:`prepare_data`; it returns the DataModule plus what the model needs
(``input_dim``, input statistics) and what ``metrics.json`` records about the data.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from ucfbench.cache.extraction import extract_from_config
from ucfbench.data.base import ActionDataset
from ucfbench.data.datasets import feature_stats


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


def prepare_data(cfg: DictConfig, dataset: ActionDataset, out_dir: Path, rank_zero: bool) -> PreparedData:
    """Clips for an end-to-end model (``data=clips``), cached features otherwise."""
    return prepare_clips(cfg, dataset) if uses_clips(cfg) else prepare_features(cfg, dataset, out_dir, rank_zero)
