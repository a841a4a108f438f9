"""The row cache under both caches: checksums, refused NaNs, unreadable files, full disks, claims."""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ucfbench.cache import rows as rows_module
from ucfbench.cache.rows import (
    DONE,
    PENDING,
    CacheUnreadableError,
    CacheWriteError,
    RowCache,
)
from ucfbench.data.types import VideoRecord

N, T, D = 6, 4, 8


def _cache(tmp_path: Path) -> RowCache:
    records = [VideoRecord(relpath=f"A/v{i}.avi", label=0) for i in range(N)]
    return RowCache(dir=tmp_path / "entry", records=records, data="features", dtype=np.float16, row_shape=(T, D),
                    meta={"key": "k"}, kind="feature", hint="features.dir")


def _rows(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((N, T, D)).astype(np.float16)


@pytest.fixture
def filled(tmp_path: Path) -> RowCache:
    cache = _cache(tmp_path)
    cache.create()
    cache.write_rows(np.arange(N), _rows(), np.full(N, T))
    return cache


def _poke(cache: RowCache, row: int, data: bytes, at: int = 0) -> None:
    """Overwrite bytes of one row of features.npy behind the cache's back."""
    offset = int(np.load(cache.dir / "features.npy", mmap_mode="r").offset) + row * T * D * 2 + at
    with open(cache.dir / "features.npy", "r+b") as f:
        f.seek(offset)
        f.write(data)


def test_written_rows_verify_and_read_back(filled: RowCache) -> None:
    assert (filled.states() == DONE).all() and filled.written == N
    assert len(filled.verify()) == 0
    np.testing.assert_array_equal(filled.open_array("features"), _rows())
    assert not filled.open_array("features").flags.writeable


def test_byte_flips_and_nans_are_found_and_reset_to_pending(filled: RowCache, caplog) -> None:
    _poke(filled, 1, np.random.default_rng(1).integers(0, 256, 32, dtype=np.uint8).tobytes(), at=3)
    _poke(filled, 4, b"\xff\xff")  # one float16 NaN
    with caplog.at_level(logging.WARNING):
        bad = filled.verify()
    assert bad.tolist() == [1, 4]
    assert filled.states().tolist() == [DONE, PENDING, DONE, DONE, PENDING, DONE]
    assert str(filled.dir) in caplog.text and "A/v1.avi" in caplog.text and "A/v4.avi" in caplog.text
    filled.write_rows(np.array([1, 4]), _rows()[[1, 4]], np.full(2, T))  # filled again
    assert len(filled.verify()) == 0 and (filled.states() == DONE).all()


def test_a_changed_length_is_damage_too(filled: RowCache) -> None:
    lengths = np.load(filled.dir / "lengths.npy", mmap_mode="r+")
    lengths[2] = 1
    lengths.flush()
    assert filled.verify().tolist() == [2]


def test_non_finite_rows_are_refused_naming_the_video(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    cache.create()
    data = _rows()[:2].copy()
    data[1, 2, 3] = np.inf
    with pytest.raises(ValueError, match="A/v3.avi"):
        cache.write_rows(np.array([2, 3]), data, np.full(2, T))
    assert (cache.states() == PENDING).all()  # nothing stored, not even the finite row
    assert not cache.open_array("features").any()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d: os.truncate(d / "features.npy", 200), id="truncated-features"),
        pytest.param(lambda d: (d / "state.npy").unlink(), id="missing-state"),
        pytest.param(lambda d: (d / "spec.json").write_text("{not json"), id="bad-spec"),
        pytest.param(lambda d: (d / "checksum.npy").write_bytes(b"garbage"), id="garbage-checksums"),
    ],
)
def test_unreadable_files_name_the_folder_and_the_way_out(filled: RowCache, tmp_path: Path, damage) -> None:
    damage(filled.dir)
    again = _cache(tmp_path)
    for action in (again.create, again.check, again.verify):
        with pytest.raises(CacheUnreadableError) as err:
            action()
        message = str(err.value)
        assert str(filled.dir) in message and "delete it" in message and "run again" in message
        assert err.value.__suppress_context__  # no numpy traceback chained under it


def test_full_disk_while_writing_names_the_file_and_marks_nothing_done(tmp_path: Path, monkeypatch) -> None:
    cache = _cache(tmp_path)
    cache.create()

    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(rows_module.os, "pwrite", full)
    with pytest.raises(CacheWriteError, match="disk is full") as err:
        cache.write_rows(np.arange(2), _rows()[:2], np.full(2, T))
    assert str(cache.dir / "features.npy") in str(err.value)
    monkeypatch.undo()
    assert (cache.states() == PENDING).all()


def test_full_disk_at_create_names_the_folder_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(rows_module.os, "posix_fallocate", full)
    cache = _cache(tmp_path)
    with pytest.raises(CacheWriteError, match="features.dir") as err:
        cache.create()
    assert str(cache.dir) in str(err.value)
    assert list(tmp_path.iterdir()) == []  # neither the entry nor its temporary sibling


def test_create_reserves_the_disk_space(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    cache.create()
    path = cache.dir / "features.npy"
    assert path.stat().st_blocks * 512 >= path.stat().st_size  # not a sparse file


def test_claims_are_exclusive_and_released(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    cache.create()
    assert cache.claim(4).tolist() == [0, 1, 2, 3]
    other = _cache(tmp_path)
    other_owner = {"owner": "elsewhere:1", "host": "elsewhere", "pid": 1, "time": 0.0, "rows": [4]}
    claims = json.loads((cache.dir / "claims.json").read_text())
    (cache.dir / "claims.json").write_text(json.dumps([*claims, {**other_owner, "time": 1e18}]))
    assert other.claim(4).tolist() == [5]  # 0-3 are ours, 4 is held by a live job elsewhere
    cache.write_rows(np.arange(2), _rows()[:2], np.full(2, T))  # done rows leave the claim
    cache.release(np.arange(4))  # rows 2, 3 were not written: free again
    held = {r for c in json.loads((cache.dir / "claims.json").read_text()) for r in c["rows"]}
    assert held == {4, 5}


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_claims_of_dead_or_silent_jobs_are_taken_over(tmp_path: Path, caplog) -> None:
    cache = _cache(tmp_path)
    cache.create()
    host = rows_module.HOST
    claims = [
        {"owner": f"{host}:dead", "host": host, "pid": _dead_pid(), "time": 1e18, "rows": [0, 1]},  # died here
        {"owner": "far:7", "host": "far", "pid": 7, "time": 0.0, "rows": [2, 3]},  # no progress for ages
        {"owner": "near:8", "host": "near", "pid": 8, "time": 1e18, "rows": [4]},  # alive, elsewhere
    ]
    (cache.dir / "claims.json").write_text(json.dumps(claims))
    with caplog.at_level(logging.WARNING):
        assert cache.claim(N, timeout=60).tolist() == [0, 1, 2, 3, 5]
    assert "taking over 2 row(s)" in caplog.text and str(cache.dir) in caplog.text
