"""Attentive probe (``model=attentive_probe``): learned queries cross-attend over the frames, as V-JEPA."""

from __future__ import annotations

import torch
from torch import nn

from ucfbench.models.heads.masking import padding_mask
from ucfbench.models.heads.positional import TokenHead


class AttentiveProbeHead(TokenHead):
    """Projection, temporal positions, one cross-attention block from learned queries, linear classifier.

    V-JEPA's frozen evaluation (its ``AttentivePooler``): ``num_queries`` learned query tokens
    attend over the frame tokens (pre-norm cross-attention, then an MLP, each with a residual);
    the queries' mean is classified by one linear layer. The frame features are projected to
    ``d_model`` and given sinusoidal temporal positions first (V-JEPA's tokens carry positions from
    its encoder; per-frame image features do not), so the head can tell the frames' order.

    Padded steps are masked out as keys: they never change the output.

    Args:
        input_dim: feature size D.
        num_classes: number of classes C.
        d_model: width of the tokens and queries.
        num_heads: attention heads.
        num_queries: learned query tokens (V-JEPA: 1 for classification).
        mlp_ratio: hidden width of the MLP, as a multiple of ``d_model``.
        dropout: dropout in the attention and MLP, and before the classifier.
        input_dropout: dropout on the input features.
    """

    def __init__(
        self,
        *,
        input_dim: int,
        num_classes: int,
        d_model: int = 256,
        num_heads: int = 8,
        num_queries: int = 1,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        input_dropout: float = 0.0,
    ) -> None:
        super().__init__(input_dim=input_dim, d_model=d_model, num_heads=num_heads, input_dropout=input_dropout)
        self.query = nn.Parameter(torch.randn(1, num_queries, d_model) * 0.02)
        self.norm_q, self.norm_kv = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, num_heads, dropout=dropout, batch_first=True)
        hidden = int(d_model * mlp_ratio)
        self.mlp = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, hidden), nn.GELU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, d_model))
        self.norm_out = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(d_model, num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        pad = padding_mask(x, lengths)  # (B, T)
        kv = self.norm_kv(self.tokens(x))  # (B, T, d_model)
        q = self.query.expand(x.shape[0], -1, -1)  # (B, Q, d_model)
        q = q + self.attn(self.norm_q(q), kv, kv, key_padding_mask=pad, need_weights=False)[0]  # (B, Q, d_model)
        q = q + self.mlp(q)
        return self.fc(self.dropout(self.norm_out(q).mean(1)))  # (B, d_model) -> (B, C)
