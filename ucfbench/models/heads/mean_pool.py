"""Temporal mean pooling (``model=mean_pool``): the order-blind baseline."""

from __future__ import annotations

import torch
from torch import nn

from ucfbench.models.heads.masking import masked_mean


class MeanPoolHead(nn.Module):
    """Averages the valid frames' features, then an MLP: blind to temporal order by design.

    On the synthetic set's time-reversed class pairs it must sit at chance, which is what makes
    it the control for every order-aware head.

    Args:
        input_dim: feature size D.
        num_classes: number of classes C.
        hidden_dim: width of the MLP's hidden layer (0: a single linear layer).
        dropout: dropout before each linear layer.
        input_dropout: dropout on the input features.
    """

    def __init__(
        self, *, input_dim: int, num_classes: int, hidden_dim: int = 512, dropout: float = 0.3,
        input_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_dropout = nn.Dropout(input_dropout)
        if hidden_dim > 0:
            self.mlp = nn.Sequential(
                nn.Dropout(dropout), nn.Linear(input_dim, hidden_dim), nn.ReLU(),
                nn.Dropout(dropout), nn.Linear(hidden_dim, num_classes),
            )
        else:
            self.mlp = nn.Sequential(nn.Dropout(dropout), nn.Linear(input_dim, num_classes))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.mlp(masked_mean(self.input_dropout(x), lengths))  # (B, D) -> (B, C)
