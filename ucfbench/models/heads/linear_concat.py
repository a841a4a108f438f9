"""Linear probe on the frames concatenated in order (``model=linear_concat``): DINOv2's SSv2 protocol."""

from __future__ import annotations

import torch
from torch import nn

from ucfbench.models.heads.masking import valid_mask


class LinearConcatHead(nn.Module):
    """One linear layer on the ``num_frames`` frame features concatenated in order, (T*D) -> C.

    Each frame position has its own weights, so the head sees order, yet it has no notion of
    motion beyond what a linear function of the positions can express: the frozen-feature probe
    of DINOv2's SSv2 evaluation (8 frames) and of Chirality in Action.

    A video with fewer valid steps than ``num_frames`` (``lengths[b] < T``, or ``T < num_frames``)
    is zero-padded: its positions past ``lengths[b]`` contribute nothing. After the module's
    standardisation a zero is the training mean, the least informative input. Padding content
    therefore never changes the output. Inputs longer than ``num_frames`` are refused: the layer
    has weights for ``num_frames`` positions only.

    Args:
        input_dim: feature size D.
        num_classes: number of classes C.
        num_frames: positions the layer has weights for (the sampler's frames per video).
        dropout: dropout on the concatenated input.
    """

    def __init__(self, *, input_dim: int, num_classes: int, num_frames: int, dropout: float = 0.0) -> None:
        super().__init__()
        assert num_frames > 0, f"num_frames must be positive, got {num_frames}"
        self.num_frames = num_frames
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(num_frames * input_dim, num_classes)

    @property
    def max_frames(self) -> int:
        """The most time steps the layer takes (ONNX export checks parity up to it)."""
        return self.num_frames

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        if t > self.num_frames:
            raise ValueError(f"linear_concat has weights for {self.num_frames} frames (model.net.num_frames) "
                             f"but got {t}: set it to the sampler's features.sampler.num_frames")
        x = x * valid_mask(lengths, t).unsqueeze(-1).to(x.dtype)  # (B, T, D), padding zeroed
        x = nn.functional.pad(x, (0, 0, 0, self.num_frames - t))  # (B, num_frames, D)
        return self.fc(self.dropout(x.flatten(1)))  # (B, num_frames*D) -> (B, C)
