"""Transformer encoder head (``model=transformer``): the UCF50 write-up's architecture, made to train."""

from __future__ import annotations

import torch
from torch import nn

from ucfbench.models.heads.masking import masked_mean, padding_mask
from ucfbench.models.heads.positional import TokenHead


class TransformerHead(TokenHead):
    """Projection, sinusoidal positions, a Transformer encoder, masked mean pool, linear classifier.

    Seed 003's Transformer (4 layers, 8 heads, d_model 512, feed-forward 2048; 13.68M parameters
    with 2048-d inputs and 50 classes) scored 3.14% on UCF50: its training loss sat at ln(50) from
    the first epoch. That was a training failure, not a property of attention. The seed used
    post-norm layers (``norm_first=False``) with Adam at 1e-3 and no warmup; see
    ``docs/transformer.md`` for the experiment and the mechanism. This head defaults to pre-norm
    layers with a final LayerNorm (+1,024 parameters), and ``conf/model/transformer.yaml`` to a
    smaller learning rate with linear warmup then cosine decay. ``norm_first=False`` rebuilds the
    seed's layers exactly (13,684,274 parameters) to reproduce the failure.

    Padded steps are masked out as attention keys and left out of the pooled mean, so they never
    change the output.

    Args:
        input_dim: feature size D.
        num_classes: number of classes C.
        d_model: width of the encoder (the input is projected to it).
        num_heads: attention heads per layer.
        num_layers: encoder layers.
        dim_feedforward: hidden size of each layer's feed-forward block.
        dropout: dropout inside the layers and before the classifier.
        activation: ``relu`` (the seed's) or ``gelu``.
        norm_first: pre-norm layers (LayerNorm before attention / feed-forward) plus a final
            LayerNorm; False gives the original post-norm layers that the seed used.
        input_dropout: dropout on the input features.
    """

    def __init__(
        self,
        *,
        input_dim: int,
        num_classes: int,
        d_model: int = 512,
        num_heads: int = 8,
        num_layers: int = 4,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "gelu",
        norm_first: bool = True,
        input_dropout: float = 0.0,
    ) -> None:
        super().__init__(input_dim=input_dim, d_model=d_model, num_heads=num_heads, input_dropout=input_dropout)
        layer = nn.TransformerEncoderLayer(
            d_model, num_heads, dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
            batch_first=True, norm_first=norm_first,
        )
        # Pre-norm leaves the residual stream unnormalised: it needs a final LayerNorm.
        self.encoder = nn.TransformerEncoder(
            layer, num_layers, norm=nn.LayerNorm(d_model) if norm_first else None, enable_nested_tensor=False,
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(d_model, num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        pad = padding_mask(x, lengths)  # (B, T)
        h = self.tokens(x)  # (B, T, d_model)
        h = self.encoder(h, src_key_padding_mask=pad)  # (B, T, d_model)
        return self.fc(self.dropout(masked_mean(h, lengths)))  # (B, d_model) -> (B, C)
