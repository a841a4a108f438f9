"""Feature cache: keyed by everything that changes features, resumable, never half-written."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from ucfbench.backbones.frame_encoder import FrameEncoder, WeightsUnavailableError
from ucfbench.cache import extraction as extract_mod
from ucfbench.cache.extraction import extract_features, feature_cache
from ucfbench.cache.features import DONE, PENDING, FeatureSpec
from ucfbench.data.sampling import StrideSampler, UniformSampler

SPEC = FeatureSpec(arch="resnet18", weights=None, init_seed=0, size=32, sampler=UniformSampler(num_frames=8),
                   backend="pyav")


@pytest.mark.parametrize(
    "change",
    [
        {"arch": "resnet34"},
        {"weights": "IMAGENET1K_V1"},
        {"init_seed": 1},
        {"size": 48},
        {"sampler": UniformSampler(num_frames=16)},
        {"sampler": StrideSampler(num_frames=8, stride=2)},
        {"backend": "auto"},
    ],
)
def test_key_changes_with_every_setting(change: dict) -> None:
    assert dataclasses.replace(SPEC, **change).key("d", "f") != SPEC.key("d", "f")


def test_key_changes_with_dataset_and_files() -> None:
    assert SPEC.key("d", "f") == SPEC.key("d", "f")
    assert SPEC.key("other", "f") != SPEC.key("d", "f")
    assert SPEC.key("d", "changed-file-list") != SPEC.key("d", "f")


def test_fingerprint_follows_the_files(tiny_dataset, tmp_path: Path) -> None:
    before = tiny_dataset.fingerprint()
    assert before == tiny_dataset.fingerprint()
    video = tiny_dataset.root / tiny_dataset.records()[0].relpath
    stat = video.stat()
    try:
        import os

        os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        assert tiny_dataset.fingerprint() != before  # a rewritten video never reads stale features
    finally:
        os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _extract(dataset, root: Path, **kwargs):
    return extract_features(dataset, SPEC, root=root, batch_size=2, num_workers=0, accelerator="cpu", **kwargs)


def test_extraction_fills_a_complete_cache(tiny_dataset, tmp_path: Path) -> None:
    cache = _extract(tiny_dataset, tmp_path)
    feats, lengths = cache.load()
    n = len(tiny_dataset.records())
    assert feats.shape == (n, 8, 512) and feats.dtype == np.float16
    assert not feats.flags.writeable  # memory-mapped read-only
    assert (lengths == 8).all() and (cache.states() == DONE).all()
    assert np.isfinite(feats).all() and feats.std() > 0
    # Distinct videos give distinct features; a second call is a cache hit.
    assert not np.allclose(feats[0], feats[1])
    assert _extract(tiny_dataset, tmp_path).dir == cache.dir


def test_interrupted_extraction_resumes_without_losing_rows(tiny_dataset, tmp_path: Path, monkeypatch) -> None:
    reference, _ = _extract(tiny_dataset, tmp_path / "reference").load()

    calls = {"n": 0}
    original = extract_mod.CacheWriter.write_on_batch_end

    def crash_after_two_batches(self, *args, **kwargs):
        if calls["n"] == 2:
            raise RuntimeError("simulated crash")
        calls["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(extract_mod.CacheWriter, "write_on_batch_end", crash_after_two_batches)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _extract(tiny_dataset, tmp_path / "resumed")
    monkeypatch.undo()

    encoder = FrameEncoder(model="resnet18", weights=None)
    cache = feature_cache(tiny_dataset, SPEC, root=tmp_path / "resumed", dim=encoder.out_dim)
    state = cache.states()
    assert (state == DONE).sum() == 4 and (state == PENDING).sum() == len(state) - 4
    assert not cache.is_complete()
    with pytest.raises(RuntimeError, match="incomplete"):
        cache.load()
    done_before = np.flatnonzero(state == DONE)
    partial = np.load(cache.dir / "features.npy")[done_before].copy()

    seen: list[int] = []
    monkeypatch.setattr(extract_mod.CacheWriter, "write_on_batch_end",
                        lambda self, trainer, module, pred, *a, **k: (seen.extend(pred["row"].tolist()),
                                                                       original(self, trainer, module, pred, *a, **k)))
    resumed, _ = _extract(tiny_dataset, tmp_path / "resumed").load()
    assert sorted(seen) == np.flatnonzero(state == PENDING).tolist()  # only the missing rows were decoded
    np.testing.assert_array_equal(resumed[done_before], partial)  # earlier rows untouched
    np.testing.assert_allclose(resumed.astype(np.float32), reference.astype(np.float32), atol=1e-3)


def test_offline_imagenet_weights_error_says_what_to_do(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsUnavailableError) as err:
        FrameEncoder(model="resnet18", weights="IMAGENET1K_V1")
    message = str(err.value)
    assert "resnet18-f37072fd.pth" in message and str(tmp_path) in message
    assert "features.weights=null" in message


def test_random_backbone_is_seeded() -> None:
    a, b = FrameEncoder(weights=None), FrameEncoder(weights=None)
    c = FrameEncoder(weights=None, init_seed=1)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))
    assert all(not p.requires_grad for p in a.parameters())
    a.train()
    assert not a.net.training  # frozen BatchNorm stays in eval mode
