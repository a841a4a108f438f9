"""One row cache under the feature and decoded-clip caches: arrays of N rows, one per video, that
many jobs fill and read at once.

Layout of one entry (a folder named by a key)::

    spec.json      what the rows hold (names the entry), plus the array shapes
    videos.txt     the dataset's videos, one per row
    <data>.npy     (N, ...) rows: ``features`` or ``frames``
    lengths.npy    (N,) int32 valid time steps per row
    checksum.npy   (N,) uint32 crc32 of a row's data and length, written with the row
    state.npy      (N,) uint8: 0 pending, 1 done, 2 unreadable (skipped)
    unreadable.json  why each unreadable row could not be decoded (the decoder's error)
    claims.json    rows being filled (:mod:`ucfbench.cache.claims`)
    lock           the ``filelock`` that guards ``state.npy`` changes and ``claims.json``

A row is written (data, length, checksum) before its state says done, through ``pwrite`` rather
than the memory map, so a full disk is an ``OSError`` naming the file, not a SIGBUS. Readers map
the arrays read-only and trust nothing they read (:meth:`RowCache.verify`): a row marked done is used
only when its checksum matches, its length is in 1..T and its values are finite; a row marked
unreadable only when ``unreadable.json`` says why; any other state value is damage. A row failing
these goes back to pending and is filled again. Temporary folders of creations that were killed
are removed by the next creation once their creator is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import time
import zlib
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
from filelock import BaseFileLock

from ucfbench.cache.claims import CLAIM_TIMEOUT, HOST, holder_gone, is_stale, new_claim, read_claims, this_owner
from ucfbench.data.types import VideoRecord
from ucfbench.utils.errors import UsageError
from ucfbench.utils.io import WriteError, atomic_write, human_bytes, is_write_failure, make_temp_dir, write_error
from ucfbench.utils.locks import file_lock

log = logging.getLogger(__name__)

ROW_FORMAT = 2  # bump when the layout changes; part of every key, so old entries are rebuilt
PENDING, DONE, UNREADABLE = 0, 1, 2
__all__ = ["DONE", "PENDING", "UNREADABLE", "CacheUnreadableError", "CacheWriteError", "RowCache"]
STALE_TEMP_AGE = 86400.0  # a temporary folder naming no creator is removed after a day
_TEMP = re.compile(r"\.(?P<entry>.+)\.tmp-(?P<pid>\d+)@(?P<host>.+)-[^-]+")


# IEEE float width -> (unsigned view, exponent bits): a value is NaN or inf when all are set
_EXPONENT = {2: (np.uint16, 0x7C00), 4: (np.uint32, 0x7F800000), 8: (np.uint64, 0x7FF0000000000000)}


def nonfinite_rows(block: np.ndarray) -> np.ndarray:
    """(k,) bool: which rows of the float array ``block`` (k, ...) hold a NaN or an inf. Reads the
    exponent bits: 4x faster than ``np.isfinite`` on float16, which converts every value."""
    uint, mask = _EXPONENT[block.dtype.itemsize]
    bits = np.ascontiguousarray(block).reshape(len(block), -1).view(uint) & uint(mask)
    return bits.max(axis=1) == mask if bits.size else np.zeros(len(block), dtype=bool)


class CacheUnreadableError(UsageError, RuntimeError):
    """A cache file is missing, truncated or malformed."""


class CacheWriteError(WriteError, RuntimeError):
    """A cache file could not be written (full disk, read-only, permissions)."""


def row_key(payload: dict) -> str:
    """The 16 hex digits naming an entry: sha256 of everything that changes its rows."""
    payload = {"row_format": ROW_FORMAT, **payload}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def sampler_dict(sampler: object) -> dict:
    """A sampler dataclass as the JSON a key is made of: its type name and fields."""
    return {"type": type(sampler).__name__, **asdict(sampler)}  # type: ignore[call-overload]


class RowCache:
    """An entry of N rows on disk: create it, write rows, verify them, share the pending ones.

    Args:
        dir: the entry's folder.
        records: the dataset's videos; row ``i`` belongs to ``records[i]``.
        data: name of the data array (``features``, ``frames``).
        dtype: its dtype.
        row_shape: shape of one row of it.
        meta: what goes into ``spec.json`` (the key and what made it).
        kind: how messages name the cache (``feature``, ``decoded-clip``).
        hint: how to point the cache elsewhere, for messages (``features.dir``).
    """

    def __init__(self, *, dir: Path, records: list[VideoRecord], data: str, dtype: np.dtype | type,
                 row_shape: tuple[int, ...], meta: dict, kind: str, hint: str) -> None:
        self.dir, self.records, self.data_name = Path(dir), records, data
        self.dtype, self.row_shape, self.meta, self.kind, self.hint = np.dtype(dtype), tuple(row_shape), meta, kind, hint
        n = len(records)
        self.arrays = {data: (self.dtype, (n, *self.row_shape)), "lengths": (np.dtype(np.int32), (n,)),
                       "checksum": (np.dtype(np.uint32), (n,)), "state": (np.dtype(np.uint8), (n,))}
        self._lock: BaseFileLock | None = None
        self._offsets: dict[str, int] = {}
        self.written = 0  # rows this process stored (done or unreadable)

    # -- naming and opening ---------------------------------------------------------------
    def _unreadable(self, what: str, err: BaseException | str) -> CacheUnreadableError:
        return CacheUnreadableError(
            f"{self.kind} cache {self.dir}: cannot read {what} ({err}). The folder is damaged: delete it "
            f"(rm -r {self.dir}) and run again to rebuild it."
        )

    @property
    def lock(self) -> BaseFileLock:
        if self._lock is None:
            self._lock = file_lock(self.dir / "lock")
        return self._lock

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold :attr:`lock`; a lock file that cannot be created (read-only cache) is a
        :class:`CacheWriteError` naming it."""
        try:
            self.lock.acquire()
        except OSError as err:
            raise CacheWriteError(str(write_error(self.dir / "lock", err, hint=f"(or set {self.hint} elsewhere)"))) from err
        try:
            yield
        finally:
            self.lock.release()

    def __getstate__(self) -> dict:  # DataLoader workers make their own lock and maps
        return {**self.__dict__, "_lock": None}

    def exists(self) -> bool:
        return self.dir.is_dir()

    def open_array(self, name: str) -> np.memmap:
        """``name``.npy memory-mapped read-only, checked against the entry's shape."""
        path = self.dir / f"{name}.npy"
        try:
            arr = np.load(path, mmap_mode="r")
        except (OSError, ValueError, EOFError) as err:
            raise self._unreadable(path.name, err) from None
        dtype, shape = self.arrays[name]
        if arr.dtype != dtype or arr.shape != shape:
            raise self._unreadable(path.name, f"{arr.dtype} {arr.shape}, expected {dtype} {shape}")
        self._offsets[name] = int(arr.offset)
        return arr

    def states(self) -> np.ndarray:
        """(N,) uint8 row states, read afresh so other processes' writes are seen."""
        return np.array(self.open_array("state"))

    def check(self) -> None:
        """Raise :class:`CacheUnreadableError` unless every file of the entry reads and matches."""
        try:
            spec = json.loads((self.dir / "spec.json").read_text())
            videos = (self.dir / "videos.txt").read_text().splitlines()
        except (OSError, ValueError) as err:
            raise self._unreadable("spec.json or videos.txt", err) from None
        if not isinstance(spec, dict) or spec.get("key") != self.meta.get("key"):
            found = spec.get("key") if isinstance(spec, dict) else spec
            raise self._unreadable("spec.json", f"key {found!r}, expected {self.meta.get('key')!r}")
        if "shape" in self.meta and spec.get("shape") != self.meta["shape"]:
            raise self._unreadable("spec.json", f"shape {spec.get('shape')}, expected {self.meta['shape']}")
        if videos != [r.relpath for r in self.records]:
            raise self._unreadable("videos.txt", "it lists other videos than the dataset although the key matches")
        for name in self.arrays:
            self.open_array(name)

    # -- creating -------------------------------------------------------------------------
    def create(self) -> None:
        """Allocate the entry unless it exists: built aside, disk space reserved, renamed into place.

        Two jobs may create at once; the loser removes its copy. A full disk (or a read-only or
        unwritable folder) fails here with a :class:`CacheWriteError` naming the folder, rather than
        while rows are written. Temporary folders left by creations that were killed are removed.
        """
        if self.dir.parent.is_dir():
            remove_stale_temp_dirs(self.dir.parent)
        if self.exists():
            self.check()
            return
        tmp: Path | None = None
        try:
            self.dir.parent.mkdir(parents=True, exist_ok=True)
            # The creator in the name: a later creation removes it once this process is gone.
            tmp = make_temp_dir(self.dir.parent, prefix=f".{self.dir.name}.tmp-{os.getpid()}@{HOST}-")
            for name, (dtype, shape) in self.arrays.items():
                path = tmp / f"{name}.npy"
                np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape).flush()
                if hasattr(os, "posix_fallocate"):  # real blocks, not a sparse file (not on macOS)
                    with open(path, "r+b") as f:
                        os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
            (tmp / "videos.txt").write_text("".join(f"{r.relpath}\n" for r in self.records))
            (tmp / "claims.json").write_text("[]\n")
            (tmp / "unreadable.json").write_text("{}\n")
            (tmp / "spec.json").write_text(json.dumps(self.meta, indent=2, default=str))
            os.rename(tmp, self.dir)
        except OSError as err:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            if self.exists():  # lost a race with another job creating the same entry
                self.check()
                return
            if is_write_failure(err):
                raise CacheWriteError(str(write_error(self.dir, err, what=f"create {self.kind} cache", size=self.nbytes,
                                                      hint=f"(or set {self.hint} to another folder)"))) from err
            raise CacheWriteError(f"cannot create {self.kind} cache {self.dir} ({human_bytes(self.nbytes)}): "
                                  f"{err.strerror or err}. Free space there or set {self.hint} to another folder, "
                                  "and run again.") from err

    @property
    def nbytes(self) -> int:
        return sum(dtype.itemsize * int(np.prod(shape)) for dtype, shape in self.arrays.values())

    # -- writing --------------------------------------------------------------------------
    @staticmethod
    def checksum(row: np.ndarray, length: int) -> int:
        """crc32 of a row's bytes and its length."""
        crc = zlib.crc32(np.ascontiguousarray(row))
        return zlib.crc32(np.int32(length).tobytes(), crc)  # == crc32 of lengths.npy's int32 bytes

    def _pwrite(self, name: str, rows: np.ndarray, values: np.ndarray) -> None:
        if name not in self._offsets:
            self.open_array(name)
        path = self.dir / f"{name}.npy"
        values = np.ascontiguousarray(values, dtype=self.arrays[name][0])
        step = values[0].nbytes if len(values) else 0
        try:
            fd = os.open(path, os.O_WRONLY)
            try:
                for row, value in zip(rows.tolist(), values):
                    os.pwrite(fd, value.tobytes(), self._offsets[name] + row * step)
            finally:
                os.close(fd)
        except OSError as err:
            why = write_error(path, err, hint=f"(or set {self.hint} elsewhere); the rows being written stay pending")
            raise CacheWriteError(str(why)) from err

    def write_rows(self, rows: np.ndarray, data: np.ndarray, lengths: np.ndarray) -> None:
        """Store finished rows: data, lengths and checksums first, then mark them done.

        Raises:
            ValueError: a float row holds NaN or inf (named by its video); nothing is stored.
        """
        rows = np.asarray(rows, dtype=np.int64)
        data = np.asarray(data).astype(self.dtype, copy=False)
        if data.dtype.kind == "f":
            bad = nonfinite_rows(data)
            if bad.any():
                names = ", ".join(self.records[r].relpath for r in rows[bad])
                raise ValueError(f"non-finite values in the {self.kind} rows of {names}; not written to {self.dir}")
        checks = np.array([self.checksum(d, n) for d, n in zip(data, lengths)], dtype=np.uint32)
        self._pwrite(self.data_name, rows, data)
        self._pwrite("lengths", rows, np.asarray(lengths))
        self._pwrite("checksum", rows, checks)
        self.set_state(rows, DONE)

    def set_state(self, rows: np.ndarray, state: int, *, why: str | None = None) -> None:
        """Mark rows (done, unreadable, pending) and drop this process's claim on them; ``why``: the
        decoder's error, kept for unreadable rows (``unreadable.json``)."""
        rows = np.asarray(rows, dtype=np.int64)
        marked = set(rows.tolist())
        with self.locked():
            reasons = self.unreadable_reasons()
            if state == UNREADABLE:
                reasons.update(dict.fromkeys(marked, why or "could not be decoded"))
                self._write_reasons(reasons)  # before the state: an unreadable row always has its reason
            self._pwrite("state", rows, np.full(len(rows), state, dtype=np.uint8))
            if state != UNREADABLE and reasons.keys() & marked:
                self._write_reasons({r: w for r, w in reasons.items() if r not in marked})
            self._update_claims(release=rows)
        if state != PENDING:
            self.written += len(rows)

    def unreadable_reasons(self) -> dict[int, str]:
        """Row -> why its video could not be decoded, from ``unreadable.json`` (entries that do not
        match the dataset's videos are ignored: those rows are probed again)."""
        try:
            raw = json.loads((self.dir / "unreadable.json").read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(raw, dict):
            return {}
        out = {}
        for key, entry in raw.items():
            row = int(key) if isinstance(key, str) and key.isdigit() else -1
            if 0 <= row < len(self.records) and isinstance(entry, dict) and isinstance(entry.get("why"), str) \
                    and entry.get("video") == self.records[row].relpath:
                out[row] = entry["why"]
        return out

    def _write_reasons(self, reasons: dict[int, str]) -> None:
        doc = {str(r): {"video": self.records[r].relpath, "why": w} for r, w in sorted(reasons.items())}
        atomic_write(self.dir / "unreadable.json", json.dumps(doc, indent=1) + "\n",
                     hint=f"(or set {self.hint} to another folder)")

    def unreadable_videos(self) -> list[tuple[str, str]]:
        """(video, why) of every row marked unreadable with its reason recorded."""
        reasons = self.unreadable_reasons()
        return [(self.records[r].relpath, reasons[r]) for r in np.flatnonzero(self.states() == UNREADABLE).tolist()
                if r in reasons]

    # -- verifying ------------------------------------------------------------------------
    def damaged_rows(self, rows: np.ndarray | None = None, *, chunk: int = 256) -> np.ndarray:
        """Rows whose state cannot be trusted: marked done but failing their checksum, holding a
        length outside 1..T or a non-finite value; marked unreadable without a recorded reason; or
        holding a state that is none of pending, done, unreadable."""
        state = self.states()
        rows = np.arange(len(state)) if rows is None else np.asarray(rows, dtype=np.int64)
        checks = np.array(self.open_array("checksum"))
        data = self.open_array(self.data_name).view(np.ndarray)  # rows without np.memmap's per-slice cost
        lengths = np.array(self.open_array("lengths"))
        steps = self.row_shape[0] if self.row_shape else 1
        marked = state[rows]
        unknown = rows[~np.isin(marked, (PENDING, DONE, UNREADABLE))]
        reasons = self.unreadable_reasons()
        unexplained = [r for r in rows[marked == UNREADABLE].tolist() if r not in reasons]
        done = rows[marked == DONE]
        length_ok = (lengths[done] >= 1) & (lengths[done] <= steps)
        bad_length, done = done[~length_ok], done[length_ok]
        crc, failed = zlib.crc32, []
        for start in range(0, len(done), chunk):  # a chunk at a time: memory stays flat on a large cache
            part = done[start : start + chunk]
            block = data[part]  # (k, ...) a copy of these rows
            if block.dtype.kind == "f":
                failed += part[nonfinite_rows(block)].tolist()
            failed += [r for r, row in zip(part.tolist(), block)
                       if crc(lengths[r : r + 1], crc(row)) != checks[r]]
        return np.unique(np.concatenate([unknown, bad_length, np.array(unexplained + failed, dtype=np.int64)])
                         ).astype(np.int64)

    def verify(self) -> np.ndarray:
        """Check the files and every row's state (:meth:`damaged_rows`); damaged rows go back to
        pending, with a warning. Returns them."""
        self.check()
        bad = self.damaged_rows()
        if len(bad):
            with self.locked():  # check again under the lock: a row may have been rewritten meanwhile
                bad = self.damaged_rows(bad)
                self._pwrite("state", bad, np.full(len(bad), PENDING, dtype=np.uint8))
            if len(bad):
                self.on_damaged(bad)
        return bad

    def on_damaged(self, rows: np.ndarray) -> None:
        shown = ", ".join(f"{r} ({self.records[r].relpath})" for r in rows[:10].tolist())
        log.warning("%s cache %s: %d row(s) failed their check (checksum, length, finite values or state) and will "
                    "be filled again: %s%s", self.kind, self.dir, len(rows), shown, ", ..." if len(rows) > 10 else "")

    # -- sharing the pending rows between jobs -------------------------------------------
    def _update_claims(self, *, release: np.ndarray | None = None, add: list[int] | None = None,
                       timeout: float = CLAIM_TIMEOUT) -> list[dict]:
        """Rewrite ``claims.json`` (caller holds the lock): drop stale claims and released rows,
        refresh this process's claim time, add new rows. A damaged file is replaced. Returns the
        claims now in the file."""
        now, kept, me = time.time(), [], this_owner()
        claims, damaged = read_claims(self.dir / "claims.json", len(self.records))
        before = json.dumps(claims)
        gone = set(np.asarray(release).tolist()) if release is not None else set()
        for claim in claims:
            if claim["owner"] == me:
                claim["rows"] = [r for r in claim["rows"] if r not in gone]
                claim["time"] = now
            elif is_stale(claim, timeout, now):
                log.warning("%s cache %s: taking over %d row(s) claimed by %s (%s)", self.kind, self.dir,
                            len(claim["rows"]), claim["owner"], "gone" if claim["host"] == HOST else "no progress")
                continue
            if claim["rows"]:
                kept.append(claim)
        if add:
            kept.append(new_claim(add, now))
        if damaged or json.dumps(kept) != before:
            atomic_write(self.dir / "claims.json", json.dumps(kept) + "\n", hint=f"(or set {self.hint} elsewhere)")
        return kept

    def claim(self, n: int, *, timeout: float = CLAIM_TIMEOUT) -> np.ndarray:
        """Claim up to ``n`` pending rows nobody else holds (the first ones, in order)."""
        with self.locked():
            held = {r for c in self._update_claims(timeout=timeout) for r in c["rows"]}  # stale claims dropped
            free = [r for r in np.flatnonzero(self.states() == PENDING).tolist() if r not in held][:n]
            if free:
                self._update_claims(add=free, timeout=timeout)
        return np.array(free, dtype=np.int64)

    def release(self, rows: np.ndarray) -> None:
        """Give up this process's claim on ``rows`` (those not written stay pending for others)."""
        with self.locked():
            self._update_claims(release=rows)


def remove_stale_temp_dirs(root: Path) -> None:
    """Remove the temporary folders in ``root`` of entry creations that were killed: their
    creator (named in the folder's name) no longer runs on this host, or (no creator named) a day old."""
    for tmp in root.glob(".*.tmp-*"):
        match = _TEMP.fullmatch(tmp.name)
        if match:
            dead = holder_gone({"host": match["host"], "pid": int(match["pid"])})
        else:
            try:
                dead = time.time() - tmp.stat().st_mtime > STALE_TEMP_AGE
            except OSError:
                continue
        if dead and tmp.is_dir():
            log.info("removing %s, left by a cache creation that was killed", tmp)
            shutil.rmtree(tmp, ignore_errors=True)
