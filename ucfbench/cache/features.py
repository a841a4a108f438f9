"""On-disk feature cache: one (N, T, D) float16 array per dataset and feature setting.

A :class:`~ucfbench.cache.rows.RowCache` whose rows are ``features.npy`` (N, T, D) float16 (see
:mod:`ucfbench.cache.rows` for the files, checksums and claims), plus ``COMPLETE``, written once no
row is pending. A row's features are written before its state flips to done, so a crash or Ctrl-C
at any moment leaves every done row intact and at worst recomputes the rows of one batch; a row
damaged later fails its checksum when the cache is loaded and is extracted again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ucfbench.cache.rows import DONE, PENDING, UNREADABLE, CacheUnreadableError, RowCache, row_key, sampler_dict
from ucfbench.data.types import VideoRecord
from ucfbench.utils.commands import command
from ucfbench.utils.io import atomic_write

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when extraction changes in a way the key does not capture
__all__ = ["DONE", "PENDING", "UNREADABLE", "FeatureCache", "FeatureSpec"]


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
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["sampler"] = sampler_dict(self.sampler)
        if self.weights is not None:
            out["init_seed"] = None  # irrelevant for pretrained weights
        if self.library == "torchvision" and self.pool == "mean" and self.preprocess is None:
            for name in ("library", "pool", "preprocess"):  # ResNet entries leave these out: their cache keys stay valid
                del out[name]
        return out

    def key(self, dataset_name: str, fingerprint: str) -> str:
        return row_key({"format": CACHE_FORMAT, "dataset": dataset_name, "files": fingerprint, **self.as_dict()})


class FeatureCache(RowCache):
    """One cache entry: create it, fill rows (resumably, shared by many jobs), and load splits from it.

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
        self.dim = dim
        key = spec.key(dataset_name, fingerprint)
        meta = {"key": key, "dataset": dataset_name, "spec": spec.as_dict(),
                "shape": [len(records), spec.num_frames, dim]}
        name = spec.arch.replace("/", "_").replace(":", "_")  # timm names may hold either
        super().__init__(dir=Path(root).expanduser().resolve() / f"{dataset_name}-{name}-{key}",
                         records=records, data="features", dtype=np.float16, row_shape=(spec.num_frames, dim),
                         meta=meta, kind="feature", hint="features.dir")
        self._verified = False

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.records), self.spec.num_frames, self.dim)

    @property
    def extracted(self) -> int:
        """Videos this process extracted into the cache (0 when all were cached)."""
        return self.written

    def is_complete(self) -> bool:
        return (self.dir / "COMPLETE").is_file()

    def pending_rows(self) -> np.ndarray:
        return np.flatnonzero(self.states() == PENDING)

    # -- writing --------------------------------------------------------------------------
    def write(self, rows: np.ndarray, features: np.ndarray, lengths: np.ndarray) -> None:
        """Store finished rows: features and checksums first, then mark them done."""
        self.write_rows(rows, features, lengths)

    def mark_unreadable(self, rows: np.ndarray, *, why: str | None = None) -> None:
        """Record rows whose videos cannot be decoded, and why (the decoder's error)."""
        self.set_state(rows, UNREADABLE, why=why)

    def finalize(self) -> None:
        """Write the COMPLETE marker once no row is pending."""
        state = self.states()
        if (state == PENDING).any():
            raise RuntimeError(f"feature cache {self.dir}: {int((state == PENDING).sum())} rows still pending")
        unreadable = [self.records[i].relpath for i in np.flatnonzero(state == UNREADABLE)]
        atomic_write(self.dir / "COMPLETE", json.dumps({"unreadable": unreadable}, indent=2),
                     hint=f"(or set {self.hint} to another folder)")

    def verify(self) -> np.ndarray:
        """Check every row (:meth:`RowCache.verify`); damaged rows go back to pending (and COMPLETE goes)."""
        bad = super().verify()
        if len(bad):
            (self.dir / "COMPLETE").unlink(missing_ok=True)
        self._verified = not len(bad)
        return bad

    # -- reading --------------------------------------------------------------------------
    def unreadable(self) -> list[str]:
        """Videos recorded as unreadable (state and reason; see :meth:`unreadable_videos` for why)."""
        return [video for video, _ in self.unreadable_videos()]

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole (N, T, D) float16 array, memory-mapped read-only, and (N,) lengths; every row
        verified (once per object) so a damaged row is never trained on."""
        if not self.is_complete():
            raise RuntimeError(f"feature cache {self.dir} is incomplete; run the extraction first")
        self.check()
        if not self._verified and len(self.verify()):
            raise CacheUnreadableError(
                f"feature cache {self.dir} had damaged rows (see the warning above); they were reset to pending: "
                f"run again (or {command('extract')} with the same dataset and features) to extract them"
            )
        return self.open_array("features"), np.array(self.open_array("lengths"))

    def rows_of(self, records: list[VideoRecord]) -> np.ndarray:
        """Row of each record in the cache arrays."""
        row = {r.relpath: i for i, r in enumerate(self.records)}
        return np.array([row[r.relpath] for r in records], dtype=np.int64)
