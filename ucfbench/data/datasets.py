"""torch Datasets over a split: decoded clips, or rows of the feature cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ucfbench.data.types import Batch, VideoRecord
from ucfbench.data.video import VideoDecodeError, read_frames


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
        on_bad_video: ``error`` raises :class:`VideoDecodeError` naming the file; ``skip`` returns
            the sample with ``lengths == 0`` (and blank frames) so the caller can record it.
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
        on_bad_video: str = "error",
    ) -> None:
        if on_bad_video not in ("error", "skip"):
            raise ValueError(f"dataset.on_bad_video must be 'error' or 'skip', got {on_bad_video!r}")
        self.root = Path(root)
        self.records = records
        self.sampler = sampler
        self.size = size
        self.backend = backend
        self.train = train
        self.index = np.arange(len(records)) if index is None else np.asarray(index)
        self.on_bad_video = on_bad_video

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> Batch:
        rec = self.records[i]
        # torch's RNG is seeded per worker from the loader's generator: reproducible randomness.
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()))) if self.train else None
        try:
            frames, length = read_frames(rec.path(self.root), self.sampler, size=self.size, backend=self.backend, rng=rng)
        except (VideoDecodeError, FileNotFoundError):
            if self.on_bad_video == "error":
                raise
            t = int(self.sampler.num_frames)
            frames, length = np.zeros((t, self.size, self.size, 3), dtype=np.uint8), 0  # length 0 marks it bad
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


def feature_stats(features: np.ndarray, rows: np.ndarray, lengths: np.ndarray, *, chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and std over the valid steps of ``rows`` of a (N, T, D) array."""
    d = features.shape[-1]
    total, total_sq, count = np.zeros(d), np.zeros(d), 0
    for start in range(0, len(rows), chunk):
        batch = rows[start : start + chunk]
        x = np.asarray(features[np.sort(batch)], dtype=np.float64)  # (b, T, D)
        valid = np.arange(x.shape[1])[None, :] < lengths[np.sort(batch)][:, None]  # (b, T)
        x = x[valid]  # (n, D)
        total += x.sum(0)
        total_sq += (x * x).sum(0)
        count += len(x)
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(total_sq / max(count, 1) - mean * mean, 0.0))
    return torch.from_numpy(mean).float(), torch.from_numpy(std).float()
