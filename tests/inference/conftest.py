"""Fixtures for using trained models: a tiny trained run and held-out generated videos."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_cfg

TINY_CLASSES = ["Grow", "Shrink", "BlinkSlow", "BlinkFast"]  # conf/debug/tiny.yaml
HELD_OUT_GROUP = 50  # the tiny dataset has 6 groups: group 50's appearance was never generated


@pytest.fixture(scope="session")
def tiny_run(tiny_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GRU trained for two epochs on the tiny generated dataset (``debug=tiny``): its run directory."""
    from ucfbench.run import train

    run_dir = tmp_path_factory.mktemp("tiny-run") / "run"
    train(make_cfg(tiny_home, ["debug=tiny"], run_dir=run_dir))
    return run_dir


TINY_CNN_RNN = ["debug=tiny", "model=cnn_rnn", "data.sampler.num_frames=4", "data.size=16", "data.num_workers=0",
                "model.net.hidden_dim=16", "trainer.max_epochs=1"]


@pytest.fixture(scope="session")
def cnn_rnn_run(tiny_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CNN-RNN (``model=cnn_rnn``) trained for one epoch on the tiny dataset from 16 px pixels."""
    from ucfbench.run import train

    run_dir = tmp_path_factory.mktemp("cnn-rnn-run") / "run"
    train(make_cfg(tiny_home, TINY_CNN_RNN, run_dir=run_dir))
    return run_dir


@pytest.fixture(scope="session")
def held_out_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One new clip per tiny class, rendered like the tiny dataset but from a group it never had."""
    from ucfbench.data.synthetic_videos import SyntheticSpec, write_clip

    spec = SyntheticSpec(classes=tuple(TINY_CLASSES), groups=6, clips=1, size=32, frames=8)
    folder = tmp_path_factory.mktemp("held-out")
    return {name: write_clip(folder / f"{name}.avi", name, spec=spec, group=HELD_OUT_GROUP) for name in TINY_CLASSES}


@pytest.fixture(scope="session")
def bad_videos(held_out_videos: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Files that are not readable videos: garbage bytes, an empty file, and a truncated clip."""
    folder = tmp_path_factory.mktemp("bad")
    good = next(iter(held_out_videos.values())).read_bytes()
    garbage = folder / "garbage.avi"
    garbage.write_bytes(b"this is not a video" * 100)
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    truncated = folder / "truncated.avi"
    truncated.write_bytes(good[: len(good) // 3])
    return {"garbage": garbage, "empty": empty, "truncated": truncated}
