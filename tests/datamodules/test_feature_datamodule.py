"""The in-memory loader: every sample once per epoch, seeded shuffling, DDP-style rank slices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from tests.conftest import make_cfg
from ucfbench.datamodules.feature_datamodule import (
    EpochOrder,
    FeatureDataModule,
    InMemoryLoader,
    feature_stats,
    parse_device_resident,
)


def _loader(n: int = 23, *, batch_size: int = 4, shuffle: bool = True, seed: int = 0, rank: int = 0,
            world_size: int = 1) -> InMemoryLoader:
    features = torch.arange(n, dtype=torch.float16).view(n, 1, 1).expand(n, 3, 2).contiguous()  # row i holds i
    return InMemoryLoader(features=features, lengths=torch.full((n,), 3), labels=torch.arange(n) % 5,
                          batch_size=batch_size,
                          order=EpochOrder(n, shuffle=shuffle, seed=seed, rank=rank, world_size=world_size))


def _epoch(loader: InMemoryLoader, epoch: int = 0) -> torch.Tensor:
    loader.sampler.set_epoch(epoch)
    return torch.cat([b["index"] for b in loader])


@pytest.mark.parametrize("n, batch_size", [(23, 4), (24, 4), (3, 8), (1, 1)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_every_sample_once_per_epoch(n: int, batch_size: int, shuffle: bool) -> None:
    loader = _loader(n, batch_size=batch_size, shuffle=shuffle)
    batches = list(loader)
    assert len(batches) == len(loader) == -(-n // batch_size)  # drop_last is false
    assert all(len(b["index"]) == batch_size for b in batches[:-1])
    index = torch.cat([b["index"] for b in batches])
    assert sorted(index.tolist()) == list(range(n))
    if not shuffle:
        assert index.tolist() == list(range(n))
    for b in batches:  # each sample is its own row, label and length, as float32
        assert b["x"].dtype == torch.float32 and b["x"].shape == (len(b["index"]), 3, 2)
        assert torch.equal(b["x"][:, 0, 0].long(), b["index"])
        assert torch.equal(b["label"], b["index"] % 5) and (b["lengths"] == 3).all()


def test_shuffle_is_seeded_and_changes_per_epoch() -> None:
    first, again = _loader(seed=7), _loader(seed=7)
    assert torch.equal(_epoch(first, 0), _epoch(again, 0))  # same seed and epoch: same order
    assert torch.equal(_epoch(first, 3), _epoch(again, 3))
    assert not torch.equal(_epoch(first, 0), _epoch(first, 1))  # a new order every epoch
    assert not torch.equal(_epoch(first, 0), _epoch(_loader(seed=8), 0))
    assert torch.equal(_epoch(first, 2), _epoch(first, 2))  # resuming at an epoch repeats its order


@pytest.mark.parametrize("n, world_size", [(23, 2), (24, 2), (10, 3), (2, 4), (7, 1)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_rank_slices_cover_everything_with_equal_counts(n: int, world_size: int, shuffle: bool) -> None:
    per_rank = [_epoch(_loader(n, batch_size=3, shuffle=shuffle, seed=1, rank=r, world_size=world_size), 2)
                for r in range(world_size)]
    counts = {len(ix) for ix in per_rank}
    assert counts == {-(-n // world_size)}  # padded by repeats: every rank the same number of samples
    assert len({len(_loader(n, batch_size=3, rank=r, world_size=world_size)) for r in range(world_size)}) == 1
    joined = torch.cat(per_rank)
    assert set(joined.tolist()) == set(range(n))
    if n >= world_size:  # at most one padded repeat per rank
        assert len(joined) - n < world_size


def test_rank_slices_match_distributed_sampler() -> None:
    from torch.utils.data.distributed import DistributedSampler

    for rank in range(3):
        ref = DistributedSampler(range(10), num_replicas=3, rank=rank, shuffle=False)
        assert list(EpochOrder(10, shuffle=False, rank=rank, world_size=3)) == list(ref)


def test_device_resident_values() -> None:
    assert parse_device_resident("auto") == "auto"
    assert parse_device_resident(True) is True and parse_device_resident("false") is False
    with pytest.raises(ValueError, match="device_resident"):
        parse_device_resident("gpu")


@pytest.fixture
def tiny_features(tiny_home: Path, tiny_dataset):
    cfg = make_cfg(tiny_home, ["debug=tiny"])
    datamodule = instantiate(cfg.data, dataset=tiny_dataset)
    datamodule.prepare_data()
    return cfg, datamodule.cache


def test_in_memory_batches_equal_dataloader_batches(tiny_features, tiny_dataset) -> None:
    """Both paths serve the same float32 values from the same cache rows."""
    cfg, cache = tiny_features
    memory = instantiate(cfg.data, dataset=tiny_dataset, device_resident=True)
    loader = instantiate(cfg.data, dataset=tiny_dataset, device_resident=False)
    memory.setup("fit"), loader.setup("fit")
    memory.setup("test"), loader.setup("test")
    assert set(memory.resident) == {"train", "val", "test"} and not loader.resident
    assert isinstance(memory.test_dataloader(), InMemoryLoader)
    for split in ("val_dataloader", "test_dataloader"):  # unshuffled: batch by batch
        for a, b in zip(getattr(memory, split)(), getattr(loader, split)(), strict=True):
            for key in ("x", "lengths", "label", "index"):
                assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
    batches = list(memory.train_dataloader())
    assert len(batches) == len(loader.train_dataloader())
    index = torch.cat([b["index"] for b in batches])
    assert sorted(index.tolist()) == list(range(len(memory.records["train"])))
    ref = memory.splits["train"]
    for b in batches:
        np.testing.assert_array_equal(b["x"].numpy(), np.stack([ref[i]["x"].numpy() for i in b["index"].tolist()]))


def test_auto_keeps_small_splits_in_memory_on_cpu(tiny_features, tiny_dataset) -> None:
    cfg, cache = tiny_features
    assert cfg.data.device_resident == "auto" and cfg.data.seed == cfg.seed
    dm = instantiate(cfg.data, dataset=tiny_dataset)
    dm.setup("fit")
    assert set(dm.resident) == {"train", "val"}  # the test split waits for setup("test")
    assert all(t.device.type == "cpu" and t.dtype == torch.float16 for t in [dm.resident["train"]["features"]])


def test_batches_on_the_device_are_not_copied_again() -> None:
    """Lightning's transfer_batch_to_device returns tensors already on the device as they are."""
    from lightning.pytorch.core.hooks import DataHooks

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    loader = _loader()
    loader.features, loader.lengths, loader.labels = (t.to(device) for t in (loader.features, loader.lengths,
                                                                             loader.labels))
    batch = next(iter(loader))
    moved = DataHooks().transfer_batch_to_device(batch, device, 0)
    for key, value in batch.items():
        assert moved[key].device == device and moved[key].data_ptr() == value.data_ptr(), key


