"""An LSTM head (``model=lstm``)."""

from __future__ import annotations

from torch import nn

from ucfbench.models.heads.recurrent import RecurrentHead


class LSTMHead(RecurrentHead):
    """An LSTM over the frame features, classified from its last hidden state."""

    cell = nn.LSTM
