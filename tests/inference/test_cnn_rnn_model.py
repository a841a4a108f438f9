"""A real ``model=cnn_rnn`` run through the inference path: predict with attention, export to ONNX."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

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


def test_a_cnn_rnn_run_saved_as_one_network_loads(cnn_rnn_run: Path, held_out_videos, tmp_path: Path) -> None:
    """A run whose config has the CNN-RNN as one ``model.net`` (backbone keys in it) and whose
    checkpoint has ``net.backbone.*`` / ``net.head.*`` predicts as the encoder + head layout does."""
    old = tmp_path / "old-run"
    shutil.copytree(cnn_rnn_run, old)
    cfg = OmegaConf.load(old / "config.yaml")
    net = {**OmegaConf.to_container(cfg.model.encoder), **OmegaConf.to_container(cfg.model.net),
           "_target_": "ucfbench.models.cnn_rnn.CNNRNN"}
    del cfg.model.encoder
    cfg.model.net, cfg.model.input = net, "clips"
    OmegaConf.save(cfg, old / "config.yaml")
    for ckpt in (old / "checkpoints").glob("*.ckpt"):
        state = torch.load(ckpt, weights_only=False)
        state["state_dict"] = {k.replace("model.encoder.", "net.backbone.").replace("model.head.", "net.head."): v
                               for k, v in state["state_dict"].items()}
        torch.save(state, ckpt)
    assert not any(k.startswith("model.") for k in torch.load(ckpt, weights_only=False)["state_dict"])
    new, legacy = load_predictor(cnn_rnn_run), load_predictor(old)
    assert legacy.family == "pixels" and legacy.name == new.name
    for video in held_out_videos.values():
        a, b = new.predict(video), legacy.predict(video)
        np.testing.assert_array_equal(a.probs, b.probs)
        np.testing.assert_array_equal(a.attention, b.attention)