def test_setup_again_keeps_the_gathered_split(tiny_features, tiny_dataset) -> None:
    """Lightning sets up again for test after fit: what was gathered is reused, not read again."""
    cfg, cache = tiny_features
    dm = instantiate(cfg.data, dataset=tiny_dataset)
    dm.setup("fit")
    features = dm.resident["train"]["features"]
    dm.setup("fit")
    assert dm.resident["train"]["features"] is features and dm.cache.dir == cache.dir


def test_the_datamodule_owns_its_data(tiny_features, tiny_dataset) -> None:
    """prepare_data finds the features cached (nothing extracted); setup exposes what the model needs."""
    cfg, cache = tiny_features
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.extracted == 0 and dm.input_dim == cache.dim and dm.num_classes == tiny_dataset.num_classes
    mean, std = dm.input_stats
    assert mean.shape == std.shape == (cache.dim,) and (std > 0).any()
    assert dm.describe()["features"]["extracted"] == 0


@pytest.mark.gpu
def test_device_resident_on_cuda(tiny_features, tiny_dataset) -> None:
    import lightning as L

    cfg, cache = tiny_features
    dm = instantiate(cfg.data, dataset=tiny_dataset)
    dm.trainer = L.Trainer(accelerator="gpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False)
    dm.setup("fit")  # gathered straight into GPU memory
    batch = next(iter(dm.train_dataloader()))
    assert all(v.is_cuda for v in batch.values()) and batch["x"].dtype == torch.float32
    assert dm.resident["train"]["features"].is_cuda and dm.resident["train"]["features"].dtype == torch.float16


def test_datamodule_accepts_string_booleans(tiny_features, tiny_dataset) -> None:
    cfg, cache = tiny_features
    dm = instantiate(cfg.data, dataset=tiny_dataset, device_resident="false")
    assert isinstance(dm, FeatureDataModule)
    dm.setup("fit")
    assert not dm.resident and isinstance(dm.train_dataloader(), torch.utils.data.DataLoader)


def test_feature_stats_over_valid_steps_of_chosen_rows() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(10, 4, 3)).astype(np.float16)
    lengths = np.array([4, 2, 4, 1, 4, 4, 3, 4, 4, 4])
    rows = np.array([1, 3, 6, 7])
    mean, std = feature_stats(features, rows, lengths, chunk=3)
    valid = np.concatenate([features[r, : lengths[r]].astype(np.float64) for r in rows])
    np.testing.assert_allclose(mean.numpy(), valid.mean(0), rtol=1e-5)
    np.testing.assert_allclose(std.numpy(), valid.std(0), rtol=1e-5)
