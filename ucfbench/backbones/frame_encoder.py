"""A frozen torchvision ResNet that turns frames into per-frame feature vectors."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torchvision
from torch import nn

log = logging.getLogger(__name__)

ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101")


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights were asked for but cannot be found or downloaded."""


def weights_file(arch: str, weights: str) -> tuple[object, Path]:
    """The torchvision weights enum for ``arch``/``weights`` and where torch.hub caches its file."""
    try:
        enum = torchvision.models.get_model_weights(arch)[weights]
    except KeyError as err:
        names = [w.name for w in torchvision.models.get_model_weights(arch)] + ["DEFAULT", "null"]
        raise ValueError(f"unknown weights {weights!r} for {arch}; choose one of {names}") from err
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    return enum, path


def build_resnet(arch: str, weights: str | None, *, init_seed: int = 0) -> nn.Module:
    """torchvision ResNet with pretrained ``weights`` or, for ``None``, a seeded random init."""
    if arch not in ARCHS:
        raise ValueError(f"features.arch must be one of {ARCHS}, got {arch!r}")
    if weights is None:
        # A random backbone must still be the same network every time: the cache key relies on it.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            return torchvision.models.get_model(arch, weights=None)
    enum, path = weights_file(arch, weights)
    try:
        return torchvision.models.get_model(arch, weights=enum)
    except (OSError, RuntimeError) as err:  # URLError is an OSError
        raise WeightsUnavailableError(
            f"could not load {arch} weights {weights} ({err}).\n"
            f"Offline? Download {enum.url} on a machine with internet and put it at {path} "
            f"(or set TORCH_HOME), or run with features.weights=null for a random backbone."
        ) from err


class FrameEncoder(nn.Module):
    """Frozen ResNet without its classifier: (N, 3, H, W) -> (N, D)."""

    def __init__(self, *, arch: str = "resnet18", weights: str | None = None, init_seed: int = 0) -> None:
        super().__init__()
        net = build_resnet(arch, weights, init_seed=init_seed)
        self.out_dim: int = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> FrameEncoder:
        # Frozen means BatchNorm statistics too: stay in eval mode whatever the trainer asks.
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
