"""The DataModule of sequence heads (``data=features``): train / val / test batches of cached features.

It owns its data: :meth:`FeatureDataModule.prepare_data` makes sure the dataset is ready and its
frozen-backbone features are cached (extracting what is missing, on one process), and
:meth:`~FeatureDataModule.setup` exposes what the model needs (``num_classes``, ``classes``,
``input_dim``, ``input_stats``).

Two ways to serve a split:

* **in memory** (``device_resident``): the split's rows of the memory-mapped cache are gathered
  once into one float16 tensor on the trainer's device (GPU memory, or RAM on CPU), and a small
  iterable, :class:`InMemoryLoader`, cuts batches out of it with one gather per batch. No worker
  processes, no per-sample ``__getitem__``, no collate and no host-to-device copy per step.
* a ``DataLoader`` over :class:`FeatureDataset` (reads each sample from the memory map).

Both yield the same :class:`Batch` (float32 ``x``) from the same cache rows.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ucfbench.backbones.frame_encoder import FrameEncoder
from ucfbench.cache.extraction import backbone_info, extract_features, feature_spec
from ucfbench.cache.features import UNREADABLE, FeatureCache
from ucfbench.data.base import ActionDataset
from ucfbench.data.types import Batch, VideoRecord
from ucfbench.datamodules.base import ActionDataModule

log = logging.getLogger(__name__)

STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}
# `device_resident=auto` keeps a split in memory when it takes at most this share of what is free.
AUTO_MEMORY_SHARE = 0.5


class EpochOrder:
    """The split positions one rank visits in one epoch, like ``DistributedSampler``.

    Shuffled per epoch by a ``torch.Generator`` seeded with ``seed + epoch`` (Lightning calls
    :meth:`set_epoch`, also after a resume), so runs repeat. With ``world_size > 1`` the order is
    padded by repeating its start until it divides evenly, and rank ``r`` takes every
    ``world_size``-th position from ``r``: ranks get equal batch counts and together cover every
    position (the padded repeats are dropped again by ``index`` in the test outputs).

    Args:
        n: number of samples in the split.
        shuffle: draw a new permutation every epoch (else ``0..n-1``).
        seed: base seed of the permutation.
        rank: this process's rank.
        world_size: number of processes.
    """

    def __init__(self, n: int, *, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        assert 0 <= rank < world_size, f"rank {rank} out of range for world size {world_size}"
        self.n, self.shuffle, self.seed, self.rank, self.world_size = n, shuffle, seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(self.n / self.world_size)

    def indices(self) -> torch.Tensor:
        """(len(self),) int64 positions for this rank and epoch."""
        if self.shuffle:
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        else:
            order = torch.arange(self.n)
        if self.world_size > 1:
            total = len(self) * self.world_size
            order = order.repeat(math.ceil(total / max(self.n, 1)))[:total]  # pad by repeating the start
            order = order[self.rank :: self.world_size]
        return order

    def __iter__(self):
        return iter(self.indices().tolist())


class FeatureDataset(Dataset):
    """Cached per-frame features of a split, read from the memory-mapped cache array.

    Args:
        features: (N, T, D) float16 array of the whole dataset (memory-mapped).
        lengths: (N,) valid steps per row.
        rows: row of each of the split's videos in ``features``.
        labels: class of each of the split's videos.
    """

    def __init__(self, *, features: np.ndarray, lengths: np.ndarray, rows: np.ndarray, labels: np.ndarray) -> None:
        assert len(rows) == len(labels), "one label per row"
        self.features = features
        self.lengths = torch.as_tensor(lengths[rows], dtype=torch.int64)
        self.rows = rows
        self.labels = torch.as_tensor(labels, dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> Batch:
        x = torch.from_numpy(np.asarray(self.features[self.rows[i]], dtype=np.float32))  # (T, D)
        return Batch(x=x, lengths=self.lengths[i], label=self.labels[i], index=torch.tensor(i))


def feature_stats(features: np.ndarray, rows: np.ndarray, lengths: np.ndarray, *, chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and std over the valid steps of ``rows`` of a (N, T, D) array."""
    d = features.shape[-1]
    total, total_sq, count = np.zeros(d), np.zeros(d), 0
    for start in range(0, len(rows), chunk):
        batch = rows[start : start + chunk]
        x = np.asarray(features[np.sort(batch)], dtype=np.float64)  # (b, T, D)
        valid = np.arange(x.shape[1])[None, :] < lengths[np.sort(batch)][:, None]  # (b, T)
        x = x[valid]  # (n, D)
        total += x.sum(0)
        total_sq += (x * x).sum(0)
        count += len(x)
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(total_sq / max(count, 1) - mean * mean, 0.0))
    return torch.from_numpy(mean).float(), torch.from_numpy(std).float()


