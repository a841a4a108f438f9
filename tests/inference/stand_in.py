"""A tiny end-to-end model with the CNN-RNN's interface, to test the ``pixels`` family without it."""

from __future__ import annotations

import torch
from torch import nn

from ucfbench.models.heads.masking import valid_mask


class TinyPixelNet(nn.Module):
    """Per-frame conv features, additive attention over the valid frames, linear classifier.

    ``forward(x: (B, T, 3, H, W) ImageNet-normalised, lengths: (B,)) -> logits (B, C)``, and
    ``forward_with_attention`` also returns the (B, T) temporal weights, as the CNN-RNN does.
    """

    def __init__(self, *, num_classes: int, width: int = 8, weights: str | None = None) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.score = nn.Linear(width, 1)
        self.fc = nn.Linear(width, num_classes)

    def forward_with_attention(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t = x.shape[:2]
        h = self.conv(x.flatten(0, 1)).view(b, t, -1)  # (B, T, W)
        scores = self.score(h).squeeze(-1).masked_fill(~valid_mask(lengths, t), float("-inf"))  # (B, T)
        attention = scores.softmax(-1)
        return self.fc((attention.unsqueeze(-1) * h).sum(1)), attention

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.forward_with_attention(x, lengths)[0]
