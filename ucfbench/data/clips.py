"""Decoded clips for end-to-end models: reading (any sampler, several views) and the torch Dataset
that serves normalised clips, optionally through a decoded-clip cache (:mod:`ucfbench.cache.clips`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from ucfbench.data.types import Batch, SampledIndices, VideoRecord
from ucfbench.data.video import VideoDecodeError, read_frames

log = logging.getLogger(__name__)


class ClipStore(Protocol):
    """What the dataset asks of a decoded-clip cache (:class:`ucfbench.cache.clips.DecodedClipCache`,
    which sits above ``data/``): a verified clip or None, whether a row's video could not be decoded, and writing a row."""

    def get(self, row: int) -> tuple[np.ndarray, int] | None: ...
    def is_unreadable(self, row: int) -> bool: ...
    def put(self, row: int, clip: np.ndarray, length: int) -> None: ...
    def mark_unreadable(self, row: int, *, why: str | None = None) -> None: ...



class _SortedIndices:
    """Sampler adapter: hands the backend sorted indices and remembers how to undo the sort."""

    def __init__(self, sampler: object) -> None:
        self.sampler = sampler
        self.order: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.sampler.num_frames)  # type: ignore[attr-defined]

    def __call__(self, num_frames_in_video: int, rng: np.random.Generator | None = None) -> SampledIndices:
        indices, length = self.sampler(num_frames_in_video, rng)  # type: ignore[operator]
        indices = np.asarray(indices, dtype=np.int64)
        self.order = np.argsort(indices, kind="stable")
        return SampledIndices(indices[self.order], length)


def read_clip(path: str | Path, sampler: object, *, size: int, backend: str = "auto",
              rng: np.random.Generator | None = None) -> tuple[np.ndarray, int]:
    """:func:`~ucfbench.data.video.read_frames` for samplers whose indices need not be sorted
    (e.g. :class:`~ucfbench.data.sampling.MultiViewSampler`): (T, size, size, 3) uint8 in the
    sampler's order, and the number of real frames."""
    adapter = _SortedIndices(sampler)
    frames, length = read_frames(path, adapter, size=size, backend=backend, rng=rng)
    out = np.empty_like(frames)
    out[adapter.order] = frames  # sorted[j] is frame indices[order[j]]
    return out, length


class ClipDataset(Dataset):
    """Clips of a list of videos, decoded (or read from the clip cache) per sample: uint8 frames for
    feature extraction, or frames through ``transform`` (normalised float) for end-to-end models.

    Args:
        root: dataset root.
        records: the split's videos.
        sampler: frame sampler; drawn at random when ``random_clips`` (training without cache).
        size: frames are resized (short side) and centre-cropped to ``size`` x ``size`` when decoded.
        transform: uint8 (T, H, W, 3) -> float (T, 3, H', W') (one draw per clip); None: ``x`` is
            the uint8 (T, H, W, 3) frames.
        backend: decoding backend.
        random_clips: draw the sampler's random (training) clip; else its deterministic one.
        num_views: the sampler returns this many clips of T frames (test views): ``x`` is then
            (V, T, 3, H', W') instead of (T, 3, H', W').
        cache: decoded-clip cache (deterministic clips only).
        rows: each record's row in ``cache``.
        index: value of each sample's ``index`` (default: its position in ``records``).
        on_bad_video: ``error`` raises naming the file; ``skip`` returns ``lengths == 0``.
    """

    def __init__(self, *, root: str | Path, records: list[VideoRecord], sampler: object, size: int,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None, backend: str = "auto",
                 random_clips: bool = False, num_views: int = 1, cache: ClipStore | None = None,
                 rows: list[int] | None = None, index: np.ndarray | None = None, on_bad_video: str = "error") -> None:
        if on_bad_video not in ("error", "skip"):
            raise ValueError(f"dataset.on_bad_video must be 'error' or 'skip', got {on_bad_video!r}")
        assert cache is None or not random_clips, "the clip cache holds deterministic clips only"
        self.root, self.records, self.sampler, self.size = Path(root), records, sampler, size
        self.transform, self.backend, self.random_clips, self.num_views = transform, backend, random_clips, num_views
        self.cache, self.rows, self.on_bad_video = cache, rows, on_bad_video
        self.index = np.arange(len(records)) if index is None else np.asarray(index)

    def __len__(self) -> int:
        return len(self.records)

    def _decode(self, i: int) -> tuple[np.ndarray, int]:
        rec = self.records[i]
        row = self.rows[i] if self.cache is not None and self.rows is not None else None
        if row is not None:
            hit = self.cache.get(row)
            if hit is not None:
                return hit
            if self.on_bad_video == "skip" and self.cache.is_unreadable(row):
                return self._blank(), 0
        # torch's RNG is seeded per worker by the DataLoader: random clips repeat from run to run.
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()))) if self.random_clips else None
        try:
            frames, length = read_clip(rec.path(self.root), self.sampler, size=self.size, backend=self.backend, rng=rng)
        except (VideoDecodeError, FileNotFoundError) as err:
            if self.on_bad_video == "error":
                raise  # nothing was written for it
            if row is not None:
                self.cache.mark_unreadable(row, why=str(err))
            return self._blank(), 0
        if row is not None:
            self.cache.put(row, frames, length)
        return frames, length

    def _blank(self) -> np.ndarray:
        return np.zeros((int(self.sampler.num_frames), self.size, self.size, 3), dtype=np.uint8)

    def __getitem__(self, i: int) -> Batch:
        frames, length = self._decode(i)
        views = torch.from_numpy(frames).unflatten(0, (self.num_views, -1))  # (V, T, H, W, 3)
        if self.transform is not None:
            views = torch.stack([self.transform(v) for v in views])  # (V, T, 3, H', W')
        return Batch(
            x=views[0] if self.num_views == 1 else views,
            lengths=torch.tensor(length),
            label=torch.tensor(self.records[i].label),
            index=torch.tensor(int(self.index[i])),
        )
