"""history.csv after a resume: the checkpoint's epochs, none lost, none twice."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

from ucfbench.eval.history import HistoryWriter


def test_rows_come_from_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    # The file also holds epoch 2, finished after the checkpoint (then the job was killed).
    path.write_text("epoch,train/loss\n0.0,1.5\n1.0,1.25\n2.0,1.0\n")
    writer = HistoryWriter(path=path)
    writer.load_state_dict({"rows": [{"epoch": 0.0, "train/loss": 1.5}, {"epoch": 1.0, "train/loss": 1.25}]})
    trainer = SimpleNamespace(current_epoch=2, sanity_checking=False, is_global_zero=True,
                              callback_metrics={"train/loss": 0.75}, optimizers=[])
    writer.on_train_start(trainer, None)
    writer.on_train_epoch_end(trainer, None)  # epoch 2 again, after the resume
    rows = list(csv.DictReader(path.open()))
    assert [(r["epoch"], r["train/loss"]) for r in rows] == [("0.0", "1.5"), ("1.0", "1.25"), ("2.0", "0.75")]
    assert writer.state_dict()["rows"][-1] == {"epoch": 2.0, "train/loss": 0.75}


def test_file_is_read_for_checkpoints_without_rows(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text("epoch,train/loss\n0.0,1.5\n1.0,1.25\n")
    writer = HistoryWriter(path=path)
    writer.on_train_start(SimpleNamespace(current_epoch=1), None)
    assert writer.rows == [{"epoch": 0.0, "train/loss": 1.5}]
