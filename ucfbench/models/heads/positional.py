"""Sinusoidal positional encoding (Vaswani et al., 2017) and the attention heads' frame tokens."""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_encoding(length: int, dim: int, *, device: torch.device | None = None) -> torch.Tensor:
    """(T, D) table: ``sin(t / 10000^(2i/D))`` on even channels, ``cos`` on odd ones."""
    assert dim % 2 == 0, f"sinusoidal encoding needs an even dimension, got {dim}"
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)  # (T, 1)
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)
    return table


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the sinusoidal table to (B, T, D) inputs; no parameters, no length limit.

    Position ``t`` gets the same code whatever the sequence's length or padding, so a padded
    sample and the same sample run alone see identical encodings on their valid steps.
    """

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] == self.dim, f"expected (B, T, {self.dim}), got {tuple(x.shape)}"
        return x + sinusoidal_encoding(x.shape[1], self.dim, device=x.device).to(x.dtype)


class TokenHead(nn.Module):
    """Base of the attention heads: input dropout, a linear projection to ``d_model``, sinusoidal positions."""

    def __init__(self, *, input_dim: int, d_model: int, num_heads: int, input_dropout: float) -> None:
        super().__init__()
        assert d_model % num_heads == 0, f"d_model ({d_model}) must be divisible by num_heads ({num_heads})"
        self.input_dropout = nn.Dropout(input_dropout)
        self.proj = nn.Linear(input_dim, d_model)
        self.pos = SinusoidalPositionalEncoding(dim=d_model)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) features -> (B, T, d_model) tokens."""
        return self.pos(self.proj(self.input_dropout(x)))
