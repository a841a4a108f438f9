"""Metrics computed from a run's test predictions (the numbers written to files)."""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional.classification import multiclass_confusion_matrix

from ucfbench.models.metrics import classification_metrics


def summary_metrics(probs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """top-1, top-5 and mean class accuracy of (N, C) probabilities, as fractions: the metrics the
    module logs during training (:func:`~ucfbench.models.metrics.classification_metrics`)."""
    return {k: v.item() for k, v in classification_metrics(probs.shape[1])(probs, labels).items()}


def confusion_matrix(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(C, C) counts: row = true class, column = predicted class."""
    return multiclass_confusion_matrix(probs, labels, probs.shape[1])


def within_pair_accuracy(
    probs: torch.Tensor, labels: torch.Tensor, classes: list[str], pairs: list[dict]
) -> dict[str, dict]:
    """Accuracy within each class pair: on the pair's videos, argmax over the pair's two classes.

    Chance is 0.5, and an order-blind model stays there on time-reversed pairs.

    Returns:
        ``{"A/B": {"kind": ..., "acc": ..., "videos": n}}`` for every pair with test videos.
    """
    index = {name: i for i, name in enumerate(classes)}
    out = {}
    for pair in pairs:
        a, b = (index[name] for name in pair["classes"])
        on_pair = (labels == a) | (labels == b)
        if not on_pair.any():
            continue
        pick_b = probs[on_pair, b] > probs[on_pair, a]
        correct = torch.where(pick_b, labels[on_pair] == b, labels[on_pair] == a)
        out["/".join(pair["classes"])] = {
            "kind": pair["kind"], "acc": correct.float().mean().item(), "videos": int(on_pair.sum())
        }
    return out


def within_pair_metrics(
    probs: torch.Tensor, labels: torch.Tensor, classes: list[str], pairs: list[dict]
) -> dict[str, dict | float]:
    """``within_pair`` (:func:`within_pair_accuracy`) and ``within_pair_<kind>``, the mean accuracy
    over the pairs of each kind; empty when no pair has test videos."""
    pair_acc = within_pair_accuracy(probs, labels, classes, pairs)
    out: dict[str, dict | float] = {"within_pair": pair_acc} if pair_acc else {}
    for kind in sorted({p["kind"] for p in pair_acc.values()}):
        out[f"within_pair_{kind}"] = float(np.mean([p["acc"] for p in pair_acc.values() if p["kind"] == kind]))
    return out
