"""Shared body of the recurrent heads: an RNN over time, its last state, a linear classifier."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class RecurrentHead(nn.Module):
    """RNN/LSTM/GRU over (B, T, D) features, classified from the final hidden state.

    With ``hidden_dim=512`` and 2048-d inputs the parameter counts are those of the UCF50 write-up's
    heads (e.g. GRU 3.96M for 50 classes): the RNN, dropout, and one linear layer.

    Args:
        input_dim: feature size D.
        num_classes: number of classes C.
        hidden_dim: RNN state size per direction.
        num_layers: stacked RNN layers.
        dropout: dropout before the classifier (and between stacked layers).
        bidirectional: run a second RNN backwards over the valid steps.
        input_dropout: dropout on the input features (regularises against appearance cues).
    """

    cell: type[nn.RNNBase] = nn.GRU

    def __init__(
        self,
        *,
        input_dim: int,
        num_classes: int,
        hidden_dim: int = 512,
        num_layers: int = 1,
        dropout: float = 0.3,
        bidirectional: bool = False,
        input_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.rnn = self.cell(
            input_dim, hidden_dim, num_layers=num_layers, batch_first=True,
            bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0,
        )
        self.input_dropout = nn.Dropout(input_dropout)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_dim * (2 if bidirectional else 1), num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        x = self.input_dropout(x)
        if bool((lengths == t).all()):
            _, state = self.rnn(x)  # no padding: skip packing (faster, and exportable)
        else:
            # Packing stops each sequence at its length, so padding never reaches the state.
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            _, state = self.rnn(packed)
        h = state[0] if isinstance(state, tuple) else state  # LSTM returns (h, c)
        dirs = 2 if self.rnn.bidirectional else 1
        h = h.view(self.rnn.num_layers, dirs, b, self.rnn.hidden_size)[-1]  # (dirs, B, H) of the top layer
        h = h.transpose(0, 1).reshape(b, dirs * self.rnn.hidden_size)  # (B, dirs*H)
        return self.fc(self.dropout(h))
