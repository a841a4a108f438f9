"""Checkpoints of the earlier RNN layouts (``nn.RNNBase`` weights; the CNN-RNN's per-direction lists) still load."""

from __future__ import annotations

import torch
from torch import nn

from ucfbench.models.classifier import VideoClassifier, upgrade_state_dict
from ucfbench.models.heads.lstm import LSTMHead
from ucfbench.models.heads.temporal import TemporalHead


def test_a_checkpoint_of_nn_lstm_weights_loads_into_the_head() -> None:
    torch.manual_seed(0)
    rnn, fc = nn.LSTM(6, 4, num_layers=2, batch_first=True, bidirectional=True), nn.Linear(8, 3)
    saved = {f"net.rnn.{k}": v for k, v in rnn.state_dict().items()} | {f"net.fc.{k}": v for k, v in fc.state_dict().items()}
    head = LSTMHead(input_dim=6, num_classes=3, hidden_dim=4, num_layers=2, bidirectional=True)
    weights = {k[len("model."):]: v for k, v in upgrade_state_dict(saved).items()}
    VideoClassifier(head=head).load_state_dict(weights)
    assert torch.equal(head.rnn.layers[1][1].weight_hh_l0, rnn.weight_hh_l1_reverse)
    assert torch.equal(head.rnn.layers[0][0].bias_ih_l0, rnn.bias_ih_l0)


def test_a_temporal_head_with_one_list_per_direction_loads() -> None:
    torch.manual_seed(0)
    head = TemporalHead(input_dim=6, num_classes=3, hidden_dim=4)
    saved = {k.replace("rnn.layers.0.0.", "forward_rnns.0.").replace("rnn.layers.0.1.", "backward_rnns.0."): v
             for k, v in head.state_dict().items()}
    assert any(k.startswith("backward_rnns.") for k in saved)
    fresh = TemporalHead(input_dim=6, num_classes=3, hidden_dim=4)
    fresh.load_state_dict(saved)
    for key, value in head.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
