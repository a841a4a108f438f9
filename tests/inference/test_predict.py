"""``python -m ucfbench.predict``: a tiny trained model on held-out generated videos and bad files."""

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
from omegaconf import OmegaConf

from tests.inference.conftest import TINY_CLASSES
from ucfbench.data.transforms import frames_to_input
from ucfbench.inference.model import CheckpointError, resolve_checkpoint
from ucfbench.inference.predictor import TorchPredictor, load_predictor
from ucfbench.predict import main


def check_top5(row: dict) -> None:
    """A well-formed top-5: known labels, no repeats, sorted, probabilities summing to at most 1."""
    probs = [r["prob"] for r in row["top5"]]
    labels = [r["label"] for r in row["top5"]]
    assert len(row["top5"]) == min(5, len(TINY_CLASSES))
    assert set(labels) <= set(TINY_CLASSES) and len(set(labels)) == len(labels)
    assert probs == sorted(probs, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in probs) and sum(probs) <= 1.0 + 1e-6
    assert row["label"] == labels[0]


def test_cli_folder_json_goes_on_past_bad_files(tiny_run: Path, held_out_videos, bad_videos, tmp_path: Path) -> None:
    """What a user types, in a fresh process: one JSON line per file, bad files named, exit status 1."""
    folder = tmp_path / "videos"
    folder.mkdir()
    for path in [*held_out_videos.values(), *bad_videos.values()]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "notes.txt").write_text("not a video suffix: ignored in folder mode")
    proc = subprocess.run([sys.executable, "-m", "ucfbench.predict", f"checkpoint={tiny_run}", f"videos={folder}", "output=json"],
                          capture_output=True, text=True, timeout=600, env={**os.environ})
    assert proc.returncode == 1, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    by_name = {Path(r["video"]).name: r for r in rows}
    assert sorted(by_name) == sorted(p.name for p in [*held_out_videos.values(), *bad_videos.values()])
    for path in held_out_videos.values():
        assert "error" not in by_name[path.name]
        check_top5(by_name[path.name])
    for path in bad_videos.values():
        assert "top5" not in by_name[path.name]
        assert path.name in by_name[path.name]["error"]
    assert "3 of 7 video(s) could not be read" in proc.stderr


def test_predictions_repeat_the_runs_test_outputs(tiny_run: Path) -> None:
    """Predicting a test video from its file gives the probabilities the run's test wrote from the cache."""
    predictor = load_predictor(tiny_run)
    cfg = OmegaConf.load(tiny_run / "config.yaml")
    rows = list(csv.DictReader((tiny_run / "predictions.csv").open()))
    probs = np.load(tiny_run / "test_probs.npy")
    assert predictor.class_names == TINY_CLASSES
    for i in range(0, len(rows), max(1, len(rows) // 4)):
        pred = predictor.predict(Path(cfg.dataset.root) / rows[i]["video"])
        np.testing.assert_allclose(pred.probs, probs[i], atol=1e-5)
        assert pred.label == rows[i]["pred"]


def test_label_is_the_models_own_forward(tiny_run: Path, held_out_videos) -> None:
    predictor = load_predictor(tiny_run / "checkpoints" / "last.ckpt")  # a .ckpt inside its run works too
    assert isinstance(predictor, TorchPredictor) and predictor.family == "sequence_head"
    trained = predictor.trained
    for name, video in held_out_videos.items():
        pred = predictor.predict(video)
        assert pred.frames.shape == (8, 32, 32, 3) and pred.length == 8 and pred.attention is None
        with torch.no_grad():
            x = frames_to_input(torch.from_numpy(pred.frames))  # (T, 3, H, W)
            feats = trained.model.encoder(x).half().float().unsqueeze(0)  # (1, T, D), as the cache stores them
            logits = trained.head(feats, torch.tensor([8]))
        np.testing.assert_allclose(pred.probs, logits.softmax(-1)[0].numpy(), atol=1e-6)
        assert pred.top(5)[0]["label"] == TINY_CLASSES[int(logits.argmax())], name


def test_table_output_and_exit_status(tiny_run: Path, held_out_videos, bad_videos, capsys) -> None:
    video = held_out_videos["Grow"]
    assert main([f"checkpoint={tiny_run}", f"video={video}", f"video={held_out_videos['Shrink']}"]) == 0
    out = capsys.readouterr().out
    assert str(video) in out.replace("\n", "") and "%" in out
    assert sum(name in out for name in TINY_CLASSES) == 4  # every class of the top 4 named
    assert main([f"checkpoint={tiny_run}", f"video={bad_videos['garbage']}", f"video={video}"]) == 1
    captured = capsys.readouterr()
    assert "garbage.avi" in captured.err and "Grow" in captured.out


def test_missing_video_is_named_without_dataset_advice(tiny_run: Path, held_out_videos, tmp_path: Path,
                                                      capsys) -> None:
    missing = tmp_path / "not_there.avi"
    assert main([f"checkpoint={tiny_run}", f"video={missing}", f"video={held_out_videos['Grow']}"]) == 1
    err = capsys.readouterr().err
    assert f"{missing}: no such file" in err and "split lists" not in err


@pytest.mark.parametrize("argv", [
    [],  # no checkpoint
    ["checkpoint=/nonexistent/run"],
    ["video=a.avi"],
    ["checkpoint=RUN"],  # no video
    ["checkpoint=RUN", "video=a.avi", "output=xml"],
    ["checkpoint=RUN", "vidoes=folder"],  # a typo
])
def test_usage_errors_exit_2(argv: list[str], tiny_run: Path, capsys) -> None:
    argv = [a.replace("RUN", str(tiny_run)) for a in argv]
    assert main(argv) == 2
    assert "error:" in capsys.readouterr().err


def test_checkpoint_without_its_run_config_is_refused(tiny_run: Path, tmp_path: Path) -> None:
    lone = tmp_path / "model.ckpt"
    lone.write_bytes((tiny_run / "checkpoints" / "last.ckpt").read_bytes())
    with pytest.raises(CheckpointError, match="config.yaml"):
        resolve_checkpoint(lone)
    ckpt, run_dir = resolve_checkpoint(tiny_run)
    assert run_dir == tiny_run and ckpt.name.startswith("best")  # the checkpoint selected on validation
