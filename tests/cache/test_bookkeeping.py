"""The row cache's own bookkeeping read as untrusted input: row states, lengths, unreadable rows,
``claims.json``, claim settings and the temporary folders of killed creations. Each damage ends
in a repair (with a warning naming the file) or a short error naming it."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from ucfbench.cache import rows as rows_module
from ucfbench.cache.claims import check_claim_settings, pid_start
from ucfbench.cache.rows import DONE, PENDING, UNREADABLE, CacheWriteError, RowCache
from ucfbench.cli.validate import validate_config
from ucfbench.data.types import VideoRecord
from ucfbench.utils.errors import UsageError, UserError

N, T, D = 6, 4, 8


def _cache(tmp_path: Path) -> RowCache:
    records = [VideoRecord(relpath=f"A/v{i}.avi", label=0) for i in range(N)]
    return RowCache(dir=tmp_path / "entry", records=records, data="features", dtype=np.float16, row_shape=(T, D),
                    meta={"key": "k", "shape": [N, T, D]}, kind="feature", hint="features.dir")


def _rows() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((N, T, D)).astype(np.float16)


@pytest.fixture
def half(tmp_path: Path) -> RowCache:
    """Rows 0-2 done, 3-5 pending."""
    cache = _cache(tmp_path)
    cache.create()
    cache.write_rows(np.arange(3), _rows()[:3], np.full(3, T))
    return cache


def _set(cache: RowCache, name: str, row: int, value) -> None:
    """Overwrite one element of ``name``.npy behind the cache's back (a bit flip, a bad tool)."""
    arr = np.load(cache.dir / f"{name}.npy", mmap_mode="r+")
    arr[row] = value
    arr.flush()


@pytest.mark.parametrize("state", [3, 4, 255])
@pytest.mark.parametrize("row", [1, 4], ids=["done-row", "pending-row"])
def test_unknown_state_is_damage_and_the_row_is_filled_again(half: RowCache, row: int, state: int, caplog) -> None:
    _set(half, "state", row, state)
    with caplog.at_level(logging.WARNING):
        assert half.verify().tolist() == [row]
    assert half.states()[row] == PENDING and str(half.dir) in caplog.text and "A/v" in caplog.text
    assert half.claim(N).tolist() == [row, 3, 4, 5] if row == 1 else [3, 4, 5]


def test_pending_row_flipped_to_done_is_not_trusted(half: RowCache) -> None:
    _set(half, "state", 4, DONE)  # zero features, zero length: what the issue trained on
    assert half.verify().tolist() == [4] and half.states()[4] == PENDING


def test_done_row_with_zeroed_length_is_not_trusted(half: RowCache) -> None:
    _set(half, "lengths", 0, 0)
    assert half.verify().tolist() == [0] and half.states()[0] == PENDING


def test_nan_with_a_matching_checksum_is_not_trusted(half: RowCache) -> None:
    rows = _rows()
    rows[2, 1, 3] = np.nan
    _set(half, "features", 2, rows[2])
    _set(half, "checksum", 2, RowCache.checksum(rows[2], T))  # a writer that checksummed a NaN
    assert half.verify().tolist() == [2] and half.states()[2] == PENDING


def test_done_row_flipped_to_unreadable_is_probed_again(half: RowCache) -> None:
    _set(half, "state", 1, UNREADABLE)  # no reason recorded: not a video that failed to decode
    assert half.unreadable_videos() == []
    assert half.verify().tolist() == [1] and half.states()[1] == PENDING


def test_unreadable_row_keeps_why(half: RowCache) -> None:
    half.set_state(np.array([4]), UNREADABLE, why="A/v4.avi: moov atom not found")
    assert len(half.verify()) == 0
    assert half.unreadable_videos() == [("A/v4.avi", "A/v4.avi: moov atom not found")]
    half.write_rows(np.array([4]), _rows()[4:5], np.array([T]))  # decodes after all: the reason goes
    assert half.unreadable_reasons() == {}


@pytest.mark.parametrize("content", ["[1, 2]", '"hello"', "null", '[{"owner": "x"}]', "{}", "{not json",
                                     '[{"owner": "a:1", "host": "a", "pid": 1, "time": 0, "rows": [99]}]'])
def test_damaged_claims_are_dropped_never_finished_rows(half: RowCache, content: str, caplog) -> None:
    (half.dir / "claims.json").write_text(content)
    with caplog.at_level(logging.WARNING):
        assert half.claim(2).tolist() == [3, 4]
    assert str(half.dir / "claims.json") in caplog.text and "dropping its claims" in caplog.text
    assert "rm -r" not in caplog.text
    (claim,) = json.loads((half.dir / "claims.json").read_text())  # rewritten whole: only this job's claim
    assert claim["rows"] == [3, 4] and claim["pid"] == os.getpid()
    assert (half.states()[:3] == DONE).all() and len(half.verify()) == 0


