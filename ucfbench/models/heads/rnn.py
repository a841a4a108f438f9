"""A simple (Elman, tanh) RNN head (``model=rnn``)."""

from __future__ import annotations

from torch import nn

from ucfbench.models.heads.recurrent import RecurrentHead


class RNNHead(RecurrentHead):
    """A simple (Elman, tanh) RNN over the frame features, classified from its last hidden state."""

    cell = nn.RNN
