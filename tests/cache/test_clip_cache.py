"""The decoded-clip cache on the row cache: rows checked on every read, safe under concurrent writers."""

from __future__ import annotations

import logging
import multiprocessing as mp
from pathlib import Path

import numpy as np

from ucfbench.cache.clips import DONE, PENDING, DecodedClipCache
from ucfbench.data.types import VideoRecord

N, SHAPE = 12, (4, 16, 16, 3)


def _cache(root: Path) -> DecodedClipCache:
    records = [VideoRecord(relpath=f"A/v{i}.avi", label=0) for i in range(N)]
    return DecodedClipCache(root=root, dataset_name="fake", fingerprint="x", records=records, spec={"size": 16},
                            shape=SHAPE)


def _clip(row: int) -> np.ndarray:
    return np.random.default_rng(row).integers(0, 256, SHAPE, dtype=np.uint8)


def test_a_damaged_clip_row_is_decoded_again(tmp_path: Path, caplog) -> None:
    cache = _cache(tmp_path)
    cache.create()
    cache.put(5, _clip(5), 4)
    frames = np.load(cache.dir / "frames.npy", mmap_mode="r+")
    frames[5, 2, 3, 4] ^= 0x40  # one flipped bit
    frames.flush()
    with caplog.at_level(logging.WARNING):
        assert cache.get(5) is None  # not served
    assert str(cache.dir) in caplog.text and "5 (A/v5.avi)" in caplog.text
    cache.put(5, _clip(5), 4)  # what the dataset does after decoding it again
    clip, length = cache.get(5)
    assert np.array_equal(clip, _clip(5)) and length == 4


def _writer(root: Path, order: list[int], reads: mp.Queue) -> None:
    cache = _cache(root)
    bad = 0
    for row in order:
        hit = cache.get(row)
        if hit is not None and not np.array_equal(hit[0], _clip(row)):
            bad += 1  # a row served with other frames than its own
        cache.put(row, _clip(row), 4)
    reads.put(bad)


def test_concurrent_writers_leave_every_row_whole(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    cache.create()
    ctx = mp.get_context("fork")
    reads = ctx.Queue()
    orders = [list(range(N)), list(reversed(range(N))), [*range(1, N, 2), *range(0, N, 2)], list(range(N))]
    jobs = [ctx.Process(target=_writer, args=(tmp_path, order, reads)) for order in orders]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=120)
        assert job.exitcode == 0
    assert [reads.get(timeout=10) for _ in jobs] == [0] * len(jobs)
    again = _cache(tmp_path)
    assert len(again.verify()) == 0 and (again.states() == DONE).all()
    assert all(np.array_equal(again.get(r)[0], _clip(r)) for r in range(N))
    assert PENDING not in again.states()
