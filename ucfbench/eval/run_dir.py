"""Plain result files of a run: metrics.json, per_class.csv, confusion.csv, predictions.

Every file is written to a temporary name and renamed, so an interrupted run never leaves a
truncated result beside good ones.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import torch

from ucfbench.data.types import VideoRecord
from ucfbench.eval.metrics import confusion_matrix, summary_metrics, within_pair_accuracy
from ucfbench.utils.io import atomic_write


def _csv(rows: list[list]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def write_results(
    out_dir: str | Path,
    *,
    probs: torch.Tensor,
    labels: torch.Tensor,
    records: list[VideoRecord],
    classes: list[str],
    pairs: list[dict],
    info: dict,
) -> dict:
    """Write a run's test results and return the metrics dict written to ``metrics.json``.

    Args:
        out_dir: the run directory.
        probs: (N, C) test probabilities, row ``i`` for ``records[i]``.
        labels: (N,) true classes.
        records: the test videos.
        classes: class names.
        pairs: class pairs for within-pair accuracy (may be empty).
        info: identity and cost of the run (dataset, split, model, seed, params, ...).
    """
    out_dir = Path(out_dir)
    assert len(probs) == len(labels) == len(records), "one prediction per test video"
    metrics = {**info, **summary_metrics(probs, labels), "test_videos": len(records)}
    pair_acc = within_pair_accuracy(probs, labels, classes, pairs)
    if pair_acc:
        metrics["within_pair"] = pair_acc
        for kind in sorted({p["kind"] for p in pair_acc.values()}):
            accs = [p["acc"] for p in pair_acc.values() if p["kind"] == kind]
            metrics[f"within_pair_{kind}"] = float(np.mean(accs))

    conf = confusion_matrix(probs, labels).numpy()
    support = conf.sum(1)
    per_class = [["class", "index", "support", "correct", "accuracy", "most_confused_with"]]
    for i, name in enumerate(classes):
        off = conf[i].copy()
        off[i] = 0
        confused = classes[int(off.argmax())] if off.sum() else ""
        acc = conf[i, i] / support[i] if support[i] else float("nan")
        per_class.append([name, i, int(support[i]), int(conf[i, i]), f"{acc:.4f}", confused])

    pred = probs.argmax(1)
    predictions = [["video", "label", "pred", "prob"]] + [
        [r.relpath, classes[int(y)], classes[int(p)], f"{float(probs[i, p]):.4f}"]
        for i, (r, y, p) in enumerate(zip(records, labels, pred))
    ]
    buf = io.BytesIO()
    np.save(buf, probs.numpy().astype(np.float32))

    atomic_write(out_dir / "per_class.csv", _csv(per_class))
    atomic_write(out_dir / "confusion.csv", _csv([["true\\pred", *classes]] + [[c, *row.tolist()] for c, row in zip(classes, conf)]))
    atomic_write(out_dir / "predictions.csv", _csv(predictions))
    atomic_write(out_dir / "test_probs.npy", buf.getvalue())
    # metrics.json last: its presence means the run's results are complete.
    atomic_write(out_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return metrics
