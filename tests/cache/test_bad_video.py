"""A corrupt video stops extraction with its name, or is skipped and recorded; never half-written."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ucfbench.backbones.frame_encoder import FrameEncoder
from ucfbench.cache.extraction import extract_features
from ucfbench.cache.features import DONE, UNREADABLE, FeatureSpec
from ucfbench.data.base import DatasetError
from ucfbench.data.sampling import UniformSampler
from ucfbench.data.ucf101 import UCF101
from ucfbench.datamodules.feature_datamodule import FeatureDataModule

SPEC = FeatureSpec(arch="resnet18", weights=None, init_seed=0, size=32, sampler=UniformSampler(num_frames=8),
                   backend="auto")


@pytest.fixture
def damaged(tiny_dataset, tmp_path: Path) -> tuple[UCF101, str]:
    """A copy of the tiny dataset (read as UCF101) with one test video overwritten by garbage."""
    root = tmp_path / "damaged"
    shutil.copytree(tiny_dataset.root, root)
    dataset = UCF101(root=root, splits_dir=root, val_groups=1)
    bad = dataset.subset("test")[0].relpath
    (root / bad).write_bytes(b"this is not a video" * 50)
    return dataset, bad


def test_bad_video_stops_extraction_with_its_name(damaged, tmp_path: Path) -> None:
    dataset, bad = damaged
    with pytest.raises(Exception, match=Path(bad).name):
        extract_features(dataset, SPEC, root=tmp_path / "cache", batch_size=1, num_workers=0, accelerator="cpu")
    (entry,) = (tmp_path / "cache").iterdir()
    state = np.load(entry / "state.npy")
    row = [line for line in (entry / "videos.txt").read_text().splitlines()].index(bad)
    assert state[row] == 0  # nothing written for the bad video
    assert not (entry / "COMPLETE").exists()


def test_skip_records_the_bad_video_and_leaves_it_out(damaged, tmp_path: Path) -> None:
    dataset, bad = damaged
    cache = extract_features(dataset, SPEC, root=tmp_path / "cache", batch_size=2, num_workers=0,
                             accelerator="cpu", on_bad_video="skip")
    assert cache.unreadable() == [bad]
    ((video, why),) = cache.unreadable_videos()  # the decoder's error is kept with the row
    assert video == bad and Path(bad).name in why
    state = cache.states()
    assert (state == UNREADABLE).sum() == 1 and (state == DONE).sum() == len(state) - 1
    dataset.on_bad_video = "skip"
    encoder = FrameEncoder(model=SPEC.arch, weights=SPEC.weights, init_seed=SPEC.init_seed, size=SPEC.size)
    dm = FeatureDataModule(dataset=dataset, encoder=encoder, sampler=SPEC.sampler, backend=SPEC.backend,
                           cache_dir=tmp_path / "cache", extraction={"batch_size": 2, "num_workers": 0, "accelerator": "cpu"})
    dm.prepare_data()
    dm.setup()
    assert dm.cache.dir == cache.dir and dm.extracted == 0
    assert dm.skipped == [bad]
    assert bad not in {r.relpath for r in dm.records["test"]}
    assert len(dm.splits["test"]) == len(dataset.subset("test")) - 1
    # A later run that does not allow skipping refuses the cache and names the video.
    with pytest.raises(DatasetError, match=f"{bad}: .*{Path(bad).name}"):  # which video and why
        extract_features(dataset, SPEC, root=tmp_path / "cache", num_workers=0, accelerator="cpu")
