"""On-disk feature cache: one (N, T, D) float16 array per dataset and feature setting.

Layout of one cache entry (a folder named by the key)::

    spec.json      everything that changes the features, plus N, T, D
    videos.txt     the dataset's videos, one per row of the arrays
    features.npy   (N, T, D) float16, written in place through a memory map
    lengths.npy    (N,) int32 valid time steps per video
    state.npy      (N,) uint8: 0 pending, 1 done, 2 unreadable (skipped)
    COMPLETE       written once no row is pending

A row's features are written before its state flips to done, so a crash or Ctrl-C at any
moment leaves every done row intact and at worst recomputes the rows of one batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ucfbench.data.types import VideoRecord
from ucfbench.utils.io import atomic_write

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when extraction changes in a way the key does not capture
PENDING, DONE, UNREADABLE = 0, 1, 2


@dataclass(frozen=True, kw_only=True)
class FeatureSpec:
    """Everything that changes the cached features (and so names the cache entry).

    Attributes:
        arch: the backbone's model name (``resnet18``, ``vit_small_patch14_dinov2``; ``features.model``).
        weights: torchvision weights name (``IMAGENET1K_V1``), timm pretrained tag (``lvd142m``),
            or None for random.
        init_seed: seed of the random init when ``weights`` is None.
        size: the backbone's input: frames are resized (short side) and centre-cropped to ``size`` x ``size``.
        sampler: frame sampler (a dataclass from :mod:`ucfbench.data.sampling`).
        backend: video decoding backend.
        library: ``torchvision`` or ``timm``.
        pool: frame embedding (``cls``, ``mean``, ``cls_mean``).
        preprocess: resolved preprocessing (resize, crop, mean/std, interpolation;
            :class:`~ucfbench.backbones.frame_encoder.Preprocess`), None for a ResNet's ImageNet default.
    """

    arch: str
    weights: str | None
    init_seed: int
    size: int
    sampler: object
    backend: str
    library: str = "torchvision"
    pool: str = "mean"
    preprocess: dict | None = None

    @property
    def num_frames(self) -> int:
        return int(self.sampler.num_frames)  # type: ignore[attr-defined]

    def as_dict(self) -> dict:
        sampler = {"type": type(self.sampler).__name__, **dataclasses.asdict(self.sampler)}
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["sampler"] = sampler
        if self.weights is not None:
            out["init_seed"] = None  # irrelevant for pretrained weights
        if self.library == "torchvision" and self.pool == "mean" and self.preprocess is None:
            for name in ("library", "pool", "preprocess"):  # ResNet entries keep the key they had before timm
                del out[name]
        return out

    def key(self, dataset_name: str, fingerprint: str) -> str:
        payload = {"format": CACHE_FORMAT, "dataset": dataset_name, "files": fingerprint, **self.as_dict()}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


class FeatureCache:
    """One cache entry: create it, fill rows (resumably), and load splits from it.

    Args:
        root: folder holding all cache entries (``features.dir``).
        spec: the feature setting.
        dataset_name: dataset identity, part of the key.
        records: the dataset's videos; row ``i`` of the arrays belongs to ``records[i]``.
        fingerprint: hash of the dataset's files (:meth:`ActionDataset.fingerprint`).
        dim: feature size D of the backbone.
    """

    def __init__(
        self,
        *,
        root: str | Path,
        spec: FeatureSpec,
        dataset_name: str,
        records: list[VideoRecord],
        fingerprint: str,
        dim: int,
    ) -> None:
        self.spec = spec
        self.records = records
        self.dim = dim
        key = spec.key(dataset_name, fingerprint)
        self.dir = Path(root).expanduser().resolve() / f"{dataset_name}-{spec.arch.replace('/', '_').replace(':', '_')}-{key}"
        self._meta = {"key": key, "dataset": dataset_name, "spec": spec.as_dict(),
                      "shape": [len(records), spec.num_frames, dim]}
        self._arrays: dict[str, np.ndarray] = {}

    # -- state ----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.records), self.spec.num_frames, self.dim)

    def exists(self) -> bool:
        return (self.dir / "spec.json").is_file()

    def is_complete(self) -> bool:
        return (self.dir / "COMPLETE").is_file()

    def create(self) -> None:
        """Allocate the entry if it does not exist; built aside and renamed, so never half-made."""
        if self.exists():
            self._check_matches()
            return
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.dir.parent, prefix=f".{self.dir.name}.tmp-"))
        try:
            n, t, d = self.shape
            np.lib.format.open_memmap(tmp / "features.npy", mode="w+", dtype=np.float16, shape=(n, t, d)).flush()
            np.save(tmp / "lengths.npy", np.zeros(n, dtype=np.int32))
            np.save(tmp / "state.npy", np.zeros(n, dtype=np.uint8))
            (tmp / "videos.txt").write_text("".join(f"{r.relpath}\n" for r in self.records))
            (tmp / "spec.json").write_text(json.dumps(self._meta, indent=2))
            os.rename(tmp, self.dir)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not self.exists():  # lost a race with another process creating the same entry
                raise

    def _check_matches(self) -> None:
        videos = (self.dir / "videos.txt").read_text().splitlines()
        if videos != [r.relpath for r in self.records]:
            raise RuntimeError(
                f"feature cache {self.dir} lists other videos than the dataset although the key "
                "matches; delete that folder and run again"
            )

    def _array(self, name: str, mode: str = "r+") -> np.ndarray:
        if name not in self._arrays or (mode == "r+" and not self._arrays[name].flags.writeable):
            self._arrays[name] = np.load(self.dir / f"{name}.npy", mmap_mode=mode)
        return self._arrays[name]

    def state(self) -> np.ndarray:
        """(N,) uint8 row states (a fresh read, so other processes' writes are seen)."""
        return np.load(self.dir / "state.npy")

    def pending_rows(self) -> np.ndarray:
        return np.flatnonzero(self.state() == PENDING)

    # -- writing --------------------------------------------------------------------------
    def write(self, rows: np.ndarray, features: np.ndarray, lengths: np.ndarray) -> None:
        """Store finished rows: features first, then mark them done."""
        feats = self._array("features")
        feats[rows] = features.astype(np.float16, copy=False)
        feats.flush()
        lens = self._array("lengths")
        lens[rows] = lengths
        lens.flush()
        state = self._array("state")
        state[rows] = DONE
        state.flush()

    def mark_unreadable(self, rows: np.ndarray) -> None:
        state = self._array("state")
        state[rows] = UNREADABLE
        state.flush()

    def finalize(self) -> None:
        """Write the COMPLETE marker once no row is pending."""
        state = self.state()
        if (state == PENDING).any():
            raise RuntimeError(f"feature cache {self.dir}: {int((state == PENDING).sum())} rows still pending")
        unreadable = [self.records[i].relpath for i in np.flatnonzero(state == UNREADABLE)]
        atomic_write(self.dir / "COMPLETE", json.dumps({"unreadable": unreadable}, indent=2))

    # -- reading --------------------------------------------------------------------------
    def unreadable(self) -> list[str]:
        return json.loads((self.dir / "COMPLETE").read_text())["unreadable"]

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole (N, T, D) float16 array, memory-mapped read-only, and (N,) lengths."""
        if not self.is_complete():
            raise RuntimeError(f"feature cache {self.dir} is incomplete; run the extraction first")
        return np.load(self.dir / "features.npy", mmap_mode="r"), np.load(self.dir / "lengths.npy")

    def rows_of(self, records: list[VideoRecord]) -> np.ndarray:
        """Row of each record in the cache arrays."""
        row = {r.relpath: i for i, r in enumerate(self.records)}
        return np.array([row[r.relpath] for r in records], dtype=np.int64)
