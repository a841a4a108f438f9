"""Two-layer stacked LSTM head (``model=stacked_lstm``)."""

from __future__ import annotations

from ucfbench.models.heads.lstm import LSTMHead


class StackedLSTMHead(LSTMHead):
    """Two LSTM layers (dropout between them), classified from the top layer's last state."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("num_layers", 2)
        super().__init__(**kwargs)
