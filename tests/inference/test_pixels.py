"""The ``pixels`` family (a model that trains its encoder, such as the CNN-RNN), with a stand-in encoder and head."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from tests.inference.conftest import TINY_CLASSES
from tests.inference.stand_in import AttentionPoolHead, TinyConvEncoder
from ucfbench.app import attention_figure
from ucfbench.data.sampling import StrideSampler
from ucfbench.data.transforms import frames_to_input
from ucfbench.data.video import read_frames
from ucfbench.inference.onnx import export_onnx
from ucfbench.inference.predictor import OnnxPredictor, TorchPredictor, load_predictor
from ucfbench.models.classifier import VideoClassifier


@pytest.fixture(scope="module")
def pixel_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory as an end-to-end model writes it: its config selects clip sampling in ``data``."""
    run_dir = tmp_path_factory.mktemp("pixel-run")
    cfg = {
        "model": {"_target_": "ucfbench.models.module.ActionClassifier",
                  "encoder": {"_target_": "tests.inference.stand_in.TinyConvEncoder", "width": 8, "weights": "IMAGENET1K_V1"},
                  "net": {"_target_": "tests.inference.stand_in.AttentionPoolHead", "_partial_": True}},
        "data": {"sampler": {"_target_": "ucfbench.data.sampling.StrideSampler", "num_frames": 6, "stride": 1},
                 "size": 32, "backend": "auto"},
    }
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(cfg)))
    torch.manual_seed(0)
    net = VideoClassifier(encoder=TinyConvEncoder(width=8), head=AttentionPoolHead(input_dim=8, num_classes=len(TINY_CLASSES)))
    (run_dir / "checkpoints").mkdir()
    torch.save({"state_dict": {f"model.{k}": v for k, v in net.state_dict().items()}, "class_names": TINY_CLASSES,
                "hyper_parameters": {"num_classes": len(TINY_CLASSES)}}, run_dir / "checkpoints" / "last.ckpt")
    return run_dir


def test_pixel_model_predicts_with_attention(pixel_run: Path, held_out_videos) -> None:
    predictor = load_predictor(pixel_run)
    assert isinstance(predictor, TorchPredictor) and predictor.family == "pixels"
    assert predictor.clip.sampler == StrideSampler(num_frames=6, stride=1) and predictor.clip.size == 32
    net = predictor.trained.model
    for video in held_out_videos.values():
        pred = predictor.predict(video)
        frames, length = read_frames(video, StrideSampler(num_frames=6, stride=1), size=32)
        np.testing.assert_array_equal(pred.frames, frames)
        with torch.no_grad():
            logits, attention = net.forward_with_attention(frames_to_input(torch.from_numpy(frames))[None], torch.tensor([length]))
        np.testing.assert_allclose(pred.probs, logits.softmax(-1)[0].numpy(), atol=1e-6)
        assert pred.attention.shape == (6,) and pred.attention.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(pred.attention, attention[0].numpy(), atol=1e-6)
    fig = attention_figure(pred)  # the demo's plot: one bar per sampled frame, heights = the weights
    np.testing.assert_allclose([bar.get_height() for bar in fig.axes[0].patches], pred.attention)


def test_pixel_model_exports_to_onnx_and_predicts_from_it(pixel_run: Path, held_out_videos, tmp_path: Path) -> None:
    predictor = load_predictor(pixel_run)
    results = export_onnx(predictor.trained, tmp_path)
    assert [r.kind for r in results] == ["model"]  # no separate head: the whole network is one piece
    assert results[0].ok, results[0].to_json()
    onnx_predictor = load_predictor(tmp_path / "model.onnx")
    assert isinstance(onnx_predictor, OnnxPredictor) and onnx_predictor.class_names == TINY_CLASSES
    for video in held_out_videos.values():
        np.testing.assert_allclose(onnx_predictor.predict(video).probs, predictor.predict(video).probs, atol=1e-5)