class InMemoryLoader:
    """Batches of a split held in memory; Lightning takes any sized iterable as a dataloader.

    The tensors may live on a GPU: batches are cut there, so Lightning's
    ``transfer_batch_to_device`` finds them on the right device and ``.to()`` returns them as they
    are (no copy). Features are stored as float16 (half the memory of float32; the cache is float16
    anyway) and cast to float32 per batch, so a batch holds exactly the values the ``DataLoader``
    path reads, full-precision runs work unchanged, and mixed precision (autocast) picks the
    compute dtype per op as usual. ``drop_last`` is false: the last batch may be smaller.

    Args:
        features: (N, T, D) float16 features of the split.
        lengths: (N,) valid steps per sample.
        labels: (N,) class per sample.
        batch_size: samples per batch.
        order: which positions this rank visits and in what order (``sampler`` to Lightning,
            which calls its ``set_epoch``).
    """

    def __init__(
        self,
        *,
        features: torch.Tensor,
        lengths: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        order: EpochOrder,
    ) -> None:
        assert features.shape[0] == lengths.shape[0] == labels.shape[0] == order.n, "one length and label per row"
        assert features.device == lengths.device == labels.device, "features, lengths and labels on one device"
        self.features, self.lengths, self.labels = features, lengths, labels
        self.batch_size = batch_size
        self.sampler = order  # the name Lightning looks for to call set_epoch
        self.batch_sampler = None  # Lightning inspects both, as on a DataLoader

    @property
    def device(self) -> torch.device:
        return self.features.device

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch_size)

    def __iter__(self):
        order = self.sampler.indices().to(self.device)
        for i in order.split(self.batch_size):  # (B,) positions in the split
            yield Batch(
                x=self.features.index_select(0, i).float(),  # (B, T, D)
                lengths=self.lengths.index_select(0, i),
                label=self.labels.index_select(0, i),
                index=i,
            )


