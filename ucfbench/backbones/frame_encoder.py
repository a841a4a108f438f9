"""The one frame encoder: frames (B, T, 3, H, W) -> per-frame features (B, T, D).

Feature extraction, inference and the CNN-RNN all build their image network here. Two sources:

* ``library="torchvision"``: the ResNets (``resnet18/34/50/101``), ImageNet weights by name
  (``IMAGENET1K_V1``), ImageNet mean/std, global average pooling.
* ``library="timm"``: any timm model (DINOv2, CLIP, SigLIP, ...), weights by pretrained tag
  (``lvd142m``, ``openai``, ``webli``) from the Hugging Face hub. Input size, mean/std, crop and
  interpolation come from the model's pretrained config (:func:`resolve_preprocess`).

``weights=None`` gives a seeded random init (tests, offline): the same network for the same
``init_seed``, so cached features stay valid. Pooling (``pool``) matters for ViTs: ``cls`` is the
model's own image embedding (the CLS token; SigLIP, which has none, its attention-pool head),
``mean`` the mean patch token, ``cls_mean`` both concatenated (DINOv2's linear-probe recipe,
2D features). CNNs have global average pooling only (``mean``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.transforms.v2 import functional as TF

from ucfbench.data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize
from ucfbench.utils.errors import UserError

log = logging.getLogger(__name__)

LIBRARIES = ("torchvision", "timm")
RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101")
POOLS = ("cls", "mean", "cls_mean")


class WeightsUnavailableError(UserError, RuntimeError):
    """Pretrained weights were asked for but cannot be found or downloaded."""


@dataclass(frozen=True)
class Preprocess:
    """How decoded uint8 frames become the backbone's input (timm's eval transform).

    The video decoder scales each frame's short side to ``resize`` and centre-crops it square;
    the encoder centre-crops ``size`` x ``size`` from that (``resize = size / crop_pct``) and
    normalises with ``mean``/``std``. ``interpolation`` is the backbone's; the decoder's own
    scaler (bilinear/area) does the short-side resize, the one step that differs from timm's.
    """

    size: int
    resize: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_pct: float = 1.0
    interpolation: str = "bilinear"

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _split_tag(model: str, weights: str | None) -> tuple[str, str]:
    """(architecture, pretrained tag) of a timm ``model`` (``arch`` or ``arch.tag``) and ``weights``.

    The tag is ``weights``; for ``default`` or None (random init) the one in the name, else
    timm's default tag for the architecture: its config still sets the preprocessing.
    """
    import timm.models

    arch, _, tag = model.partition(".")
    if weights not in (None, "default"):
        return arch, weights
    if tag:
        return arch, tag
    cfg = timm.models.get_pretrained_cfg(arch)
    if cfg is None:
        raise ValueError(f"features.model={arch!r} is not a timm model with a pretrained config (see timm.list_models())")
    return arch, cfg.tag


def _timm_pretrained_cfg(arch: str, tag: str | None) -> dict:
    import timm.models

    name = f"{arch}.{tag}"
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        known = timm.list_pretrained(f"{arch}.*")
        raise ValueError(f"timm has no pretrained config {name!r}; tags for {arch}: {[k.split('.', 1)[1] for k in known]}"
                         if known else f"features.model={arch!r} is not a timm model (see timm.list_models())")
    return cfg.to_dict()


def resolve_preprocess(*, library: str, model: str, weights: str | None, size: int | None = None,
                       crop_pct: float | None = None, patch: int | None = None) -> Preprocess:
    """The backbone's preprocessing; ``size``/``crop_pct`` override its pretrained config's.

    A ViT's input size is rounded down to a multiple of its patch size (``patch``), with a log line.
    """
    if library == "torchvision":
        if size is None:
            size = 224
        crop_pct = 1.0 if crop_pct is None else crop_pct  # as the UCF50 write-up: short side to size, centre crop
        return Preprocess(size=int(size), resize=math.floor(size / crop_pct), mean=IMAGENET_MEAN, std=IMAGENET_STD,
                          crop_pct=float(crop_pct), interpolation="bilinear")
    import timm.data

    arch, tag = _split_tag(model, weights)
    data = timm.data.resolve_data_config(pretrained_cfg=_timm_pretrained_cfg(arch, tag))
    size = int(size or data["input_size"][-1])
    if patch and size % patch:
        fitted = max(patch, size - size % patch)
        log.info("features.size=%d is not a multiple of %s's %d-pixel patches: using %d", size, arch, patch, fitted)
        size = fitted
    crop_pct = float(data.get("crop_pct") or 1.0) if crop_pct is None else float(crop_pct)
    return Preprocess(size=size, resize=math.floor(size / crop_pct), mean=tuple(data["mean"]), std=tuple(data["std"]),
                      crop_pct=crop_pct, interpolation=str(data.get("interpolation", "bicubic")))


def _hub_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _build_torchvision(model: str, weights: str | None, key: str) -> nn.Module:
    if model not in RESNETS:
        raise ValueError(f"features.model must be one of {RESNETS} with library=torchvision, got {model!r} "
                         "(other backbones come from timm: features=timm features.model=<name>)")
    if weights is None:
        return torchvision.models.get_model(model, weights=None)
    try:
        enum = torchvision.models.get_model_weights(model)[weights]
    except KeyError as err:
        names = [w.name for w in torchvision.models.get_model_weights(model)] + ["DEFAULT", "null"]
        raise ValueError(f"unknown weights {weights!r} for {model}; choose one of {names}") from err
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    try:
        return torchvision.models.get_model(model, weights=enum)
    except (OSError, RuntimeError) as err:  # URLError is an OSError
        raise WeightsUnavailableError(
            f"could not load {model} weights {weights} ({err}).\n"
            f"Offline? Download {enum.url} on a machine with internet and put it at {path} "
            f"(or set TORCH_HOME), or run with {key}=null for a random backbone."
        ) from err


def _build_timm(model: str, weights: str | None, size: int | None, key: str) -> nn.Module:
    import timm

    arch, tag = _split_tag(model, weights)
    name = f"{arch}.{tag}"

    def create(**kwargs) -> nn.Module:
        try:
            return timm.create_model(name, pretrained=weights is not None, num_classes=0, **kwargs)
        except TypeError:
            if not kwargs:
                raise
            return create()  # a CNN: no img_size; the input size is only the crop
        except Exception as err:  # hub errors come in many kinds (offline, missing file, HTTP)
            if weights is None:
                raise
            cache = _hub_cache()
            raise WeightsUnavailableError(
                f"could not load timm weights {name} ({type(err).__name__}). They are cached under {cache} "
                f"(HF_HOME/hub): on a machine with internet run `python -c \"import timm; "
                f"timm.create_model('{name}', pretrained=True)\"` and copy {cache}/models--timm--{arch}.* here, "
                f"or run with {key}=null for a random backbone."
            ) from err

    # ViTs: the position embedding is resampled to ``size`` on load.
    return create(img_size=size) if size is not None else create()


class FrameEncoder(nn.Module):
    """Image network applied to every frame: (..., 3, H, W) frames -> (..., D) features.

    uint8 frames are preprocessed here (centre crop to the input size, the backbone's mean/std);
    float frames are taken as already preprocessed (:meth:`preprocess`, or the clip transforms of
    end-to-end training). Leading dimensions are flattened for the network and restored: the one
    (B, T, 3, H, W) -> (B, T, D) reshape of the suite.

    Args:
        library: ``torchvision`` (ResNets) or ``timm`` (everything else).
        model: network name (``resnet18``, ``vit_small_patch14_dinov2``, any timm model name).
        weights: torchvision weights name or timm pretrained tag; None for a seeded random init.
        pool: ``cls``, ``mean`` or ``cls_mean`` (ViTs); ``mean`` (global average) for CNNs; None:
            the model's own (``cls`` for a ViT, ``mean`` for a CNN).
        size: input size; None takes the pretrained config's.
        crop_pct: input size / decoded short side; None takes the pretrained config's.
        init_seed: seed of the random init when ``weights`` is None.
        frozen: no parameter trains and BatchNorm stays in eval mode (features); the CNN-RNN
            passes False and decides itself what trains.
    """

    weights_key = "features.weights"  # the config key a message about missing weights names

    def __init__(
        self,
        *,
        library: str = "torchvision",
        model: str = "resnet18",
        weights: str | None = None,
        pool: str | None = "mean",
        size: int | None = None,
        crop_pct: float | None = None,
        init_seed: int = 0,
        frozen: bool = True,
    ) -> None:
        super().__init__()
        if library not in LIBRARIES:
            raise ValueError(f"features.library must be one of {LIBRARIES}, got {library!r}")
        if not model:
            raise ValueError("features.model is empty: name the network, e.g. features=timm features.model=convnext_tiny")
        if pool is not None and pool not in POOLS:
            raise ValueError(f"features.pool must be one of {POOLS} (or null: the model's own), got {pool!r}")
        if library == "timm":  # name the exact weights (timm's default tag may change between versions)
            arch, self.tag = _split_tag(model, weights)
            model, weights = arch, None if weights is None else self.tag
        self.library, self.model_name, self.weights, self.pool = library, model, weights, pool
        self.init_seed = init_seed
        name = f"{model}.{self.tag}" if library == "timm" else model  # the tag's config even for a random init
        net = self._build(library, name, weights, size, init_seed)
        if library == "torchvision":
            self.out_dim: int = net.fc.in_features
            net.fc = nn.Identity()  # (N, D) after global average pooling
            self.tokens = False
            pool = self.pool = pool or "mean"
        else:
            self.tokens = getattr(net, "num_prefix_tokens", None) is not None and hasattr(net, "patch_embed")
            pool = self.pool = pool or ("cls" if self.tokens else "mean")
            self.out_dim = int(net.num_features) * (2 if pool == "cls_mean" else 1)
        if not self.tokens and pool != "mean":
            raise ValueError(f"features.pool={pool} needs a ViT's tokens; {model} is a CNN with global average "
                             "pooling only: use features.pool=mean")
        patch = net.patch_embed.patch_size[0] if self.tokens else None
        self.preprocessing = resolve_preprocess(library=library, model=name, weights=weights, size=size,
                                                crop_pct=crop_pct, patch=patch)
        if self.tokens and tuple(net.patch_embed.img_size) != (self.preprocessing.size,) * 2:
            net = self._build(library, name, weights, self.preprocessing.size, init_seed)  # a size fitted to the patches
        self.net = net
        self.frozen = frozen
        if frozen:
            self.net.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(self.preprocessing.mean).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.preprocessing.std).view(3, 1, 1), persistent=False)

    @classmethod
    def _build(cls, library: str, model: str, weights: str | None, size: int | None, init_seed: int) -> nn.Module:
        # A random backbone must be the same network every time: the cache key relies on it.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            if library == "torchvision":
                return _build_torchvision(model, weights, cls.weights_key)
            return _build_timm(model, weights, size, cls.weights_key)

    def describe(self) -> dict:
        """What ``metrics.json`` records about the backbone."""
        return {"library": self.library, "model": self.model_name, "weights": self.weights, "pool": self.pool,
                "dim": self.out_dim, "preprocess": self.preprocessing.as_dict()}

    def train(self, mode: bool = True) -> FrameEncoder:
        # Frozen means BatchNorm statistics too: stay in eval mode whatever the trainer asks.
        return super().train(False if self.frozen else mode)

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (..., 3, H, W) -> float (..., 3, size, size): centre crop (resize if smaller), mean/std."""
        size = self.preprocessing.size
        x = frames
        if min(x.shape[-2:]) < size:  # frames smaller than the input: scale up (decoders give >= size)
            lead = x.shape[:-3]
            x = TF.resize(x.reshape(-1, *x.shape[-3:]), [size], antialias=True)
            x = x.reshape(*lead, *x.shape[-3:])
        if tuple(x.shape[-2:]) != (size, size):
            x = TF.center_crop(x, [size, size])
        return normalize(x, self.mean, self.std)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, size, size) preprocessed images -> (N, D)."""
        if not self.tokens:
            return self.net(x)  # (N, D): global average pooling
        tokens = self.net.forward_features(x)  # (N, prefix + patches, D')
        patches = tokens[:, self.net.num_prefix_tokens:].mean(1)  # (N, D')
        if self.pool == "mean":
            return patches
        own = self.net.forward_head(tokens, pre_logits=True)  # (N, D'): CLS token, or SigLIP's attention pool
        return own if self.pool == "cls" else torch.cat([own, patches], dim=-1)  # (N, 2D')

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        assert frames.ndim >= 4 and frames.shape[-3] == 3, f"expected (..., 3, H, W) frames, got {tuple(frames.shape)}"
        x = self.preprocess(frames) if frames.dtype == torch.uint8 else frames
        lead = x.shape[:-3]
        feats = self.embed(x.reshape(-1, *x.shape[-3:]))  # (B*T, D)
        return feats.reshape(*lead, feats.shape[-1])  # (B, T, D)
