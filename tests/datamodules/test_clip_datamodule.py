"""Clips for end-to-end models: batch shapes, per-clip augmentation, test views, the decoded-clip cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.utils import write_video
from ucfbench.cache.clips import DONE, PENDING, UNREADABLE, DecodedClipCache
from ucfbench.data import clips as clips_module
from ucfbench.data.clips import ClipDataset, read_clip
from ucfbench.data.sampling import MultiViewSampler, StrideSampler, UniformSampler
from ucfbench.data.transforms import IMAGENET_MEAN, IMAGENET_STD, ClipTransform
from ucfbench.data.types import VideoRecord
from ucfbench.data.video import VideoDecodeError
from ucfbench.datamodules.clip_datamodule import ClipDataModule


def _module(dataset, **kw) -> ClipDataModule:
    args = {"sampler": StrideSampler(num_frames=4, stride=2), "size": 24, "resize": 32, "num_workers": 0,
            "batch_size": 3, **kw}
    dm = ClipDataModule(dataset=dataset, **args)
    dm.setup("fit")
    return dm


def test_batches_are_normalised_float_clips(tiny_dataset) -> None:
    dm = _module(tiny_dataset)
    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].shape == (3, 4, 3, 24, 24) and batch["x"].dtype == torch.float32
    assert batch["lengths"].tolist() == [4, 4, 4] and batch["label"].dtype == torch.int64
    assert batch["x"].min() < -1.0 and batch["x"].max() > 1.0  # ImageNet-normalised, not [0, 1]
    test = next(iter(dm.test_dataloader()))
    records = dm.records["test"]
    assert [records[i].label for i in test["index"].tolist()] == test["label"].tolist()


def test_synthetic_set_is_never_flipped(tiny_dataset) -> None:
    assert _module(tiny_dataset).hflip == 0.0  # SlideLeft is SlideRight mirrored
    assert _module(tiny_dataset, hflip=0.5).hflip == 0.5


def test_training_augmentation_is_the_same_for_every_frame() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    clip = torch.from_numpy(np.stack([image] * 6))  # (T, H, W, 3): six copies of one frame
    transform = ClipTransform(size=24, train=True, crop_scale=(0.3, 1.0), hflip=0.5)
    outputs = [transform(clip) for _ in range(8)]
    for out in outputs:
        assert out.shape == (6, 3, 24, 24)
        for t in range(1, 6):  # the same crop and flip on every frame
            torch.testing.assert_close(out[t], out[0])
    assert len({tuple(o[0].flatten()[:50].tolist()) for o in outputs}) > 1  # ... but a new draw per clip


def test_evaluation_is_a_deterministic_centre_crop() -> None:
    frames = torch.zeros(2, 32, 32, 3, dtype=torch.uint8)
    frames[:, 4:28, 4:28] = 255  # a white square exactly where the centre 24 px crop falls
    out = ClipTransform(size=24, train=False)(frames)
    white = (1.0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(out, white.view(1, 3, 1, 1).expand(2, 3, 24, 24).contiguous())


def test_multi_view_sampler_spreads_clips_and_one_view_is_the_centre_clip() -> None:
    base = StrideSampler(num_frames=4, stride=2)  # span 7
    assert np.array_equal(MultiViewSampler(base=base, num_views=1)(20).indices, base(20).indices)
    idx, length = MultiViewSampler(base=base, num_views=3)(20)
    views = idx.reshape(3, 4)
    assert views[:, 0].tolist() == [0, 6, 13] and views[-1, -1] == 19 and length == 4
    assert (np.diff(views, axis=1) == 2).all()
    short = MultiViewSampler(base=base, num_views=2)(5)  # too short for the span: the same padded clip twice
    assert short.length == 3 and np.array_equal(short.indices[:4], short.indices[4:])
    uniform = MultiViewSampler(base=UniformSampler(num_frames=4), num_views=2)(40).indices.reshape(2, 4)
    assert (uniform[0] < uniform[1]).all()


def test_test_views_give_a_views_axis(tiny_dataset) -> None:
    dm = _module(tiny_dataset, test_views=3)
    batch = next(iter(dm.test_dataloader()))
    assert batch["x"].shape[1:] == (3, 4, 3, 24, 24)  # (B, V, T, 3, H, W)
    assert next(iter(dm.val_dataloader()))["x"].ndim == 5  # validation: the one centre clip


def _videos(root: Path, n: int = 3) -> list[VideoRecord]:
    """``n`` small videos of 12 frames whose brightness grows with the frame index, and a broken one."""
    records = []
    for i in range(n):
        frames = np.repeat((np.arange(12) * 10 + 20 * i).astype(np.uint8)[:, None, None, None], 32, 1)
        frames = np.ascontiguousarray(np.broadcast_to(frames, (12, 32, 32, 3)))
        write_video(root / "A" / f"v{i}.avi", frames)
        records.append(VideoRecord(relpath=f"A/v{i}.avi", label=0))
    (root / "A" / "bad.avi").write_bytes(b"not a video at all" * 50)
    return [*records, VideoRecord(relpath="A/bad.avi", label=0)]


def _dataset(root: Path, records, cache, on_bad_video: str = "skip") -> ClipDataset:
    sampler = MultiViewSampler(base=StrideSampler(num_frames=4, stride=2), num_views=1)
    return ClipDataset(root=root, records=records, sampler=sampler, size=32,
                            transform=ClipTransform(size=32, train=False), cache=cache,
                            rows=[cache.row[r.relpath] for r in records], on_bad_video=on_bad_video)


def test_decoded_clip_cache_is_reused_and_a_bad_video_leaves_no_partial_row(tmp_path: Path, monkeypatch) -> None:
    records = _videos(tmp_path / "videos")
    cache = DecodedClipCache(root=tmp_path / "cache", dataset_name="fake", fingerprint="x", records=records,
                             spec={"size": 32}, shape=(4, 32, 32, 3))
    cache.create()
    ds = _dataset(tmp_path / "videos", records, cache, on_bad_video="error")
    with pytest.raises(VideoDecodeError, match="bad.avi"):
        ds[3]
    assert cache.row_state(3) == PENDING  # nothing written for the failed video
    first = [ds[i] for i in range(3)]
    assert [cache.row_state(i) for i in range(4)] == [DONE, DONE, DONE, PENDING]

    skipping = _dataset(tmp_path / "videos", records, cache, on_bad_video="skip")
    assert skipping[3]["lengths"] == 0 and cache.row_state(3) == UNREADABLE
    frames = np.load(cache.dir / "frames.npy", mmap_mode="r")
    assert not frames[3].any()  # the bad row holds no frames

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(clips_module, "read_clip", no_decoding)
    reopened = DecodedClipCache(root=tmp_path / "cache", dataset_name="fake", fingerprint="x", records=records,
                                spec={"size": 32}, shape=(4, 32, 32, 3))
    again = _dataset(tmp_path / "videos", records, reopened)
    for i in range(3):
        torch.testing.assert_close(again[i]["x"], first[i]["x"])
    assert again[3]["lengths"] == 0  # known unreadable: skipped without decoding


def test_cached_clip_equals_the_decoded_one(tmp_path: Path) -> None:
    records = _videos(tmp_path / "videos", n=1)[:1]
    cache = DecodedClipCache(root=tmp_path / "cache", dataset_name="fake", fingerprint="x", records=records,
                             spec={"size": 32}, shape=(4, 32, 32, 3))
    cache.create()
    _dataset(tmp_path / "videos", records, cache)[0]
    clip, length = read_clip(tmp_path / "videos" / "A" / "v0.avi", StrideSampler(num_frames=4, stride=2), size=32)
    cached, cached_length = cache.get(0)
    assert np.array_equal(cached, clip) and cached_length == length == 4


def test_unreadable_videos_are_dropped_from_batches_and_listed(tiny_dataset) -> None:
    dm = _module(tiny_dataset)
    batch = {"x": torch.zeros(3, 4, 3, 24, 24), "lengths": torch.tensor([4, 0, 4]), "label": torch.tensor([0, 1, 2]),
             "index": torch.tensor([0, 1, 2])}
    out = dm.on_before_batch_transfer(batch, 0)
    assert out["index"].tolist() == [0, 2] and out["x"].shape[0] == 2
    assert dm.skipped == [dm.records["train"][1].relpath]
