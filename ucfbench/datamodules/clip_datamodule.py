"""The DataModule of end-to-end models (``data=clips``): batches of decoded, augmented clips.

Decoding runs in DataLoader workers (``num_workers``) into pinned memory on CUDA. Each batch is a
:class:`~ucfbench.data.types.Batch` whose ``x`` is (B, T, 3, H, W) ImageNet-normalised float, or
(B, V, T, 3, H, W) for a test split read as V views per video (``test_views``; the model averages
their class probabilities).
"""

from __future__ import annotations

import logging
from pathlib import Path

from lightning.pytorch.trainer.states import RunningStage
from torch.utils.data import DataLoader

from ucfbench.cache.clips import DecodedClipCache, clip_cache_spec
from ucfbench.data.base import ActionDataset
from ucfbench.data.clips import ClipDataset
from ucfbench.data.sampling import MultiViewSampler
from ucfbench.data.transforms import ClipTransform
from ucfbench.data.types import Batch, VideoRecord
from ucfbench.datamodules.base import ActionDataModule

log = logging.getLogger(__name__)

STAGE_SPLIT = {RunningStage.TRAINING: "train", RunningStage.VALIDATING: "val", RunningStage.SANITY_CHECKING: "val",
               RunningStage.TESTING: "test", RunningStage.PREDICTING: "test"}


