"""The CNN-RNN's temporal head: (Bi)LSTM over the valid steps, temporal self-attention, masked mean.

With its trainable ResNet (:class:`~ucfbench.backbones.trainable.Backbone2D`) it is the CNN-RNN
write-up's end-to-end network (``model=cnn_rnn``). Padding never changes the output in eval mode:
the LSTM runs each direction over the valid steps only, attention ignores padded keys, and
pooling averages valid steps.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ucfbench.models.heads.masking import masked_mean, valid_mask
from ucfbench.models.heads.recurrent import ValidStepRNN


class TemporalAttention(nn.Module):
    """Dot-product self-attention over time with query/key/value projections (seed 000's).

    Keeps the last call's weights in ``last_weights`` (B, T, T): row ``i`` is how much step ``i``
    attends to every step; padded keys get weight 0.
    """

    def __init__(self, feature_dim: int, attention_dim: int = 256) -> None:
        super().__init__()
        self.query_proj = nn.Linear(feature_dim, attention_dim)
        self.key_proj = nn.Linear(feature_dim, attention_dim)
        self.value_proj = nn.Linear(feature_dim, feature_dim)
        self.scale = 1.0 / math.sqrt(attention_dim)
        self.last_weights: torch.Tensor | None = None
        self.last_mask: torch.Tensor | None = None

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q, k, v = self.query_proj(h), self.key_proj(h), self.value_proj(h)  # (B, T, A), (B, T, A), (B, T, D)
        scores = torch.bmm(q, k.transpose(1, 2)) * self.scale  # (B, T, T)
        scores = scores.masked_fill(~mask.unsqueeze(1), torch.finfo(scores.dtype).min)
        weights = scores.softmax(-1)  # (B, T, T) over valid keys
        self.last_weights, self.last_mask = weights.detach(), mask
        return torch.bmm(weights, v)  # (B, T, D)


class TemporalHead(nn.Module):
    """(B, T, D) frame features -> logits: (Bi)LSTM, optional attention, masked mean, classifier.

    Args:
        input_dim: feature size D.
        num_classes: number of classes C.
        hidden_dim: LSTM state size per direction.
        num_layers: stacked LSTM layers.
        bidirectional: BiLSTM (seed 000) or a forward-only LSTM.
        dropout: before the classifier.
        attention: temporal self-attention before pooling (seed 000) or plain pooling.
        attention_dim: query/key size of the attention.
    """

    def __init__(
        self,
        *,
        input_dim: int,
        num_classes: int,
        hidden_dim: int = 256,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.3,
        attention: bool = True,
        attention_dim: int = 256,
    ) -> None:
        super().__init__()
        self.rnn = ValidStepRNN(nn.LSTM, input_dim, hidden_dim, num_layers=num_layers, bidirectional=bidirectional)
        self.out_dim = self.rnn.out_dim
        self.attention = TemporalAttention(self.out_dim, attention_dim) if attention else None
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.out_dim, num_classes)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args) -> None:
        for key in [k for k in state_dict if k.startswith((f"{prefix}forward_rnns.", f"{prefix}backward_rnns."))]:
            kind, layer, name = key[len(prefix):].split(".", 2)  # older checkpoints: one ModuleList per direction
            state_dict[f"{prefix}rnn.layers.{layer}.{int(kind == 'backward_rnns')}.{name}"] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        lengths = lengths.to(x.device)
        h = self.rnn(x, lengths)  # (B, T, dirs*H)
        if self.attention is not None:
            h = self.attention(h, valid_mask(lengths, h.shape[1]))  # (B, T, dirs*H)
        return self.fc(self.dropout(masked_mean(h, lengths)))  # (B, C)

    def attention_over_time(self) -> torch.Tensor | None:
        """(B, T) attention each frame received in the last forward pass (mean over the valid
        query steps; rows sum to 1), or None without attention."""
        att = self.attention
        if att is None or att.last_weights is None:
            return None
        w = att.last_weights.float()  # (B, T, T): query, key
        valid_q = att.last_mask.to(w.dtype)  # (B, T)
        return (w * valid_q.unsqueeze(-1)).sum(1) / valid_q.sum(1, keepdim=True).clamp_min(1.0)  # (B, T)
