"""Fill a feature cache by running the frozen backbone through ``Trainer.predict``.

Running through Lightning gives mixed precision on a GPU and sharding across devices (DDP)
for free; a prediction writer stores each finished batch in the cache, so extraction can be
killed at any point and resumed by running it again. Jobs started at once share the work: each
claims chunks of pending rows (:meth:`~ucfbench.cache.rows.RowCache.claim`) until none is left.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter, RichProgressBar
from rich.progress import MofNCompleteColumn, Progress
from torch.utils.data import DataLoader

from ucfbench.backbones.frame_encoder import FrameEncoder
from ucfbench.cache.claims import CLAIM_TIMEOUT, check_claim_settings
from ucfbench.cache.features import FeatureCache, FeatureSpec
from ucfbench.data.base import ActionDataset, DatasetError
from ucfbench.data.clips import ClipDataset, read_clip
from ucfbench.data.types import Batch, VideoRecord
from ucfbench.data.video import VideoDecodeError
from ucfbench.utils.resolvers import amp_precision

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
    """Writes each predicted batch into the cache as soon as it is done; ``why``: a row's video ->
    the decoder's error, kept with a row recorded as unreadable."""

    def __init__(self, cache: FeatureCache, why: Callable[[int], str] | None = None) -> None:
        super().__init__(write_interval="batch")
        self.cache, self.why = cache, why

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # One process allocates the entry; the others open it only after it exists.
        if trainer.is_global_zero:
            self.cache.create()
        trainer.strategy.barrier("feature-cache-created")

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0):
        rows, lengths = prediction["row"].numpy(), prediction["lengths"].numpy()
        bad = lengths == 0  # videos skipped under on_bad_video=skip
        for row in rows[bad].tolist():
            self.cache.mark_unreadable(np.array([row]), why=self.why(row) if self.why else None)
        if (~bad).any():
            self.cache.write(rows[~bad], prediction["features"].numpy()[~bad], lengths[~bad])


def _check_unreadable(cache: FeatureCache, on_bad_video: str) -> None:
    bad = cache.unreadable_videos()
    if bad and on_bad_video == "error":
        shown = "\n  ".join(f"{video}: {why}" for video, why in bad[:10])
        raise DatasetError(
            f"{len(bad)} video(s) in feature cache {cache.dir} were recorded as unreadable by a run "
            f"with dataset.on_bad_video=skip:\n  {shown}\nFix or remove them, or run with dataset.on_bad_video=skip."
        )
    if bad:
        log.warning("%d unreadable video(s) skipped, e.g. %s (%s)", len(bad), *bad[0])


def _decode_error(dataset: ActionDataset, record: VideoRecord, spec: FeatureSpec, size: int) -> str:
    """Why ``record`` cannot be decoded (decoded again: the DataLoader worker that failed keeps its error)."""
    try:
        read_clip(record.path(dataset.root), spec.sampler, size=size, backend=spec.backend)
    except (VideoDecodeError, OSError) as err:
        return str(err)
    return "could not be decoded (reads now: run again to extract it)"


def feature_cache(dataset: ActionDataset, spec: FeatureSpec, *, root: str | Path, dim: int) -> FeatureCache:
    """The cache entry for ``dataset`` under ``spec`` (not yet created or filled)."""
    return FeatureCache(root=root, spec=spec, dataset_name=dataset.name, records=dataset.records(),
                        fingerprint=dataset.fingerprint(), dim=dim)


def feature_spec(encoder: FrameEncoder, sampler: object, backend: str) -> FeatureSpec:
    """The cache's :class:`FeatureSpec`: what ``encoder`` computes on the frames ``sampler`` picks."""
    pre = encoder.preprocessing
    default = encoder.library == "torchvision" and pre.resize == pre.size  # the key ResNet caches always had
    return FeatureSpec(arch=encoder.model_name, library=encoder.library, weights=encoder.weights, pool=encoder.pool,
                       init_seed=encoder.init_seed, size=pre.size, preprocess=None if default else pre.as_dict(),
                       sampler=sampler, backend=backend)


