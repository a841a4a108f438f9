"""A timm backbone end to end on the tiny generated set: extract, train a head, predict, export to ONNX."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.conftest import make_cfg

TINY_TIMM = ["features=timm", "features.model=test_vit", "features.pool=cls_mean", "features.batch_size=4"]


def train_run(tiny_home: Path, run_dir: Path, overrides: list[str]) -> Path:
    from ucfbench.run import train

    train(make_cfg(tiny_home, ["debug=tiny", *overrides], run_dir=run_dir))
    return run_dir


@pytest.fixture(scope="module")
def timm_run(tiny_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GRU trained for two epochs on random-init ``test_vit`` features (CLS + mean patch token, 128-d)."""
    return train_run(tiny_home, tmp_path_factory.mktemp("timm-run") / "run", TINY_TIMM)


def test_run_records_the_backbone_and_predict_repeats_its_test_outputs(timm_run: Path) -> None:
    from ucfbench.inference.predictor import load_predictor

    metrics = json.loads((timm_run / "metrics.json").read_text())
    info = metrics["features"]  # run.py records FrameEncoder.describe() (``arch`` before it did)
    assert info.get("model", info.get("arch")) == "test_vit"
    spec = json.loads((Path(metrics["features"]["cache"]) / "spec.json").read_text())["spec"]
    assert (spec["library"], spec["pool"], spec["preprocess"]["mean"]) == ("timm", "cls_mean", [0.5, 0.5, 0.5])
    predictor = load_predictor(timm_run)
    assert predictor.trained.feature_dim == 128 and predictor.clip.crop == 32 and predictor.clip.size == 33
    cfg = OmegaConf.load(timm_run / "config.yaml")
    rows = list(csv.DictReader((timm_run / "predictions.csv").open()))
    probs = np.load(timm_run / "test_probs.npy")
    for i in range(0, len(rows), max(1, len(rows) // 3)):  # from the file = from the cache
        pred = predictor.predict(Path(cfg.dataset.root) / rows[i]["video"])
        np.testing.assert_allclose(pred.probs, probs[i], atol=1e-4)


def test_onnx_export_of_a_timm_backbone_keeps_parity(timm_run: Path, tmp_path: Path) -> None:
    from ucfbench.inference.model import load_trained
    from ucfbench.inference.onnx import export_onnx
    from ucfbench.inference.predictor import OnnxPredictor, load_predictor

    results = export_onnx(load_trained(timm_run), tmp_path)
    assert [r.kind for r in results] == ["head", "model"] and all(r.ok for r in results), [r.to_json() for r in results]
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["clip"]["mean"] == [0.5, 0.5, 0.5] and meta["clip"]["crop"] == 32  # the backbone's, not ImageNet's
    cfg = OmegaConf.load(timm_run / "config.yaml")
    video = Path(cfg.dataset.root) / next(csv.DictReader((timm_run / "predictions.csv").open()))["video"]
    onnx_probs = OnnxPredictor(tmp_path / "model.onnx").predict(video).probs
    np.testing.assert_allclose(onnx_probs, load_predictor(timm_run).predict(video).probs, atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("option", ["dinov2_vits14", "dinov2_vitb14", "clip_vitb16", "siglip_vitb16"])
def test_every_backbone_option_extracts_trains_and_predicts(option: str, tiny_home: Path, tmp_path: Path) -> None:
    from ucfbench.inference.predictor import load_predictor

    run = train_run(tiny_home, tmp_path / "run", [f"features={option}", "features.batch_size=4"])
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["top1"] <= 1.0
    cfg = OmegaConf.load(run / "config.yaml")
    row = next(csv.DictReader((run / "predictions.csv").open()))
    pred = load_predictor(run).predict(Path(cfg.dataset.root) / row["video"])
    assert pred.label == row["pred"]