def test_claim_of_a_reused_pid_is_taken_over_at_once(half: RowCache, caplog) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        start = pid_start(other.pid)
        assert start is not None
        live = {"owner": f"{rows_module.HOST}:{other.pid}", "host": rows_module.HOST, "pid": other.pid,
                "time": 1e18, "rows": [3]}
        (half.dir / "claims.json").write_text(json.dumps([{**live, "start": start}]))
        assert half.claim(N, timeout=3600).tolist() == [4, 5]  # its holder runs: respected
        half.release(np.array([4, 5]))
        # The same PID, but the claim was made by a process that started at another time.
        (half.dir / "claims.json").write_text(json.dumps([{**live, "start": start - 1}]))
        with caplog.at_level(logging.WARNING):
            assert half.claim(N, timeout=3600).tolist() == [3, 4, 5]
        assert "taking over 1 row(s)" in caplog.text
    finally:
        other.kill()
        other.wait(timeout=30)


@pytest.mark.parametrize("size, timeout", [(-1, 600), (0, 600), (2.5, 600), (4, 0), (4, -5), (4, 59.9), (4, "x")])
def test_bad_claim_settings_are_refused_up_front(size, timeout) -> None:
    with pytest.raises(UsageError, match="claim_size" if size != 4 else "claim_timeout"):
        check_claim_settings(size, timeout)
    cfg = OmegaConf.create({"features": {"claim_size": size, "claim_timeout": timeout}})
    with pytest.raises(UsageError, match="features.claim_size" if size != 4 else "features.claim_timeout"):
        validate_config(cfg)


def test_good_claim_settings_pass() -> None:
    check_claim_settings(None, 600)
    check_claim_settings(1, 60)
    validate_config(OmegaConf.create({"features": {"claim_size": None, "claim_timeout": 600}}))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=60)
    return proc.pid


def test_temporary_folders_of_killed_creations_are_removed(tmp_path: Path) -> None:
    host = rows_module.HOST
    dead = tmp_path / f".other-entry.tmp-{_dead_pid()}@{host}-abc123"
    alive = tmp_path / f".entry.tmp-{os.getpid()}@{host}-def456"  # a creation in progress
    elsewhere = tmp_path / f".entry.tmp-{_dead_pid()}@another-host.example-gh789"
    old = tmp_path / ".entry.tmp-xyz"  # no creator named, a day old
    for d in (dead, alive, elsewhere, old):
        d.mkdir()
        (d / "features.npy").write_bytes(b"\0" * 4096)
    os.utime(old, (0, 0))
    _cache(tmp_path).create()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, elsewhere.name, "entry"])
    dead.mkdir()  # also when the entry exists: any run opening a cache in this folder cleans up
    _cache(tmp_path).create()
    assert not dead.exists()


def test_full_disk_at_create_says_how_much_in_human_units(tmp_path: Path, monkeypatch) -> None:
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(rows_module.os, "posix_fallocate", full)
    with pytest.raises(CacheWriteError) as err:
        _cache(tmp_path).create()
    message = str(err.value)
    assert re.search(r"entry \(438 B\): the disk is full\. Free space in .* features\.dir", message), message
    assert isinstance(err.value, UserError)


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_read_only_cache_folder_is_a_short_error(tmp_path: Path, monkeypatch, code: int) -> None:
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(rows_module, "make_temp_dir", refuse)
    with pytest.raises(CacheWriteError, match=str(tmp_path / "entry")) as err:
        _cache(tmp_path).create()
    assert isinstance(err.value, UserError) and "features.dir" in str(err.value)


def test_read_only_existing_cache_is_read_and_its_lock_named_when_needed(half: RowCache, monkeypatch) -> None:
    class ReadOnlyLock:
        def acquire(self):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    again = _cache(half.dir.parent)
    monkeypatch.setattr(again, "_lock", ReadOnlyLock())
    assert len(again.verify()) == 0  # reading a sound cache takes no lock
    with pytest.raises(CacheWriteError, match=r"entry/lock.*read-only"):
        again.claim(1)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_nonfinite_rows_reads_nan_and_inf_from_the_exponent_bits(dtype) -> None:
    info = np.finfo(dtype)
    block = np.array([[0.0, info.max, -info.max], [info.smallest_subnormal, -0.0, 1.0],
                      [1.0, np.nan, 1.0], [np.inf, 0.0, 0.0], [0.0, 0.0, -np.inf]], dtype=dtype)
    assert rows_module.nonfinite_rows(block).tolist() == [False, False, True, True, True]
    assert rows_module.nonfinite_rows(block).tolist() == (~np.isfinite(block).all(axis=1)).tolist()