def backbone_info(cache: FeatureCache) -> dict:
    """What ``metrics.json`` records under ``features``: the backbone and where its features are cached."""
    spec = cache.spec
    return {"library": spec.library, "model": spec.arch, "weights": spec.weights, "pool": spec.pool, "dim": cache.dim,
            "size": spec.size, "preprocess": spec.preprocess, "cache": str(cache.dir)}


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
    claim_size: int | None = None,
    claim_timeout: float = CLAIM_TIMEOUT,
    poll_seconds: float = 1.0,
    encoder: FrameEncoder | None = None,
) -> FeatureCache:
    """Make sure ``dataset``'s features under ``spec`` are cached; extract what is missing.

    Returns the complete cache; its ``extracted`` says how many videos this call extracted (0 when
    all were cached). Done rows are verified first (a damaged one is extracted again). Several jobs
    may call this at once on the same cache: each claims ``claim_size`` pending rows at a time
    (default: 4 batches) under the cache's lock, extracts and writes them, and claims more; rows
    claimed by a job that died (or made no progress for ``claim_timeout`` seconds) go to the others;
    every job returns once all rows are done. Only pending rows are decoded, so a call after an
    interruption continues where the first stopped. A video that cannot be decoded stops the
    extraction with its name (``on_bad_video="error"``, nothing is written for it) or is recorded
    as unreadable in the cache (``"skip"``). ``encoder``: the backbone ``spec`` describes, if
    already built (else built from ``spec``).
    """
    check_claim_settings(claim_size, claim_timeout)
    encoder = encoder or FrameEncoder(library=spec.library, model=spec.arch, weights=spec.weights, pool=spec.pool,
                                      size=spec.size, crop_pct=(spec.preprocess or {}).get("crop_pct"),
                                      init_seed=spec.init_seed)
    cache = feature_cache(dataset, spec, root=root, dim=encoder.out_dim)
    cache.create()
    cache.verify()
    if cache.is_complete():
        log.info("Features cached: %s", cache.dir)
        _check_unreadable(cache, on_bad_video)
        return cache
    pending = cache.pending_rows()
    n = len(cache.records)
    log.info("Extracting %s features for %d of %d videos into %s", spec.arch, len(pending), n, cache.dir)

    def why(row: int) -> str:
        return _decode_error(dataset, cache.records[row], spec, encoder.preprocessing.resize)

    def make_trainer(progress_bar: bool) -> L.Trainer:
        return L.Trainer(
            accelerator=accelerator, devices=devices, strategy=strategy,
            precision=precision or amp_precision(accelerator), logger=False, enable_checkpointing=False,
            callbacks=[CacheWriter(cache, why), *([RichProgressBar()] if progress_bar else [])],
            enable_progress_bar=progress_bar, enable_model_summary=False,
        )

    # Chunks claimed one by one get one bar over the whole cache (_share_pending_rows); Lightning's
    # bar only where the job's devices split the rows among themselves.
    trainer = make_trainer(progress_bar=False)
    if trainer.world_size > 1:
        trainer = make_trainer(progress_bar=True)
    extractor = FeatureExtractor(encoder)

    def predict(rows: np.ndarray) -> None:
        clips = ClipDataset(root=dataset.root, records=[cache.records[i] for i in rows], sampler=spec.sampler,
                            size=encoder.preprocessing.resize, backend=spec.backend, index=rows,
                            on_bad_video=on_bad_video)
        loader = DataLoader(clips, batch_size=batch_size, num_workers=num_workers, shuffle=False,
                            pin_memory=torch.cuda.is_available(), persistent_workers=False)
        trainer.predict(extractor, dataloaders=loader, return_predictions=False)

    if trainer.world_size > 1:
        # Sharded over devices (DDP): this job's ranks split the pending rows among themselves.
        if len(pending):
            predict(pending)
        trainer.strategy.barrier("feature-extraction-done")  # every rank's rows are written
        cache.written = int(trainer.strategy.reduce(torch.tensor(cache.written), reduce_op="sum"))
        if not trainer.is_global_zero:
            return cache
    else:
        _share_pending_rows(cache, predict, claim_size=claim_size or 4 * batch_size, claim_timeout=claim_timeout,
                            poll_seconds=poll_seconds)
    cache.finalize()
    _check_unreadable(cache, on_bad_video)
    log.info("Features complete: %s (%d x %d x %d float16); %d extracted by this job", cache.dir, *cache.shape,
             cache.extracted)
    return cache


def _share_pending_rows(cache: FeatureCache, predict, *, claim_size: int, claim_timeout: float,
                        poll_seconds: float) -> None:
    """Claim pending rows chunk by chunk and ``predict`` them until none is left, then wait for
    the rows other jobs still hold. The bar counts every job's finished rows."""
    waiting = False
    total = len(cache.records)
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), transient=False) as bar:
        task = bar.add_task("Extracting", total=total, completed=total - len(cache.pending_rows()))
        while True:
            rows = cache.claim(claim_size, timeout=claim_timeout)
            if len(rows):
                waiting = False
                try:
                    predict(rows)
                finally:
                    cache.release(rows)  # rows not written (an error) go back to the others
                bar.update(task, completed=total - len(cache.pending_rows()))
                continue
            pending = cache.pending_rows()
            bar.update(task, completed=total - len(pending))
            if not len(pending):
                return
            if not waiting:
                log.info("Waiting for %d video(s) other jobs are extracting into %s", len(pending), cache.dir)
                waiting = True
            time.sleep(poll_seconds)
