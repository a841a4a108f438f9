"""A file-backed cache of decoded, resized clips (``data.cache_decoded``): later epochs and later
runs skip decoding."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ucfbench.cache.rows import DONE, PENDING, UNREADABLE, RowCache, row_key, sampler_dict
from ucfbench.data.types import VideoRecord
from ucfbench.utils.io import human_bytes

log = logging.getLogger(__name__)

CLIP_CACHE_FORMAT = 1
__all__ = ["DONE", "PENDING", "UNREADABLE", "DecodedClipCache", "clip_cache_spec"]


class DecodedClipCache(RowCache):
    """Decoded, resized clips on disk, so later epochs (and later runs) skip decoding.

    One entry per dataset and clip setting (sampler, size, backend, views), a folder named by a
    hash of them, holding ``frames.npy`` (N, T, S, S, 3) uint8 beside the row cache's lengths,
    checksums and states (:mod:`ucfbench.cache.rows`), filled by the DataLoader workers of every job
    that reads it. A row's frames and checksum are written before its state says done, and a row is
    checked against its checksum each time it is read: a crash, a video that fails to decode or a
    damaged file never serves partial frames; the row is decoded again. Jobs that decode the same
    row at once write the same bytes.

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
        key = row_key(payload)
        self.spec, self.shape = payload, tuple(shape)
        super().__init__(dir=Path(root) / f"{dataset_name}-{key}", records=records, data="frames", dtype=np.uint8,
                         row_shape=self.shape, meta={"key": key, **payload, "shape": [len(records), *self.shape]},
                         kind="decoded-clip", hint="data.cache_dir")
        self.row = {r.relpath: i for i, r in enumerate(records)}
        self._maps: tuple[int, dict[str, np.ndarray]] | None = None  # (pid, read-only maps)

    def create(self) -> None:
        """Allocate the entry unless it exists; atomic: a folder appears whole."""
        existed = self.exists()
        super().create()
        if not existed:
            log.info("Decoded-clip cache %s (%s when full)", self.dir, human_bytes(self.nbytes))

    def _open(self) -> dict[str, np.ndarray]:
        # Each process (DataLoader worker) maps the files itself; rows are written with pwrite and
        # the shared maps see them.
        if self._maps is None or self._maps[0] != os.getpid():
            self._maps = (os.getpid(), {name: self.open_array(name) for name in self.arrays})
        return self._maps[1]

    def row_state(self, row: int) -> int:
        """One row's state (:meth:`states` reads them all)."""
        return int(self._open()["state"][row])

    def is_unreadable(self, row: int) -> bool:
        """Whether ``row``'s video was recorded as one that cannot be decoded, with the reason
        (a state without one is damage: the video is decoded again)."""
        return self.row_state(row) == UNREADABLE and row in self.unreadable_reasons()

    def get(self, row: int) -> tuple[np.ndarray, int] | None:
        """The cached clip of ``row`` and its length, or None when it is not cached (or damaged)."""
        maps = self._open()
        if maps["state"][row] != DONE:
            return None
        frames, length = np.array(maps["frames"][row]), int(maps["lengths"][row])
        if not 1 <= length <= self.shape[0] or self.checksum(frames, length) != maps["checksum"][row]:
            self.on_damaged(np.array([row]))
            return None  # decoded again and overwritten by put()
        return frames, length

    def put(self, row: int, clip: np.ndarray, length: int) -> None:
        assert clip.shape == self.shape and clip.dtype == np.uint8, f"clip {clip.shape} {clip.dtype} != {self.shape}"
        self.write_rows(np.array([row]), clip[None], np.array([length]))

    def mark_unreadable(self, row: int, *, why: str | None = None) -> None:
        """Record that ``row``'s video cannot be decoded, and why (the decoder's error)."""
        self.set_state(np.array([row]), UNREADABLE, why=why)

    def __getstate__(self) -> dict:  # workers open their own maps and lock
        return {**super().__getstate__(), "_maps": None}


def clip_cache_spec(sampler: object, *, size: int, backend: str, num_views: int) -> dict:
    """What names a clip cache entry: the sampler's deterministic choice, decode size, backend, views."""
    return {"sampler": sampler_dict(sampler), "size": size, "backend": backend, "views": num_views}