def gather_split(split: FeatureDataset, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """A split's rows of the memory-mapped cache as float16 ``features``, ``lengths``, ``labels`` on ``device``."""
    features = torch.from_numpy(np.ascontiguousarray(split.features[split.rows], dtype=np.float16))  # (N, T, D)
    return {"features": features.to(device, torch.float16), "lengths": split.lengths.to(device),
            "labels": split.labels.to(device)}


def _free_memory(device: torch.device) -> int:
    """Bytes free on ``device``: GPU memory, or the RAM the kernel could hand out (MemAvailable)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def parse_device_resident(value: bool | str) -> bool | str:
    """``data.device_resident``: ``auto``, or a boolean (also as the strings ``true``/``false``)."""
    if isinstance(value, bool) or value == "auto":
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise ValueError(f"data.device_resident must be auto, true or false, got {value!r}")


class FeatureDataModule(ActionDataModule):
    """Serves a dataset's splits as batches of cached per-frame features.

    Args:
        dataset: the dataset and its protocol (decides which video is in which split).
        encoder: the frozen frame encoder whose features are cached.
        sampler: picks the frames of each video (:mod:`ucfbench.data.sampling`).
        backend: video decoder (``auto`` or ``pyav``: the same, PyAV).
        cache_dir: folder of the feature cache entries.
        extraction: how missing features are computed: keyword arguments of
            :func:`~ucfbench.cache.extraction.extract_features` (batch size, workers, accelerator, ...).
        batch_size: training batch size (evaluation uses ``eval_batch_size``).
        eval_batch_size: batch size for validation and test (default: ``batch_size``).
        num_workers: DataLoader workers (0 is right for memory-mapped features).
        device_resident: hold each split in memory on the trainer's device and serve it with
            :class:`InMemoryLoader` (``true``), or read it through a ``DataLoader`` (``false``).
            ``auto``: in memory when the split takes at most half the free memory of the device
            (GPU memory on CUDA, RAM on CPU, where it is also faster than the DataLoader: see
            docs/benchmarks.md, "Training loop").
        seed: seeds the in-memory loader's per-epoch shuffling (the run's seed).
    """

    def __init__(
        self,
        *,
        dataset: ActionDataset,
        encoder: FrameEncoder,
        sampler: object,
        backend: str = "auto",
        cache_dir: str | Path,
        extraction: Mapping | None = None,
        batch_size: int = 16,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        device_resident: bool | str = "auto",
        seed: int = 0,
    ) -> None:
        super().__init__(dataset=dataset)
        if batch_size < 1 or (eval_batch_size is not None and eval_batch_size < 1):
            raise ValueError(f"data.batch_size and data.eval_batch_size must be >= 1, got {batch_size}, {eval_batch_size}")
        self.encoder, self.spec = encoder, feature_spec(encoder, sampler, backend)
        self.cache_dir = cache_dir
        self.extraction = dict(extraction or {})
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.device_resident = parse_device_resident(device_resident)
        self.seed = seed
        self.cache: FeatureCache | None = None
        self.extracted = 0  # videos this process extracted (0 when every one was cached)
        self.splits: dict[str, FeatureDataset] = {}
        self.resident: dict[str, dict[str, torch.Tensor]] = {}  # splits held in memory, by name
        self.records: dict[str, list[VideoRecord]] = {}  # per split, without skipped videos
        self.skipped: list[str] = []  # videos left out as unreadable (dataset.on_bad_video=skip)

    # -- what the model reads -------------------------------------------------------------
    @property
    def input_dim(self) -> int:
        assert self.cache is not None, "set up the DataModule first"
        return self.cache.dim

    @property
    def device(self) -> torch.device:
        """The trainer's device (CPU before a trainer is attached)."""
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")

    def describe(self) -> dict:
        """What ``metrics.json`` records about the data: the backbone and its cache."""
        assert self.cache is not None, "set up the DataModule first"
        return {"features": {**backbone_info(self.cache), "extracted": self.extracted}}

    # -- Lightning hooks ------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Make the dataset ready and its features cached (Lightning runs this on one process)."""
        if self.cache is not None:  # prepared and verified already (Lightning prepares again for test)
            return
        super().prepare_data()
        self.extract()

    def extract(self, *, devices: int | str = 1, strategy: str = "auto") -> FeatureCache:
        """Cache the features of the (ready) dataset that are missing; ``devices`` other than 1
        shards the work over devices (DDP: the ``ucfbench.extract`` command starts it)."""
        # Extraction draws from torch's global RNG (DataLoader seeds): keep the model's
        # initialisation the same whether the features were cached or not.
        with torch.random.fork_rng(devices=[]):
            self.cache = extract_features(self.dataset, self.spec, encoder=self.encoder, root=self.cache_dir,
                                          on_bad_video=self.dataset.on_bad_video, devices=devices, strategy=strategy,
                                          **self.extraction)
        self.extracted = self.cache.extracted
        return self.cache

    def setup(self, stage: str | None = None) -> None:
        if self.cache is None:  # a DDP rank that did not prepare: this only opens the complete cache
            self.extract()
        if not self.splits:
            self._index_splits()
        for name in STAGE_SPLITS.get(stage or "", ("train", "val", "test")):
            if name not in self.resident and self._keep_in_memory(name):
                self.resident[name] = gather_split(self.splits[name], self.device)
                log.info("%s split in %s memory: %d videos", name, self.device, len(self.splits[name]))

    def _index_splits(self) -> None:
        features, lengths = self.cache.load()
        bad = np.flatnonzero(self.cache.states() == UNREADABLE)
        for name in ("train", "val", "test"):
            records = self.dataset.subset(name)
            rows = self.cache.rows_of(records)
            keep = ~np.isin(rows, bad)
            self.skipped += [r.relpath for r, k in zip(records, keep) if not k]
            records = [r for r, k in zip(records, keep) if k]
            self.records[name] = records
            self.splits[name] = FeatureDataset(
                features=features, lengths=lengths, rows=rows[keep],
                labels=np.array([r.label for r in records], dtype=np.int64),
            )
        self.input_stats = feature_stats(features, self.splits["train"].rows, lengths)

    def _keep_in_memory(self, name: str) -> bool:
        if self.device_resident != "auto":
            return bool(self.device_resident)
        split = self.splits[name]
        need = len(split) * int(np.prod(split.features.shape[1:])) * 2  # float16 bytes
        if need <= AUTO_MEMORY_SHARE * _free_memory(self.device):
            return True
        log.warning("%s split (%.1f GiB) too large for %s memory: reading it through a DataLoader",
                    name, need / 2**30, self.device)
        return False

    def _loader(self, name: str, *, shuffle: bool, batch_size: int) -> InMemoryLoader | DataLoader:
        if self.trainer is not None and self.trainer.overfit_batches:
            shuffle = False  # overfitting repeats the same batches (Lightning does this for DataLoaders)
        if name in self.resident:
            rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer is not None else (0, 1)
            order = EpochOrder(len(self.splits[name]), shuffle=shuffle, seed=self.seed, rank=rank, world_size=world)
            return InMemoryLoader(**self.resident[name], batch_size=batch_size, order=order)
        return DataLoader(
            self.splits[name], batch_size=batch_size, shuffle=shuffle, num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda", persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> InMemoryLoader | DataLoader:
        return self._loader("train", shuffle=True, batch_size=self.batch_size)

    def val_dataloader(self) -> InMemoryLoader | DataLoader:
        return self._loader("val", shuffle=False, batch_size=self.eval_batch_size)

    def test_dataloader(self) -> InMemoryLoader | DataLoader:
        return self._loader("test", shuffle=False, batch_size=self.eval_batch_size)
