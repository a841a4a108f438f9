"""One LightningDataModule for every dataset: train / val / test loaders over cached features."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ucfbench.data.base import ActionDataset
from ucfbench.data.datasets import FeatureDataset
from ucfbench.data.types import VideoRecord
from ucfbench.features.cache import UNREADABLE, FeatureCache


class VideoDataModule(L.LightningDataModule):
    """Serves a dataset's splits as batches of cached per-frame features.

    Args:
        dataset: the dataset and its protocol (decides which video is in which split).
        cache: the complete feature cache of ``dataset``.
        batch_size: training batch size (evaluation uses ``eval_batch_size``).
        eval_batch_size: batch size for validation and test (default: ``batch_size``).
        num_workers: DataLoader workers (0 is right for memory-mapped features).
    """

    def __init__(
        self,
        *,
        dataset: ActionDataset,
        cache: FeatureCache,
        batch_size: int = 16,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.dataset = dataset
        self.cache = cache
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.splits: dict[str, Dataset] = {}
        self.records: dict[str, list[VideoRecord]] = {}  # per split, without skipped videos
        self.skipped: list[str] = []  # videos left out as unreadable (dataset.on_bad_video=skip)

    @property
    def input_dim(self) -> int:
        return self.cache.dim

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        features, lengths = self.cache.load()
        bad = set(np.flatnonzero(self.cache.state() == UNREADABLE).tolist())
        for name in ("train", "val", "test"):
            records = self.dataset.subset(name)
            rows = self.cache.rows_of(records)
            self.skipped += [r.relpath for r, row in zip(records, rows) if row in bad]
            records = [r for r, row in zip(records, rows) if row not in bad]
            self.records[name] = records
            self.splits[name] = FeatureDataset(
                features=features, lengths=lengths, rows=self.cache.rows_of(records),
                labels=np.array([r.label for r in records], dtype=np.int64),
            )

    def _loader(self, name: str, *, shuffle: bool, batch_size: int) -> DataLoader:
        return DataLoader(
            self.splits[name], batch_size=batch_size, shuffle=shuffle, num_workers=self.num_workers,
            pin_memory=torch.cuda.is_available(), persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True, batch_size=self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False, batch_size=self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False, batch_size=self.eval_batch_size)
