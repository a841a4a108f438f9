"""Decoded clips for end-to-end models: reading (any sampler, several views), a file-backed cache
of decoded clips (``data.cache_decoded``), and the torch Dataset that serves normalised clips.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ucfbench.data.types import Batch, SampledIndices, VideoRecord
from ucfbench.data.video import VideoDecodeError, read_frames
from ucfbench.utils.io import atomic_write

log = logging.getLogger(__name__)

CLIP_CACHE_FORMAT = 1
PENDING, DONE, UNREADABLE = 0, 1, 2


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


class DecodedClipCache:
    """Decoded, resized clips on disk, so later epochs (and later runs) skip decoding.

    One entry per dataset and clip setting (sampler, size, backend, views), a folder named by a
    hash of them, holding ``frames.npy`` (N, T, S, S, 3) uint8, ``lengths.npy`` and ``state.npy``
    (0 pending, 1 done, 2 unreadable), all memory-mapped and written by the DataLoader workers in
    place. A row's frames are written before its state says done, so a crash or a video that fails
    to decode never leaves a row that reads as done with partial frames: it is decoded again.

    Args:
        root: folder of all clip cache entries.
        dataset_name: the dataset's name.
        fingerprint: the dataset's file fingerprint (files, sizes, times).
        records: every video of the dataset; row ``i`` is ``records[i]``.
        spec: what changes the clips (sampler, size, backend, views); names the entry.
        shape: (T, S, S, 3) of one clip.
    """

    def __init__(self, *, root: str | Path, dataset_name: str, fingerprint: str, records: list[VideoRecord],
                 spec: dict, shape: tuple[int, ...]) -> None:
        payload = {"format": CLIP_CACHE_FORMAT, "dataset": dataset_name, "files": fingerprint, **spec}
        key = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.dir = Path(root) / f"{dataset_name}-{key}"
        self.records, self.spec, self.shape = records, payload, tuple(shape)
        self.row = {r.relpath: i for i, r in enumerate(records)}
        self._maps: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None  # (pid, frames, lengths, state)

    @property
    def nbytes(self) -> int:
        return len(self.records) * int(np.prod(self.shape))

    def create(self) -> None:
        """Allocate the entry (sparse files) unless it exists; atomic: a folder appears whole."""
        if (self.dir / "state.npy").is_file():
            return
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.dir.parent, prefix=f".{self.dir.name}."))
        try:
            n = len(self.records)
            np.lib.format.open_memmap(tmp / "frames.npy", mode="w+", dtype=np.uint8, shape=(n, *self.shape)).flush()
            np.save(tmp / "lengths.npy", np.zeros(n, dtype=np.int32))
            np.save(tmp / "state.npy", np.zeros(n, dtype=np.uint8))
            atomic_write(tmp / "videos.txt", "".join(f"{r.relpath}\n" for r in self.records))
            atomic_write(tmp / "spec.json", json.dumps({**self.spec, "shape": [n, *self.shape]}, indent=1, default=str))
            os.rename(tmp, self.dir)
            log.info("Decoded-clip cache %s (%.2f GiB when full)", self.dir, self.nbytes / 2**30)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not (self.dir / "state.npy").is_file():  # another process may have won the rename
                raise

    def _open(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Each process (DataLoader worker) maps the files itself; writes go straight to the page cache.
        if self._maps is None or self._maps[0] != os.getpid():
            self._maps = (os.getpid(), *(np.load(self.dir / f"{name}.npy", mmap_mode="r+")
                                         for name in ("frames", "lengths", "state")))
        return self._maps[1:]

    def state(self, row: int) -> int:
        return int(self._open()[2][row])

    def get(self, row: int) -> tuple[np.ndarray, int] | None:
        """The cached clip of ``row`` and its length, or None when it is not cached."""
        frames, lengths, state = self._open()
        if state[row] != DONE:
            return None
        return np.array(frames[row]), int(lengths[row])

    def put(self, row: int, clip: np.ndarray, length: int) -> None:
        assert clip.shape == self.shape and clip.dtype == np.uint8, f"clip {clip.shape} {clip.dtype} != {self.shape}"
        frames, lengths, state = self._open()
        frames[row] = clip
        lengths[row] = length
        state[row] = DONE  # last: a row reads as done only once its frames are in place

    def mark_unreadable(self, row: int) -> None:
        self._open()[2][row] = UNREADABLE

    def __getstate__(self) -> dict:  # workers open their own maps
        return {**self.__dict__, "_maps": None}


class ClipVideoDataset(Dataset):
    """Normalised float clips of a split's videos, decoded (or read from the clip cache) per sample.

    Args:
        root: dataset root.
        records: the split's videos.
        sampler: frame sampler; drawn at random when ``random_clips`` (training without cache).
        size: frames are resized (short side) and centre-cropped to ``size`` x ``size`` when decoded.
        transform: uint8 (T, H, W, 3) -> float (T, 3, H', W') (one draw per clip).
        backend: decoding backend.
        random_clips: draw the sampler's random (training) clip; else its deterministic one.
        num_views: the sampler returns this many clips of T frames (test views): ``x`` is then
            (V, T, 3, H', W') instead of (T, 3, H', W').
        cache: decoded-clip cache (deterministic clips only).
        rows: each record's row in ``cache``.
        on_bad_video: ``error`` raises naming the file; ``skip`` returns ``lengths == 0``.
    """

    def __init__(self, *, root: str | Path, records: list[VideoRecord], sampler: object, size: int,
                 transform: Callable[[torch.Tensor], torch.Tensor], backend: str = "auto", random_clips: bool = False,
                 num_views: int = 1, cache: DecodedClipCache | None = None, rows: list[int] | None = None,
                 on_bad_video: str = "error") -> None:
        if on_bad_video not in ("error", "skip"):
            raise ValueError(f"dataset.on_bad_video must be 'error' or 'skip', got {on_bad_video!r}")
        assert cache is None or not random_clips, "the clip cache holds deterministic clips only"
        self.root, self.records, self.sampler, self.size = Path(root), records, sampler, size
        self.transform, self.backend, self.random_clips, self.num_views = transform, backend, random_clips, num_views
        self.cache, self.rows, self.on_bad_video = cache, rows, on_bad_video

    def __len__(self) -> int:
        return len(self.records)

    def _decode(self, i: int) -> tuple[np.ndarray, int]:
        rec = self.records[i]
        row = self.rows[i] if self.cache is not None and self.rows is not None else None
        if row is not None:
            hit = self.cache.get(row)
            if hit is not None:
                return hit
            if self.on_bad_video == "skip" and self.cache.state(row) == UNREADABLE:
                return self._blank(), 0
        # torch's RNG is seeded per worker by the DataLoader: random clips repeat from run to run.
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()))) if self.random_clips else None
        try:
            frames, length = read_clip(rec.path(self.root), self.sampler, size=self.size, backend=self.backend, rng=rng)
        except (VideoDecodeError, FileNotFoundError):
            if self.on_bad_video == "error":
                raise  # nothing was written for it
            if row is not None:
                self.cache.mark_unreadable(row)
            return self._blank(), 0
        if row is not None:
            self.cache.put(row, frames, length)
        return frames, length

    def _blank(self) -> np.ndarray:
        return np.zeros((int(self.sampler.num_frames), self.size, self.size, 3), dtype=np.uint8)

    def __getitem__(self, i: int) -> Batch:
        frames, length = self._decode(i)
        views = torch.from_numpy(frames).unflatten(0, (self.num_views, -1))  # (V, T, H, W, 3)
        x = torch.stack([self.transform(v) for v in views])  # (V, T, 3, H', W')
        return Batch(
            x=x[0] if self.num_views == 1 else x,
            lengths=torch.tensor(length),
            label=torch.tensor(self.records[i].label),
            index=torch.tensor(i),
        )


def clip_cache_spec(sampler: object, *, size: int, backend: str, num_views: int) -> dict:
    """What names a clip cache entry: the sampler's deterministic choice, decode size, backend, views."""
    return {"sampler": {"type": type(sampler).__name__, **dataclasses.asdict(sampler)}, "size": size,
            "backend": backend, "views": num_views}
