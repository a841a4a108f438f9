"""A real ``model=cnn_rnn`` run through the inference path: predict with attention, export to ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ucfbench.inference.onnx import export_onnx
from ucfbench.inference.predictor import TorchPredictor, load_predictor


def test_cnn_rnn_run_predicts_with_attention_over_its_frames(cnn_rnn_run: Path, held_out_videos) -> None:
    predictor = load_predictor(cnn_rnn_run)
    assert isinstance(predictor, TorchPredictor) and predictor.family == "pixels"
    assert predictor.clip.size == 16 and predictor.clip.sampler.num_frames == 4
    pred = predictor.predict(next(iter(held_out_videos.values())))
    assert pred.probs.shape == (4,) and pred.probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert pred.attention.shape == (4,) and pred.attention.sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_cnn_rnn_run_exports_to_onnx(cnn_rnn_run: Path, held_out_videos, tmp_path: Path) -> None:
    predictor = load_predictor(cnn_rnn_run)
    results = export_onnx(predictor.trained, tmp_path)
    assert [r.kind for r in results] == ["model"] and results[0].ok, results[0].to_json()
    onnx_predictor = load_predictor(tmp_path / "model.onnx")
    for video in held_out_videos.values():
        np.testing.assert_allclose(onnx_predictor.predict(video).probs, predictor.predict(video).probs, atol=1e-5)
