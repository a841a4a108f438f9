"""A run directory and its files: the one place that names them (:class:`RunDir`), writes
``metrics.json`` and reads a finished run back (:func:`load_run`, for the report).

::

    <run dir>/config.yaml        the resolved config (written first)
              checkpoints/       best-epochNNN.ckpt (selected on validation), last.ckpt (resume)
              history.csv        one row per epoch (ucfbench.eval.history)
              per_class.csv      support, correct, accuracy, most-confused class per class
              confusion.csv      true x predicted counts
              predictions.csv    video, label, pred, prob per test video
              test_probs.npy     (N, C) float32 test probabilities, rows as predictions.csv
              order.csv          per class: top-1 forward / frames reversed / shuffled, flip rate
              order_pairs.csv    per class pair: within-pair accuracy reversed, reversed-to-partner
              skipped.txt        unreadable videos left out (dataset.on_bad_video=skip)
              metrics.json       written last: its presence means the results are complete

``metrics.json`` holds the run's identity (``dataset``, ``protocol``, ``split``, ``fold``,
``leaky``, ``model``, ``variant``, ``seed``), its cost (``params``, ``train_seconds``,
``epochs``), model selection (``best_val_top1``, ``checkpoint``), the data (``features`` or
``clips``, ``num_classes``, ``skipped``, ``test_videos``) and the test metrics (``top1``,
``top5``, ``mean_class_acc``, ``within_pair*``) with the order diagnostics (``top1_reversed``,
``top1_shuffled``, ``reversal_flip_rate``, ``reversed_to_partner``: :mod:`ucfbench.eval.order`).
Every file is written to a temporary name and renamed, so an interrupted run never leaves a
truncated result beside good ones.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console
from rich.table import Table

from ucfbench.eval.order import ORDER_KEYS, order_metrics
from ucfbench.utils.io import atomic_write

if TYPE_CHECKING:  # no torch, Lightning or torchmetrics for the readers (the report, predict)
    import lightning as L
    import torch

    from ucfbench.data.types import VideoRecord  # imports torch

log = logging.getLogger(__name__)


def _csv(rows: list[list]) -> str:
    """CSV text of ``rows``; floats with four decimals (the tables hold them rounded so)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([[f"{v:.4f}" if isinstance(v, float) else v for v in row]
                                                    for row in rows])
    return buf.getvalue()


METRICS = "metrics.json"


