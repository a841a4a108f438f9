"""The classification metrics: one definition for training, validation, test and the result files."""

from __future__ import annotations

from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy


def classification_metrics(num_classes: int) -> MetricCollection:
    """top-1, top-5 (video-level accuracy) and mean class accuracy.

    ``compute_groups=False``: torchmetrics would otherwise merge metrics whose states happen to be
    equal after the first update (top-1 and top-5 when the first batch is all correct, as after a
    resume) and report top-5 = top-1 from then on.
    """
    return MetricCollection({
        "top1": MulticlassAccuracy(num_classes, top_k=1, average="micro"),
        "top5": MulticlassAccuracy(num_classes, top_k=min(5, num_classes), average="micro"),
        "mean_class_acc": MulticlassAccuracy(num_classes, top_k=1, average="macro"),
    }, compute_groups=False)
