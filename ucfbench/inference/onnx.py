"""Export a trained model to ONNX with dynamic batch and time axes, and check it against PyTorch.

Files written for a sequence head (``family: sequence_head``):

* ``model.onnx``: frozen backbone + head, ``frames (B, T, 3, H, W)`` float32 normalised with the
  backbone's mean/std (``clip`` in the sidecar) and ``lengths (B,)`` int64 -> ``logits (B, C)``.
  ``ucfbench predict`` accepts it.
* ``head.onnx``: the head alone (with the input standardisation it was trained with),
  ``x (B, T, D)`` per-frame features and ``lengths (B,)`` -> ``logits (B, C)``.

For an end-to-end model (``family: pixels``) only ``model.onnx``. Each file has a JSON sidecar
(``model.json``, ``head.json``; the same JSON is in the ONNX ``metadata_props`` under
``ucfbench``) with the class names and the clip settings, so predict needs nothing else.

Export uses torch's dynamo exporter (``torch.onnx.export(dynamo=True)`` with ``dynamic_shapes``)
and falls back to the TorchScript exporter (``dynamo=False`` with ``dynamic_axes``) where dynamo
fails. Recurrent heads run over valid steps with plain tensor ops
(:class:`~ucfbench.models.heads.recurrent.ValidStepRNN`), so they export as they train. The parity check runs PyTorch (the original modules) and onnxruntime on
random inputs of several batch sizes and lengths, padded samples included, and reports the
largest absolute difference of the logits.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ucfbench.inference.model import TrainedModel
from ucfbench.inference.predictor import METADATA_KEY, ONNX_FORMAT

log = logging.getLogger(__name__)

DEFAULT_TOL = 1e-3


@dataclass
class ExportResult:
    """One exported file and its parity check."""

    path: Path
    kind: str  # "model" (frames -> logits) or "head" (features -> logits)
    exporter: str  # "dynamo" or "torchscript"
    max_abs_diff: float
    cases: list[tuple[int, int]]  # (batch, time) of the checked inputs
    tol: float

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.max_abs_diff) and self.max_abs_diff <= self.tol)

    def to_json(self) -> dict:
        return {"file": str(self.path), "kind": self.kind, "exporter": self.exporter,
                "max_abs_diff": self.max_abs_diff, "cases": self.cases, "tol": self.tol, "ok": self.ok}


def _export(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, names: list[str], opset: int | None) -> str:
    """Write ``module`` to ``path`` with dynamic batch (axis 0 of every input) and time (axis 1 of the first)."""
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
    shapes = ({0: batch, 1: time}, {0: batch})  # by position: the ONNX input names are ours, not forward's
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, str(path), dynamo=True, input_names=names, output_names=["logits"],
                              dynamic_shapes=shapes, opset_version=opset, external_data=False, verbose=False)
        fixed = _fixed_axes(path, {names[0]: (0, 1), names[1]: (0,)})
        if not fixed:
            return "dynamo"
        # e.g. nn.RNN (tanh) is unrolled over the example's length: the time axis came out fixed.
        log.warning("dynamo export of %s fixed %s; using the TorchScript exporter", path.name, ", ".join(fixed))
    except Exception as err:  # the dynamo exporter raises many kinds; the fallback is reported
        log.warning("dynamo export of %s failed (%s: %s); using the TorchScript exporter",
                    path.name, type(err).__name__, (str(err).splitlines() or [""])[0][:200])
    axes = {names[0]: {0: "batch", 1: "time"}, names[1]: {0: "batch"}, "logits": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=False, input_names=names, output_names=["logits"],
                          dynamic_axes=axes, opset_version=opset or 17)
    return "torchscript"


def _fixed_axes(path: Path, axes: dict[str, tuple[int, ...]]) -> list[str]:
    """The axes among ``axes`` ({input: axis numbers}) that the ONNX file at ``path`` gives a fixed size."""
    import onnx

    fixed = []
    for value in onnx.load(str(path), load_external_data=False).graph.input:
        dims = value.type.tensor_type.shape.dim
        fixed += [f"{value.name} axis {a} = {dims[a].dim_value}" for a in axes.get(value.name, ())
                  if a < len(dims) and dims[a].HasField("dim_value")]
    return fixed


def _attach_meta(path: Path, meta: dict) -> None:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    prop = model.metadata_props.add()
    prop.key, prop.value = METADATA_KEY, json.dumps(meta)
    onnx.save(model, str(path))
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")


def _cases(num_frames: int, max_frames: int | None = None) -> list[tuple[int, int]]:
    """(batch, time) of the parity inputs: the trained length, shorter and longer ones, batch 1-3;
    no longer one for a head with weights for at most ``max_frames`` steps (``linear_concat``)."""
    t = max(2, num_frames)
    cases = [(1, t), (3, max(2, t // 2 + 1)), (2, t + 3)]
    return [(b, n) for b, n in cases if max_frames is None or n <= max_frames]


def _max_frames(module: nn.Module) -> int | None:
    """The most time steps ``module`` accepts: the smallest ``max_frames`` of its parts (None: any)."""
    limits = [m.max_frames for m in module.modules() if isinstance(getattr(m, "max_frames", None), int)]
    return min(limits) if limits else None


def parity(module: nn.Module, path: Path, make_input, cases: list[tuple[int, int]], names: list[str]) -> float:
    """Largest |PyTorch - onnxruntime| over the logits of ``cases``; the first sample of each batch is
    unpadded, the others have random lengths (padding filled with noise)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    for b, t in cases:
        x = make_input(b, t, gen)
        lengths = torch.randint(1, t + 1, (b,), generator=gen)
        lengths[0] = t
        with torch.inference_mode():
            ref = module(x, lengths).float().numpy()
        try:
            out = session.run(["logits"], {names[0]: x.numpy(), names[1]: lengths.numpy()})[0]
        except Exception as err:  # onnxruntime's errors (e.g. a fixed axis) fail the check, with the reason logged
            log.error("%s failed on input (B, T) = (%d, %d): %s", path.name, b, t, err)
            return float("inf")
        if out.shape != ref.shape:
            return float("inf")
        worst = max(worst, float(np.abs(out - ref).max()))
    return worst


