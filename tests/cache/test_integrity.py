"""A damaged feature cache is repaired or refused, never trained on; a full disk or a killed job
leaves nothing a later run trusts."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ucfbench.cache import extraction as extract_mod
from ucfbench.cache import rows as rows_module
from ucfbench.cache.extraction import extract_features
from ucfbench.cache.features import DONE, PENDING, FeatureCache, FeatureSpec
from ucfbench.cache.rows import CacheUnreadableError, CacheWriteError
from ucfbench.data.sampling import UniformSampler

SPEC = FeatureSpec(arch="resnet18", weights=None, init_seed=0, size=32, sampler=UniformSampler(num_frames=8),
                   backend="pyav")
ROW_BYTES = 8 * 512 * 2  # (T, D) float16


def _extract(dataset, root: Path, **kwargs) -> FeatureCache:
    return extract_features(dataset, SPEC, root=root, batch_size=2, num_workers=0, accelerator="cpu", **kwargs)


@pytest.fixture
def reference(tiny_dataset, tmp_path_factory) -> FeatureCache:
    """One uninterrupted extraction of the tiny dataset (copied by tests that damage it)."""
    root = tmp_path_factory.getbasetemp() / "integrity-reference"
    return _extract(tiny_dataset, root)


def _copy(cache: FeatureCache, root: Path) -> Path:
    shutil.copytree(cache.dir, root / cache.dir.name)
    return root / cache.dir.name


def _poke(entry: Path, row: int, data: bytes, at: int = 0) -> None:
    offset = int(np.load(entry / "features.npy", mmap_mode="r").offset) + row * ROW_BYTES + at
    with open(entry / "features.npy", "r+b") as f:
        f.seek(offset)
        f.write(data)


def test_second_call_extracts_nothing(tiny_dataset, reference: FeatureCache) -> None:
    assert reference.extracted in (0, len(tiny_dataset.records()))  # 0 when another test made it first
    assert _extract(tiny_dataset, reference.dir.parent).extracted == 0


def test_damaged_rows_are_reextracted_with_a_warning(tiny_dataset, reference, tmp_path: Path, caplog) -> None:
    entry = _copy(reference, tmp_path)
    rng = np.random.default_rng(0)
    for row in (3, 7, 11):
        _poke(entry, row, rng.integers(0, 256, 64, dtype=np.uint8).tobytes(), at=1000)
    _poke(entry, 5, b"\xff" * 8)  # float16 NaNs
    with caplog.at_level(logging.WARNING):
        cache = _extract(tiny_dataset, tmp_path)
    assert cache.extracted == 4  # only the damaged rows
    assert str(entry) in caplog.text
    videos = (entry / "videos.txt").read_text().splitlines()
    assert all(f"{row} ({videos[row]})" in caplog.text for row in (3, 5, 7, 11))
    feats, _ = cache.load()
    ref, _ = reference.load()
    assert np.isfinite(feats).all()
    np.testing.assert_allclose(feats.astype(np.float32), ref.astype(np.float32), atol=1e-3)


def test_loading_a_damaged_cache_refuses_it(tiny_dataset, reference, tmp_path: Path) -> None:
    entry = _copy(reference, tmp_path)
    _poke(entry, 2, b"\x00\xfe" * 16)
    cache = FeatureCache(root=tmp_path, spec=SPEC, dataset_name=tiny_dataset.name, records=tiny_dataset.records(),
                         fingerprint=tiny_dataset.fingerprint(), dim=512)
    assert cache.dir == entry
    with pytest.raises(CacheUnreadableError, match="damaged rows"):
        cache.load()  # what a DataModule reads: never the damaged array
    assert cache.states()[2] == PENDING and not cache.is_complete()  # the next run extracts it again
    assert _extract(tiny_dataset, tmp_path).extracted == 1


def _set(entry: Path, name: str, rows, value) -> None:
    arr = np.load(entry / f"{name}.npy", mmap_mode="r+")
    arr[rows] = value
    arr.flush()


@pytest.mark.parametrize("state", [4, 2], ids=["unknown-state", "done-to-unreadable"])
def test_flipped_states_are_extracted_again_not_trusted(tiny_dataset, reference, tmp_path: Path, state: int,
                                                        caplog) -> None:
    """A bit flip in state.npy: rows with an unknown state (their features and lengths zeroed), or a
    good row marked unreadable without a reason, are extracted again even with COMPLETE present;
    nothing is skipped under on_bad_video=error."""
    entry = _copy(reference, tmp_path)
    rows = [0, 3, 9] if state == 4 else [5]
    _set(entry, "state", rows, state)
    if state == 4:
        _set(entry, "features", rows, 0)
        _set(entry, "lengths", rows, 0)
    with caplog.at_level(logging.WARNING):
        cache = _extract(tiny_dataset, tmp_path, on_bad_video="error")
    assert cache.extracted == len(rows) and str(entry) in caplog.text
    assert (cache.states() == DONE).all() and cache.unreadable() == []
    feats, lengths = cache.load()
    ref, ref_lengths = reference.load()
    np.testing.assert_array_equal(lengths, ref_lengths)
    np.testing.assert_allclose(feats.astype(np.float32), ref.astype(np.float32), atol=1e-3)


def test_nan_with_a_matching_checksum_is_extracted_again(tiny_dataset, reference, tmp_path: Path) -> None:
    entry = _copy(reference, tmp_path)
    row = tiny_dataset.records().index(tiny_dataset.subset("test")[0])
    feats = np.array(np.load(entry / "features.npy", mmap_mode="r")[row])
    feats[2, 7] = np.nan
    _set(entry, "features", row, feats)
    length = int(np.load(entry / "lengths.npy")[row])
    _set(entry, "checksum", row, FeatureCache.checksum(feats, length))  # the checksum agrees with the NaN
    cache = _extract(tiny_dataset, tmp_path)
    assert cache.extracted == 1 and np.isfinite(cache.load()[0]).all()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d: os.truncate(d / "features.npy", 4096), id="truncated-features"),
        pytest.param(lambda d: (d / "state.npy").unlink(), id="missing-state"),
        pytest.param(lambda d: (d / "spec.json").write_text(""), id="empty-spec"),
    ],
)
def test_unreadable_cache_files_say_which_folder_and_what_to_do(tiny_dataset, reference, tmp_path: Path,
                                                                 damage) -> None:
    entry = _copy(reference, tmp_path)
    damage(entry)
    with pytest.raises(CacheUnreadableError) as err:
        _extract(tiny_dataset, tmp_path)
    assert str(entry) in str(err.value) and "delete it" in str(err.value)
    shutil.rmtree(entry)  # the way out the message gives
    assert _extract(tiny_dataset, tmp_path).is_complete()


def test_non_finite_features_are_refused_naming_the_video(tiny_dataset, tmp_path: Path, monkeypatch) -> None:
    original = extract_mod.FeatureExtractor.predict_step

    def nan_in_second_video(self, batch, batch_idx):
        out = original(self, batch, batch_idx)
        if batch_idx == 0:
            out["features"][1, 3, 5] = float("nan")
        return out

    monkeypatch.setattr(extract_mod.FeatureExtractor, "predict_step", nan_in_second_video)
    with pytest.raises(ValueError, match=tiny_dataset.records()[1].relpath):
        _extract(tiny_dataset, tmp_path)
    (entry,) = tmp_path.iterdir()
    assert (np.load(entry / "state.npy") == PENDING).all()
    assert (entry / "claims.json").read_text() == "[]\n"  # the claim was given back


def test_full_disk_during_extraction_names_the_file_and_marks_nothing(tiny_dataset, tmp_path: Path,
                                                                      monkeypatch) -> None:
    writes = {"n": 0}
    pwrite = os.pwrite

    def fills_up(fd, data, offset):
        writes["n"] += 1
        if writes["n"] > 20:  # the first batches fit, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return pwrite(fd, data, offset)

    monkeypatch.setattr(rows_module.os, "pwrite", fills_up)
    with pytest.raises(CacheWriteError, match="disk is full") as err:
        _extract(tiny_dataset, tmp_path)
    monkeypatch.undo()
    (entry,) = tmp_path.iterdir()
    assert str(entry) in str(err.value) and "run again" in str(err.value)
    state = np.load(entry / "state.npy")
    assert 0 < (state == DONE).sum() < len(state)  # rows written before the disk filled are kept
    assert (entry / "claims.json").read_text() == "[]\n"  # claims given back
    cache = _extract(tiny_dataset, tmp_path)
    assert cache.extracted == (state == PENDING).sum() and len(cache.verify()) == 0


KILLED = """
import os, signal, sys
from pathlib import Path
from tests.conftest import make_cfg
from hydra.utils import instantiate
from ucfbench.cache import extraction
from tests.cache.test_integrity import SPEC

