"""torch Datasets over a split: decoded clips, or rows of the feature cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ucfbench.data.types import Batch, VideoRecord
from ucfbench.data.video import read_frames


class ClipDataset(Dataset):
    """Decoded, sampled, resized frames of each video.

    Args:
        root: dataset root.
        records: the videos.
        sampler: frame sampler; random (training) sampling when ``train`` is set.
        size: output frames are ``size`` x ``size``.
        backend: decoding backend.
        train: draw random clips (per-worker RNG seeded by the DataLoader, so runs repeat).
        index: value of each sample's ``index`` (default: its position in ``records``).
    """

    def __init__(
        self,
        *,
        root: str | Path,
        records: list[VideoRecord],
        sampler: object,
        size: int,
        backend: str = "auto",
        train: bool = False,
        index: np.ndarray | None = None,
    ) -> None:
        self.root = Path(root)
        self.records = records
        self.sampler = sampler
        self.size = size
        self.backend = backend
        self.train = train
        self.index = np.arange(len(records)) if index is None else np.asarray(index)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> Batch:
        rec = self.records[i]
        # torch's RNG is seeded per worker from the loader's generator: reproducible randomness.
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()))) if self.train else None
        frames, length = read_frames(rec.path(self.root), self.sampler, size=self.size, backend=self.backend, rng=rng)
        return Batch(
            x=torch.from_numpy(frames),  # (T, H, W, 3) uint8
            lengths=torch.tensor(length),
            label=torch.tensor(rec.label),
            index=torch.tensor(int(self.index[i])),
        )


class FeatureDataset(Dataset):
    """Cached per-frame features of a split, read from the memory-mapped cache array.

    Args:
        features: (N, T, D) float16 array of the whole dataset (memory-mapped).
        lengths: (N,) valid steps per row.
        rows: row of each of the split's videos in ``features``.
        labels: class of each of the split's videos.
    """

    def __init__(self, *, features: np.ndarray, lengths: np.ndarray, rows: np.ndarray, labels: np.ndarray) -> None:
        assert len(rows) == len(labels), "one label per row"
        self.features = features
        self.lengths = torch.as_tensor(lengths[rows], dtype=torch.int64)
        self.rows = rows
        self.labels = torch.as_tensor(labels, dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> Batch:
        x = torch.from_numpy(np.asarray(self.features[self.rows[i]], dtype=np.float32))  # (T, D)
        return Batch(x=x, lengths=self.lengths[i], label=self.labels[i], index=torch.tensor(i))
