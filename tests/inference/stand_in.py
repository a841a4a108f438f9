"""A tiny encoder and head of an end-to-end model, to test the ``pixels`` family without the CNN-RNN."""

from __future__ import annotations

import torch
from torch import nn

from ucfbench.models.heads.masking import valid_mask


class TinyConvEncoder(nn.Module):
    """(B, T, 3, H, W) ImageNet-normalised frames -> (B, T, width) conv features."""

    def __init__(self, *, width: int = 8, weights: str | None = None) -> None:
        super().__init__()
        self.model_name, self.out_dim = "tinyconv", width
        self.conv = nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))

    def describe(self) -> dict:
        return {"model": self.model_name, "dim": self.out_dim}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        return self.conv(x.flatten(0, 1)).view(b, t, -1)  # (B, T, W)


class AttentionPoolHead(nn.Module):
    """Additive attention over the valid frames, then a linear classifier; keeps its (B, T) weights."""

    def __init__(self, *, input_dim: int, num_classes: int) -> None:
        super().__init__()
        self.score = nn.Linear(input_dim, 1)
        self.fc = nn.Linear(input_dim, num_classes)
        self.weights: torch.Tensor | None = None

    def forward(self, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        scores = self.score(h).squeeze(-1).masked_fill(~valid_mask(lengths, h.shape[1]), float("-inf"))  # (B, T)
        self.weights = scores.softmax(-1)
        return self.fc((self.weights.unsqueeze(-1) * h).sum(1))

    def attention_over_time(self) -> torch.Tensor | None:
        return self.weights
