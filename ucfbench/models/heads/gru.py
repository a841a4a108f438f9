"""GRU head (``model=gru``), the suite's default."""

from __future__ import annotations

from torch import nn

from ucfbench.models.heads.recurrent import RecurrentHead


class GRUHead(RecurrentHead):
    """A GRU over the frame features, classified from its last hidden state."""

    cell = nn.GRU
