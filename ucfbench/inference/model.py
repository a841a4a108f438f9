"""A trained model rebuilt from its run: the network from frames to logits, and how to sample clips.

A run directory holds ``config.yaml`` (the resolved config) and ``checkpoints/*.ckpt``; together
they say everything needed to use the model, so nothing has to be re-specified. Two families:

* ``sequence_head``: a head trained on cached frame features (``model.input: features``). The frozen backbone is rebuilt from the saved ``features.*``
  (``features.encoder``: model, weights, pool, and for ``weights: null`` the same
  ``init_seed`` extraction used), frames are sampled with the saved ``features.sampler`` /
  ``backend`` and preprocessed as the backbone wants (size, crop, mean/std), and the features
  are rounded to float16 as the cache stores them, so a prediction repeats the run's test output.
* ``pixels``: an end-to-end network (the CNN-RNN, ``model.input: clips``) whose ``forward(x: (B, T, 3, H, W), lengths: (B,))``
  takes ImageNet-normalised frames. Clips are sampled with ``data.sampler`` / ``data.size`` /
  ``data.backend`` when the data config has them, else with the ``features`` ones.

Both become a network taking normalised float frames ``(B, T, 3, H, W)`` (the backbone's mean/std,
which :class:`ClipSpec` carries; ImageNet's for the ResNets) and ``lengths (B,)``, giving logits
``(B, C)``; that is also what ``model.onnx`` exports.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torchvision.transforms.v2.functional import center_crop

from ucfbench.backbones.frame_encoder import FrameEncoder
from ucfbench.data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize
from ucfbench.data.video import read_frames
from ucfbench.datamodules import model_input
from ucfbench.eval.run_dir import RunDir
from ucfbench.inference.build import (  # no Lightning, no Hydra: predict starts fast
    TrainedClassifier,
    build_net,
    instantiate,
)
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


class SequenceHeadModel(nn.Module):
    """Frozen frame encoder, then the trained classifier: frames (B, T, 3, H, W) -> logits (B, C).

    Frames are float, preprocessed as the backbone wants (:meth:`ClipSpec.to_input`).
    """

    def __init__(self, encoder: FrameEncoder, classifier: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.classifier = classifier  # TrainedClassifier (input standardisation + head)

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) preprocessed frames -> (B, T, D), rounded to float16 as extraction caches them."""
        return self.encoder(frames).half().float()  # (B, T, D)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(frames), lengths)

    def forward_with_attention(self, frames: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, None]:
        """Sequence heads have no single temporal weighting (self-attention heads have one per query)."""
        return self(frames, lengths), None


class PixelModel(nn.Module):
    """An end-to-end network over ImageNet-normalised frames: (B, T, 3, H, W), (B,) -> (B, C).

    Temporal attention is taken from the network when it has it: a ``forward_with_attention(x,
    lengths) -> (logits, (B, T) weights)`` method, or a ``last_attention`` (B, T) tensor it sets
    in ``forward``.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.net(frames, lengths)

    def forward_with_attention(self, frames: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if hasattr(self.net, "forward_with_attention"):
            return self.net.forward_with_attention(frames, lengths)
        logits = self.net(frames, lengths)
        return logits, getattr(self.net, "last_attention", None)


@dataclass
class TrainedModel:
    """Everything needed to use a trained run.

    Attributes:
        family: ``sequence_head`` or ``pixels``.
        model: the whole network, frames -> logits (eval mode, on CPU unless moved).
        clip: how to sample and size a video's frames.
        class_names: label order of the logits.
        checkpoint: the ``.ckpt`` file the weights came from.
        config: the run's resolved config.
        head: for ``sequence_head``, the classifier alone, features (B, T, D) -> logits.
        feature_dim: for ``sequence_head``, the backbone's feature size D.
    """

    family: str
    model: nn.Module
    clip: ClipSpec
    class_names: list[str]
    checkpoint: Path
    config: DictConfig
    head: nn.Module | None = None
    feature_dim: int | None = None
    meta: dict = field(default_factory=dict)

    @property
    def model_name(self) -> str:
        return self.config.model.net._target_.rsplit(".", 1)[-1]


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
    run_dir = run.path
    return ckpt, run_dir


def model_family(state: dict, cfg: DictConfig) -> str:
    """``sequence_head`` for a model that reads cached features, ``pixels`` for one that reads clips:
    the ``input`` the checkpoint saved (the run's config for a checkpoint without it)."""
    reads = state.get("hyper_parameters", {}).get("input") or model_input(cfg)
    return "sequence_head" if reads == "features" else "pixels"


def clip_spec(cfg: DictConfig, family: str) -> ClipSpec:
    """Sampling settings of the run: ``features.*`` for sequence heads, ``data.*`` (else ``features.*``) for pixels."""
    source = cfg.features
    if family == "pixels" and cfg.get("data") is not None and cfg.data.get("sampler") is not None:
        source = cfg.data
    size = source.get("size", cfg.features.size)
    return ClipSpec(sampler=instantiate(source.sampler), size=int(size), backend=source.get("backend", "auto") or "auto")


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
    family = model_family(state, cfg)
    num_classes = int(state.get("hyper_parameters", {}).get("num_classes") or 0)
    class_names = list(state.get("class_names") or [str(i) for i in range(num_classes)])
    if not class_names:
        raise CheckpointError(f"{ckpt}: holds neither class_names nor num_classes")
    clip = clip_spec(cfg, family)
    if family == "sequence_head":
        encoder = instantiate(encoder_config(cfg.features))
        pre = encoder.preprocessing
        clip = ClipSpec(sampler=clip.sampler, size=pre.resize, backend=clip.backend, crop=pre.size,
                        mean=pre.mean, std=pre.std)
        net = build_net(cfg.model.net, input_dim=encoder.out_dim, num_classes=len(class_names))
        classifier = TrainedClassifier(net=net, input_dim=encoder.out_dim, input_norm=cfg.model.get("input_norm", "none"))
        classifier.load_trained(state["state_dict"], source=ckpt)
        model = SequenceHeadModel(encoder, classifier)
        trained = TrainedModel(family=family, model=model, clip=clip, class_names=class_names, checkpoint=ckpt,
                               config=cfg, head=classifier, feature_dim=encoder.out_dim)
    else:
        net_cfg = OmegaConf.to_container(cfg.model.net, resolve=True)
        if "weights" in net_cfg:
            net_cfg["weights"] = None  # the checkpoint carries every weight: never fetch pretrained ones
        net = build_net(net_cfg, num_classes=len(class_names))
        prefix = "net."
        weights = {k[len(prefix):]: v for k, v in state["state_dict"].items() if k.startswith(prefix)}
        net.load_state_dict(weights)
        trained = TrainedModel(family=family, model=PixelModel(net), clip=clip, class_names=class_names,
                               checkpoint=ckpt, config=cfg)
    trained.model.eval().to(device)
    if trained.head is not None:
        trained.head.eval()
    log.info("Loaded %s (%s, %d classes) from %s", trained.model_name, family, len(class_names), ckpt)
    return trained
