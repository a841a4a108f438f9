"""``ucfbench.run`` end to end on the tiny generated dataset."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ucfbench.loggers.identity import model_name
from ucfbench.run import train

REQUIRED_KEYS = {"dataset", "protocol", "split", "fold", "model", "seed", "top1", "top5", "mean_class_acc", "params",
                 "train_seconds", "epochs"}


def test_smoke_cli(tiny_home: Path, tmp_path: Path) -> None:
    """What a user types, in a fresh process: every output file appears and is well-formed."""
    run_dir = tmp_path / "cli-run"
    env = {**os.environ, "UCFBENCH_HOME": str(tiny_home)}
    proc = subprocess.run(
        [sys.executable, "-m", "ucfbench.run", "debug=tiny", f"hydra.run.dir={run_dir}"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert str(run_dir) in proc.stdout.replace("\n", "")  # tells the user where the results are

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert REQUIRED_KEYS <= metrics.keys()
    identity = ("dataset", "protocol", "split", "fold", "model", "seed")
    assert tuple(metrics[k] for k in identity) == ("synthetic", "official", 1, None, "gru", 42)
    for key in ("top1", "top5", "mean_class_acc"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["epochs"] == 2 and metrics["params"] > 0 and metrics["train_seconds"] > 0
    assert set(metrics["within_pair"]) == {"Grow/Shrink", "BlinkSlow/BlinkFast"}

    classes = ["Grow", "Shrink", "BlinkSlow", "BlinkFast"]
    rows = list(csv.DictReader((run_dir / "per_class.csv").open()))
    assert [r["class"] for r in rows] == classes
    confusion = list(csv.reader((run_dir / "confusion.csv").open()))
    assert confusion[0][1:] == classes
    counts = np.array([[int(v) for v in row[1:]] for row in confusion[1:]])
    assert counts.sum() == metrics["test_videos"] == sum(int(r["support"]) for r in rows)
    assert np.trace(counts) / counts.sum() == pytest.approx(metrics["top1"])
    assert (run_dir / "config.yaml").is_file() and (run_dir / "history.csv").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and Path(metrics["checkpoint"]).is_file()
    ckpt = torch.load(metrics["checkpoint"], map_location="cpu", weights_only=False)
    assert ckpt["class_names"] == classes


def test_same_seed_same_metrics(tiny_cfg, tmp_path: Path) -> None:
    first = train(tiny_cfg("trainer.max_epochs=3", run_dir=tmp_path / "a"))
    second = train(tiny_cfg("trainer.max_epochs=3", run_dir=tmp_path / "b"))
    for key in ("top1", "top5", "mean_class_acc", "best_val_top1"):
        assert first[key] == second[key], key
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "test_probs.npy"), np.load(tmp_path / "b" / "test_probs.npy"))


def test_mean_pool_and_csv_logger(tiny_cfg, tmp_path: Path) -> None:
    metrics = train(tiny_cfg("model=mean_pool", "logger=csv"))
    assert metrics["model"] == "mean_pool"
    assert (tmp_path / "run" / "csv" / "metrics.csv").is_file()


def test_resume_continues_from_last_checkpoint(tiny_cfg, tmp_path: Path) -> None:
    train(tiny_cfg("trainer.max_epochs=1"))
    metrics = train(tiny_cfg("trainer.max_epochs=3", "resume=true"))
    assert metrics["epochs"] == 3
    history = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    assert [float(r["epoch"]) for r in history] == [0.0, 1.0, 2.0]


@pytest.mark.slow
def test_wandb_logger_runs_offline_by_default(tiny_cfg, tmp_path: Path, monkeypatch) -> None:
    for var in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no `wandb login` credentials
    train(tiny_cfg("logger=wandb"))
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))


CNN_RNN_TINY = ("model=cnn_rnn", "data.sampler.num_frames=4", "data.size=16", "data.num_workers=0",
                "model.net.hidden_dim=16", "trainer.max_epochs=1")


def test_cnn_rnn_trains_from_pixels(tiny_cfg, tmp_path: Path) -> None:
    """The end-to-end model through the same pipeline: no feature cache, the same result files."""
    metrics = train(tiny_cfg(*CNN_RNN_TINY, "variant=no_attention"))
    assert metrics["model"] == "cnn_rnn/no_attention" and metrics["variant"] == "no_attention"
    assert metrics["features"]["end_to_end"] and metrics["clips"] == {"frames": 4, "size": 16, "test_views": 1}
    assert metrics["test_videos"] == len(np.load(tmp_path / "run" / "test_probs.npy"))
    assert metrics["params"] > 11e6  # the ResNet-18 is part of the model
    # The order diagnostics reorder the decoded frames of each test clip (docs/order.md).
    assert {"top1_reversed", "top1_shuffled", "reversal_flip_rate", "reversed_to_partner"} <= metrics.keys()


def test_variants_are_named_in_results() -> None:
    assert model_name({"model": "cnn_rnn", "variant": None}) == "cnn_rnn"
    assert model_name({"model": "cnn_rnn", "variant": "full"}) == "cnn_rnn"  # the reference row
    assert model_name({"model": "cnn_rnn", "variant": "resnet50"}) == "cnn_rnn/resnet50"


@pytest.mark.slow
def test_smoke_cli_cnn_rnn(tiny_home: Path, tmp_path: Path) -> None:
    """``python -m ucfbench.run model=cnn_rnn debug=tiny`` as a user runs it."""
    run_dir = tmp_path / "cli-cnn-rnn"
    env = {**os.environ, "UCFBENCH_HOME": str(tiny_home), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "ucfbench.run", "model=cnn_rnn", "debug=tiny", "data.test_views=2",
         "data.cache_decoded=true", f"hydra.run.dir={run_dir}"],
        env=env, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model"] == "cnn_rnn" and metrics["epochs"] == 2 and metrics["clips"]["test_views"] == 2
    assert 0.0 <= metrics["top1_shuffled"] <= 1.0  # every view of a video reordered alike
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert list((tiny_home / "cache" / "clips").glob("synthetic-*/state.npy"))  # the clip cache was used
    ckpt = torch.load(metrics["checkpoint"], map_location="cpu", weights_only=False)
    assert ckpt["class_names"] == ["Grow", "Shrink", "BlinkSlow", "BlinkFast"]
