"""Per-epoch training history as a plain CSV, independent of any experiment logger."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback

from ucfbench.utils.io import atomic_write


class HistoryWriter(Callback):
    """Appends one row per epoch (train/val loss and metrics, learning rate) to ``history.csv``.

    Reports draw training curves from this file, so they work with ``logger=none`` and
    without access to W&B.

    The rows also travel in every checkpoint, so a resumed run continues from exactly the epochs
    its checkpoint had seen: an epoch finished after the checkpoint (and redone by the resume) is
    neither lost nor written twice, whatever the file held when the job was killed.
    """

    def __init__(self, *, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, float]] = []
        self._restored = False

    def state_dict(self) -> dict[str, list[dict[str, float]]]:
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state_dict: dict[str, list[dict[str, float]]]) -> None:
        self.rows = [dict(r) for r in state_dict["rows"]]
        self._restored = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # On resume (the loop state is restored by now), keep the epochs recorded before the checkpoint:
        # from the checkpoint, or (a checkpoint written before rows were saved in it) from the file.
        if not self._restored and self.path.is_file():
            with self.path.open() as f:
                self.rows = [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(f)]
        elif not self._restored:
            self.rows = []
        self.rows = [r for r in self.rows if r["epoch"] < trainer.current_epoch]
        self._restored = False

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        row = {"epoch": float(trainer.current_epoch)}
        row.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(("train/", "val/"))})
        if trainer.optimizers:
            row["lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])
        self.rows.append(row)
        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write(self.path, buf.getvalue(), hint="(or point hydra.run.dir at another disk)")
