"""``ucfbench check`` on every dataset kind, run as the user runs it."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from tests.conftest import REPO, make_cfg
from tests.data.test_datasets import UCF101_CLASSES, touch, write_ucf50, write_ucf101
from tests.utils import write_video
from ucfbench.check import check


def run_check(tmp_path: Path, *overrides: str) -> tuple[int, dict, str]:
    """Run the check command in a fresh process; return (exit status, last-line JSON, output)."""
    env = {**os.environ, "UCFBENCH_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "ucfbench.check", *overrides], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr[-3000:]
    return proc.returncode, json.loads(lines[-1]), proc.stdout


def tiny_clip(path: Path) -> Path:
    frames = np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
    return write_video(path, frames)


def test_check_ucf101_reports_missing_files(tmp_path: Path) -> None:
    root = write_ucf101(tmp_path / "data", groups=21, clips=1)
    (root / "HandstandPushups" / "v_HandStandPushups_g02_c01.avi").unlink()
    status, result, out = run_check(tmp_path, "dataset=ucf101", f"dataset.root={root}", "dataset.split=2")
    assert status == 1
    assert (result["dataset"], result["split"], result["classes"]) == ("ucf101", "split2", 3)
    assert result["train"] + result["val"] == 3 * 14 and result["test"] == 3 * 7
    assert result["missing"] == 1 and result["missing_files"] == ["HandstandPushups/v_HandStandPushups_g02_c01.avi"]
    assert result["unreadable"] == 0 and not result["probed"]
    assert [(f["fold"], f["test"]) for f in result["folds"]] == [(1, 21), (2, 21), (3, 21)]
    assert "v_HandStandPushups_g02_c01.avi" in out and ", ".join(UCF101_CLASSES) in out


def test_check_ucf50_folds(tmp_path: Path) -> None:
    relpaths = write_ucf50(tmp_path / "UCF50")
    status, result, out = run_check(tmp_path, "dataset=ucf50", f"dataset.root={tmp_path / 'UCF50'}", "dataset.fold=4")
    assert status == 0 and result["split"] == "fold04" and result["classes"] == 4 and result["missing"] == 0
    assert len(result["folds"]) == 25 and result["folds"][3] == {"fold": 4, "split": "fold04", **{
        k: result[k] for k in ("train", "val", "test")}}
    assert sum(f["test"] for f in result["folds"]) == len(relpaths)
    assert all(f["train"] + f["val"] + f["test"] == len(relpaths) for f in result["folds"])
    assert result["groups"]["test"] == 1 and "25 folds" in out


def check_here(tmp_path: Path, *overrides: str) -> tuple[dict, int, str]:
    """The check in this process (no start-up cost): (JSON summary, exit status, readable output)."""
    out = io.StringIO()
    result, status = check(make_cfg(tmp_path, list(overrides), run_dir=tmp_path), Console(file=out, width=200))
    return result, status, out.getvalue()


def test_check_ucf50_random_is_flagged_leaky(tmp_path: Path) -> None:
    write_ucf50(tmp_path / "UCF50", groups=5)
    result, status, out = check_here(tmp_path, "dataset=ucf50", f"dataset.root={tmp_path / 'UCF50'}",
                                     "dataset.protocol=random")
    assert status == 0 and result["leaky"] is True and result["split"] == "random" and result["folds"] == []
    assert "leaky: yes" in out


def test_check_hmdb51_real_splits(tmp_path: Path, shared_data: Path) -> None:
    lists = shutil.copytree(shared_data / "hmdb51_splits", tmp_path / "testTrainMulti_7030_splits")
    names = [f"{p.name.rsplit('_test_split', 1)[0]}/{line.split()[0]}"
             for p in lists.glob("*_test_split3.txt") for line in p.read_text().splitlines() if line.strip()]
    touch(tmp_path / "hmdb51", names)
    status, result, _ = run_check(tmp_path, "dataset=hmdb51", f"dataset.root={tmp_path / 'hmdb51'}", "dataset.split=3")
    assert status == 0 and result["classes"] == 51 and result["missing"] == 0
    assert (result["train"] + result["val"], result["test"]) == (3570, 1530)
    assert [(f["split"], f["train"] + f["val"], f["test"]) for f in result["folds"]] == [
        (f"split{k}", 3570, 1530) for k in (1, 2, 3)]


def test_check_folder_with_corrupt_videos(tmp_path: Path, shared_data: Path) -> None:
    """probe=true decodes every file and names the unreadable ones: empty, not a video, truncated."""
    root = tmp_path / "videos"
    for cls in ("jump", "run"):
        for i in range(3):
            tiny_clip(root / cls / f"{cls}{i}.avi")
    (root / "jump" / "empty.avi").touch()
    (root / "run" / "notes.avi").write_text("this is not a video\n")
    shutil.copy(shared_data / "real_clips" / "odd" / "corrupted.mp4", root / "run" / "corrupted.mp4")
    shutil.copy(shared_data / "real_clips" / "ucf101" / "v_PushUps_g02_c03.avi", root / "jump" / "pushups.avi")

    small = "dataset.val_fraction=0.25"  # 4 training videos per class: 0.1 would validate on none
    status, result, out = run_check(tmp_path, "dataset=folder", f"dataset.root={root}", small, "probe=true")
    assert status == 1 and result["probed"] and result["classes"] == 2
    assert result["train"] + result["val"] + result["test"] == 10 and result["missing"] == 0
    assert result["unreadable"] == 3
    assert sorted(result["unreadable_files"]) == ["jump/empty.avi", "run/corrupted.mp4", "run/notes.avi"]
    for name in ("empty.avi", "corrupted.mp4", "notes.avi"):
        assert name in out
    stats = result["stats"]
    assert stats["resolution"] == {"32x32": 6, "320x240": 1} and stats["frames"]["max"] == 79
    assert stats["fps"]["25.00"] == 7 and stats["duration_s"]["min"] == pytest.approx(8 / 25)

    result, status, _ = check_here(tmp_path, "dataset=folder", f"dataset.root={root}", small)  # without probing
    assert status == 0 and result["unreadable"] == 0 and not result["probed"]


def test_check_reports_a_wrong_root(tmp_path: Path) -> None:
    write_ucf50(tmp_path / "UCF50", groups=3)
    result, status, out = check_here(tmp_path, "dataset=ucf50", f"dataset.root={tmp_path}")
    assert status == 2 and f"set dataset.root={tmp_path / 'UCF50'}" in result["error"]
    assert "one level too high" in out
    result, status, _ = check_here(tmp_path, "dataset=ucf50", f"dataset.root={tmp_path / 'UCF50'}", "dataset.fold=30")
    assert status == 2 and "dataset.fold must be 1..25" in result["error"]
