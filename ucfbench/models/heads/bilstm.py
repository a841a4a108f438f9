"""Bidirectional LSTM head (``model=bilstm``)."""

from __future__ import annotations

from ucfbench.models.heads.lstm import LSTMHead


class BiLSTMHead(LSTMHead):
    """An LSTM read forwards and backwards over the valid steps; both final states classified."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("bidirectional", True)
        super().__init__(**kwargs)