dataset = instantiate(make_cfg(Path(sys.argv[1]), ["debug=tiny"]).dataset)
original = extraction.FeatureExtractor.predict_step
def dies_in_second_batch(self, batch, batch_idx):
    if batch_idx == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, batch, batch_idx)
extraction.FeatureExtractor.predict_step = dies_in_second_batch
extraction.extract_features(dataset, SPEC, root=sys.argv[2], batch_size=2, num_workers=0, accelerator="cpu",
                            claim_size=8)
"""


@pytest.mark.slow  # a subprocess importing torch: minutes on a loaded machine
def test_rows_of_a_killed_job_are_taken_over(tiny_home, tiny_dataset, reference, tmp_path: Path, caplog) -> None:
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", KILLED, str(tiny_home), str(tmp_path)], cwd=repo,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == -9, proc.stderr[-3000:]
    (entry,) = tmp_path.iterdir()
    assert (np.load(entry / "state.npy") == DONE).sum() == 2  # one batch written, six rows still claimed
    with caplog.at_level(logging.WARNING):
        cache = _extract(tiny_dataset, tmp_path)
    assert "taking over 6 row(s)" in caplog.text
    assert cache.extracted == len(tiny_dataset.records()) - 2
    feats, _ = cache.load()
    ref, _ = reference.load()
    np.testing.assert_allclose(feats.astype(np.float32), ref.astype(np.float32), atol=1e-3)


KILLED_CREATION = """
import os, signal, sys
from pathlib import Path
import numpy as np
from ucfbench.cache.rows import RowCache
from ucfbench.data.types import VideoRecord

