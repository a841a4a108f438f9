"""A file-backed cache of decoded, resized clips (``data.cache_decoded``): later epochs and later
runs skip decoding."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from ucfbench.data.types import VideoRecord
from ucfbench.utils.io import atomic_write, make_temp_dir

log = logging.getLogger(__name__)

CLIP_CACHE_FORMAT = 1
PENDING, DONE, UNREADABLE = 0, 1, 2


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
        tmp = make_temp_dir(self.dir.parent, prefix=f".{self.dir.name}.")  # umask mode, not 0700
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


def clip_cache_spec(sampler: object, *, size: int, backend: str, num_views: int) -> dict:
    """What names a clip cache entry: the sampler's deterministic choice, decode size, backend, views."""
    return {"sampler": {"type": type(sampler).__name__, **dataclasses.asdict(sampler)}, "size": size,
            "backend": backend, "views": num_views}