@dataclass(frozen=True)
class RunDir:
    """A run directory's paths, and which checkpoint stands for the run."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path).expanduser())

    config = property(lambda self: self.path / "config.yaml")
    metrics = property(lambda self: self.path / METRICS)
    checkpoints = property(lambda self: self.path / "checkpoints")
    last_checkpoint = property(lambda self: self.path / "checkpoints" / "last.ckpt")
    history = property(lambda self: self.path / "history.csv")
    per_class = property(lambda self: self.path / "per_class.csv")
    confusion = property(lambda self: self.path / "confusion.csv")
    predictions = property(lambda self: self.path / "predictions.csv")
    test_probs = property(lambda self: self.path / "test_probs.npy")
    skipped = property(lambda self: self.path / "skipped.txt")
    order = property(lambda self: self.path / "order.csv")
    order_pairs = property(lambda self: self.path / "order_pairs.csv")

    @classmethod
    def of_checkpoint(cls, ckpt: str | Path) -> RunDir:
        """The run directory holding ``ckpt`` (``<run dir>/checkpoints/*.ckpt``)."""
        ckpt = Path(ckpt)
        return cls(ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent)

    def checkpoint(self) -> Path | None:
        """The run's checkpoint: the one ``metrics.json`` names (selected on validation), else a
        ``best*.ckpt``, else ``last.ckpt``; None when there is none."""
        if self.metrics.is_file():
            named = json.loads(self.metrics.read_text()).get("checkpoint") or ""
            for candidate in (Path(named), self.checkpoints / Path(named).name):
                if named and candidate.is_file():
                    return candidate
        ckpts = sorted(self.checkpoints.glob("*.ckpt"))
        best = [c for c in ckpts if c.name.startswith("best")]
        last = [c for c in ckpts if c.name == "last.ckpt"]
        return (best or last or [None])[-1]

    @staticmethod
    def finished_under(root: str | Path) -> list[Path]:
        """The finished runs under ``root`` (recursively): each directory holding a ``metrics.json``."""
        return [p.parent for p in sorted(Path(root).rglob(METRICS), key=str)]


@dataclass(frozen=True)
class RunResults:
    """What :func:`write_test_results` wrote, for the loggers to mirror without reading it back."""

    metrics: dict  # metrics.json
    classes: list[str]  # confusion.csv's columns
    per_class: list[list]  # per_class.csv's rows, header first; accuracies rounded to 4 places
    predictions: list[list]  # predictions.csv's rows, header first; probabilities rounded to 4 places


def write_results(
    out_dir: str | Path,
    *,
    trainer: L.Trainer,
    model: L.LightningModule,
    datamodule: L.LightningDataModule,
    identity: dict,
    train_seconds: float,
) -> RunResults:
    """Write a finished run's result files from its trainer, model and DataModule; return what they hold.

    Args:
        out_dir: the run directory.
        trainer: the trainer after ``fit`` and ``test``.
        model: the module whose ``test_outputs`` hold the test probabilities.
        datamodule: the DataModule (dataset, test records, skipped videos, ``describe()``).
        identity: ``model`` (name in results), ``variant`` and ``seed``.
        train_seconds: time spent in ``fit``.
    """
    files = RunDir(out_dir)
    dataset = datamodule.dataset
    ckpt = trainer.checkpoint_callback
    best = ckpt.best_model_path if ckpt else ""
    info = {
        **dataset.describe(),
        **identity,
        **model.describe(),
        "train_seconds": round(train_seconds, 3),
        "epochs": trainer.current_epoch,
        "best_val_top1": float(ckpt.best_model_score) if best and ckpt.best_model_score is not None else None,
        "checkpoint": best,
        **datamodule.describe(),  # features: the cache's encoder; clips: the clip setting
        "num_classes": dataset.num_classes,
        "skipped": len(datamodule.skipped),
    }
    if datamodule.skipped:
        atomic_write(files.skipped, "".join(f"{v}\n" for v in datamodule.skipped))
        log.warning("%d unreadable video(s) skipped; listed in %s", len(datamodule.skipped), files.skipped)
    out = model.test_outputs
    records = datamodule.records["test"]
    return write_test_results(files.path, probs=out["probs"], labels=out["label"],
                              records=[records[i] for i in out["index"].tolist()],
                              classes=dataset.classes, pairs=dataset.pairs, info=info,
                              probs_reversed=out.get("probs_reversed"), probs_shuffled=out.get("probs_shuffled"))


def print_summary(metrics: dict, out_dir: Path) -> None:
    """The test metrics as a table on the terminal, and where the files are."""
    keys = ["top1", "top5", "mean_class_acc", *sorted(k for k in metrics if k.startswith("within_pair_"))]
    where = metrics.get("split_name") or metrics.get("protocol")
    console = Console()
    for title, columns in ((f"{metrics['model']} on {metrics['dataset']} ({where}), test split", keys),
                           ("order diagnostics (docs/order.md)", [k for k in ORDER_KEYS if metrics.get(k) is not None])):
        if columns:  # the order diagnostics in a second table: 80 columns hold both
            table = Table(*columns, title=title)
            table.add_row(*(f"{metrics[k]:.4f}" for k in columns))
            console.print(table)
    console.print(f"Results: {out_dir}  ({METRICS}, per_class.csv, confusion.csv, checkpoints/)")


def write_test_results(
    out_dir: str | Path,
    *,
    probs: torch.Tensor,
    labels: torch.Tensor,
    records: list[VideoRecord],
    classes: list[str],
    pairs: list[dict],
    info: dict,
    probs_reversed: torch.Tensor | None = None,
    probs_shuffled: torch.Tensor | None = None,
) -> RunResults:
    """Write a run's test results and return them (``metrics.json`` and the tables).

    Args:
        out_dir: the run directory.
        probs: (N, C) test probabilities, row ``i`` for ``records[i]``.
        labels: (N,) true classes.
        records: the test videos.
        classes: class names.
        pairs: class pairs for within-pair accuracy (may be empty).
        info: identity and cost of the run (dataset, split, model, seed, params, ...).
        probs_reversed, probs_shuffled: (N, C) test probabilities with each video's frames reversed /
            shuffled: the order diagnostics (``order.csv``, ``order_pairs.csv``); None: not measured.
    """
    from ucfbench.eval.metrics import confusion_matrix, summary_metrics, within_pair_metrics  # torchmetrics

    files = RunDir(out_dir)
    assert len(probs) == len(labels) == len(records), "one prediction per test video"
    metrics = {**info, **summary_metrics(probs, labels), "test_videos": len(records),
               **within_pair_metrics(probs, labels, classes, pairs)}
    if probs_reversed is not None and probs_shuffled is not None:
        order, order_classes, order_pairs = order_metrics(probs, probs_reversed, probs_shuffled, labels,
                                                          classes=classes, pairs=pairs)
        metrics.update(order)
        atomic_write(files.order, _csv(order_classes))
        if pairs:
            atomic_write(files.order_pairs, _csv(order_pairs))

    conf = confusion_matrix(probs, labels).numpy()
    support = conf.sum(1)
    per_class = [["class", "index", "support", "correct", "accuracy", "most_confused_with"]]
    for i, name in enumerate(classes):
        off = conf[i].copy()
        off[i] = 0
        confused = classes[int(off.argmax())] if off.sum() else ""
        acc = round(float(conf[i, i] / support[i]), 4) if support[i] else float("nan")
        per_class.append([name, i, int(support[i]), int(conf[i, i]), acc, confused])

    pred = probs.argmax(1)
    predictions = [["video", "label", "pred", "prob"]] + [
        [r.relpath, classes[int(y)], classes[int(p)], round(float(probs[i, p]), 4)]
        for i, (r, y, p) in enumerate(zip(records, labels, pred))
    ]
    buf = io.BytesIO()
    np.save(buf, probs.numpy().astype(np.float32))

    atomic_write(files.per_class, _csv(per_class))
    atomic_write(files.confusion, _csv([["true\\pred", *classes]] + [[c, *row.tolist()] for c, row in zip(classes, conf)]))
    atomic_write(files.predictions, _csv(predictions))
    atomic_write(files.test_probs, buf.getvalue())
    # metrics.json last: its presence means the run's results are complete.
    atomic_write(files.metrics, json.dumps(metrics, indent=2) + "\n")
    return RunResults(metrics=metrics, classes=list(classes), per_class=per_class, predictions=predictions)


# -- reading a finished run back (the report) ---------------------------------------------
REQUIRED = ("dataset", "split", "model", "seed", "top1", "top5", "mean_class_acc", "params")
Group = tuple[str, str, bool]  # (dataset, protocol family, leaky): the runs of one table


def group_of(row: dict) -> Group:
    """The group of a report row (:func:`ucfbench.eval.study.aggregate`)."""
    return row["dataset"], row["protocol"], row["leaky"]


@dataclass
class Run:
    """One finished run: its ``metrics.json`` and, where written, its per-video results."""

    path: Path
    metrics: dict
    classes: list[str] | None = None  # column order of probs and confusion
    videos: list[str] | None = None  # predictions.csv rows, in test_probs.npy row order
    labels: list[str] | None = None
    preds: list[str] | None = None
    probs: np.ndarray | None = None  # (N, C)
    confusion: np.ndarray | None = None  # (C, C) counts, rows = true class
    history: list[dict[str, float]] = field(default_factory=list)
    name_backbone: bool = False  # set by load_runs when the runs use more than one backbone

    @property
    def backbone(self) -> str | None:
        """The frame encoder's model name (``features.model``; ``arch`` in older runs)."""
        info = self.metrics.get("features") or {}
        return info.get("model") or info.get("arch")

    @property
    def model(self) -> str:
        """The row label: the head, plus ``@ backbone`` in a sweep over backbones (one row each)."""
        name = str(self.metrics["model"])
        return f"{name} @ {self.backbone}" if self.name_backbone and self.backbone else name

    @property
    def group(self) -> Group:
        m = self.metrics
        return str(m["dataset"]), run_protocol(m), bool(m.get("leaky", False))

    @property
    def split_id(self) -> str:
        return split_label(self.metrics)

    @property
    def pair_key(self) -> tuple:
        """Runs of different models with the same key saw the same test videos."""
        m = self.metrics
        return str(m["dataset"]), run_protocol(m), self.split_id, bool(m.get("leaky", False)), m["seed"]

    @property
    def num_classes(self) -> int | None:
        n = self.metrics.get("num_classes")
        return int(n) if n else (len(self.classes) if self.classes else None)

    def correct_count(self, key: str = "top1") -> tuple[int, int] | None:
        """(right, test videos) of accuracy ``key``: top-1 counted in predictions.csv where read, else
        ``key`` times ``test_videos``; None where either is missing."""
        if key == "top1" and self.labels is not None:
            return sum(y == p for y, p in zip(self.labels, self.preds)), len(self.labels)
        n, value = self.metrics.get("test_videos"), self.metrics.get(key)
        return (round(float(value) * int(n)), int(n)) if n and value is not None else None


def protocol_family(split: str) -> str:
    """``fold03`` -> ``logo``, ``split2`` -> ``official``; any other split name is its own family."""
    if re.fullmatch(r"fold\d+", split):
        return "logo"
    if re.fullmatch(r"split\d+", split):
        return "official"
    return split


def run_protocol(metrics: dict) -> str:
    """A run's protocol: its ``protocol`` field, else the family of its ``split`` string (older runs)."""
    if metrics.get("protocol") not in (None, ""):
        return str(metrics["protocol"])
    return protocol_family(str(metrics.get("split")))


def split_label(metrics: dict) -> str:
    """Which test set of the protocol a run was scored on: ``split1``, ``fold03``, ``random``.

    Reads separate ``split`` / ``fold`` fields (an integer becomes ``split2`` / ``fold03``) or the
    one string older runs wrote into ``split``.
    """
    def name(prefix: str, value: object) -> str:
        return f"{prefix}{int(value):{'02d' if prefix == 'fold' else 'd'}}" if isinstance(value, int) \
            or (isinstance(value, str) and value.isdigit()) else str(value)

    split, fold = metrics.get("split"), metrics.get("fold")
    parts = [name("split", split)] if split not in (None, "") else []
    if fold not in (None, ""):
        parts.append(name("fold", fold))
    return "/".join(parts) or "-"


def is_debug(run: Run) -> bool:
    """A run made with a ``debug=`` option (``metrics.json`` ``debug``, or Hydra's overrides.yaml)."""
    if run.metrics.get("debug"):
        return True
    overrides = run.path / ".hydra" / "overrides.yaml"
    return overrides.is_file() and re.search(r"^- \+?debug=", overrides.read_text(), re.M) is not None


def _float(value: str) -> float:
    return float(value) if value not in ("", None) else math.nan


def finished_metrics(run_dir: str | Path) -> dict | None:
    """The ``metrics.json`` of a run that finished (written last, so its presence means the results
    are complete), or ``None`` where it is missing, unreadable or lacks a test result."""
    try:
        metrics = json.loads(RunDir(run_dir).metrics.read_text())
    except (OSError, ValueError):
        return None
    return metrics if isinstance(metrics, dict) and all(k in metrics for k in REQUIRED) else None


def load_run(run_dir: str | Path) -> Run:
    """Read one run directory; files other than ``metrics.json`` are optional."""
    files = RunDir(run_dir)
    metrics = json.loads(files.metrics.read_text())
    missing = [k for k in REQUIRED if k not in metrics]
    if missing:
        raise ValueError(f"{files.metrics} lacks {missing}: not a finished ucfbench run; move it out of the sweep")
    run = Run(path=files.path, metrics=metrics)
    if (f := files.confusion).is_file():
        rows = list(csv.reader(f.open()))
        run.classes = rows[0][1:]
        run.confusion = np.array([[int(v) for v in r[1:]] for r in rows[1:]], dtype=np.int64)
    if (f := files.predictions).is_file():
        rows = list(csv.DictReader(f.open()))
        run.videos, run.labels, run.preds = ([r[k] for r in rows] for k in ("video", "label", "pred"))
    if (f := files.test_probs).is_file() and run.videos is not None:
        run.probs = np.load(f)
        if run.probs.shape[0] != len(run.videos):
            raise ValueError(f"{f}: {run.probs.shape[0]} rows but predictions.csv has {len(run.videos)} videos")
    if (f := files.history).is_file():
        run.history = [{k: _float(v) for k, v in r.items()} for r in csv.DictReader(f.open())]
    return run


def load_runs(root: str | Path) -> list[Run]:
    """Every run under ``root`` (recursively): each directory holding a ``metrics.json``."""
    paths = RunDir.finished_under(root)
    if not paths:
        raise FileNotFoundError(f"no {METRICS} under {root}: point the report at a run or multirun directory")
    runs = [load_run(p) for p in paths]
    if len({r.backbone for r in runs}) > 1:  # a sweep over features=: each backbone its own row
        for run in runs:
            run.name_backbone = True
    return runs