def export_onnx(trained: TrainedModel, out_dir: str | Path, *, opset: int | None = None, tol: float = DEFAULT_TOL,
                heads_only: bool = False) -> list[ExportResult]:
    """Export ``trained`` to ``out_dir`` (``model.onnx`` and, for sequence heads, ``head.onnx``) and check parity."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    trained.model.cpu().eval()
    clip = trained.clip
    n = int(clip.sampler.num_frames)
    meta = {"format": ONNX_FORMAT, "version": 1, "family": trained.family, "model": trained.model_name,
            "class_names": trained.class_names, "clip": clip.to_dict(), "checkpoint": str(trained.checkpoint),
            "outputs": {"logits": "(B, C) float32"}}
    results = []
    jobs = []
    head = trained.head
    if head is not None:
        d = trained.feature_dim

        def features(b: int, t: int, gen: torch.Generator) -> torch.Tensor:
            # Around the training inputs' statistics, so the standardisation sees plausible values.
            mean, std = getattr(head.norm, "mean", torch.zeros(d)), getattr(head.norm, "std", torch.ones(d))
            return mean + std * torch.randn(b, t, d, generator=gen)  # (B, T, D)

        backbone = trained.model.encoder.model_name
        jobs.append(("head", head, features, ["x", "lengths"],
                     {"x": f"(B, T, {d}) float32 per-frame {backbone} features", "lengths": "(B,) int64"}))
    if not heads_only:
        size = clip.crop or clip.size

        def frames(b: int, t: int, gen: torch.Generator) -> torch.Tensor:
            return torch.randn(b, t, 3, size, size, generator=gen)  # (B, T, 3, H, W)

        jobs.append(("model", trained.model, frames, ["frames", "lengths"],
                     {"frames": f"(B, T, 3, {size}, {size}) float32 RGB normalised with clip.mean/std", "lengths": "(B,) int64"}))
    for kind, module, make_input, names, inputs in jobs:
        path = out_dir / f"{kind}.onnx"
        gen = torch.Generator().manual_seed(1)
        limit = _max_frames(module)
        t = min(5, limit or 5)
        example = (make_input(2, t, gen), torch.tensor([t, max(1, t - 2)]))
        exporter = _export(module, example, path, names, opset)
        _attach_meta(path, {**meta, "kind": kind, "inputs": inputs, "exporter": exporter})
        cases = _cases(n, limit)
        diff = parity(module, path, make_input, cases, names)
        results.append(ExportResult(path=path, kind=kind, exporter=exporter, max_abs_diff=diff, cases=cases, tol=tol))
        log.info("%s: %s exporter, max |torch - onnxruntime| = %.3g over (B, T) %s", path, exporter, diff, cases)
    return results