def dies_while_reserving(fd, offset, length):
    os.kill(os.getpid(), signal.SIGKILL)

os.posix_fallocate = dies_while_reserving
records = [VideoRecord(relpath=f"v{i}.avi", label=0) for i in range(int(sys.argv[2]))]
RowCache(dir=Path(sys.argv[1]), records=records, data="features", dtype=np.float16, row_shape=(8, 512),
         meta={"key": "k"}, kind="feature", hint="features.dir").create()
"""


@pytest.mark.slow  # a subprocess importing numpy and torch, then an extraction
def test_kill_during_cache_creation_then_a_run(tiny_dataset, tmp_path: Path) -> None:
    entry = FeatureCache(root=tmp_path, spec=SPEC, dataset_name=tiny_dataset.name, records=tiny_dataset.records(),
                         fingerprint=tiny_dataset.fingerprint(), dim=512).dir
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", KILLED_CREATION, str(entry), str(len(tiny_dataset.records()))],
                          cwd=repo, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == -9, proc.stderr[-3000:]
    (left,) = tmp_path.iterdir()
    assert left.name.startswith(f".{entry.name}.tmp-") and (left / "features.npy").is_file()
    cache = _extract(tiny_dataset, tmp_path)
    assert cache.is_complete() and cache.extracted == len(tiny_dataset.records())
    assert sorted(p.name for p in tmp_path.iterdir()) == [entry.name]  # the killed creation's folder is gone
