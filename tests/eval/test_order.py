"""Order diagnostics from test probabilities: the scalars, the per-class and per-pair tables."""

from __future__ import annotations

import csv
import json
import math
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
                                 probs_shuffled=_onehot([0, 1, 2])).metrics
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written == metrics
    assert (written["top1_reversed"], written["reversal_flip_rate"], written["reversed_to_partner"]) == \
        pytest.approx((1 / 3, 2 / 3, 1.0))
    assert len(list(csv.reader((tmp_path / "order.csv").open()))) == 1 + len(CLASSES)
    assert len(list(csv.reader((tmp_path / "order_pairs.csv").open()))) == 1 + len(PAIRS)


def _run(run_dir: Path, *, model: str, seed: int, reversed_preds: list[int], dataset: str = "synthetic",
         backbone: str = "resnet18", frames: int = 32) -> None:
    labels = torch.tensor([0, 1, 0, 1, 2, 4])
    records = [VideoRecord(f"{CLASSES[y]}/v{i}.avi", y) for i, y in enumerate(labels.tolist())]
    info = {"dataset": dataset, "split": 1, "protocol": "official", "model": model, "seed": seed, "params": 10,
            "features": {"model": backbone}, "num_classes": len(CLASSES)}
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(f"features:\n  sampler:\n    num_frames: {frames}\n")
    write_test_results(run_dir, probs=_onehot(labels.tolist()), labels=labels, records=records, classes=CLASSES,
                       pairs=PAIRS, info=info, probs_reversed=_onehot(reversed_preds),
                       probs_shuffled=_onehot(labels.tolist()))


def test_report_has_the_order_columns_table_and_figure(tmp_path: Path) -> None:
    from ucfbench.report import write_report

    forward = [0, 1, 0, 1, 2, 4]
    _run(tmp_path / "s" / "0", model="mean_pool", seed=0, reversed_preds=forward)
    _run(tmp_path / "s" / "1", model="gru", seed=0, reversed_preds=[1, 0, 1, 0, 2, 4])
    _run(tmp_path / "s" / "2", model="gru", seed=1, reversed_preds=[1, 0, 1, 1, 2, 4])
    report = write_report(tmp_path / "s", formats=("png",))
    rows = {r["model"]: r for r in csv.DictReader((tmp_path / "s" / "report.csv").open())}
    assert float(rows["mean_pool"]["top1_reversed_mean"]) == 1.0
    assert float(rows["mean_pool"]["reversal_flip_rate_mean"]) == 0.0
    assert float(rows["gru"]["reversed_to_partner_mean"]) == pytest.approx((1.0 + 0.75) / 2)
    assert float(rows["gru"]["top1_reversed_mean"]) == pytest.approx((2 / 6 + 3 / 6) / 2)
    assert rows["gru"]["top1_reversed_ci95_low"] and rows["mean_pool"]["top1_shuffled_ci95_high"]
    assert "top-1 reversed (%)" in report["markdown"] and "reversed → partner (%)" in report["markdown"]
    assert "Order diagnostics" in report["latex"]
    assert (tmp_path / "s" / "order.png").is_file()


def test_published_number_only_for_the_same_protocol(tmp_path: Path) -> None:
    from ucfbench.report import write_report

    forward = [0, 1, 0, 1, 2, 4]
    kw = {"seed": 0, "reversed_preds": forward, "dataset": "ucf101", "backbone": "vit_small_patch14_dinov2.lvd142m"}
    _run(tmp_path / "s" / "0", model="linear_mean", frames=8, **kw)
    _run(tmp_path / "s" / "1", model="gru", frames=8, **kw)  # another probe
    _run(tmp_path / "t" / "0", model="linear_mean", frames=32, **kw)  # other frames
    rows = {r["model"]: r for r in write_report(tmp_path / "s", plots=False)["rows"]}
    assert rows["linear_mean"]["published_top1"] == pytest.approx(0.870)
    assert "DINOv2" in rows["linear_mean"]["published_source"] and math.isnan(rows["gru"]["published_top1"])
    assert "published top-1 (%)" in (tmp_path / "s" / "report.md").read_text()
    assert math.isnan(write_report(tmp_path / "t", plots=False)["rows"][0]["published_top1"])