class ClipDataModule(ActionDataModule):
    """Serves a dataset's splits as clips decoded from the videos.

    Args:
        dataset: the dataset and its protocol.
        sampler: frame sampler (the CNN-RNN write-up: ``StrideSampler(16, 2)``): random clips for training,
            its deterministic clip for validation and test.
        size: frame size the model sees (``size`` x ``size``).
        resize: frames are decoded with the short side at ``resize`` and centre-cropped square
            (default ``size``); training then takes a random resized crop of it, evaluation the
            centre ``size`` crop.
        backend: video decoder (``auto`` or ``pyav``: PyAV either way).
        batch_size: training clips per batch; ``eval_batch_size`` for validation and test.
        num_workers: decoding worker processes.
        pin_memory: pin batches for faster host-to-GPU copies (``auto``: on CUDA).
        test_views: clips per test video whose class probabilities are averaged (1: the centre
            clip, the CNN-RNN write-up's protocol).
        cache_decoded: keep decoded, resized clips in a file-backed cache (``cache_dir``) so later
            epochs skip decoding. The cache holds each video's deterministic clip, so training
            then sees the same frames every epoch (spatial augmentation stays random).
        cache_dir: where the clip cache lives.
        crop_scale: area share range of the training crop.
        hflip: flip probability for training clips; ``auto``: 0.5, or 0 for datasets whose labels a
            mirror image changes (the synthetic set: SlideLeft is SlideRight mirrored).
    """

    def __init__(
        self,
        *,
        dataset: ActionDataset,
        sampler: object,
        size: int,
        resize: int | None = None,
        backend: str = "auto",
        batch_size: int = 4,
        eval_batch_size: int | None = None,
        num_workers: int = 2,
        pin_memory: bool | str = "auto",
        test_views: int = 1,
        cache_decoded: bool = False,
        cache_dir: str | Path | None = None,
        crop_scale: tuple[float, float] = (0.6, 1.0),
        hflip: float | str = "auto",
        persistent_workers: bool = True,
    ) -> None:
        super().__init__(dataset=dataset)
        if test_views < 1:
            raise ValueError(f"data.test_views must be >= 1, got {test_views}")
        if cache_decoded and cache_dir is None:
            raise ValueError("data.cache_decoded=true needs data.cache_dir")
        self.sampler, self.size = sampler, size
        self.resize = resize or size
        if self.resize < size:
            raise ValueError(f"data.resize ({self.resize}) must be at least data.size ({size})")
        self.backend, self.batch_size, self.eval_batch_size = backend, batch_size, eval_batch_size or batch_size
        self.num_workers, self.pin_memory, self.test_views = num_workers, pin_memory, test_views
        self.cache_decoded, self.cache_dir = cache_decoded, Path(cache_dir) if cache_dir else None
        self.crop_scale = tuple(crop_scale)
        if hflip == "auto":
            hflip = 0.5 if getattr(dataset, "hflip_preserves_labels", True) else 0.0
        self.hflip = float(hflip)
        self.persistent_workers = persistent_workers
        self.records: dict[str, list[VideoRecord]] = {}
        self.splits: dict[str, ClipDataset] = {}
        self.skipped: list[str] = []  # unreadable videos left out (dataset.on_bad_video=skip)
        self._caches: dict[int, DecodedClipCache] = {}

    def describe(self) -> dict:
        """What ``metrics.json`` records about the data: the clip setting."""
        return {"clips": {"frames": int(self.sampler.num_frames), "size": self.size, "test_views": self.test_views}}

    def _cache(self, views: int) -> DecodedClipCache | None:
        if not self.cache_decoded:
            return None
        if views not in self._caches:
            sampler = MultiViewSampler(base=self.sampler, num_views=views)
            cache = DecodedClipCache(
                root=self.cache_dir, dataset_name=self.dataset.name, fingerprint=self.dataset.fingerprint(),
                records=self.dataset.records(), shape=(sampler.num_frames, self.resize, self.resize, 3),
                spec=clip_cache_spec(self.sampler, size=self.resize, backend=self.backend, num_views=views),
            )
            if self.trainer is None or self.trainer.is_global_zero:
                cache.create()
            if self.trainer is not None:
                self.trainer.strategy.barrier("clip-cache-created")
            self._caches[views] = cache
        return self._caches[views]

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        for name in ("train", "val", "test"):
            records = self.dataset.subset(name)
            views = self.test_views if name == "test" else 1
            cache = self._cache(views)
            random_clips = name == "train" and cache is None
            sampler = self.sampler if random_clips else MultiViewSampler(base=self.sampler, num_views=views)
            transform = ClipTransform(size=self.size, train=name == "train", crop_scale=self.crop_scale,
                                      hflip=self.hflip)
            self.records[name] = records
            self.splits[name] = ClipDataset(
                root=self.dataset.root, records=records, sampler=sampler, size=self.resize, transform=transform,
                backend=self.backend, random_clips=random_clips, num_views=views, cache=cache,
                rows=[cache.row[r.relpath] for r in records] if cache is not None else None,
                on_bad_video=self.dataset.on_bad_video,
            )
        if self.cache_decoded:
            log.info("Decoded clips cached in %s: training uses each video's centre clip every epoch",
                     ", ".join(str(c.dir) for c in self._caches.values()))

    def _loader(self, name: str, *, shuffle: bool, batch_size: int) -> DataLoader:
        if self.trainer is not None and self.trainer.overfit_batches:
            shuffle = False
        pin = self.pin_memory
        if pin == "auto":
            pin = self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        return DataLoader(
            self.splits[name], batch_size=batch_size, shuffle=shuffle, num_workers=self.num_workers,
            pin_memory=bool(pin), persistent_workers=self.persistent_workers and self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True, batch_size=self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False, batch_size=self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False, batch_size=self.eval_batch_size)

    def on_before_batch_transfer(self, batch: Batch, dataloader_idx: int) -> Batch:
        """Drop videos that failed to decode (``lengths == 0``, only with ``on_bad_video=skip``)."""
        bad = batch["lengths"] == 0
        if not bool(bad.any()):
            return batch
        split = STAGE_SPLIT.get(self.trainer.state.stage, "train") if self.trainer is not None else "train"
        for i in batch["index"][bad].tolist():
            relpath = self.records[split][i].relpath
            if relpath not in self.skipped:
                log.warning("Skipping unreadable video %s", relpath)
                self.skipped.append(relpath)
        keep = ~bad
        return Batch(**{k: v[keep] for k, v in batch.items()})
