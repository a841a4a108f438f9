"""ActionClassifier: input standardisation travels with the model; feature statistics are right."""

from __future__ import annotations

import functools

import torch

from ucfbench.models.heads.gru import GRUHead
from ucfbench.models.module import ActionClassifier


def _module(input_norm: str) -> ActionClassifier:
    net = GRUHead(input_dim=6, num_classes=3, hidden_dim=8)
    return ActionClassifier(net=net, optimizer=functools.partial(torch.optim.Adam), num_classes=3,
                            input_dim=6, input_norm=input_norm)


def test_standardize_uses_the_stats_and_saves_them() -> None:
    model = _module("standardize").eval()
    mean, std = torch.arange(6.0), torch.full((6,), 2.0)
    model.set_input_stats(mean, std)
    x, lengths = torch.randn(2, 5, 6), torch.tensor([5, 3])
    with torch.no_grad():
        torch.testing.assert_close(model(x * 2 + mean, lengths), model.net(x, lengths))
    state = model.state_dict()
    assert torch.equal(state["input_mean"], mean) and torch.equal(state["input_std"], std)
    fresh = _module("standardize")
    fresh.load_state_dict(state)
    assert torch.equal(fresh.input_mean, mean)


def test_no_input_norm_passes_inputs_through() -> None:
    model = _module("none").eval()
    x, lengths = torch.randn(2, 5, 6), torch.tensor([5, 5])
    with torch.no_grad():
        torch.testing.assert_close(model(x, lengths), model.net(x, lengths))
    assert "input_mean" not in model.state_dict()
