"""A job killed between its best and its last checkpoint, then resumed: no ``-v1`` checkpoint, no
orphan, and ``metrics.json`` names the checkpoint the test used."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ucfbench.callbacks import AtomicCheckpointIO, RunCheckpoint

SHORT = ("trainer.max_epochs=4", "data.batch_size=4", "model.net.hidden_dim=32", "model.net.dropout=0.5")


class KillAfterBest(AtomicCheckpointIO):
    """``kill -9`` of this process right after its ``after``-th ``best-*.ckpt`` is written (before
    that epoch's ``last.ckpt``)."""

    def __init__(self, *, after: int) -> None:
        super().__init__()
        self.after, self.saved = after, 0

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        super().save_checkpoint(checkpoint, path, storage_options)
        if Path(path).name.startswith("best-"):
            self.saved += 1
            if self.saved == self.after:
                os.kill(os.getpid(), signal.SIGKILL)


class _Trainer:
    is_global_zero = True


def test_files_the_restored_state_does_not_track_are_removed(tmp_path: Path) -> None:
    for name in ("best-epoch001.ckpt", "best-epoch002.ckpt", "best-epoch002-v1.ckpt", "last.ckpt", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    callback = RunCheckpoint(dirpath=tmp_path, filename="best-epoch{epoch:03d}", monitor="val/top1", mode="max",
                             auto_insert_metric_name=False)
    callback.best_model_path = str(tmp_path / "best-epoch001.ckpt")  # what last.ckpt restored
    callback.best_k_models = {callback.best_model_path: torch.tensor(0.5)}
    callback.on_train_start(_Trainer(), None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best-epoch001.ckpt", "last.ckpt", "notes.txt"]


def test_a_checkpoint_saved_again_replaces_its_file(tmp_path: Path) -> None:
    callback = RunCheckpoint(dirpath=tmp_path, filename="best-epoch{epoch:03d}", monitor="val/top1", mode="max",
                             auto_insert_metric_name=False)
    (tmp_path / "best-epoch002.ckpt").write_bytes(b"x")
    path = callback._get_metric_interpolated_filepath_name({"epoch": torch.tensor(2)}, _Trainer())
    assert Path(path).name == "best-epoch002.ckpt"


def _best_saves(history: Path) -> list[int]:
    """Epochs at which val/top1 improved (the best checkpoint was saved)."""
    best, out = -1.0, []
    for row in csv.DictReader(history.open()):
        if float(row["val/top1"]) > best:
            best, out = float(row["val/top1"]), [*out, int(float(row["epoch"]))]
    return out


@pytest.mark.slow  # a reference run, a killed subprocess run and a resume: about a minute
def test_kill_between_checkpoint_saves_then_resume(tiny_cfg, tiny_home: Path, tmp_path: Path) -> None:
    from ucfbench.run import train

    reference = tmp_path / "reference"
    train(tiny_cfg(*SHORT, run_dir=reference))
    saves = _best_saves(reference / "history.csv")
    assert len(saves) >= 2 and saves[1] >= 1, saves  # the seed gives a second best epoch to kill after
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "ucfbench.run", "debug=tiny", *SHORT, f"hydra.run.dir={run_dir}",
         f"trainer.plugins=[{{_target_:{__name__}.KillAfterBest,after:2}}]"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "UCFBENCH_HOME": str(tiny_home), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == -9, proc.stdout[-2000:] + proc.stderr[-2000:]
    ckpts = run_dir / "checkpoints"
    assert (ckpts / f"best-epoch{saves[1]:03d}.ckpt").is_file()  # written; last.ckpt is of the epoch before
    assert torch.load(ckpts / "last.ckpt", map_location="cpu", weights_only=False)["epoch"] == saves[1] - 1
    metrics = train(tiny_cfg(*SHORT, "resume=true", run_dir=run_dir))
    expected = json.loads((reference / "metrics.json").read_text())["checkpoint"]
    assert Path(metrics["checkpoint"]).name == Path(expected).name
    assert sorted(p.name for p in ckpts.iterdir()) == sorted(["last.ckpt", Path(expected).name])  # no -v1, no orphan
    assert Path(metrics["checkpoint"]) == ckpts / Path(expected).name
    np.testing.assert_array_equal(np.load(run_dir / "test_probs.npy"), np.load(reference / "test_probs.npy"))
