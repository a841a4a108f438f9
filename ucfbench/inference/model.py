"""A trained model rebuilt from its run: the :class:`VideoClassifier` from frames to logits, and how to sample clips.

A run directory holds ``config.yaml`` (the resolved config) and ``checkpoints/*.ckpt``; together
they say everything needed to use the model, so nothing has to be re-specified. Two families:

* ``sequence_head``: a head trained on cached frame features (no ``model.encoder``). Its frozen
  encoder is rebuilt from the saved ``features.encoder`` (model, weights, pool, and for
  ``weights: null`` the same ``init_seed`` extraction used), frames are sampled with the saved
  ``features.sampler`` / ``backend`` and preprocessed as the encoder wants (size, crop,
  mean/std), and the features are rounded to float16 as the cache stores them, so a prediction
  repeats the run's test output.
* ``pixels``: a model that trained its encoder (``model.encoder``, the CNN-RNN); every weight is
  in the checkpoint. Clips are sampled with ``data.sampler`` / ``data.size`` / ``data.backend``.

Both are a :class:`~ucfbench.models.classifier.VideoClassifier` taking normalised float frames
``(B, T, 3, H, W)`` (the encoder's mean/std, which :class:`ClipSpec` carries; ImageNet's for the
ResNets) and ``lengths (B,)``, giving logits ``(B, C)``; that is also what ``model.onnx`` exports.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torchvision.transforms.v2.functional import center_crop

from ucfbench.backbones.frame_encoder import FrameEncoder
from ucfbench.backbones.trainable import Backbone2D
from ucfbench.data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize
from ucfbench.data.video import read_frames
from ucfbench.datamodules import model_input
from ucfbench.eval.run_dir import RunDir
from ucfbench.inference.build import build_net, instantiate  # no Lightning, no Hydra: predict starts fast
from ucfbench.models.classifier import Standardize, VideoClassifier, upgrade_state_dict
from ucfbench.models.heads.temporal import TemporalHead
from ucfbench.utils.errors import UserError

log = logging.getLogger(__name__)


class CheckpointError(UserError, ValueError):
    """The checkpoint or run directory given cannot be used; the message says what to give instead."""


@dataclass(frozen=True)
class ClipSpec:
    """How a video becomes the model's input: which frames, at what size, read with which decoder,
    and the backbone's preprocessing (centre crop to ``crop``, ``mean``/``std``)."""

    sampler: object
    size: int  # short side the decoder scales to (and crops square)
    backend: str = "auto"
    crop: int | None = None  # the model's input size (None: ``size``)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def read(self, path: str | Path) -> tuple[np.ndarray, int]:
        """(T, size, size, 3) uint8 frames of ``path`` (deterministic, evaluation sampling) and the valid length."""
        return read_frames(path, self.sampler, size=self.size, backend=self.backend)

    def to_input(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 (T, H, W, 3) frames -> the model's float (T, 3, crop, crop) input."""
        x = torch.as_tensor(frames).movedim(-1, -3)  # (T, 3, H, W)
        crop = self.crop or self.size
        if tuple(x.shape[-2:]) != (crop, crop):
            x = center_crop(x, [crop, crop])
        return normalize(x, self.mean, self.std)

    def to_dict(self) -> dict:
        """JSON-able form (the sampler as a Hydra ``_target_`` node), for ONNX sidecars."""
        sampler = {"_target_": f"{type(self.sampler).__module__}.{type(self.sampler).__qualname__}",
                   **{k: v for k, v in vars(self.sampler).items() if not k.startswith("_")}}
        return {"sampler": sampler, "size": self.size, "backend": self.backend, "crop": self.crop or self.size,
                "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> ClipSpec:
        return cls(sampler=instantiate(d["sampler"]), size=int(d["size"]), backend=d.get("backend", "auto"),
                   crop=d.get("crop"), mean=tuple(d.get("mean", IMAGENET_MEAN)), std=tuple(d.get("std", IMAGENET_STD)))


@dataclass
class TrainedModel:
    """Everything needed to use a trained run.

    Attributes:
        family: ``sequence_head`` or ``pixels``.
        model: encoder + head, frames -> logits (eval mode, on CPU unless moved).
        clip: how to sample and size a video's frames.
        class_names: label order of the logits.
        checkpoint: the ``.ckpt`` file the weights came from.
        config: the run's resolved config.
    """

    family: str
    model: VideoClassifier
    clip: ClipSpec
    class_names: list[str]
    checkpoint: Path
    config: DictConfig

    @property
    def model_name(self) -> str:
        """The head's class name, after the encoder's name for a model that trained its encoder."""
        head = type(self.model.head).__name__
        encoder = getattr(self.model.encoder, "model_name", type(self.model.encoder).__name__)
        return f"{encoder} + {head}" if self.family == "pixels" else head

    @property
    def head(self) -> VideoClassifier | None:
        """For ``sequence_head``, the same classifier reading features (B, T, D) (what ``head.onnx`` exports)."""
        return self.model.without_encoder() if self.family == "sequence_head" else None

    @property
    def feature_dim(self) -> int:
        """The encoder's feature size D."""
        return int(self.model.encoder.out_dim)


def resolve_checkpoint(path: str | Path) -> tuple[Path, Path]:
    """(checkpoint file, run directory) for a run directory or a ``.ckpt`` inside one.

    A run directory gives the checkpoint its ``metrics.json`` names (the one selected on
    validation), else a ``best*.ckpt`` in ``checkpoints/``, else ``last.ckpt``.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise CheckpointError(f"{p}: no such checkpoint or run directory")
    if p.is_dir():
        run = RunDir(p)
        ckpt = run.checkpoint()
        if ckpt is None:
            raise CheckpointError(f"{p}: no checkpoints/*.ckpt in this run directory; give a run directory of a finished run or a .ckpt file")
    else:
        ckpt, run = p, RunDir.of_checkpoint(p)
    if not run.config.is_file():
        raise CheckpointError(
            f"{ckpt}: the run's saved config is missing ({run.config}); "
            "give the checkpoint inside its run directory (<run dir>/checkpoints/*.ckpt)"
        )
    return ckpt, run.path


def model_config(cfg: DictConfig) -> dict:
    """The run's ``model`` node as a plain dict in the encoder + head layout. A run saved with the
    CNN-RNN as one network (``model.net: CNNRNN``) gets its backbone keys as ``encoder``."""
    model = OmegaConf.to_container(cfg.model, resolve=True)
    net = model["net"]
    if str(net.get("_target_", "")).endswith(".CNNRNN"):
        keys = ("arch", "weights", "init_seed", "finetune_layers", "bn_eval")
        model["encoder"] = {"_target_": f"{Backbone2D.__module__}.Backbone2D", **{k: net.pop(k) for k in keys if k in net}}
        net.pop("input_dim", None)
        net["_target_"] = f"{TemporalHead.__module__}.TemporalHead"
    return model


def clip_spec(cfg: DictConfig, encoder: FrameEncoder, family: str) -> ClipSpec:
    """How the run sampled frames: ``features.*`` and the encoder's preprocessing for sequence
    heads, ``data.*`` (the clip transforms' ImageNet normalisation) for a model with its encoder."""
    if family == "pixels":
        return ClipSpec(sampler=instantiate(cfg.data.sampler), size=int(cfg.data.size),
                        backend=cfg.data.get("backend", "auto") or "auto")
    pre = encoder.preprocessing
    return ClipSpec(sampler=instantiate(cfg.features.sampler), size=pre.resize, crop=pre.size, mean=pre.mean,
                    std=pre.std, backend=cfg.features.get("backend", "auto") or "auto")


def encoder_config(features: DictConfig) -> dict:
    """The run's frozen frame encoder: ``features.encoder``, or for a run saved without it, the flat
    ``features.*`` keys (``arch`` in the oldest) as a :class:`FrameEncoder` config."""
    if "encoder" in features:
        return features.encoder
    keys = {k: features[k] for k in ("library", "weights", "pool", "size", "crop_pct", "init_seed") if k in features}
    return {"_target_": f"{FrameEncoder.__module__}.FrameEncoder", **keys, "model": features.get("model") or features.arch}


def _load_checkpoint(ckpt: Path) -> dict:
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
    except Exception as err:  # a truncated or foreign file: torch raises many kinds
        raise CheckpointError(f"{ckpt}: cannot be read as a PyTorch checkpoint ({err})") from err
    if not isinstance(state, dict) or "state_dict" not in state:
        raise CheckpointError(f"{ckpt}: not a Lightning checkpoint (no state_dict)")
    return state


def load_trained(path: str | Path, *, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild the trained model of a run directory or checkpoint, ready for inference."""
    ckpt, run_dir = resolve_checkpoint(path)
    cfg = OmegaConf.load(RunDir(run_dir).config)
    state = _load_checkpoint(ckpt)
    num_classes = int(state.get("hyper_parameters", {}).get("num_classes") or 0)
    class_names = list(state.get("class_names") or [str(i) for i in range(num_classes)])
    if not class_names:
        raise CheckpointError(f"{ckpt}: holds neither class_names nor num_classes")
    model_cfg = model_config(cfg)
    if model_input({"model": model_cfg}) == "clips":  # trained with the head: the checkpoint carries every weight
        family, encoder = "pixels", instantiate({**model_cfg["encoder"], "weights": None})
    else:  # the frozen encoder that filled the feature cache
        family, encoder = "sequence_head", instantiate(encoder_config(cfg.features))
    head = build_net(model_cfg["net"], input_dim=encoder.out_dim, num_classes=len(class_names))
    norm = Standardize(encoder.out_dim) if model_cfg.get("input_norm", "none") == "standardize" else None
    model = VideoClassifier(head=head, encoder=encoder, norm=norm,
                            feature_dtype=torch.float16 if family == "sequence_head" else None)
    weights = {k[len("model."):]: v for k, v in upgrade_state_dict(state["state_dict"]).items() if k.startswith("model.")}
    result = model.load_state_dict(weights, strict=False)
    # A sequence head's encoder comes from features.encoder, not from the checkpoint.
    missing = [k for k in result.missing_keys if family == "pixels" or not k.startswith("encoder.")]
    if missing or result.unexpected_keys:
        raise CheckpointError(f"{ckpt}: its weights do not fit the run's model "
                              f"(missing {sorted(missing)[:5]}, unexpected {sorted(result.unexpected_keys)[:5]})")
    trained = TrainedModel(family=family, model=model.eval().to(device), clip=clip_spec(cfg, encoder, family),
                           class_names=class_names, checkpoint=ckpt, config=cfg)
    log.info("Loaded %s (%s, %d classes) from %s", trained.model_name, family, len(class_names), ckpt)
    return trained
