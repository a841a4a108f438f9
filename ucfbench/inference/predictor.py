"""Predict the action in a video file with a trained model (a checkpoint or an exported ONNX file)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ucfbench.data.video import VideoDecodeError
from ucfbench.inference.model import CheckpointError, ClipSpec, TrainedModel, load_trained
from ucfbench.utils.commands import command

TOP_K = 5
ONNX_FORMAT = "ucfbench-onnx"
METADATA_KEY = "ucfbench"  # ONNX metadata_props key holding the same JSON as the sidecar


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


@dataclass
class Prediction:
    """What a model says about one video.

    Attributes:
        video: the file, as given.
        probs: (C,) class probabilities.
        class_names: label order of ``probs``.
        frames: (T, H, W, 3) uint8, the sampled frames the model saw.
        length: leading frames that are real (the rest repeat the last one).
        attention: (T,) temporal attention weights when the model has them, else None.
    """

    video: str
    probs: np.ndarray
    class_names: list[str]
    frames: np.ndarray
    length: int
    attention: np.ndarray | None = None

    def top(self, k: int = TOP_K) -> list[dict]:
        """The ``k`` most probable classes, most probable first: ``[{"label", "prob"}, ...]``."""
        order = np.argsort(-self.probs, kind="stable")[:k]
        return [{"label": self.class_names[i], "prob": float(self.probs[i])} for i in order]

    @property
    def label(self) -> str:
        return self.class_names[int(np.argmax(self.probs))]

    def to_json(self, k: int = TOP_K) -> dict:
        return {"video": self.video, "label": self.label, "top5": self.top(k), "frames": int(self.length)}


class Predictor:
    """Video file -> :class:`Prediction`. Subclasses run the network on normalised frames."""

    def __init__(self, *, clip: ClipSpec, class_names: list[str], family: str, source: str, name: str) -> None:
        self.clip = clip
        self.class_names = class_names
        self.family = family
        self.source = source  # the checkpoint or ONNX file
        self.name = name  # the network's class name, for display

    def logits(self, frames: torch.Tensor, lengths: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """(1, T, 3, H, W) normalised frames, (1,) lengths -> (1, C) logits and (1, T) attention or None."""
        raise NotImplementedError

    def predict(self, video: str | Path) -> Prediction:
        """Sample, decode and classify one video.

        Raises:
            VideoDecodeError: the file is missing, empty or not a readable video (the message names it).
        """
        if not Path(video).is_file():  # the reader's message points at dataset roots and split lists
            raise VideoDecodeError(f"{video}: no such file")
        frames, length = self.clip.read(video)  # (T, H, W, 3) uint8
        x = self.clip.to_input(torch.from_numpy(frames)).unsqueeze(0)  # (1, T, 3, H, W), the backbone's preprocessing
        logits, attention = self.logits(x, torch.tensor([length], dtype=torch.int64))
        return Prediction(video=str(video), probs=softmax(logits[0].astype(np.float64)), class_names=self.class_names,
                          frames=frames, length=int(length),
                          attention=None if attention is None else np.asarray(attention[0], dtype=np.float64))


class TorchPredictor(Predictor):
    """Runs the rebuilt PyTorch model of a run."""

    def __init__(self, trained: TrainedModel) -> None:
        super().__init__(clip=trained.clip, class_names=trained.class_names, family=trained.family,
                         source=str(trained.checkpoint), name=trained.model_name)
        self.trained = trained
        self.device = next(trained.model.parameters()).device

    def logits(self, frames: torch.Tensor, lengths: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        with torch.inference_mode():
            logits, attention = self.trained.model.forward_with_attention(frames.to(self.device), lengths.to(self.device))
        return logits.float().cpu().numpy(), None if attention is None else attention.float().cpu().numpy()


def read_onnx_meta(path: str | Path) -> dict:
    """The ucfbench description of an exported model: the sidecar JSON, else the model's metadata_props."""
    path = Path(path)
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        return json.loads(sidecar.read_text())
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return json.loads(prop.value)
    raise CheckpointError(f"{path}: no {sidecar.name} beside it and no '{METADATA_KEY}' metadata; "
                          f"export it with {command('export', 'checkpoint=<run dir>', quote=False)}")


class OnnxPredictor(Predictor):
    """Runs an exported whole model (``model.onnx``: frames, lengths -> logits) with onnxruntime."""

    def __init__(self, path: str | Path) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such ONNX file")
        meta = read_onnx_meta(path)
        if meta.get("format") != ONNX_FORMAT:
            raise CheckpointError(f"{path}: not a ucfbench export (format {meta.get('format')!r})")
        if meta.get("inputs", {}).get("frames") is None:
            raise CheckpointError(
                f"{path}: a head-alone export (its input is per-frame features, not frames); "
                f"give predict the whole model, {path.with_name('model.onnx')}"
            )
        super().__init__(clip=ClipSpec.from_dict(meta["clip"]), class_names=list(meta["class_names"]),
                         family=meta["family"], source=str(path), name=meta.get("model", "onnx"))
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.session.get_outputs()]

    def logits(self, frames: torch.Tensor, lengths: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        out = dict(zip(self.outputs, self.session.run(None, {"frames": frames.numpy(), "lengths": lengths.numpy()})))
        return out["logits"], out.get("attention")


def load_predictor(path: str | Path, *, device: str = "cpu") -> Predictor:
    """A predictor for a run directory, a ``.ckpt`` file, or an exported ``.onnx`` file."""
    if Path(path).suffix == ".onnx":
        return OnnxPredictor(path)
    return TorchPredictor(load_trained(path, device=device))
