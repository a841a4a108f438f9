"""Order diagnostics from test probabilities: the scalars, the per-class and per-pair tables."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from ucfbench.data.types import VideoRecord
from ucfbench.eval.order import order_metrics, reversed_partners
from ucfbench.eval.run_dir import write_test_results

CLASSES = ["Grow", "Shrink", "BlinkSlow", "BlinkFast", "Other"]
PAIRS = [{"kind": "reversed", "classes": ["Grow", "Shrink"]}, {"kind": "tempo", "classes": ["BlinkSlow", "BlinkFast"]}]


def _onehot(preds: list[int]) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(preds), len(CLASSES)).float()


def test_reversed_partners_only_for_reversed_pairs() -> None:
    assert reversed_partners(CLASSES, PAIRS) == {0: 1, 1: 0}


def test_order_metrics() -> None:
    labels = torch.tensor([0, 0, 1, 1, 2, 4])
    forward = _onehot([0, 0, 1, 0, 2, 4])
    reversed_ = _onehot([1, 0, 0, 0, 2, 3])  # Grow->Shrink, Grow stays, Shrink->Grow, wrong stays, Other flips
    shuffled = _onehot([0, 1, 1, 0, 2, 2])
    metrics, per_class, per_pair = order_metrics(forward, reversed_, shuffled, labels, classes=CLASSES, pairs=PAIRS)
    assert metrics["top1_reversed"] == pytest.approx(2 / 6)  # videos 2 (Grow kept) and 5 (Blink kept)
    assert metrics["top1_shuffled"] == pytest.approx(3 / 6)
    assert metrics["reversal_flip_rate"] == pytest.approx(3 / 6)  # videos 1, 3, 6 changed
    assert metrics["reversed_to_partner"] == pytest.approx(3 / 4)  # of the 4 Grow/Shrink videos
    rows = {r[0]: r for r in per_class[1:]}
    assert rows["Grow"][2:] == [2, "1.0000", "0.5000", "0.5000", "0.5000"]
    assert rows["Other"][2:] == [1, "1.0000", "0.0000", "0.0000", "1.0000"]
    assert rows["BlinkFast"][2:] == [0, "", "", "", ""]
    pairs = {r[0]: r for r in per_pair[1:]}
    assert pairs["Grow/Shrink"][1:] == ["reversed", 4, "0.2500", "0.7500"]
    assert pairs["BlinkSlow/BlinkFast"][1:] == ["tempo", 1, "1.0000", "0.0000"]


def test_no_reversed_pairs_no_partner_metric() -> None:
    labels = torch.tensor([2, 4])
    metrics, _, _ = order_metrics(_onehot([2, 4]), _onehot([2, 4]), _onehot([2, 4]), labels,
                                  classes=CLASSES, pairs=PAIRS[1:])
    assert "reversed_to_partner" not in metrics and metrics["reversal_flip_rate"] == 0.0


def test_run_files_hold_the_order_diagnostics(tmp_path: Path) -> None:
    labels = torch.tensor([0, 1, 2])
    records = [VideoRecord(f"{CLASSES[y]}/v{i}.avi", y) for i, y in enumerate(labels.tolist())]
    metrics = write_test_results(tmp_path, probs=_onehot([0, 1, 2]), labels=labels, records=records, classes=CLASSES,
                                 pairs=PAIRS, info={"model": "m"}, probs_reversed=_onehot([1, 0, 2]),
                                 probs_shuffled=_onehot([0, 1, 2]))
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written == metrics
    assert (written["top1_reversed"], written["reversal_flip_rate"], written["reversed_to_partner"]) == \
        pytest.approx((1 / 3, 2 / 3, 1.0))
    assert len(list(csv.reader((tmp_path / "order.csv").open()))) == 1 + len(CLASSES)
    assert len(list(csv.reader((tmp_path / "order_pairs.csv").open()))) == 1 + len(PAIRS)
