"""Fill a feature cache by running the frozen backbone through ``Trainer.predict``.

Running through Lightning gives mixed precision on a GPU and sharding across devices (DDP)
for free; a prediction writer stores each finished batch in the cache, so extraction can be
killed at any point and resumed by running it again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import BasePredictionWriter, RichProgressBar
from torch.utils.data import DataLoader

from ucfbench.backbones.frame_encoder import FrameEncoder
from ucfbench.cache.features import FeatureCache, FeatureSpec
from ucfbench.data.base import ActionDataset
from ucfbench.data.datasets import ClipDataset
from ucfbench.data.types import Batch

log = logging.getLogger(__name__)


class FeatureExtractor(L.LightningModule):
    """Wraps the frozen encoder for ``Trainer.predict``: uint8 clips -> (B, T, D) features."""

    def __init__(self, encoder: FrameEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.encoder(frames.movedim(-1, -3))  # uint8 (B, T, H, W, 3) -> (B, T, D), preprocessed on device

    def predict_step(self, batch: Batch, batch_idx: int) -> dict[str, torch.Tensor]:
        feats = self(batch["x"])
        return {"features": feats.half().cpu(), "lengths": batch["lengths"].cpu(), "row": batch["index"].cpu()}


class CacheWriter(BasePredictionWriter):
    """Writes each predicted batch into the cache as soon as it is done."""

    def __init__(self, cache: FeatureCache) -> None:
        super().__init__(write_interval="batch")
        self.cache = cache

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # One process allocates the entry; the others open it only after it exists.
        if trainer.is_global_zero:
            self.cache.create()
        trainer.strategy.barrier("feature-cache-created")

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0):
        rows, lengths = prediction["row"].numpy(), prediction["lengths"].numpy()
        bad = lengths == 0  # videos skipped under on_bad_video=skip
        if bad.any():
            self.cache.mark_unreadable(rows[bad])
        if (~bad).any():
            self.cache.write(rows[~bad], prediction["features"].numpy()[~bad], lengths[~bad])


def _check_unreadable(cache: FeatureCache, on_bad_video: str) -> None:
    bad = cache.unreadable()
    if bad and on_bad_video == "error":
        shown = "\n  ".join(bad[:10])
        raise RuntimeError(
            f"{len(bad)} video(s) in feature cache {cache.dir} were skipped as unreadable by an earlier run "
            f"with dataset.on_bad_video=skip:\n  {shown}\nFix or remove them, or run with dataset.on_bad_video=skip."
        )
    if bad:
        log.warning("%d unreadable video(s) skipped, e.g. %s", len(bad), bad[0])


def default_precision() -> str:
    """Mixed precision where a GPU runs the backbone, full precision on CPU."""
    if not torch.cuda.is_available():
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def feature_cache(dataset: ActionDataset, spec: FeatureSpec, *, root: str | Path, dim: int) -> FeatureCache:
    """The cache entry for ``dataset`` under ``spec`` (not yet created or filled)."""
    return FeatureCache(root=root, spec=spec, dataset_name=dataset.name, records=dataset.records(),
                        fingerprint=dataset.fingerprint(), dim=dim)


def extract_features(
    dataset: ActionDataset,
    spec: FeatureSpec,
    *,
    root: str | Path,
    batch_size: int = 8,
    num_workers: int = 2,
    accelerator: str = "auto",
    devices: int | str = 1,
    strategy: str = "auto",
    precision: str | None = None,
    on_bad_video: str = "error",
    encoder: FrameEncoder | None = None,
) -> FeatureCache:
    """Make sure ``dataset``'s features under ``spec`` are cached; extract what is missing.

    Returns the complete cache. Only pending rows are decoded, so a second call after an
    interruption continues where the first stopped. A video that cannot be decoded stops the
    extraction with its name (``on_bad_video="error"``, nothing is written for it) or is recorded
    as unreadable in the cache (``"skip"``). ``encoder``: the backbone ``spec`` describes, if
    already built (else built from ``spec``).
    """
    encoder = encoder or encoder_for(spec)
    cache = feature_cache(dataset, spec, root=root, dim=encoder.out_dim)
    if cache.is_complete():
        log.info("Features cached: %s", cache.dir)
        _check_unreadable(cache, on_bad_video)
        return cache
    cache.create()
    pending = cache.pending_rows()
    n = len(cache.records)
    log.info("Extracting %s features for %d of %d videos into %s", spec.arch, len(pending), n, cache.dir)
    if len(pending):
        clips = ClipDataset(root=dataset.root, records=[cache.records[i] for i in pending], sampler=spec.sampler,
                            size=encoder.preprocessing.resize, backend=spec.backend, train=False, index=pending,
                            on_bad_video=on_bad_video)
        loader = DataLoader(clips, batch_size=batch_size, num_workers=num_workers, shuffle=False,
                            pin_memory=torch.cuda.is_available(), persistent_workers=False)
        trainer = L.Trainer(
            accelerator=accelerator, devices=devices, strategy=strategy,
            precision=precision or default_precision(), logger=False, enable_checkpointing=False,
            callbacks=[CacheWriter(cache), RichProgressBar()], enable_model_summary=False,
        )
        trainer.predict(FeatureExtractor(encoder), dataloaders=loader, return_predictions=False)
        trainer.strategy.barrier("feature-extraction-done")  # every rank's rows are written
        if not trainer.is_global_zero:
            return cache
    cache.finalize()
    _check_unreadable(cache, on_bad_video)
    log.info("Features complete: %s (%d x %d x %d float16)", cache.dir, *cache.shape)
    return cache


def encoder_for(spec: FeatureSpec) -> FrameEncoder:
    """The frozen backbone ``spec`` describes."""
    return FrameEncoder(library=spec.library, model=spec.arch, weights=spec.weights, pool=spec.pool, size=spec.size,
                        crop_pct=(spec.preprocess or {}).get("crop_pct"), init_seed=spec.init_seed)


def feature_spec(cfg, encoder: FrameEncoder) -> FeatureSpec:
    """The cache's :class:`FeatureSpec` for the ``features`` config group and its built ``encoder``."""
    pre = encoder.preprocessing
    default = encoder.library == "torchvision" and pre.resize == pre.size  # the key ResNet caches always had
    return FeatureSpec(arch=encoder.model_name, library=encoder.library, weights=encoder.weights, pool=encoder.pool,
                       init_seed=cfg.init_seed, size=pre.size, preprocess=None if default else pre.as_dict(),
                       sampler=instantiate(cfg.sampler), backend=cfg.backend)


def extract_from_config(dataset: ActionDataset, cfg, *, on_bad_video: str = "error") -> FeatureCache:
    """:func:`extract_features` as the ``features`` config group describes it."""
    encoder = FrameEncoder.from_config(cfg)
    spec = feature_spec(cfg, encoder)
    return extract_features(dataset, spec, encoder=encoder, root=cfg.dir, batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                            accelerator=cfg.accelerator, devices=cfg.devices, strategy=cfg.strategy,
                            precision=cfg.precision, on_bad_video=on_bad_video)


def backbone_info(cache: FeatureCache) -> dict:
    """What ``metrics.json`` records under ``features``: the backbone and where its features are cached."""
    spec = cache.spec
    return {"library": spec.library, "model": spec.arch, "weights": spec.weights, "pool": spec.pool, "dim": cache.dim,
            "size": spec.size, "preprocess": spec.preprocess, "cache": str(cache.dir)}
