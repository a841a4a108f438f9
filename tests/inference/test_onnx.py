"""ONNX export: recurrent heads without packing, parity with onnxruntime for every head, predict from ONNX."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from tests.conftest import make_cfg
from tests.models.test_heads import SEQUENCE_HEADS
from ucfbench.backbones.frame_encoder import FrameEncoder
from ucfbench.data.sampling import UniformSampler
from ucfbench.export import main as export_main
from ucfbench.inference.model import ClipSpec, TrainedModel
from ucfbench.inference.onnx import export_onnx
from ucfbench.inference.predictor import load_predictor
from ucfbench.models.classifier import Standardize, VideoClassifier
from ucfbench.models.heads.masking import reverse_within_length
from ucfbench.models.heads.recurrent import RecurrentHead
from ucfbench.predict import main as predict_main

B, T, D, C = 4, 12, 24, 5


def test_reverse_valid_reverses_only_the_valid_steps() -> None:
    x = torch.arange(2 * 5, dtype=torch.float32).view(2, 5, 1)
    out = reverse_within_length(x, torch.tensor([5, 3]))[..., 0]
    assert out.tolist() == [[4, 3, 2, 1, 0], [7, 6, 5, 8, 9]]


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", [torch.nn.GRU, torch.nn.LSTM, torch.nn.RNN])
def test_recurrent_heads_compute_what_a_packed_rnn_computes(cell: type, bidirectional: bool) -> None:
    """ValidStepRNN (the one way heads run an RNN; exportable) equals cuDNN-style packing over the valid
    steps, loads a checkpoint of ``nn.RNNBase`` weights, and starts from the same seeded weights."""
    from torch.nn.utils.rnn import pack_padded_sequence

    class Head(RecurrentHead):
        pass

    Head.cell = cell
    torch.manual_seed(0)
    head = Head(input_dim=D, num_classes=C, hidden_dim=8, num_layers=2, bidirectional=bidirectional).eval()
    torch.manual_seed(0)
    rnn = cell(D, 8, num_layers=2, batch_first=True, bidirectional=bidirectional)
    reference = {f"rnn.{k}": v for k, v in rnn.state_dict().items()} | {f"fc.{k}": v for k, v in head.fc.state_dict().items()}
    for key, value in reference.items():  # the same seed gives nn.RNNBase's initial weights
        if key.startswith("rnn."):
            name, layer = key[4:].rsplit("_l", 1)
            d = int(layer.endswith("_reverse"))
            torch.testing.assert_close(head.state_dict()[f"rnn.layers.{layer[0]}.{d}.{name}_l0"], value)
    head.load_state_dict(reference)
    x, lengths = torch.randn(B, T, D), torch.tensor([T, 7, 3, 1])
    with torch.no_grad():
        _, state = rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        h = (state[0] if isinstance(state, tuple) else state).view(2, 1 + bidirectional, B, 8)[-1]  # top layer
        expected = head.fc(h.transpose(0, 1).reshape(B, -1))
        torch.testing.assert_close(head(x, lengths), expected, rtol=1e-5, atol=1e-6)


def random_trained(name: str, root: Path) -> TrainedModel:
    """An untrained (random) classifier for head ``name`` over a random ResNet-18, as a run would build it."""
    cfg = make_cfg(root, ["debug=tiny", f"model={name}", "model.net.dropout=0.0"])
    torch.manual_seed(0)
    encoder = FrameEncoder(model="resnet18", weights=None, init_seed=0)
    classes = [f"class{i}" for i in range(C)]
    head = instantiate(cfg.model.net)(input_dim=encoder.out_dim, num_classes=C)
    norm = Standardize(encoder.out_dim)
    norm.set(torch.rand(encoder.out_dim), 0.5 + torch.rand(encoder.out_dim))
    model = VideoClassifier(head=head, encoder=encoder, norm=norm, feature_dtype=torch.float16)
    return TrainedModel(family="sequence_head", model=model.eval(),
                        clip=ClipSpec(sampler=UniformSampler(num_frames=8), size=32), class_names=classes,
                        checkpoint=root / "none.ckpt", config=cfg)


@pytest.mark.slow
@pytest.mark.parametrize("name", SEQUENCE_HEADS)
def test_every_head_exports_with_parity(name: str, tmp_path: Path) -> None:
    """The head alone and backbone + head, dynamic batch and time, within 1e-3 of PyTorch."""
    results = export_onnx(random_trained(name, tmp_path), tmp_path / "export")
    assert [r.kind for r in results] == ["head", "model"]
    for r in results:
        print(f"{name} {r.kind}: {r.exporter} exporter, max abs diff {r.max_abs_diff:.3g} over (B, T) {r.cases}")
        assert r.ok, r.to_json()


def test_export_cli_and_predict_from_onnx(tiny_run: Path, held_out_videos, tmp_path: Path, capsys) -> None:
    """The trained tiny GRU: export, parity report, and the same predictions from model.onnx."""
    out = tmp_path / "export"
    assert export_main([f"checkpoint={tiny_run}", "format=onnx", f"out={out}"]) == 0
    assert "model.onnx" in capsys.readouterr().out
    report = {Path(r["file"]).name: r for r in json.loads((out / "export.json").read_text())}
    assert set(report) == {"head.onnx", "model.onnx"}
    assert all(r["ok"] and r["max_abs_diff"] < 1e-3 for r in report.values()), report
    meta = json.loads((out / "model.json").read_text())
    assert meta["class_names"] == ["Grow", "Shrink", "BlinkSlow", "BlinkFast"] and meta["clip"]["size"] == 32

    torch_pred, onnx_pred = load_predictor(tiny_run), load_predictor(out / "model.onnx")
    for video in held_out_videos.values():
        a, b = torch_pred.predict(video), onnx_pred.predict(video)
        np.testing.assert_allclose(b.probs, a.probs, atol=1e-4)
        assert a.label == b.label
    # The sidecar is optional: the same description is inside the ONNX file.
    (out / "model.json").unlink()
    assert load_predictor(out / "model.onnx").class_names == torch_pred.class_names
    assert predict_main([f"checkpoint={out / 'head.onnx'}", f"video={held_out_videos['Grow']}"]) == 2
    assert "head-alone" in capsys.readouterr().err
    assert export_main([f"checkpoint={tiny_run}", "format=tflite"]) == 2
