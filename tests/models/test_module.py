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
    model.model.norm.set(mean, std)
    x, lengths = torch.randn(2, 5, 6), torch.tensor([5, 3])
    with torch.no_grad():
        torch.testing.assert_close(model(x * 2 + mean, lengths), model.model.head(x, lengths))
    state = model.state_dict()
    assert torch.equal(state["model.norm.mean"], mean) and torch.equal(state["model.norm.std"], std)
    fresh = _module("standardize")
    fresh.load_state_dict(state)
    assert torch.equal(fresh.model.norm.mean, mean)


def test_no_input_norm_passes_inputs_through() -> None:
    model = _module("none").eval()
    x, lengths = torch.randn(2, 5, 6), torch.tensor([5, 5])
    with torch.no_grad():
        torch.testing.assert_close(model(x, lengths), model.model.head(x, lengths))
    assert not any(k.startswith("model.norm.") for k in model.state_dict())


def test_a_checkpoint_with_the_network_as_net_loads() -> None:
    """Checkpoints saved with the head as ``net`` and the statistics as ``input_mean``/``input_std``."""
    model = _module("standardize")
    model.model.norm.set(torch.arange(6.0), torch.full((6,), 3.0))
    old = {k.replace("model.head.", "net.").replace("model.norm.mean", "input_mean").replace("model.norm.std", "input_std"): v
           for k, v in model.state_dict().items()}
    assert "input_mean" in old and not any(k.startswith("model.") for k in old)
    checkpoint = {"state_dict": old}
    fresh = _module("standardize")
    fresh.on_load_checkpoint(checkpoint)
    fresh.load_state_dict(checkpoint["state_dict"])
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
